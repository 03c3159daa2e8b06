package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/rulesync"
)

// TestBackfilledPrometheusEndToEnd is the newcomer's path of the README
// with a real Prometheus: 'srellama simulate --backfill' writes three days
// of an organization's simulated 5G core as OpenMetrics, promtool turns
// them into TSDB blocks, Prometheus starts on them; three nodes with
// source.kind prometheus read that Prometheus, learn in a federated round
// on the embedded ledger, and the minted tokens' rules are installed into
// Prometheus's rule folder, reloaded, and reported healthy by its
// /api/v1/rules. (The three organizations read one Prometheus here: what
// differs between them is their identity on the ledger, not their data.)
func TestBackfilledPrometheusEndToEnd(t *testing.T) {
	promBin := requireTool(t, "prometheus", prometheusInstall)
	promtoolBin := requireTool(t, "promtool", prometheusInstall)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	// 1. History and live metrics: srellama simulate --backfill --listen
	// writes the history, then serves the same simulation live, which
	// Prometheus scrapes (its metadata types the Open5GS counters, whose
	// names lack _total).
	om := filepath.Join(dir, "sim.om")
	live := make(chan string, 1)
	simDone := make(chan int, 1)
	var stderr strings.Builder
	env := cli.Env{Stderr: &stderr, ListenReady: func(addr string) { live <- addr }}
	go func() {
		simDone <- cli.Run(ctx, []string{"simulate", "--backfill", "3d", "--step", "5m", "--out", om, "--listen", "127.0.0.1:0"}, env)
	}()
	var target string
	select {
	case target = <-live:
	case code := <-simDone:
		t.Fatalf("simulate: exit %d: %s", code, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("simulate did not start serving within 2 minutes")
	}
	defer func() { cancel(); <-simDone }()
	tsdb := filepath.Join(dir, "tsdb")
	if out, err := exec.Command(promtoolBin, "tsdb", "create-blocks-from", "openmetrics", om, tsdb).CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}

	// 2. Prometheus on the blocks, scraping the live simulator and loading
	// the first organization's rules.
	rulesDir := filepath.Join(dir, "Org1MSP", "rules")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	api := runPrometheus(t, promBin, dir, tsdb, filepath.Join(rulesDir, "*.yml"), target)
	poll(t, "Prometheus to have scraped the simulator's metadata", 30*time.Second, func() bool {
		var body struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		promGet(t, api+"/api/v1/metadata", &body)
		_, ok := body.Data["fivegs_amffunction_rm_reginitreq"]
		return ok
	})

	// 3. Three nodes with source.kind prometheus, on the embedded ledger.
	sites := startConsortium(t, ctx, dir, func(_ int, cfg *config.Config) {
		cfg.Source.Kind = config.SourcePrometheus
		cfg.Source.History, cfg.Source.Step = "2d", "5m"
		cfg.Source.Prometheus.URL = api
		if cfg.Organization == "Org1MSP" {
			cfg.Source.Prometheus.ReloadURL = api + "/-/reload"
		}
	})
	adminOrg1 := sites[0].admin
	poll(t, "every node registered", 30*time.Second, func() bool {
		raw, err := adminOrg1.Evaluate(ctx, "Consortium:ListNodes", "")
		var nodes []records.Node
		return err == nil && json.Unmarshal(raw, &nodes) == nil && len(nodes) == len(orgs)
	})

	// 4. A round over the services the backfill holds.
	services := prometheusServices(t, api)
	features, err := federation.FeatureSetDigest(fl.DefaultFeatureSpec())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	spec, _ := json.Marshal(records.RoundSpec{
		ID: "backfilled-1", Task: "sli-relevance", Services: services,
		FeatureSetDigest: features, Strategy: "median", MinParticipants: 2,
		CommitDeadline: records.FormatTime(now.Add(45 * time.Second)), Deadline: records.FormatTime(now.Add(3 * time.Minute)),
	})
	if _, _, err := adminOrg1.Submit(ctx, "Rounds:Open", string(spec)); err != nil {
		t.Fatal(err)
	}
	var round records.Round
	poll(t, "the round to finish", 3*time.Minute, func() bool {
		raw, err := adminOrg1.Evaluate(ctx, "Rounds:Get", "backfilled-1")
		return err == nil && json.Unmarshal(raw, &round) == nil && round.Status != records.RoundOpen
	})
	if round.Status != records.RoundFinalized {
		t.Fatalf("round %s: %s", round.Status, round.FailureReason)
	}
	var tokens []nft.Token
	poll(t, "tokens minted from the round", 2*time.Minute, func() bool {
		raw, err := adminOrg1.Evaluate(ctx, "Audit:ByRound", "backfilled-1", "", "")
		var page records.Page[nft.Token]
		if err != nil || json.Unmarshal(raw, &page) != nil {
			return false
		}
		tokens = page.Items
		return len(tokens) > 0
	})

	// 5. Installed, reloaded, healthy in Prometheus.
	for _, tok := range tokens {
		path := filepath.Join(rulesDir, rulesync.FileName(tok))
		content, err := rulesync.Content(tok)
		if err != nil {
			t.Fatal(err)
		}
		poll(t, "Org1 to install "+tok.Definition.Name, time.Minute, func() bool {
			raw, err := os.ReadFile(path)
			return err == nil && bytes.Equal(raw, content)
		})
	}
	want := map[string]bool{}
	for _, tok := range tokens {
		want["sloth-slo-alerts-"+tok.Definition.SLI.Service+"-"+tok.Definition.Name] = true
	}
	var report string
	poll(t, "Prometheus to load and evaluate every minted rule", time.Minute, func() bool {
		groups := promRules(t, api)
		seen, rules, healthy := 0, 0, 0
		var bad []string
		for _, g := range groups {
			if want[g.Name] {
				seen++
			}
			for _, r := range g.Rules {
				rules++
				switch {
				case r.Health == "ok" && r.LastError == "":
					healthy++
				case r.Health == "err":
					bad = append(bad, r.Name+": "+r.LastError)
				}
			}
		}
		if len(bad) > 0 {
			t.Fatalf("rules in error: %v", bad)
		}
		report = fmt.Sprintf("%d tokens, %d rules, all healthy", len(tokens), rules)
		return seen == len(want) && healthy == rules && rules > 0
	})
	t.Log(report)
}

// runPrometheus starts Prometheus over the TSDB folder, scraping target,
// with the rule files of ruleGlob.
func runPrometheus(t *testing.T, bin, dir, tsdb, ruleGlob, target string) string {
	t.Helper()
	// The live series lose the job and instance labels the scrape adds, so
	// they continue the backfilled ones instead of starting new series.
	config := fmt.Sprintf(`global:
  scrape_interval: 5s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: srellama-sim
    static_configs:
      - targets: [%q]
    metric_relabel_configs:
      - action: labeldrop
        regex: job|instance
`, ruleGlob, target)
	return startPrometheus(t, bin, dir, tsdb, config)
}

func prometheusServices(t *testing.T, api string) []string {
	t.Helper()
	var body struct {
		Data []string `json:"data"`
	}
	promGet(t, api+"/api/v1/label/service/values", &body)
	if len(body.Data) == 0 {
		t.Fatal("the backfilled Prometheus has no service label values")
	}
	return body.Data
}
