package fl

import (
	"math"
	"slices"
	"testing"
)

// incidentMatrix builds a standardized matrix whose rows are one window:
// every metric has an abszscore and an absdelta column.
func incidentMatrix(t *testing.T, z, delta map[string][]float64) *Matrix {
	t.Helper()
	var features []string
	for m := range z {
		features = append(features, FeatureName(m, AbsZScore), FeatureName(m, AbsDelta))
	}
	slices.Sort(features)
	rows := 0
	for _, v := range z {
		rows = len(v)
	}
	x := &Matrix{Features: features, Rows: rows, Cols: len(features), X: make([]float64, rows*len(features)), Y: make([]float64, rows), Present: make([]bool, len(features))}
	for j, f := range features {
		x.Present[j] = true
		m, tr := SplitFeatureName(f)
		src := z[m]
		if tr == AbsDelta {
			src = delta[m]
		}
		for i, v := range src {
			x.X[i*x.Cols+j] = v
		}
	}
	return x
}

func TestChannelShares(t *testing.T) {
	x := incidentMatrix(t,
		map[string][]float64{"a": {1, 3}, "b": {-2, 1}},
		map[string][]float64{"a": {0, 0}, "b": {4, 0}})
	channels := []ExplainChannel{{AbsZScore, StatMeanSquare}, {AbsZScore, StatPeak}, {AbsDelta, StatPeak}, {RefAbsZScore, StatPeak}}
	ic, err := ChannelShares(x, Interval{0, 2}, channels)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for k, m := range ic.Metrics {
		got[m] = ic.Shares[k]
	}
	// mean squares: a (1+9)/2 = 5, b (0+1)/2 = 0.5 (calm counts 0); peaks a 3, b 1;
	// delta peaks a 0, b 4; no refabsz feature: share 0.
	want := map[string][]float64{"a": {5 / 5.5, 0.75, 0, 0}, "b": {0.5 / 5.5, 0.25, 1, 0}}
	for m, w := range want {
		for c := range w {
			if math.Abs(got[m][c]-w[c]) > 1e-12 {
				t.Errorf("%s channel %d: share %v, want %v", m, c, got[m][c], w[c])
			}
		}
	}
	if _, err := ChannelShares(x, Interval{1, 3}, channels); err == nil {
		t.Error("window past the data: no error")
	}
}

func TestFitExplainWeights(t *testing.T) {
	channels := []ExplainChannel{{AbsZScore, StatMeanSquare}, {AbsDelta, StatPeak}}
	// In every incident the named metric is the one with the largest delta
	// peak, while another metric has the largest |z|: the fit must weigh
	// the delta channel over the |z| one.
	inc := func(truth string) IncidentChannels {
		return IncidentChannels{Metrics: []string{"a", "b", "c"}, Truth: []string{truth},
			Shares: map[string][][]float64{
				"b": {{0.6, 0.1}, {0.3, 0.8}, {0.1, 0.1}},
				"c": {{0.6, 0.1}, {0.1, 0.1}, {0.3, 0.8}},
			}[truth]}
	}
	incidents := []IncidentChannels{inc("b"), inc("c"), inc("b")}
	ew, score, err := FitExplainWeights(incidents, channels, DefaultExplainGrid(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if score != 1 || !(ew.Weights[1] > ew.Weights[0]) {
		t.Fatalf("weights %v, score %v: want the delta channel weighed more, every incident hit", ew.Weights, score)
	}
	if r := ew.Rank(inc("c")); r[0] != "c" {
		t.Errorf("rank %v, want c first", r)
	}
	again, _, _ := FitExplainWeights(reversed(incidents), channels, DefaultExplainGrid(), 1)
	if !slices.Equal(again.Weights, ew.Weights) {
		t.Errorf("incident order changed the fit: %v vs %v", again.Weights, ew.Weights)
	}
	ones, score, err := FitExplainWeights([]IncidentChannels{{Metrics: []string{"a"}, Shares: [][]float64{{1, 1}}}}, channels, DefaultExplainGrid(), 1)
	if err != nil || score != 0 || !slices.Equal(ones.Weights, []float64{1, 1}) {
		t.Errorf("without labels: %v %v %v, want unit weights", ones.Weights, score, err)
	}
	if _, _, err := FitExplainWeights([]IncidentChannels{{Metrics: []string{"a"}, Shares: [][]float64{{1}}, Truth: []string{"a"}}}, channels, DefaultExplainGrid(), 1); err == nil {
		t.Error("incident with too few channels: no error")
	}
	if _, _, err := FitExplainWeights(nil, nil, DefaultExplainGrid(), 1); err == nil {
		t.Error("no channels: no error")
	}
	if _, _, err := FitExplainWeights(nil, channels, []float64{1, math.NaN()}, 1); err == nil {
		t.Error("NaN in the grid: no error")
	}
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestFitExplainWeightsChecked(t *testing.T) {
	channels := []ExplainChannel{{AbsZScore, StatMeanSquare}, {AbsDelta, StatPeak}}
	// deltaNamed: the named metric leads on the delta channel; zNamed: on
	// the |z| channel. Both have a decoy leading on the other channel.
	deltaNamed := IncidentChannels{Metrics: []string{"a", "b", "c"}, Truth: []string{"b"},
		Shares: [][]float64{{0.6, 0.1}, {0.2, 0.5}, {0.2, 0.4}}} // unit weights rank a first
	zNamed := IncidentChannels{Metrics: []string{"a", "b", "c"}, Truth: []string{"a"},
		Shares: [][]float64{{0.45, 0.1}, {0.1, 0.5}, {0.45, 0.4}}}
	for _, tc := range []struct {
		name   string
		groups [][]IncidentChannels
		kept   bool
	}{
		// Every machine's incidents favour the delta channel: fitted
		// without any one of them, the weights still explain it.
		{"groups agree", [][]IncidentChannels{{deltaNamed}, {deltaNamed, deltaNamed}, {deltaNamed}}, true},
		// Each machine favours another channel: weights fitted on one
		// machine mislead on the other, so unit weights are kept.
		{"groups disagree", [][]IncidentChannels{{deltaNamed}, {zNamed}}, false},
		{"one group only", [][]IncidentChannels{{deltaNamed, deltaNamed}}, false},
	} {
		ew, check, err := FitExplainWeightsChecked(tc.groups, channels, DefaultExplainGrid(), 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		unit := slices.Equal(ew.Weights, []float64{1, 1})
		if check.Kept != tc.kept || unit == tc.kept {
			t.Errorf("%s: weights %v, check %+v; want kept %v", tc.name, ew.Weights, check, tc.kept)
		}
	}
}
