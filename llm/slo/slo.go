// Package slo turns the authored part of an SLO (a Spec: what a generator,
// builtin or LLM, decides) into a draft nft.Definition: error budget, the
// workbook alert policy scaled to the period, and the rendered rules with
// their digest. Generators differ only in how they write the Spec.
package slo

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// Spec is what a generator decides: the SLI query, the objective and the
// period. Its JSON form is the answer an LLM is asked for.
type Spec struct {
	Name             string      `json:"name"`
	Description      string      `json:"description"`
	Service          string      `json:"service"`
	Kind             nft.SLIKind `json:"kind"`
	GoodQuery        string      `json:"good_query,omitempty"`
	TotalQuery       string      `json:"total_query,omitempty"`
	ErrorRatioQuery  string      `json:"error_ratio_query,omitempty"`
	LatencyThreshold float64     `json:"latency_threshold_seconds,omitempty"`
	Objective        float64     `json:"objective"`
	Period           string      `json:"period"`
}

// Check refuses specs no definition could be built from, with one message
// per problem.
func (s Spec) Check() error {
	var errs []error
	if !nft.IsValidName(s.Name) {
		errs = append(errs, fmt.Errorf("name %q is not a valid SLO name (a-z, 0-9, '_', '.', '-')", s.Name))
	}
	if !nft.IsValidName(s.Service) {
		errs = append(errs, fmt.Errorf("service %q is not a valid service name", s.Service))
	}
	if strings.TrimSpace(s.Description) == "" {
		errs = append(errs, errors.New("description is empty"))
	}
	switch s.Kind {
	case nft.KindRatio, nft.KindAvailability:
		if s.LatencyThreshold != 0 {
			errs = append(errs, fmt.Errorf("an SLI of kind %s has no latency threshold, got %v", s.Kind, s.LatencyThreshold))
		}
	case nft.KindLatency:
		if !(s.LatencyThreshold > 0) || math.IsInf(s.LatencyThreshold, 0) {
			errs = append(errs, fmt.Errorf("a latency SLI needs a positive threshold, got %v", s.LatencyThreshold))
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q is not ratio, latency or availability", s.Kind))
	}
	events := s.GoodQuery != "" || s.TotalQuery != ""
	switch {
	case events && s.ErrorRatioQuery != "":
		errs = append(errs, errors.New("use good_query with total_query, or error_ratio_query, not both"))
	case events && (s.GoodQuery == "" || s.TotalQuery == ""):
		errs = append(errs, errors.New("good_query and total_query go together"))
	case !events && s.ErrorRatioQuery == "":
		errs = append(errs, errors.New("no SLI query: needs good_query and total_query, or error_ratio_query"))
	}
	if math.IsNaN(s.Objective) || s.Objective <= 0 || s.Objective >= 1 {
		errs = append(errs, fmt.Errorf("objective %v is outside (0,1)", s.Objective))
	}
	if _, err := Period(s.Period); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Period parses an SLO period and refuses those outside 1d..366d, the range
// nft accepts and the workbook windows make sense for.
func Period(s string) (time.Duration, error) {
	p, err := nft.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("unknown period %q: %w", s, err)
	}
	if p < 24*time.Hour || p > 366*24*time.Hour {
		return 0, fmt.Errorf("period %q is outside 1d..366d", s)
	}
	return p, nil
}

// Draft is everything besides the Spec that goes into a definition.
type Draft struct {
	Metrics    []nft.Metric
	Provenance nft.Provenance
	Render     render.Options
	// Routing and PeriodSLI come from the deployment (the node's
	// configuration), not from the generator; they are part of the
	// definition.
	Routing   *nft.Routing
	PeriodSLI nft.PeriodSLI
}

// Build returns the definition of a spec, with its alert policy and its
// rendered rules. Provenance.Validation is left as given: the validator
// fills it. Build refuses a bad spec and returns no partial definition.
func Build(s Spec, d Draft) (nft.Definition, error) {
	if err := s.Check(); err != nil {
		return nft.Definition{}, fmt.Errorf("SLO spec %q: %w", s.Name, err)
	}
	if len(d.Metrics) == 0 {
		return nft.Definition{}, fmt.Errorf("SLO spec %q: no metrics: an SLI must rest on at least one metric", s.Name)
	}
	period, _ := Period(s.Period) // checked above
	policy, err := nft.AlertPolicyFor(period, s.Objective)
	if err != nil {
		return nft.Definition{}, fmt.Errorf("SLO spec %q: %w", s.Name, err)
	}
	def := nft.Definition{
		Name:        s.Name,
		Description: s.Description,
		Version:     1,
		Protocol:    nft.Protocol,
		SLI: nft.SLI{
			Service:          s.Service,
			Kind:             s.Kind,
			GoodQuery:        s.GoodQuery,
			TotalQuery:       s.TotalQuery,
			ErrorRatioQuery:  s.ErrorRatioQuery,
			LatencyThreshold: s.LatencyThreshold,
			Metrics:          append([]nft.Metric(nil), d.Metrics...),
		},
		SLO: nft.SLO{
			Objective:   s.Objective,
			Period:      nft.FormatDuration(period),
			ErrorBudget: nft.ErrorBudget(s.Objective),
			AlertPolicy: policy,
			PeriodSLI:   d.PeriodSLI,
		},
		Routing:    d.Routing,
		Provenance: d.Provenance,
	}
	yaml, err := render.Render(def, d.Render)
	if err != nil {
		return nft.Definition{}, err
	}
	def.Rules = nft.Rules{YAML: yaml, Digest: nft.RulesDigest(yaml)}
	return def, nil
}

// SpecOf recovers the spec of a definition (the inverse of Build).
func SpecOf(d nft.Definition) Spec {
	return Spec{
		Name: d.Name, Description: d.Description, Service: d.SLI.Service, Kind: d.SLI.Kind,
		GoodQuery: d.SLI.GoodQuery, TotalQuery: d.SLI.TotalQuery, ErrorRatioQuery: d.SLI.ErrorRatioQuery,
		LatencyThreshold: d.SLI.LatencyThreshold, Objective: d.SLO.Objective, Period: d.SLO.Period,
	}
}
