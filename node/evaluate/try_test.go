package evaluate

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/fl"
)

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}
func envF(k string, d float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return d
}

func TestTry(t *testing.T) {
	if os.Getenv("TRY") == "" {
		t.Skip()
	}
	start := time.Now()
	cfg := DefaultSMDConfig()
	cfg.Features.BaselineWindow = envInt("W", 60)
	cfg.Features.Smooth = envInt("S", 0)
	if v := os.Getenv("T"); v != "" {
		cfg.Features.Transforms = nil
		for _, x := range strings.Split(v, ",") {
			cfg.Features.Transforms = append(cfg.Features.Transforms, fl.Transform(x))
		}
	}
	cfg.Features.Compress = os.Getenv("C") != ""
	cfg.Train.LearningRate = envF("LR", 0.05)
	cfg.Train.BatchSize = envInt("B", 64)
	cfg.Train.Epochs = envInt("E", 1)
	cfg.Train.L2 = envF("L2", 1e-4)
	cfg.Rounds = envInt("R", 30)
	cfg.Train.NonNegativeDeviation = os.Getenv("NN") != ""
	if os.Getenv("MODE") != "" {
		cfg.Explain = fl.ExplainMode(os.Getenv("MODE"))
	}
	ms, err := LoadSMD(context.Background(), "/work/shared/datasets/smd", cfg.Features, 0, os.Getenv("REF") != "")
	if err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)
	rep, err := evaluateMachines(context.Background(), "", ms, cfg, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("load %v total %v\nfed %.4f central %.4f local %v fedsites %v parity %d\nhit100 %.3f hit150 %.3f pts %.3f %.3f n=%d\n", load, time.Since(start), rep.AUCFederated, rep.AUCCentralized, rep.AUCLocal, rep.AUCFederatedSites, rep.RoundsToParity, rep.HitRate100, rep.HitRate150, rep.HitRate100Points, rep.HitRate150Points, rep.HitRateIncidents)
	for _, r := range rep.PerRound {
		fmt.Printf("%.3f ", r.AUC)
	}
	fmt.Println()
}

func TestTryUnsup(t *testing.T) {
	if os.Getenv("TRY") == "" {
		t.Skip()
	}
	cfg := DefaultSMDConfig()
	cfg.Features.BaselineWindow = envInt("W", 60)
	cfg.Features.Smooth = envInt("S", 0)
	cfg.Features.Compress = os.Getenv("C") != ""
	cfg.Features.Transforms = []fl.Transform{fl.AbsZScore}
	ms, err := LoadSMD(context.Background(), "/work/shared/datasets/smd", cfg.Features, 0, os.Getenv("REF") != "")
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]*fl.Dataset{}
	for _, m := range ms {
		groups[m.name[:9]] = append(groups[m.name[:9]], m.test)
		groups["all"] = append(groups["all"], m.test)
	}
	for g, ds := range groups {
		d, _ := fl.ConcatDatasets(ds...)
		sc := make([]float64, d.Rows())
		for _, c := range d.Columns {
			for i, v := range c {
				if v == v {
					sc[i] += v
				}
			}
		}
		auc, _ := fl.AUC(sc, d.Labels)
		fmt.Printf("%s auc %.3f\n", g, auc)
	}
	for _, m := range ms {
		for _, d := range []*fl.Dataset{m.train, m.test} {
			sc := make([]float64, d.Rows())
			for _, c := range d.Columns {
				for i, v := range c {
					if v == v {
						sc[i] += v
					}
				}
			}
			auc, _ := fl.AUC(sc, d.Labels)
			fmt.Printf("%s rows %d pos %d auc %.3f\n", m.name, d.Rows(), d.Positives(), auc)
		}
	}
}

func TestTryNezha(t *testing.T) {
	if os.Getenv("TRY") == "" {
		t.Skip()
	}
	start := time.Now()
	cfg := DefaultNezhaConfig()
	if os.Getenv("MODE") != "" {
		cfg.Explain = fl.ExplainMode(os.Getenv("MODE"))
	}
	rep, err := EvaluateNezha(context.Background(), "/work/shared/datasets/nezha", cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(time.Since(start), rep.AUCInSample, rep.SiteAUC, rep.Ranking[:5])
	for _, f := range rep.FaultTypes {
		fmt.Printf("%s n=%d ind=%d hit3=%.2f %v\n", f.FaultType, f.Incidents, f.IndicatorIncidents, f.IndicatorHitAt3, f.TopMetrics)
	}
}

func TestTryPoison(t *testing.T) {
	if os.Getenv("TRY") == "" {
		t.Skip()
	}
	start := time.Now()
	cfg := DefaultPoisoningConfig()
	cfg.SMD.Rounds = envInt("R", 30)
	if v := os.Getenv("PART"); v != "" {
		cfg.Partition = v
	}
	cfg.SMD.Train.LearningRate = envF("LR", 0.05)
	cfg.SMD.Train.BatchSize = envInt("B", 64)
	if v := os.Getenv("STRAT"); v != "" {
		cfg.Strategies = strings.Split(v, ",")
	}
	rep, err := EvaluatePoisoning(context.Background(), "/work/shared/datasets/smd", cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(time.Since(start), rep.Attackers)
	for _, r := range rep.Results {
		fmt.Printf("%-13s %-10s clean %.4f poisoned %.4f drop %+.4f\n", r.Strategy, r.Attack, r.AUCClean, r.AUCPoisoned, r.Drop)
	}
}
