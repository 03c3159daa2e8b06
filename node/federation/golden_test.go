package federation_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/federation"
)

// goldenUpdates are five members' updates whose weights come from integer
// arithmetic and one division each (the same bits on every build), over two
// services; the third member runs no SMF.
func goldenUpdates(t *testing.T) []round.Update {
	t.Helper()
	metrics := []string{reginit, auth, session, federation.MetricKey("smf", "fivegs_smffunction_sm_pdusessioncreationfail")}
	var out []round.Update
	for k := range 5 {
		u := fl.Update{Org: fmt.Sprintf("Org%dMSP", k+1), Round: federation.RoundNumber("round-7"), Samples: uint64(500 + 37*k)}
		for i, m := range metrics {
			if k == 2 && strings.HasPrefix(m, "smf/") {
				continue
			}
			for j, tr := range []string{"level", "zscore"} {
				u.Features = append(u.Features, fl.FeatureName(m, fl.Transform(tr)))
				u.Weights = append(u.Weights, float64(int64((k+2)*(i+3)*(j+5)*104729%1999)-999)/float64(89+k+i))
			}
		}
		u.Intercept = float64(k*7-11) / 13
		sortUpdate(&u)
		payload, err := u.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, _ := u.Digest()
		out = append(out, round.Update{MSPID: u.Org, Digest: d, Payload: payload})
	}
	return out
}

// sortUpdate orders features (and their weights) as Encode requires.
func sortUpdate(u *fl.Update) {
	for i := 1; i < len(u.Features); i++ {
		for j := i; j > 0 && u.Features[j-1] > u.Features[j]; j-- {
			u.Features[j-1], u.Features[j] = u.Features[j], u.Features[j-1]
			u.Weights[j-1], u.Weights[j] = u.Weights[j], u.Weights[j-1]
		}
	}
}

// goldenClaims are the canonical claims' digests every build must compute
// (.ci/run runs this in GOAMD64=v1 and v3 builds and under qemu-aarch64):
// the bytes members submit and the quorum compares.
var goldenClaims = map[string]string{
	"fedavg":       "sha256:3e3d419c18f9f047723a47a7342889098e0594da169f672579ad4f02774cdb9e",
	"fedprox":      "sha256:3e3d419c18f9f047723a47a7342889098e0594da169f672579ad4f02774cdb9e",
	"median":       "sha256:9640c899c86919c1459e560093fefefe556cbad3fb073d31f96f41861109e3ce",
	"trimmed-mean": "sha256:37283865d05e10456b0a1b0ab3a2194556685b52cea3961711173b3c75bda142",
	"multi-krum":   "sha256:d32567b2f71e6e73944e3473be87202ab8c3e5318e6092601eaf6be143c23d34",
}

func TestGoldenClaims(t *testing.T) {
	us := goldenUpdates(t)
	for _, strategy := range fl.Strategies() {
		claim, err := federation.Aggregator{}.Aggregate(testRound(strategy), us)
		if err != nil {
			t.Fatalf("%s: %v", strategy, err)
		}
		raw, err := nft.Canonical(claim)
		if err != nil {
			t.Fatal(err)
		}
		got := nft.DigestBytes(raw)
		if want := goldenClaims[strategy]; got != want {
			t.Errorf("%s: claim %s, want %s", strategy, got, want)
		}
	}
}

func TestRoundOfAnotherProtocolIsRefused(t *testing.T) {
	if fl.ProtocolVersion != records.Protocol {
		t.Fatalf("fl computes protocol %d, the chaincode opens rounds under %d", fl.ProtocolVersion, records.Protocol)
	}
	us := goldenUpdates(t)
	r := testRound(fl.FedAvg)
	r.Protocol = records.Protocol + 1
	if _, err := (federation.Aggregator{}).Aggregate(r, us); err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("aggregated a round of protocol %d: %v", r.Protocol, err)
	}
	if _, err := federation.Inspect(r, us[0].Payload); err == nil {
		t.Fatal("inspected an update for a round of another protocol")
	}
	r.Protocol = records.Protocol
	if _, err := federation.Inspect(r, us[0].Payload); err != nil {
		t.Fatal(err)
	}
}
