package csvsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/node/source"
)

// WideFile is one generic wide CSV file: a time column, one column per
// metric, optionally a 0/1 label column and an entity column.
type WideFile struct {
	Path string
	// Service names the file's service; with an entity column, each entity
	// becomes its own service "<Service>/<entity>" (or just "<entity>" when
	// Service is empty).
	Service string
	Options TableOptions
	// Step is the sampling interval, used to close labelled incidents
	// (default one minute).
	Step time.Duration
}

// OpenWide reads generic wide CSV files (plain or gzip). Runs of label 1
// become incidents named "anomaly".
func OpenWide(ctx context.Context, files ...WideFile) (*Source, error) {
	var services []*Service
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		svcs, err := readWide(f)
		if err != nil {
			return nil, err
		}
		services = append(services, svcs...)
	}
	return New(services...)
}

func readWide(f WideFile) ([]*Service, error) {
	if f.Step == 0 {
		f.Step = time.Minute
	}
	if f.Step < 0 {
		return nil, fmt.Errorf("%s: negative step", f.Path)
	}
	name := f.Service
	if name == "" && f.Options.EntityColumn == "" {
		name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f.Path), ".gz"), ".csv")
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	t, err := ReadTable(file, f.Path, f.Options)
	if err != nil {
		return nil, err
	}
	if t.Entities == nil {
		t, err = sortedByTime(t, f.Path)
		if err != nil {
			return nil, err
		}
		return []*Service{tableService(name, t, f.Step)}, nil
	}
	byEntity := map[string][]int{}
	var entities []string
	for i, e := range t.Entities {
		if byEntity[e] == nil {
			entities = append(entities, e)
		}
		byEntity[e] = append(byEntity[e], i)
	}
	slices.Sort(entities)
	var out []*Service
	for _, e := range entities {
		sub := subTable(t, byEntity[e])
		sub, err := sortedByTime(sub, f.Path+" entity "+e)
		if err != nil {
			return nil, err
		}
		svc := e
		if name != "" {
			svc = name + "/" + e
		}
		out = append(out, tableService(svc, sub, f.Step))
	}
	return out, nil
}

func tableService(name string, t *Table, step time.Duration) *Service {
	svc := &Service{Name: name, Series: seriesFromTable(name, t, source.TypeUnknown, nil)}
	if t.Labels != nil {
		svc.Incidents = labelIncidents(name, IncidentAnomaly, t.Times, t.Labels, step)
	}
	return svc
}

func subTable(t *Table, rows []int) *Table {
	out := &Table{Metrics: t.Metrics, Values: make([][]float64, len(t.Metrics))}
	for _, i := range rows {
		out.Times = append(out.Times, t.Times[i])
		if t.Labels != nil {
			out.Labels = append(out.Labels, t.Labels[i])
		}
		for j := range t.Metrics {
			out.Values[j] = append(out.Values[j], t.Values[j][i])
		}
	}
	return out
}

// sortedByTime refuses duplicate timestamps and sorts rows by time.
func sortedByTime(t *Table, name string) (*Table, error) {
	idx := make([]int, len(t.Times))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case t.Times[a] < t.Times[b]:
			return -1
		case t.Times[a] > t.Times[b]:
			return 1
		}
		return 0
	})
	for k := 1; k < len(idx); k++ {
		if t.Times[idx[k]] == t.Times[idx[k-1]] {
			return nil, fmt.Errorf("%s: duplicate timestamp %d", name, t.Times[idx[k]])
		}
	}
	if slices.IsSorted(idx) {
		return t, nil
	}
	return subTable(t, idx), nil
}
