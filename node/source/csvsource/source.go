package csvsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/srellama/srellama/node/source"
)

// Series is one metric of a service as read from files: samples sorted by
// time, NaN for missing.
type Series struct {
	Info   source.SeriesInfo
	Times  []int64
	Values []float64
}

// Service is everything the source knows about one service.
type Service struct {
	Name      string
	Series    []Series
	Incidents []source.Incident
}

// Source serves in-memory services read from CSV files. It is safe for
// concurrent use because it never changes after construction.
type Source struct {
	services map[string]*Service
	byID     map[string]*Series
}

var _ source.Source = (*Source)(nil)

// maxPoints bounds a single Fetch.
const maxPoints = 10_000_000

// New builds a source from services. Series ids must be unique across
// services and every series sorted by time without duplicate timestamps.
func New(services ...*Service) (*Source, error) {
	s := &Source{services: map[string]*Service{}, byID: map[string]*Series{}}
	for _, svc := range services {
		if svc.Name == "" {
			return nil, errors.New("csvsource: service without a name")
		}
		if _, dup := s.services[svc.Name]; dup {
			return nil, fmt.Errorf("csvsource: duplicate service %q", svc.Name)
		}
		s.services[svc.Name] = svc
		for i := range svc.Series {
			ser := &svc.Series[i]
			if _, dup := s.byID[ser.Info.ID]; dup {
				return nil, fmt.Errorf("csvsource: duplicate series id %q", ser.Info.ID)
			}
			if len(ser.Times) != len(ser.Values) {
				return nil, fmt.Errorf("csvsource: series %q has %d times and %d values", ser.Info.ID, len(ser.Times), len(ser.Values))
			}
			for k := 1; k < len(ser.Times); k++ {
				if ser.Times[k] <= ser.Times[k-1] {
					return nil, fmt.Errorf("csvsource: series %q: timestamps not increasing at sample %d", ser.Info.ID, k)
				}
			}
			s.byID[ser.Info.ID] = ser
		}
	}
	return s, nil
}

// Services lists the service names, sorted.
func (s *Source) Services(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(s.services))
	for name := range s.services {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

func (s *Source) service(name string) (*Service, error) {
	svc, ok := s.services[name]
	if !ok {
		return nil, fmt.Errorf("csvsource: %w: %q", source.ErrUnknownService, name)
	}
	return svc, nil
}

// ListSeries lists a service's series in file column order.
func (s *Source) ListSeries(ctx context.Context, service string) ([]source.SeriesInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	svc, err := s.service(service)
	if err != nil {
		return nil, err
	}
	out := make([]source.SeriesInfo, len(svc.Series))
	for i, ser := range svc.Series {
		out[i] = ser.Info
	}
	return out, nil
}

// Fetch aligns each series on r's grid the way Prometheus does: the value
// at grid time g is the latest sample in (g − Step, g], NaN if none.
func (s *Source) Fetch(ctx context.Context, ids []string, r source.Range) ([]source.Series, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("csvsource: %w", err)
	}
	n := r.Points()
	if n*max(len(ids), 1) > maxPoints {
		return nil, fmt.Errorf("csvsource: %d points x %d series exceed the limit %d", n, len(ids), maxPoints)
	}
	out := make([]source.Series, 0, len(ids))
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ser, ok := s.byID[id]
		if !ok {
			return nil, fmt.Errorf("csvsource: unknown series %q", id)
		}
		out = append(out, source.Series{Info: ser.Info, Start: r.Start, Step: r.Step, Values: align(ser, r, n)})
	}
	return out, nil
}

func align(ser *Series, r source.Range, n int) []float64 {
	v := make([]float64, n)
	step := r.Step.Seconds()
	start := float64(r.Start.UnixNano()) / 1e9
	for i := range v {
		g := start + float64(i)*step
		// First sample after g, then step back to the latest at or before.
		k := sort.Search(len(ser.Times), func(k int) bool { return float64(ser.Times[k]) > g }) - 1
		if k >= 0 && float64(ser.Times[k]) > g-step {
			v[i] = ser.Values[k]
		} else {
			v[i] = math.NaN()
		}
	}
	return v
}

// Incidents lists the incidents of a service overlapping [start, end).
func (s *Source) Incidents(ctx context.Context, service string, start, end time.Time) ([]source.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !end.After(start) {
		return nil, errors.New("csvsource: empty incident range")
	}
	svc, err := s.service(service)
	if err != nil {
		return nil, err
	}
	var out []source.Incident
	for _, in := range svc.Incidents {
		if in.Start.Before(end) && in.End.After(start) {
			out = append(out, in)
		}
	}
	return out, nil
}

// Span returns the first and last sample time of a service.
func (s *Source) Span(service string) (first, last time.Time, err error) {
	svc, err := s.service(service)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, ser := range svc.Series {
		if len(ser.Times) > 0 {
			lo = min(lo, ser.Times[0])
			hi = max(hi, ser.Times[len(ser.Times)-1])
		}
	}
	if lo > hi {
		return time.Time{}, time.Time{}, fmt.Errorf("csvsource: service %q has no samples", service)
	}
	return time.Unix(lo, 0).UTC(), time.Unix(hi, 0).UTC(), nil
}

// seriesFromTable turns each metric column of t into a series of service.
func seriesFromTable(service string, t *Table, typ source.MetricType, labels map[string]string) []Series {
	var out []Series
	for j, m := range t.Metrics {
		out = append(out, Series{
			Info:   source.SeriesInfo{ID: service + "/" + m, Metric: m, Type: typ, Labels: labels},
			Times:  t.Times,
			Values: t.Values[j],
		})
	}
	return out
}

// labelIncidents turns runs of label 1 into incidents [first, last+step).
func labelIncidents(service, name string, times []int64, labels []float64, step time.Duration) []source.Incident {
	var out []source.Incident
	start := -1
	for i := 0; i <= len(labels); i++ {
		on := i < len(labels) && labels[i] == 1
		switch {
		case on && start < 0:
			start = i
		case !on && start >= 0:
			out = append(out, source.Incident{
				Service: service, Name: name,
				Start: time.Unix(times[start], 0).UTC(),
				End:   time.Unix(times[i-1], 0).UTC().Add(step),
			})
			start = -1
		}
	}
	return out
}

func trimSuffixes(s string, n int) string {
	for range n {
		i := strings.LastIndex(s, "-")
		if i <= 0 {
			return s
		}
		s = s[:i]
	}
	return s
}
