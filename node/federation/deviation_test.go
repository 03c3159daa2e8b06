package federation_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/source"
)

// shiftedSource is one service whose gauges are unit noise around their
// level, each shifted by a known number of standard deviations during
// the incidents. Metrics are named so that name order is not deviation
// order.
type shiftedSource struct {
	start     time.Time
	step      time.Duration
	rows      int
	shift     map[string]float64 // metric -> shift in sds during incidents
	only      map[string]int     // metric -> the one incident it shifts in (else all)
	incidents [][2]int           // row ranges [lo, hi)
}

func (s shiftedSource) Services(context.Context) ([]string, error) { return []string{"svc"}, nil }

func (s shiftedSource) ListSeries(_ context.Context, service string) ([]source.SeriesInfo, error) {
	if service != "svc" {
		return nil, source.ErrUnknownService
	}
	var out []source.SeriesInfo
	for m := range s.shift {
		out = append(out, source.SeriesInfo{ID: m + `{service="svc"}`, Metric: m, Type: source.TypeGauge})
	}
	slices.SortFunc(out, func(a, b source.SeriesInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s shiftedSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	var out []source.Series
	for k, id := range ids {
		var metric string
		for m := range s.shift {
			if id == m+`{service="svc"}` {
				metric = m
			}
		}
		rng := rand.New(rand.NewPCG(uint64(k)+1, 7))
		v := make([]float64, r.Points())
		for i := range v {
			v[i] = 50 + rng.NormFloat64()
			if k, ok := s.during(i); ok {
				if only, set := s.only[metric]; !set || only == k {
					v[i] += s.shift[metric]
				}
			}
		}
		out = append(out, source.Series{Info: source.SeriesInfo{ID: id, Metric: metric, Type: source.TypeGauge}, Start: r.Start, Step: r.Step, Values: v})
	}
	return out, nil
}

func (s shiftedSource) during(i int) (int, bool) {
	for k, in := range s.incidents {
		if i >= in[0] && i < in[1] {
			return k, true
		}
	}
	return 0, false
}

func (s shiftedSource) Incidents(_ context.Context, service string, start, end time.Time) ([]source.Incident, error) {
	var out []source.Incident
	for _, in := range s.incidents {
		out = append(out, source.Incident{Service: service, Name: "fault",
			Start: s.start.Add(time.Duration(in[0]) * s.step), End: s.start.Add(time.Duration(in[1]-1) * s.step)})
	}
	return out, nil
}

func TestDeviationRankingOrdersByDeviationNotName(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	step := time.Minute
	const rows = 2000
	tests := []struct {
		name      string
		shift     map[string]float64
		only      map[string]int
		incidents [][2]int
		want      []string // best first
	}{
		{
			name:      "larger shifts rank higher",
			shift:     map[string]float64{"a_cpu": 0, "b_mem": 2, "m_errors": 5, "z_latency": 12},
			incidents: [][2]int{{1500, 1530}, {1800, 1840}},
			want:      []string{"z_latency", "m_errors", "b_mem", "a_cpu"},
		},
		{
			name:      "a drop deviates like a rise",
			shift:     map[string]float64{"z_up": -10, "b_queue": 3, "c_idle": 0},
			incidents: [][2]int{{1600, 1650}},
			want:      []string{"z_up", "b_queue", "c_idle"},
		},
		{
			name:      "an incident in the reference period counts too",
			shift:     map[string]float64{"a_cpu": 1, "y_drops": 8},
			incidents: [][2]int{{400, 420}, {1700, 1720}},
			want:      []string{"y_drops", "a_cpu"},
		},
		{
			name:      "one huge deviation does not outweigh what moved in every other incident",
			shift:     map[string]float64{"a_restart": 1000, "m_errors": 5, "b_cpu": 0},
			only:      map[string]int{"a_restart": 0},
			incidents: [][2]int{{1500, 1520}, {1600, 1620}, {1700, 1720}, {1800, 1820}},
			want:      []string{"m_errors", "a_restart", "b_cpu"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := shiftedSource{start: start, step: step, rows: rows, shift: tc.shift, only: tc.only, incidents: tc.incidents}
			tr := federation.Trainer{MSPID: "Org1MSP", Source: src, History: time.Duration(rows-1) * step, Step: step,
				Now: func() time.Time { return start.Add(time.Duration(rows-1) * step) }, Spec: fl.DefaultFeatureSpec()}
			got, err := tr.DeviationRanking(context.Background(), "svc")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.Metric)
				if math.IsNaN(m.Score) || m.Score < 0 || m.Score > 1 || m.Stability < 0 || m.Stability > 1 {
					t.Fatalf("metric %s: score %v, stability %v outside [0, 1]", m.Metric, m.Score, m.Stability)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("ranked %v, want %v by deviation during the incidents (scores %+v)", names, tc.want, got)
			}
			sorted := slices.Clone(names)
			slices.Sort(sorted)
			if slices.Equal(names, sorted) {
				t.Fatalf("ranking %v is in name order: the test cannot tell deviation from names", names)
			}
			if got[0].Score != 1 {
				t.Fatalf("top metric scores %v, want 1", got[0].Score)
			}
		})
	}
}

func TestDeviationRankingNeedsIncidents(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	src := shiftedSource{start: start, step: time.Minute, rows: 500, shift: map[string]float64{"a": 1, "b": 2}}
	tr := federation.Trainer{MSPID: "Org1MSP", Source: src, History: 499 * time.Minute, Step: time.Minute,
		Now: func() time.Time { return start.Add(499 * time.Minute) }, Spec: fl.DefaultFeatureSpec()}
	if _, err := tr.DeviationRanking(context.Background(), "svc"); !errors.Is(err, source.ErrNoIncidents) {
		t.Fatalf("want ErrNoIncidents, got %v", err)
	}
}
