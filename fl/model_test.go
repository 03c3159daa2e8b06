package fl

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		labels []float64
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []float64{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 1, 0, 1}, 0.5},
		{"one swap of four pairs", []float64{0.1, 0.6, 0.5, 0.9}, []float64{0, 0, 1, 1}, 0.75},
	}
	for _, tt := range tests {
		got, err := AUC(tt.scores, tt.labels)
		if err != nil || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: AUC = %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := AUC([]float64{1, 2}, []float64{1, 1}); !errors.Is(err, ErrSingleClass) {
		t.Errorf("single-class AUC error = %v", err)
	}
	if got := F1([]float64{0.9, 0.2, 0.7, 0.1}, []float64{1, 1, 0, 0}, 0.5); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("F1 = %v, want 0.5", got)
	}
}

func TestTrainLearnsIncidentMetrics(t *testing.T) {
	site := syntheticSite(t, "s", 1, 4000, 6)
	st, _ := NewStandardizer(ComputeStats(site.Train))
	x, _ := st.Apply(site.Train)
	test, _ := st.Apply(site.Test)
	init, _ := NewModel(st.Features)
	cfg := DefaultTrainConfig()
	cfg.Epochs = 5
	res, err := Train(x, init, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scores, _ := res.Model.Scores(test)
	auc, _ := AUC(scores, test.Y)
	if auc < 0.95 {
		t.Fatalf("held-out AUC %.3f on a clearly separable problem", auc)
	}
	top := Rank(res.Model, nil).Top(3)
	slices.Sort(top)
	if !slices.Equal(top, []string{"m0", "m1", "m2"}) {
		t.Fatalf("top metrics %v, want m0, m1, m2", top)
	}
	again, _ := Train(x, init, cfg)
	if !slices.Equal(again.Model.Weights, res.Model.Weights) {
		t.Fatal("training is not deterministic for a fixed seed")
	}
}

func TestTrainRefusesBadInput(t *testing.T) {
	site := syntheticSite(t, "s", 1, 1000, 3)
	st, _ := NewStandardizer(ComputeStats(site.Train))
	x, _ := st.Apply(site.Train)
	init, _ := NewModel(st.Features)
	oneClass := *x
	oneClass.Y = make([]float64, x.Rows)
	if _, err := Train(&oneClass, init, DefaultTrainConfig()); !errors.Is(err, ErrSingleClass) {
		t.Errorf("single class: %v", err)
	}
	other, _ := NewModel([]string{"zzz#level"})
	if _, err := Train(x, other, DefaultTrainConfig()); err == nil {
		t.Error("trained a model on another feature space")
	}
	bad := DefaultTrainConfig()
	bad.LearningRate = math.NaN()
	if _, err := Train(x, init, bad); err == nil {
		t.Error("NaN learning rate accepted")
	}
	huge := DefaultTrainConfig()
	huge.LearningRate = 1e300
	if _, err := Train(x, init, huge); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("divergence not reported: %v", err)
	}
}

func TestTrainKeepsMaskedFeatures(t *testing.T) {
	site := syntheticSite(t, "s", 2, 1000, 3)
	st, _ := NewStandardizer(ComputeStats(site.Train))
	x, _ := st.Apply(site.Train)
	x.Present[0] = false
	init, _ := NewModel(st.Features)
	init.Weights[0] = 0.123
	res, err := Train(x, init, DefaultTrainConfig())
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.Weights[0] != 0.123 {
		t.Fatalf("masked weight moved to %v", res.Model.Weights[0])
	}
	u := res.Model.ToUpdate("s", 1, x, LocalMetrics{})
	if slices.Contains(u.Features, st.Features[0]) {
		t.Fatal("update carries a feature the site lacks")
	}
}

func TestExplainAndHitRate(t *testing.T) {
	m := Model{Features: []string{"a#level", "b#level", "c#level"}, Weights: []float64{1, -2, 0.5}}
	x := &Matrix{Features: m.Features, Rows: 2, Cols: 3, X: []float64{2, 1, 4, 0, -1, 0}, Y: []float64{1, 1}, Present: []bool{true, true, true}}
	e, err := Explain(m, x, Interval{0, 2}, ExplainSigned)
	if err != nil {
		t.Fatal(err)
	}
	// a: (2+0)/2 = 1; b: (-2 + 2)/2 = 0; c: (2 + 0)/2 = 1 -> a and c tie, a first by name.
	if got := e.Ranked(); !slices.Equal(got, []string{"a", "c", "b"}) {
		t.Fatalf("ranking %v", got)
	}
	if len(e.Features) != 3 || e.Features[0].Metric != "a#level" || e.Features[0].Score != 1 {
		t.Fatalf("feature contributions %+v", e.Features)
	}
	tests := []struct {
		ranked, truth []string
		p, want       float64
	}{
		{[]string{"a", "b", "c", "d"}, []string{"a", "c"}, 1, 0.5},
		{[]string{"a", "b", "c", "d"}, []string{"a", "c"}, 1.5, 0.5}, // floor(3) = 3 -> a, b, c... both found
		{[]string{"a", "b", "c", "d"}, []string{"b", "d"}, 1, 0.5},
		{[]string{"x"}, []string{"a"}, 1.5, 0},
	}
	tests[1].want = 1
	for _, tt := range tests {
		if got := HitRate(tt.ranked, tt.truth, tt.p); got != tt.want {
			t.Errorf("HitRate(%v, %v, %v) = %v, want %v", tt.ranked, tt.truth, tt.p, got, tt.want)
		}
	}
}

// Federated standardization must equal what a central party would compute
// from the pooled rows.
func TestFederatedStandardizationMatchesPooled(t *testing.T) {
	sites := syntheticSites(t, 3)
	var parts []Stats
	var pooled []*Dataset
	for _, s := range sites {
		parts = append(parts, ComputeStats(s.Train))
		pooled = append(pooled, s.Train)
	}
	merged, err := MergeStats(parts...)
	if err != nil {
		t.Fatal(err)
	}
	fed, _ := NewStandardizer(merged)
	all, err := StackDatasets(pooled...)
	if err != nil {
		t.Fatal(err)
	}
	central, _ := NewStandardizer(ComputeStats(all))
	for j := range fed.Features {
		if math.Abs(fed.Mean[j]-central.Mean[j]) > 1e-9*math.Max(1, math.Abs(central.Mean[j])) || math.Abs(fed.Std[j]-central.Std[j]) > 1e-9*central.Std[j] {
			t.Fatalf("%s: federated mean/sd %v/%v, pooled %v/%v", fed.Features[j], fed.Mean[j], fed.Std[j], central.Mean[j], central.Std[j])
		}
	}
}

func TestPrivacy(t *testing.T) {
	cfg := DPConfig{ClipNorm: 1, NoiseMultiplier: 1, Delta: 1e-5, EpsilonBudget: 10}
	acct, err := NewAccountant(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One round at σ = 1: ε = 1/2 + 2·sqrt(ln(1e5)/2).
	if err := acct.Spend("a"); err != nil {
		t.Fatal(err)
	}
	want := 0.5 + 2*math.Sqrt(math.Log(1e5)/2)
	if got := acct.Epsilon("a"); math.Abs(got-want) > 1e-12 {
		t.Fatalf("ε after one round = %v, want %v", got, want)
	}
	for acct.Spend("a") == nil {
	}
	if got := acct.Epsilon("a"); got > cfg.EpsilonBudget {
		t.Fatalf("spent %v, over the budget %v", got, cfg.EpsilonBudget)
	}
	if acct.Epsilon("b") != 0 {
		t.Fatal("another organization was charged")
	}

	global, _ := NewModel([]string{"a#level", "b#level"})
	u := Update{Org: "a", Round: 1, Features: global.Features, Weights: []float64{30, 40}, Samples: 1}
	noiseless := cfg
	noiseless.NoiseMultiplier = 1e-12
	if err := Privatize(&u, global, noiseless, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	if norm := math.Hypot(u.Weights[0], u.Weights[1]); math.Abs(norm-1) > 1e-6 {
		t.Fatalf("clipped update has norm %v, want 1", norm)
	}
	if err := Privatize(&u, global, DPConfig{}, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Fatal("zero DP config accepted")
	}
}

// FedProx's proximal term must keep the local model nearer the global one.
func TestProximalTermLimitsDrift(t *testing.T) {
	site := syntheticSite(t, "s", 3, 2000, 4)
	st, _ := NewStandardizer(ComputeStats(site.Train))
	x, _ := st.Apply(site.Train)
	global, _ := NewModel(st.Features)
	drift := func(mu float64) float64 {
		cfg := DefaultTrainConfig()
		cfg.Epochs = 3
		cfg.ProxMu = mu
		res, err := Train(x, global, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var d float64
		for j, w := range res.Model.Weights {
			d += (w - global.Weights[j]) * (w - global.Weights[j])
		}
		return math.Sqrt(d)
	}
	free, prox := drift(0), drift(1)
	if !(prox < 0.8*free) {
		t.Fatalf("drift with μ=1 is %.3f, without %.3f", prox, free)
	}
}
