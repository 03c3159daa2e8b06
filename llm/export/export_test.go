package export_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/export"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func definition(t *testing.T) nft.Definition {
	t.Helper()
	d, err := builtin.Generator{}.Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
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
		t.Errorf("%s differs (go test -update to accept):\n%s", name, got)
	}
}

func TestOpenSLO(t *testing.T) {
	d := definition(t)
	out, err := export.OpenSLO(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "openslo.yaml", out)
	dec := yaml.NewDecoder(strings.NewReader(out))
	kinds := map[string]int{}
	for {
		var doc struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Spec       struct {
				Objectives []struct {
					Target float64 `yaml:"target"`
				} `yaml:"objectives"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.APIVersion != "openslo/v1" {
			t.Errorf("apiVersion %q", doc.APIVersion)
		}
		kinds[doc.Kind]++
		if doc.Kind == "SLO" && (len(doc.Spec.Objectives) != 1 || doc.Spec.Objectives[0].Target != d.SLO.Objective) {
			t.Errorf("objectives %+v, want target %v", doc.Spec.Objectives, d.SLO.Objective)
		}
	}
	if kinds["SLO"] != 1 || kinds["AlertCondition"] != len(d.SLO.AlertPolicy) {
		t.Errorf("documents %v", kinds)
	}
}

func TestSlothSpec(t *testing.T) {
	d := definition(t)
	out, err := export.Sloth(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sloth.yaml", out)
	var spec struct {
		Version string `yaml:"version"`
		Service string `yaml:"service"`
		SLOs    []struct {
			Name      string  `yaml:"name"`
			Objective float64 `yaml:"objective"`
			SLI       struct {
				Events struct {
					ErrorQuery string `yaml:"error_query"`
					TotalQuery string `yaml:"total_query"`
				} `yaml:"events"`
			} `yaml:"sli"`
		} `yaml:"slos"`
	}
	if err := yaml.Unmarshal([]byte(out), &spec); err != nil {
		t.Fatal(err)
	}
	s := spec.SLOs[0]
	if spec.Version != "prometheus/v1" || spec.Service != "amf" || s.Name != d.Name || s.Objective != 99.95 {
		t.Errorf("spec = %+v", spec)
	}
	for _, q := range []string{s.SLI.Events.ErrorQuery, s.SLI.Events.TotalQuery} {
		if err := validate.ParseQuery(q); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(s.SLI.Events.ErrorQuery, render.Instantiate(d.SLI.GoodQuery, "{{.window}}")) {
		t.Errorf("error query %q does not subtract the good query", s.SLI.Events.ErrorQuery)
	}
}

func TestExportRefusesBadDefinitions(t *testing.T) {
	d := definition(t)
	d.SLO.Objective = 1.5
	if _, err := export.OpenSLO(d); err == nil {
		t.Error("OpenSLO exported an objective above 1")
	}
	if _, err := export.Sloth(d); err == nil {
		t.Error("Sloth exported an objective above 1")
	}
}
