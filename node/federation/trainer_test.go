package federation_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/source/sim"
)

// trainerFor trains on an organization's simulated 5G core: three days of
// history at 5-minute steps with chaos faults as incidents.
func trainerFor(t *testing.T, org string, seed uint64) (federation.Trainer, []string) {
	t.Helper()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(3 * 24 * time.Hour)
	cfg, err := sim.Plan(org, seed, start, end, 6)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	services, err := s.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spec := fl.DefaultFeatureSpec()
	spec.BaselineWindow = 12
	train := fl.DefaultTrainConfig()
	train.Epochs = 3
	return federation.Trainer{
		MSPID: org, Source: s, History: 3 * 24 * time.Hour, Step: 5 * time.Minute,
		Now: func() time.Time { return end }, Spec: spec, Config: train, Horizon: 2,
	}, services
}

// roundFor is a round over services on the trainer's feature set.
func roundFor(t *testing.T, tr federation.Trainer, services []string, strategy string) records.Round {
	t.Helper()
	features, err := federation.FeatureSetDigest(tr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return records.Round{RoundSpec: records.RoundSpec{ID: "round-sim", Services: services, Strategy: strategy, FeatureSetDigest: features}}
}

func TestTrainerMakesAValidDeterministicUpdate(t *testing.T) {
	tr, services := trainerFor(t, "Org1MSP", 1)
	r := roundFor(t, tr, services, "median")
	payload, c, err := tr.Train(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := federation.Inspect(r, payload)
	if err != nil {
		t.Fatalf("the round would refuse the trainer's own update: %v", err)
	}
	if c.Samples < 100 || c.Metrics.AUC < 0 || c.Metrics.AUC > 1 {
		t.Fatalf("commitment %+v", c)
	}
	again, _, err := tr.Train(context.Background(), r)
	if err != nil || nft.DigestBytes(again) != digest {
		t.Fatal("training twice on the same data gave different updates: not deterministic")
	}
}

// Three organizations with different service mixes train, and the
// federation's aggregate ranks metrics for the services they run.
func TestTrainedUpdatesAggregate(t *testing.T) {
	var updates []round.Update
	all := map[string]bool{}
	var one federation.Trainer // any of them: they share one feature spec
	for _, org := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		tr, services := trainerFor(t, org, 7)
		one = tr
		for _, s := range services {
			all[s] = true
		}
	}
	services := slices.Sorted(maps.Keys(all))
	r := roundFor(t, one, services, "trimmed-mean")
	for _, org := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		tr, _ := trainerFor(t, org, 7)
		payload, _, err := tr.Train(context.Background(), r)
		if err != nil {
			t.Fatalf("%s: %v", org, err)
		}
		d, err := federation.Inspect(r, payload)
		if err != nil {
			t.Fatal(err)
		}
		updates = append(updates, round.Update{MSPID: org, Digest: d, Payload: payload})
	}
	claim, err := federation.Aggregator{}.Aggregate(r, updates)
	if err != nil {
		t.Fatal(err)
	}
	if len(claim.Contributors) != 3 || len(claim.Ranking) == 0 {
		t.Fatalf("claim: %d contributors, %d ranked services", len(claim.Contributors), len(claim.Ranking))
	}
	for _, sr := range claim.Ranking {
		if err := records.CheckRankedMetrics(sr.Metrics); err != nil {
			t.Fatalf("ranking of %s would be refused by the chaincode: %v", sr.Service, err)
		}
	}
}

// A round on another feature set is one this node's model would not line
// up with: the trainer declines it instead of training.
func TestTrainerDeclinesAnotherFeatureSet(t *testing.T) {
	tr, services := trainerFor(t, "Org1MSP", 1)
	r := roundFor(t, tr, services, "median")
	r.FeatureSetDigest = nft.DigestBytes([]byte("another feature set"))
	_, _, err := tr.Train(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "not taking part") {
		t.Fatalf("Train on another feature set = %v, want it declined", err)
	}
}
