package ruletest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/ruletest"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

func policy(t *testing.T, period string) nft.SLO {
	t.Helper()
	p, _ := nft.ParseDuration(period)
	ws, err := nft.DefaultAlertPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return nft.SLO{Objective: 0.999, Period: period, ErrorBudget: 0.001, AlertPolicy: ws}
}

func TestFiringFollowsWindowArithmetic(t *testing.T) {
	long := 4 * 24 * time.Hour // longer than every window
	tests := []struct {
		name     string
		errRatio float64
		healthy  time.Duration
		burst    time.Duration
		want     []string
	}{
		{"healthy", 0, long, time.Hour, nil},
		{"total outage for 10m pages fast", 1, long, 10 * time.Minute, []string{"page-fast", "page-slow", "ticket-fast", "ticket-slow"}},
		{"2% errors for an hour: fast page only", 0.02, long, time.Hour, []string{"page-fast"}},
		{"2% errors for 5 minutes: not yet", 0.02, long, 5 * time.Minute, nil},
		{"0.5% for a day: tickets", 0.005, long, 24 * time.Hour, []string{"ticket-fast", "ticket-slow"}},
		{"0.15% for three days: slow ticket", 0.0015, long, 72 * time.Hour, []string{"ticket-slow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ruletest.Firing(policy(t, "30d"), 0.001, tt.errRatio, tt.healthy, tt.burst)
			if !slices.Equal(got, tt.want) {
				t.Errorf("firing %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGenerateScenarios(t *testing.T) {
	in := fixture.AMF()
	cands, err := builtin.Candidates(in, builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		d, err := builtin.Generator{}.Define(context.Background(), in, c)
		if err != nil {
			t.Fatal(err)
		}
		tests, err := ruletest.Generate(d, render.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.Spec.Kind, err)
		}
		if len(tests.Scenarios) != 3 || !strings.Contains(tests.Scenarios[1], "page-fast") {
			t.Errorf("%s: scenarios %v", c.Spec.Kind, tests.Scenarios)
		}
		for _, m := range d.SLI.Metrics {
			if !strings.Contains(tests.YAML, m.Name) {
				t.Errorf("%s: tests have no series for %s", c.Spec.Kind, m.Name)
			}
		}
	}
}

func TestUnsynthesizableShapes(t *testing.T) {
	base := slo.Spec{Name: "x", Description: "x", Service: "amf", Kind: nft.KindRatio, Objective: 0.99, Period: "30d"}
	tests := []struct {
		name   string
		mutate func(*slo.Spec)
	}{
		{"error ratio query", func(s *slo.Spec) { s.ErrorRatioQuery = "sum(rate(a_total[{{.window}}]))" }},
		{"regex matcher", func(s *slo.Spec) {
			s.GoodQuery = `sum(rate(a_total{code=~"2.."}[{{.window}}]))`
			s.TotalQuery = "sum(rate(a_total[{{.window}}]))"
		}},
		{"total selects the good series", func(s *slo.Spec) {
			s.GoodQuery = `sum(rate(a_total{code="200"}[{{.window}}]))`
			s.TotalQuery = "sum(rate(a_total[{{.window}}]))"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mutate(&s)
			d, err := slo.Build(s, slo.Draft{Metrics: []nft.Metric{{Name: "a_total"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ruletest.Generate(d, render.Options{}); !errors.Is(err, ruletest.ErrNotSynthesizable) {
				t.Errorf("err = %v, want ErrNotSynthesizable", err)
			}
		})
	}
}
