package validate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

func definition(t *testing.T) nft.Definition {
	t.Helper()
	d, err := builtin.Generator{}.Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rerender keeps the rules consistent with a mutated definition, so a test
// sees the check it aims at and not the rendering check.
func rerender(t *testing.T, d *nft.Definition) {
	t.Helper()
	y, err := render.Render(*d, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Rules = nft.Rules{YAML: y, Digest: nft.RulesDigest(y)}
}

func TestValidatorCatches(t *testing.T) {
	tests := []struct {
		name   string
		v      validate.Validator
		mutate func(*testing.T, *nft.Definition)
		check  string
		want   string
	}{
		{"unparsable PromQL", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLI.GoodQuery = "sum(rate(fivegs_amffunction_rm_reginitsucc[{{.window}}]) by"
		}, validate.CheckPromQL, "parse error"},
		{"a range vector is not an SLI", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLI.GoodQuery = "fivegs_amffunction_rm_reginitsucc[{{.window}}]"
			rerender(t, d)
		}, validate.CheckPromQL, "not an instant vector"},
		{"window placeholder outside a range", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLI.GoodQuery = `sum(rate(fivegs_amffunction_rm_reginitsucc{w="{{.window}}"}[5m]))`
			rerender(t, d)
		}, validate.CheckWindow, "no range selector"},
		{"metric not declared", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLI.GoodQuery = "sum(rate(other_total[{{.window}}]))"
			rerender(t, d)
		}, validate.CheckMetrics, `"other_total" is used but not among`},
		{"metric not in the source", validate.Validator{KnownMetrics: []string{"fivegs_amffunction_rm_reginitreq"}},
			func(*testing.T, *nft.Definition) {}, validate.CheckMetrics, "does not exist in the metric source"},
		{"declared metric unused", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLI.Metrics = append(d.SLI.Metrics, nft.Metric{Name: "spare_total"})
			rerender(t, d)
		}, validate.CheckMetrics, `"spare_total" is not used`},
		{"rules edited by hand", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.Rules.YAML = strings.Replace(d.Rules.YAML, "(14.4 * ", "(144 * ", 1)
			d.Rules.Digest = nft.RulesDigest(d.Rules.YAML)
		}, validate.CheckRendering, "differ from the rendering"},
		{"rules that rulefmt refuses", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.Rules.YAML = "groups:\n  - name: x\n    rules:\n      - record: a\n        expr: sum(\n"
			d.Rules.Digest = nft.RulesDigest(d.Rules.YAML)
		}, validate.CheckRulefmt, "parse error"},
		{"objective outside (0,1)", validate.Validator{}, func(t *testing.T, d *nft.Definition) {
			d.SLO.Objective = 1.2
		}, validate.CheckSpec, "outside (0,1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := definition(t)
			tt.mutate(t, &d)
			r := tt.v.Validate(context.Background(), d)
			if r.Passed() {
				t.Fatal("validation passed")
			}
			found := false
			for _, c := range r.Checks {
				if c.Name == tt.check && !c.Passed && strings.Contains(c.Detail, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failed %s check mentioning %q: %+v", tt.check, tt.want, r.Checks)
			}
			if _, err := tt.v.Finish(context.Background(), d); err == nil {
				t.Error("Finish accepted the definition")
			}
		})
	}
}

// fakePromtool records calls and fails as told.
type fakePromtool struct {
	checkErr, testErr error
	tests             []string
}

func (f *fakePromtool) CheckRules(context.Context, string) error { return f.checkErr }
func (f *fakePromtool) TestRules(_ context.Context, _, tests string) error {
	f.tests = append(f.tests, tests)
	return f.testErr
}

func TestPromtoolChecksAreRecorded(t *testing.T) {
	d := definition(t)
	pt := &fakePromtool{}
	r := validate.Validator{Promtool: pt}.Validate(context.Background(), d)
	if !r.Passed() {
		t.Fatal(r.Err())
	}
	names := []string{}
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	want := []string{validate.CheckSpec, validate.CheckPromQL, validate.CheckWindow, validate.CheckMetrics,
		validate.CheckRulefmt, validate.CheckRendering, validate.CheckPromtool, validate.CheckPromtoolTest}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("checks %v, want %v", names, want)
	}
	if len(pt.tests) != 1 || !strings.Contains(pt.tests[0], "rule_files") {
		t.Errorf("promtool got no unit tests")
	}
	pt.testErr = errors.New("FAILED: alert did not fire")
	if r := (validate.Validator{Promtool: pt}).Validate(context.Background(), d); r.Passed() || !strings.Contains(r.Err().Error(), "did not fire") {
		t.Errorf("a failing promtool test passed validation: %v", r.Err())
	}
}

func TestFinishFillsProvenance(t *testing.T) {
	d := definition(t)
	d.Provenance.Validation = nil
	out, err := validate.Validator{}.Finish(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Provenance.Validation) == 0 || nft.ValidateDefinition(out) != nil {
		t.Errorf("finished definition: %+v, %v", out.Provenance.Validation, nft.ValidateDefinition(out))
	}
}
