// Package builtin is the deterministic SLO generator: from a service's
// ranked metrics and their history it chooses an SLI (a success ratio from
// success/request counters, latency from a histogram, availability from an
// up/ready gauge), suggests an objective from the level the service achieved
// in its history, and returns a validated definition. Same input, same
// definition, byte for byte.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

// Name and Version identify this generator in provenance.
const (
	Name    = "srellama-builtin"
	Version = "1.0.0"
)

// MetricType is the Prometheus type of a metric family.
type MetricType string

// Metric types the generator can build SLIs from.
const (
	Counter   MetricType = "counter"
	Gauge     MetricType = "gauge"
	Histogram MetricType = "histogram"
)

// Input is one service's evidence: plain data the node fills from the
// federated ranking and its metric source.
type Input struct {
	Service     string `json:"service"`
	Description string `json:"description,omitempty"`
	// Metrics are the ranked candidates, in any order (the generator sorts
	// by relevance).
	Metrics []Metric `json:"metrics"`
	// Period is the SLO's compliance period; "30d" when empty.
	Period string `json:"period,omitempty"`
	// Provenance of the ranking the metrics come from.
	RoundID             string   `json:"round_id,omitempty"`
	GlobalModelDigest   string   `json:"global_model_digest,omitempty"`
	Contributors        []string `json:"contributors,omitempty"`
	GenerationRequestID string   `json:"generation_request_id,omitempty"`
	// RankingBasis says where the metrics' relevance came from
	// (nft.RankingLearned, nft.RankingLocalDeviation); it goes into the
	// definition's provenance.
	RankingBasis string `json:"ranking_basis,omitempty"`
	Proposer     string `json:"proposer"`
	// Routing and PeriodSLI are the deployment's choices (the node's
	// configuration), copied into the definition as they are.
	Routing   *nft.Routing  `json:"routing,omitempty"`
	PeriodSLI nft.PeriodSLI `json:"period_sli,omitempty"`
}

// Metric is one ranked metric with its history.
type Metric struct {
	Name      string     `json:"name"`
	Relevance float64    `json:"relevance"`
	Stability float64    `json:"stability"`
	Type      MetricType `json:"type"`
	Help      string     `json:"help,omitempty"`
	// Selector holds the label matchers that pick the service's series
	// (e.g. {"job": "amf"}); empty selects every series of the metric.
	Selector map[string]string `json:"selector,omitempty"`
	// Daily is the history, one value per day: the increase of a counter
	// (of a histogram's _count), or the mean of a gauge.
	Daily []float64 `json:"daily,omitempty"`
	// Buckets are a histogram's cumulative buckets with their daily
	// increases, the +Inf bucket included or not.
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	// LE is the bucket's le label exactly as the source exposes it ("0.5",
	// "1.0"): the SLI matches it literally.
	LE    string    `json:"le"`
	Daily []float64 `json:"daily"`
}

// Options tune objective suggestion.
type Options struct {
	// MaxHistorySpend is the share of the error budget the history may
	// have consumed at the suggested objective; 0.5 when zero. It is the
	// margin: a service must beat its objective by this much in the past.
	MaxHistorySpend float64
	// LatencyTarget is the share of requests a latency SLI's threshold must
	// cover in history; 0.99 when zero.
	LatencyTarget float64
}

// Generator is the builtin generator.
type Generator struct {
	Options   Options
	Validator validate.Validator
}

// Candidate is one SLI the evidence supports.
type Candidate struct {
	Spec      slo.Spec
	Metrics   []nft.Metric
	Relevance float64
	// Good and Total are the SLI's history, one value per day.
	Good, Total []float64
}

// ErrNoUsableMetric is wrapped when no metric can carry an SLI.
var ErrNoUsableMetric = errors.New("no usable metric")

// Generate returns the definition for the most relevant SLI the evidence
// supports.
func (g Generator) Generate(ctx context.Context, in Input) (nft.Definition, error) {
	cands, err := Candidates(in, g.Options)
	if err != nil {
		return nft.Definition{}, err
	}
	return g.Define(ctx, in, cands[0])
}

// Define finishes one candidate: objective, rules, validation.
func (g Generator) Define(ctx context.Context, in Input, c Candidate) (nft.Definition, error) {
	spec := c.Spec
	obj, achieved, err := SuggestObjective(c.Good, c.Total, in.period(), g.Options)
	if err != nil {
		return nft.Definition{}, fmt.Errorf("service %s, SLI %s: %w", in.Service, spec.Name, err)
	}
	spec.Objective = obj
	spec.Description += fmt.Sprintf(" Achieved %s%% over %d days of history; objective %s%%.",
		pct(achieved), len(c.Total), pct(obj))
	def, err := slo.Build(spec, slo.Draft{
		Metrics:    c.Metrics,
		Provenance: in.Provenance(nft.Generator{Kind: nft.GeneratorBuiltin, Name: Name, Version: Version}),
		Render:     g.Validator.Render,
		Routing:    in.Routing,
		PeriodSLI:  in.PeriodSLI,
	})
	if err != nil {
		return nft.Definition{}, err
	}
	return g.Validator.Finish(ctx, def)
}

func (in Input) period() string {
	if in.Period == "" {
		return "30d"
	}
	return in.Period
}

// Provenance is the provenance of a definition generated from in by gen.
func (in Input) Provenance(gen nft.Generator) nft.Provenance {
	contributors := slices.Clone(in.Contributors)
	slices.Sort(contributors)
	if contributors == nil {
		contributors = []string{}
	}
	return nft.Provenance{
		RoundID:             in.RoundID,
		GlobalModelDigest:   in.GlobalModelDigest,
		Contributors:        slices.Compact(contributors),
		GenerationRequestID: in.GenerationRequestID,
		RankingBasis:        in.RankingBasis,
		Generator:           gen,
		Proposer:            in.Proposer,
	}
}

// Candidates lists the SLIs the evidence supports, most relevant first.
func Candidates(in Input, opts Options) ([]Candidate, error) {
	if !nft.IsValidName(in.Service) {
		return nil, fmt.Errorf("service %q is not a valid service name", in.Service)
	}
	if _, err := slo.Period(in.period()); err != nil {
		return nil, err
	}
	ms := slices.Clone(in.Metrics)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Relevance > ms[j].Relevance })
	var out []Candidate
	var reasons []string
	used := map[string]bool{}
	for _, m := range ms {
		if used[m.Name] {
			continue
		}
		c, partner, why := candidateFor(in, m, ms, opts)
		if why != "" {
			reasons = append(reasons, m.Name+": "+why)
			continue
		}
		used[m.Name] = true
		if partner != "" {
			used[partner] = true
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		if len(ms) == 0 {
			reasons = append(reasons, "no metrics given")
		}
		return nil, fmt.Errorf("service %s: %w: %s", in.Service, ErrNoUsableMetric, strings.Join(reasons, "; "))
	}
	return out, nil
}

func candidateFor(in Input, m Metric, all []Metric, opts Options) (Candidate, string, string) {
	if err := checkMetric(m); err != nil {
		return Candidate{}, "", err.Error()
	}
	switch m.Type {
	case Counter:
		return ratioCandidate(in, m, all)
	case Histogram:
		c, why := latencyCandidate(in, m, opts)
		return c, "", why
	case Gauge:
		c, why := availabilityCandidate(in, m)
		return c, "", why
	default:
		return Candidate{}, "", fmt.Sprintf("type %q carries no SLI", m.Type)
	}
}

func checkMetric(m Metric) error {
	switch {
	case m.Name == "" || !validMetricName(m.Name):
		return fmt.Errorf("%q is not a metric name", m.Name)
	case math.IsNaN(m.Relevance) || m.Relevance < 0 || math.IsInf(m.Relevance, 0):
		return fmt.Errorf("relevance %v is not a finite non-negative number", m.Relevance)
	case math.IsNaN(m.Stability) || m.Stability < 0 || m.Stability > 1:
		return fmt.Errorf("stability %v is outside [0,1]", m.Stability)
	}
	for k := range m.Selector {
		if !validLabelName(k) {
			return fmt.Errorf("selector label %q is not a label name", k)
		}
	}
	return nil
}

// Keywords that mark a counter as counting good events, bad events or all
// events. A name matches when one of its '_'-separated words ends with the
// keyword (Open5GS writes "reginitsucc" and "reginitreq").
var (
	goodWords  = []string{"success", "succ", "ok", "good", "completed"}
	totalWords = []string{"requests", "request", "req", "attempts", "attempt", "total"}
)

// ratioCandidate pairs a success counter with its request counter: the
// names that differ only by the keyword.
func ratioCandidate(in Input, m Metric, all []Metric) (Candidate, string, string) {
	stem, isGood := stemOf(m.Name, goodWords)
	tstem, isTotal := stemOf(m.Name, totalWords)
	for _, o := range all {
		if o.Name == m.Name || o.Type != Counter || checkMetric(o) != nil {
			continue
		}
		if s, ok := stemOf(o.Name, totalWords); isGood && ok && s == stem {
			return ratio(in, m, o), o.Name, ""
		}
		if s, ok := stemOf(o.Name, goodWords); isTotal && ok && s == tstem {
			return ratio(in, o, m), o.Name, ""
		}
	}
	return Candidate{}, "", "counter without a success/request partner"
}

func ratio(in Input, good, total Metric) Candidate {
	stem, _ := stemOf(good.Name, goodWords)
	name := sloName(in.Service, shortStem(stem), "success")
	return Candidate{
		Spec: slo.Spec{
			Name:    name,
			Service: in.Service,
			Kind:    nft.KindRatio,
			Description: fmt.Sprintf("Share of %s events of %s that succeed: %s over %s.",
				shortStem(stem), in.Service, good.Name, total.Name),
			GoodQuery:  "sum(rate(" + good.Name + selector(good.Selector, nil) + "[" + nft.WindowPlaceholder + "]))",
			TotalQuery: "sum(rate(" + total.Name + selector(total.Selector, nil) + "[" + nft.WindowPlaceholder + "]))",
			Period:     in.period(),
		},
		Metrics:   []nft.Metric{nftMetric(good), nftMetric(total)},
		Relevance: math.Max(good.Relevance, total.Relevance),
		Good:      good.Daily,
		Total:     total.Daily,
	}
}

// latencyCandidate picks the smallest bucket that held LatencyTarget of the
// requests in history: the threshold the service already meets.
func latencyCandidate(in Input, m Metric, opts Options) (Candidate, string) {
	target := opts.LatencyTarget
	if target == 0 {
		target = 0.99
	}
	if len(m.Daily) == 0 {
		return Candidate{}, "histogram without history (daily _count increases)"
	}
	total := sum(m.Daily)
	if !(total > 0) {
		return Candidate{}, "histogram saw no requests in history"
	}
	type bound struct {
		b  Bucket
		le float64
	}
	var bounds []bound
	for _, b := range m.Buckets {
		le, err := strconv.ParseFloat(b.LE, 64)
		if err != nil || math.IsInf(le, 1) || le <= 0 || len(b.Daily) != len(m.Daily) {
			continue
		}
		bounds = append(bounds, bound{b, le})
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i].le < bounds[j].le })
	if len(bounds) == 0 {
		return Candidate{}, "histogram without finite buckets matching its history"
	}
	chosen := bounds[len(bounds)-1]
	for _, b := range bounds {
		if sum(b.b.Daily)/total >= target {
			chosen = b
			break
		}
	}
	leSel := map[string]string{"le": chosen.b.LE}
	return Candidate{
		Spec: slo.Spec{
			Name:    sloName(in.Service, shortStem(strings.TrimSuffix(m.Name, "_seconds")), "latency"),
			Service: in.Service,
			Kind:    nft.KindLatency,
			Description: fmt.Sprintf("Share of %s requests of %s served within %ss (%s).",
				shortStem(m.Name), in.Service, chosen.b.LE, m.Name),
			GoodQuery:        "sum(rate(" + m.Name + "_bucket" + selector(m.Selector, leSel) + "[" + nft.WindowPlaceholder + "]))",
			TotalQuery:       "sum(rate(" + m.Name + "_count" + selector(m.Selector, nil) + "[" + nft.WindowPlaceholder + "]))",
			LatencyThreshold: chosen.le,
			Period:           in.period(),
		},
		Metrics:   []nft.Metric{nftMetric(m)},
		Relevance: m.Relevance,
		Good:      chosen.b.Daily,
		Total:     m.Daily,
	}, ""
}

// availabilityCandidate reads an up/ready gauge (1 up, 0 down) as the
// share of samples the target was up: a ratio of sums over the window.
func availabilityCandidate(in Input, m Metric) (Candidate, string) {
	words := strings.Split(m.Name, "_")
	if !slices.ContainsFunc(words, func(w string) bool { return w == "up" || w == "ready" || w == "available" }) {
		return Candidate{}, "gauge is not an up/ready indicator"
	}
	// A day's mean of a 0/1 gauge is the share of that day's samples up;
	// with one sample count per day the daily means are the good ratio.
	ones := make([]float64, len(m.Daily))
	for i := range ones {
		ones[i] = 1
	}
	sel := selector(m.Selector, nil)
	return Candidate{
		Spec: slo.Spec{
			Name:        sloName(in.Service, shortStem(m.Name), "availability"),
			Service:     in.Service,
			Kind:        nft.KindAvailability,
			Description: fmt.Sprintf("Share of time %s is up, from %s.", in.Service, m.Name),
			GoodQuery:   "sum(sum_over_time(" + m.Name + sel + "[" + nft.WindowPlaceholder + "]))",
			TotalQuery:  "sum(count_over_time(" + m.Name + sel + "[" + nft.WindowPlaceholder + "]))",
			Period:      in.period(),
		},
		Metrics:   []nft.Metric{nftMetric(m)},
		Relevance: m.Relevance,
		Good:      m.Daily,
		Total:     ones,
	}, ""
}

// objectiveLadder holds the objectives the generator suggests: round
// numbers people can reason about.
var objectiveLadder = []float64{0.9999, 0.9995, 0.999, 0.998, 0.995, 0.99, 0.98, 0.975, 0.95, 0.9, 0.8, 0.75, 0.5}

// SuggestObjective returns the highest ladder objective the history meets
// with a margin (its error ratio consumes at most MaxHistorySpend of the
// budget) that the period's alert policy can page on, and the achieved
// ratio (a ratio of sums). A service that met none gets the lowest feasible
// objective: an honest target it currently misses.
func SuggestObjective(good, total []float64, period string, opts Options) (objective, achieved float64, err error) {
	if len(total) == 0 || len(good) != len(total) {
		return 0, 0, fmt.Errorf("no usable history (%d good and %d total daily values)", len(good), len(total))
	}
	for i := range total {
		if !finite(good[i]) || !finite(total[i]) || good[i] < 0 || total[i] < 0 || good[i] > total[i]*(1+1e-9) {
			return 0, 0, fmt.Errorf("history day %d: good %v, total %v is not a valid count", i, good[i], total[i])
		}
	}
	t := sum(total)
	if !(t > 0) {
		return 0, 0, errors.New("history has no events")
	}
	achieved = math.Min(1, sum(good)/t)
	spend := opts.MaxHistorySpend
	if spend == 0 {
		spend = 0.5
	}
	p, err := slo.Period(period)
	if err != nil {
		return 0, 0, err
	}
	policy, err := nft.DefaultAlertPolicy(p)
	if err != nil {
		return 0, 0, err
	}
	feasible := func(obj float64) bool {
		for _, w := range policy {
			if w.BurnRate*nft.ErrorBudget(obj) > 1 {
				return false
			}
		}
		return true
	}
	lowest := 0.0
	for _, obj := range objectiveLadder {
		if !feasible(obj) {
			break
		}
		lowest = obj
		if 1-achieved <= spend*nft.ErrorBudget(obj)+1e-12 {
			return obj, achieved, nil
		}
	}
	if lowest == 0 {
		return 0, 0, fmt.Errorf("no objective is feasible for period %s", period)
	}
	return lowest, achieved, nil
}

func nftMetric(m Metric) nft.Metric {
	return nft.Metric{Name: m.Name, Relevance: m.Relevance, Stability: m.Stability}
}

// stemOf removes a keyword from the end of the last word that ends with it.
func stemOf(name string, words []string) (string, bool) {
	parts := strings.Split(name, "_")
	for i := len(parts) - 1; i >= 0; i-- {
		for _, w := range words {
			if before, ok := strings.CutSuffix(parts[i], w); ok {
				rest := slices.Clone(parts)
				rest[i] = before
				if before == "" {
					rest = slices.Delete(rest, i, i+1)
				}
				return strings.Join(rest, "_"), true
			}
		}
	}
	return "", false
}

// shortStem keeps the last two words of a metric stem, enough to name an
// SLO ("rm_reginit") without the exporter's long prefix.
func shortStem(stem string) string {
	parts := strings.FieldsFunc(stem, func(r rune) bool { return r == '_' })
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "_")
}

func sloName(service, stem, kind string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(stem + "-" + kind) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-._")
	if len(name) > nft.MaxNameLen-len(service)-1 {
		name = strings.Trim(name[:nft.MaxNameLen-len(service)-1], "-._")
	}
	return name
}

// selector renders label matchers in sorted order, extra after base.
func selector(base, extra map[string]string) string {
	all := map[string]string{}
	for k, v := range base {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = v
	}
	if len(all) == 0 {
		return ""
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(all[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func validMetricName(s string) bool {
	for i, r := range s {
		ok := r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return s != ""
}

func validLabelName(s string) bool {
	return validMetricName(s) && !strings.Contains(s, ":") && !strings.HasPrefix(s, "__")
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func pct(f float64) string { return strconv.FormatFloat(math.Round(f*100*1e4)/1e4, 'g', -1, 64) }
