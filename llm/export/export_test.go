package export_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenSLO/go-sdk/pkg/openslo"
	oslo "github.com/OpenSLO/go-sdk/pkg/openslo/v1"
	"github.com/OpenSLO/go-sdk/pkg/openslosdk"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	sloth "github.com/slok/sloth/pkg/prometheus/api/v1"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/export"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/slo"
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

// variants are the shapes an export must handle: events and raw error
// ratios, Sloth's periods and others, routing and Sloth's period SLI.
func variants(t *testing.T) map[string]nft.Definition {
	t.Helper()
	base := definition(t)
	build := func(period string, raw bool, routing *nft.Routing, periodSLI nft.PeriodSLI) nft.Definition {
		s := slo.SpecOf(base)
		s.Period = period
		if raw {
			s.ErrorRatioQuery = "1 - (" + s.GoodQuery + ") / (" + s.TotalQuery + ")"
			s.GoodQuery, s.TotalQuery = "", ""
		}
		d, err := slo.Build(s, slo.Draft{Metrics: base.SLI.Metrics, Provenance: base.Provenance})
		if err != nil {
			t.Fatal(err)
		}
		d.Routing, d.SLO.PeriodSLI = routing, periodSLI
		if d.Rules.YAML, err = render.Render(d, render.Options{}); err != nil {
			t.Fatal(err)
		}
		d.Rules.Digest = nft.RulesDigest(d.Rules.YAML)
		return d
	}
	routing := &nft.Routing{
		RunbookURL: "https://runbooks.example/{{slo}}", Severities: nft.SeverityNamesCriticalWarning,
		Labels: map[string]string{"team": "core"}, Annotations: map[string]string{"dashboard": "https://grafana.example/d/slo"},
	}
	return map[string]nft.Definition{
		"30d":                  base,
		"4w-raw":               build("28d", true, nil, ""),
		"7d":                   build("7d", false, nil, ""),
		"90d-routed-sloth-sli": build("90d", false, routing, nft.PeriodSLISloth),
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	d := definition(t)
	o, err := export.OpenSLO(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "openslo.yaml", o)
	s, err := export.Sloth(d, export.SlothOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sloth.yaml", s.Spec)
	w, err := export.SlothWindows(7 * 24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sloth-windows-1w.yaml", w)
}

// The OpenSLO export reads back through the SDK's own decoder, passes its
// validation, and carries plain PromQL: no window placeholder, parsed by
// Prometheus's parser.
func TestOpenSLOReadsBackValid(t *testing.T) {
	for name, d := range variants(t) {
		t.Run(name, func(t *testing.T) {
			out, err := export.OpenSLO(d)
			if err != nil {
				t.Fatal(err)
			}
			objects, err := openslosdk.Decode(bytes.NewReader(out), openslosdk.FormatYAML)
			if err != nil {
				t.Fatal(err)
			}
			if err := openslosdk.Validate(objects...); err != nil {
				t.Fatalf("SDK validation: %v", err)
			}
			if strings.Contains(string(out), "{{") {
				t.Error("the export keeps a template placeholder")
			}
			slos := openslosdk.FilterByType[oslo.SLO](objects)
			if len(slos) != 1 {
				t.Fatalf("%d SLOs", len(slos))
			}
			spec := slos[0].Spec
			if *spec.Objectives[0].Target != d.SLO.Objective || len(spec.AlertPolicies) != len(d.SLO.AlertPolicy) {
				t.Errorf("objectives %+v, %d alert policies", spec.Objectives, len(spec.AlertPolicies))
			}
			r := spec.Indicator.Spec.RatioMetric
			for _, m := range []*oslo.SLIMetricSpec{r.Good, r.Total, r.Raw} {
				if m == nil {
					continue
				}
				if err := validate.ParseQuery(m.MetricSource.Spec["query"].(string)); err != nil {
					t.Error(err)
				}
			}
			wantMethod := oslo.SLOBudgetingMethodOccurrences
			if d.SLO.PeriodSLI == nft.PeriodSLISloth {
				wantMethod = oslo.SLOBudgetingMethodRatioTimeslices
			}
			if spec.BudgetingMethod != wantMethod {
				t.Errorf("budgeting method %s, want %s", spec.BudgetingMethod, wantMethod)
			}
			conditions := openslosdk.FilterByType[oslo.AlertCondition](objects)
			for i, c := range conditions {
				w := d.SLO.AlertPolicy[i]
				if *c.Spec.Condition.Threshold != w.BurnRate || c.Spec.Severity != d.Routing.SeverityLabel(w.Severity) {
					t.Errorf("condition %s: %+v", c.Metadata.Name, c.Spec)
				}
			}
			var _ openslo.Object = slos[0]
		})
	}
}

// The Sloth export reads back into Sloth's spec types the way Sloth reads
// it (sigs.k8s.io/yaml), and windows come for periods Sloth lacks.
func TestSlothReadsBack(t *testing.T) {
	for name, d := range variants(t) {
		t.Run(name, func(t *testing.T) {
			out, err := export.Sloth(d, export.SlothOptions{NameSuffix: "-sloth"})
			if err != nil {
				t.Fatal(err)
			}
			var spec sloth.Spec
			if err := sigsyaml.UnmarshalStrict(out.Spec, &spec); err != nil {
				t.Fatal(err)
			}
			s := spec.SLOs[0]
			if spec.Version != sloth.Version || spec.Service != d.SLI.Service || s.Name != d.Name+"-sloth" || len(spec.Labels) != 0 {
				t.Errorf("spec = %+v", spec)
			}
			queries := []string{}
			if s.SLI.Events != nil {
				queries = append(queries, s.SLI.Events.ErrorQuery, s.SLI.Events.TotalQuery)
			}
			if s.SLI.Raw != nil {
				queries = append(queries, s.SLI.Raw.ErrorRatioQuery)
			}
			for _, q := range queries {
				if err := validate.ParseQuery(render.Instantiate(q, "5m")); err != nil {
					t.Error(err)
				}
			}
			if got := s.Alerting.PageAlert.Labels["severity"]; got != d.Routing.SeverityLabel(nft.SeverityPage) {
				t.Errorf("page severity %q", got)
			}
			p, _ := nft.ParseDuration(d.SLO.Period)
			sloths := p == 28*24*time.Hour || p == 30*24*time.Hour
			if (out.Windows == nil) != sloths {
				t.Errorf("period %s: windows catalogue %q", d.SLO.Period, out.Windows)
			}
			if out.Windows != nil {
				var aw struct {
					Spec struct {
						SLOPeriod model.Duration `yaml:"sloPeriod"`
					} `yaml:"spec"`
				}
				if err := yaml.Unmarshal(out.Windows, &aw); err != nil || time.Duration(aw.Spec.SLOPeriod) != p {
					t.Errorf("windows period %v, %v", aw.Spec.SLOPeriod, err)
				}
			}
		})
	}
}

// The PrometheusRule's spec is the token's rule file, and it parses with
// rulefmt.
func TestPrometheusRule(t *testing.T) {
	d := definition(t)
	out, err := export.PrometheusRuleFor(d, export.KubeOptions{Namespace: "monitoring", Labels: map[string]string{"role": "alert-rules"}})
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(out, &pr); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(&pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, parser.NewParser(parser.Options{}))
	if len(errs) > 0 || len(groups.Groups) != 3 {
		t.Fatalf("spec does not parse as a rule file: %v", errs)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Namespace != "monitoring" || pr.Metadata.Name != "srellama-amf-rm-reginit-success" {
		t.Errorf("%s %s %+v", pr.APIVersion, pr.Kind, pr.Metadata)
	}
}

func TestDNSLabel(t *testing.T) {
	for in, want := range map[string]string{
		"amf-rm_reginit.success": "amf-rm-reginit-success",
		"..x..":                  "x",
		strings.Repeat("a", 80):  strings.Repeat("a", 54) + "-",
	} {
		got := export.DNSLabel(in)
		if !strings.HasPrefix(got, want) || len(got) > 63 {
			t.Errorf("DNSLabel(%q) = %q", in, got)
		}
	}
}

func TestExportRefusesBadDefinitions(t *testing.T) {
	d := definition(t)
	d.SLO.Objective = 1.5
	if _, err := export.OpenSLO(d); err == nil {
		t.Error("OpenSLO exported an objective above 1")
	}
	if _, err := export.Sloth(d, export.SlothOptions{}); err == nil {
		t.Error("Sloth exported an objective above 1")
	}
	d = definition(t)
	if _, err := export.Sloth(d, export.SlothOptions{NameSuffix: "/x"}); err == nil {
		t.Error("Sloth exported an invalid name")
	}
}

// tool finds an upstream validator: skipped when absent, failing under
// CI=true, where .ci/run installs it.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must have %s: %s", name, install)
		}
		t.Skipf("%s not installed (%s)", name, install)
	}
	return path
}

// The upstream command-line validators accept every variant's export:
// oslo v0.13.0 validate and sloth v0.16.0 validate (with the windows
// catalogue for periods other than 28d and 30d).
func TestUpstreamValidatorsAcceptTheExports(t *testing.T) {
	osloBin := tool(t, "oslo", "see .ci/run: go build github.com/OpenSLO/oslo/cmd/oslo in a module requiring github.com/OpenSLO/oslo v0.13.0")
	slothBin := tool(t, "sloth", "go install github.com/slok/sloth/cmd/sloth@v0.16.0")
	for name, d := range variants(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := export.OpenSLO(d)
			if err != nil {
				t.Fatal(err)
			}
			of := filepath.Join(dir, "openslo.yaml")
			write(t, of, o)
			if out, err := exec.Command(osloBin, "validate", "-f", of).CombinedOutput(); err != nil {
				t.Errorf("oslo validate: %v\n%s", err, out)
			}
			s, err := export.Sloth(d, export.SlothOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sf := filepath.Join(dir, "sloth.yaml")
			write(t, sf, s.Spec)
			args := []string{"validate", "-i", sf, "--default-slo-period", s.Period}
			if s.Windows != nil {
				wdir := filepath.Join(dir, "windows")
				if err := os.Mkdir(wdir, 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(wdir, "windows.yaml"), s.Windows)
				args = append(args, "--slo-period-windows-path", wdir)
			}
			if out, err := exec.Command(slothBin, args...).CombinedOutput(); err != nil {
				t.Errorf("sloth %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPyrra(t *testing.T) {
	base := definition(t)
	if _, err := export.Pyrra(base, export.KubeOptions{}); err == nil || !strings.Contains(err.Error(), "no error selector") {
		t.Errorf("a good/total ratio exported to Pyrra: %v", err)
	}
	s := slo.SpecOf(base)
	s.GoodQuery, s.TotalQuery = "", ""
	s.ErrorRatioQuery = `sum by (service) (rate(fivegs_amffunction_rm_reginitfail{service="amf"}[{{.window}}])) / sum by (service) (rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`
	d, err := slo.Build(s, slo.Draft{Metrics: base.SLI.Metrics, Provenance: base.Provenance})
	if err != nil {
		t.Fatal(err)
	}
	out, err := export.Pyrra(d, export.KubeOptions{Namespace: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	var got export.PyrraSLO
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	r := got.Spec.Indicator.Ratio
	if got.Kind != "ServiceLevelObjective" || got.Spec.Target != "99.95" || got.Spec.Window != "30d" || r == nil ||
		r.Errors.Metric != `fivegs_amffunction_rm_reginitfail{service="amf"}` || r.Total.Metric != `fivegs_amffunction_rm_reginitreq{service="amf"}` ||
		len(r.Grouping) != 1 || r.Grouping[0] != "service" {
		t.Errorf("pyrra SLO %+v\n%s", got, out)
	}
}

func TestPyrraLatency(t *testing.T) {
	base := definition(t)
	s := slo.SpecOf(base)
	s.Kind, s.LatencyThreshold = nft.KindLatency, 0.5
	s.GoodQuery = `sum(rate(amf_sbi_request_duration_seconds_bucket{le="0.5"}[{{.window}}]))`
	s.TotalQuery = `sum(rate(amf_sbi_request_duration_seconds_count[{{.window}}]))`
	d, err := slo.Build(s, slo.Draft{Metrics: base.SLI.Metrics, Provenance: base.Provenance})
	if err != nil {
		t.Fatal(err)
	}
	out, err := export.Pyrra(d, export.KubeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got export.PyrraSLO
	if err := yaml.Unmarshal(out, &got); err != nil || got.Spec.Indicator.Latency == nil ||
		got.Spec.Indicator.Latency.Success.Metric != `amf_sbi_request_duration_seconds_bucket{le="0.5"}` {
		t.Errorf("%v\n%s", err, out)
	}
}
