// Package importer reads other tools' SLO specs, Sloth (prometheus/v1 and
// its Kubernetes PrometheusServiceLevel) and OpenSLO v1, into the
// project's slo.Spec, so a team's existing SLOs go through the project's
// own pipeline: rendering, validation, governance. It is pure: bytes in,
// specs out.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/OpenSLO/go-sdk/pkg/openslo"
	oslo "github.com/OpenSLO/go-sdk/pkg/openslo/v1"
	"github.com/OpenSLO/go-sdk/pkg/openslosdk"
	"github.com/prometheus/prometheus/promql/parser"
	sloth "github.com/slok/sloth/pkg/prometheus/api/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

// Formats recorded in a definition's provenance (nft.Source.Format).
const (
	FormatSloth     = "sloth/prometheus-v1"
	FormatSlothKube = "sloth/kubernetes-v1"
	FormatOpenSLO   = "openslo/v1"
)

// MaxFile bounds an imported file.
const MaxFile = 1 << 20

// Imported is one SLO read from a spec, with what the definition needs
// besides the spec.
type Imported struct {
	Spec      slo.Spec
	PeriodSLI nft.PeriodSLI
	Metrics   []nft.Metric
}

// Result is everything read from one file.
type Result struct {
	Format string
	SLOs   []Imported
}

// Parse reads a Sloth or OpenSLO v1 file. defaultPeriod is the period of
// Sloth specs, which carry none (Sloth takes it from its command line).
// Every SLO of the file must translate, or nothing is returned.
func Parse(data []byte, defaultPeriod string) (Result, error) {
	if len(data) > MaxFile {
		return Result{}, fmt.Errorf("import: file larger than %d bytes", MaxFile)
	}
	var head struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	first := data
	if i := bytes.Index(data, []byte("\n---")); i >= 0 {
		first = data[:i]
	}
	// An OpenSLO file may be a YAML list of objects; its head is then not
	// a mapping.
	_ = sigsyaml.Unmarshal(first, &head)
	switch {
	case head.Version == sloth.Version:
		return parseSloth(data, defaultPeriod)
	case head.APIVersion == "sloth.slok.dev/v1" && head.Kind == "PrometheusServiceLevel":
		return parseSlothKube(data, defaultPeriod)
	case head.APIVersion == "openslo/v1" || bytes.Contains(data, []byte("openslo/v1")):
		return parseOpenSLO(data)
	}
	return Result{}, errors.New("import: not a Sloth prometheus/v1 spec, a Sloth PrometheusServiceLevel or OpenSLO v1 documents")
}

func parseSloth(data []byte, period string) (Result, error) {
	var spec sloth.Spec
	if err := sigsyaml.UnmarshalStrict(data, &spec); err != nil {
		return Result{}, fmt.Errorf("import: sloth spec: %w", err)
	}
	var slos []slothSLO
	for _, s := range spec.SLOs {
		x := slothSLO{name: s.Name, description: s.Description, objective: s.Objective}
		if s.SLI.Raw != nil {
			x.errorRatio = s.SLI.Raw.ErrorRatioQuery
		}
		if s.SLI.Events != nil {
			x.errorQuery, x.totalQuery = s.SLI.Events.ErrorQuery, s.SLI.Events.TotalQuery
		}
		x.plugin = s.SLI.Plugin != nil
		slos = append(slos, x)
	}
	return fromSloth(FormatSloth, spec.Service, slos, period)
}

// slothKube is Sloth's PrometheusServiceLevel, the fields an import reads
// (Sloth's Go type brings k8s.io/apimachinery along).
type slothKube struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Service string `json:"service"`
		SLOs    []struct {
			Name        string  `json:"name"`
			Description string  `json:"description"`
			Objective   float64 `json:"objective"`
			SLI         struct {
				Raw *struct {
					ErrorRatioQuery string `json:"errorRatioQuery"`
				} `json:"raw"`
				Events *struct {
					ErrorQuery string `json:"errorQuery"`
					TotalQuery string `json:"totalQuery"`
				} `json:"events"`
				Plugin any `json:"plugin"`
			} `json:"sli"`
		} `json:"slos"`
	} `json:"spec"`
}

func parseSlothKube(data []byte, period string) (Result, error) {
	var k slothKube
	if err := sigsyaml.Unmarshal(data, &k); err != nil {
		return Result{}, fmt.Errorf("import: sloth PrometheusServiceLevel: %w", err)
	}
	var slos []slothSLO
	for _, s := range k.Spec.SLOs {
		x := slothSLO{name: s.Name, description: s.Description, objective: s.Objective, plugin: s.SLI.Plugin != nil}
		if s.SLI.Raw != nil {
			x.errorRatio = s.SLI.Raw.ErrorRatioQuery
		}
		if s.SLI.Events != nil {
			x.errorQuery, x.totalQuery = s.SLI.Events.ErrorQuery, s.SLI.Events.TotalQuery
		}
		slos = append(slos, x)
	}
	return fromSloth(FormatSlothKube, k.Spec.Service, slos, period)
}

type slothSLO struct {
	name, description                  string
	objective                          float64
	errorRatio, errorQuery, totalQuery string
	plugin                             bool
}

// fromSloth translates Sloth SLOs. Sloth counts errors; the project's SLI
// takes an error ratio as it is, so events become error/total.
func fromSloth(format, service string, slos []slothSLO, period string) (Result, error) {
	res := Result{Format: format}
	if len(slos) == 0 {
		return res, errors.New("import: the spec has no SLOs")
	}
	var errs []error
	for _, s := range slos {
		spec := slo.Spec{
			Name: s.name, Service: service, Kind: nft.KindRatio, Objective: fromPercent(s.objective), Period: period,
			Description: firstNonEmpty(s.description, fmt.Sprintf("%s of %s, imported from a Sloth spec.", s.name, service)),
		}
		switch {
		case s.plugin:
			errs = append(errs, fmt.Errorf("SLO %q: a Sloth SLI plugin is Sloth's own code and cannot be imported; write its query out", s.name))
			continue
		case s.errorRatio != "":
			spec.ErrorRatioQuery = s.errorRatio
		case s.errorQuery != "" && s.totalQuery != "":
			spec.ErrorRatioQuery = "(" + s.errorQuery + ")\n/\n(" + s.totalQuery + ")"
		default:
			errs = append(errs, fmt.Errorf("SLO %q: no SLI query", s.name))
			continue
		}
		imp, err := finish(spec, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.SLOs = append(res.SLOs, imp)
	}
	return res, errors.Join(errs...)
}

func parseOpenSLO(data []byte) (Result, error) {
	objects, err := openslosdk.Decode(bytes.NewReader(data), openslosdk.FormatYAML)
	if err != nil {
		return Result{}, fmt.Errorf("import: openslo: %w", err)
	}
	if err := openslosdk.Validate(objects...); err != nil {
		return Result{}, fmt.Errorf("import: openslo validation: %w", err)
	}
	slis := map[string]oslo.SLI{}
	for _, s := range openslosdk.FilterByType[oslo.SLI](objects) {
		slis[s.Metadata.Name] = s
	}
	res := Result{Format: FormatOpenSLO}
	var errs []error
	for _, s := range openslosdk.FilterByType[oslo.SLO](objects) {
		imp, err := fromOpenSLO(s, slis)
		if err != nil {
			errs = append(errs, fmt.Errorf("SLO %q: %w", s.Metadata.Name, err))
			continue
		}
		res.SLOs = append(res.SLOs, imp)
	}
	if len(res.SLOs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("import: no openslo/v1 SLO in the file"))
	}
	var _ openslo.Object
	return res, errors.Join(errs...)
}

func fromOpenSLO(s oslo.SLO, slis map[string]oslo.SLI) (Imported, error) {
	var ind oslo.SLISpec
	switch {
	case s.Spec.Indicator != nil:
		ind = s.Spec.Indicator.Spec
	case s.Spec.IndicatorRef != nil:
		sli, ok := slis[*s.Spec.IndicatorRef]
		if !ok {
			return Imported{}, fmt.Errorf("indicatorRef %q is not in the file", *s.Spec.IndicatorRef)
		}
		ind = sli.Spec
	default:
		return Imported{}, errors.New("no indicator")
	}
	r := ind.RatioMetric
	if r == nil {
		return Imported{}, errors.New("only ratioMetric indicators translate to an SLO with burn-rate alerts")
	}
	if len(s.Spec.Objectives) != 1 {
		return Imported{}, fmt.Errorf("%d objectives: import one objective per SLO", len(s.Spec.Objectives))
	}
	o := s.Spec.Objectives[0]
	var objective float64
	switch {
	case o.Target != nil:
		objective = *o.Target
	case o.TargetPercent != nil:
		objective = fromPercent(*o.TargetPercent)
	default:
		return Imported{}, errors.New("the objective has no target")
	}
	if len(s.Spec.TimeWindow) != 1 || !s.Spec.TimeWindow[0].IsRolling {
		return Imported{}, errors.New("only one rolling time window translates (calendar windows do not)")
	}
	period := nft.FormatDuration(s.Spec.TimeWindow[0].Duration.Duration())
	spec := slo.Spec{
		Name: s.Metadata.Name, Service: s.Spec.Service, Kind: nft.KindRatio, Objective: objective, Period: period,
		Description: firstNonEmpty(s.Spec.Description, fmt.Sprintf("%s of %s, imported from OpenSLO.", s.Metadata.Name, s.Spec.Service)),
	}
	q := func(m *oslo.SLIMetricSpec) (string, error) {
		if m == nil {
			return "", errors.New("a ratio metric is missing")
		}
		if t := strings.ToLower(m.MetricSource.Type); t != "prometheus" {
			return "", fmt.Errorf("metric source %q: only Prometheus queries import", m.MetricSource.Type)
		}
		query, _ := m.MetricSource.Spec["query"].(string)
		return windowed(query, r.Counter)
	}
	var method nft.PeriodSLI
	if s.Spec.BudgetingMethod == oslo.SLOBudgetingMethodRatioTimeslices {
		method = nft.PeriodSLISloth
	} else if s.Spec.BudgetingMethod != oslo.SLOBudgetingMethodOccurrences {
		return Imported{}, fmt.Errorf("budgeting method %s does not translate (Occurrences and RatioTimeslices do)", s.Spec.BudgetingMethod)
	}
	var err error
	switch {
	case r.Raw != nil:
		raw, qerr := q(r.Raw)
		if qerr != nil {
			return Imported{}, qerr
		}
		spec.ErrorRatioQuery = raw
		if r.RawType == oslo.SLIRawMetricTypeSuccess {
			spec.ErrorRatioQuery = "1 - (" + raw + ")"
		}
	case r.Good != nil:
		if spec.GoodQuery, err = q(r.Good); err == nil {
			spec.TotalQuery, err = q(r.Total)
		}
	case r.Bad != nil:
		var bad, total string
		if bad, err = q(r.Bad); err == nil {
			if total, err = q(r.Total); err == nil {
				spec.ErrorRatioQuery = "(" + bad + ")\n/\n(" + total + ")"
			}
		}
	}
	if err != nil {
		return Imported{}, err
	}
	return finish(spec, method)
}

var rangeInQuery = regexp.MustCompile(`\[[0-9]+(ms|[smhdwy])(:[0-9]*(ms|[smhdwy])?)?\]`)

// windowed turns a plain PromQL query into the windowed template the
// rules need: the ranges of its range selectors become the window
// placeholder (the exporter's 5m queries come back as they left); a bare
// counter selector becomes the sum of its rate.
func windowed(query string, counter bool) (string, error) {
	if strings.TrimSpace(query) == "" {
		return "", errors.New("empty query")
	}
	if strings.Contains(query, "{{") {
		return query, nil
	}
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		return "", fmt.Errorf("query %q: %w", query, err)
	}
	hasRange := false
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if _, ok := n.(*parser.MatrixSelector); ok {
			hasRange = true
		}
		return nil
	})
	switch {
	case hasRange:
		return rangeInQuery.ReplaceAllString(query, "["+nft.WindowPlaceholder+"]"), nil
	case counter:
		if _, ok := expr.(*parser.VectorSelector); !ok {
			return "", fmt.Errorf("query %q: a counter query must be a selector to take its rate", query)
		}
		return "sum(rate(" + query + "[" + nft.WindowPlaceholder + "]))", nil
	}
	return "", fmt.Errorf("query %q has no range and is not a counter: it cannot be evaluated over alert windows", query)
}

// finish checks the spec and lists the metrics its queries use.
func finish(spec slo.Spec, method nft.PeriodSLI) (Imported, error) {
	if err := spec.Check(); err != nil {
		return Imported{}, fmt.Errorf("SLO %q: %w", spec.Name, err)
	}
	var names []string
	for _, q := range []string{spec.GoodQuery, spec.TotalQuery, spec.ErrorRatioQuery} {
		if q == "" {
			continue
		}
		expr, err := promQL.ParseExpr(strings.ReplaceAll(q, nft.WindowPlaceholder, "5m"))
		if err != nil {
			return Imported{}, fmt.Errorf("SLO %q: query %q: %w", spec.Name, q, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" && !slices.Contains(names, vs.Name) {
				names = append(names, vs.Name)
			}
			return nil
		})
	}
	if len(names) == 0 {
		return Imported{}, fmt.Errorf("SLO %q: its queries name no metric", spec.Name)
	}
	slices.Sort(names)
	metrics := make([]nft.Metric, len(names))
	for i, n := range names {
		// No federated ranking stands behind an imported SLI.
		metrics[i] = nft.Metric{Name: n}
	}
	return Imported{Spec: spec, PeriodSLI: method, Metrics: metrics}, nil
}

// fromPercent turns a percentage into a ratio rounded to 12 decimals, so
// 99.9 is 0.999 and not 0.9990000000000001.
func fromPercent(p float64) float64 { return math.Round(p/100*1e12) / 1e12 }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}

// promQL parses PromQL as Prometheus does by default.
var promQL = parser.NewParser(parser.Options{})
