package source_test

import (
	"context"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

// clockSource answers every fetch with the Unix minute of each sample and
// has one incident at a fixed instant.
type clockSource struct{ incident time.Time }

func (clockSource) Services(context.Context) ([]string, error) { return []string{"amf"}, nil }

func (clockSource) ListSeries(context.Context, string) ([]source.SeriesInfo, error) {
	return []source.SeriesInfo{{ID: "up", Metric: "up"}}, nil
}

func (clockSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	s := source.Series{Info: source.SeriesInfo{ID: ids[0]}, Start: r.Start, Step: r.Step}
	for t := r.Start; t.Before(r.End); t = t.Add(r.Step) {
		s.Values = append(s.Values, float64(t.Unix()/60))
	}
	return []source.Series{s}, nil
}

func (c clockSource) Incidents(_ context.Context, svc string, start, end time.Time) ([]source.Incident, error) {
	if c.incident.Before(start) || !c.incident.Before(end) {
		return nil, nil
	}
	return []source.Incident{{Service: svc, Start: c.incident, End: c.incident.Add(time.Minute)}}, nil
}

func TestShiftedReadsAnotherTimeOnTheCallersClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	then := time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC)
	s := source.Shifted{Inner: clockSource{incident: then.Add(-30 * time.Minute)}, By: then.Sub(now)}

	got, err := s.Fetch(ctx, []string{"up"}, source.Range{Start: now.Add(-2 * time.Minute), End: now, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Start.Equal(now.Add(-2*time.Minute)) || got[0].Values[0] != float64(then.Add(-2*time.Minute).Unix()/60) {
		t.Errorf("fetch: start %v, first value %v; want the caller's start and the shifted time's value", got[0].Start, got[0].Values[0])
	}
	in, err := s.Incidents(ctx, "amf", now.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || !in[0].Start.Equal(now.Add(-30*time.Minute)) {
		t.Errorf("incidents = %+v; want one at %v on the caller's clock", in, now.Add(-30*time.Minute))
	}
	if in, _ := s.Incidents(ctx, "amf", then.Add(-time.Hour), then); len(in) != 0 {
		t.Errorf("incidents read on the inner clock = %+v; want none", in)
	}
}
