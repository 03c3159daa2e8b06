// Package export writes an SLO definition in other tools' formats: OpenSLO
// v1 documents (built from the OpenSLO Go SDK's types and checked with its
// Validate), a Sloth prometheus/v1 spec (Sloth's own spec types) with the
// alert-window catalogue Sloth needs for periods other than 28 and 30
// days, and the definition's rules as a prometheus-operator PrometheusRule.
// Every output is YAML and deterministic.
package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	openslo "github.com/OpenSLO/go-sdk/pkg/openslo"
	oslo "github.com/OpenSLO/go-sdk/pkg/openslo/v1"
	"github.com/OpenSLO/go-sdk/pkg/openslosdk"
	"github.com/prometheus/common/model"
	slothwindows "github.com/slok/sloth/pkg/prometheus/alertwindows/v1"
	sloth "github.com/slok/sloth/pkg/prometheus/api/v1"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// Formats the export command writes.
const (
	FormatOpenSLO        = "openslo"
	FormatSloth          = "sloth"
	FormatPrometheusRule = "prometheusrule"
)

// QueryWindow is the window other tools' plain PromQL is instantiated at:
// OpenSLO queries are evaluated as they are, so the window placeholder is
// replaced with the shortest window the rules record, as Sloth's own
// 5-minute base rate.
const QueryWindow = "5m"

// OpenSLO returns the definition as OpenSLO v1 documents: the SLO with its
// indicator inline, and per alert window pair an AlertPolicy with its
// burn-rate AlertCondition (the long window as lookback; OpenSLO conditions
// have a single window, so the short one is an annotation), plus one
// AlertNotificationTarget per severity. Queries are plain PromQL at
// QueryWindow. Every document passes the SDK's validation before it is
// written.
func OpenSLO(d nft.Definition) ([]byte, error) {
	objects, err := OpenSLOObjects(d)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := openslosdk.Encode(&buf, openslosdk.FormatYAML, objects...); err != nil {
		return nil, fmt.Errorf("export %s: openslo: %w", d.Name, err)
	}
	return buf.Bytes(), nil
}

// OpenSLOObjects returns the validated OpenSLO objects of OpenSLO.
func OpenSLOObjects(d nft.Definition) ([]openslo.Object, error) {
	if err := check(d); err != nil {
		return nil, err
	}
	period, _ := nft.ParseDuration(d.SLO.Period) // checked
	periodShorthand, err := shorthand(period)
	if err != nil {
		return nil, fmt.Errorf("export %s: period: %w", d.Name, err)
	}
	id := DNSLabel(render.ID(d))
	metric := func(q string) *oslo.SLIMetricSpec {
		return &oslo.SLIMetricSpec{MetricSource: oslo.SLIMetricSource{
			Type: "Prometheus",
			Spec: map[string]any{"query": render.Instantiate(q, QueryWindow)},
		}}
	}
	ratio := &oslo.SLIRatioMetric{}
	if d.SLI.ErrorRatioQuery != "" {
		ratio.RawType, ratio.Raw = oslo.SLIRawMetricTypeFailure, metric(d.SLI.ErrorRatioQuery)
	} else {
		ratio.Good, ratio.Total = metric(d.SLI.GoodQuery), metric(d.SLI.TotalQuery)
	}
	objective := oslo.SLOObjective{DisplayName: d.Name, Target: ptr(d.SLO.Objective)}
	method := oslo.SLOBudgetingMethodOccurrences
	if d.SLO.PeriodSLI == nft.PeriodSLISloth {
		// The mean of 5-minute ratios is OpenSLO's RatioTimeslices.
		method = oslo.SLOBudgetingMethodRatioTimeslices
		w := oslo.NewDurationShorthand(5, oslo.DurationShorthandUnitMinute)
		objective.TimeSliceWindow = &w
	}
	var objects []openslo.Object
	var policies []oslo.SLOAlertPolicy
	targets := map[string]bool{}
	for _, w := range d.SLO.AlertPolicy {
		long, err := nft.ParseDuration(w.LongWindow)
		if err != nil {
			return nil, fmt.Errorf("export %s: %s: %w", d.Name, w.Name, err)
		}
		lookback, err := shorthand(long)
		if err != nil {
			return nil, fmt.Errorf("export %s: %s: %w", d.Name, w.Name, err)
		}
		severity := d.Routing.SeverityLabel(w.Severity)
		name := DNSLabel(id + "-" + w.Name)
		target := DNSLabel(id + "-" + severity)
		objects = append(objects, oslo.NewAlertCondition(
			oslo.Metadata{Name: name, Annotations: oslo.Annotations{"srellama.dev/short-window": w.ShortWindow}},
			oslo.AlertConditionSpec{
				Severity:    severity,
				Description: fmt.Sprintf("%s of the %s error budget spent within %s (burn rate %s), confirmed over %s", percent(w.BudgetConsumed)+"%", d.SLO.Period, w.LongWindow, num(w.BurnRate), w.ShortWindow),
				Condition: oslo.AlertConditionType{
					Kind: oslo.AlertConditionKindBurnRate, Operator: oslo.OperatorGT,
					Threshold: ptr(w.BurnRate), LookbackWindow: lookback,
				},
			}))
		objects = append(objects, oslo.NewAlertPolicy(oslo.Metadata{Name: name}, oslo.AlertPolicySpec{
			Description:         fmt.Sprintf("%s burn of %s %s", w.Name, d.SLI.Service, d.Name),
			AlertWhenBreaching:  true,
			Conditions:          []oslo.AlertPolicyCondition{{AlertPolicyConditionRef: &oslo.AlertPolicyConditionRef{ConditionRef: name}}},
			NotificationTargets: []oslo.AlertPolicyNotificationTarget{{AlertPolicyNotificationTargetRef: &oslo.AlertPolicyNotificationTargetRef{TargetRef: target}}},
		}))
		policies = append(policies, oslo.SLOAlertPolicy{SLOAlertPolicyRef: &oslo.SLOAlertPolicyRef{AlertPolicyRef: name}})
		if !targets[target] {
			targets[target] = true
			objects = append(objects, oslo.NewAlertNotificationTarget(oslo.Metadata{Name: target}, oslo.AlertNotificationTargetSpec{
				Description: "Alertmanager receiver routed on severity=" + severity,
				Target:      "alertmanager:severity=" + severity,
			}))
		}
	}
	slo := oslo.NewSLO(oslo.Metadata{Name: id, DisplayName: d.Name}, oslo.SLOSpec{
		Description:     truncate(d.Description, 1050),
		Service:         DNSLabel(d.SLI.Service),
		BudgetingMethod: method,
		TimeWindow:      []oslo.SLOTimeWindow{{Duration: periodShorthand, IsRolling: true}},
		Indicator: &oslo.SLOIndicatorInline{
			Metadata: oslo.Metadata{Name: DNSLabel(id + "-sli")},
			Spec:     oslo.SLISpec{RatioMetric: ratio},
		},
		Objectives:    []oslo.SLOObjective{objective},
		AlertPolicies: policies,
	})
	objects = append([]openslo.Object{slo}, objects...)
	if err := openslosdk.Validate(objects...); err != nil {
		return nil, fmt.Errorf("export %s: OpenSLO validation: %w", d.Name, err)
	}
	return objects, nil
}

// SlothOptions tune the Sloth export.
type SlothOptions struct {
	// NameSuffix is appended to the SLO's name. Sloth names its series by
	// service and SLO name (sloth_id); with a suffix, Sloth's rules and the
	// definition's own can be loaded into one Prometheus side by side
	// without writing the same series. Empty: Sloth's rules replace ours.
	NameSuffix string
}

// SlothSpec is a Sloth export: the prometheus/v1 spec, the period to
// generate it with (sloth generate --default-slo-period), and, for a period
// Sloth has no windows for (anything but 28d and 30d), an AlertWindows
// catalogue to pass with --slo-period-windows-path.
type SlothSpec struct {
	Spec    []byte
	Period  string
	Windows []byte
}

// Sloth returns the definition as a Sloth prometheus/v1 spec. Sloth counts
// errors, so a good/total SLI becomes error_query = total - good. Queries
// keep the {{.window}} placeholder, which Sloth's spec requires.
func Sloth(d nft.Definition, opts SlothOptions) (SlothSpec, error) {
	if err := check(d); err != nil {
		return SlothSpec{}, err
	}
	name := d.Name + opts.NameSuffix
	if !nft.IsValidName(name) {
		return SlothSpec{}, fmt.Errorf("export %s: name with suffix %q is not a valid name", d.Name, name)
	}
	sli := sloth.SLI{}
	if d.SLI.ErrorRatioQuery != "" {
		sli.Raw = &sloth.SLIRaw{ErrorRatioQuery: d.SLI.ErrorRatioQuery}
	} else {
		sli.Events = &sloth.SLIEvents{
			ErrorQuery: "(" + d.SLI.TotalQuery + ") - (" + d.SLI.GoodQuery + ")",
			TotalQuery: d.SLI.TotalQuery,
		}
	}
	alerting := sloth.Alerting{
		Name:        render.AlertBurn,
		PageAlert:   sloth.Alert{Labels: map[string]string{"severity": d.Routing.SeverityLabel(nft.SeverityPage)}},
		TicketAlert: sloth.Alert{Labels: map[string]string{"severity": d.Routing.SeverityLabel(nft.SeverityTicket)}},
	}
	if r := d.Routing; r != nil {
		alerting.Labels = r.Labels
		alerting.Annotations = map[string]string{}
		for k, v := range r.Annotations {
			alerting.Annotations[k] = v
		}
		if r.RunbookURL != "" {
			alerting.Annotations["runbook_url"] = strings.ReplaceAll(r.RunbookURL, "{{slo}}", d.SLI.Service+"-"+name)
		}
		if len(alerting.Annotations) == 0 {
			alerting.Annotations = nil
		}
	}
	spec := sloth.Spec{
		Version: sloth.Version,
		Service: d.SLI.Service,
		SLOs: []sloth.SLO{{
			Name:        name,
			Objective:   percentValue(d.SLO.Objective),
			Description: d.Description,
			SLI:         sli,
			Alerting:    alerting,
		}},
	}
	// Sloth reads its specs with sigs.k8s.io/yaml, through the JSON tags.
	out, err := sigsyaml.Marshal(spec)
	if err != nil {
		return SlothSpec{}, fmt.Errorf("export %s: sloth: %w", d.Name, err)
	}
	period, _ := nft.ParseDuration(d.SLO.Period) // checked
	res := SlothSpec{Spec: out, Period: nft.FormatDuration(period)}
	if period != 28*24*time.Hour && period != 30*24*time.Hour {
		if res.Windows, err = SlothWindows(period); err != nil {
			return SlothSpec{}, fmt.Errorf("export %s: %w", d.Name, err)
		}
	}
	return res, nil
}

// SlothWindows returns Sloth's AlertWindows catalogue for a period: the
// workbook's four window pairs as nft.DefaultAlertPolicy scales them, so
// Sloth alerts at the same burn rates as the definition.
func SlothWindows(period time.Duration) ([]byte, error) {
	policy, err := nft.DefaultAlertPolicy(period)
	if err != nil {
		return nil, err
	}
	byName := map[string]slothwindows.Window{}
	for _, w := range policy {
		long, _ := nft.ParseDuration(w.LongWindow)
		short, _ := nft.ParseDuration(w.ShortWindow)
		byName[w.Name] = slothwindows.Window{
			ErrorBudgetPercent: percentValue(w.BudgetConsumed),
			LongWindow:         model.Duration(long),
			ShortWindow:        model.Duration(short),
		}
	}
	aw := slothwindows.AlertWindows{
		Kind: slothwindows.Kind, APIVersion: slothwindows.APIVersion,
		Spec: slothwindows.Spec{
			SLOPeriod: model.Duration(period),
			Page:      slothwindows.PageWindow{QuickSlowWindow: slothwindows.QuickSlowWindow{Quick: byName["page-fast"], Slow: byName["page-slow"]}},
			Ticket:    slothwindows.TicketWindow{QuickSlowWindow: slothwindows.QuickSlowWindow{Quick: byName["ticket-fast"], Slow: byName["ticket-slow"]}},
		},
	}
	// The catalogue type has YAML tags and Prometheus durations, which
	// marshal as strings.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(aw); err != nil {
		return nil, fmt.Errorf("sloth windows: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// KubeOptions place a PrometheusRule resource.
type KubeOptions struct {
	Namespace string
	// Labels select the resource in a Prometheus's ruleSelector
	// (kube-prometheus: prometheus: k8s, role: alert-rules).
	Labels map[string]string
}

// PrometheusRule is prometheus-operator's monitoring.coreos.com/v1
// PrometheusRule. The operator's Go module
// (prometheus-operator/pkg/apis/monitoring) would bring k8s.io/api and
// apimachinery for four fields; its spec is Prometheus's own rule-file
// shape, so the resource is written from render's rule groups.
type PrometheusRule struct {
	APIVersion string             `yaml:"apiVersion"`
	Kind       string             `yaml:"kind"`
	Metadata   PrometheusRuleMeta `yaml:"metadata"`
	Spec       render.File        `yaml:"spec"`
}

// PrometheusRuleMeta is the resource's object metadata.
type PrometheusRuleMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// PrometheusRuleOf wraps a rule file in a PrometheusRule resource. The
// definition's rules are taken as they are, so the resource holds exactly
// what the token's digest covers.
func PrometheusRuleOf(d nft.Definition, rulesYAML string, opts KubeOptions) ([]byte, error) {
	var f render.File
	if err := yaml.Unmarshal([]byte(rulesYAML), &f); err != nil {
		return nil, fmt.Errorf("export %s: rules: %w", d.Name, err)
	}
	if len(f.Groups) == 0 {
		return nil, fmt.Errorf("export %s: the rules have no groups", d.Name)
	}
	pr := PrometheusRule{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata: PrometheusRuleMeta{
			Name: DNSLabel("srellama-" + render.ID(d)), Namespace: opts.Namespace, Labels: opts.Labels,
			Annotations: map[string]string{"srellama.dev/rules-digest": nft.RulesDigest(rulesYAML)},
		},
		Spec: f,
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(pr); err != nil {
		return nil, fmt.Errorf("export %s: prometheusrule: %w", d.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PrometheusRuleFor is PrometheusRuleOf with the definition's own rules.
func PrometheusRuleFor(d nft.Definition, opts KubeOptions) ([]byte, error) {
	if err := check(d); err != nil {
		return nil, err
	}
	return PrometheusRuleOf(d, d.Rules.YAML, opts)
}

func check(d nft.Definition) error {
	switch {
	case !nft.IsValidName(d.Name) || !nft.IsValidName(d.SLI.Service):
		return fmt.Errorf("export: invalid SLO or service name %q/%q", d.Name, d.SLI.Service)
	case d.SLI.ErrorRatioQuery == "" && (d.SLI.GoodQuery == "" || d.SLI.TotalQuery == ""):
		return fmt.Errorf("export %s: no SLI query", d.Name)
	case !(d.SLO.Objective > 0 && d.SLO.Objective < 1):
		return fmt.Errorf("export %s: objective %v is outside (0,1)", d.Name, d.SLO.Objective)
	case len(d.SLO.AlertPolicy) == 0:
		return fmt.Errorf("export %s: no alert windows", d.Name)
	}
	if _, err := nft.ParseDuration(d.SLO.Period); err != nil {
		return fmt.Errorf("export %s: period: %w", d.Name, err)
	}
	return nil
}

// shorthand writes a duration in OpenSLO's single-unit shorthand, in the
// largest unit that divides it (28 days is 4w, 36 hours 36h).
func shorthand(d time.Duration) (oslo.DurationShorthand, error) {
	units := []struct {
		unit oslo.DurationShorthandUnit
		size time.Duration
	}{
		{oslo.DurationShorthandUnitWeek, 7 * 24 * time.Hour},
		{oslo.DurationShorthandUnitDay, 24 * time.Hour},
		{oslo.DurationShorthandUnitHour, time.Hour},
		{oslo.DurationShorthandUnitMinute, time.Minute},
	}
	for _, u := range units {
		if d >= u.size && d%u.size == 0 {
			return oslo.NewDurationShorthand(int(d/u.size), u.unit), nil
		}
	}
	return oslo.DurationShorthand{}, fmt.Errorf("%s is not a whole number of minutes", nft.FormatDuration(d))
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// DNSLabel turns a name into an RFC 1123 label, which OpenSLO and
// Kubernetes names must be: '.' and '_' become '-', and a name longer than
// 63 characters keeps its start and a hash of the whole.
func DNSLabel(s string) string {
	out := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if out == "" {
		out = "slo"
	}
	if len(out) > 63 {
		sum := sha256.Sum256([]byte(s))
		out = strings.TrimRight(out[:54], "-") + "-" + hex.EncodeToString(sum[:4])
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && (s[cut]&0xC0) == 0x80 { // keep UTF-8 whole
		cut--
	}
	return s[:cut]
}

func ptr[T any](v T) *T { return &v }

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// percentValue is a ratio in percent, rounded to 9 decimals so 0.999 is
// 99.9 and not 99.89999999999999.
func percentValue(f float64) float64 { return math.Round(f*100*1e9) / 1e9 }

func percent(f float64) string { return num(percentValue(f)) }
