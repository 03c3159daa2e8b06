package source

import (
	"context"
	"time"
)

// Shifted is a Source read at another time: asked about an instant t, it
// answers with its inner source's data for t + By, and reports incidents
// back on the caller's clock. A simulator shifted this way replays one
// fixed stretch of simulated time whatever the wall clock reads, which
// makes demos and tests independent of the date and the hour.
type Shifted struct {
	Inner Source
	By    time.Duration
}

// Services lists the inner source's services.
func (s Shifted) Services(ctx context.Context) ([]string, error) { return s.Inner.Services(ctx) }

// ListSeries lists the inner source's series of a service.
func (s Shifted) ListSeries(ctx context.Context, service string) ([]SeriesInfo, error) {
	return s.Inner.ListSeries(ctx, service)
}

// Fetch reads the inner source over r moved by By, and labels the values
// with r's own times.
func (s Shifted) Fetch(ctx context.Context, ids []string, r Range) ([]Series, error) {
	out, err := s.Inner.Fetch(ctx, ids, Range{Start: r.Start.Add(s.By), End: r.End.Add(s.By), Step: r.Step})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Start = out[i].Start.Add(-s.By)
	}
	return out, nil
}

// Incidents lists the inner source's incidents over [start, end) moved by
// By, moved back onto the caller's clock.
func (s Shifted) Incidents(ctx context.Context, service string, start, end time.Time) ([]Incident, error) {
	out, err := s.Inner.Incidents(ctx, service, start.Add(s.By), end.Add(s.By))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Start, out[i].End = out[i].Start.Add(-s.By), out[i].End.Add(-s.By)
	}
	return out, nil
}
