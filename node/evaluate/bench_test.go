package evaluate

import (
	"context"
	"fmt"
	"testing"

	"github.com/srellama/srellama/fl"
)

// Run with: go test ./node/evaluate -run XXX -bench . -benchtime 1x
// (each iteration is a whole evaluation; the metrics are the results).

// BenchmarkSMDFederatedVsCentralizedVsLocal: three sites (machine groups),
// 30 rounds of FedAvg, against local-only and centralized models.
func BenchmarkSMDFederatedVsCentralizedVsLocal(b *testing.B) {
	dir := datasetDir(b, "smd")
	var rep *SMDReport
	for range b.N {
		var err error
		if rep, err = EvaluateSMD(context.Background(), dir, DefaultSMDConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rep.AUCFederated, "auc_fed")
	b.ReportMetric(rep.AUCCentralized, "auc_central")
	b.ReportMetric(rep.AUCFederated/rep.AUCCentralized, "fed/central")
	for i, l := range rep.AUCLocal {
		b.ReportMetric(l.AUC, "auc_local_"+l.Site)
		b.ReportMetric(rep.AUCFederatedSites[i].AUC, "auc_fed_"+l.Site)
	}
	b.ReportMetric(float64(rep.RoundsToParity), "rounds_to_parity")
	b.ReportMetric(float64(rep.Bytes+rep.StatsBytes), "bytes_exchanged")
}

// BenchmarkSMDStrategies compares the aggregation strategies on the clean
// three-site run.
func BenchmarkSMDStrategies(b *testing.B) {
	dir := datasetDir(b, "smd")
	machines, err := loadSMD(context.Background(), dir, DefaultSMDConfig().Features, 0, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range fl.Strategies() {
		b.Run(s, func(b *testing.B) {
			cfg := DefaultSMDConfig()
			cfg.Strategy = s
			var rep *SMDReport
			for range b.N {
				if rep, err = evaluateMachines(context.Background(), dir, machines, cfg, false, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rep.AUCFederated, "auc_fed")
		})
	}
}

func benchPoisoning(b *testing.B, cfg PoisoningConfig) {
	dir := datasetDir(b, "smd")
	var rep *PoisoningReport
	for range b.N {
		var err error
		if rep, err = EvaluatePoisoning(context.Background(), dir, cfg); err != nil {
			b.Fatal(err)
		}
	}
	for _, r := range rep.Results {
		b.ReportMetric(r.AUCClean, r.Strategy+"/"+r.Attack+"/clean")
		b.ReportMetric(r.AUCPoisoned, r.Strategy+"/"+r.Attack+"/poisoned")
	}
}

// BenchmarkSMDPoisoningIID: 8 organizations with random shares of the
// rows plus 2 attackers (20%), label flipping and boosted sign-flipped
// updates, every strategy.
func BenchmarkSMDPoisoningIID(b *testing.B) { benchPoisoning(b, DefaultPoisoningConfig()) }

// BenchmarkSMDPoisoningByMachine: one organization per machine (6, non-IID)
// plus 2 attackers (25%).
func BenchmarkSMDPoisoningByMachine(b *testing.B) {
	cfg := DefaultPoisoningConfig()
	cfg.Partition = PartitionMachine
	cfg.Strategies = []string{fl.FedAvg, fl.Median, fl.TrimmedMean, fl.MultiKrum}
	benchPoisoning(b, cfg)
}

// BenchmarkSMDHitRate scores the explanation modes against the SMD
// interpretation labels.
func BenchmarkSMDHitRate(b *testing.B) {
	dir := datasetDir(b, "smd")
	machines, err := loadSMD(context.Background(), dir, DefaultSMDConfig().Features, 0, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []fl.ExplainMode{fl.ExplainSigned, fl.ExplainMagnitude, fl.ExplainDeviation} {
		b.Run(string(mode), func(b *testing.B) {
			cfg := DefaultSMDConfig()
			cfg.Explain = mode
			var rep *SMDReport
			for range b.N {
				if rep, err = evaluateMachines(context.Background(), dir, machines, cfg, false, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rep.HitRate100, "hitrate@100")
			b.ReportMetric(rep.HitRate150, "hitrate@150")
			b.ReportMetric(rep.HitRate100Points, "hitrate@100_points")
			b.ReportMetric(rep.HitRate150Points, "hitrate@150_points")
		})
	}
}

// BenchmarkSMDPrivacy runs the three-site evaluation with each update
// clipped to L2 norm 1 and Gaussian noise of σ·1 per coordinate, reporting
// AUC and the ε each organization spent (δ = 1e-5).
func BenchmarkSMDPrivacy(b *testing.B) {
	dir := datasetDir(b, "smd")
	machines, err := loadSMD(context.Background(), dir, DefaultSMDConfig().Features, 0, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, sigma := range []float64{0.1, 0.5, 1, 4} {
		b.Run(fmt.Sprintf("sigma=%g", sigma), func(b *testing.B) {
			cfg := DefaultSMDConfig()
			cfg.DP = &fl.DPConfig{ClipNorm: 1, NoiseMultiplier: sigma, Delta: 1e-5, EpsilonBudget: 1e6}
			var rep *SMDReport
			for range b.N {
				if rep, err = evaluateMachines(context.Background(), dir, machines, cfg, false, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rep.AUCFederated, "auc_fed")
			b.ReportMetric(rep.Epsilon["group-1"], "epsilon")
		})
	}
}
