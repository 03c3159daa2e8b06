package cli

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/node/source"
)

// Evidence builds the builtin generator's input for one service from a
// metric source's history over r (see EvidenceFor), naming the service by
// the label "service".
func Evidence(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error) {
	return EvidenceFor("service")(ctx, src, service, r)
}

// EvidenceFor returns the evidence reader of sources that name a service
// by serviceLabel. The input holds every counter's daily increase, every
// gauge's daily mean, every histogram's daily _count and bucket increases,
// over the 24-hour days of r counted back from its end (a partial day at
// its start is left out).
//
// The metrics are portable: a metric's selector names only the service
// label (and a bucket its le), never scrape-target labels such as instance
// or job that no other organization shares. Series of one metric that
// differ in other labels are combined (counters and buckets summed,
// gauges averaged), as the SLI's sum() over the service would.
//
// Days before the service's first sample are left out, so the input says
// how much history the source really had; with less than one whole day
// the error is a *source.NotEnoughHistoryError. Offline there is no
// federated ranking, so metrics are ranked in the order the source lists
// them (relevance falls linearly from 1; see RankFirst) with stability 0;
// a node fills both from its round instead.
func EvidenceFor(serviceLabel string) func(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error) {
	return func(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error) {
		return evidence(ctx, src, serviceLabel, service, r)
	}
}

func evidence(ctx context.Context, src source.Source, serviceLabel, service string, r source.Range) (builtin.Input, error) {
	if err := r.Validate(); err != nil {
		return builtin.Input{}, err
	}
	perDay := int(24 * time.Hour / r.Step)
	if perDay < 1 || 24*time.Hour%r.Step != 0 {
		return builtin.Input{}, fmt.Errorf("evidence: step %v does not divide a day", r.Step)
	}
	infos, err := src.ListSeries(ctx, service)
	if err != nil {
		return builtin.Input{}, err
	}
	ids := make([]string, len(infos))
	listed := make(map[string]source.SeriesInfo, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
		listed[in.ID] = in
	}
	series, err := src.Fetch(ctx, ids, r)
	if err != nil {
		return builtin.Input{}, err
	}
	first := firstSample(series)
	points := r.Points()
	days := (points - 1) / perDay
	if first >= 0 {
		// Whole days counted back from the end that start at or after
		// the first sample.
		days = min(days, (points-1-first)/perDay)
	}
	if first < 0 || days < 1 {
		present := time.Duration(0)
		if first >= 0 {
			present = time.Duration(points-1-first) * r.Step
		}
		return builtin.Input{}, &source.NotEnoughHistoryError{What: "evidence for " + service, Needed: 24 * time.Hour, Present: present}
	}
	// The window the days cover, aligned on the range's end.
	offset := points - 1 - days*perDay
	in := builtin.Input{Service: service}
	sel := map[string]string{serviceLabel: service}
	index := map[string]int{}   // metric name -> index in in.Metrics
	counts := map[string]int{}  // gauge name -> series averaged
	buckets := map[string]int{} // metric + le -> index in its Buckets
	metric := func(name string, typ builtin.MetricType, help string) *builtin.Metric {
		i, ok := index[name]
		if !ok {
			i = len(in.Metrics)
			index[name] = i
			in.Metrics = append(in.Metrics, builtin.Metric{Name: name, Type: typ, Help: help, Selector: maps.Clone(sel)})
		}
		return &in.Metrics[i]
	}
	for _, s := range series {
		// The listing names and types every series; a fetch may not (a
		// series without a sample comes back unnamed).
		info, ok := listed[s.Info.ID]
		if !ok || info.Metric == "" {
			info = s.Info
		}
		if info.Metric == "" || len(s.Values) != points {
			continue // a series the source could not name or align
		}
		values := s.Values[offset:]
		typ := info.Type
		if typ == source.TypeUnknown {
			typ = inferType(info.Metric, values)
		}
		switch typ {
		case source.TypeCounter:
			m := metric(info.Metric, builtin.Counter, info.Help)
			m.Daily = addInto(m.Daily, dailyIncrease(values, perDay, days))
		case source.TypeGauge:
			m := metric(info.Metric, builtin.Gauge, info.Help)
			daily := dailyMean(values, perDay, days, isUpIndicator(info.Metric))
			n := counts[info.Metric]
			counts[info.Metric] = n + 1
			if n == 0 {
				m.Daily = daily
				continue
			}
			for d := range m.Daily {
				m.Daily[d] = (m.Daily[d]*float64(n) + daily[d]) / float64(n+1)
			}
		case source.TypeHistogram:
			base, part := histogramPart(info.Metric)
			if part == "_sum" || part == "" {
				continue // the generator needs counts, not sums
			}
			m := metric(base, builtin.Histogram, info.Help)
			daily := dailyIncrease(values, perDay, days)
			if part == "_count" {
				m.Daily = addInto(m.Daily, daily)
				continue
			}
			le := info.Labels["le"]
			key := base + "\x00" + le
			if j, ok := buckets[key]; ok {
				m.Buckets[j].Daily = addInto(m.Buckets[j].Daily, daily)
				continue
			}
			buckets[key] = len(m.Buckets)
			m.Buckets = append(m.Buckets, builtin.Bucket{LE: le, Daily: daily})
		}
	}
	rankInOrder(in.Metrics)
	return in, nil
}

// inferType types a series its source could not (a backfilled Prometheus
// keeps no metadata, and Open5GS counters lack the _total suffix): an
// up/ready indicator is a gauge; a series that only grows, but for rare
// drops to a small fraction of its value (restarts), is a counter; any
// other a gauge.
func inferType(metric string, values []float64) source.MetricType {
	if isUpIndicator(metric) {
		return source.TypeGauge
	}
	last := math.NaN()
	rises, resets, samples := 0, 0, 0
	for _, v := range values {
		if math.IsNaN(v) {
			continue
		}
		samples++
		switch {
		case math.IsNaN(last):
		case v > last:
			rises++
		case v < last && v <= last/2:
			resets++
		case v < last:
			return source.TypeGauge // a counter never dips
		}
		last = v
	}
	if rises == 0 || resets*100 > samples {
		return source.TypeGauge
	}
	return source.TypeCounter
}

// firstSample is the first grid index at which any series has a sample,
// -1 when none has.
func firstSample(series []source.Series) int {
	first := -1
	for _, s := range series {
		for i, v := range s.Values {
			if first >= 0 && i >= first {
				break
			}
			if !math.IsNaN(v) {
				first = i
				break
			}
		}
	}
	return first
}

// addInto adds b to a element-wise, a being nil at first.
func addInto(a, b []float64) []float64 {
	if a == nil {
		return slices.Clone(b)
	}
	for i := range a {
		a[i] += b[i]
	}
	return a
}

// rankInOrder gives metrics relevance falling linearly from 1 in their order.
func rankInOrder(ms []builtin.Metric) {
	for i := range ms {
		ms[i].Relevance = 1 - float64(i)/float64(len(ms))
	}
}

// RankFirst moves the named metrics (histograms by their base name) to the
// front, in the order given, and ranks all in the new order: the offline
// stand-in for a federated ranking. A name the evidence lacks is an error.
func RankFirst(in builtin.Input, names []string) (builtin.Input, error) {
	var front []builtin.Metric
	rest := slices.Clone(in.Metrics)
	for _, name := range names {
		n := 0
		rest = slices.DeleteFunc(rest, func(m builtin.Metric) bool {
			if m.Name == name {
				front = append(front, m)
				n++
				return true
			}
			return false
		})
		if n == 0 {
			return builtin.Input{}, fmt.Errorf("metric %q is not among the service's metrics", name)
		}
	}
	in.Metrics = append(front, rest...)
	rankInOrder(in.Metrics)
	return in, nil
}

func histogramPart(metric string) (base, part string) {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if b, ok := strings.CutSuffix(metric, suffix); ok {
			return b, suffix
		}
	}
	return metric, ""
}

// dailyIncrease is each day's increase of a raw counter, as Prometheus's
// increase() counts it: a drop is a reset, after which the counter counts
// from zero; gaps (NaN) are bridged from the last sample seen.
func dailyIncrease(values []float64, perDay, days int) []float64 {
	out := make([]float64, days)
	last := math.NaN()
	for i, v := range values {
		if math.IsNaN(v) {
			continue
		}
		if !math.IsNaN(last) && i > 0 {
			d := v - last
			if d < 0 {
				d = v
			}
			if day := (i - 1) / perDay; day < days {
				out[day] += d
			}
		}
		last = v
	}
	return out
}

// isUpIndicator tells an up/ready gauge (1 up, 0 down), which can carry an
// availability SLI.
func isUpIndicator(metric string) bool {
	return slices.ContainsFunc(strings.Split(metric, "_"), func(w string) bool {
		return w == "up" || w == "ready" || w == "available"
	})
}

// dailyMean is each day's mean of a gauge's samples; 0 for a day without a
// sample. Gaps (NaN) are left out, except in an up/ready indicator after its
// first sample (gapsAreDown): there a missing sample is a target that was
// not up (the simulator shows a failed pod that way; Prometheus records up
// as 0), and leaving it out would credit the service with downtime as
// availability.
func dailyMean(values []float64, perDay, days int, gapsAreDown bool) []float64 {
	out := make([]float64, days)
	seen := false
	for day := range days {
		var sum float64
		var n int
		for _, v := range values[day*perDay : min(len(values), (day+1)*perDay)] {
			switch {
			case !math.IsNaN(v):
				sum += v
				n++
				seen = true
			case gapsAreDown && seen:
				n++
			}
		}
		if n > 0 {
			out[day] = sum / float64(n)
		}
	}
	return out
}

// metricNames lists the metric names an input's queries may use: each
// metric, and a histogram's _bucket, _count and _sum series.
func metricNames(in builtin.Input) []string {
	var out []string
	for _, m := range in.Metrics {
		out = append(out, m.Name)
		if m.Type == builtin.Histogram {
			out = append(out, m.Name+"_bucket", m.Name+"_count", m.Name+"_sum")
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
