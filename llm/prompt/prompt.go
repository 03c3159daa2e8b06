// Package prompt writes what an LLM is asked for an SLO: a system prompt,
// few-shot examples, the service's evidence (ranked metrics, candidate SLIs
// with their PromQL and history), and the JSON schema its answer must follow.
// Inference (package ollama) and fine-tuning datasets (package finetune)
// share it, so a fine-tuned model sees exactly the prompts it is used with.
package prompt

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// System is the system prompt.
const System = `You are an SRE assistant that writes service level objectives for Prometheus.
Answer with one JSON object and nothing else, following the given schema.
Rules:
- Use only the metrics listed for the service, with their exact names and labels.
- Every query ranges over the alert window, written literally as {{.window}}, e.g. rate(x_total[{{.window}}]).
- Prefer good_query with total_query (ratios of sums); use error_ratio_query only when no good/total pair exists.
- good_query and total_query return one series each: wrap them in sum(...).
- kind is ratio for success/request counters, latency for histogram buckets (set latency_threshold_seconds to the bucket's le), availability for up/ready gauges.
- objective is a ratio in (0,1) the service met in its history with margin (it may spend at most half of its error budget on the history); prefer round values such as 0.99, 0.995, 0.999.
- name is lower-case letters, digits and '-', e.g. "checkout-success".`

// Limits bound the strings of an answer, so even a model that rambles ends
// it. Zero fields take DefaultLimits' values.
type Limits struct {
	Name, Description, Query int
}

// DefaultLimits fit every query the builtin generator writes.
var DefaultLimits = Limits{Name: 48, Description: 160, Query: 240}

// Schema returns the JSON schema of the answer for a service and period.
// Both are pinned by enums.
func Schema(service, period string, lim Limits) json.RawMessage {
	lim.Name = cmp.Or(lim.Name, DefaultLimits.Name)
	lim.Description = cmp.Or(lim.Description, DefaultLimits.Description)
	lim.Query = cmp.Or(lim.Query, DefaultLimits.Query)
	str := func(max int) map[string]any { return map[string]any{"type": "string", "maxLength": max} }
	s := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name":                      str(lim.Name),
			"description":               str(lim.Description),
			"service":                   map[string]any{"type": "string", "enum": []string{service}},
			"kind":                      map[string]any{"type": "string", "enum": []string{string(nft.KindRatio), string(nft.KindLatency), string(nft.KindAvailability)}},
			"good_query":                str(lim.Query),
			"total_query":               str(lim.Query),
			"error_ratio_query":         str(lim.Query),
			"latency_threshold_seconds": map[string]any{"type": "number"},
			"objective":                 map[string]any{"type": "number"},
			"period":                    map[string]any{"type": "string", "enum": []string{period}},
		},
		"required": []string{"name", "description", "service", "kind", "good_query", "total_query", "objective", "period"},
	}
	b, _ := json.Marshal(s) // a map of strings and slices always marshals
	return b
}

// Example is a few-shot example: evidence and the answer to give.
type Example struct {
	Input  builtin.Input
	Answer slo.Spec
}

// Messages returns the full conversation for a service: system prompt, the
// few-shot examples as earlier turns, then the service's evidence.
func Messages(in builtin.Input, cands []builtin.Candidate, examples []Example) []Message {
	msgs := []Message{{Role: RoleSystem, Content: System}}
	for _, ex := range examples {
		exCands, _ := builtin.Candidates(ex.Input, builtin.Options{})
		answer, _ := json.Marshal(ex.Answer)
		msgs = append(msgs,
			Message{Role: RoleUser, Content: Evidence(ex.Input, exCands)},
			Message{Role: RoleAssistant, Content: string(answer)})
	}
	return append(msgs, Message{Role: RoleUser, Content: Evidence(in, cands)})
}

// Evidence describes a service for the model: its metrics by relevance and
// the candidate SLIs the builtin analysis found, with PromQL and history.
func Evidence(in builtin.Input, cands []builtin.Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Service: %s\n", in.Service)
	if in.Description != "" {
		fmt.Fprintf(&b, "Description: %s\n", in.Description)
	}
	period := in.Period
	if period == "" {
		period = "30d"
	}
	fmt.Fprintf(&b, "Period: %s\n\nMetrics, most relevant first (relevance, stability, type):\n", period)
	for _, m := range sortedMetrics(in.Metrics) {
		fmt.Fprintf(&b, "- %s%s (%.3f, %.2f, %s)", m.Name, selectorText(m.Selector), m.Relevance, m.Stability, m.Type)
		if m.Help != "" {
			fmt.Fprintf(&b, ": %s", m.Help)
		}
		if len(m.Buckets) > 0 {
			les := make([]string, len(m.Buckets))
			for i, bk := range m.Buckets {
				les[i] = bk.LE
			}
			fmt.Fprintf(&b, " buckets le=%s", strings.Join(les, ","))
		}
		b.WriteByte('\n')
	}
	if len(cands) > 0 {
		b.WriteString("\nCandidate SLIs (PromQL; achieved over history):\n")
		for _, c := range cands {
			fmt.Fprintf(&b, "- %s (%s): good %s ; total %s ; achieved %s over %d days",
				c.Spec.Name, c.Spec.Kind, c.Spec.GoodQuery, c.Spec.TotalQuery, achieved(c), len(c.Total))
			if c.Spec.LatencyThreshold > 0 {
				fmt.Fprintf(&b, " ; threshold %gs", c.Spec.LatencyThreshold)
			}
			b.WriteByte('\n')
		}
	}
	b.WriteString("\nWrite the SLO for the most relevant SLI.")
	return b.String()
}

func achieved(c builtin.Candidate) string {
	var g, t float64
	for i := range c.Total {
		if i < len(c.Good) {
			g += c.Good[i]
		}
		t += c.Total[i]
	}
	if !(t > 0) {
		return "unknown"
	}
	return fmt.Sprintf("%.4f%%", math.Min(1, g/t)*100)
}

// sortedMetrics orders metrics by relevance, most relevant first; equal
// relevance keeps the input order.
func sortedMetrics(ms []builtin.Metric) []builtin.Metric {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b builtin.Metric) int { return cmp.Compare(b.Relevance, a.Relevance) })
	return out
}

func selectorText(sel map[string]string) string {
	if len(sel) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, sel[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// DefaultExamples are the few-shot examples: an HTTP service with a
// success ratio and a queue worker with a latency histogram.
func DefaultExamples() []Example {
	week := func(v float64) []float64 {
		out := make([]float64, 7)
		for i := range out {
			out[i] = v
		}
		return out
	}
	return []Example{
		{
			Input: builtin.Input{
				Service: "checkout", Description: "HTTP checkout API", Period: "30d",
				Metrics: []builtin.Metric{
					{Name: "checkout_requests_total", Relevance: 0.91, Stability: 0.9, Type: builtin.Counter, Selector: map[string]string{"job": "checkout"}, Daily: week(1e6)},
					{Name: "checkout_requests_success", Relevance: 0.88, Stability: 0.85, Type: builtin.Counter, Selector: map[string]string{"job": "checkout"}, Daily: week(999700)},
					{Name: "process_resident_memory_bytes", Relevance: 0.2, Stability: 0.3, Type: builtin.Gauge},
				},
			},
			Answer: slo.Spec{
				Name: "checkout-success", Service: "checkout", Kind: nft.KindRatio,
				Description: "Share of checkout requests that succeed.",
				GoodQuery:   `sum(rate(checkout_requests_success{job="checkout"}[{{.window}}]))`,
				TotalQuery:  `sum(rate(checkout_requests_total{job="checkout"}[{{.window}}]))`,
				Objective:   0.999, Period: "30d",
			},
		},
		{
			Input: builtin.Input{
				Service: "worker", Description: "queue worker", Period: "7d",
				Metrics: []builtin.Metric{
					{Name: "job_duration_seconds", Relevance: 0.8, Stability: 0.7, Type: builtin.Histogram, Daily: week(1e4),
						Buckets: []builtin.Bucket{{LE: "1", Daily: week(9000)}, {LE: "5", Daily: week(9990)}}},
				},
			},
			Answer: slo.Spec{
				Name: "job-duration-latency", Service: "worker", Kind: nft.KindLatency,
				Description:      "Share of jobs done within 5s.",
				GoodQuery:        `sum(rate(job_duration_seconds_bucket{le="5"}[{{.window}}]))`,
				TotalQuery:       `sum(rate(job_duration_seconds_count[{{.window}}]))`,
				LatencyThreshold: 5, Objective: 0.99, Period: "7d",
			},
		},
	}
}
