package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// Series is one metric series on a regular grid, as a metric source returns
// it: Values[i] is the value at Start + i*Step, NaN for a gap.
type Series struct {
	Labels map[string]string // with "__name__"
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Memory evaluates PromQL with Prometheus's engine over in-memory series.
type Memory struct {
	engine *promql.Engine
	store  memStore
}

// NewMemory loads series for evaluation. Gaps are dropped, so a gap longer
// than five minutes reads as no data, as it would in Prometheus.
func NewMemory(series []Series) (*Memory, error) {
	var store memStore
	for i, s := range series {
		if s.Labels[model.MetricNameLabel] == "" {
			return nil, fmt.Errorf("series %d has no metric name", i)
		}
		if s.Step <= 0 {
			return nil, fmt.Errorf("series %s: step must be positive", s.Labels[model.MetricNameLabel])
		}
		ms := memSeries{lset: labels.FromMap(s.Labels)}
		for j, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			ms.samples = append(ms.samples, fsample{t: s.Start.Add(time.Duration(j) * s.Step).UnixMilli(), f: v})
		}
		store = append(store, ms)
	}
	slices.SortFunc(store, func(a, b memSeries) int { return labels.Compare(a.lset, b.lset) })
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples:    50_000_000,
		Timeout:       5 * time.Minute,
		LookbackDelta: 5 * time.Minute,
	})
	return &Memory{engine: engine, store: store}, nil
}

// RangeQuery implements Evaluator.
func (m *Memory) RangeQuery(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Point, error) {
	q, err := m.engine.NewRangeQuery(ctx, m.store, nil, expr, start, end, step)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	mat, err := res.Matrix()
	if err != nil {
		return nil, err
	}
	if len(mat) > 1 {
		return nil, fmt.Errorf("query returned %d series, want one", len(mat))
	}
	var out []Point
	for _, s := range mat {
		for _, p := range s.Floats {
			out = append(out, Point{T: time.UnixMilli(p.T).UTC(), V: p.F})
		}
	}
	return out, nil
}

type memSeries struct {
	lset    labels.Labels
	samples []fsample
}

type memStore []memSeries

func (s memStore) Querier(mint, maxt int64) (storage.Querier, error) {
	return memQuerier{store: s, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	store      memStore
	mint, maxt int64
}

func (q memQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range q.store {
		if !matches(s.lset, ms) {
			continue
		}
		lo, _ := slices.BinarySearchFunc(s.samples, q.mint, func(x fsample, t int64) int { return cmpInt(x.t, t) })
		hi, _ := slices.BinarySearchFunc(s.samples, q.maxt+1, func(x fsample, t int64) int { return cmpInt(x.t, t) })
		if lo >= hi {
			continue
		}
		samples := s.samples[lo:hi]
		lset := s.lset
		out = append(out, &storage.SeriesEntry{
			Lset: lset,
			SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
				return storage.NewListSeriesIterator(sampleList(samples))
			},
		})
	}
	return &sliceSet{series: out, i: -1}
}

func (memQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errors.New("label values are not supported by the backtest store")
}

func (memQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errors.New("label names are not supported by the backtest store")
}

func (memQuerier) Close() error { return nil }

func matches(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type sliceSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSet) Err() error                        { return nil }
func (s *sliceSet) Warnings() annotations.Annotations { return nil }

type sampleList []fsample

func (l sampleList) Get(i int) chunks.Sample { return l[i] }
func (l sampleList) Len() int                { return len(l) }

// fsample is a float sample.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }
