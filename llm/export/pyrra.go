package export

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// FormatPyrra is Pyrra's ServiceLevelObjective resource.
const FormatPyrra = "pyrra"

// PyrraSLO is Pyrra's pyrra.dev/v1alpha1 ServiceLevelObjective, the fields
// an export writes. Pyrra's Go module is not served by the module proxy
// here (v0.7.7, v0.8.4 and v0.9.0 were refused), so its own types and
// config parsing are not at hand.
type PyrraSLO struct {
	APIVersion string             `yaml:"apiVersion"`
	Kind       string             `yaml:"kind"`
	Metadata   PrometheusRuleMeta `yaml:"metadata"`
	Spec       PyrraSpec          `yaml:"spec"`
}

// PyrraSpec is the SLO: target in percent as a string, window, indicator.
type PyrraSpec struct {
	Description string         `yaml:"description,omitempty"`
	Target      string         `yaml:"target"`
	Window      string         `yaml:"window"`
	Indicator   PyrraIndicator `yaml:"indicator"`
	Alerting    PyrraAlerting  `yaml:"alerting"`
}

// PyrraIndicator is one of Pyrra's indicators.
type PyrraIndicator struct {
	Ratio     *PyrraRatio   `yaml:"ratio,omitempty"`
	Latency   *PyrraLatency `yaml:"latency,omitempty"`
	BoolGauge *PyrraMetric  `yaml:"bool_gauge,omitempty"`
}

// PyrraRatio counts errors among all events.
type PyrraRatio struct {
	Errors   PyrraMetric `yaml:"errors"`
	Total    PyrraMetric `yaml:"total"`
	Grouping []string    `yaml:"grouping,omitempty"`
}

// PyrraLatency counts requests faster than a histogram bucket.
type PyrraLatency struct {
	Success  PyrraMetric `yaml:"success"`
	Total    PyrraMetric `yaml:"total"`
	Grouping []string    `yaml:"grouping,omitempty"`
}

// PyrraMetric is a series selector; Pyrra builds the rates itself.
type PyrraMetric struct {
	Metric string `yaml:"metric"`
}

// PyrraAlerting names Pyrra's burn-rate alerts.
type PyrraAlerting struct {
	Name string `yaml:"name,omitempty"`
}

// ErrNoPyrraForm refuses SLIs Pyrra cannot express: its indicators take
// counter selectors, not PromQL, and its ratio counts errors, so a
// good/total ratio of counters (the 5G counters' shape) has no Pyrra form.
var ErrNoPyrraForm = errors.New("no Pyrra indicator expresses this SLI")

// Pyrra returns the definition as a Pyrra ServiceLevelObjective, when its
// SLI has one of Pyrra's shapes: an error ratio sum(rate(errors[w])) /
// sum(rate(total[w])), a latency SLI over a histogram bucket and its
// _count, or an availability gauge averaged over the window.
func Pyrra(d nft.Definition, opts KubeOptions) ([]byte, error) {
	if err := check(d); err != nil {
		return nil, err
	}
	ind, err := pyrraIndicator(d.SLI)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", d.Name, err)
	}
	period, _ := nft.ParseDuration(d.SLO.Period) // checked
	slo := PyrraSLO{
		APIVersion: "pyrra.dev/v1alpha1", Kind: "ServiceLevelObjective",
		Metadata: PrometheusRuleMeta{Name: DNSLabel(render.ID(d)), Namespace: opts.Namespace, Labels: opts.Labels},
		Spec: PyrraSpec{
			Description: d.Description, Target: percent(d.SLO.Objective), Window: nft.FormatDuration(period),
			Indicator: ind, Alerting: PyrraAlerting{Name: render.AlertBurn},
		},
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(slo); err != nil {
		return nil, fmt.Errorf("export %s: pyrra: %w", d.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func pyrraIndicator(sli nft.SLI) (PyrraIndicator, error) {
	switch {
	case sli.ErrorRatioQuery != "":
		expr, err := parse(sli.ErrorRatioQuery)
		if err != nil {
			return PyrraIndicator{}, err
		}
		b, ok := expr.(*parser.BinaryExpr)
		if !ok || b.Op != parser.DIV {
			return PyrraIndicator{}, fmt.Errorf("%w: the error ratio is not errors / total", ErrNoPyrraForm)
		}
		errSel, g1, err1 := rateOf(b.LHS)
		totSel, g2, err2 := rateOf(b.RHS)
		if err := errors.Join(err1, err2); err != nil {
			return PyrraIndicator{}, err
		}
		if strings.Join(g1, ",") != strings.Join(g2, ",") {
			return PyrraIndicator{}, fmt.Errorf("%w: errors and total are grouped differently", ErrNoPyrraForm)
		}
		return PyrraIndicator{Ratio: &PyrraRatio{Errors: PyrraMetric{errSel}, Total: PyrraMetric{totSel}, Grouping: g1}}, nil
	case sli.Kind == nft.KindLatency:
		good, err := parse(sli.GoodQuery)
		if err != nil {
			return PyrraIndicator{}, err
		}
		total, err := parse(sli.TotalQuery)
		if err != nil {
			return PyrraIndicator{}, err
		}
		s, g1, err1 := rateOf(good)
		t, g2, err2 := rateOf(total)
		if err := errors.Join(err1, err2); err != nil {
			return PyrraIndicator{}, err
		}
		if !strings.Contains(s, "_bucket") || !strings.Contains(s, "le=") || strings.Join(g1, ",") != strings.Join(g2, ",") {
			return PyrraIndicator{}, fmt.Errorf("%w: a latency SLI needs a histogram bucket with le over the same grouping as its total", ErrNoPyrraForm)
		}
		return PyrraIndicator{Latency: &PyrraLatency{Success: PyrraMetric{s}, Total: PyrraMetric{t}, Grouping: g1}}, nil
	}
	return PyrraIndicator{}, fmt.Errorf("%w: Pyrra's ratio counts errors, and a %s SLI of good over total events has no error selector", ErrNoPyrraForm, sli.Kind)
}

func parse(q string) (parser.Expr, error) {
	expr, err := promQL.ParseExpr(render.Instantiate(q, QueryWindow))
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	for {
		p, ok := expr.(*parser.ParenExpr)
		if !ok {
			return expr, nil
		}
		expr = p.Expr
	}
}

// rateOf matches sum [by (...)] (rate(selector[w])) and returns the
// selector and the grouping.
func rateOf(e parser.Expr) (string, []string, error) {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	agg, ok := e.(*parser.AggregateExpr)
	if !ok || agg.Op != parser.SUM || agg.Without {
		return "", nil, fmt.Errorf("%w: %s is not sum(rate(selector[window]))", ErrNoPyrraForm, e)
	}
	call, ok := agg.Expr.(*parser.Call)
	if !ok || (call.Func.Name != "rate" && call.Func.Name != "increase") || len(call.Args) != 1 {
		return "", nil, fmt.Errorf("%w: %s is not sum(rate(selector[window]))", ErrNoPyrraForm, e)
	}
	ms, ok := call.Args[0].(*parser.MatrixSelector)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s does not rate a selector", ErrNoPyrraForm, e)
	}
	return ms.VectorSelector.String(), agg.Grouping, nil
}

// promQL parses PromQL as Prometheus does by default.
var promQL = parser.NewParser(parser.Options{})
