package federation_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/federation"
)

func testRound(strategy string) records.Round {
	return records.Round{RoundSpec: records.RoundSpec{ID: "round-7", Services: []string{"amf", "smf"}, Strategy: strategy, MinParticipants: 2}}
}

// update builds org's encoded update over the given metrics (all with the
// level and zscore transforms), with weights drawn from a seeded source.
func update(t *testing.T, org string, seed uint64, metrics ...string) round.Update {
	t.Helper()
	var features []string
	for _, m := range metrics {
		features = append(features, fl.FeatureName(m, "level"), fl.FeatureName(m, "zscore"))
	}
	slices.Sort(features)
	rng := rand.New(rand.NewPCG(seed, 7))
	u := fl.Update{Org: org, Round: federation.RoundNumber("round-7"), Features: features, Samples: 1000 + seed*10, Intercept: -2}
	for range features {
		u.Weights = append(u.Weights, rng.NormFloat64())
	}
	payload, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := u.Digest()
	return round.Update{MSPID: org, Digest: d, Payload: payload}
}

var (
	reginit = federation.MetricKey("amf", "fivegs_amffunction_rm_reginitreq")
	auth    = federation.MetricKey("amf", "fivegs_amffunction_amf_authreject")
	session = federation.MetricKey("smf", "fivegs_smffunction_sm_sessionnbr")
)

func updates(t *testing.T) []round.Update {
	return []round.Update{
		update(t, "Org1MSP", 1, reginit, auth, session),
		update(t, "Org2MSP", 2, reginit, auth, session),
		update(t, "Org3MSP", 3, reginit, auth), // runs no SMF: its smf features are masked, not zero
	}
}

func TestClaimIsIndependentOfArrivalOrder(t *testing.T) {
	for _, strategy := range fl.Strategies() {
		t.Run(strategy, func(t *testing.T) {
			us := updates(t)
			first, err := federation.Aggregator{}.Aggregate(testRound(strategy), us)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := nft.Canonical(first)
			for _, perm := range [][]int{{2, 1, 0}, {1, 2, 0}, {0, 2, 1}} {
				shuffled := []round.Update{us[perm[0]], us[perm[1]], us[perm[2]]}
				got, err := federation.Aggregator{}.Aggregate(testRound(strategy), shuffled)
				if err != nil {
					t.Fatal(err)
				}
				if raw, _ := nft.Canonical(got); string(raw) != string(want) {
					t.Fatalf("order %v changed the claim", perm)
				}
			}
			// The chaincode must accept what honest members submit.
			raw, _ := json.Marshal(first)
			if _, err := records.ParseAggregateClaim(string(raw)); err != nil {
				t.Fatalf("the chaincode would refuse the claim: %v", err)
			}
			if !slices.Equal(first.Contributors, []string{"Org1MSP", "Org2MSP", "Org3MSP"}) {
				t.Fatalf("contributors %v", first.Contributors)
			}
			if len(first.Ranking) != 2 || first.Ranking[0].Service != "amf" || first.Ranking[1].Service != "smf" {
				t.Fatalf("ranking %+v", first.Ranking)
			}
			for _, m := range first.Ranking[0].Metrics {
				if strings.Contains(m.Name, "/") {
					t.Fatalf("ranked name %q keeps the service prefix", m.Name)
				}
			}
		})
	}
}

func TestStrategyComesFromTheRound(t *testing.T) {
	us := updates(t)
	avg, _ := federation.Aggregator{}.Aggregate(testRound("fedavg"), us)
	med, _ := federation.Aggregator{}.Aggregate(testRound("median"), us)
	if avg.Digest == med.Digest {
		t.Fatal("fedavg and median produced the same model; the round's strategy was not used")
	}
	if _, err := (federation.Aggregator{}).Aggregate(testRound("mode"), us); err == nil {
		t.Fatal("an unknown strategy was accepted")
	}
}

// An update naming another organization than the member that committed it
// is left out by every honest member alike.
func TestUpdateUnderAnotherNameIsLeftOut(t *testing.T) {
	us := updates(t)
	us[2].MSPID = "Org9MSP" // committed by Org9, claims to be Org3's
	claim, err := federation.Aggregator{}.Aggregate(testRound("fedavg"), us)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(claim.Contributors, []string{"Org1MSP", "Org2MSP"}) {
		t.Fatalf("contributors %v", claim.Contributors)
	}
}

func TestInspect(t *testing.T) {
	good := update(t, "Org1MSP", 1, reginit)
	if d, err := federation.Inspect(testRound("fedavg"), good.Payload); err != nil || d != nft.DigestBytes(good.Payload) {
		t.Fatalf("Inspect(good) = %s, %v", d, err)
	}
	other := testRound("fedavg")
	other.ID = "round-8"
	foreign := update(t, "Org1MSP", 1, federation.MetricKey("upf", "fivegs_upffunction_upf_sessionnbr"))
	tests := []struct {
		name    string
		r       records.Round
		payload []byte
		want    string
	}{
		{"another round", other, good.Payload, "not \"round-8\""},
		{"a service outside the round", testRound("fedavg"), foreign.Payload, "not a metric of the round's services"},
		{"truncated", testRound("fedavg"), good.Payload[:len(good.Payload)-3], ""},
		{"empty", testRound("fedavg"), nil, ""},
	}
	for _, tt := range tests {
		_, err := federation.Inspect(tt.r, tt.payload)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestRankingBasis checks that a ranking says whether it is learned, and
// falls back to the deviation ranking where learning did not separate the
// metrics or the policy says so.
func TestRankingBasis(t *testing.T) {
	r := testRound("fedavg")
	features := []string{
		fl.FeatureName(auth, fl.AbsZScore), fl.FeatureName(reginit, fl.AbsZScore), fl.FeatureName(session, fl.AbsZScore),
	}
	slices.Sort(features)
	model := func(weights ...float64) fl.Model {
		m, err := fl.NewModel(features)
		if err != nil {
			t.Fatal(err)
		}
		copy(m.Weights, weights)
		return m
	}
	// features sorted: amf/..authreject, amf/..reginitreq, smf/..
	learned := model(0.2, 1.5, 0.7)
	flat := model(0.5, 0.52, 0.7)
	for _, tc := range []struct {
		name   string
		model  fl.Model
		policy federation.RelevancePolicy
		basis  string // of the amf service
		first  string
	}{
		{"learned weights separate", learned, federation.RelevancePolicy{}, records.RankingLearned, "fivegs_amffunction_rm_reginitreq"},
		{"flat weights fall back", flat, federation.RelevancePolicy{}, records.RankingDeviationFallback, "fivegs_amffunction_amf_authreject"},
		{"policy deviation falls back", learned, federation.RelevancePolicy{Mode: federation.RelevanceDeviation}, records.RankingDeviationFallback, "fivegs_amffunction_amf_authreject"},
		{"policy learned keeps flat weights", flat, federation.RelevancePolicy{Mode: federation.RelevanceLearned}, records.RankingLearned, "fivegs_amffunction_rm_reginitreq"},
	} {
		got, err := federation.RankingsWith(r, tc.model, tc.policy)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		amf := got[0]
		if amf.Service != "amf" || amf.Basis != tc.basis || amf.Metrics[0].Name != tc.first {
			t.Errorf("%s: %+v", tc.name, amf)
		}
		if amf.Basis == records.RankingDeviationFallback {
			if amf.Reason == "" || amf.Metrics[0].Relevance != 0 {
				t.Errorf("%s: fallback without reason or with relevance: %+v", tc.name, amf)
			}
		}
		// A single metric (smf) has nothing to rank.
		if got[1].Basis != records.RankingDeviationFallback && tc.policy.Mode != federation.RelevanceLearned {
			t.Errorf("%s: one-metric service %+v", tc.name, got[1])
		}
		claim := records.AggregateClaim{Digest: "sha256:" + strings.Repeat("ab", 32), Contributors: []string{"Org1MSP"}, Ranking: got}
		b, _ := json.Marshal(claim)
		if _, err := records.ParseAggregateClaim(string(b)); err != nil {
			t.Errorf("%s: the chaincode refuses the claim: %v", tc.name, err)
		}
	}
	if _, err := federation.RankingsWith(r, learned, federation.RelevancePolicy{Mode: "vibes"}); err == nil {
		t.Error("unknown relevance mode accepted")
	}
}
