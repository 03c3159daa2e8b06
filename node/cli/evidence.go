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
// metric source's history over r: every counter's daily increase, every
// gauge's daily mean, every histogram's daily _count and bucket increases.
// r should span whole days from its start; a trailing partial day is left
// out. Offline there is no federated ranking, so metrics are ranked in the
// order the source lists them (relevance falls linearly from 1; see
// RankFirst) with stability 0; a node fills both from its round instead.
func Evidence(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error) {
	if err := r.Validate(); err != nil {
		return builtin.Input{}, err
	}
	perDay := int(24 * time.Hour / r.Step)
	if perDay < 1 || 24*time.Hour%r.Step != 0 {
		return builtin.Input{}, fmt.Errorf("evidence: step %v does not divide a day", r.Step)
	}
	days := (r.Points() - 1) / perDay
	if days < 1 {
		return builtin.Input{}, fmt.Errorf("evidence: history %v is shorter than a day", r.End.Sub(r.Start))
	}
	infos, err := src.ListSeries(ctx, service)
	if err != nil {
		return builtin.Input{}, err
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	series, err := src.Fetch(ctx, ids, r)
	if err != nil {
		return builtin.Input{}, err
	}
	in := builtin.Input{Service: service}
	histograms := map[string]int{} // family key -> index in in.Metrics
	for _, s := range series {
		info := s.Info
		switch info.Type {
		case source.TypeCounter:
			in.Metrics = append(in.Metrics, builtin.Metric{Name: info.Metric, Type: builtin.Counter, Help: info.Help,
				Selector: info.Labels, Daily: dailyIncrease(s.Values, perDay, days)})
		case source.TypeGauge:
			in.Metrics = append(in.Metrics, builtin.Metric{Name: info.Metric, Type: builtin.Gauge, Help: info.Help,
				Selector: info.Labels, Daily: dailyMean(s.Values, perDay, days, isUpIndicator(info.Metric))})
		case source.TypeHistogram:
			base, part := histogramPart(info.Metric)
			if part == "_sum" || part == "" {
				continue // the generator needs counts, not sums
			}
			sel := withoutLabel(info.Labels, "le")
			key := source.SelectorID(base, sel)
			i, ok := histograms[key]
			if !ok {
				i = len(in.Metrics)
				histograms[key] = i
				in.Metrics = append(in.Metrics, builtin.Metric{Name: base, Type: builtin.Histogram, Help: info.Help, Selector: sel})
			}
			daily := dailyIncrease(s.Values, perDay, days)
			if part == "_count" {
				in.Metrics[i].Daily = daily
			} else {
				in.Metrics[i].Buckets = append(in.Metrics[i].Buckets, builtin.Bucket{LE: info.Labels["le"], Daily: daily})
			}
		}
	}
	rankInOrder(in.Metrics)
	return in, nil
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

func withoutLabel(labels map[string]string, name string) map[string]string {
	out := maps.Clone(labels)
	delete(out, name)
	if len(out) == 0 {
		return nil
	}
	return out
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
