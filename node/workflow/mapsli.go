package workflow

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// SLIEvidence is an SLI evaluated on one organization's history.
type SLIEvidence struct {
	Days     int
	Events   float64 // total events (samples for an availability SLI)
	Good     float64
	Achieved float64 // Good/Events, 0 without events
}

// figures are the evidence as a decision records it.
func (e SLIEvidence) figures(def nft.Definition) map[string]float64 {
	return map[string]float64{
		"history_days": float64(e.Days),
		"events":       e.Events,
		"achieved":     e.Achieved,
		"objective":    def.SLO.Objective,
	}
}

// MapSLI evaluates an SLI on an organization's evidence. It maps the SLI
// onto the evidence's series by metric name (the service is the
// evidence's): a ratio by its good and total counters, a latency SLI by
// its histogram and the bucket whose bound is the agreed threshold, an
// availability SLI by its up/ready gauge. Query text, label order and
// scrape labels play no part, so an SLI proposed by one member is
// evaluated on another's own series. An SLI it cannot map is an error
// saying what is missing.
func MapSLI(in builtin.Input, sli nft.SLI) (SLIEvidence, error) {
	if sli.ErrorRatioQuery != "" {
		return SLIEvidence{}, errors.New("an error-ratio query cannot be mapped onto counters")
	}
	good, err := selectorOf(sli.GoodQuery)
	if err != nil {
		return SLIEvidence{}, fmt.Errorf("good query: %w", err)
	}
	total, err := selectorOf(sli.TotalQuery)
	if err != nil {
		return SLIEvidence{}, fmt.Errorf("total query: %w", err)
	}
	var g, t []float64
	switch sli.Kind {
	case nft.KindRatio:
		gm, err := metricOf(in, good.name, builtin.Counter)
		if err != nil {
			return SLIEvidence{}, err
		}
		tm, err := metricOf(in, total.name, builtin.Counter)
		if err != nil {
			return SLIEvidence{}, err
		}
		g, t = gm.Daily, tm.Daily
	case nft.KindLatency:
		base, ok := strings.CutSuffix(good.name, "_bucket")
		if !ok || good.le == "" {
			return SLIEvidence{}, fmt.Errorf("latency SLI %s does not select a histogram bucket", good.name)
		}
		hm, err := metricOf(in, base, builtin.Histogram)
		if err != nil {
			return SLIEvidence{}, err
		}
		bucket, err := bucketAt(hm, good.le)
		if err != nil {
			return SLIEvidence{}, err
		}
		g, t = bucket.Daily, hm.Daily
	case nft.KindAvailability:
		gm, err := metricOf(in, good.name, builtin.Gauge)
		if err != nil {
			return SLIEvidence{}, err
		}
		g = gm.Daily
		t = make([]float64, len(g))
		for i := range t {
			t[i] = 1
		}
	default:
		return SLIEvidence{}, fmt.Errorf("SLI kind %q cannot be mapped", sli.Kind)
	}
	if len(g) != len(t) {
		return SLIEvidence{}, fmt.Errorf("good and total histories differ in length (%d, %d days)", len(g), len(t))
	}
	ev := SLIEvidence{Days: len(t)}
	for i := range t {
		if finite(g[i]) && finite(t[i]) {
			ev.Good += min(g[i], t[i])
			ev.Events += t[i]
		}
	}
	if ev.Events > 0 {
		ev.Achieved = min(1, ev.Good/ev.Events)
	}
	return ev, nil
}

type selected struct {
	name string
	le   string
}

// selectorOf finds the one metric a query selects, and its le matcher.
func selectorOf(q string) (selected, error) {
	if q == "" {
		return selected{}, errors.New("empty query")
	}
	e, err := promQL.ParseExpr(render.Instantiate(q, "5m"))
	if err != nil {
		return selected{}, err
	}
	var out []selected
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selected{name: vs.Name}
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name == model.MetricNameLabel && s.name == "":
				s.name = m.Value
			case m.Name == "le" && m.Type == labels.MatchEqual:
				s.le = m.Value
			}
		}
		out = append(out, s)
		return nil
	})
	if len(out) != 1 || out[0].name == "" {
		return selected{}, fmt.Errorf("query %q selects %d metrics; one named metric is needed", q, len(out))
	}
	return out[0], nil
}

func metricOf(in builtin.Input, name string, typ builtin.MetricType) (builtin.Metric, error) {
	for _, m := range in.Metrics {
		if m.Name == name && m.Type == typ {
			return m, nil
		}
	}
	return builtin.Metric{}, fmt.Errorf("our %s has no %s %s", in.Service, typ, name)
}

// bucketAt finds the bucket whose bound equals le as a number ("0.5" and
// "0.50" are one bound).
func bucketAt(m builtin.Metric, le string) (builtin.Bucket, error) {
	want, err := strconv.ParseFloat(le, 64)
	if err != nil {
		return builtin.Bucket{}, fmt.Errorf("threshold le=%q is not a number", le)
	}
	var have []string
	for _, b := range m.Buckets {
		got, err := strconv.ParseFloat(b.LE, 64)
		if err == nil && (got == want || math.Abs(got-want) <= 1e-12*math.Abs(want)) {
			return b, nil
		}
		have = append(have, b.LE)
	}
	return builtin.Bucket{}, fmt.Errorf("our histogram %s has no bucket le=%q (ours: %s)", m.Name, le, strings.Join(have, ", "))
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// promQL parses PromQL as Prometheus does by default.
var promQL = parser.NewParser(parser.Options{})
