package fl

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var aggFeatures = []string{"a#level", "b#level", "c#level"}

func upd(org string, samples uint64, w ...float64) Update {
	return Update{Org: org, Round: 1, Features: aggFeatures, Weights: w[:3], Intercept: w[3], Samples: samples}
}

func zeroGlobal(t *testing.T) Model {
	t.Helper()
	m, err := NewModel(aggFeatures)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustAggregator(t *testing.T, name string, opt AggregatorOptions) Aggregator {
	t.Helper()
	a, err := NewAggregator(name, opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAggregatorsReduceAsSpecified(t *testing.T) {
	honest := []Update{
		upd("o1", 100, 1, 2, 3, 0.1),
		upd("o2", 300, 2, 2, 3, 0.2),
		upd("o3", 100, 3, 2, 3, 0.3),
		upd("o4", 100, 4, 2, 3, 0.4),
		upd("o5", 100, 5, 2, 3, 0.5),
	}
	outlier := upd("evil", 100, 1000, -1000, 1000, 50)
	tests := []struct {
		name    string
		updates []Update
		want    []float64 // weights then intercept
	}{
		{FedAvg, honest, []float64{(1 + 6 + 3 + 4 + 5) * 100 / 700.0, 2, 3, (0.1 + 0.6 + 0.3 + 0.4 + 0.5) * 100 / 700}},
		{Median, honest, []float64{3, 2, 3, 0.3}},
		{Median, append(slices.Clone(honest), outlier), []float64{3.5, 2, 3, 0.35}},
		{TrimmedMean, append(slices.Clone(honest), outlier), []float64{3.5, 2, 3, 0.35}}, // 6 values, trims 1 each end
		{MultiKrum, append(slices.Clone(honest), outlier), nil},                          // checked below: outlier excluded
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustAggregator(t, tt.name, AggregatorOptions{}).Aggregate(zeroGlobal(t), 1, tt.updates)
			if err != nil {
				t.Fatal(err)
			}
			vec := append(slices.Clone(got.Weights), got.Intercept)
			if tt.want == nil {
				for _, v := range vec {
					if math.Abs(v) > 10 {
						t.Fatalf("multi-krum let the outlier in: %v", vec)
					}
				}
				return
			}
			for i := range vec {
				if math.Abs(vec[i]-tt.want[i]) > 1e-12 {
					t.Fatalf("got %v, want %v", vec, tt.want)
				}
			}
		})
	}
}

// Every strategy must give the same bits whatever order updates arrive in,
// including sums whose floating-point result depends on the order.
func TestAggregateIsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var updates []Update
	for i := range 9 {
		w := make([]float64, 4)
		for j := range w {
			w[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6))
		}
		updates = append(updates, upd(string(rune('a'+i)), uint64(1+rng.IntN(1000)), w...))
	}
	for _, name := range Strategies() {
		t.Run(name, func(t *testing.T) {
			a := mustAggregator(t, name, AggregatorOptions{})
			want, err := a.Aggregate(zeroGlobal(t), 1, updates)
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				shuffled := slices.Clone(updates)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				got, err := a.Aggregate(zeroGlobal(t), 1, shuffled)
				if err != nil {
					t.Fatal(err)
				}
				for j := range got.Weights {
					if math.Float64bits(got.Weights[j]) != math.Float64bits(want.Weights[j]) {
						t.Fatalf("weight %d: %v after shuffling, %v before", j, got.Weights[j], want.Weights[j])
					}
				}
				if math.Float64bits(got.Intercept) != math.Float64bits(want.Intercept) {
					t.Fatal("intercept changed with update order")
				}
				d1, err1 := got.Digest()
				d2, err2 := want.Digest()
				if err1 != nil || err2 != nil || d1 != d2 {
					t.Fatalf("model digests %s and %s (%v, %v)", d1, d2, err1, err2)
				}
			}
		})
	}
}

func TestAggregateMasksAbsentFeatures(t *testing.T) {
	global := zeroGlobal(t)
	global.Weights[2] = 7
	a := Update{Org: "a", Round: 1, Features: []string{"a#level"}, Weights: []float64{1}, Samples: 1}
	b := Update{Org: "b", Round: 1, Features: []string{"a#level", "b#level"}, Weights: []float64{3, 5}, Samples: 1}
	got, err := mustAggregator(t, FedAvg, AggregatorOptions{}).Aggregate(global, 1, []Update{a, b})
	if err != nil {
		t.Fatal(err)
	}
	// a#level from both, b#level only from b (not averaged with a zero),
	// c#level from nobody: keeps the global value.
	if want := []float64{2, 5, 7}; !slices.Equal(got.Weights, want) {
		t.Fatalf("got %v, want %v", got.Weights, want)
	}
}

func TestAggregateRefusesMalformedUpdates(t *testing.T) {
	good := upd("o1", 10, 1, 2, 3, 0)
	tests := []struct {
		name string
		bad  Update
		want string
	}{
		{"wrong dimension", Update{Org: "x", Round: 1, Features: aggFeatures, Weights: []float64{1}, Samples: 1}, "1 weights for 3 features"},
		{"NaN weight", upd("x", 10, 1, math.NaN(), 3, 0), "NaN"},
		{"unknown feature", Update{Org: "x", Round: 1, Features: []string{"zzz#level"}, Weights: []float64{1}, Samples: 1}, "not in the global model"},
		{"other round", Update{Org: "x", Round: 2, Features: aggFeatures, Weights: []float64{1, 2, 3}, Samples: 1}, "round 2, want 1"},
		{"same organization twice", upd("o1", 5, 1, 1, 1, 0), "second update from o1"},
	}
	for _, name := range Strategies() {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				_, err := mustAggregator(t, name, AggregatorOptions{}).Aggregate(zeroGlobal(t), 1, []Update{good, tt.bad, upd("o2", 1, 0, 0, 0, 0), upd("o3", 1, 0, 0, 0, 0)})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want one containing %q", err, tt.want)
				}
			})
		}
	}
}

func TestNewAggregatorRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opt  AggregatorOptions
	}{
		{"no-such-strategy", AggregatorOptions{}},
		{TrimmedMean, AggregatorOptions{TrimFraction: 0.5}},
		{FedProx, AggregatorOptions{ProxMu: -1}},
		{MultiKrum, AggregatorOptions{Byzantine: -1}},
	}
	for _, tt := range tests {
		if _, err := NewAggregator(tt.name, tt.opt); err == nil {
			t.Errorf("NewAggregator(%q, %+v) accepted bad settings", tt.name, tt.opt)
		}
	}
	if _, err := mustAggregator(t, MultiKrum, AggregatorOptions{Byzantine: 2}).Aggregate(zeroGlobal(t), 1, []Update{upd("a", 1, 0, 0, 0, 0), upd("b", 1, 0, 0, 0, 0)}); err == nil {
		t.Error("multi-krum tolerated 2 faults among 2 updates")
	}
}

func TestMergeStatsIsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var parts []Stats
	for i := range 6 {
		s := Stats{Features: []string{"a", "b"}}
		if i%2 == 0 {
			s.Features = []string{"a", "c"}
		}
		for range 2 {
			x := rng.NormFloat64() * 1e6
			s.Count = append(s.Count, float64(1+rng.IntN(100)))
			s.Sum = append(s.Sum, x)
			s.SumSq = append(s.SumSq, x*x*3)
		}
		parts = append(parts, s)
	}
	want, err := MergeStats(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want.Features, []string{"a", "b", "c"}) {
		t.Fatalf("merged features %v", want.Features)
	}
	for range 20 {
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		got, err := MergeStats(parts...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Sum, want.Sum) || !slices.Equal(got.SumSq, want.SumSq) || !slices.Equal(got.Count, want.Count) {
			t.Fatal("merge result depends on part order")
		}
	}
	bad := parts[0]
	bad.Sum = []float64{math.NaN(), 0}
	if _, err := MergeStats(parts[1], bad); err == nil {
		t.Fatal("merge accepted NaN sums")
	}
}
