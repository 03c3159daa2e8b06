package test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// promHistory is the history every node learns and judges from.
const promHistory = 2 * 24 * time.Hour

// TestGovernedWorkflowOnPrometheus runs three organizations' nodes against
// the embedded ledger, Org3's on a real Prometheus backfilled with its
// simulated history (scrape labels and ALERTS included), the others on
// the simulator, through three federated rounds. Afterwards each service
// has at most one active SLO, revised across rounds; every decision
// carries its figures or an abstention's reason; no node holds rules of a
// service it does not run; token queries name no scrape-target label; and
// the Prometheus has loaded Org3's rules with none in error.
func TestGovernedWorkflowOnPrometheus(t *testing.T) {
	promBin := requireTool(t, "prometheus", prometheusInstall)
	promtool := requireTool(t, "promtool", prometheusInstall)
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	end := time.Now().UTC().Truncate(time.Minute)
	rulesDir := filepath.Join(dir, "Org3MSP", "rules")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	promServices := backfill(t, promtool, filepath.Join(dir, "prometheus"), "Org3MSP", 3, end.Add(-promHistory-2*time.Hour), end)
	promURL := startPrometheusFor(t, promBin, filepath.Join(dir, "prometheus"), rulesDir)
	t.Logf("Prometheus backfilled with %v and ready after %v", promServices, time.Since(began).Round(time.Second))

	sites := startPromConsortium(t, ctx, dir, promURL, rulesDir)
	ev := sites[0].admin
	waitFor(t, "every node registered", 30*time.Second, func() bool {
		var nodes []records.Node
		return evaluate(ctx, ev, &nodes, "Consortium:ListNodes", "") == nil && len(nodes) == len(sites)
	})

	services := []string{"amf", "ausf", "nrf", "pcf", "smf", "udm", "upf"}
	var rounds []records.Round
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("prom-round-%d", i)
		openPromRound(t, ctx, ev, id, services)
		var round records.Round
		waitFor(t, id+" to finalize", 2*time.Minute, func() bool {
			return evaluate(ctx, ev, &round, "Rounds:Get", id) == nil && round.Status != records.RoundOpen
		})
		if round.Status != records.RoundFinalized || !slices.Contains(round.Contributors, "Org3MSP") {
			t.Fatalf("%s %s (%s), contributors %v: the Prometheus-backed node must contribute", id, round.Status, round.FailureReason, round.Contributors)
		}
		waitFor(t, id+"'s requests to settle", 2*time.Minute, func() bool {
			var reqs []records.GenerationRequest
			if evaluate(ctx, ev, &reqs, "Generation:RequestsByRound", id) != nil || len(reqs) == 0 {
				return false
			}
			return !slices.ContainsFunc(reqs, func(r records.GenerationRequest) bool { return !requestSettled(ctx, ev, r) })
		})
		rounds = append(rounds, round)
		t.Logf("%s settled after %v", id, time.Since(began).Round(time.Second))
	}

	// One active SLO per service, kept across rounds unless a learned
	// ranking asks for its revision.
	revised := 0
	minted := map[string][]nft.Token{}
	for _, svc := range services {
		var active []nft.Token
		if err := evaluate(ctx, ev, &active, "Tokens:Active", svc); err != nil {
			t.Fatal(err)
		}
		var all records.Page[nft.Token]
		if err := evaluate(ctx, ev, &all, "Audit:ByService", svc, "", ""); err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, tok := range all.Items {
			if tok.State.Status == nft.StatusActive {
				live++
			}
			for _, q := range []string{tok.Definition.SLI.GoodQuery, tok.Definition.SLI.TotalQuery} {
				if strings.Contains(q, "instance=") || strings.Contains(q, "job=") {
					t.Errorf("token %s names a scrape label in its SLI: %s", tok.ID[:12], q)
				}
			}
		}
		minted[svc] = all.Items
		if len(all.Items) > 0 && (live != 1 || len(active) != 1) {
			t.Errorf("%s: %d tokens, %d active (Tokens:Active lists %d); want exactly one", svc, len(all.Items), live, len(active))
		}
		if len(active) == 1 && active[0].Definition.Version >= 2 {
			revised++
			var prov records.Provenance
			if err := evaluate(ctx, ev, &prov, "Audit:Provenance", active[0].ID); err != nil {
				t.Fatal(err)
			}
			if len(prov.Lineage) < 1 {
				t.Errorf("%s v%d has no earlier version in its lineage", svc, active[0].Definition.Version)
			}
		}
		t.Logf("%s: %d versions minted, active v%v", svc, len(all.Items), versions(active))
	}
	t.Logf("%d services' SLOs revised across three rounds", revised)
	// A round asks for a new SLO only for a service without one, and
	// revises an active SLO only on a learned ranking that puts another
	// metric first: unchanged SLOs are kept, not minted again each round.
	for _, round := range rounds {
		var reqs []records.GenerationRequest
		if err := evaluate(ctx, ev, &reqs, "Generation:RequestsByRound", round.ID); err != nil {
			t.Fatal(err)
		}
		for _, req := range reqs {
			if req.Kind == records.RequestRevision {
				if req.Evidence == nil || req.Evidence.Trigger != records.TriggerRanking || req.Supersedes == "" {
					t.Errorf("%s: revision request %s rests on %+v", round.ID, req.ID, req.Evidence)
				}
				continue
			}
			for _, tok := range minted[req.Service] {
				if sortable(tok.Mint.MintedAt) < sortable(req.RequestedAt) {
					t.Errorf("%s asked for a new SLO of %s, which had token %s since %s", round.ID, req.Service, tok.ID[:12], tok.Mint.MintedAt)
				}
			}
		}
	}

	// Every decision rests on figures, or says why it abstained.
	decisions, abstentions := 0, 0
	for _, round := range rounds {
		var reqs []records.GenerationRequest
		if err := evaluate(ctx, ev, &reqs, "Generation:RequestsByRound", round.ID); err != nil {
			t.Fatal(err)
		}
		for _, req := range reqs {
			var props []records.Proposal
			if err := evaluate(ctx, ev, &props, "Generation:ProposalsByRequest", req.ID); err != nil {
				t.Fatal(err)
			}
			for _, p := range props {
				var ds []records.Decision
				if err := evaluate(ctx, ev, &ds, "Generation:Decisions", p.ID); err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					if os.Getenv("SRELLAMA_E2E_DECISIONS") != "" {
						t.Logf("%s %s v%d by %s: %s %s: %s %v", round.ID, req.Service, p.Definition.Version, p.Proposer, d.MSPID, d.Kind(), d.Reason, d.Figures)
					}
					decisions++
					switch {
					case d.Kind() == records.VerdictAbstain:
						abstentions++
						if d.Reason == "" {
							t.Errorf("%s abstained on %s without a reason", d.MSPID, p.ID[:12])
						}
					case len(d.Figures) == 0:
						t.Errorf("%s's %s of %s (%s) carries no figures", d.MSPID, d.Kind(), p.ID[:12], req.Service)
					}
				}
			}
		}
	}
	if decisions == 0 {
		t.Fatal("no decisions recorded")
	}
	t.Logf("%d decisions, %d abstentions", decisions, abstentions)

	// No node holds rules of a service it does not run.
	for _, s := range sites {
		served := s.served(t, ctx)
		entries, _ := os.ReadDir(s.cfg.Rules.Dir)
		for _, e := range entries {
			if e.IsDir() {
				continue // rulesync.TestsDir: the rule files' promtool tests
			}
			svc, _, _ := strings.Cut(strings.TrimPrefix(e.Name(), "srellama-"), "-")
			if !slices.Contains(served, svc) {
				t.Errorf("%s holds %s, rules of %s, which it does not run (it runs %v)", s.cfg.Organization, e.Name(), svc, served)
			}
		}
	}

	// Prometheus loaded Org3's rules, with the token on every alert and no
	// rule in error.
	files, _ := filepath.Glob(filepath.Join(rulesDir, "*.rules.yml"))
	if len(files) == 0 {
		t.Fatal("the Prometheus-backed node installed no rules")
	}
	var groups []ruleGroup
	waitFor(t, "Prometheus to load the installed rules and evaluate them", time.Minute, func() bool {
		groups = promRules(t, promURL)
		loaded := map[string]bool{}
		evaluated := true
		for _, g := range groups {
			loaded[g.File] = true
			for _, r := range g.Rules {
				evaluated = evaluated && r.Health != "unknown"
			}
		}
		return len(loaded) == len(files) && evaluated
	})
	recording, alerting := 0, 0
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Health == "err" {
				t.Errorf("rule %s in %s is in error: %s", r.Name, filepath.Base(g.File), r.LastError)
			}
			switch r.Type {
			case "recording":
				recording++
			case "alerting":
				alerting++
				if r.Labels[rulesync.LabelToken] == "" {
					t.Errorf("alert %s in %s does not name its token", r.Name, filepath.Base(g.File))
				}
			}
		}
	}
	t.Logf("Prometheus evaluates %d recording and %d alerting rules from %d files; whole test %v",
		recording, alerting, len(files), time.Since(began).Round(time.Second))
}

// sortable writes a ledger time so that times compare as strings.
func sortable(s string) string {
	t, err := records.ParseTime(s)
	if err != nil {
		return s
	}
	return t.Format("2006-01-02T15:04:05.000000000Z")
}

func versions(ts []nft.Token) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.Definition.Version)
	}
	return out
}

// backfill writes an organization's simulated history between start and
// end into a Prometheus data directory with promtool, as a scrape would
// have recorded it (instance and job labels on every series) and with the
// faults as firing ALERTS. It returns the services simulated.
func backfill(t *testing.T, promtool, dir, org string, seed uint64, start, end time.Time) []string {
	t.Helper()
	ctx := context.Background()
	cfg, err := sim.Plan(org, seed, start, end, 4)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := source.Range{Start: start, End: end, Step: 2 * time.Minute}
	var all []source.Series
	for _, svc := range cfg.Services {
		infos, err := s.ListSeries(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(infos))
		for i, in := range infos {
			ids[i] = in.ID
		}
		series, err := s.Fetch(ctx, ids, r)
		if err != nil {
			t.Fatal(err)
		}
		for i := range series {
			labels := map[string]string{"instance": "10.0.3.7:9100", "job": "open5gs-" + svc}
			for k, v := range series[i].Info.Labels {
				labels[k] = v
			}
			series[i].Info.Labels = labels
		}
		all = append(all, series...)
		incidents, err := s.Incidents(ctx, svc, start, end)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, alerts(svc, incidents, r)...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	om := filepath.Join(dir, "history.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteOpenMetrics(f, all); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", om, filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	os.Remove(om)
	return cfg.Services
}

// alerts renders incidents as the ALERTS series Prometheus records for
// firing alerts, one per alert name.
func alerts(svc string, incidents []source.Incident, r source.Range) []source.Series {
	byName := map[string][]float64{}
	var names []string
	for _, in := range incidents {
		vals, ok := byName[in.Name]
		if !ok {
			vals = make([]float64, r.Points())
			for i := range vals {
				vals[i] = math.NaN()
			}
			byName[in.Name] = vals
			names = append(names, in.Name)
		}
		for i := range vals {
			at := r.Start.Add(time.Duration(i) * r.Step)
			if !at.Before(in.Start) && at.Before(in.End) {
				vals[i] = 1
			}
		}
	}
	var out []source.Series
	for _, name := range names {
		out = append(out, source.Series{
			Info: source.SeriesInfo{Metric: "ALERTS", Labels: map[string]string{
				"alertname": name, "alertstate": "firing", "service": svc, "severity": "page"}},
			Start: r.Start, Step: r.Step, Values: byName[name],
		})
	}
	return out
}

// startPrometheusFor runs Prometheus over dir's backfilled data, loading
// the rule files in rulesDir, and returns its URL.
func startPrometheusFor(t *testing.T, bin, dir, rulesDir string) string {
	t.Helper()
	config := fmt.Sprintf("global:\n  scrape_interval: 1m\n  evaluation_interval: 5s\nrule_files:\n  - %s/*.rules.yml\nscrape_configs: []\n", rulesDir)
	return startPrometheus(t, bin, dir, filepath.Join(dir, "data"), config)
}

// promSite is one organization's in-process node.
type promSite struct {
	cfg   config.Config
	admin *ledger.Gateway
}

// served lists the services the site's source has.
func (s promSite) served(t *testing.T, ctx context.Context) []string {
	t.Helper()
	src, err := daemon.OpenSource(ctx, s.cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := src.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return svcs
}

// startPromConsortium opens the embedded ledger and starts Org1's and
// Org2's nodes on the simulator and Org3's on the Prometheus.
func startPromConsortium(t *testing.T, ctx context.Context, dir, promURL, rulesDir string) []promSite {
	t.Helper()
	return startConsortium(t, ctx, dir, func(i int, cfg *config.Config) {
		cfg.Source.History, cfg.Source.Step = "2d", "5m"
		cfg.Source.Simulator.Seed = uint64(i + 1)
		cfg.Learning.Epochs = 3
		if cfg.Organization == "Org3MSP" {
			cfg.Source.Kind = config.SourcePrometheus
			cfg.Source.Prometheus.URL = promURL
			cfg.Source.Prometheus.ReloadURL = promURL + "/-/reload"
			cfg.Rules.Dir = rulesDir
		}
	})
}

func openPromRound(t *testing.T, ctx context.Context, ev *ledger.Gateway, id string, services []string) {
	t.Helper()
	features, err := federation.FeatureSetDigest(fl.DefaultFeatureSpec())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	spec, _ := json.Marshal(records.RoundSpec{
		ID: id, Task: "sli-relevance", Services: services, FeatureSetDigest: features, Strategy: "median",
		MinParticipants: 2, CommitDeadline: records.FormatTime(now.Add(45 * time.Second)),
		Deadline: records.FormatTime(now.Add(3 * time.Minute)),
	})
	if _, _, err := ev.Submit(ctx, "Rounds:Open", string(spec)); err != nil {
		t.Fatal(err)
	}
}

// requestSettled: the request closed, or every proposal for it did (a
// proposal the others could not back leaves its request open until the
// deadline for another).
func requestSettled(ctx context.Context, ev *ledger.Gateway, r records.GenerationRequest) bool {
	if r.Status != records.RequestOpen {
		return true
	}
	var props []records.Proposal
	if evaluate(ctx, ev, &props, "Generation:ProposalsByRequest", r.ID) != nil || len(props) == 0 {
		return false
	}
	return !slices.ContainsFunc(props, func(p records.Proposal) bool { return p.Status == records.ProposalOpen })
}
