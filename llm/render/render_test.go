package render_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func definition(t testing.TB, period string, sli nft.SLI) nft.Definition {
	t.Helper()
	p, err := nft.ParseDuration(period)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := nft.DefaultAlertPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return nft.Definition{
		Name: "reginit-success", Description: "AMF initial registrations that succeed.", Version: 1,
		SLI:        sli,
		SLO:        nft.SLO{Objective: 0.999, Period: period, ErrorBudget: nft.ErrorBudget(0.999), AlertPolicy: policy},
		Provenance: nft.Provenance{Generator: nft.Generator{Kind: nft.GeneratorBuiltin, Name: "test", Version: "1"}},
	}
}

var ratioSLI = nft.SLI{
	Service:    "amf",
	Kind:       nft.KindRatio,
	GoodQuery:  `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
	TotalQuery: `sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`,
	Metrics:    []nft.Metric{{Name: "fivegs_amffunction_rm_reginitsucc", Relevance: 1, Stability: 1}},
}

var errorRatioSLI = nft.SLI{
	Service:         "amf",
	Kind:            nft.KindRatio,
	ErrorRatioQuery: `sum(rate(http_requests_total{code=~"5.."}[{{ .window }}])) / sum(rate(http_requests_total[{{ .window }}]))`,
	Metrics:         []nft.Metric{{Name: "http_requests_total", Relevance: 1, Stability: 1}},
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		golden string
		def    nft.Definition
		opts   render.Options
	}{
		{"ratio-30d.yaml", definition(t, "30d", ratioSLI), render.Options{}},
		{"ratio-4w-routed-sloth-period.yaml", routed(definition(t, "4w", ratioSLI)), render.Options{}},
		{"error-ratio-7d-runbook.yaml", definition(t, "7d", errorRatioSLI),
			render.Options{RunbookURL: "https://runbooks.internal/slo/{{slo}}"}},
		{"ratio-1d.yaml", definition(t, "1d", ratioSLI), render.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := render.Render(tt.def, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (run go test -update to accept):\n%s", path, got)
			}
			if _, errs := rulefmt.Parse([]byte(got), false, model.LegacyValidation, parser.NewParser(parser.Options{})); len(errs) > 0 {
				t.Errorf("rulefmt refuses the rendering: %v", errs)
			}
		})
	}
}

func TestWindowsCoverEveryAlertAndThePeriod(t *testing.T) {
	tests := []struct {
		period string
		want   string
	}{
		{"30d", "5m 30m 1h 2h 6h 1d 3d 30d"},
		{"7d", "5m 30m 1h 2h 6h 1d 3d 1w"},
		{"28d", "5m 30m 1h 2h 6h 1d 3d 4w"},
		{"2d", "5m 30m 1h 2h 6h 1d 2d"},
		{"1d", "5m 30m 1h 2h 6h 1d"},
	}
	for _, tt := range tests {
		ws, err := render.Windows(definition(t, tt.period, ratioSLI))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ws, " "); got != tt.want {
			t.Errorf("period %s: windows %q, want %q", tt.period, got, tt.want)
		}
	}
}

func TestAlertPerWindowPair(t *testing.T) {
	f, err := render.Build(definition(t, "30d", ratioSLI), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == render.AlertBurn {
				pairs = append(pairs, r.Labels[render.LabelBurnWindow]+"="+r.Labels[render.LabelLongWindow]+"/"+r.Labels[render.LabelShortWindow]+":"+r.Labels["severity"])
				if !strings.Contains(r.Expr, "slo:sli_error:ratio_rate"+r.Labels[render.LabelLongWindow]+"{") {
					t.Errorf("alert %s does not read its long window: %s", r.Labels[render.LabelBurnWindow], r.Expr)
				}
			}
		}
	}
	want := "page-fast=1h/5m:page page-slow=6h/30m:page ticket-fast=1d/2h:ticket ticket-slow=3d/6h:ticket"
	if got := strings.Join(pairs, " "); got != want {
		t.Errorf("alert pairs %q, want %q", got, want)
	}
}

func TestPeriodSLIIsARatioOfSums(t *testing.T) {
	got := render.ErrorRatioExpr(ratioSLI, "30d")
	want := "1 - (\n  (sum(rate(fivegs_amffunction_rm_reginitsucc{service=\"amf\"}[30d])))\n  /\n  (sum(rate(fivegs_amffunction_rm_reginitreq{service=\"amf\"}[30d])))\n)"
	if got != want {
		t.Errorf("period SLI:\n%s\nwant\n%s", got, want)
	}
}

func TestRenderRefusesWhatItCannotRender(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*nft.Definition)
		want   string
	}{
		{"objective 1", func(d *nft.Definition) { d.SLO.Objective = 1 }, "outside (0,1)"},
		{"objective 0", func(d *nft.Definition) { d.SLO.Objective = 0 }, "outside (0,1)"},
		{"unknown period", func(d *nft.Definition) { d.SLO.Period = "month" }, "period"},
		{"no query", func(d *nft.Definition) { d.SLI.GoodQuery = "" }, "good_query"},
		{"no alerts", func(d *nft.Definition) { d.SLO.AlertPolicy = nil }, "no alert windows"},
		{"bad name", func(d *nft.Definition) { d.Name = "Bad Name" }, "not a valid name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := definition(t, "30d", ratioSLI)
			tt.mutate(&d)
			out, err := render.Render(d, render.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || out != "" {
				t.Errorf("Render = %q, %v; want an error mentioning %q and no output", out, err, tt.want)
			}
		})
	}
}

// TestYAMLReadsBackAsWritten checks the hand-written emitter against a YAML
// parser, with strings that need each quoting style.
func TestYAMLReadsBackAsWritten(t *testing.T) {
	tricky := []string{
		"plain", "5m", "99.9", "true", "null", "a: b", "a #b", "trailing ", "colon:", `q"uote`, `back\slash`,
		"tab\there", "ünïcode", "{flow}", "- dash", "multi\nline", "  indented\nfirst", "trailing\n", "x\n  y\n",
		"line with trailing space \nnext", `sum(rate(x{a="b"}[5m])) > (14.4 * 0.001)`,
	}
	f := render.File{Groups: []render.Group{{Name: "g", Rules: nil}}}
	for i, s := range tricky {
		f.Groups[0].Rules = append(f.Groups[0].Rules, render.Rule{
			Record: "r" + string(rune('a'+i)), Expr: s, For: s,
			Labels: map[string]string{"l": s}, Annotations: map[string]string{"a": s},
		})
	}
	var back render.File
	if err := yaml.Unmarshal([]byte(f.YAML()), &back); err != nil {
		t.Fatalf("emitted YAML does not parse: %v\n%s", err, f.YAML())
	}
	for i, r := range back.Groups[0].Rules {
		want := tricky[i]
		if r.Expr != want || r.For != want || r.Labels["l"] != want || r.Annotations["a"] != want {
			t.Errorf("%q read back as expr %q for %q label %q annotation %q", want, r.Expr, r.For, r.Labels["l"], r.Annotations["a"])
		}
	}
}

func routed(d nft.Definition) nft.Definition {
	d.SLO.PeriodSLI = nft.PeriodSLISloth
	d.Routing = &nft.Routing{
		RunbookURL:  "https://runbooks.example/slo/{{slo}}",
		Severities:  nft.SeverityNamesCriticalWarning,
		Labels:      map[string]string{"team": "core-5g", "owner": "sre"},
		Annotations: map[string]string{"dashboard": "https://grafana.example/d/slo"},
	}
	return d
}

func TestRoutingReachesEveryAlertAndNoRecordingRule(t *testing.T) {
	f, err := render.Build(routed(definition(t, "30d", ratioSLI)), render.Options{RunbookURL: "https://ignored.example"})
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				if r.Labels["team"] != "" || r.Labels["severity"] != "" {
					t.Errorf("recording rule %s carries routing labels %v", r.Record, r.Labels)
				}
				continue
			}
			alerts++
			want := "critical"
			if r.Labels[render.LabelSeverity] == string(nft.SeverityTicket) {
				want = "warning"
			}
			if r.Labels["severity"] != want || r.Labels["team"] != "core-5g" || r.Labels["owner"] != "sre" {
				t.Errorf("%s %s labels %v", r.Alert, r.Labels[render.LabelBurnWindow], r.Labels)
			}
			if r.Annotations["runbook_url"] != "https://runbooks.example/slo/amf-reginit-success" || r.Annotations["dashboard"] == "" || r.Annotations["runbook"] != "" {
				t.Errorf("%s annotations %v", r.Alert, r.Annotations)
			}
		}
	}
	if alerts != 5 {
		t.Errorf("%d alerts, want 4 burn alerts and the no-data alert", alerts)
	}
}

func TestSlothPeriodSLIIsTheMeanOf5mRatios(t *testing.T) {
	f, err := render.Build(routed(definition(t, "30d", ratioSLI)), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Groups[0].Rules {
		if r.Record == render.RecordName("30d") {
			if !strings.Contains(r.Expr, "sum_over_time(slo:sli_error:ratio_rate5m{") || !strings.Contains(r.Expr, "count_over_time(") {
				t.Errorf("period rule %q is not the mean of 5m ratios", r.Expr)
			}
			return
		}
	}
	t.Error("no period rule")
}
