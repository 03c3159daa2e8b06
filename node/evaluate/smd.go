// Package evaluate measures the federated learner on real datasets: it reads
// a folder through csvsource, builds per-site datasets, runs fl's simulation
// harness and scores detection and explanation against the ground truth.
// All file access happens here; package fl stays pure.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/csvsource"
)

// machineData is one machine's labelled rows (the test file), with mid
// splitting them into a first and a second half in time.
type machineData struct {
	name   string
	rows   *fl.Dataset
	mid    int
	interp []interpretation // rows relative to the labelled rows
	// trainTail is the last rows of the train file (unlabelled), as many
	// as the first half holds: the period before the first half.
	trainTail *fl.Dataset
}

// before is the unlabelled period of the same length right before the
// half that starts at off: the first half before the second, the end of
// the train file before the first (nil without a train file).
func (m machineData) before(off, rows int) *fl.Dataset {
	if off > 0 {
		return sliceDataset(m.rows, max(0, off-rows), off)
	}
	if m.trainTail == nil {
		return nil
	}
	n := m.trainTail.Rows()
	return sliceDataset(m.trainTail, max(0, n-rows), n)
}

// half returns the first or the second half of the labelled rows, and
// the offset of its first row.
func (m machineData) half(second bool) (*fl.Dataset, int) {
	if second {
		return sliceDataset(m.rows, m.mid, m.rows.Rows()), m.mid
	}
	return sliceDataset(m.rows, 0, m.mid), 0
}

// sliceDataset is rows [lo, hi) of d, sharing its storage.
func sliceDataset(d *fl.Dataset, lo, hi int) *fl.Dataset {
	out := &fl.Dataset{Features: d.Features, Quality: d.Quality, Labels: d.Labels[lo:hi]}
	for _, c := range d.Columns {
		out.Columns = append(out.Columns, c[lo:hi])
	}
	return out
}

type interpretation struct {
	rows    fl.Interval
	metrics []string
}

// loadSMD reads an SMD-format folder and builds each machine's datasets:
// features over the whole series (train file included, so baselines have
// history), labels from the anomaly column, kept for the labelled test rows
// only (copied, so the train file's rows can be freed).
// loadOptions say how machines become datasets.
type loadOptions struct {
	spec           fl.FeatureSpec
	horizon        int
	trainReference bool
	summaries      bool
	intervalEnds   string
}

func loadSMD(ctx context.Context, dir string, opt loadOptions) ([]machineData, error) {
	src, err := csvsource.OpenSMDWith(ctx, dir, csvsource.SMDOptions{IntervalEnds: opt.intervalEnds})
	if err != nil {
		return nil, err
	}
	services, err := src.Services(ctx)
	if err != nil {
		return nil, err
	}
	var out []machineData
	for _, svc := range services {
		md, err := loadMachine(ctx, src, svc, opt)
		if err != nil {
			return nil, fmt.Errorf("evaluate smd: %s: %w", svc, err)
		}
		out = append(out, md)
	}
	return out, nil
}

func loadMachine(ctx context.Context, src *csvsource.SMD, svc string, opt loadOptions) (machineData, error) {
	spec := opt.spec
	infos, err := src.ListSeries(ctx, svc)
	if err != nil {
		return machineData{}, err
	}
	first, last, err := src.Span(svc)
	if err != nil {
		return machineData{}, err
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	step, err := src.Step(svc)
	if err != nil {
		return machineData{}, err
	}
	r := source.Range{Start: first, End: last, Step: step}
	spec = spec.ForStep(step)
	series, err := src.Fetch(ctx, ids, r)
	if err != nil {
		return machineData{}, err
	}
	ms := make([]fl.MetricSeries, len(series))
	for i, s := range series {
		ms[i] = fl.MetricSeries{Name: s.Info.Metric, Counter: s.Info.Type == source.TypeCounter, Values: s.Values}
	}
	testStart, err := src.TestStart(svc)
	if err != nil {
		return machineData{}, err
	}
	t0 := rowOf(r, testStart)
	if opt.trainReference {
		if t0 < 2 {
			return machineData{}, errors.New("no train file to take as reference")
		}
		spec.ReferenceRows = t0
	}
	if slices.Contains(spec.Transforms, fl.RefAbsZScore) {
		if t0 < 2 {
			// Without a normal period the deviation is taken against the
			// trailing window only.
			spec.Transforms = slices.DeleteFunc(slices.Clone(spec.Transforms), func(t fl.Transform) bool { return t == fl.RefAbsZScore })
		}
		spec.ReferencePeriod = t0
	}
	ft, err := fl.BuildFeatures(ms, spec)
	if err != nil {
		return machineData{}, err
	}
	if opt.summaries {
		fl.AddDeviationSummaries(ft)
	}
	series, ms = nil, nil
	incidents, err := src.Incidents(ctx, svc, first, last.Add(r.Step))
	if err != nil {
		return machineData{}, err
	}
	var anomalies []fl.Interval
	md := machineData{name: svc}
	for _, in := range incidents {
		rows := fl.Interval{Start: rowOf(r, in.Start), End: rowOf(r, in.End)}
		switch in.Name {
		case csvsource.IncidentAnomaly:
			anomalies = append(anomalies, rows)
		case csvsource.IncidentInterpretation:
			rows.Start, rows.End = max(rows.Start, t0)-t0, min(rows.End, ft.Rows)-t0
			if rows.End > rows.Start {
				md.interp = append(md.interp, interpretation{rows: rows, metrics: in.Metrics})
			}
		}
	}
	labels, err := fl.LabelsFromIntervals(ft.Rows, anomalies, opt.horizon)
	if err != nil {
		return machineData{}, err
	}
	if ft.Rows-t0 < 4 {
		return machineData{}, fmt.Errorf("test file: only %d labelled rows, need at least 4", ft.Rows-t0)
	}
	if tail := min(t0, (ft.Rows-t0)/2+1); tail > 0 {
		md.trainTail = &fl.Dataset{Features: ft.Features, Labels: make([]float64, tail)}
		for _, c := range ft.Columns {
			md.trainTail.Columns = append(md.trainTail.Columns, slices.Clone(c[t0-tail:t0]))
		}
	}
	for j, c := range ft.Columns {
		ft.Columns[j] = slices.Clone(c[t0:])
	}
	ft.Rows -= t0
	if md.rows, err = fl.NewDataset(ft, slices.Clone(labels[t0:]), 0, ft.Rows); err != nil {
		return machineData{}, err
	}
	md.mid = ft.Rows / 2
	return md, nil
}

func rowOf(r source.Range, t time.Time) int { return int(t.Sub(r.Start) / r.Step) }
