// Package render turns an SLO definition into Prometheus rules: recording
// rules for the SLI error ratio at every window the alerts need, metadata
// rules for error budgets and burn rates, and multi-window multi-burn-rate
// alerts. It is deterministic and pure: the same definition always renders
// to the same bytes, so the rules digest in a token can be recomputed by any
// member.
//
// Recording-rule names and labels follow Sloth's conventions
// (slo:sli_error:ratio_rate5m, sloth_service, ...), so dashboards built for
// Sloth work unchanged.
package render

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/nft"
)

// Label names shared with Sloth.
const (
	LabelID       = "sloth_id"
	LabelService  = "sloth_service"
	LabelSLO      = "sloth_slo"
	LabelWindow   = "sloth_window"
	LabelSeverity = "sloth_severity"
)

// Labels of our own on alerts, naming the window pair that fired.
const (
	LabelBurnWindow  = "burn_window"
	LabelLongWindow  = "long_window"
	LabelShortWindow = "short_window"
)

// Alert names. Every pair of an SLO shares one name and differs by the
// burn_window label, so routing can match on severity alone.
const (
	AlertBurn   = "SLOErrorBudgetBurn"
	AlertNoData = "SLONoData"
)

// Recording rules of the metadata group.
const (
	RecordObjective       = "slo:objective:ratio"
	RecordErrorBudget     = "slo:error_budget:ratio"
	RecordTimePeriodDays  = "slo:time_period:days"
	RecordCurrentBurnRate = "slo:current_burn_rate:ratio"
	RecordPeriodBurnRate  = "slo:period_burn_rate:ratio"
	RecordBudgetRemaining = "slo:period_error_budget_remaining:ratio"
	RecordInfo            = "sloth_slo_info"
)

// NoDataFor is how long the SLI must be absent before the no-data alert
// fires: long enough to ride out a scrape hiccup or a rule-evaluation restart.
const NoDataFor = "15m"

// Options tune the parts of the output that are not part of the SLO itself.
// A token's rules are rendered with zero Options, so that any member can
// recompute them from the definition alone; a deployment may render its
// own copy with a runbook URL.
type Options struct {
	// RunbookURL, when set and the definition has no routing of its own
	// (nft.Routing.RunbookURL, which is part of the token), is written as the runbook_url annotation of
	// every alert; "{{slo}}" in it is replaced with the SLO's ID. Without
	// it, alerts carry a short written runbook instead.
	RunbookURL string
}

// RecordName is the recording rule holding the SLI error ratio over window.
func RecordName(window string) string { return "slo:sli_error:ratio_rate" + window }

// ID is the SLO's identity in labels: service and SLO name, as Sloth forms it.
func ID(d nft.Definition) string { return d.SLI.Service + "-" + d.Name }

// Windows returns every window a definition's rules record, shortest first:
// each alert pair's long and short windows, the 5m window the current burn
// rate uses, and the whole period.
func Windows(d nft.Definition) ([]string, error) {
	byDur := map[time.Duration]string{}
	add := func(s string) error {
		dur, err := nft.ParseDuration(s)
		if err != nil {
			return err
		}
		byDur[dur] = nft.FormatDuration(dur)
		return nil
	}
	all := []string{"5m", d.SLO.Period}
	for _, w := range d.SLO.AlertPolicy {
		all = append(all, w.ShortWindow, w.LongWindow)
	}
	for _, s := range all {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("window %q: %w", s, err)
		}
	}
	durs := make([]time.Duration, 0, len(byDur))
	for dur := range byDur {
		durs = append(durs, dur)
	}
	slices.Sort(durs)
	out := make([]string, len(durs))
	for i, dur := range durs {
		out[i] = byDur[dur]
	}
	return out, nil
}

// ErrorRatioExpr is the SLI error ratio over window: the fraction of events
// that failed. For good/total SLIs it is 1 - good/total, each a ratio of sums
// over the window, so the period SLI is a ratio of sums too and not an
// average of short-window ratios.
func ErrorRatioExpr(sli nft.SLI, window string) string {
	if sli.ErrorRatioQuery != "" {
		return "(" + Instantiate(sli.ErrorRatioQuery, window) + ")"
	}
	return "1 - (\n  (" + Instantiate(sli.GoodQuery, window) + ")\n  /\n  (" + Instantiate(sli.TotalQuery, window) + ")\n)"
}

// meanOf5mRatios is Sloth's period SLI: the mean of the 5-minute error
// ratios recorded over the period, each 5 minutes weighted alike however
// many events it had (a quiet night's failed request counts as much as a
// busy hour's). The default, ErrorRatioExpr over the period, weighs every
// event alike instead.
func meanOf5mRatios(d nft.Definition, period string) string {
	sel := RecordName("5m") + selector(d) + "[" + period + "]"
	return "sum_over_time(" + sel + ")\n/ ignoring (" + LabelWindow + ")\ncount_over_time(" + sel + ")"
}

// Instantiate replaces the window placeholder (with or without inner
// spaces, as Go templates allow) with window.
func Instantiate(query, window string) string {
	var b strings.Builder
	rest := query
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			b.WriteString(rest)
			return b.String()
		}
		inner := strings.TrimSpace(rest[i+2 : i+j])
		b.WriteString(rest[:i])
		if inner == ".window" {
			b.WriteString(window)
		} else {
			b.WriteString(rest[i : i+j+2])
		}
		rest = rest[i+j+2:]
	}
}

// File is a Prometheus rule file, in the shape rulefmt reads.
type File struct {
	Groups []Group `yaml:"groups"`
}

// Group is one rule group.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record      string   `yaml:"record,omitempty"`
	Alert       string   `yaml:"alert,omitempty"`
	Expr        string   `yaml:"expr"`
	For         string   `yaml:"for,omitempty"`
	Labels      labelMap `yaml:"labels,omitempty"`
	Annotations labelMap `yaml:"annotations,omitempty"`
}

// labelMap is written with sorted keys, giving byte-stable output.
type labelMap map[string]string

// Build returns the rule file of a definition as data.
func Build(d nft.Definition, opts Options) (File, error) {
	if err := checkRenderable(d); err != nil {
		return File{}, err
	}
	windows, err := Windows(d)
	if err != nil {
		return File{}, err
	}
	id := ID(d)
	period, _ := nft.ParseDuration(d.SLO.Period) // checked by checkRenderable
	periodWindow := nft.FormatDuration(period)
	sli := Group{Name: "sloth-slo-sli-recordings-" + id}
	for _, w := range windows {
		expr := ErrorRatioExpr(d.SLI, w)
		if w == periodWindow && d.SLO.PeriodSLI == nft.PeriodSLISloth {
			expr = meanOf5mRatios(d, w)
		}
		sli.Rules = append(sli.Rules, Rule{
			Record: RecordName(w),
			Expr:   expr,
			Labels: sloLabels(d, LabelWindow, w),
		})
	}
	meta, err := metadataGroup(d)
	if err != nil {
		return File{}, err
	}
	alerts := Group{Name: "sloth-slo-alerts-" + id}
	for _, w := range d.SLO.AlertPolicy {
		alerts.Rules = append(alerts.Rules, burnAlert(d, w, opts))
	}
	alerts.Rules = append(alerts.Rules, noDataAlert(d, opts))
	return File{Groups: []Group{sli, meta, alerts}}, nil
}

// Render returns the rule file of a definition as YAML.
func Render(d nft.Definition, opts Options) (string, error) {
	f, err := Build(d, opts)
	if err != nil {
		return "", err
	}
	return f.YAML(), nil
}

// checkRenderable refuses definitions the renderer cannot turn into
// meaningful rules. The full check is nft.ValidateDefinition; this is the
// subset rendering depends on, so Render can run before the rules exist.
func checkRenderable(d nft.Definition) error {
	switch {
	case !nft.IsValidName(d.Name):
		return fmt.Errorf("render: SLO name %q is not a valid name", d.Name)
	case !nft.IsValidName(d.SLI.Service):
		return fmt.Errorf("render: service %q is not a valid name", d.SLI.Service)
	case d.SLI.ErrorRatioQuery == "" && (d.SLI.GoodQuery == "" || d.SLI.TotalQuery == ""):
		return fmt.Errorf("render %s: SLI needs good_query and total_query, or error_ratio_query", d.Name)
	case !(d.SLO.Objective > 0 && d.SLO.Objective < 1):
		return fmt.Errorf("render %s: objective %v is outside (0,1)", d.Name, d.SLO.Objective)
	case len(d.SLO.AlertPolicy) == 0:
		return fmt.Errorf("render %s: no alert windows", d.Name)
	}
	if _, err := nft.ParseDuration(d.SLO.Period); err != nil {
		return fmt.Errorf("render %s: period: %w", d.Name, err)
	}
	return nil
}

func sloLabels(d nft.Definition, extra ...string) labelMap {
	l := labelMap{LabelID: ID(d), LabelService: d.SLI.Service, LabelSLO: d.Name}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// selector matches the series of one SLO among those of every SLO recorded
// in the same Prometheus.
func selector(d nft.Definition) string {
	return fmt.Sprintf(`{%s=%q, %s=%q, %s=%q}`, LabelID, ID(d), LabelService, d.SLI.Service, LabelSLO, d.Name)
}

func metadataGroup(d nft.Definition) (Group, error) {
	period, err := nft.ParseDuration(d.SLO.Period)
	if err != nil {
		return Group{}, err
	}
	periodWindow := nft.FormatDuration(period)
	budget := nft.ErrorBudget(d.SLO.Objective)
	sel := selector(d)
	join := " / on(" + LabelID + ", " + LabelSLO + ", " + LabelService + ") group_left\n" + RecordErrorBudget + sel
	days := float64(period) / float64(24*time.Hour)
	// The generator that wrote the definition, from its provenance, so the
	// rules depend on nothing outside the definition.
	version := "unknown"
	if g := d.Provenance.Generator; g.Name != "" {
		version = g.Name + "@" + g.Version
	}
	return Group{
		Name: "sloth-slo-meta-recordings-" + ID(d),
		// Recording rules carry no routing labels: extra labels on the
		// series the joins match would split them.
		Rules: []Rule{
			{Record: RecordObjective, Expr: "vector(" + num(d.SLO.Objective) + ")", Labels: sloLabels(d)},
			{Record: RecordErrorBudget, Expr: "vector(" + num(budget) + ")", Labels: sloLabels(d)},
			{Record: RecordTimePeriodDays, Expr: "vector(" + num(days) + ")", Labels: sloLabels(d)},
			{Record: RecordCurrentBurnRate, Expr: RecordName("5m") + sel + join, Labels: sloLabels(d)},
			{Record: RecordPeriodBurnRate, Expr: RecordName(periodWindow) + sel + join, Labels: sloLabels(d)},
			{Record: RecordBudgetRemaining, Expr: "1 - " + RecordPeriodBurnRate + sel, Labels: sloLabels(d)},
			{Record: RecordInfo, Expr: "vector(1)", Labels: sloLabels(d,
				"sloth_mode", "srellama",
				"sloth_spec", "prometheus/v1",
				"sloth_version", version,
				"sloth_objective", percent(d.SLO.Objective),
			)},
		},
	}, nil
}

// BurnThreshold is the error ratio above which a window pair fires: the
// burn rate times the error budget.
func BurnThreshold(d nft.Definition, w nft.AlertWindow) string {
	return "(" + num(w.BurnRate) + " * " + num(nft.ErrorBudget(d.SLO.Objective)) + ")"
}

func burnAlert(d nft.Definition, w nft.AlertWindow, opts Options) Rule {
	sel := selector(d)
	thr := BurnThreshold(d, w)
	cond := func(window string) string {
		return "max without (" + LabelWindow + ") (" + RecordName(canonical(window)) + sel + " > " + thr + ")"
	}
	budget := nft.ErrorBudget(d.SLO.Objective)
	return Rule{
		Alert: AlertBurn,
		Expr:  "(\n  " + cond(w.LongWindow) + "\n  and\n  " + cond(w.ShortWindow) + "\n)",
		Labels: alertLabels(d, sloLabels(d,
			"severity", d.Routing.SeverityLabel(w.Severity),
			LabelSeverity, string(w.Severity),
			LabelBurnWindow, w.Name,
			LabelLongWindow, canonical(w.LongWindow),
			LabelShortWindow, canonical(w.ShortWindow),
		)),
		Annotations: annotations(d, opts, burnRunbook(d),
			fmt.Sprintf("%s %s is burning its error budget %sx too fast (%s).", d.SLI.Service, d.Name, num(w.BurnRate), w.Name),
			fmt.Sprintf("The error ratio of %s over both %s and %s is above %s times the error budget of %s%%: "+
				"at this rate %s%% of the %s budget is spent within %s. Objective %s%% over %s.",
				d.Name, canonical(w.LongWindow), canonical(w.ShortWindow), num(w.BurnRate), percent(budget),
				percent(w.BudgetConsumed), d.SLO.Period, canonical(w.LongWindow), percent(d.SLO.Objective), d.SLO.Period),
		),
	}
}

func noDataAlert(d nft.Definition, opts Options) Rule {
	return Rule{
		Alert: AlertNoData,
		Expr:  "absent(" + RecordName("5m") + selector(d) + ")",
		For:   NoDataFor,
		Labels: alertLabels(d, sloLabels(d,
			"severity", d.Routing.SeverityLabel(nft.SeverityTicket),
			LabelSeverity, string(nft.SeverityTicket),
		)),
		Annotations: annotations(d, opts, noDataRunbook(d),
			fmt.Sprintf("%s %s has no SLI data: its error budget is not being watched.", d.SLI.Service, d.Name),
			fmt.Sprintf("%s has been absent for %s: the metrics of %s are not scraped, were renamed, or never had an event. "+
				"Burn-rate alerts cannot fire without it.", RecordName("5m"), NoDataFor, d.Name),
		),
	}
}

// alertLabels adds the definition's routing labels to an alert's own;
// nft refuses routing labels that would replace the alert's.
func alertLabels(d nft.Definition, l labelMap) labelMap {
	if d.Routing != nil {
		for k, v := range d.Routing.Labels {
			if _, own := l[k]; !own {
				l[k] = v
			}
		}
	}
	return l
}

func annotations(d nft.Definition, opts Options, runbook, summary, description string) labelMap {
	a := labelMap{"summary": summary, "description": description}
	url := opts.RunbookURL
	if d.Routing != nil && d.Routing.RunbookURL != "" {
		url = d.Routing.RunbookURL // the definition's own routing wins
	}
	if url != "" {
		a["runbook_url"] = strings.ReplaceAll(url, "{{slo}}", ID(d))
	} else {
		a["runbook"] = runbook
	}
	if d.Routing != nil {
		for k, v := range d.Routing.Annotations {
			if _, own := a[k]; !own {
				a[k] = v
			}
		}
	}
	return a
}

func burnRunbook(d nft.Definition) string {
	return fmt.Sprintf("1. Compare %s* across windows to see when the errors started. "+
		"2. Check recent deploys, config changes and dependencies of %s. "+
		"3. If the budget cannot absorb the burn, mitigate first (roll back, shed load), then investigate.",
		RecordName(""), d.SLI.Service)
}

func noDataRunbook(d nft.Definition) string {
	return fmt.Sprintf("1. Check that Prometheus scrapes %s (up, target health). "+
		"2. Check that the SLI's metrics still exist under the same names and labels: %s. "+
		"3. If the service had no traffic at all, the SLI is undefined; consider a synthetic probe.",
		d.SLI.Service, strings.Join(metricNames(d), ", "))
}

func metricNames(d nft.Definition) []string {
	out := make([]string, len(d.SLI.Metrics))
	for i, m := range d.SLI.Metrics {
		out[i] = m.Name
	}
	return out
}

// canonical rewrites a duration in its canonical form ("60m" becomes "1h")
// so alert expressions name the recording rules the SLI group defines.
func canonical(s string) string {
	d, err := nft.ParseDuration(s)
	if err != nil {
		return s
	}
	return nft.FormatDuration(d)
}

// num prints a float in its shortest exact form, which both Prometheus 2.x
// and 3.x parse.
func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// percent prints a ratio as a percentage, rounded to 9 decimals so 0.999
// prints as 99.9 and not 99.89999999999999.
func percent(f float64) string { return num(math.Round(f*100*1e9) / 1e9) }
