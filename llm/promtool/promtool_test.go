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

// definitions are one builtin definition per SLI kind the fixture supports.
func definitions(t *testing.T) []nft.Definition {
	t.Helper()
	in := fixture.AMF()
	cands, err := builtin.Candidates(in, builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []nft.Definition
	for _, c := range cands {
		d, err := builtin.Generator{}.Define(context.Background(), in, c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestGeneratedRulesPassPromtool(t *testing.T) {
	pt := tool(t)
	for _, d := range definitions(t) {
		t.Run(string(d.SLI.Kind), func(t *testing.T) {
			if err := pt.CheckRules(context.Background(), d.Rules.YAML); err != nil {
				t.Fatal(err)
			}
			tests, err := ruletest.Generate(d, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := pt.TestRules(context.Background(), d.Rules.YAML, tests.YAML); err != nil {
				t.Fatalf("%v\n%s", err, tests.YAML)
			}
		})
	}
}

// TestPromtoolCatchesBrokenRules shows the unit tests can fail: rules whose
// page threshold was raised tenfold do not page on the burst the tests
// expect to page.
func TestPromtoolCatchesBrokenRules(t *testing.T) {
	pt := tool(t)
	d := definitions(t)[0]
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
