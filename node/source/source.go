// Package source defines how a node reads its organization's metrics: a
// Prometheus or Mimir server in production, the embedded 5G-core simulator by
// default, CSV datasets for evaluation. The learning code never sees which.
package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MetricType is the Prometheus type of a metric family.
type MetricType string

// Metric types.
const (
	TypeCounter   MetricType = "counter"
	TypeGauge     MetricType = "gauge"
	TypeHistogram MetricType = "histogram"
	TypeSummary   MetricType = "summary"
	TypeUnknown   MetricType = "unknown"
)

// SeriesInfo describes one candidate series of a service.
type SeriesInfo struct {
	// ID identifies the series within the source, e.g. the PromQL selector
	// `fivegs_amffunction_rm_reginitreq{service="amf"}`; Fetch takes it back.
	ID     string            `json:"id"`
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels,omitempty"`
	Type   MetricType        `json:"type"`
	Help   string            `json:"help,omitempty"`
	Unit   string            `json:"unit,omitempty"`
}

// Range is a closed time range sampled at Step.
type Range struct {
	Start time.Time
	End   time.Time
	Step  time.Duration
}

// Validate refuses empty and inverted ranges and non-positive steps.
func (r Range) Validate() error {
	switch {
	case r.Step <= 0:
		return errors.New("range: step must be positive")
	case r.Start.IsZero() || r.End.IsZero():
		return errors.New("range: start and end must be set")
	case !r.End.After(r.Start):
		return errors.New("range: empty range (end is not after start)")
	}
	return nil
}

// Points returns how many samples the range holds at its step.
func (r Range) Points() int { return int(r.End.Sub(r.Start)/r.Step) + 1 }

// Series is fetched data of one series on a regular grid: Values[i] is the
// value at Start + i*Step, NaN where the source had no sample (a gap).
// Values are raw: a counter is its running total, and a counter reset (a
// restarted process) shows as a drop; converting to rates and handling
// resets is the consumer's job.
type Series struct {
	Info   SeriesInfo
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Incident is a period during which a service violated (or was at risk of
// violating) its objectives: a firing alert, an injected fault, a labelled
// anomaly.
type Incident struct {
	Service string    `json:"service"`
	Name    string    `json:"name"` // alert name, fault kind, "anomaly"
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Metrics is the ground truth where the source knows it (the simulator's
	// faults, SMD's interpretation labels): the metrics the incident moved.
	Metrics []string `json:"metrics,omitempty"`
	// Labels carries source-specific detail (severity, fault parameters).
	Labels map[string]string `json:"labels,omitempty"`
}

// Source reads one organization's metrics.
type Source interface {
	// Services lists the services the source has data for.
	Services(ctx context.Context) ([]string, error)
	// ListSeries lists the candidate series of a service. An unknown service
	// is an error wrapping ErrUnknownService.
	ListSeries(ctx context.Context, service string) ([]SeriesInfo, error)
	// Fetch returns the series named by ids over r, aligned on r's grid.
	Fetch(ctx context.Context, ids []string, r Range) ([]Series, error)
	// Incidents lists incidents of a service overlapping [start, end).
	Incidents(ctx context.Context, service string, start, end time.Time) ([]Incident, error)
}

// ErrUnknownService is wrapped by sources asked about a service they lack.
var ErrUnknownService = errors.New("unknown service")

// SelectorID renders a series identity as a PromQL selector with its labels
// sorted by name, e.g. `up{job="amf",service="amf"}`, so that the same series
// gets the same ID whichever source lists it. Values are quoted with Go
// escaping, which PromQL string literals accept.
func SelectorID(metric string, labels map[string]string) string {
	if len(labels) == 0 {
		return metric
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[name]))
	}
	b.WriteByte('}')
	return b.String()
}

// ErrNotEnoughHistory is wrapped when a source holds too little history
// for what was asked (a fresh Prometheus, a service that appeared lately).
var ErrNotEnoughHistory = errors.New("not enough history")

// ErrNoIncidents is wrapped when a service had no known incident in the
// range asked about, where incidents were needed (a ranking by deviation
// during incidents).
var ErrNoIncidents = errors.New("no known incidents")

// NotEnoughHistoryError says how much history was needed and how much the
// source had.
type NotEnoughHistoryError struct {
	What    string // what needed it: "evidence for amf", "training"
	Needed  time.Duration
	Present time.Duration
}

func (e *NotEnoughHistoryError) Error() string {
	return fmt.Sprintf("%s: not enough history: %s needed, %s present", e.What, FormatSpan(e.Needed), FormatSpan(e.Present))
}

// Unwrap makes the error match ErrNotEnoughHistory.
func (e *NotEnoughHistoryError) Unwrap() error { return ErrNotEnoughHistory }

// FormatSpan writes a span of history the way operators say it: "7d",
// "1d6h", "37m".
func FormatSpan(d time.Duration) string {
	if d <= 0 {
		return "0m"
	}
	d = d.Truncate(time.Minute)
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h := rest / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := (rest % time.Hour) / time.Minute; m > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}
