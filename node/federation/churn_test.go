package federation_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/srellama/srellama/node/source"
)

// churnSource is a source whose listing holds series the fetch cannot
// fill, as Prometheus's does after churn: series without a sample in the
// window come back unnamed and all NaN; young series start late.
type churnSource struct {
	source.Source
	service   string
	empty     int     // listed series with no sample at all
	young     int     // listed series whose samples start at youngFrom
	youngFrom float64 // share of the window
	onlyYoung bool    // every real series of the service starts late too
}

func (c churnSource) ListSeries(ctx context.Context, service string) ([]source.SeriesInfo, error) {
	infos, err := c.Source.ListSeries(ctx, service)
	if err != nil || service != c.service {
		return infos, err
	}
	for i := range c.empty {
		id := source.SelectorID("gone_total", map[string]string{"service": service, "pod": string(rune('a' + i))})
		infos = append(infos, source.SeriesInfo{ID: id, Metric: "gone_total", Type: source.TypeCounter})
	}
	for i := range c.young {
		id := source.SelectorID("new_gauge", map[string]string{"service": service, "pod": string(rune('a' + i))})
		infos = append(infos, source.SeriesInfo{ID: id, Metric: "new_gauge", Type: source.TypeGauge})
	}
	return infos, nil
}

func (c churnSource) Fetch(ctx context.Context, ids []string, r source.Range) ([]source.Series, error) {
	var real []string
	for _, id := range ids {
		if !strings.HasPrefix(id, "gone_total") && !strings.HasPrefix(id, "new_gauge") {
			real = append(real, id)
		}
	}
	fetched, err := c.Source.Fetch(ctx, real, r)
	if err != nil {
		return nil, err
	}
	n := r.Points()
	from := int(float64(n) * c.youngFrom)
	byID := map[string]source.Series{}
	for _, s := range fetched {
		if c.onlyYoung {
			for i := range from {
				s.Values[i] = math.NaN()
			}
		}
		byID[s.Info.ID] = s
	}
	out := make([]source.Series, len(ids))
	for i, id := range ids {
		vals := make([]float64, n)
		for k := range vals {
			vals[k] = math.NaN()
		}
		switch {
		case strings.HasPrefix(id, "gone_total"):
			out[i] = source.Series{Info: source.SeriesInfo{ID: id}, Start: r.Start, Step: r.Step, Values: vals}
		case strings.HasPrefix(id, "new_gauge"):
			for k := from; k < n; k++ {
				vals[k] = float64(k)
			}
			out[i] = source.Series{Info: source.SeriesInfo{ID: id, Metric: "new_gauge"}, Start: r.Start, Step: r.Step, Values: vals}
		default:
			out[i] = byID[id]
		}
	}
	return out, nil
}

// Ordinary series churn costs features, not the round; a service whose
// every series is younger than the training split is a clear "not enough
// history" with the amount needed and present.
func TestTrainingSurvivesSeriesChurn(t *testing.T) {
	base, services := trainerFor(t, "Org1MSP", 1)
	tests := []struct {
		name    string
		src     churnSource
		wantErr string
	}{
		{"two unnamed series without samples", churnSource{empty: 2}, ""},
		{"series younger than the split", churnSource{young: 3, youngFrom: 0.9}, ""},
		{"both", churnSource{empty: 2, young: 2, youngFrom: 0.8}, ""},
		{"everything is young", churnSource{youngFrom: 0.95, onlyYoung: true}, "not enough history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := base
			src := tt.src
			src.Source, src.service = base.Source, services[0]
			tr.Source = src
			r := roundFor(t, tr, services[:1], "fedavg")
			_, c, err := tr.Train(context.Background(), r)
			if tt.wantErr != "" {
				var short *source.NotEnoughHistoryError
				if !errors.As(err, &short) || !strings.Contains(err.Error(), tt.wantErr) || short.Present <= 0 || short.Needed <= short.Present {
					t.Fatalf("err = %v, want a NotEnoughHistoryError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("training failed on churn: %v", err)
			}
			if c.Samples == 0 {
				t.Fatal("no samples")
			}
			ds, err := tr.Dataset(context.Background(), services[:1])
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range ds.Features {
				if strings.Contains(f, "gone_total") || strings.Contains(f, "new_gauge") || strings.HasSuffix(f, "/") {
					t.Fatalf("feature %q of a series training cannot use", f)
				}
			}
		})
	}
}
