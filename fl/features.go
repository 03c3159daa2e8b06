package fl

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Transform names one way of turning a metric series into a feature.
type Transform string

// Transforms. Counters are first turned into a per-step rate (with resets
// handled) and every transform then applies to that rate; Level of a counter
// is therefore named "rate".
const (
	// Level is the value itself (the per-step increase for counters).
	Level Transform = "level"
	// Delta is the change since the previous step.
	Delta Transform = "delta"
	// ZScore is the deviation from a trailing baseline window, in baseline
	// standard deviations.
	ZScore Transform = "zscore"
	// AbsZScore is |ZScore|: a linear model cannot otherwise learn that a
	// deviation in either direction is suspicious.
	AbsZScore Transform = "abszscore"
	// Rate is the name Level takes for counters.
	Rate Transform = "rate"
	// RefAbsZScore is |z| against the fixed reference period
	// (FeatureSpec.ReferencePeriod, e.g. a machine's known-normal train file)
	// even where the other z-scores use a trailing window: a long incident
	// cannot become its own baseline, and a slow drift still shows.
	RefAbsZScore Transform = "refabsz"
	// AbsDelta is |Delta|, the size of a sudden change either way.
	AbsDelta Transform = "absdelta"
	// Summary marks a row-level summary of every metric's deviation (see
	// AddDeviationSummaries): not a metric of its own, so rankings and
	// explanations leave it out.
	Summary Transform = "summary"
)

// SummaryPrefix starts the metric name of a summary feature; it cannot
// start a Prometheus metric name.
const SummaryPrefix = "~"

// IsDeviation reports whether a transform measures how far a metric strays
// from its normal behaviour whatever the direction: larger values can only
// mean "more unusual".
func (t Transform) IsDeviation() bool {
	return t == AbsZScore || t == RefAbsZScore || t == AbsDelta || t == Summary
}

// IsSummary reports whether a feature is a summary over metrics rather
// than a metric's own.
func IsSummary(feature string) bool {
	_, t := SplitFeatureName(feature)
	return t == Summary
}

// SummaryTransforms are the deviations AddDeviationSummaries summarizes.
var SummaryTransforms = []Transform{AbsZScore, RefAbsZScore}

// AddDeviationSummaries appends, for each of SummaryTransforms the table
// holds, the largest and the mean deviation over metrics at every row
// ("~max.<transform>#summary", "~mean.<transform>#summary"): the untrained
// deviation scores, as features, so a linear model can start from them and
// learning refines rather than replaces them.
func AddDeviationSummaries(ft *FeatureTable) {
	for _, t := range SummaryTransforms {
		var cols [][]float64
		for j, f := range ft.Features {
			if _, x := SplitFeatureName(f); x == t {
				cols = append(cols, ft.Columns[j])
			}
		}
		if len(cols) == 0 {
			continue
		}
		mx := make([]float64, ft.Rows)
		mean := make([]float64, ft.Rows)
		for i := range ft.Rows {
			var sum, n float64
			best := math.NaN()
			for _, c := range cols {
				if v := c[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
					sum += v
					n++
					if math.IsNaN(best) || v > best {
						best = v
					}
				}
			}
			mx[i], mean[i] = best, math.NaN()
			if n > 0 {
				mean[i] = sum / n
			}
		}
		ft.Features = append(ft.Features, FeatureName(SummaryPrefix+"max."+string(t), Summary), FeatureName(SummaryPrefix+"mean."+string(t), Summary))
		ft.Columns = append(ft.Columns, mx, mean)
	}
	idx := make([]int, len(ft.Features))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(ft.Features[a], ft.Features[b]) })
	names := make([]string, len(idx))
	cols := make([][]float64, len(idx))
	for k, i := range idx {
		names[k], cols[k] = ft.Features[i], ft.Columns[i]
	}
	ft.Features, ft.Columns = names, cols
}

// featureSep separates metric and transform in canonical feature names. It
// cannot occur in Prometheus metric names.
const featureSep = "#"

// FeatureName is the canonical name of a metric's transform.
func FeatureName(metric string, t Transform) string { return metric + featureSep + string(t) }

// SplitFeatureName returns the metric and transform of a canonical name.
func SplitFeatureName(name string) (metric string, t Transform) {
	i := strings.LastIndex(name, featureSep)
	if i < 0 {
		return name, ""
	}
	return name[:i], Transform(name[i+1:])
}

// MetricSeries is one candidate metric of a service on a regular grid; NaN
// marks a missing sample.
type MetricSeries struct {
	Name    string
	Counter bool
	Values  []float64
}

// FeatureSpec says which features to derive.
type FeatureSpec struct {
	Transforms []Transform
	// BaselineWindow is the number of trailing steps the z-score compares
	// against (not including the current one).
	BaselineWindow int
	// ReferenceRows, when positive, replaces the trailing window by a fixed
	// reference period, rows [0, ReferenceRows) (e.g. a known-good week):
	// a long incident then cannot become its own baseline.
	ReferenceRows int
	// ReferencePeriod is the number of leading rows [0, ReferencePeriod)
	// that RefAbsZScore compares against (the other z-scores keep their
	// trailing window).
	ReferencePeriod int
	// Smooth averages z-scores over this many trailing steps (0 or 1: no
	// smoothing): incidents last minutes, single-sample spikes mostly do
	// not matter.
	Smooth int
	// Compress maps z-scores through sign(z)·log(1+|z|), so that a metric
	// that was flat during its baseline cannot produce a z of 10⁴ that
	// swamps everything else.
	Compress bool
	// SkipEmpty drops metrics without a single finite value (reported in
	// Quality.Dropped) instead of failing.
	SkipEmpty bool
}

// DefaultFeatureSpec is level, delta, z-score and |z-score| against the last
// hour at one-minute resolution: what nodes extract.
func DefaultFeatureSpec() FeatureSpec {
	return FeatureSpec{Transforms: []Transform{Level, Delta, ZScore, AbsZScore}, BaselineWindow: 60}
}

// DeviationFeatureSpec is the evaluated learner's features (node/evaluate's
// DefaultSMDConfig, chosen under leave-one-site-out and swap on SMD): |z|
// against the trailing day and against the reference period (RefAbsZScore;
// its length is set where the data is known) and |Δ|, compressed and
// smoothed over 3 steps. Windows are rows of one minute; ForStep rescales
// them.
func DeviationFeatureSpec() FeatureSpec {
	return FeatureSpec{Transforms: []Transform{AbsZScore, RefAbsZScore, AbsDelta}, BaselineWindow: 1440, Compress: true, Smooth: 3}
}

// ForStep rescales the windows of a spec given in rows of one minute to a
// sampling step: a one-day baseline stays one day at 5-minute steps (288
// rows), never shorter than 2 rows.
func (spec FeatureSpec) ForStep(step time.Duration) FeatureSpec {
	if step <= 0 || step == time.Minute {
		return spec
	}
	scale := func(rows int) int {
		if rows == 0 {
			return 0
		}
		return max(2, int(int64(rows)*int64(time.Minute)/int64(step)))
	}
	spec.BaselineWindow = scale(spec.BaselineWindow)
	if spec.Smooth > 1 {
		spec.Smooth = max(1, int(int64(spec.Smooth)*int64(time.Minute)/int64(step)))
	}
	return spec
}

// Quality reports what was wrong with the input and how it was handled.
type Quality struct {
	// Missing counts NaN samples per metric (gaps in the source).
	Missing map[string]int `json:"missing,omitempty"`
	// NonFinite counts ±Inf samples per metric; they are treated as missing.
	NonFinite map[string]int `json:"non_finite,omitempty"`
	// Constant lists metrics whose finite values never change.
	Constant []string `json:"constant,omitempty"`
	// Dropped lists metrics without any finite value (with SkipEmpty).
	Dropped []string `json:"dropped,omitempty"`
	// CounterResets counts decreases of counters, read as restarts.
	CounterResets map[string]int `json:"counter_resets,omitempty"`
}

// FeatureTable is the feature matrix of one service, column-major, one
// column per canonical feature name (sorted); NaN marks values that could
// not be computed (gaps, the start of the baseline window).
type FeatureTable struct {
	Features []string
	Columns  [][]float64
	Rows     int
	Quality  Quality
}

// BuildFeatures derives the features of spec from every metric. All series
// must have the same length; names must be unique.
func BuildFeatures(series []MetricSeries, spec FeatureSpec) (*FeatureTable, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("build features: no metrics")
	}
	if len(spec.Transforms) == 0 {
		return nil, fmt.Errorf("build features: no transforms")
	}
	needsBaseline := slices.Contains(spec.Transforms, ZScore) || slices.Contains(spec.Transforms, AbsZScore)
	if needsBaseline && spec.BaselineWindow < 2 {
		return nil, fmt.Errorf("build features: baseline window %d too short (need at least 2)", spec.BaselineWindow)
	}
	if slices.Contains(spec.Transforms, RefAbsZScore) && spec.ReferencePeriod < 2 {
		return nil, fmt.Errorf("build features: %s needs a reference period of at least 2 rows", RefAbsZScore)
	}
	rows := len(series[0].Values)
	if rows == 0 {
		return nil, fmt.Errorf("build features: empty series")
	}
	q := Quality{Missing: map[string]int{}, NonFinite: map[string]int{}, CounterResets: map[string]int{}}
	seen := map[string]bool{}
	cols := map[string][]float64{}
	for _, s := range series {
		switch {
		case s.Name == "" || strings.Contains(s.Name, featureSep):
			return nil, fmt.Errorf("build features: invalid metric name %q", s.Name)
		case seen[s.Name]:
			return nil, fmt.Errorf("build features: duplicate metric %q", s.Name)
		case len(s.Values) != rows:
			return nil, fmt.Errorf("build features: metric %s has %d samples, want %d", s.Name, len(s.Values), rows)
		}
		seen[s.Name] = true
		base, finite := cleanSeries(s, &q)
		if finite == 0 {
			if spec.SkipEmpty {
				q.Dropped = append(q.Dropped, s.Name)
				continue
			}
			return nil, fmt.Errorf("build features: metric %s has no finite value", s.Name)
		}
		if isConstant(base) {
			q.Constant = append(q.Constant, s.Name)
		}
		for _, t := range spec.Transforms {
			col, err := transform(base, t, spec)
			if err != nil {
				return nil, fmt.Errorf("build features: metric %s: %w", s.Name, err)
			}
			if s.Counter && t == Level {
				t = Rate
			}
			cols[FeatureName(s.Name, t)] = col
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("build features: every metric was empty")
	}
	ft := &FeatureTable{Rows: rows, Quality: q}
	for name := range cols {
		ft.Features = append(ft.Features, name)
	}
	slices.Sort(ft.Features)
	for _, name := range ft.Features {
		ft.Columns = append(ft.Columns, cols[name])
	}
	slices.Sort(ft.Quality.Constant)
	slices.Sort(ft.Quality.Dropped)
	return ft, nil
}

// cleanSeries returns the series as NaN-for-missing floats, converted to a
// per-step rate for counters, and how many finite values it has.
func cleanSeries(s MetricSeries, q *Quality) ([]float64, int) {
	out := make([]float64, len(s.Values))
	finite := 0
	for i, v := range s.Values {
		switch {
		case math.IsNaN(v):
			q.Missing[s.Name]++
			out[i] = math.NaN()
		case math.IsInf(v, 0):
			q.NonFinite[s.Name]++
			out[i] = math.NaN()
		default:
			out[i] = v
			finite++
		}
	}
	if !s.Counter {
		return out, finite
	}
	rate := make([]float64, len(out))
	rate[0] = math.NaN()
	prev := math.NaN()
	finite = 0
	for i, v := range out {
		if i > 0 {
			rate[i] = math.NaN()
		}
		if math.IsNaN(v) {
			continue
		}
		if !math.IsNaN(prev) {
			if v >= prev {
				rate[i] = v - prev
			} else {
				// A counter only decreases when its process restarted; the
				// increase since the restart is the new value itself.
				q.CounterResets[s.Name]++
				rate[i] = v
			}
			finite++
		}
		prev = v
	}
	return rate, finite
}

func isConstant(v []float64) bool {
	first := math.NaN()
	for _, x := range v {
		if math.IsNaN(x) {
			continue
		}
		if math.IsNaN(first) {
			first = x
		} else if x != first {
			return false
		}
	}
	return true
}

func transform(v []float64, t Transform, spec FeatureSpec) ([]float64, error) {
	out := make([]float64, len(v))
	switch t {
	case Level:
		copy(out, v)
	case Delta, AbsDelta:
		out[0] = math.NaN()
		for i := 1; i < len(v); i++ {
			out[i] = v[i] - v[i-1] // NaN propagates through gaps
			if t == AbsDelta {
				out[i] = math.Abs(out[i])
			}
		}
	case ZScore, AbsZScore, RefAbsZScore:
		switch {
		case t == RefAbsZScore:
			referenceZ(v, spec.ReferencePeriod, out)
		case spec.ReferenceRows > 0:
			referenceZ(v, spec.ReferenceRows, out)
		default:
			rollingZ(v, spec.BaselineWindow, out)
		}
		for i, z := range out {
			if spec.Compress {
				z = math.Copysign(math.Log1p(math.Abs(z)), z)
			}
			if t.IsDeviation() {
				z = math.Abs(z)
			}
			out[i] = z
		}
		if spec.Smooth > 1 {
			out = trailingMean(out, spec.Smooth)
		}
	default:
		return nil, fmt.Errorf("unknown transform %q", t)
	}
	return out, nil
}

// rollingZ writes (v[i] - mean) / sd over the finite values of the trailing
// window v[i-window : i]. The deviation has a floor so that a flat baseline
// followed by a small step does not produce an astronomically large score;
// it is relative to the baseline's magnitude, so units do not matter.
func rollingZ(v []float64, window int, out []float64) {
	var n, sum, sumSq float64
	for i := range v {
		if i > 0 {
			if x := v[i-1]; !math.IsNaN(x) {
				n++
				sum += x
				sumSq += x * x
			}
		}
		if i > window {
			if x := v[i-window-1]; !math.IsNaN(x) {
				n--
				sum -= x
				sumSq -= x * x
			}
		}
		if n < 2 || math.IsNaN(v[i]) {
			out[i] = math.NaN()
			continue
		}
		mean := sum / n
		variance := math.Max(sumSq/n-mean*mean, 0)
		floor := 1e-3 * math.Max(math.Abs(mean), 1e-3)
		sd := math.Max(math.Sqrt(variance), floor)
		out[i] = (v[i] - mean) / sd
	}
}

// referenceZ writes (v[i] - mean) / sd with the mean and deviation of the
// finite values of v[:ref].
func referenceZ(v []float64, ref int, out []float64) {
	var n, sum, sumSq float64
	for _, x := range v[:min(ref, len(v))] {
		if !math.IsNaN(x) {
			n++
			sum += x
			sumSq += x * x
		}
	}
	for i, x := range v {
		if n < 2 || math.IsNaN(x) {
			out[i] = math.NaN()
			continue
		}
		mean := sum / n
		sd := math.Max(math.Sqrt(math.Max(sumSq/n-mean*mean, 0)), 1e-3*math.Max(math.Abs(mean), 1e-3))
		out[i] = (x - mean) / sd
	}
}

// trailingMean averages the finite values of v[i-w+1 .. i].
func trailingMean(v []float64, w int) []float64 {
	out := make([]float64, len(v))
	var n, sum float64
	for i, x := range v {
		if !math.IsNaN(x) {
			n++
			sum += x
		}
		if i >= w {
			if y := v[i-w]; !math.IsNaN(y) {
				n--
				sum -= y
			}
		}
		if n > 0 {
			out[i] = sum / n
		} else {
			out[i] = math.NaN()
		}
	}
	return out
}

// Interval is a half-open range of rows [Start, End), e.g. an incident.
type Interval struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// LabelsFromIntervals marks row t positive when an incident is under way at
// any row of [t, t+horizon]: horizon 0 detects, a positive horizon predicts.
func LabelsFromIntervals(rows int, incidents []Interval, horizon int) ([]float64, error) {
	if horizon < 0 {
		return nil, fmt.Errorf("labels: negative horizon %d", horizon)
	}
	y := make([]float64, rows)
	for _, in := range incidents {
		if in.End <= in.Start {
			return nil, fmt.Errorf("labels: empty or inverted incident [%d, %d)", in.Start, in.End)
		}
		lo := max(in.Start-horizon, 0)
		hi := min(in.End, rows)
		for t := lo; t < hi; t++ {
			y[t] = 1
		}
	}
	return y, nil
}

// SLO is a threshold objective on one series: it is violated while the value
// is above (or, with Above false, below) Threshold.
type SLO struct {
	Threshold float64
	Above     bool
}

// LabelsFromSLO evaluates the objective on values and marks row t positive
// when a violation occurs within [t, t+horizon]. Missing values are not
// violations.
func LabelsFromSLO(values []float64, slo SLO, horizon int) ([]float64, error) {
	if !isFinite(slo.Threshold) {
		return nil, fmt.Errorf("labels: SLO threshold must be finite")
	}
	var incidents []Interval
	start := -1
	for i := 0; i <= len(values); i++ {
		bad := i < len(values) && !math.IsNaN(values[i]) &&
			((slo.Above && values[i] > slo.Threshold) || (!slo.Above && values[i] < slo.Threshold))
		switch {
		case bad && start < 0:
			start = i
		case !bad && start >= 0:
			incidents = append(incidents, Interval{start, i})
			start = -1
		}
	}
	return LabelsFromIntervals(len(values), incidents, horizon)
}
