// Package promsource reads an organization's metrics from Prometheus, Mimir
// or any server speaking the Prometheus HTTP API: discovery through label
// values, series and metadata, data through query_range in chunks under the
// server's points-per-series limit, incidents from ALERTS or a configured
// PromQL expression.
//
// Fetch returns raw samples on the requested grid: NaN where the server had
// no sample within its lookback (a gap, a scrape failure marked stale),
// counters as they are, resets included; rate conversion belongs to the
// caller.
package promsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/srellama/srellama/node/source"
)

// Config says where the server is and how to talk to it. Zero fields take
// the defaults named below.
type Config struct {
	// URL of the server's API root, e.g. http://prometheus:9090 or
	// https://mimir.example.com/prometheus.
	URL string
	// BearerToken, or Username and Password for basic auth; not both.
	BearerToken        string
	Username, Password string
	// OrgID is sent as X-Scope-OrgID (Mimir and Cortex tenants).
	OrgID string

	// ServiceLabel is the label that names a service (default "service").
	ServiceLabel string
	// DiscoveryWindow is how far back Services and ListSeries look for
	// series (default 24h).
	DiscoveryWindow time.Duration
	// IncidentQuery is evaluated over the period asked for; every interval
	// during which one of its series has non-zero samples is an incident
	// (default `ALERTS{alertstate="firing"}`). Its series must carry
	// ServiceLabel.
	IncidentQuery string
	// IncidentStep is the resolution of incident queries (default 30s).
	IncidentStep time.Duration

	// MaxPoints caps the points per series of one query_range (default
	// 11000, Prometheus's limit); longer ranges are fetched in chunks.
	MaxPoints int
	// Concurrency is how many queries run at once (default 4).
	Concurrency int
	// Timeout bounds each HTTP attempt (default 2m).
	Timeout time.Duration
	// Retries after the first attempt for network errors, timeouts, 429 and
	// 5xx (default 3; negative for none); backoff doubles from BackoffBase
	// (default 250ms) up to BackoffMax (default 10s) with jitter drawn from
	// Seed.
	Retries     int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	Seed        uint64

	// Transport is the underlying HTTP transport (default a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Now is the clock used for discovery windows (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Source is a source.Source over the Prometheus HTTP API.
type Source struct {
	cfg Config
	api v1.API

	metaMu sync.Mutex
	meta   map[string]v1.Metadata // by metric family name; nil until loaded
}

var _ source.Source = (*Source)(nil)

// New checks cfg and builds a source; it does not contact the server.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("promsource: bad URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("promsource: bad URL %q: want http(s)://host[:port][/path]", cfg.URL)
	}
	if cfg.BearerToken != "" && cfg.Username != "" {
		return nil, errors.New("promsource: both a bearer token and basic auth are configured; choose one")
	}
	cfg = withDefaults(cfg)
	if cfg.MaxPoints < 2 {
		return nil, fmt.Errorf("promsource: max points %d is below 2", cfg.MaxPoints)
	}
	rt := &transport{
		base: cfg.Transport, bearer: cfg.BearerToken, user: cfg.Username, pass: cfg.Password, orgID: cfg.OrgID,
		retries: cfg.Retries, backoffBase: cfg.BackoffBase, backoffMax: cfg.BackoffMax, timeout: cfg.Timeout,
		log: cfg.Logger, rng: rand.New(rand.NewPCG(cfg.Seed, 0x70726f6d)),
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("promsource: %w", err)
	}
	return &Source{cfg: cfg, api: v1.NewAPI(client)}, nil
}

func withDefaults(c Config) Config {
	if c.ServiceLabel == "" {
		c.ServiceLabel = "service"
	}
	if c.DiscoveryWindow == 0 {
		c.DiscoveryWindow = 24 * time.Hour
	}
	if c.IncidentQuery == "" {
		c.IncidentQuery = `ALERTS{alertstate="firing"}`
	}
	if c.IncidentStep == 0 {
		c.IncidentStep = 30 * time.Second
	}
	if c.MaxPoints == 0 {
		c.MaxPoints = 11000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Retries == 0 {
		c.Retries = 3
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 250 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 10 * time.Second
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Services lists the values of the service label seen in the discovery
// window.
func (s *Source) Services(ctx context.Context) ([]string, error) {
	now := s.cfg.Now()
	return s.services(ctx, now.Add(-s.cfg.DiscoveryWindow), now)
}

func (s *Source) services(ctx context.Context, start, end time.Time) ([]string, error) {
	vals, _, _, err := s.api.LabelValues(ctx, s.cfg.ServiceLabel, nil, start, end)
	if err != nil {
		return nil, s.wrap(err, "label values of %q", s.cfg.ServiceLabel)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out, nil
}

// ListSeries lists the series carrying the service's label in the discovery
// window, typed from the server's metadata. ALERTS and ALERTS_FOR_STATE are
// left out: they are the incidents, not candidate SLIs.
func (s *Source) ListSeries(ctx context.Context, service string) ([]source.SeriesInfo, error) {
	now := s.cfg.Now()
	matcher := fmt.Sprintf("{%s=%s}", s.cfg.ServiceLabel, strconv.Quote(service))
	sets, _, _, err := s.api.Series(ctx, []string{matcher}, now.Add(-s.cfg.DiscoveryWindow), now)
	if err != nil {
		return nil, s.wrap(err, "series %s", matcher)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("promsource: %w %q: no series with %s in the last %v", source.ErrUnknownService, service, matcher, s.cfg.DiscoveryWindow)
	}
	meta := s.metadata(ctx)
	var out []source.SeriesInfo
	for _, set := range sets {
		info := seriesInfo(set, meta)
		if info.Metric == "ALERTS" || info.Metric == "ALERTS_FOR_STATE" {
			continue
		}
		out = append(out, info)
	}
	typeHistogramParts(out)
	slices.SortFunc(out, func(a, b source.SeriesInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// typeHistogramParts types the _count and _sum series of a histogram
// whose buckets are listed, where no metadata did (a backfilled
// Prometheus has none): alone, their names do not say histogram.
func typeHistogramParts(infos []source.SeriesInfo) {
	histograms := map[string]bool{}
	for _, in := range infos {
		if base, ok := strings.CutSuffix(in.Metric, "_bucket"); ok && in.Type == source.TypeHistogram {
			histograms[base] = true
		}
	}
	for i, in := range infos {
		if in.Type != source.TypeUnknown {
			continue
		}
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(in.Metric, suffix); ok && histograms[base] {
				infos[i].Type = source.TypeHistogram
			}
		}
	}
}

// metadata loads the metric metadata once. A server without the endpoint
// (or failing on it) leaves types to be inferred from names.
func (s *Source) metadata(ctx context.Context) map[string]v1.Metadata {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.meta != nil {
		return s.meta
	}
	all, err := s.api.Metadata(ctx, "", "")
	if err != nil {
		s.cfg.Logger.Warn("prometheus metadata unavailable; inferring metric types from names", "err", err)
		return map[string]v1.Metadata{}
	}
	s.meta = make(map[string]v1.Metadata, len(all))
	for name, entries := range all {
		if len(entries) > 0 {
			s.meta[name] = entries[0]
		}
	}
	return s.meta
}

// cachedMetadata is what ListSeries loaded, if it did: Fetch types its
// series with it but never asks the server for it.
func (s *Source) cachedMetadata() map[string]v1.Metadata {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	return s.meta
}

// seriesInfo names a series and types it: from the metadata of its family
// (a histogram's _bucket, _sum and _count belong to it), else from the
// conventions of its name.
func seriesInfo(set model.LabelSet, meta map[string]v1.Metadata) source.SeriesInfo {
	name := string(set[model.MetricNameLabel])
	labels := make(map[string]string, len(set))
	for k, v := range set {
		if k != model.MetricNameLabel {
			labels[string(k)] = string(v)
		}
	}
	info := source.SeriesInfo{ID: source.SelectorID(name, labels), Metric: name, Labels: labels, Type: source.TypeUnknown}
	candidates := []string{name}
	for _, suffix := range []string{"_bucket", "_sum", "_count", "_total", "_created"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			candidates = append(candidates, base)
		}
	}
	for _, c := range candidates {
		if m, ok := meta[c]; ok {
			info.Type, info.Help, info.Unit = metricType(m.Type), m.Help, m.Unit
			return info
		}
	}
	switch {
	case strings.HasSuffix(name, "_bucket") && labels["le"] != "":
		info.Type = source.TypeHistogram
	case strings.HasSuffix(name, "_total"):
		info.Type = source.TypeCounter
	case labels["quantile"] != "":
		info.Type = source.TypeSummary
	}
	return info
}

func metricType(t v1.MetricType) source.MetricType {
	switch t {
	case v1.MetricTypeCounter:
		return source.TypeCounter
	case v1.MetricTypeGauge:
		return source.TypeGauge
	case v1.MetricTypeHistogram, v1.MetricTypeGaugeHistogram:
		return source.TypeHistogram
	case v1.MetricTypeSummary:
		return source.TypeSummary
	}
	return source.TypeUnknown
}

// Fetch runs each id as a query_range over r, in chunks of at most MaxPoints
// points, Concurrency queries at a time. An id is a selector, normally one
// ListSeries gave; when it matches several series the one whose labels
// render to exactly id is taken, and an id matching several series none of
// which renders to it is an error. An id that matches nothing in r comes
// back all NaN: the API cannot tell an unknown series from a silent one.
func (s *Source) Fetch(ctx context.Context, ids []string, r source.Range) ([]source.Series, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("promsource: fetch: %w", err)
	}
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return nil, errors.New("promsource: fetch: empty series id")
		}
	}
	meta := s.cachedMetadata()
	out := make([]source.Series, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for range min(s.cfg.Concurrency, len(ids)) {
		wg.Go(func() {
			for i := range next {
				ser, err := s.fetchOne(ctx, ids[i], r, meta)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				out[i] = ser
				mu.Unlock()
			}
		})
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("promsource: fetch: %w", err)
	}
	return out, nil
}

func (s *Source) fetchOne(ctx context.Context, id string, r source.Range, meta map[string]v1.Metadata) (source.Series, error) {
	points := r.Points()
	vals := make([]float64, points)
	for i := range vals {
		vals[i] = math.NaN()
	}
	ser := source.Series{Start: r.Start, Step: r.Step, Values: vals}
	var picked model.Metric
	for _, c := range chunks(r, s.cfg.MaxPoints) {
		m, err := s.queryRange(ctx, id, c)
		if err != nil {
			return ser, err
		}
		stream, err := pick(id, m)
		if err != nil {
			return ser, fmt.Errorf("promsource: fetch %s: %w", id, err)
		}
		if stream == nil {
			continue
		}
		if picked == nil {
			picked = stream.Metric
		}
		for _, p := range stream.Values {
			if i, ok := gridIndex(p.Timestamp.Time(), r); ok {
				vals[i] = float64(p.Value)
			}
		}
	}
	if picked != nil {
		ser.Info = seriesInfo(model.LabelSet(picked), meta)
	}
	ser.Info.ID = id
	if ser.Info.Metric == "" {
		ser.Info.Type = source.TypeUnknown
	}
	return ser, nil
}

// pick chooses id's stream among a query's results.
func pick(id string, m model.Matrix) (*model.SampleStream, error) {
	switch len(m) {
	case 0:
		return nil, nil
	case 1:
		return m[0], nil
	}
	for _, stream := range m {
		if streamID(stream.Metric) == id {
			return stream, nil
		}
	}
	return nil, fmt.Errorf("selector matches %d series; use an ID from ListSeries", len(m))
}

func streamID(m model.Metric) string {
	labels := map[string]string{}
	for k, v := range m {
		if k != model.MetricNameLabel {
			labels[string(k)] = string(v)
		}
	}
	return source.SelectorID(string(m[model.MetricNameLabel]), labels)
}

// chunks splits r's grid into ranges of at most maxPoints points each.
func chunks(r source.Range, maxPoints int) []v1.Range {
	points := r.Points()
	var out []v1.Range
	for first := 0; first < points; first += maxPoints {
		last := min(first+maxPoints, points) - 1
		out = append(out, v1.Range{
			Start: r.Start.Add(time.Duration(first) * r.Step),
			End:   r.Start.Add(time.Duration(last) * r.Step),
			Step:  r.Step,
		})
	}
	return out
}

// gridIndex places a returned timestamp (millisecond precision) on r's grid.
func gridIndex(ts time.Time, r source.Range) (int, bool) {
	d := ts.Sub(r.Start)
	i := int((d + r.Step/2) / r.Step)
	if d < -time.Millisecond || i >= r.Points() {
		return 0, false
	}
	off := d - time.Duration(i)*r.Step
	if off > time.Millisecond || off < -time.Millisecond {
		return 0, false
	}
	return i, true
}

func (s *Source) queryRange(ctx context.Context, query string, rg v1.Range) (model.Matrix, error) {
	val, _, _, err := s.api.QueryRange(ctx, query, rg)
	if err != nil {
		return nil, s.wrap(err, "query_range %s from %s to %s step %v", query, rg.Start.UTC().Format(time.RFC3339), rg.End.UTC().Format(time.RFC3339), rg.Step)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("promsource: query_range %s: the server answered a %s, not a matrix", query, val.Type())
	}
	return m, nil
}

// Incidents evaluates IncidentQuery over [start, end) and turns each run of
// non-zero samples of a series labelled with the service into an incident,
// named after its alertname label (else its metric name). An incident runs
// from its first sample to one step past its last.
func (s *Source) Incidents(ctx context.Context, service string, start, end time.Time) ([]source.Incident, error) {
	if !end.After(start) {
		return nil, fmt.Errorf("promsource: incidents: empty period %v to %v", start, end)
	}
	known, err := s.services(ctx, start, end)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(known, service) {
		return nil, fmt.Errorf("promsource: %w %q: no series with %s=%q between %v and %v", source.ErrUnknownService, service, s.cfg.ServiceLabel, service, start, end)
	}
	step := s.cfg.IncidentStep
	r := source.Range{Start: start, End: end.Add(-time.Nanosecond), Step: step}
	if r.End.Before(r.Start) {
		r.End = r.Start
	}
	type track struct {
		metric model.Metric
		times  []time.Time
	}
	tracks := map[model.Fingerprint]*track{}
	for _, c := range chunks(r, s.cfg.MaxPoints) {
		m, err := s.queryRange(ctx, s.cfg.IncidentQuery, c)
		if err != nil {
			return nil, err
		}
		for _, stream := range m {
			if string(stream.Metric[model.LabelName(s.cfg.ServiceLabel)]) != service {
				continue
			}
			fp := stream.Metric.Fingerprint()
			tr, ok := tracks[fp]
			if !ok {
				tr = &track{metric: stream.Metric}
				tracks[fp] = tr
			}
			for _, p := range stream.Values {
				if v := float64(p.Value); v != 0 && !math.IsNaN(v) {
					tr.times = append(tr.times, p.Timestamp.Time())
				}
			}
		}
	}
	var out []source.Incident
	for _, tr := range tracks {
		out = append(out, runs(tr.metric, tr.times, step, service)...)
	}
	slices.SortFunc(out, func(a, b source.Incident) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// runs cuts a series' sample times into incidents wherever two samples are
// more than a step apart.
func runs(m model.Metric, times []time.Time, step time.Duration, service string) []source.Incident {
	if len(times) == 0 {
		return nil
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	name := string(m[model.AlertNameLabel])
	if name == "" {
		name = string(m[model.MetricNameLabel])
	}
	if name == "" {
		name = "incident"
	}
	labels := map[string]string{}
	for k, v := range m {
		if k != model.MetricNameLabel {
			labels[string(k)] = string(v)
		}
	}
	var out []source.Incident
	open := times[0]
	for i := 1; i <= len(times); i++ {
		if i < len(times) && times[i].Sub(times[i-1]) <= step+time.Millisecond {
			continue
		}
		lbl := make(map[string]string, len(labels))
		for k, v := range labels {
			lbl[k] = v
		}
		out = append(out, source.Incident{Service: service, Name: name, Start: open, End: times[i-1].Add(step), Labels: lbl})
		if i < len(times) {
			open = times[i]
		}
	}
	return out
}

// wrap adds what was asked to an API error, and the server's own words where
// it gave some.
func (s *Source) wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && apiErr.Detail != "" {
		detail := strings.TrimSpace(apiErr.Detail)
		if len(detail) > 300 {
			detail = detail[:300] + "..."
		}
		return fmt.Errorf("promsource: %s at %s: %w (server said: %s)", what, s.cfg.URL, err, detail)
	}
	return fmt.Errorf("promsource: %s at %s: %w", what, s.cfg.URL, err)
}
