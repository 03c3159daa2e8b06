package evaluate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/srellama/srellama/fl"
)

// datasetDir finds ../shared/datasets/<name> relative to the repository
// root (or under $SRELLAMA_DATASETS), skipping the test if it is absent.
func datasetDir(tb testing.TB, name string) string {
	tb.Helper()
	root := os.Getenv("SRELLAMA_DATASETS")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "datasets")
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("dataset %s not found at %s (set SRELLAMA_DATASETS): %v", name, dir, err)
	}
	return dir
}

func TestEvaluateSMDBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := EvaluateSMD(ctx, t.TempDir(), DefaultSMDConfig()); err == nil {
		t.Error("an empty folder was evaluated")
	}
	// A machine whose training half holds no anomaly cannot train.
	dir := t.TempDir()
	rows := "timestamp,anomaly,m01\n"
	for i := range 200 {
		label := "0"
		if i >= 150 && i < 160 {
			label = "1"
		}
		rows += strings.Join([]string{itoa(60 * i), label, itoa(i % 7)}, ",") + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "machine-1-1.test.csv"), []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSMDConfig()
	cfg.Protocol = ProtocolSplit
	cfg.Features.BaselineWindow = 10
	_, err := EvaluateSMD(ctx, dir, cfg)
	if !errors.Is(err, fl.ErrSingleClass) {
		t.Errorf("training half without incidents: %v", err)
	}
	cfg.SkipSingleClassSites = true
	if _, err = EvaluateSMD(ctx, dir, cfg); err == nil || !strings.Contains(err.Error(), "every site lacks anomalies") {
		t.Errorf("skipping the only site: %v", err)
	}
	cfg.SkipSingleClassSites = false
	cfg.Protocol = ProtocolLOSO
	if _, err = EvaluateSMD(ctx, dir, cfg); err == nil || !strings.Contains(err.Error(), "at least 2 sites") {
		t.Errorf("leave-one-site-out with one site: %v", err)
	}
	for _, mutate := range []func(*SMDConfig){
		func(c *SMDConfig) { c.Strategy = "average-ish" },
		func(c *SMDConfig) { c.Protocol = "holdout" },
		func(c *SMDConfig) { c.Seeds = nil },
		func(c *SMDConfig) { c.ValidationFraction = 1 },
	} {
		c := DefaultSMDConfig()
		mutate(&c)
		if _, err := EvaluateSMD(ctx, dir, c); err == nil {
			t.Errorf("bad configuration %+v accepted", c)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestEvaluateNezha checks that CPU faults are explained by CPU metrics.
func TestEvaluateNezha(t *testing.T) {
	dir := datasetDir(t, "nezha")
	rep, err := EvaluateNezha(context.Background(), dir, DefaultNezhaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sites) != 2 {
		t.Fatalf("sites %v", rep.Sites)
	}
	for _, ft := range rep.FaultTypes {
		var top []string
		for _, c := range ft.TopMetrics {
			top = append(top, c.Metric)
		}
		t.Logf("%-14s %2d incidents, indicator hit@3 %.2f of %d: %v", ft.FaultType, ft.Incidents, ft.IndicatorHitAt3, ft.IndicatorIncidents, top)
		if strings.HasPrefix(ft.FaultType, "cpu_") {
			if !slices.Contains(top[:2], "CpuUsageRate(%)") && !slices.Contains(top[:2], "CpuUsage(m)") {
				t.Errorf("%s: top metrics %v do not start with CPU usage", ft.FaultType, top)
			}
			if ft.IndicatorIncidents == 0 || ft.IndicatorHitAt3 < 0.75 {
				t.Errorf("%s: indicator in the top 3 for %.2f of %d incidents", ft.FaultType, ft.IndicatorHitAt3, ft.IndicatorIncidents)
			}
		}
	}
	if rep.AUCInSample < 0.7 {
		t.Errorf("in-sample AUC %.3f", rep.AUCInSample)
	}
}

// TestEvaluateNezhaDays trains on one day and scores the other: every
// fault kind with a mapped indicator is scored, network delays included,
// beside the no-model ranking.
func TestEvaluateNezhaDays(t *testing.T) {
	rep, err := EvaluateNezhaDays(context.Background(), datasetDir(t, "nezha"), DefaultNezhaDayConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Days) != 2 || rep.Days[0].TrainedOn == rep.Days[1].TrainedOn {
		t.Fatalf("days %+v", rep.Days)
	}
	kinds := map[string]bool{}
	for _, k := range rep.FaultKinds {
		t.Logf("%s %-14s %2d faults: hit@3 %.2f, plain |z| %.2f (%v)", k.Day, k.FaultType, k.Faults, k.HitAt3, k.HitAt3PlainZ, k.Indicator)
		kinds[k.FaultType] = true
		if k.Faults == 0 || k.HitAt3 < 0 || k.HitAt3 > 1 {
			t.Errorf("%+v", k)
		}
	}
	for _, want := range []string{"cpu_contention", "network_delay", "exception"} {
		if !kinds[want] {
			t.Errorf("fault kind %s not scored", want)
		}
	}
	for _, d := range rep.Days {
		if d.AUC <= 0.5 || d.AUCUntrained <= 0 {
			t.Errorf("day %s: AUC %.3f, untrained %.3f", d.Day, d.AUC, d.AUCUntrained)
		}
	}
}

// TestEvaluateSimulator: precision@3 per fault kind on one unseen seed,
// beside the untrained ranking.
func TestEvaluateSimulator(t *testing.T) {
	cfg := DefaultSimEvalConfig()
	cfg.Seeds = cfg.Seeds[:1]
	rep, err := EvaluateSimulator(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rep.Kinds {
		t.Logf("%-20s %2d faults: precision@3 %.2f, untrained %.2f", k.Kind, k.Faults, k.PrecisionAt3, k.PrecisionAt3Z)
		if k.Faults == 0 || k.PrecisionAt3 < 0 || k.PrecisionAt3 > 1 {
			t.Errorf("%+v", k)
		}
	}
	if len(rep.Kinds) < 2 {
		t.Errorf("kinds %+v", rep.Kinds)
	}
}
