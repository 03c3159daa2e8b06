package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
)

// SourceBacktest replays a definition's alerts over this organization's
// own history with Prometheus's engine: the series of the SLI's service
// from the source, the source's incidents as the known ones.
type SourceBacktest struct {
	Source        source.Source
	History, Step time.Duration
	Now           func() time.Time
	// Warmup is the start of the history left out of the verdict while the
	// longest windows fill (default one day).
	Warmup time.Duration
}

// Replay is a backtest with what it was computed on.
type Replay struct {
	Report    backtest.Report
	Memory    *backtest.Memory
	Incidents []source.Incident
	Range     source.Range
}

// Run backtests d over the last History, the first Warmup of it only
// filling the windows.
func (b SourceBacktest) Run(ctx context.Context, d nft.Definition) (Replay, error) {
	r, evalStart := b.runRange()
	mem, all, err := b.load(ctx, d.SLI.Service, r)
	if err != nil {
		return Replay{}, err
	}
	return replayOn(ctx, mem, all, d, r, evalStart, r.End)
}

// runRange is the range Run reads, and where its verdict starts.
func (b SourceBacktest) runRange() (r source.Range, evalStart time.Time) {
	end := b.Now().UTC().Truncate(b.Step)
	r = source.Range{Start: end.Add(-b.History), End: end, Step: b.Step}
	warmup := b.Warmup
	if warmup <= 0 {
		warmup = 24 * time.Hour
	}
	return r, r.Start.Add(warmup)
}

// RunRange backtests d over [start, end) alone: the series are read from
// a warm-up before start (Warmup, else the longest alert window of d) so
// every window is full at start, and the verdict covers the evaluations
// in [start, end) and the incidents that began in it.
func (b SourceBacktest) RunRange(ctx context.Context, d nft.Definition, start, end time.Time) (Replay, error) {
	r, err := b.rangeFor(d, start, end)
	if err != nil {
		return Replay{}, err
	}
	mem, all, err := b.load(ctx, d.SLI.Service, r)
	if err != nil {
		return Replay{}, err
	}
	return replayPeriod(ctx, mem, all, d, r, Period{start, end})
}

// replayPeriod backtests d over the evaluations in [p.Start, p.End) of
// loaded series. An incident belongs to the period it began in, so one
// that spans a boundary is counted (and its detection judged) once.
func replayPeriod(ctx context.Context, mem *backtest.Memory, all []source.Incident, d nft.Definition, r source.Range, p Period) (Replay, error) {
	var began []source.Incident
	for _, in := range all {
		if !in.Start.Before(p.Start) && in.Start.Before(p.End) {
			began = append(began, in)
		}
	}
	return replayOn(ctx, mem, began, d, r, p.Start, p.End.Add(-r.Step))
}

// rangeFor is the range RunRange reads for [start, end): from the
// warm-up before start to end, on the step grid.
func (b SourceBacktest) rangeFor(d nft.Definition, start, end time.Time) (source.Range, error) {
	if b.Step <= 0 {
		return source.Range{}, fmt.Errorf("backtest: step must be positive")
	}
	if !end.After(start.Add(b.Step)) {
		return source.Range{}, fmt.Errorf("backtest: the period %s..%s holds no step of %s", start.Format(time.RFC3339), end.Format(time.RFC3339), b.Step)
	}
	warmup := b.Warmup
	if warmup <= 0 {
		warmup = longestWindow(d)
	}
	return source.Range{Start: start.Add(-warmup).Truncate(b.Step), End: end, Step: b.Step}, nil
}

// longestWindow is the longest alert window of d (a day when none parses).
func longestWindow(d nft.Definition) time.Duration {
	longest := time.Duration(0)
	for _, w := range d.SLO.AlertPolicy {
		if l, err := nft.ParseDuration(w.LongWindow); err == nil {
			longest = max(longest, l)
		}
	}
	if longest == 0 {
		return 24 * time.Hour
	}
	return longest
}

// load reads a service's series over r into Prometheus's engine, with the
// incidents overlapping r.
func (b SourceBacktest) load(ctx context.Context, service string, r source.Range) (*backtest.Memory, []source.Incident, error) {
	infos, err := b.Source.ListSeries(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	fetched, err := b.Source.Fetch(ctx, ids, r)
	if err != nil {
		return nil, nil, fmt.Errorf("backtest: fetching %s: %w", service, err)
	}
	series := make([]backtest.Series, 0, len(fetched))
	for _, s := range fetched {
		lset := map[string]string{model.MetricNameLabel: s.Info.Metric}
		for k, v := range s.Info.Labels {
			lset[k] = v
		}
		series = append(series, backtest.Series{Labels: lset, Start: s.Start, Step: s.Step, Values: s.Values})
	}
	mem, err := backtest.NewMemory(series)
	if err != nil {
		return nil, nil, err
	}
	all, err := b.Source.Incidents(ctx, service, r.Start, r.End)
	if err != nil {
		return nil, nil, err
	}
	return mem, all, nil
}

// replayOn backtests d on loaded series over the evaluations in
// [evalStart, evalEnd].
func replayOn(ctx context.Context, mem *backtest.Memory, all []source.Incident, d nft.Definition, r source.Range, evalStart, evalEnd time.Time) (Replay, error) {
	// An incident over before the verdict starts is one no alert could be
	// evaluated for: counting it would report it missed.
	var incidents []source.Incident
	var known []backtest.Incident
	for _, in := range all {
		if !in.End.After(evalStart) || !in.Start.Before(evalEnd) {
			continue
		}
		incidents = append(incidents, in)
		known = append(known, backtest.Incident{Name: in.Name, Start: in.Start, End: in.End})
	}
	rep, err := backtest.Run(ctx, mem, d, backtest.Options{Start: evalStart, End: evalEnd, Step: r.Step, Incidents: known})
	if err != nil {
		return Replay{}, fmt.Errorf("backtest of %s: %w", d.Name, err)
	}
	return Replay{Report: rep, Memory: mem, Incidents: incidents, Range: r}, nil
}

// falsePages counts page episodes outside the known incidents.
func falsePages(r backtest.Report) int {
	n := 0
	for _, p := range r.Pairs {
		if p.Severity == nft.SeverityPage {
			n += p.FalseEpisodes
		}
	}
	return n
}

// detections counts the known incidents the alerts detected.
func detections(r backtest.Report) int {
	n := 0
	for _, in := range r.Incidents {
		if in.Detected {
			n++
		}
	}
	return n
}
