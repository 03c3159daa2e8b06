package slo_test

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

func spec() slo.Spec {
	return slo.Spec{
		Name: "reginit-success", Description: "Registrations that succeed.", Service: "amf", Kind: nft.KindRatio,
		GoodQuery:  "sum(rate(succ_total[{{.window}}]))",
		TotalQuery: "sum(rate(req_total[{{.window}}]))",
		Objective:  0.999, Period: "28d",
	}
}

var metrics = []nft.Metric{{Name: "succ_total", Relevance: 1, Stability: 1}, {Name: "req_total", Relevance: 0.5, Stability: 1}}

func TestBuildScalesThePolicyToThePeriod(t *testing.T) {
	d, err := slo.Build(spec(), slo.Draft{Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if d.SLO.ErrorBudget != 0.001 || d.SLO.Period != "4w" || len(d.SLO.AlertPolicy) != 4 {
		t.Errorf("SLO = %+v", d.SLO)
	}
	// 2% of a 28d budget in 1h: 0.02 * 672h / 1h. Prometheus prints 28d as 4w.
	if got := d.SLO.AlertPolicy[0].BurnRate; got != 13.44 {
		t.Errorf("page-fast burn rate %v, want 13.44", got)
	}
	if d.Rules.Digest != nft.RulesDigest(d.Rules.YAML) || !strings.Contains(d.Rules.YAML, "slo:sli_error:ratio_rate4w") {
		t.Error("rules or digest missing")
	}
	if got := slo.SpecOf(d); got.GoodQuery != spec().GoodQuery || got.Objective != 0.999 {
		t.Errorf("SpecOf does not invert Build: %+v", got)
	}
}

func TestBadSpecsAreRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*slo.Spec)
		want   string
	}{
		{"objective 1", func(s *slo.Spec) { s.Objective = 1 }, "outside (0,1)"},
		{"objective negative", func(s *slo.Spec) { s.Objective = -0.5 }, "outside (0,1)"},
		{"unknown period", func(s *slo.Spec) { s.Period = "1 month" }, "unknown period"},
		{"period over a year", func(s *slo.Spec) { s.Period = "400d" }, "outside 1d..366d"},
		{"no query", func(s *slo.Spec) { s.GoodQuery, s.TotalQuery = "", "" }, "no SLI query"},
		{"half a pair", func(s *slo.Spec) { s.TotalQuery = "" }, "go together"},
		{"both forms", func(s *slo.Spec) { s.ErrorRatioQuery = "x" }, "not both"},
		{"latency without threshold", func(s *slo.Spec) { s.Kind = nft.KindLatency }, "positive threshold"},
		{"threshold on a ratio", func(s *slo.Spec) { s.LatencyThreshold = 0.5 }, "no latency threshold"},
		{"unknown kind", func(s *slo.Spec) { s.Kind = "speed" }, "not ratio, latency or availability"},
		{"bad name", func(s *slo.Spec) { s.Name = "Reg Init" }, "not a valid SLO name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.mutate(&s)
			d, err := slo.Build(s, slo.Draft{Metrics: metrics})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if d.Name != "" {
				t.Error("refused spec returned a partial definition")
			}
		})
	}
	if _, err := slo.Build(spec(), slo.Draft{}); err == nil || !strings.Contains(err.Error(), "no metrics") {
		t.Errorf("err = %v, want no metrics", err)
	}
}

func TestBuildCarriesTheDeploymentsRoutingAndPeriodSLI(t *testing.T) {
	r := &nft.Routing{Severities: nft.SeverityNamesCriticalWarning, Labels: map[string]string{"team": "core"}}
	d, err := slo.Build(spec(), slo.Draft{Metrics: metrics, Routing: r, PeriodSLI: nft.PeriodSLISloth})
	if err != nil {
		t.Fatal(err)
	}
	if d.Routing != r || d.SLO.PeriodSLI != nft.PeriodSLISloth {
		t.Errorf("routing %+v, period SLI %q", d.Routing, d.SLO.PeriodSLI)
	}
	if !strings.Contains(d.Rules.YAML, "severity: critical") || !strings.Contains(d.Rules.YAML, "team: core") || !strings.Contains(d.Rules.YAML, "count_over_time(") {
		t.Error("the rules do not follow the routing and period SLI")
	}
}
