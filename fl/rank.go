package fl

import (
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/srellama/srellama/nft"
)

// MetricScore is one metric's relevance: Score is the sum of the absolute
// standardized coefficients of its features; Stability is the fraction of
// the snapshots (rounds or bootstraps) in which the metric was among the
// top quarter of metrics.
type MetricScore struct {
	Metric    string  `json:"metric"`
	Score     float64 `json:"score"`
	Stability float64 `json:"stability"`
}

// Ranking lists metrics by decreasing score, ties broken by name, so the
// same model always yields the same ranking (the chaincode stores it, the
// SLO generator consumes it).
type Ranking []MetricScore

// Top returns the names of the first k metrics.
func (r Ranking) Top(k int) []string {
	var out []string
	for i := 0; i < k && i < len(r); i++ {
		out = append(out, r[i].Metric)
	}
	return out
}

// NFTMetrics returns the first k entries in the ledger's form (nft.Metric:
// name, relevance = score, stability), best first as the chaincode
// requires.
func (r Ranking) NFTMetrics(k int) []nft.Metric {
	out := make([]nft.Metric, 0, min(k, len(r)))
	for i := 0; i < k && i < len(r); i++ {
		out = append(out, nft.Metric{Name: r[i].Metric, Relevance: r[i].Score, Stability: r[i].Stability})
	}
	return out
}

// metricScores sums |w| per metric.
func metricScores(m Model) map[string]float64 {
	s := map[string]float64{}
	for j, f := range m.Features {
		metric, t := SplitFeatureName(f)
		if t == Summary {
			continue
		}
		s[metric] += math.Abs(m.Weights[j])
	}
	return s
}

func sortScores(r []MetricScore) {
	slices.SortFunc(r, func(a, b MetricScore) int { return byScoreThenName(a.Score, b.Score, a.Metric, b.Metric) })
}

// byScoreThenName orders by decreasing score, ties by name, so that every
// member ranks equal scores the same way.
func byScoreThenName(scoreA, scoreB float64, nameA, nameB string) int {
	switch {
	case scoreA > scoreB:
		return -1
	case scoreA < scoreB:
		return 1
	}
	return strings.Compare(nameA, nameB)
}

// Rank ranks the metrics of final, with stability measured over history
// (e.g. the global model of every round). With no history, stability is 1
// for the final model's top quarter and 0 for the rest.
func Rank(final Model, history []Model) Ranking {
	if len(history) == 0 {
		history = []Model{final}
	}
	inTop := map[string]int{}
	for _, h := range history {
		r := scoresToRanking(metricScores(h))
		k := max(1, (len(r)+3)/4)
		for _, ms := range r[:k] {
			inTop[ms.Metric]++
		}
	}
	r := scoresToRanking(metricScores(final))
	for i := range r {
		r[i].Stability = float64(inTop[r[i].Metric]) / float64(len(history))
	}
	return r
}

func scoresToRanking(s map[string]float64) Ranking {
	r := make(Ranking, 0, len(s))
	for m, v := range s {
		r = append(r, MetricScore{Metric: m, Score: v})
	}
	sortScores(r)
	return r
}

// Contribution is one metric's share of an incident's predicted risk.
type Contribution struct {
	Metric string `json:"metric"`
	// Score is the mean over the incident window of the metric's features'
	// share: Σ w_f·x_f (x standardized; positive values pushed the model
	// towards "incident") in the signed mode, see ExplainMode for others.
	Score float64 `json:"score"`
}

// Explanation attributes one incident window to the metrics that moved.
type Explanation struct {
	Window Interval `json:"window"`
	// Contributions are per metric, largest first.
	Contributions []Contribution `json:"contributions"`
	// Features are the per-feature terms the metric scores add up
	// (Contribution.Metric holds the feature name), largest first.
	Features []Contribution `json:"features"`
}

// Ranked returns the metric names, most responsible first.
func (e Explanation) Ranked() []string {
	out := make([]string, len(e.Contributions))
	for i, c := range e.Contributions {
		out[i] = c.Metric
	}
	return out
}

// ExplainMode chooses how features add up to a metric's contribution.
type ExplainMode string

// Explanation modes.
const (
	// ExplainSigned sums w·x: what pushed the model towards "incident".
	ExplainSigned ExplainMode = "signed"
	// ExplainMagnitude sums |w·x|: what moved the model either way, which
	// also credits metrics whose deviation the model reads as reassuring.
	ExplainMagnitude ExplainMode = "magnitude"
	// ExplainDeviation sums x² over the metric's features the model uses
	// (non-zero weight): each metric's share of the squared distance of the
	// window from the federated mean, whatever the model's calibration. A
	// |z| feature counts only above its mean (below means calmer than
	// usual). Squaring lets one metric that moved a lot outrank several
	// that moved a little, which matches how operators read incidents (on
	// SMD it ranks interpretation metrics better than |x|: HitRate@150%
	// 0.79 against 0.68).
	ExplainDeviation ExplainMode = "deviation"
	// ExplainLearned sums w·max(x, 0)² over deviation features only
	// (Transform.IsDeviation): how far above its usual deviation each
	// metric is, squared as in ExplainDeviation, weighted by how much the
	// federation learned that this metric's deviations mean incidents.
	// With non-negative deviation weights every term is non-negative.
	ExplainLearned ExplainMode = "learned"
)

// UnitDeviationWeights returns m with every deviation feature's weight
// set to 1 and the others to 0: the explanation with nothing learned, the
// baseline the learned explanation has to beat.
func (m Model) UnitDeviationWeights() Model {
	out := m.Clone()
	for j, f := range out.Features {
		out.Weights[j] = 0
		if _, t := SplitFeatureName(f); t.IsDeviation() {
			out.Weights[j] = 1
		}
	}
	return out
}

// Explain attributes rows [w.Start, w.End) of x to the model's metrics.
func Explain(m Model, x *Matrix, w Interval, mode ExplainMode) (Explanation, error) {
	if !slices.Equal(m.Features, x.Features) {
		return Explanation{}, errors.New("explain: model and data have different feature spaces")
	}
	if w.Start < 0 || w.End > x.Rows || w.End <= w.Start {
		return Explanation{}, errors.New("explain: window outside the data or empty")
	}
	metricOf := make([]string, len(m.Features))
	deviation := make([]func(float64) float64, len(m.Features))
	isDev := make([]bool, len(m.Features))
	summary := make([]bool, len(m.Features))
	for j, f := range m.Features {
		var t Transform
		metricOf[j], t = SplitFeatureName(f)
		isDev[j], summary[j] = t.IsDeviation(), t == Summary
		deviation[j] = func(v float64) float64 { return v * v }
		if t.IsDeviation() {
			// Below its usual level, |z| means calm, not deviation.
			deviation[j] = func(v float64) float64 { v = math.Max(v, 0); return v * v }
		}
	}
	sum := map[string]float64{}
	perFeature := make([]float64, len(m.Features))
	for i := w.Start; i < w.End; i++ {
		row := x.Row(i)
		for j, v := range row {
			if !x.Present[j] || summary[j] {
				continue
			}
			c := m.Weights[j] * v
			switch mode {
			case ExplainMagnitude:
				c = math.Abs(c)
			case ExplainDeviation:
				c = 0
				if m.Weights[j] != 0 {
					c = deviation[j](v)
				}
			case ExplainLearned:
				c = 0
				if isDev[j] {
					v = math.Max(v, 0)
					c = m.Weights[j] * v * v
				}
			}
			sum[metricOf[j]] += c
			perFeature[j] += c
		}
	}
	n := float64(w.End - w.Start)
	e := Explanation{Window: w}
	for metric, s := range sum {
		e.Contributions = append(e.Contributions, Contribution{Metric: metric, Score: s / n})
	}
	for j, f := range m.Features {
		if x.Present[j] && !summary[j] {
			e.Features = append(e.Features, Contribution{Metric: f, Score: perFeature[j] / n})
		}
	}
	sortContributions(e.Contributions)
	sortContributions(e.Features)
	return e, nil
}

// sortContributions orders by decreasing score, ties by name.
func sortContributions(cs []Contribution) {
	slices.SortFunc(cs, func(a, b Contribution) int { return byScoreThenName(a.Score, b.Score, a.Metric, b.Metric) })
}

// HitRate is the interpretation score of OmniAnomaly (Su et al., KDD 2019):
// with G the ground-truth metrics of an anomaly, the share of G found among
// the first floor(p·|G|) ranked metrics (p = 1 for HitRate@100%, 1.5 for
// HitRate@150%).
func HitRate(ranked, truth []string, p float64) float64 {
	if len(truth) == 0 {
		return 0
	}
	k := min(int(math.Floor(p*float64(len(truth))+1e-9)), len(ranked))
	hits := 0
	for _, m := range ranked[:k] {
		if slices.Contains(truth, m) {
			hits++
		}
	}
	return float64(hits) / float64(len(truth))
}
