package promtool_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/promtool"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/ruletest"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

// tool returns the installed promtool, skipping outside CI when there is
// none and failing in CI, which installs Debian's prometheus package.
func tool(t *testing.T) promtool.Tool {
	t.Helper()
	pt, err := promtool.Find()
	if errors.Is(err, promtool.ErrNotFound) {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must have promtool: apt-get install -y prometheus")
		}
		t.Skip("promtool not installed (apt-get install -y prometheus); skipping promtool checks")
	}
	return pt
}

func definition(t *testing.T) nft.Definition {
	t.Helper()
	d, err := builtin.Generator{}.Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGeneratedRulesPassPromtool generates one SLO of each kind with a
// validator that runs promtool: check rules and the generated unit tests
// (healthy fires nothing, a fast burn pages, missing data fires SLONoData)
// must pass and be recorded in the provenance.
func TestGeneratedRulesPassPromtool(t *testing.T) {
	pt := tool(t)
	in := fixture.AMF()
	cands, err := builtin.Candidates(in, builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := builtin.Generator{Validator: validate.Validator{Promtool: pt}}
	for _, c := range cands {
		t.Run(string(c.Spec.Kind), func(t *testing.T) {
			d, err := g.Define(context.Background(), in, c)
			if err != nil {
				t.Fatal(err)
			}
			recorded := map[string]string{}
			for _, ch := range d.Provenance.Validation {
				if ch.Passed {
					recorded[ch.Name] = ch.Detail
				}
			}
			if _, ok := recorded[validate.CheckPromtool]; !ok {
				t.Errorf("no passed %s check: %+v", validate.CheckPromtool, d.Provenance.Validation)
			}
			if detail := recorded[validate.CheckPromtoolTest]; !strings.Contains(detail, "page-fast") {
				t.Errorf("no passed %s check with a paging scenario: %+v", validate.CheckPromtoolTest, d.Provenance.Validation)
			}
		})
	}
}

// TestPromtoolCatchesBrokenRules shows the unit tests can fail: rules whose
// page threshold was raised tenfold do not page on the burst the tests
// expect to page.
func TestPromtoolCatchesBrokenRules(t *testing.T) {
	pt := tool(t)
	d := definition(t)
	tests, err := ruletest.Generate(d, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.ReplaceAll(d.Rules.YAML, "(14.4 * ", "(144 * ")
	if broken == d.Rules.YAML {
		t.Fatal("fixture lost its 14.4 page-fast burn rate")
	}
	if err := pt.TestRules(context.Background(), broken, tests.YAML); err == nil {
		t.Fatal("promtool accepted rules that do not page on a fast burn")
	}
	if err := pt.CheckRules(context.Background(), "groups:\n- name: x\n  rules:\n  - record: a\n    expr: sum(\n"); err == nil {
		t.Fatal("promtool accepted an unparsable expression")
	}
}
