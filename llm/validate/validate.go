// Package validate checks a draft SLO definition with Prometheus's own code:
// every SLI query at every window through promql/parser, the rule file
// through model/rulefmt, the rules against a fresh rendering of the
// definition, the metrics the queries use against those the SLI declares,
// and, where a promtool is at hand, `promtool check rules` and generated
// `promtool test rules` unit tests.
//
// The outcome is a list of nft.ValidationCheck, the form a definition
// carries in its provenance.
package validate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/ruletest"
	"github.com/srellama/srellama/nft"
)

// Check names, as recorded in provenance.
const (
	CheckSpec         = "definition-fields"
	CheckPromQL       = "promql-parse"
	CheckWindow       = "sli-window"
	CheckMetrics      = "sli-metrics"
	CheckRulefmt      = "rulefmt"
	CheckRendering    = "rules-match-definition"
	CheckPromtool     = "promtool-check-rules"
	CheckPromtoolTest = "promtool-test-rules"
)

// Promtool runs Prometheus's promtool. It is defined here, by its consumer;
// package promtool has the implementation that shells out.
type Promtool interface {
	CheckRules(ctx context.Context, rulesYAML string) error
	TestRules(ctx context.Context, rulesYAML, testsYAML string) error
}

// Validator checks definitions.
type Validator struct {
	// Render must be the options the definition was rendered with, so the
	// rules can be compared with a fresh rendering.
	Render render.Options
	// KnownMetrics, when not empty, lists every metric name the metric
	// source has; a query using any other name is refused (an LLM inventing
	// a metric is the commonest failure).
	KnownMetrics []string
	// Promtool, when set, adds the promtool checks.
	Promtool Promtool
}

// Report is the outcome of validating one definition.
type Report struct {
	Checks []nft.ValidationCheck
}

// Passed reports whether every check passed.
func (r Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Err lists the failed checks, or returns nil. Its text is what an LLM gets
// back in a repair round.
func (r Report) Err() error {
	var errs []error
	for _, c := range r.Checks {
		if !c.Passed {
			errs = append(errs, fmt.Errorf("%s: %s", c.Name, c.Detail))
		}
	}
	return errors.Join(errs...)
}

// Validate runs every check on d. It does not stop at the first failure, so
// a repair round sees every problem at once. The context bounds the promtool
// runs.
func (v Validator) Validate(ctx context.Context, d nft.Definition) Report {
	var r Report
	add := func(name string, err error, okDetail string) {
		c := nft.ValidationCheck{Name: name, Passed: err == nil, Detail: okDetail}
		if err != nil {
			c.Detail = err.Error()
		}
		r.Checks = append(r.Checks, c)
	}
	add(CheckSpec, fieldsExceptValidation(d), "nft definition rules hold")
	windows, werr := render.Windows(d)
	if werr != nil {
		add(CheckPromQL, werr, "")
		return r
	}
	exprs, err := parseSLI(d.SLI, windows)
	add(CheckPromQL, err, fmt.Sprintf("%d SLI queries parsed at %d windows", len(sliQueries(d.SLI)), len(windows)))
	if err != nil {
		return r
	}
	add(CheckWindow, usesWindow(d.SLI), "every query ranges over the alert window")
	add(CheckMetrics, v.checkMetrics(d.SLI, exprs), "queries use only declared metrics")
	add(CheckRulefmt, checkRulefmt(d.Rules.YAML), "rule file parses with rulefmt")
	add(CheckRendering, v.checkRendering(d), "rules are the rendering of this definition")
	if v.Promtool == nil || !r.Passed() {
		return r
	}
	add(CheckPromtool, v.Promtool.CheckRules(ctx, d.Rules.YAML), "promtool check rules passed")
	tests, err := ruletest.Generate(d, v.Render)
	switch {
	case errors.Is(err, ruletest.ErrNotSynthesizable):
		// No unit test can be written for this query shape; the check is
		// left out rather than recorded as passed.
	case err != nil:
		add(CheckPromtoolTest, err, "")
	default:
		add(CheckPromtoolTest, v.Promtool.TestRules(ctx, d.Rules.YAML, tests.YAML),
			"promtool test rules passed: "+strings.Join(tests.Scenarios, "; "))
	}
	return r
}

// fieldsExceptValidation runs nft's own checks, ignoring only the problems
// about provenance.validation, which this package is about to fill.
func fieldsExceptValidation(d nft.Definition) error {
	d.Provenance.Validation = []nft.ValidationCheck{{Name: "pending", Passed: true}}
	return nft.ValidateDefinition(d)
}

func sliQueries(s nft.SLI) []string {
	if s.ErrorRatioQuery != "" {
		return []string{s.ErrorRatioQuery}
	}
	return []string{s.GoodQuery, s.TotalQuery}
}

// parseSLI parses each query at each window and requires an instant vector
// or a scalar: what a recording rule can record.
func parseSLI(s nft.SLI, windows []string) ([]parser.Expr, error) {
	var errs []error
	var exprs []parser.Expr
	for _, q := range sliQueries(s) {
		for i, w := range windows {
			e, err := promQL.ParseExpr(render.Instantiate(q, w))
			if err != nil {
				errs = append(errs, fmt.Errorf("query %q at window %s: %w", q, w, err))
				break
			}
			if t := e.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
				errs = append(errs, fmt.Errorf("query %q evaluates to a %s, not an instant vector", q, t))
				break
			}
			if i == 0 {
				exprs = append(exprs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return exprs, nil
}

// usesWindow requires every query to have a range selector or subquery over
// exactly the window: a query that ignores it would record the same value
// at 5m and at 30d, and the multi-window alerts would mean nothing.
func usesWindow(s nft.SLI) error {
	const probe = 7*time.Minute + 13*time.Second // a window no query mentions by accident
	for _, q := range sliQueries(s) {
		e, err := promQL.ParseExpr(render.Instantiate(q, "7m13s"))
		if err != nil {
			return err
		}
		found := false
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.MatrixSelector:
				found = found || n.Range == probe
			case *parser.SubqueryExpr:
				found = found || n.Range == probe
			}
			return nil
		})
		if !found {
			return fmt.Errorf("query %q has no range selector over %s", q, nft.WindowPlaceholder)
		}
	}
	return nil
}

// checkMetrics requires every selector to name a metric, each metric to be
// one the SLI declares (or a histogram series of one), and, when the
// validator knows the source's metrics, one the source has.
func (v Validator) checkMetrics(s nft.SLI, exprs []parser.Expr) error {
	declared := map[string]bool{}
	for _, m := range s.Metrics {
		declared[m.Name] = true
	}
	known := map[string]bool{}
	for _, m := range v.KnownMetrics {
		known[m] = true
	}
	var errs []error
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range selectorNames(e) {
			switch {
			case name == "":
				errs = append(errs, errors.New("a selector has no metric name"))
			case !declared[name] && !declared[histogramBase(name)]:
				errs = append(errs, fmt.Errorf("metric %q is used but not among the SLI's metrics", name))
			case len(known) > 0 && !known[name] && !known[histogramBase(name)]:
				errs = append(errs, fmt.Errorf("metric %q does not exist in the metric source", name))
			}
			used[name] = true
			used[histogramBase(name)] = true
		}
	}
	for _, m := range s.Metrics {
		if !used[m.Name] {
			errs = append(errs, fmt.Errorf("declared metric %q is not used by any query", m.Name))
		}
	}
	return errors.Join(errs...)
}

func selectorNames(e parser.Expr) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	})
	return names
}

// histogramBase maps the series of a classic histogram to its family.
func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

func checkRulefmt(yaml string) error {
	groups, errs := rulefmt.Parse([]byte(yaml), false, model.LegacyValidation, promQL)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if groups == nil || len(groups.Groups) == 0 {
		return errors.New("rule file has no groups")
	}
	return nil
}

// checkRendering refuses rules that are not exactly what this definition
// renders to: a proposal cannot carry rules that differ from its SLO.
func (v Validator) checkRendering(d nft.Definition) error {
	want, err := render.Render(d, v.Render)
	if err != nil {
		return err
	}
	if want != d.Rules.YAML {
		return errors.New("rules differ from the rendering of the definition")
	}
	return nil
}

// Finish validates d, records the checks in its provenance and runs nft's
// own validation on the result. It returns the finished definition, or an
// error listing every failed check and an empty definition: nothing
// half-validated leaves this function.
func (v Validator) Finish(ctx context.Context, d nft.Definition) (nft.Definition, error) {
	r := v.Validate(ctx, d)
	if !r.Passed() {
		return nft.Definition{}, fmt.Errorf("definition %q failed validation: %w", d.Name, r.Err())
	}
	d.Provenance.Validation = r.Checks
	if err := nft.ValidateDefinition(d); err != nil {
		return nft.Definition{}, fmt.Errorf("definition %q: %w", d.Name, err)
	}
	return d, nil
}

// ParseQuery parses one SLI query at the 5m window and requires an instant
// vector or a scalar. Generators use it to report every bad query of an
// answer at once, before a definition can be built from it.
func ParseQuery(q string) error {
	e, err := promQL.ParseExpr(render.Instantiate(q, "5m"))
	if err != nil {
		return fmt.Errorf("invalid PromQL %q: %w", q, err)
	}
	if t := e.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
		return fmt.Errorf("query %q evaluates to a %s, not an instant vector", q, t)
	}
	return nil
}

// MetricNames returns the metric names a query's selectors use.
func MetricNames(q string) ([]string, error) {
	e, err := promQL.ParseExpr(render.Instantiate(q, "5m"))
	if err != nil {
		return nil, err
	}
	return selectorNames(e), nil
}

// HistogramBase maps a classic histogram's series name (_bucket, _count,
// _sum) to its family name; other names map to themselves.
func HistogramBase(name string) string { return histogramBase(name) }

// Canonical returns a query's canonical text (parsed and printed at the 5m
// window), so queries that differ only in spacing compare equal.
func Canonical(q string) (string, error) {
	e, err := promQL.ParseExpr(render.Instantiate(q, "5m"))
	if err != nil {
		return "", err
	}
	return e.String(), nil
}

// promQL parses with the default options: no experimental syntax.
var promQL = parser.NewParser(parser.Options{})
