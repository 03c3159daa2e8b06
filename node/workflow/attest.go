package workflow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
)

// ErrNotMeasurable is wrapped by Measure when this organization runs the
// service but has none of the metrics the SLI reads (another member's
// metric names): it has nothing to attest, which is not the same as
// having seen no event (a service gone), so it attests nothing.
var ErrNotMeasurable = errors.New("the SLI's metrics are not among ours")

// Measure is how a token's SLO did on this organization's data over
// [start, end): its SLI's events and error ratio over the period and its
// burn-rate alerts replayed with Prometheus's engine against the incidents
// known here, as an attestation (without the token's identity, which
// Attestation adds, nor what the chaincode sets). A service this
// organization does not run, or whose SLI had no event in the period, is
// NoData.
func (b SourceBacktest) Measure(ctx context.Context, d nft.Definition, start, end time.Time) (records.Attestation, error) {
	atts, err := b.MeasurePeriods(ctx, d, []Period{{start, end}})
	if err != nil {
		return records.Attestation{}, err
	}
	return atts[0], nil
}

// MeasurePeriods is Measure of each period (in time order), reading the
// source once: from the warm-up before the first period to the end of the
// last.
func (b SourceBacktest) MeasurePeriods(ctx context.Context, d nft.Definition, periods []Period) ([]records.Attestation, error) {
	if len(periods) == 0 {
		return nil, nil
	}
	out := make([]records.Attestation, len(periods))
	for i, p := range periods {
		out[i] = records.Attestation{
			Service: d.SLI.Service, Name: d.Name, Version: d.Version,
			PeriodStart: records.FormatTime(p.Start), PeriodEnd: records.FormatTime(p.End),
			Objective: d.SLO.Objective, NoData: true,
		}
		if i > 0 && p.Start.Before(periods[i-1].End) {
			return nil, fmt.Errorf("measuring %s: periods overlap or are out of order at %s", d.Name, out[i].PeriodStart)
		}
	}
	infos, err := b.Source.ListSeries(ctx, d.SLI.Service)
	if errors.Is(err, source.ErrUnknownService) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("measuring %s: %w", d.Name, err)
	}
	if !readsAny(d.SLI, infos) {
		return nil, fmt.Errorf("measuring %s: %w (it reads %v)", d.Name, ErrNotMeasurable, metricsRead(d.SLI))
	}
	r, err := b.rangeFor(d, periods[0].Start, periods[len(periods)-1].End)
	if err != nil {
		return nil, err
	}
	mem, all, err := b.load(ctx, d.SLI.Service, r)
	if errors.Is(err, source.ErrUnknownService) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("measuring %s: %w", d.Name, err)
	}
	for i, p := range periods {
		if !p.End.After(p.Start.Add(b.Step)) {
			return nil, fmt.Errorf("measuring %s: the period %s..%s holds no step of %s", d.Name, out[i].PeriodStart, out[i].PeriodEnd, b.Step)
		}
		replay, err := replayPeriod(ctx, mem, all, d, r, p)
		if err != nil {
			return nil, fmt.Errorf("measuring %s over %s..%s: %w", d.Name, out[i].PeriodStart, out[i].PeriodEnd, err)
		}
		events, errorRatio, err := periodSLI(ctx, mem, d.SLI, p.Start, p.End, b.Step)
		if err != nil {
			return nil, fmt.Errorf("measuring %s over %s..%s: %w", d.Name, out[i].PeriodStart, out[i].PeriodEnd, err)
		}
		if events > 0 && !math.IsNaN(errorRatio) {
			fill(&out[i], replay.Report, events, errorRatio, d.SLO.Objective)
		}
	}
	return out, nil
}

// fill writes a period's figures into its attestation.
func fill(att *records.Attestation, rep backtest.Report, events, errorRatio, objective float64) {
	att.NoData = false
	att.Events = events
	att.Achieved = 1 - min(1, max(0, errorRatio))
	att.BudgetConsumed = (1 - att.Achieved) / nft.ErrorBudget(objective)
	for _, p := range rep.Pairs {
		switch p.Severity {
		case nft.SeverityPage:
			att.PageAlerts += p.Episodes
		case nft.SeverityTicket:
			att.TicketAlerts += p.Episodes
		}
	}
	att.FalsePages = falsePages(rep)
	att.Incidents = len(rep.Incidents)
	att.IncidentsDetected = detections(rep)
	for _, in := range rep.Incidents {
		if in.PageDelay >= 0 {
			att.IncidentsPaged++
		}
	}
}

// periodSLI reads the SLI's events and error ratio over [start, end) at
// end: a ratio of the period's sums, every event weighted alike. An SLI
// given only as an error ratio (an availability over up) counts as events
// the evaluation steps at which its ratio had data.
func periodSLI(ctx context.Context, ev backtest.Evaluator, sli nft.SLI, start, end time.Time, step time.Duration) (events, errorRatio float64, err error) {
	window := end.Sub(start)
	w := nft.FormatDuration(window)
	last := func(expr string) (float64, error) {
		pts, err := ev.RangeQuery(ctx, "max("+expr+")", end, end, step)
		if err != nil {
			return 0, err
		}
		if len(pts) == 0 {
			return math.NaN(), nil
		}
		return pts[len(pts)-1].V, nil
	}
	if errorRatio, err = last(render.ErrorRatioExpr(sli, w)); err != nil {
		return 0, 0, fmt.Errorf("error ratio over %s: %w", w, err)
	}
	if sli.TotalQuery == "" {
		events, err = last("count_over_time(" + render.ErrorRatioExpr(sli, "5m") + "[" + w + ":" + nft.FormatDuration(step) + "])")
		if err != nil {
			return 0, 0, fmt.Errorf("steps with data over %s: %w", w, err)
		}
		return events, errorRatio, nil
	}
	if events, err = last(render.Instantiate(sli.TotalQuery, w)); err != nil {
		return 0, 0, fmt.Errorf("events over %s: %w", w, err)
	}
	if perSecond(sli.TotalQuery) {
		events *= window.Seconds()
	}
	return events, errorRatio, nil
}

// perSecond says a total query counts per second (rate, irate), so the
// period's events are its value times the period.
func perSecond(query string) bool {
	e, err := promQL.ParseExpr(render.Instantiate(query, "5m"))
	if err != nil {
		return false
	}
	rate := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if c, ok := n.(*parser.Call); ok && (c.Func.Name == "rate" || c.Func.Name == "irate") {
			rate = true
		}
		return nil
	})
	return rate
}

// Attestation is Measure's figures for a token.
func Attestation(t nft.Token, m records.Attestation) records.Attestation {
	m.TokenID, m.Service, m.Name, m.Version = t.ID, t.Definition.SLI.Service, t.Definition.Name, t.Definition.Version
	m.Objective = t.Definition.SLO.Objective
	return m
}

// metricsRead lists the metric names an SLI's queries select.
func metricsRead(sli nft.SLI) []string {
	var names []string
	for _, q := range []string{sli.GoodQuery, sli.TotalQuery, sli.ErrorRatioQuery} {
		if q == "" {
			continue
		}
		e, err := promQL.ParseExpr(render.Instantiate(q, "5m"))
		if err != nil {
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
				names = append(names, vs.Name)
			}
			return nil
		})
	}
	return names
}

// readsAny says whether any metric the SLI selects is among the series.
func readsAny(sli nft.SLI, infos []source.SeriesInfo) bool {
	for _, name := range metricsRead(sli) {
		for _, in := range infos {
			if in.Metric == name {
				return true
			}
		}
	}
	return false
}
