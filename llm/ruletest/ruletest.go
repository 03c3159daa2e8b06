// Package ruletest writes `promtool test rules` unit tests for the rules of
// an SLO definition: a healthy service fires nothing, a fast burn fires the
// page alert (and whatever else the window arithmetic says must fire), and
// missing metrics fire the no-data alert.
//
// The input series are synthesized from the SLI's own selectors, so the
// tests exercise the user's queries and not a stand-in. Which alerts must
// fire is computed here from the window arithmetic, independently of
// Prometheus, so promtool checks the rules against a second opinion.
package ruletest

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// RulesFile is the name the tests give the rule file; the runner writes
// the rules under this name next to the tests.
const RulesFile = "rules.yaml"

// ErrNotSynthesizable is returned for query shapes this package cannot
// write input series for (error-ratio queries, regex matchers, selectors
// that overlap between good and total).
var ErrNotSynthesizable = errors.New("cannot synthesize input series for this SLI")

// Tests is a generated promtool test file.
type Tests struct {
	YAML string
	// Scenarios says in words what each test expects.
	Scenarios []string
}

const (
	step         = time.Minute
	eventsPerMin = 60.0
	// burnFactor puts the burst's error ratio this far above the page
	// threshold, so rounding and rate() extrapolation cannot flip it.
	burnFactor = 1.5
)

// role says what a synthesized series stands for.
type role int

const (
	roleGood role = 1 << iota
	roleTotal
)

type series struct {
	labels  map[string]string
	roles   role
	counter bool
}

// Generate writes the unit tests for d's rules (rendered with opts), which
// the runner stores as RulesFile next to the tests.
func Generate(d nft.Definition, opts render.Options) (Tests, error) {
	return generate(d, opts, RulesFile, nil)
}

// ErrRulesDiffer refuses tests for rules that are not the plain rendering
// of their definition (rendered with options, or by an older renderer):
// tests of another rendering would test nothing that is installed.
var ErrRulesDiffer = errors.New("the rules are not the rendering of the definition")

// ForRules writes the unit tests of a definition's own rules (d.Rules),
// stored at rulesPath (relative to the test file, as promtool resolves
// it), to keep beside an installed rule file. alertLabels are the labels
// the installer adds to every alert (the token ID), which the expected
// alerts then carry too.
func ForRules(d nft.Definition, rulesPath string, alertLabels map[string]string) (Tests, error) {
	want, err := render.Render(d, render.Options{})
	if err != nil {
		return Tests{}, err
	}
	if want != d.Rules.YAML {
		return Tests{}, ErrRulesDiffer
	}
	return generate(d, render.Options{}, rulesPath, alertLabels)
}

func generate(d nft.Definition, opts render.Options, rulesFile string, alertLabels map[string]string) (Tests, error) {
	if d.SLI.ErrorRatioQuery != "" {
		return Tests{}, fmt.Errorf("%w: an error_ratio_query does not say which series are good", ErrNotSynthesizable)
	}
	ss, err := synthesize(d.SLI)
	if err != nil {
		return Tests{}, err
	}
	file, err := render.Build(d, opts)
	if err != nil {
		return Tests{}, err
	}
	fast, err := pageFast(d.SLO.AlertPolicy)
	if err != nil {
		return Tests{}, err
	}
	budget := nft.ErrorBudget(d.SLO.Objective)
	burst := mustDur(fast.LongWindow)
	errRatio := math.Min(1, burnFactor*fast.BurnRate*budget)
	healthyFor := quietHistory(d.SLO, budget, errRatio, burst)
	evalAt := healthyFor + burst

	firing := Firing(d.SLO, budget, errRatio, healthyFor, burst)
	if !slices.Contains(firing, fast.Name) {
		return Tests{}, fmt.Errorf("a burst at %v x the page threshold does not fire %s: the policy cannot page", burnFactor, fast.Name)
	}
	var burnAlerts []expAlert
	for _, r := range alertRules(file, render.AlertBurn) {
		if slices.Contains(firing, r.Labels[render.LabelBurnWindow]) {
			burnAlerts = append(burnAlerts, expAlert{Labels: withLabels(r.Labels, alertLabels), Annotations: r.Annotations})
		}
	}
	noData := alertRules(file, render.AlertNoData)
	if len(noData) != 1 {
		return Tests{}, errors.New("rules have no single no-data alert")
	}
	noDataAt := mustDur(render.NoDataFor) + 15*time.Minute

	tf := testFile{
		RuleFiles:          []string{rulesFile},
		EvaluationInterval: model.Duration(step).String(),
		Tests: []testGroup{
			{
				Name:        "healthy service fires nothing",
				Interval:    model.Duration(step).String(),
				InputSeries: inputs(ss, healthyTest, 0, 0),
				AlertRuleTests: []alertTest{
					{EvalTime: model.Duration(healthyTest).String(), Alertname: render.AlertBurn, ExpAlerts: []expAlert{}},
					{EvalTime: model.Duration(healthyTest).String(), Alertname: render.AlertNoData, ExpAlerts: []expAlert{}},
				},
			},
			{
				Name:        fmt.Sprintf("fast burn (error ratio %s for %s) pages", num(errRatio), fast.LongWindow),
				Interval:    model.Duration(step).String(),
				InputSeries: inputs(ss, healthyFor, burst, errRatio),
				AlertRuleTests: []alertTest{
					{EvalTime: model.Duration(evalAt).String(), Alertname: render.AlertBurn, ExpAlerts: burnAlerts},
				},
			},
			{
				Name:        "missing metrics fire the no-data alert",
				Interval:    model.Duration(step).String(),
				InputSeries: []inputSeries{{Series: "srellama_unrelated_metric", Values: fmt.Sprintf("1+0x%d", int(noDataAt/step))}},
				AlertRuleTests: []alertTest{
					{EvalTime: model.Duration(noDataAt).String(), Alertname: render.AlertNoData,
						ExpAlerts: []expAlert{{Labels: withLabels(noData[0].Labels, alertLabels), Annotations: noData[0].Annotations}}},
				},
			},
		},
	}
	out, err := yaml.Marshal(tf)
	if err != nil {
		return Tests{}, fmt.Errorf("promtool tests: %w", err)
	}
	return Tests{YAML: string(out), Scenarios: []string{
		"healthy: no alert",
		fmt.Sprintf("fast burn: %s fire", strings.Join(firing, ", ")),
		"no data: " + render.AlertNoData + " fires",
	}}, nil
}

// withLabels returns labels with extra added, leaving labels unchanged.
func withLabels(labels, extra map[string]string) map[string]string {
	if len(extra) == 0 {
		return labels
	}
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, extra)
	return out
}

// Firing returns the alert pairs that must fire at the end of a burst of
// errRatio lasting burst, after healthy minutes of no errors, with uniform
// traffic starting at time zero: at t = healthy+burst a window W sees
// errRatio * min(burst, W) / min(W, t).
func Firing(s nft.SLO, budget, errRatio float64, healthy, burst time.Duration) []string {
	var out []string
	for _, w := range s.AlertPolicy {
		thr := w.BurnRate * budget
		if windowRatio(w.LongWindow, errRatio, healthy, burst) > thr && windowRatio(w.ShortWindow, errRatio, healthy, burst) > thr {
			out = append(out, w.Name)
		}
	}
	return out
}

func windowRatio(window string, errRatio float64, healthy, burst time.Duration) float64 {
	w := mustDur(window)
	return errRatio * float64(min(burst, w)) / float64(min(w, healthy+burst))
}

// quietHistory picks the shortest healthy history before the burst at
// which every window's error ratio is clearly on one side of its threshold
// (by a factor of 1.25), so the unit test does not hinge on rate()'s
// extrapolation. Short histories keep promtool fast; the fallback covers
// every window.
func quietHistory(s nft.SLO, budget, errRatio float64, burst time.Duration) time.Duration {
	longest := time.Duration(0)
	for _, w := range s.AlertPolicy {
		longest = max(longest, mustDur(w.LongWindow))
	}
	clear := func(healthy time.Duration) bool {
		for _, w := range s.AlertPolicy {
			thr := w.BurnRate * budget
			for _, win := range []string{w.LongWindow, w.ShortWindow} {
				r := windowRatio(win, errRatio, healthy, burst)
				if r > thr/1.25 && r < thr*1.25 {
					return false
				}
			}
		}
		return true
	}
	for h := time.Hour; h < longest; h += time.Hour {
		if clear(h) {
			return h
		}
	}
	return longest + time.Hour
}

// healthyTest is how long the healthy scenario runs: every window has data,
// none has errors.
const healthyTest = 2 * time.Hour

// pageFast is the page pair with the highest burn rate: the one a short,
// sharp burst must fire.
func pageFast(policy []nft.AlertWindow) (nft.AlertWindow, error) {
	var best nft.AlertWindow
	for _, w := range policy {
		if w.Severity == nft.SeverityPage && w.BurnRate > best.BurnRate {
			best = w
		}
	}
	if best.Name == "" {
		return best, errors.New("the alert policy has no page window")
	}
	return best, nil
}

func alertRules(f render.File, name string) []render.Rule {
	var out []render.Rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == name {
				out = append(out, r)
			}
		}
	}
	return out
}

// synthesize finds the series the good and total queries select.
func synthesize(s nft.SLI) ([]series, error) {
	byKey := map[string]*series{}
	var order []string
	for _, q := range []struct {
		query string
		role  role
	}{{s.GoodQuery, roleGood}, {s.TotalQuery, roleTotal}} {
		e, err := promQL.ParseExpr(render.Instantiate(q.query, "5m"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotSynthesizable, err)
		}
		var walkErr error
		parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || walkErr != nil {
				return nil
			}
			ls, err := equalityLabels(vs)
			if err != nil {
				walkErr = err
				return nil
			}
			key := labels.FromMap(ls).String()
			if byKey[key] == nil {
				byKey[key] = &series{labels: ls, counter: underCounterFunc(path)}
				order = append(order, key)
			}
			byKey[key].roles |= q.role
			return nil
		})
		if walkErr != nil {
			return nil, walkErr
		}
	}
	out := make([]series, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	for i, a := range out {
		if a.roles == roleGood|roleTotal && a.counter {
			return nil, fmt.Errorf("%w: counter %s is both good and total", ErrNotSynthesizable, a.labels[model.MetricNameLabel])
		}
		for j, b := range out {
			if i != j && a.labels[model.MetricNameLabel] == b.labels[model.MetricNameLabel] && subset(a.labels, b.labels) {
				return nil, fmt.Errorf("%w: selector of %s also selects another synthesized series", ErrNotSynthesizable, a.labels[model.MetricNameLabel])
			}
		}
	}
	return out, nil
}

func equalityLabels(vs *parser.VectorSelector) (map[string]string, error) {
	ls := map[string]string{}
	for _, m := range vs.LabelMatchers {
		if m.Type != labels.MatchEqual {
			return nil, fmt.Errorf("%w: matcher %s is not an equality", ErrNotSynthesizable, m)
		}
		ls[m.Name] = m.Value
	}
	if ls[model.MetricNameLabel] == "" {
		return nil, fmt.Errorf("%w: a selector has no metric name", ErrNotSynthesizable)
	}
	return ls, nil
}

// underCounterFunc reports whether the selector is read as a counter.
func underCounterFunc(path []parser.Node) bool {
	for _, n := range slices.Backward(path) {
		if c, ok := n.(*parser.Call); ok {
			switch c.Func.Name {
			case "rate", "increase", "irate":
				return true
			}
			return false
		}
	}
	return false
}

func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// inputs writes each series for healthy minutes of no errors followed by
// burst minutes at errRatio. Counters grow by eventsPerMin (total) or
// eventsPerMin*(1-e) (good); gauges read 1 (total) or 1-e (good).
func inputs(ss []series, healthy, burst time.Duration, errRatio float64) []inputSeries {
	h, b := int(healthy/step), int(burst/step)
	out := make([]inputSeries, 0, len(ss))
	for _, s := range ss {
		goodOnly := s.roles == roleGood
		var values string
		switch {
		case s.counter && goodOnly:
			values = counterValues(h, b, eventsPerMin, eventsPerMin*(1-errRatio))
		case s.counter:
			values = counterValues(h, b, eventsPerMin, eventsPerMin)
		case s.roles&roleGood != 0:
			values = gaugeValues(h, b, 1, 1-errRatio)
		default:
			values = gaugeValues(h, b, 1, 1)
		}
		out = append(out, inputSeries{Series: seriesName(s.labels), Values: values})
	}
	return out
}

// counterValues uses promtool's expanding notation: "a+bxn" is n+1 samples.
func counterValues(healthy, burst int, slope, burstSlope float64) string {
	v := fmt.Sprintf("0+%sx%d", num(slope), healthy)
	if burst > 0 {
		start := float64(healthy)*slope + burstSlope
		v += fmt.Sprintf(" %s+%sx%d", num(start), num(burstSlope), burst-1)
	}
	return v
}

func gaugeValues(healthy, burst int, value, burstValue float64) string {
	v := fmt.Sprintf("%s+0x%d", num(value), healthy)
	if burst > 0 {
		v += fmt.Sprintf(" %s+0x%d", num(burstValue), burst-1)
	}
	return v
}

func seriesName(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		if k != model.MetricNameLabel {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(ls[k])
	}
	return ls[model.MetricNameLabel] + "{" + strings.Join(parts, ",") + "}"
}

func mustDur(s string) time.Duration {
	d, err := nft.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

type testFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	Tests              []testGroup `yaml:"tests"`
}

type testGroup struct {
	Name           string        `yaml:"name"`
	Interval       string        `yaml:"interval"`
	InputSeries    []inputSeries `yaml:"input_series"`
	AlertRuleTests []alertTest   `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	Labels      map[string]string `yaml:"exp_labels,omitempty"`
	Annotations map[string]string `yaml:"exp_annotations,omitempty"`
}

// promQL parses with the default options: no experimental syntax.
var promQL = parser.NewParser(parser.Options{})
