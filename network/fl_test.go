package network_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/network"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/node/federation"
)

// flTrainer makes a real fl update: the organization's metrics (Org3 has no
// SMF), weights from a seeded source standing in for local training.
type flTrainer struct {
	msp  string
	seed uint64
}

func (tr flTrainer) Train(_ context.Context, r records.Round) ([]byte, records.UpdateCommitment, error) {
	metrics := []string{
		federation.MetricKey("amf", "fivegs_amffunction_rm_reginitreq"),
		federation.MetricKey("amf", "fivegs_amffunction_amf_authreject"),
	}
	if tr.msp != "Org03MSP" {
		metrics = append(metrics, federation.MetricKey("smf", "fivegs_smffunction_sm_sessionnbr"))
	}
	var features []string
	for _, m := range metrics {
		features = append(features, fl.FeatureName(m, "level"), fl.FeatureName(m, "zscore"))
	}
	slices.Sort(features)
	rng := rand.New(rand.NewPCG(tr.seed, 11))
	u := fl.Update{Org: tr.msp, Round: federation.RoundNumber(r.ID), Features: features, Samples: 5000, Intercept: -3}
	for range features {
		u.Weights = append(u.Weights, rng.NormFloat64())
	}
	payload, err := u.Encode()
	return payload, records.UpdateCommitment{Samples: int64(u.Samples), Metrics: records.LocalMetrics{AUC: 0.8, F1: 0.5, Loss: 0.4}}, err
}

// A round carried by libp2p with real fl updates, aggregated with the
// strategy the round names: every member holds the same global model, and
// the ledger's ranking is the one fl derives from it.
func TestRoundWithFederatedLearning(t *testing.T) {
	for _, strategy := range []string{"fedavg", "median", "multi-krum"} {
		t.Run(strategy, func(t *testing.T) {
			seeds := map[string]uint64{}
			c := newTestConsortium(t, 3, 0, func(c *testConsortium) {
				c.inspect = federation.Inspect
				c.aggregate = federation.Aggregator{}.Aggregate
				c.strategy = strategy
				c.trainer = func(msp string) network.Trainer {
					seeds[msp] = uint64(len(seeds) + 1)
					return flTrainer{msp: msp, seed: seeds[msp]}
				}
			})
			c.open("round-fl", 10*time.Second)
			r := c.waitFinished("round-fl", c.members)
			if r.Status != records.RoundFinalized || len(r.Contributors) != 3 {
				t.Fatalf("round %s contributors %v", r.Status, r.Contributors)
			}
			var updates []round.Update
			for _, m := range c.members {
				f, _ := m.result("round-fl")
				if !f.AgreesWithUs {
					t.Fatalf("%s does not hold the finalized model", m.msp)
				}
				updates = f.Updates
			}
			want, err := federation.Aggregator{}.Aggregate(r, updates)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r.Ranking)
			exp, _ := json.Marshal(want.Ranking)
			if want.Digest != r.GlobalModelDigest || string(got) != string(exp) {
				t.Fatalf("the ledger's outcome is not fl's aggregate of the members' updates")
			}
		})
	}
}
