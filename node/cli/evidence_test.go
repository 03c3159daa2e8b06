package cli_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/source"
)

// fixedSource lists and serves fixed series; a fetch returns what the
// source had (fetched infos may be unnamed, as Prometheus's are for a
// series without samples).
type fixedSource struct {
	source.Source
	infos  []source.SeriesInfo
	values map[string][]float64
	named  bool
}

func (f fixedSource) ListSeries(context.Context, string) ([]source.SeriesInfo, error) {
	return f.infos, nil
}

func (f fixedSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	out := make([]source.Series, len(ids))
	for i, id := range ids {
		info := source.SeriesInfo{ID: id}
		if f.named {
			for _, in := range f.infos {
				if in.ID == id {
					info = in
				}
			}
		}
		out[i] = source.Series{Info: info, Start: r.Start, Step: r.Step, Values: f.values[id]}
	}
	return out, nil
}

func TestEvidenceIsPortableAndStatesItsHistory(t *testing.T) {
	end := time.Date(2026, 11, 22, 13, 37, 0, 0, time.UTC) // not midnight: evidence runs up to now
	r := source.Range{Start: end.Add(-3 * 24 * time.Hour), End: end, Step: time.Hour}
	n := r.Points()
	ramp := func(from int, perStep float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			if i < from {
				v[i] = math.NaN()
			} else {
				v[i] = float64(i-from) * perStep
			}
		}
		return v
	}
	info := func(metric string, typ source.MetricType, labels map[string]string) source.SeriesInfo {
		labels["service"] = "amf"
		return source.SeriesInfo{ID: source.SelectorID(metric, labels), Metric: metric, Type: typ, Labels: labels}
	}
	reqA := info("reg_req", source.TypeUnknown, map[string]string{"instance": "a:9090", "job": "amf"})
	reqB := info("reg_req", source.TypeUnknown, map[string]string{"instance": "b:9090", "job": "amf"})
	succ := info("reg_succ_total", source.TypeCounter, map[string]string{"instance": "a:9090", "job": "amf"})
	bucket := info("lat_seconds_bucket", source.TypeHistogram, map[string]string{"le": "0.1", "instance": "a:9090"})
	count := info("lat_seconds_count", source.TypeHistogram, map[string]string{"instance": "a:9090"})
	mem := info("mem_bytes", source.TypeUnknown, map[string]string{"instance": "a:9090"})
	memVals := make([]float64, n)
	for i := range memVals {
		memVals[i] = 100 + 10*math.Sin(float64(i))
	}
	full := fixedSource{infos: []source.SeriesInfo{reqA, reqB, succ, bucket, count, mem}, values: map[string][]float64{
		reqA.ID: ramp(0, 10), reqB.ID: ramp(0, 5), succ.ID: ramp(0, 14), bucket.ID: ramp(0, 3), count.ID: ramp(0, 4), mem.ID: memVals,
	}}

	tests := []struct {
		name    string
		src     fixedSource
		days    int
		wantErr string
	}{
		{"three days, unnamed fetches", full, 3, ""},
		{"three days, named fetches", fixedSource{infos: full.infos, values: full.values, named: true}, 3, ""},
		{"data since 30 hours ago is one day", fixedSource{infos: []source.SeriesInfo{reqA}, values: map[string][]float64{reqA.ID: ramp(n-31, 1)}}, 1, ""},
		{"one sample is not a day", fixedSource{infos: []source.SeriesInfo{reqA}, values: map[string][]float64{reqA.ID: ramp(n-1, 1)}}, 0, "1d needed, 0m present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := cli.EvidenceFor("service")(context.Background(), tt.src, "amf", r)
			if tt.wantErr != "" {
				if !errors.Is(err, source.ErrNotEnoughHistory) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want not enough history (%s)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]builtin.Metric{}
			for _, m := range in.Metrics {
				if _, dup := byName[m.Name]; dup {
					t.Fatalf("metric %s appears twice: series of one metric must be combined", m.Name)
				}
				byName[m.Name] = m
				if len(m.Selector) != 1 || m.Selector["service"] != "amf" {
					t.Fatalf("%s: selector %v names more than the service", m.Name, m.Selector)
				}
				if len(m.Daily) != tt.days {
					t.Fatalf("%s: %d days of history, want %d", m.Name, len(m.Daily), tt.days)
				}
			}
			req := byName["reg_req"]
			if req.Type != builtin.Counter {
				t.Fatalf("an untyped series that only grows is a counter, got %q", req.Type)
			}
			if len(tt.src.infos) < 2 {
				return
			}
			if got := req.Daily[0]; got != 24*15 {
				t.Fatalf("reg_req's first day: %v, want both instances' increases (%v)", got, 24*15)
			}
			if byName["mem_bytes"].Type != builtin.Gauge {
				t.Fatalf("an untyped series that goes up and down is a gauge, got %q", byName["mem_bytes"].Type)
			}
			lat := byName["lat_seconds"]
			if lat.Type != builtin.Histogram || len(lat.Buckets) != 1 || lat.Buckets[0].LE != "0.1" || len(lat.Daily) != tt.days {
				t.Fatalf("histogram %+v", lat)
			}
		})
	}
}
