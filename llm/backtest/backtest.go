// Package backtest replays an SLO's alerts over history: how often each
// window pair would have fired, how long after each known incident began it
// fired, which firings matched no incident, and how much error budget the
// history spent.
//
// The alert conditions are those the renderer writes (error ratio over the
// long and the short window both above burn rate times budget), evaluated
// through an Evaluator: Prometheus's own promql engine over in-memory series
// (Memory), or a Prometheus server's query API (HTTP).
package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// Point is one evaluated value.
type Point struct {
	T time.Time
	V float64
}

// Evaluator evaluates PromQL over a range. Backtest queries return one
// series (they aggregate with max); an empty result means no data.
type Evaluator interface {
	RangeQuery(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Point, error)
}

// Incident is a known incident to measure detection against.
type Incident struct {
	Name       string
	Start, End time.Time
}

// Options of a backtest.
type Options struct {
	Start, End time.Time
	// Step is the evaluation interval (the rule-evaluation interval the
	// alerts would have had); one minute when zero.
	Step time.Duration
	// Grace is how long after an incident ends a firing still counts as
	// detecting it; 15 minutes when zero.
	Grace     time.Duration
	Incidents []Incident
}

// PairReport is how one window pair behaved.
type PairReport struct {
	Name     string       `json:"name"`
	Severity nft.Severity `json:"severity"`
	// Episodes counts separate firings (rising edges).
	Episodes int `json:"episodes"`
	// FiringFraction is the share of evaluations at which it fired.
	FiringFraction float64 `json:"firing_fraction"`
	// FalseEpisodes are episodes overlapping no incident.
	FalseEpisodes int `json:"false_episodes"`
}

// IncidentReport is how one incident was detected.
type IncidentReport struct {
	Name     string    `json:"name"`
	Start    time.Time `json:"start"`
	Detected bool      `json:"detected"`
	// Delay is from the incident's start to the first firing of any pair
	// within the incident (plus grace); By names that pair.
	Delay time.Duration `json:"delay"`
	By    string        `json:"by,omitempty"`
	// PageDelay is the same for page pairs only; -1 when none paged.
	PageDelay time.Duration `json:"page_delay"`
	// BudgetBurned is the share of one period's error budget the incident
	// consumed (its error ratio times its duration, over the period times
	// the budget); NaN when the SLI had no data during it. An incident that
	// burned less than Report.PageBurn is one the page pairs are designed
	// to let pass.
	BudgetBurned float64 `json:"budget_burned"`
}

// Report is a backtest's outcome.
type Report struct {
	Start     time.Time        `json:"start"`
	End       time.Time        `json:"end"`
	Step      time.Duration    `json:"step"`
	Pairs     []PairReport     `json:"pairs"`
	Incidents []IncidentReport `json:"incidents"`
	// ErrorRatio is the SLI's error ratio over the whole history, a ratio
	// of sums.
	ErrorRatio float64 `json:"error_ratio"`
	// BudgetSpent is the share of one period's error budget the history
	// spent, assuming the history's traffic rate holds over the period:
	// ErrorRatio / budget * history / period.
	BudgetSpent float64 `json:"budget_spent"`
	// PageBurn is the least share of the budget a page pair pages on: its
	// burn rate times its long window, over the period (2 % for the
	// SRE workbook's 14.4x over 1h of 30 days).
	PageBurn float64 `json:"page_burn"`
}

// Run backtests d's alerts.
func Run(ctx context.Context, ev Evaluator, d nft.Definition, opts Options) (Report, error) {
	if opts.Step <= 0 {
		opts.Step = time.Minute
	}
	if opts.Grace <= 0 {
		opts.Grace = 15 * time.Minute
	}
	if !opts.End.After(opts.Start) {
		return Report{}, errors.New("backtest: end must be after start")
	}
	period, err := nft.ParseDuration(d.SLO.Period)
	if err != nil {
		return Report{}, fmt.Errorf("backtest: %w", err)
	}
	if len(d.SLO.AlertPolicy) == 0 {
		return Report{}, errors.New("backtest: the definition has no alert windows")
	}
	budget := nft.ErrorBudget(d.SLO.Objective)
	steps := int(opts.End.Sub(opts.Start)/opts.Step) + 1
	ratios := map[string][]float64{}
	for _, w := range d.SLO.AlertPolicy {
		for _, win := range []string{w.LongWindow, w.ShortWindow} {
			if _, ok := ratios[win]; ok {
				continue
			}
			pts, err := ev.RangeQuery(ctx, "max("+render.ErrorRatioExpr(d.SLI, win)+")", opts.Start, opts.End, opts.Step)
			if err != nil {
				return Report{}, fmt.Errorf("backtest: error ratio over %s: %w", win, err)
			}
			ratios[win] = onGrid(pts, opts.Start, opts.Step, steps)
		}
	}
	rep := Report{Start: opts.Start, End: opts.End, Step: opts.Step}
	firing := make([][]bool, len(d.SLO.AlertPolicy))
	for i, w := range d.SLO.AlertPolicy {
		thr := w.BurnRate * budget
		long, short := ratios[w.LongWindow], ratios[w.ShortWindow]
		firing[i] = make([]bool, steps)
		for s := range steps {
			firing[i][s] = long[s] > thr && short[s] > thr // NaN (no data) never fires
		}
		rep.Pairs = append(rep.Pairs, pairReport(w, firing[i], opts))
	}
	for _, inc := range opts.Incidents {
		ir := incidentReport(inc, d.SLO.AlertPolicy, firing, opts)
		if ir.BudgetBurned, err = budgetBurned(ctx, ev, d, inc, budget, period); err != nil {
			return Report{}, err
		}
		rep.Incidents = append(rep.Incidents, ir)
	}
	rep.PageBurn = pageBurn(d.SLO.AlertPolicy, period)
	history := opts.End.Sub(opts.Start)
	pts, err := ev.RangeQuery(ctx, "max("+render.ErrorRatioExpr(d.SLI, nft.FormatDuration(history))+")", opts.End, opts.End, opts.Step)
	if err != nil {
		return Report{}, fmt.Errorf("backtest: error ratio over the history: %w", err)
	}
	rep.ErrorRatio = math.NaN()
	if len(pts) > 0 {
		rep.ErrorRatio = pts[len(pts)-1].V
	}
	rep.BudgetSpent = rep.ErrorRatio / budget * float64(history) / float64(period)
	return rep, nil
}

// budgetBurned is the share of a period's budget an incident consumed: the
// SLI's error ratio over the incident's span, read at its end, times the
// span over the period and the budget.
func budgetBurned(ctx context.Context, ev Evaluator, d nft.Definition, inc Incident, budget float64, period time.Duration) (float64, error) {
	span := inc.End.Sub(inc.Start).Truncate(time.Minute)
	if span < time.Minute {
		span = time.Minute
	}
	pts, err := ev.RangeQuery(ctx, "max("+render.ErrorRatioExpr(d.SLI, nft.FormatDuration(span))+")", inc.End, inc.End, time.Minute)
	if err != nil {
		return 0, fmt.Errorf("backtest: error ratio during %s: %w", inc.Name, err)
	}
	if len(pts) == 0 {
		return math.NaN(), nil
	}
	return pts[len(pts)-1].V * float64(span) / float64(period) / budget, nil
}

// pageBurn is the least share of the budget any page pair pages on.
func pageBurn(policy []nft.AlertWindow, period time.Duration) float64 {
	least := math.Inf(1)
	for _, w := range policy {
		long, err := nft.ParseDuration(w.LongWindow)
		if w.Severity != nft.SeverityPage || err != nil {
			continue
		}
		least = math.Min(least, w.BurnRate*float64(long)/float64(period))
	}
	return least
}

// onGrid places points on the evaluation grid; missing steps are NaN.
func onGrid(pts []Point, start time.Time, step time.Duration, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	for _, p := range pts {
		i := int(p.T.Sub(start) / step)
		if i >= 0 && i < n && p.T.Equal(start.Add(time.Duration(i)*step)) {
			out[i] = p.V
		}
	}
	return out
}

func pairReport(w nft.AlertWindow, firing []bool, opts Options) PairReport {
	r := PairReport{Name: w.Name, Severity: w.Severity}
	on := 0
	for s, f := range firing {
		if !f {
			continue
		}
		on++
		if s > 0 && firing[s-1] {
			continue
		}
		r.Episodes++
		end := s
		for end+1 < len(firing) && firing[end+1] {
			end++
		}
		from, to := opts.Start.Add(time.Duration(s)*opts.Step), opts.Start.Add(time.Duration(end)*opts.Step)
		if !slices.ContainsFunc(opts.Incidents, func(inc Incident) bool {
			return !from.After(inc.End.Add(opts.Grace)) && !to.Before(inc.Start)
		}) {
			r.FalseEpisodes++
		}
	}
	r.FiringFraction = float64(on) / float64(len(firing))
	return r
}

func incidentReport(inc Incident, policy []nft.AlertWindow, firing [][]bool, opts Options) IncidentReport {
	r := IncidentReport{Name: inc.Name, Start: inc.Start, PageDelay: -1}
	first := func(i int) (time.Duration, bool) {
		for s, f := range firing[i] {
			t := opts.Start.Add(time.Duration(s) * opts.Step)
			if f && !t.Before(inc.Start) && !t.After(inc.End.Add(opts.Grace)) {
				return t.Sub(inc.Start), true
			}
		}
		return 0, false
	}
	for i, w := range policy {
		delay, ok := first(i)
		if !ok {
			continue
		}
		if !r.Detected || delay < r.Delay {
			r.Detected, r.Delay, r.By = true, delay, w.Name
		}
		if w.Severity == nft.SeverityPage && (r.PageDelay < 0 || delay < r.PageDelay) {
			r.PageDelay = delay
		}
	}
	return r
}

// CheckName is the name of the backtest's validation check.
const CheckName = "backtest"

// Check turns a report into a validation check for a definition's
// provenance: it passes when no page pair fired more than maxFalsePages
// times outside the known incidents and every incident was detected; its
// detail summarizes the replay either way.
func Check(r Report, maxFalsePages int) nft.ValidationCheck {
	falsePages, episodes := 0, 0
	for _, p := range r.Pairs {
		episodes += p.Episodes
		if p.Severity == nft.SeverityPage {
			falsePages += p.FalseEpisodes
		}
	}
	detected, delays := 0, []time.Duration{}
	for _, inc := range r.Incidents {
		if inc.Detected {
			detected++
			delays = append(delays, inc.Delay)
		}
	}
	slices.Sort(delays)
	median := time.Duration(0)
	if len(delays) > 0 {
		median = delays[len(delays)/2]
	}
	detail := fmt.Sprintf("%s..%s: %d firing episodes, %d false pages, %d/%d incidents detected (median delay %s), error ratio %.6g, %.1f%% of a period's budget spent",
		r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), episodes, falsePages, detected, len(r.Incidents),
		median, r.ErrorRatio, r.BudgetSpent*100)
	return nft.ValidationCheck{
		Name:   CheckName,
		Passed: falsePages <= maxFalsePages && detected == len(r.Incidents),
		Detail: detail,
	}
}
