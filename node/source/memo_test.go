package source_test

import (
	"context"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

// countingSource answers every fetch with one series and counts them.
type countingSource struct {
	source.Source
	fetches int
}

func (c *countingSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	c.fetches++
	return []source.Series{{Info: source.SeriesInfo{ID: ids[0], Labels: map[string]string{"service": "amf"}}, Start: r.Start, Step: r.Step, Values: []float64{1, 2, 3}}}, nil
}

func TestMemoFetchesEachRangeOnce(t *testing.T) {
	src := &countingSource{}
	m := source.NewMemo(src, 2)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	day := func(n int) source.Range {
		return source.Range{Start: t0.Add(time.Duration(n) * time.Hour), End: t0.Add(time.Duration(n+24) * time.Hour), Step: time.Minute}
	}
	steps := []struct {
		name        string
		ids         []string
		r           source.Range
		wantFetches int
	}{
		{"a first read fetches", []string{"up"}, day(0), 1},
		{"the same read is remembered", []string{"up"}, day(0), 1},
		{"other series are fetched", []string{"cpu"}, day(0), 2},
		{"another range is fetched", []string{"up"}, day(1), 3},
		{"the oldest of two entries is forgotten", []string{"up"}, day(0), 4},
		{"the most recent ones are kept", []string{"up"}, day(1), 4},
	}
	for _, s := range steps {
		got, err := m.Fetch(ctx, s.ids, s.r)
		if err != nil {
			t.Fatal(err)
		}
		if src.fetches != s.wantFetches {
			t.Fatalf("%s: %d fetches from the source, want %d", s.name, src.fetches, s.wantFetches)
		}
		if len(got) != 1 || got[0].Info.ID != s.ids[0] || !got[0].Start.Equal(s.r.Start) {
			t.Fatalf("%s: got %+v", s.name, got)
		}
		// What a caller does to its answer does not reach the memory.
		got[0].Values[0] = -1
		got[0].Info.Labels["service"] = "changed"
	}
	again, _ := m.Fetch(ctx, []string{"up"}, day(1))
	if again[0].Values[0] != 1 || again[0].Info.Labels["service"] != "amf" {
		t.Fatalf("a caller's change reached the memory: %+v", again[0])
	}
}
