package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/source/sim"
)

// demoDefinitions generates one definition per simulated service, as the
// demo does, once per test binary, with their JSON files in a folder.
var demoDefinitions = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "srellama-export-")
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, svc := range sim.AllServices() {
		// Each organization of the demo runs some of the services.
		var out, errb strings.Builder
		code := -1
		for _, org := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
			out.Reset()
			errb.Reset()
			env := cli.Env{Stdout: &out, Stderr: &errb, Now: func() time.Time { return time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC) }}
			if code = cli.Run(context.Background(), []string{"slo", "generate", "--org", org, "--service", svc, "--history", "3d", "--output", "json"}, env); code == 0 {
				break
			}
		}
		if code != 0 {
			return nil, fmt.Errorf("slo generate %s: exit %d: %s", svc, code, errb.String())
		}
		path := filepath.Join(dir, svc+".json")
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			return nil, err
		}
		files[svc] = path
	}
	return files, nil
})

func definitions(t *testing.T) map[string]string {
	t.Helper()
	files, err := demoDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// requireTool finds an external program: skipped when absent, failing
// under CI=true, where .ci/run installs it.
func requireTool(t *testing.T, name, install string) string {
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

func TestSLOExportUsage(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"slo", "export"}, "give a TOKEN-ID"},
		{[]string{"slo", "export", "--definition", "x.json", "--format", "nagios"}, "--format must be"},
		{[]string{"slo", "export", "--definition", "x.json", strings.Repeat("a", 64)}, "not both"},
		{[]string{"slo", "export", "abc"}, "not a token ID"},
	} {
		if r := run(ctx, t, cli.Env{}, tt.args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"name": "x", "surprise": 1}`), 0o644)
	if r := run(ctx, t, cli.Env{}, "slo", "export", "--definition", bad); r.code != cli.ExitFail || !strings.Contains(r.stderr, "unknown field") {
		t.Errorf("a definition with an unknown field: exit %d, %q", r.code, r.stderr)
	}
}

// Every demo SLO's export passes the upstream validators: oslo validate
// (v0.13.0) and sloth validate (v0.16.0).
func TestSLOExportOfEveryDemoSLOPassesUpstreamValidators(t *testing.T) {
	osloBin := requireTool(t, "oslo", ".ci/run builds it: github.com/OpenSLO/oslo v0.13.0, cmd/oslo")
	slothBin := requireTool(t, "sloth", "go install github.com/slok/sloth/cmd/sloth@v0.16.0")
	ctx := context.Background()
	for svc, file := range definitions(t) {
		dir := t.TempDir()
		for _, format := range []string{"openslo", "sloth", "prometheusrule"} {
			if r := run(ctx, t, cli.Env{}, "slo", "export", "--definition", file, "--format", format, "--out", dir); r.code != 0 {
				t.Fatalf("%s %s: exit %d: %s", svc, format, r.code, r.stderr)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "*.openslo.yaml"))
		for _, m := range matches {
			if out, err := exec.Command(osloBin, "validate", "-f", m).CombinedOutput(); err != nil {
				t.Errorf("%s: oslo validate: %v\n%s", svc, err, out)
			}
		}
		matches, _ = filepath.Glob(filepath.Join(dir, "*.sloth.yaml"))
		for _, m := range matches {
			if out, err := exec.Command(slothBin, "validate", "-i", m, "--default-slo-period", "30d").CombinedOutput(); err != nil {
				t.Errorf("%s: sloth validate: %v\n%s", svc, err, out)
			}
		}
		if len(matches) == 0 {
			t.Errorf("%s: no sloth export", svc)
		}
	}
}

// Side by side: the demo SLOs' own rules and the rules Sloth generates
// from their export, loaded together into a real Prometheus scraping the
// simulator, evaluate without a single rule error (the export's
// slo_period label used to make 36 of them fail with many-to-many
// matches).
func TestProjectAndSlothRulesSideBySideInPrometheus(t *testing.T) {
	promBin := requireTool(t, "prometheus", "apt-get install -y prometheus")
	slothBin := requireTool(t, "sloth", "go install github.com/slok/sloth/cmd/sloth@v0.16.0")
	ctx := context.Background()
	dir := t.TempDir()
	var ruleFiles []string
	for svc, file := range definitions(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d nft.Definition
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(dir, svc+".rules.yml")
		if err := os.WriteFile(own, []byte(d.Rules.YAML), 0o644); err != nil {
			t.Fatal(err)
		}
		ruleFiles = append(ruleFiles, own)
		// Sloth's rules for the same SLO under export's default suffixed
		// name. Under the very same name both rule sets write the same
		// series, which Prometheus refuses as out-of-order samples; with
		// any extra label on Sloth's side (the old slo_period) the joins
		// fail with many-to-many matches instead.
		for _, suffix := range []string{"-sloth"} {
			out := filepath.Join(dir, "sloth"+suffix)
			if r := run(ctx, t, cli.Env{}, "slo", "export", "--definition", file, "--format", "sloth", "--sloth-name-suffix", suffix, "--out", out); r.code != 0 {
				t.Fatalf("export %s: %s", svc, r.stderr)
			}
			generated := filepath.Join(out, svc+".rules.yml")
			spec := filepath.Join(out, render.ID(d)+".sloth.yaml")
			if out, err := exec.Command(slothBin, "generate", "-i", spec, "-o", generated, "--default-slo-period", d.SLO.Period).CombinedOutput(); err != nil {
				t.Fatalf("sloth generate %s: %v\n%s", svc, err, out)
			}
			ruleFiles = append(ruleFiles, generated)
		}
	}

	// The simulator's live metrics, every service, so the joins have
	// series to match.
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	cfg, err := sim.Plan("Org1MSP", 1, start, start.Add(48*time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Services = sim.AllServices()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(sim.NewLive(s, nil).Handler())
	defer target.Close()

	api := startPrometheus(t, promBin, dir, strings.TrimPrefix(target.URL, "http://"), ruleFiles)
	// Wait for every group to have been evaluated a few times with data.
	deadline := time.Now().Add(60 * time.Second)
	for {
		groups := ruleGroups(t, api)
		bad, evaluated, total := 0, 0, 0
		var firstErr string
		for _, g := range groups {
			for _, r := range g.Rules {
				total++
				if !r.LastEvaluation.IsZero() && r.LastEvaluation.After(start) {
					evaluated++
				}
				if r.Health == "err" || r.LastError != "" {
					bad++
					if firstErr == "" {
						firstErr = r.Name + ": " + r.LastError
					}
				}
			}
		}
		if bad > 0 {
			t.Fatalf("%d of %d rules in error, e.g. %s", bad, total, firstErr)
		}
		if evaluated == total && total > 0 && seriesExist(t, api) && time.Now().After(deadline.Add(-45*time.Second)) {
			t.Logf("%d rules from %d files (ours and Sloth's) evaluated with data, none in error", total, len(ruleFiles))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d rules evaluated after 60s", evaluated, total)
		}
		time.Sleep(time.Second)
	}
}

type promRule struct {
	Name           string    `json:"name"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

type promGroup struct {
	Name  string     `json:"name"`
	File  string     `json:"file"`
	Rules []promRule `json:"rules"`
}

// startPrometheus runs a Prometheus on a free loopback port with the rule
// files, scraping target every second, and returns its API root.
func startPrometheus(t *testing.T, bin, dir, target string, ruleFiles []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	quoted := make([]string, len(ruleFiles))
	for i, f := range ruleFiles {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%s]\nscrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: [%q]\n",
		strings.Join(quoted, ", "), target)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", log)
		}
	})
	api := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(api + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if i > 100 {
			t.Fatal("prometheus did not become ready in 20s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ruleGroups(t *testing.T, api string) []promGroup {
	t.Helper()
	var body struct {
		Data struct {
			Groups []promGroup `json:"groups"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/rules", &body)
	return body.Data.Groups
}

// seriesExist reports whether both rule sets recorded their 5m ratios.
func seriesExist(t *testing.T, api string) bool {
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	getJSON(t, api+"/api/v1/query?query="+"count(slo:current_burn_rate:ratio)", &body)
	return len(body.Data.Result) >= 1
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, data)
	}
}
