package cli_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/source"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./node/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./node/cli -update rewrites it):\n%s", path, got)
	}
}

// checkRules parses a rule file as Prometheus does and every expression
// in it with the PromQL parser.
func checkRules(t *testing.T, yaml string) {
	t.Helper()
	groups, errs := rulefmt.Parse([]byte(yaml), false, model.UTF8Validation, parser.NewParser(parser.Options{}))
	if len(errs) > 0 {
		t.Fatalf("rulefmt: %v", errs)
	}
	var alerts, records int
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr); err != nil {
				t.Errorf("rule %s%s: %v", r.Record, r.Alert, err)
			}
			if r.Alert != "" {
				alerts++
			} else {
				records++
			}
		}
	}
	if alerts < 2 || records < 8 {
		t.Errorf("%d alerts and %d recording rules: want the burn-rate alerts and every window's SLI", alerts, records)
	}
}

func TestSLOGenerateFromTheSimulator(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		kind   nft.SLIKind
		period string
	}{
		{"amf-org1", []string{"--service", "amf"}, nft.KindRatio, "30d"},
		{"amf-org2-28d", []string{"--service", "amf", "--org", "Org2MSP", "--seed", "7", "--period", "28d", "--history", "3d"}, nft.KindRatio, "4w"}, // Prometheus prints 28 days as 4w
		{"amf-latency-first", []string{"--service", "amf", "--history", "2d", "--rank", "sbi_server_request_duration_seconds,up"}, nft.KindLatency, "30d"},
		{"amf-up-first", []string{"--service", "amf", "--history", "2d", "--rank", "up"}, nft.KindAvailability, "30d"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rulesFile := filepath.Join(t.TempDir(), "rules.yml")
			base := append([]string{"slo", "generate", "--source", "simulator", "--end", "2026-03-09T00:00:00Z"}, tt.args...)
			r := run(ctx, t, cli.Env{}, append(base, "--rules-out", rulesFile)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, "slo-generate-"+tt.name, r.stdout)
			if !strings.Contains(r.stderr, "rules written to "+rulesFile) {
				t.Errorf("stderr: %s", r.stderr)
			}
			rules, err := os.ReadFile(rulesFile)
			if err != nil {
				t.Fatal(err)
			}
			checkRules(t, string(rules))

			r = run(ctx, t, cli.Env{}, append(base, "--output", "json")...)
			var def nft.Definition
			if err := json.Unmarshal([]byte(r.stdout), &def); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			if err := nft.ValidateDefinition(def); err != nil {
				t.Errorf("definition: %v", err)
			}
			if def.Rules.YAML != string(rules) || def.SLI.Kind != tt.kind || def.SLO.Period != tt.period ||
				def.Provenance.Generator.Kind != nft.GeneratorBuiltin || def.Provenance.Proposer == "" {
				t.Errorf("definition %s: kind %s, period %s, generator %+v, proposer %q, rules equal to the file: %v",
					def.Name, def.SLI.Kind, def.SLO.Period, def.Provenance.Generator, def.Provenance.Proposer, def.Rules.YAML == string(rules))
			}
			for _, c := range def.Provenance.Validation {
				if !c.Passed {
					t.Errorf("validation %s failed: %s", c.Name, c.Detail)
				}
			}
		})
	}
}

func TestSLOGenerateRefusals(t *testing.T) {
	smd := smdFolder(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ten hours of SMD history are not the week asked for", []string{"--source", "csv", "--csv-dir", smd, "--service", "machine-1-1"}, 1, "not enough history: 1d needed, 9h55m present"},
		{"csv without a folder", []string{"--source", "csv", "--service", "x"}, 2, "needs --csv-dir"},
		{"csv in an unknown format", []string{"--source", "csv", "--csv-dir", smd, "--csv-format", "parquet", "--service", "x"}, 2, "smd or nezha"},
		{"ranking a metric the service lacks", []string{"--service", "amf", "--history", "1d", "--end", "2026-03-09T00:00:00Z", "--rank", "nosuch_total"}, 2, `metric "nosuch_total" is not among`},
		{"prometheus without a URL", []string{"--source", "prometheus", "--service", "amf"}, 2, "needs --prometheus-url"},
		{"ollama at a host that is no URL", []string{"--generator", "ollama", "--model", "m", "--ollama-host", "::", "--service", "amf", "--end", "2026-03-09T00:00:00Z"}, 2, "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rules.yml")
			r := run(context.Background(), t, cli.Env{}, append([]string{"slo", "generate", "--rules-out", out}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused generation wrote %s", out)
			}
		})
	}
}

// fakeSource serves fixed series of one service.
type fakeSource struct{ series []source.Series }

func (f fakeSource) Services(context.Context) ([]string, error) { return []string{"svc"}, nil }
func (f fakeSource) ListSeries(context.Context, string) ([]source.SeriesInfo, error) {
	var out []source.SeriesInfo
	for _, s := range f.series {
		out = append(out, s.Info)
	}
	return out, nil
}
func (f fakeSource) Fetch(_ context.Context, ids []string, r source.Range) ([]source.Series, error) {
	var out []source.Series
	for _, s := range f.series {
		if slices.Contains(ids, s.Info.ID) {
			s.Start, s.Step = r.Start, r.Step
			out = append(out, s)
		}
	}
	return out, nil
}
func (f fakeSource) Incidents(context.Context, string, time.Time, time.Time) ([]source.Incident, error) {
	return nil, nil
}

func TestEvidenceFromSeries(t *testing.T) {
	nan := math.NaN()
	series := func(metric string, labels map[string]string, typ source.MetricType, values ...float64) source.Series {
		return source.Series{Info: source.SeriesInfo{ID: source.SelectorID(metric, labels), Metric: metric, Labels: labels, Type: typ}, Values: values}
	}
	svc := map[string]string{"service": "svc"}
	le := func(b string) map[string]string { return map[string]string{"service": "svc", "le": b} }
	// Two days at a 12h step: 5 samples, day 1 = deltas 1..2, day 2 = deltas 3..4.
	src := fakeSource{[]source.Series{
		series("req_total", svc, source.TypeCounter, 0, 10, 25, 5, 15),                    // reset on day 2: +5 then +10
		series("up", svc, source.TypeGauge, nan, 1, 1, nan, 1),                            // a gap before the first sample is no data, after it downtime
		series("load", svc, source.TypeGauge, 2, nan, 4, 6, 1),                            // other gauges: the mean of their samples
		series("lat_seconds_bucket", le("0.5"), source.TypeHistogram, 0, 8, nan, 20, 30),  // gap bridged: day 1 +8, day 2 +12 +10
		series("lat_seconds_bucket", le("+Inf"), source.TypeHistogram, 0, 10, 20, 30, 40), //
		series("lat_seconds_count", svc, source.TypeHistogram, 0, 10, 20, 30, 40),         //
		series("lat_seconds_sum", svc, source.TypeHistogram, 0, 1, 2, 3, 4),               // not needed
	}}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	in, err := cli.Evidence(context.Background(), src, "svc", source.Range{Start: start, End: start.Add(48 * time.Hour), Step: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Offline, relevance falls linearly with the listing position.
	rank := func(i, n int) float64 { return 1 - float64(i)/float64(n) }
	want := []builtin.Metric{
		{Name: "req_total", Type: builtin.Counter, Selector: svc, Relevance: rank(0, 4), Daily: []float64{25, 15}},
		{Name: "up", Type: builtin.Gauge, Selector: svc, Relevance: rank(1, 4), Daily: []float64{1, 0.5}},
		{Name: "load", Type: builtin.Gauge, Selector: svc, Relevance: rank(2, 4), Daily: []float64{2, 5}},
		{Name: "lat_seconds", Type: builtin.Histogram, Selector: svc, Relevance: rank(3, 4), Daily: []float64{20, 20},
			Buckets: []builtin.Bucket{{LE: "0.5", Daily: []float64{8, 22}}, {LE: "+Inf", Daily: []float64{20, 20}}}},
	}
	got, _ := json.Marshal(in.Metrics)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) || in.Service != "svc" {
		t.Errorf("evidence\n got %s\nwant %s", got, exp)
	}
	if _, err := cli.Evidence(context.Background(), src, "svc", source.Range{Start: start, End: start.Add(12 * time.Hour), Step: 12 * time.Hour}); err == nil {
		t.Error("less than a day of history accepted")
	}
	if _, err := cli.Evidence(context.Background(), src, "svc", source.Range{Start: start, End: start.Add(48 * time.Hour), Step: 7 * time.Hour}); err == nil {
		t.Error("a step that does not divide a day accepted")
	}
}

// fakeOllama answers like an Ollama server with one installed model whose
// answers are schema-shaped nonsense ("{}").
func fakeOllama(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var chats atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"models":[{"name":"tiny:latest","model":"tiny:latest","digest":"%s"}]}`, strings.Repeat("ab", 32))
	})
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		chats.Add(1)
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"model":"tiny:latest","message":{"role":"assistant","content":"{}"},"done":true}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &chats
}

func TestSLOGenerateWithOllamaFallsBackWhenNoAnswerValidates(t *testing.T) {
	srv, chats := fakeOllama(t)
	base := []string{"slo", "generate", "--service", "amf", "--end", "2026-03-09T00:00:00Z", "--generator", "ollama", "--ollama-host", srv.URL}
	r := run(context.Background(), t, cli.Env{}, append(base, "--model", "tiny", "--output", "json")...)
	var def nft.Definition
	if err := json.Unmarshal([]byte(r.stdout), &def); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	gen := def.Provenance.Generator
	if gen.Kind != nft.GeneratorBuiltin || gen.Model != "tiny" || gen.FallbackReason == "" || !nft.IsDigest(gen.ModelDigest) {
		t.Errorf("generator %+v: want the builtin fallback recorded with the model", gen)
	}
	if n := chats.Load(); n != 2 {
		t.Errorf("%d chat requests, want an answer and one repair", n)
	}
	checkRules(t, def.Rules.YAML)

	r = run(context.Background(), t, cli.Env{}, append(base, "--model", "tiny")...)
	if r.code != 0 || !strings.Contains(r.stdout, "fell back to builtin") {
		t.Errorf("table does not say the builtin generator took over:\n%s", r.stdout)
	}
	r = run(context.Background(), t, cli.Env{}, append(base, "--model", "huge")...)
	if r.code != 1 || !strings.Contains(r.stderr, "not installed") {
		t.Errorf("missing model: exit %d, %s", r.code, r.stderr)
	}
}

func TestSLOGenerateValidatesWithPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	env := cli.Env{Getenv: func(k string) string {
		if k == "PROMTOOL" {
			return path
		}
		return ""
	}}
	r := run(context.Background(), t, env, "slo", "generate", "--service", "amf", "--history", "2d", "--end", "2026-03-09T00:00:00Z", "--promtool", "--output", "json")
	var def nft.Definition
	if err := json.Unmarshal([]byte(r.stdout), &def); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s", r.code, err, r.stderr)
	}
	passed := map[string]bool{}
	for _, c := range def.Provenance.Validation {
		passed[c.Name] = c.Passed
	}
	if !passed["promtool-check-rules"] || !passed["promtool-test-rules"] {
		t.Errorf("validation %+v: want both promtool checks passed", def.Provenance.Validation)
	}
	env.Getenv = func(k string) string {
		if k == "PROMTOOL" {
			return "/nonexistent/promtool"
		}
		return ""
	}
	r = run(context.Background(), t, env, "slo", "generate", "--service", "amf", "--history", "1d", "--end", "2026-03-09T00:00:00Z", "--promtool")
	if r.code != 1 || !strings.Contains(r.stderr, "promtool") {
		t.Errorf("a missing promtool: exit %d, %s", r.code, r.stderr)
	}
}
