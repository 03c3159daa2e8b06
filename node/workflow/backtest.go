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

// Run backtests d.
func (b SourceBacktest) Run(ctx context.Context, d nft.Definition) (Replay, error) {
	end := b.Now().UTC().Truncate(b.Step)
	r := source.Range{Start: end.Add(-b.History), End: end, Step: b.Step}
	infos, err := b.Source.ListSeries(ctx, d.SLI.Service)
	if err != nil {
		return Replay{}, err
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	fetched, err := b.Source.Fetch(ctx, ids, r)
	if err != nil {
		return Replay{}, fmt.Errorf("backtest: fetching %s: %w", d.SLI.Service, err)
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
		return Replay{}, err
	}
	warmup := b.Warmup
	if warmup <= 0 {
		warmup = 24 * time.Hour
	}
	evalStart := r.Start.Add(warmup)
	all, err := b.Source.Incidents(ctx, d.SLI.Service, r.Start, r.End)
	if err != nil {
		return Replay{}, err
	}
	// An incident over before the verdict starts is one no alert could be
	// evaluated for: counting it would report it missed.
	var incidents []source.Incident
	var known []backtest.Incident
	for _, in := range all {
		if !in.End.After(evalStart) {
			continue
		}
		incidents = append(incidents, in)
		known = append(known, backtest.Incident{Name: in.Name, Start: in.Start, End: in.End})
	}
	rep, err := backtest.Run(ctx, mem, d, backtest.Options{Start: evalStart, End: r.End, Step: b.Step, Incidents: known})
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
