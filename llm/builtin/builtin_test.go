package builtin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

func TestCandidatesFollowEvidence(t *testing.T) {
	cands, err := builtin.Candidates(fixture.AMF(), builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, good, total string
		kind              nft.SLIKind
	}{
		{"rm-reginit-success", `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
			`sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`, nft.KindRatio},
		{"request-duration-latency", `sum(rate(amf_sbi_request_duration_seconds_bucket{le="0.5"}[{{.window}}]))`,
			`sum(rate(amf_sbi_request_duration_seconds_count[{{.window}}]))`, nft.KindLatency},
		{"up-availability", `sum(sum_over_time(up{job="amf"}[{{.window}}]))`,
			`sum(count_over_time(up{job="amf"}[{{.window}}]))`, nft.KindAvailability},
	}
	if len(cands) != len(want) {
		t.Fatalf("got %d candidates, want %d: %+v", len(cands), len(want), cands)
	}
	for i, w := range want {
		s := cands[i].Spec
		if s.Name != w.name || s.GoodQuery != w.good || s.TotalQuery != w.total || s.Kind != w.kind {
			t.Errorf("candidate %d = %s %s\n  good  %s\n  total %s\nwant %s %s\n  good  %s\n  total %s",
				i, s.Name, s.Kind, s.GoodQuery, s.TotalQuery, w.name, w.kind, w.good, w.total)
		}
	}
	if got := cands[1].Spec.LatencyThreshold; got != 0.5 {
		t.Errorf("latency threshold = %v, want 0.5 (the smallest bucket holding 99%%)", got)
	}
}

func TestSuggestObjective(t *testing.T) {
	days := func(n int, good, total float64) ([]float64, []float64) {
		g, tt := make([]float64, n), make([]float64, n)
		for i := range n {
			g[i], tt[i] = good, total
		}
		return g, tt
	}
	tests := []struct {
		name         string
		good, total  float64
		period       string
		wantObj      float64
		wantAchieved float64
	}{
		{"perfect history gets four nines", 1000, 1000, "30d", 0.9999, 1},
		{"99.97% keeps half its budget at 99.9%", 9997, 10000, "30d", 0.999, 0.9997},
		{"99.95% exactly spends half of 99.9%", 9995, 10000, "30d", 0.999, 0.9995},
		{"99.94% falls to 99.8%", 9994, 10000, "30d", 0.998, 0.9994},
		{"99% needs 98%", 990, 1000, "30d", 0.98, 0.99},
		{"a bad service gets the lowest objective 30d alerts can page on", 500, 1000, "30d", 0.95, 0.5},
		{"a 7d period pages on lower objectives", 500, 1000, "7d", 0.75, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, tot := days(7, tt.good, tt.total)
			obj, ach, err := builtin.SuggestObjective(g, tot, tt.period, builtin.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if obj != tt.wantObj || ach != tt.wantAchieved {
				t.Errorf("objective %v achieved %v, want %v %v", obj, ach, tt.wantObj, tt.wantAchieved)
			}
		})
	}
}

func TestGenerateProducesAValidDefinition(t *testing.T) {
	g := builtin.Generator{}
	d, err := g.Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	if d.SLO.Objective != 0.9995 || d.SLO.Period != "30d" || d.SLI.Kind != nft.KindRatio {
		t.Errorf("got %s %v over %s, want ratio 0.9995 over 30d", d.SLI.Kind, d.SLO.Objective, d.SLO.Period)
	}
	if gen := d.Provenance.Generator; gen.Kind != nft.GeneratorBuiltin || gen.Name != builtin.Name || gen.Version != builtin.Version {
		t.Errorf("generator = %+v", gen)
	}
	names := map[string]bool{}
	for _, c := range d.Provenance.Validation {
		names[c.Name] = c.Passed
	}
	for _, want := range []string{validate.CheckPromQL, validate.CheckRulefmt, validate.CheckMetrics, validate.CheckRendering} {
		if !names[want] {
			t.Errorf("validation lacks passed check %q: %+v", want, d.Provenance.Validation)
		}
	}
	again, err := g.Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := nft.TokenIDOf(d)
	b, _ := nft.TokenIDOf(again)
	if a != b {
		t.Error("two runs on the same input gave different definitions")
	}
}

func TestBadInputIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*builtin.Input)
		want   string
	}{
		{"no metrics", func(in *builtin.Input) { in.Metrics = nil }, "no usable metric"},
		{"only unusable metrics", func(in *builtin.Input) { in.Metrics = in.Metrics[4:] }, "counter without a success/request partner"},
		{"unknown period", func(in *builtin.Input) { in.Period = "1month" }, "unknown period"},
		{"period too short", func(in *builtin.Input) { in.Period = "12h" }, "outside 1d..366d"},
		{"bad service", func(in *builtin.Input) { in.Service = "AMF!" }, "not a valid service name"},
		{"no history", func(in *builtin.Input) {
			for i := range in.Metrics {
				in.Metrics[i].Daily = nil
			}
		}, "no usable history"},
		{"success above requests", func(in *builtin.Input) { in.Metrics[1].Daily[0] = 1e9 }, "not a valid count"},
		{"bad proposer", func(in *builtin.Input) { in.Proposer = "" }, "proposer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixture.AMF()
			tt.mutate(&in)
			d, err := builtin.Generator{}.Generate(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if d.Name != "" || d.Rules.YAML != "" {
				t.Error("a refused input returned a partial definition")
			}
		})
	}
	_, err := builtin.Candidates(builtin.Input{Service: "amf"}, builtin.Options{})
	if !errors.Is(err, builtin.ErrNoUsableMetric) {
		t.Errorf("err = %v, want ErrNoUsableMetric", err)
	}
}
