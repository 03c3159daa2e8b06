package fl

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestDefaultRobustParameters: the defaults act at 3 to 10 sites, trim at
// least one value from 4 sites on, and never remove every value.
func TestDefaultRobustParameters(t *testing.T) {
	wantTrim := map[int]int{1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 10: 2, 11: 3}
	wantKrum := map[int]int{2: 0, 3: 1, 4: 1, 5: 2, 8: 2, 9: 3, 10: 3}
	for n, k := range wantTrim {
		if got := TrimCount(n); got != k || (n > 0 && 2*got >= n) {
			t.Errorf("TrimCount(%d) = %d, want %d", n, got, k)
		}
	}
	for n, f := range wantKrum {
		if got := KrumFaults(n); got != f {
			t.Errorf("KrumFaults(%d) = %d, want %d", n, got, f)
		}
	}
	// Four sites, one outlier: the default trimmed mean and Multi-Krum
	// both leave it out; FedAvg does not.
	ups := []Update{upd("a", 1, 1, 1, 1, 0), upd("b", 1, 1.1, 1.1, 1.1, 0), upd("c", 1, 0.9, 0.9, 0.9, 0), upd("evil", 1, 100, 100, 100, 0)}
	g := zeroGlobal(t)
	for _, s := range []string{TrimmedMean, MultiKrum} {
		m, err := mustAggregator(t, s, AggregatorOptions{}).Aggregate(g, 1, ups)
		if err != nil {
			t.Fatal(err)
		}
		if m.Weights[0] > 1.2 {
			t.Errorf("%s at 4 sites let the outlier in: %v", s, m.Weights[0])
		}
	}
	// Three sites: Multi-Krum still drops one.
	m, err := mustAggregator(t, MultiKrum, AggregatorOptions{}).Aggregate(g, 1, ups[1:])
	if err != nil || m.Weights[0] > 1.2 {
		t.Errorf("multi-krum at 3 sites: %v %v", m.Weights, err)
	}
	// One update is aggregated, not refused or panicking.
	if _, err := mustAggregator(t, MultiKrum, AggregatorOptions{}).Aggregate(g, 1, ups[:1]); err != nil {
		t.Errorf("multi-krum with one update: %v", err)
	}
}

func TestTrainBoundsAndClassCap(t *testing.T) {
	site := syntheticSite(t, "org", 1, 3000, 8)
	x, init := standardized(t, site)
	cfg := DefaultTrainConfig()
	cfg.Epochs = 3
	free, err := Train(x, init, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxUpdateNorm = 0.1
	bounded, err := Train(x, init, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := changeNorm(bounded.Model, init); n > 0.1+1e-12 {
		t.Errorf("bounded update has norm %v", n)
	}
	if changeNorm(free.Model, init) <= 0.1 {
		t.Fatal("the unbounded update is already small; the test proves nothing")
	}
	// Capping the class weight makes the model less eager: a lower mean
	// score on normal rows.
	cfg.MaxUpdateNorm = 0
	cfg.MaxClassWeight = 1
	capped, err := Train(x, init, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if meanScore(t, capped.Model, x) >= meanScore(t, free.Model, x) {
		t.Error("capping the class weight did not lower the scores")
	}
	cfg.MaxClassWeight = -1
	if _, err := Train(x, init, cfg); err == nil {
		t.Error("negative class weight cap accepted")
	}
}

func standardized(t *testing.T, s Site) (*Matrix, Model) {
	t.Helper()
	std, err := NewStandardizer(ComputeStats(s.Train))
	if err != nil {
		t.Fatal(err)
	}
	x, err := std.Apply(s.Train)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := NewModel(std.Features)
	return x.ShuffleRows(1), m
}

func changeNorm(a, b Model) float64 {
	s := (a.Intercept - b.Intercept) * (a.Intercept - b.Intercept)
	for j := range a.Weights {
		d := a.Weights[j] - b.Weights[j]
		s += d * d
	}
	return math.Sqrt(s)
}

func meanScore(t *testing.T, m Model, x *Matrix) float64 {
	s, err := m.Scores(x)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, v := range s {
		sum += v
	}
	return sum / float64(len(s))
}

// TestEarlyStoppingKeepsTheBestRound: with validation rows, the final
// model is the best round's (Init included) and training stops after
// Patience rounds without improvement.
func TestEarlyStoppingKeepsTheBestRound(t *testing.T) {
	sites := syntheticSites(t, 3)
	for i := range sites {
		sites[i].Val = sites[i].Test
	}
	cfg := simConfig(FedAvg)
	cfg.Rounds, cfg.Patience = 40, 2
	res, err := Simulate(sites, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) >= 40 || len(res.Rounds) != res.BestRound+2 {
		t.Errorf("ran %d rounds, best %d, patience 2", len(res.Rounds), res.BestRound)
	}
	for _, r := range res.Rounds {
		if r.Eval.AUC > res.ValidationAUC+1e-12 {
			t.Errorf("round %d scored %.4f above the kept %.4f", r.Round, r.Eval.AUC, res.ValidationAUC)
		}
	}
	// A perfect prior is never replaced.
	best := res.Final
	cfg.Init = &best
	again, err := Simulate(sites, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.ValidationAUC < res.ValidationAUC {
		t.Errorf("starting from the best model ended worse: %.4f < %.4f", again.ValidationAUC, res.ValidationAUC)
	}
}

func TestSummariesAndDeviationTransforms(t *testing.T) {
	v := []float64{1, 1, 2, 1, 1, 1, 9, 1}
	ft, err := BuildFeatures([]MetricSeries{{Name: "a", Values: v}, {Name: "b", Values: slices.Repeat([]float64{1, 2}, 4)}},
		FeatureSpec{Transforms: []Transform{AbsZScore, RefAbsZScore, AbsDelta}, BaselineWindow: 3, ReferencePeriod: 4})
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) []float64 { return ft.Columns[slices.Index(ft.Features, name)] }
	if d := col("a#absdelta"); d[6] != 8 || d[7] != 8 || !math.IsNaN(d[0]) {
		t.Errorf("absdelta %v", d)
	}
	if r := col("a#refabsz"); !(r[6] > r[5]) || r[6] < 0 {
		t.Errorf("refabsz %v", r)
	}
	AddDeviationSummaries(ft)
	if !slices.IsSorted(ft.Features) || !slices.Contains(ft.Features, "~max.abszscore#summary") || !slices.Contains(ft.Features, "~mean.refabsz#summary") {
		t.Fatalf("features %v", ft.Features)
	}
	mx, a, b := col("~max.refabsz#summary"), col("a#refabsz"), col("b#refabsz")
	for i := range mx {
		if mx[i] != max(a[i], b[i]) {
			t.Errorf("row %d: max %v of %v, %v", i, mx[i], a[i], b[i])
		}
	}
	// Summaries carry no metric: rankings and explanations leave them out.
	m, _ := DeviationPrior(ft.Features, 0.5, 1, 0)
	for _, s := range Rank(m, nil) {
		if strings.HasPrefix(s.Metric, SummaryPrefix) {
			t.Errorf("ranking lists the summary %s", s.Metric)
		}
	}
	if _, err := BuildFeatures([]MetricSeries{{Name: "a", Values: v}}, FeatureSpec{Transforms: []Transform{RefAbsZScore}}); err == nil {
		t.Error("refabsz without a reference period accepted")
	}
}
