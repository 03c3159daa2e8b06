package source_test

import (
	"context"
	"math"
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
	return []source.Series{{Info: source.SeriesInfo{ID: ids[0], Metric: ids[0], Labels: map[string]string{"service": "amf"}}, Start: r.Start, Step: r.Step, Values: []float64{1, 2, 3}}}, nil
}

// fillingSource is a Prometheus being filled: its answers are empty, then
// partial, then complete.
type fillingSource struct {
	source.Source
	answers [][]source.Series
	fetches int
}

func (f *fillingSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	a := f.answers[min(f.fetches, len(f.answers)-1)]
	f.fetches++
	return a, nil
}

// The memo keeps no empty or partial answer, and no answer past its age.
func TestMemoKeepsOnlyCompleteAnswers(t *testing.T) {
	nan := math.NaN()
	named := func(id string, vals ...float64) source.Series {
		return source.Series{Info: source.SeriesInfo{ID: id, Metric: id}, Values: vals}
	}
	tests := []struct {
		name        string
		answers     [][]source.Series
		reads       int
		wantFetches int
	}{
		{"empty answers are fetched again", [][]source.Series{{}, {}, {}}, 3, 3},
		{"series without samples are fetched again", [][]source.Series{{named("a", nan, nan), named("b", nan, nan)}}, 3, 3},
		{"one series missing is partial", [][]source.Series{{named("a", 1, 2)}}, 2, 2},
		{"an unnamed series is partial", [][]source.Series{{named("a", 1), {Info: source.SeriesInfo{ID: "b"}, Values: []float64{nan}}}}, 2, 2},
		{"filled later, then kept", [][]source.Series{{}, {named("a", nan, 1), named("b", 2, nan)}}, 4, 2},
	}
	r := source.Range{Start: time.Unix(0, 0), End: time.Unix(3600, 0), Step: time.Minute}
	for _, tt := range tests {
		src := &fillingSource{answers: tt.answers}
		m := source.NewMemo(src, 4)
		for range tt.reads {
			if _, err := m.Fetch(context.Background(), []string{"a", "b"}, r); err != nil {
				t.Fatal(err)
			}
		}
		if src.fetches != tt.wantFetches {
			t.Errorf("%s: %d fetches, want %d", tt.name, src.fetches, tt.wantFetches)
		}
	}

	now := time.Unix(1e9, 0)
	src := &fillingSource{answers: [][]source.Series{{named("a", 1), named("b", 2)}}}
	m := source.NewMemo(src, 4)
	m.Now = func() time.Time { return now }
	read := func() {
		if _, err := m.Fetch(context.Background(), []string{"a", "b"}, r); err != nil {
			t.Fatal(err)
		}
	}
	read()
	now = now.Add(source.DefaultMemoAge - time.Second)
	read()
	now = now.Add(2 * time.Second)
	read()
	if src.fetches != 2 {
		t.Fatalf("%d fetches; an answer older than MaxAge must be fetched again", src.fetches)
	}
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
