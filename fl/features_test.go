package fl

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuildFeaturesNamesAndTransforms(t *testing.T) {
	nan := math.NaN()
	series := []MetricSeries{
		{Name: "cpu", Values: []float64{1, 2, 4, nan, 8}},
		{Name: "requests_total", Counter: true, Values: []float64{10, 15, 3, 7, math.Inf(1)}},
	}
	ft, err := BuildFeatures(series, FeatureSpec{Transforms: []Transform{Level, Delta}})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"cpu#delta", "cpu#level", "requests_total#delta", "requests_total#rate"}
	if !slices.Equal(ft.Features, wantNames) {
		t.Fatalf("features %v, want %v", ft.Features, wantNames)
	}
	col := func(name string) []float64 {
		i, _ := slices.BinarySearch(ft.Features, name)
		return ft.Columns[i]
	}
	same := func(got, want []float64) bool {
		return slices.EqualFunc(got, want, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) })
	}
	tests := []struct {
		feature string
		want    []float64
	}{
		{"cpu#level", []float64{1, 2, 4, nan, 8}},
		{"cpu#delta", []float64{nan, 1, 2, nan, nan}},
		// 10 -> 15 is +5, 15 -> 3 is a reset (+3), 3 -> 7 is +4, Inf is a gap.
		{"requests_total#rate", []float64{nan, 5, 3, 4, nan}},
	}
	for _, tt := range tests {
		if got := col(tt.feature); !same(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.feature, got, tt.want)
		}
	}
	q := ft.Quality
	if q.Missing["cpu"] != 1 || q.NonFinite["requests_total"] != 1 || q.CounterResets["requests_total"] != 1 {
		t.Errorf("quality report %+v", q)
	}
}

func TestRollingZScore(t *testing.T) {
	v := []float64{1, 3, 1, 3, 1, 3, 10}
	ft, err := BuildFeatures([]MetricSeries{{Name: "m", Values: v}}, FeatureSpec{Transforms: []Transform{ZScore, AbsZScore}, BaselineWindow: 4})
	if err != nil {
		t.Fatal(err)
	}
	z := ft.Columns[1] // "m#zscore" sorts after "m#abszscore"
	// Baseline of the last value: {1,3,1,3}, mean 2, sd 1.
	if got := z[6]; math.Abs(got-8) > 1e-12 {
		t.Fatalf("z of the spike = %v, want 8", got)
	}
	if !math.IsNaN(z[0]) || !math.IsNaN(z[1]) {
		t.Fatalf("z before two baseline samples should be missing, got %v", z[:2])
	}
	if ft.Columns[0][6] != 8 {
		t.Fatalf("|z| = %v", ft.Columns[0][6])
	}
}

func TestBuildFeaturesBadInput(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		series []MetricSeries
		spec   FeatureSpec
		want   string
	}{
		{"no metrics", nil, DefaultFeatureSpec(), "no metrics"},
		{"all-NaN metric", []MetricSeries{{Name: "m", Values: []float64{nan, nan}}}, DefaultFeatureSpec(), "no finite value"},
		{"length mismatch", []MetricSeries{{Name: "a", Values: []float64{1, 2}}, {Name: "b", Values: []float64{1}}}, DefaultFeatureSpec(), "has 1 samples, want 2"},
		{"duplicate metric", []MetricSeries{{Name: "a", Values: []float64{1}}, {Name: "a", Values: []float64{1}}}, DefaultFeatureSpec(), "duplicate"},
		{"separator in name", []MetricSeries{{Name: "a#b", Values: []float64{1}}}, DefaultFeatureSpec(), "invalid metric name"},
		{"unknown transform", []MetricSeries{{Name: "a", Values: []float64{1}}}, FeatureSpec{Transforms: []Transform{"fft"}}, "unknown transform"},
		{"short baseline", []MetricSeries{{Name: "a", Values: []float64{1}}}, FeatureSpec{Transforms: []Transform{ZScore}, BaselineWindow: 1}, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildFeatures(tt.series, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSkipEmptyAndConstantAreReported(t *testing.T) {
	nan := math.NaN()
	spec := DefaultFeatureSpec()
	spec.SkipEmpty = true
	ft, err := BuildFeatures([]MetricSeries{
		{Name: "dead", Values: []float64{nan, nan, nan}},
		{Name: "flat", Values: []float64{2, 2, 2}},
	}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ft.Quality.Dropped, []string{"dead"}) || !slices.Equal(ft.Quality.Constant, []string{"flat"}) {
		t.Fatalf("quality %+v", ft.Quality)
	}
	// A constant feature standardizes to zero, never to NaN.
	d, _ := NewDataset(ft, []float64{0, 1, 0}, 0, 3)
	st, err := NewStandardizer(ComputeStats(d))
	if err != nil {
		t.Fatal(err)
	}
	x, err := st.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range x.X {
		if !isFinite(v) {
			t.Fatalf("standardized matrix holds %v", v)
		}
	}
	if !slices.Contains(st.Constant, "flat#level") {
		t.Fatalf("constant features %v", st.Constant)
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name    string
		rows    int
		in      []Interval
		horizon int
		want    []float64
	}{
		{"detection, half-open", 6, []Interval{{2, 4}}, 0, []float64{0, 0, 1, 1, 0, 0}},
		{"prediction horizon", 6, []Interval{{3, 4}}, 2, []float64{0, 1, 1, 1, 0, 0}},
		{"clipped at the end", 4, []Interval{{3, 9}}, 0, []float64{0, 0, 0, 1}},
	}
	for _, tt := range tests {
		got, err := LabelsFromIntervals(tt.rows, tt.in, tt.horizon)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := LabelsFromIntervals(3, []Interval{{2, 2}}, 0); err == nil {
		t.Error("empty incident accepted")
	}
	got, err := LabelsFromSLO([]float64{0.1, 0.5, math.NaN(), 0.7, 0.1}, SLO{Threshold: 0.3, Above: true}, 0)
	if err != nil || !slices.Equal(got, []float64{0, 1, 0, 1, 0}) {
		t.Errorf("SLO labels %v (%v)", got, err)
	}
}

func TestDatasetClassesAndAlignment(t *testing.T) {
	ft, _ := BuildFeatures([]MetricSeries{{Name: "a", Values: []float64{1, 2, 3, 4}}}, FeatureSpec{Transforms: []Transform{Level}})
	d, err := NewDataset(ft, []float64{0, 0, 0, 0}, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckClasses(); !errors.Is(err, ErrSingleClass) {
		t.Fatalf("dataset without incidents: %v", err)
	}
	other, _ := BuildFeatures([]MetricSeries{{Name: "b", Values: []float64{1, 2}}}, FeatureSpec{Transforms: []Transform{Level}})
	od, _ := NewDataset(other, []float64{0, 1}, 0, 2)
	st, _ := NewStandardizer(ComputeStats(d))
	if _, err := st.Apply(od); err == nil || !strings.Contains(err.Error(), "mismatched feature sets") {
		t.Fatalf("applying a foreign feature set: %v", err)
	}
	if _, err := ConcatDatasets(d, od); err == nil {
		t.Fatal("concatenated datasets with different features")
	}
	stacked, err := StackDatasets(d, od)
	if err != nil {
		t.Fatal(err)
	}
	if stacked.Rows() != 6 || stacked.Quality.Missing["b#level"] != 4 || stacked.Quality.Missing["a#level"] != 2 {
		t.Fatalf("stacked %d rows, missing %v", stacked.Rows(), stacked.Quality.Missing)
	}
}

func TestForStepKeepsWindowsInTime(t *testing.T) {
	spec := DeviationFeatureSpec()
	tests := []struct {
		name           string
		step           time.Duration
		window, smooth int
	}{
		{"one minute: as written", time.Minute, 1440, 3},
		{"five minutes: a day is 288 rows", 5 * time.Minute, 288, 1},
		{"ten seconds: a day is 8640 rows", 10 * time.Second, 8640, 18},
		{"a day: never below 2 rows", 24 * time.Hour, 2, 1},
	}
	for _, tt := range tests {
		got := spec.ForStep(tt.step)
		if got.BaselineWindow != tt.window || got.Smooth != tt.smooth {
			t.Errorf("%s: window %d, smooth %d; want %d, %d", tt.name, got.BaselineWindow, got.Smooth, tt.window, tt.smooth)
		}
	}
}
