package importer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/export"
	"github.com/srellama/srellama/llm/importer"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/slo"
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

// An OpenSLO export comes back as the spec it left: the 5m windows of its
// plain PromQL become the window placeholder again.
func TestOpenSLORoundTrip(t *testing.T) {
	d := definition(t)
	out, err := export.OpenSLO(d)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.Parse(out, "30d")
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != importer.FormatOpenSLO || len(res.SLOs) != 1 {
		t.Fatalf("%+v", res)
	}
	got, want := res.SLOs[0].Spec, slo.SpecOf(d)
	if got.GoodQuery != want.GoodQuery || got.TotalQuery != want.TotalQuery || got.Objective != want.Objective || got.Period != want.Period {
		t.Errorf("imported %+v\nwant %+v", got, want)
	}
}

// A Sloth export comes back with Sloth's error/total as the error ratio.
func TestSlothRoundTrip(t *testing.T) {
	d := definition(t)
	out, err := export.Sloth(d, export.SlothOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.Parse(out.Spec, "4w")
	if err != nil {
		t.Fatal(err)
	}
	s := res.SLOs[0].Spec
	if res.Format != importer.FormatSloth || s.Name != d.Name || s.Service != "amf" || s.Objective != d.SLO.Objective || s.Period != "4w" ||
		!strings.Contains(s.ErrorRatioQuery, d.SLI.TotalQuery) {
		t.Errorf("imported %+v", s)
	}
	if _, err := slo.Build(s, slo.Draft{Metrics: res.SLOs[0].Metrics}); err != nil {
		t.Errorf("the imported spec does not build: %v", err)
	}
}

const kube = `apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: myservice
  namespace: monitoring
spec:
  service: "myservice"
  labels:
    owner: "myteam"
  slos:
    - name: "requests-availability"
      objective: 99.9
      description: "Common SLO based on availability for HTTP request responses."
      sli:
        events:
          errorQuery: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
          totalQuery: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
      alerting:
        name: MyServiceHighErrorRate
`

func TestSlothKubernetesCRD(t *testing.T) {
	res, err := importer.Parse([]byte(kube), "30d")
	if err != nil {
		t.Fatal(err)
	}
	s := res.SLOs[0]
	if res.Format != importer.FormatSlothKube || s.Spec.Service != "myservice" || s.Spec.Objective != 0.999 ||
		len(s.Metrics) != 1 || s.Metrics[0].Name != "http_request_duration_seconds_count" {
		t.Errorf("%+v", res)
	}
}

func TestRefusals(t *testing.T) {
	for name, in := range map[string]string{
		"not a spec":    "hello: world\n",
		"sloth plugin":  "version: prometheus/v1\nservice: a\nslos:\n- name: x\n  objective: 99\n  sli: {plugin: {id: sloth-common/availability}}\n  alerting: {name: A}\n",
		"bad query":     "version: prometheus/v1\nservice: a\nslos:\n- name: x\n  objective: 99\n  sli: {raw: {error_ratio_query: 'sum(rate(x[{{.window}}])'}}\n  alerting: {name: A}\n",
		"objective":     "version: prometheus/v1\nservice: a\nslos:\n- name: x\n  objective: 100\n  sli: {raw: {error_ratio_query: 'sum(rate(x[{{.window}}]))'}}\n  alerting: {name: A}\n",
		"unknown field": "version: prometheus/v1\nservice: a\nsurprise: 1\nslos: []\n",
	} {
		if _, err := importer.Parse([]byte(in), "30d"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
