// Package export writes an SLO definition in other tools' formats: an
// OpenSLO v1 document and a Sloth prometheus/v1 spec. Both are YAML and
// deterministic.
package export

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// OpenSLO returns the definition as OpenSLO v1 documents: an SLO with its
// indicator inline (ratioMetric good/total, or raw error ratio) and its
// objective over a rolling window, plus one AlertCondition per window pair
// (its long window as lookback; the short window as an annotation, since
// OpenSLO conditions have a single window).
// Queries keep the {{.window}} placeholder: OpenSLO leaves windowing of
// Prometheus queries to the tool that reads them.
func OpenSLO(d nft.Definition) (string, error) {
	if err := check(d); err != nil {
		return "", err
	}
	metric := func(q string) map[string]any {
		return map[string]any{"metricSource": map[string]any{"type": "Prometheus", "spec": map[string]any{"query": q}}}
	}
	var ratio map[string]any
	if d.SLI.ErrorRatioQuery != "" {
		ratio = map[string]any{"rawType": "failure", "raw": metric(d.SLI.ErrorRatioQuery)}
	} else {
		ratio = map[string]any{"good": metric(d.SLI.GoodQuery), "total": metric(d.SLI.TotalQuery)}
	}
	var alertPolicies []any
	docs := []any{}
	for _, w := range d.SLO.AlertPolicy {
		name := d.Name + "-" + w.Name
		docs = append(docs, map[string]any{
			"apiVersion": "openslo/v1",
			"kind":       "AlertCondition",
			// OpenSLO's burn-rate condition has one lookback window; the
			// short window of the pair is kept as an annotation.
			"metadata": map[string]any{"name": name, "annotations": map[string]any{"srellama.io/short-window": w.ShortWindow}},
			"spec": map[string]any{
				"severity": string(w.Severity),
				"condition": map[string]any{
					"kind": "burnrate", "op": "gt", "threshold": w.BurnRate, "lookbackWindow": w.LongWindow,
				},
			},
		})
		alertPolicies = append(alertPolicies, map[string]any{
			"kind":     "AlertPolicy",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"conditions": []any{map[string]any{"conditionRef": name}},
			},
		})
	}
	slo := map[string]any{
		"apiVersion": "openslo/v1",
		"kind":       "SLO",
		"metadata":   map[string]any{"name": render.ID(d), "displayName": d.Name},
		"spec": map[string]any{
			"description":     d.Description,
			"service":         d.SLI.Service,
			"budgetingMethod": "Occurrences",
			"timeWindow":      []any{map[string]any{"duration": d.SLO.Period, "isRolling": true}},
			"indicator": map[string]any{
				"metadata": map[string]any{"name": render.ID(d) + "-sli"},
				"spec":     map[string]any{"ratioMetric": ratio},
			},
			"objectives":    []any{map[string]any{"displayName": d.Name, "target": d.SLO.Objective}},
			"alertPolicies": alertPolicies,
		},
	}
	return encode(append([]any{slo}, docs...)...)
}

// Sloth returns the definition as a Sloth prometheus/v1 spec. Sloth counts
// errors, so a good/total SLI becomes error_query = total - good. The spec
// format has no period field (Sloth takes it from --default-slo-period), so
// the period travels as the slo_period label: generate with
// --default-slo-period set to it.
func Sloth(d nft.Definition) (string, error) {
	if err := check(d); err != nil {
		return "", err
	}
	var sli map[string]any
	if d.SLI.ErrorRatioQuery != "" {
		sli = map[string]any{"raw": map[string]any{"error_ratio_query": d.SLI.ErrorRatioQuery}}
	} else {
		sli = map[string]any{"events": map[string]any{
			"error_query": "(" + d.SLI.TotalQuery + ") - (" + d.SLI.GoodQuery + ")",
			"total_query": d.SLI.TotalQuery,
		}}
	}
	spec := map[string]any{
		"version": "prometheus/v1",
		"service": d.SLI.Service,
		"labels":  map[string]any{"slo_period": d.SLO.Period},
		"slos": []any{map[string]any{
			"name":        d.Name,
			"objective":   percent(d.SLO.Objective),
			"description": d.Description,
			"sli":         sli,
			"alerting": map[string]any{
				"name":         render.AlertBurn,
				"page_alert":   map[string]any{"labels": map[string]any{"severity": string(nft.SeverityPage)}},
				"ticket_alert": map[string]any{"labels": map[string]any{"severity": string(nft.SeverityTicket)}},
			},
		}},
	}
	return encode(spec)
}

func check(d nft.Definition) error {
	switch {
	case !nft.IsValidName(d.Name) || !nft.IsValidName(d.SLI.Service):
		return fmt.Errorf("export: invalid SLO or service name %q/%q", d.Name, d.SLI.Service)
	case d.SLI.ErrorRatioQuery == "" && (d.SLI.GoodQuery == "" || d.SLI.TotalQuery == ""):
		return fmt.Errorf("export %s: no SLI query", d.Name)
	case !(d.SLO.Objective > 0 && d.SLO.Objective < 1):
		return fmt.Errorf("export %s: objective %v is outside (0,1)", d.Name, d.SLO.Objective)
	}
	if _, err := nft.ParseDuration(d.SLO.Period); err != nil {
		return fmt.Errorf("export %s: period: %w", d.Name, err)
	}
	return nil
}

func encode(docs ...any) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	return buf.String(), nil
}

func percent(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(math.Round(f*100*1e9)/1e9, 'g', -1, 64), 64)
	return v
}
