package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/api"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/source"
)

var orgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}

type site struct {
	cfg config.Config
	// evidence, if set, replaces the CLI's evidence (a failing source);
	// retry bounds the wait between retries of a failed workflow action.
	evidence daemon.EvidenceFunc
	retry    time.Duration

	node   *daemon.Node
	admin  *ledger.Gateway
	client *ledger.Gateway
	stop   context.CancelFunc
	done   chan error
}

// start runs the site's node until stop is called.
func (s *site) start(t *testing.T, ctx context.Context) {
	t.Helper()
	evidence := s.evidence
	if evidence == nil {
		evidence = cli.Evidence
	}
	n, err := daemon.New(ctx, s.cfg, daemon.Parts{Ledger: s.client, Admin: s.admin, Evidence: evidence,
		Log: testLog(s.cfg.Organization), WorkflowRetry: s.retry})
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithCancel(ctx)
	s.node, s.stop, s.done = n, cancel, make(chan error, 1)
	go func() { s.done <- n.Run(nctx) }()
	t.Cleanup(func() { cancel(); n.Close() })
}

// served lists the services the site's simulator runs.
func (s *site) served(t *testing.T, ctx context.Context) []string {
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

// settled reports whether a request is done with: closed, or its
// proposals all closed (one the others could not back leaves the request
// open for another proposal until its deadline).
func settled(ctx context.Context, ev *ledger.Gateway, r records.GenerationRequest) bool {
	if r.Status != records.RequestOpen {
		return true
	}
	raw, err := ev.Evaluate(ctx, "Generation:ProposalsByRequest", r.ID)
	var props []records.Proposal
	if err != nil || json.Unmarshal(raw, &props) != nil || len(props) == 0 {
		return false
	}
	return !slices.ContainsFunc(props, func(p records.Proposal) bool { return p.Status == records.ProposalOpen })
}

// kill stops the node and waits for it, as a crash between events would.
func (s *site) kill() {
	s.stop()
	<-s.done
	s.node.Close()
}

func testLog(org string) *slog.Logger {
	if os.Getenv("SRELLAMA_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("site", org)
}

// startConsortium opens the embedded ledger with the chaincode, registers
// the three organizations and starts a node for each on the simulator,
// after setup (if any) adjusted its site.
func startConsortium(t *testing.T, ctx context.Context, setup ...func(*site)) (*embedledger.Ledger, []*site) {
	t.Helper()
	dir := t.TempDir()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedledger.Open(embedledger.Config{Dir: filepath.Join(dir, "ledger"), Channel: "consortium", Orgs: orgs,
		Chaincodes: map[string]shim.Chaincode{"srellama": cc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var sites []*site
	for i, org := range orgs {
		admin, err := l.Connect(ctx, org, "admin", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		client, err := l.Connect(ctx, org, "client", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close(); client.Close() })
		if _, _, err := admin.Submit(ctx, "Consortium:RegisterOrganization", org+" Telecom"); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Organization = org
		cfg.DataDir = filepath.Join(dir, org)
		cfg.Rules.Dir = filepath.Join(dir, org, "rules")
		cfg.Ledger.Connection = "in-process"
		cfg.Source.History, cfg.Source.Step = "3d", "5m"
		cfg.Source.Simulator.Seed = uint64(i + 1)
		cfg.Network.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		s := &site{cfg: cfg, admin: admin, client: client}
		for _, f := range setup {
			f(s)
		}
		s.start(t, ctx)
		sites = append(sites, s)
	}
	return l, sites
}

func waitRegistered(t *testing.T, ctx context.Context, ev *ledger.Gateway) {
	t.Helper()
	waitFor(t, "every node registered on the ledger", 30*time.Second, func() bool {
		raw, err := ev.Evaluate(ctx, "Consortium:ListNodes", "")
		var nodes []records.Node
		return err == nil && json.Unmarshal(raw, &nodes) == nil && len(nodes) == len(orgs)
	})
}

// openRound opens a round over every simulated service; adjust (if any)
// changes its spec.
func openRound(t *testing.T, ctx context.Context, ev *ledger.Gateway, id, strategy string, adjust ...func(*records.RoundSpec)) {
	t.Helper()
	now := time.Now().UTC()
	rs := records.RoundSpec{
		ID: id, Task: "sli-relevance", Services: []string{"amf", "ausf", "nrf", "pcf", "smf", "udm", "upf"},
		FeatureSetDigest: featureSet(t), Strategy: strategy, MinParticipants: 2,
		CommitDeadline: records.FormatTime(now.Add(45 * time.Second)), Deadline: records.FormatTime(now.Add(3 * time.Minute)),
	}
	for _, f := range adjust {
		f(&rs)
	}
	spec, _ := json.Marshal(rs)
	if _, _, err := ev.Submit(ctx, "Rounds:Open", string(spec)); err != nil {
		t.Fatal(err)
	}
}

// featureSet is the feature set every node extracts.
func featureSet(t *testing.T) string {
	t.Helper()
	d, err := federation.FeatureSetDigest(fl.DefaultFeatureSpec())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsortiumFromRoundToInstalledRules: the nodes register themselves,
// take part in a federated round opened by Org1, and the workflow carries
// the round's requests to minted tokens whose rules every node installs.
func TestConsortiumFromRoundToInstalledRules(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, sites := startConsortium(t, ctx)
	ev := sites[0].admin

	waitRegistered(t, ctx, ev)

	openRound(t, ctx, ev, "round-1", "median")

	var round records.Round
	waitFor(t, "the round to finalize", 2*time.Minute, func() bool {
		raw, err := ev.Evaluate(ctx, "Rounds:Get", "round-1")
		return err == nil && json.Unmarshal(raw, &round) == nil && round.Status != records.RoundOpen
	})
	if round.Status != records.RoundFinalized || len(round.Contributors) != 3 {
		t.Fatalf("round %s (%s) with contributors %v", round.Status, round.FailureReason, round.Contributors)
	}

	var tokens []nft.Token
	waitFor(t, "tokens minted from the round", 2*time.Minute, func() bool {
		raw, err := ev.Evaluate(ctx, "Audit:ByRound", "round-1", "", "")
		var page records.Page[nft.Token]
		if err != nil || json.Unmarshal(raw, &page) != nil {
			return false
		}
		tokens = page.Items
		return len(tokens) > 0
	})
	for _, tok := range tokens {
		if err := nft.ValidateToken(tok); err != nil {
			t.Fatalf("minted token invalid: %v", err)
		}
		if !slices.Contains(round.Services, tok.Definition.SLI.Service) {
			t.Fatalf("token for %s, not a service of the round", tok.Definition.SLI.Service)
		}
	}
	for _, s := range sites {
		served := s.served(t, ctx)
		for _, tok := range tokens {
			path := filepath.Join(s.cfg.Rules.Dir, rulesync.FileName(tok))
			if !slices.Contains(served, tok.Definition.SLI.Service) {
				continue // checked below, once every install is done
			}
			waitFor(t, fmt.Sprintf("%s to install %s", s.cfg.Organization, tok.Definition.Name), 30*time.Second, func() bool {
				raw, err := os.ReadFile(path)
				want, _ := rulesync.Content(tok)
				return err == nil && string(raw) == string(want)
			})
		}
	}
	for _, s := range sites {
		served := s.served(t, ctx)
		for _, tok := range tokens {
			if _, err := os.Stat(filepath.Join(s.cfg.Rules.Dir, rulesync.FileName(tok))); err == nil && !slices.Contains(served, tok.Definition.SLI.Service) {
				t.Errorf("%s installed the rules of %s, which it does not run", s.cfg.Organization, tok.Definition.SLI.Service)
			}
		}
	}

	// The API answers from the ledger, and the node's metrics count the round.
	resp, err := http.Get("http://" + sites[1].node.APIAddr() + "/api/v1/tokens/" + tokens[0].ID + "/rules")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != tokens[0].Definition.Rules.YAML {
		t.Fatalf("GET rules = %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + sites[2].node.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `srellama_rounds_total{agrees="true",status="finalized"} 1`) ||
		!strings.Contains(string(body), `srellama_ledger_request_seconds_count{op="submit",outcome="ok"}`) {
		t.Fatalf("metrics do not count the round:\n%s", body)
	}
}

// A node stopped right after the round finalizes (before it has acted on
// the generation requests) and restarted from its data directory resumes
// from its event checkpoint: the workflow completes and it installs every
// token's rules, without proposing or deciding twice.
func TestNodeRestartedMidWorkflow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, sites := startConsortium(t, ctx)
	ev := sites[0].admin
	waitRegistered(t, ctx, ev)
	openRound(t, ctx, ev, "round-r", "fedavg")
	victim := sites[2]
	waitFor(t, "the round to finalize", 2*time.Minute, func() bool {
		raw, err := ev.Evaluate(ctx, "Rounds:Get", "round-r")
		var r records.Round
		return err == nil && json.Unmarshal(raw, &r) == nil && r.Status == records.RoundFinalized
	})
	victim.kill()
	victim.start(t, ctx)

	var reqs []records.GenerationRequest
	waitFor(t, "every request to settle", 2*time.Minute, func() bool {
		raw, err := ev.Evaluate(ctx, "Generation:RequestsByRound", "round-r")
		if err != nil || json.Unmarshal(raw, &reqs) != nil || len(reqs) == 0 {
			return false
		}
		return !slices.ContainsFunc(reqs, func(r records.GenerationRequest) bool { return !settled(ctx, ev, r) })
	})
	served := victim.served(t, ctx)
	for _, req := range reqs {
		raw, _ := ev.Evaluate(ctx, "Generation:ProposalsByRequest", req.ID)
		var props []records.Proposal
		_ = json.Unmarshal(raw, &props)
		per := map[string]int{}
		for _, p := range props {
			per[p.Proposer]++
		}
		for org, n := range per {
			if n > 1 {
				t.Fatalf("%s proposed %d times for %s", org, n, req.ID)
			}
		}
		if req.Status != records.RequestFulfilled || !slices.Contains(served, req.Service) {
			continue
		}
		raw, _ = ev.Evaluate(ctx, "Tokens:Get", req.TokenID)
		var tok nft.Token
		_ = json.Unmarshal(raw, &tok)
		path := filepath.Join(victim.cfg.Rules.Dir, rulesync.FileName(tok))
		waitFor(t, "the restarted node to install "+tok.Definition.Name, 30*time.Second, func() bool {
			_, err := os.Stat(path)
			return err == nil
		})
	}
}

// pending reads a node's pending workflow actions from its API.
func pending(t *testing.T, s *site) (api.PendingList, bool) {
	t.Helper()
	var list api.PendingList
	addr := s.node.APIAddr()
	if addr == "" {
		return list, false
	}
	resp, err := http.Get("http://" + addr + "/api/v1/workflow/pending")
	if err != nil {
		return list, false
	}
	defer resp.Body.Close()
	return list, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&list) == nil
}

func metricsOf(t *testing.T, s *site) string {
	t.Helper()
	resp, err := http.Get("http://" + s.node.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// With its metric source down, a node's reviews fail; it parks them and
// still takes part in a later round, which finalizes with it. Once the
// source is back the parked reviews are decided.
func TestRoundsGoOnWhileTheWorkflowFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down atomic.Bool
	down.Store(true)
	_, sites := startConsortium(t, ctx, func(s *site) {
		if s.cfg.Organization != "Org3MSP" {
			return
		}
		s.evidence = func(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error) {
			if down.Load() {
				return builtin.Input{}, errors.New(`prometheus: Get "http://127.0.0.1:9090/api/v1/query_range": dial tcp 127.0.0.1:9090: connect: connection refused`)
			}
			return cli.Evidence(ctx, src, service, r)
		}
		s.retry = 2 * time.Second
	})
	ev, victim := sites[0].admin, sites[2]
	waitRegistered(t, ctx, ev)

	// Every proposal of the first round needs the victim's backed
	// approval, so none is settled without its review.
	openRound(t, ctx, ev, "round-1", "median", func(rs *records.RoundSpec) { rs.MinBackedApprovals = 3 })
	parked := map[string]bool{} // reviews waiting for a retry
	failing := func() bool {
		list, ok := pending(t, victim)
		for _, a := range list.Actions {
			if a.Event == string(records.EventProposalSubmitted) && a.Proposal != "" {
				parked[a.Proposal] = true
			}
		}
		return ok && list.Count > 0
	}
	waitFor(t, "a workflow action to fail and wait for a retry", 3*time.Minute, failing)

	openRound(t, ctx, ev, "round-2", "median")
	var round records.Round
	waitFor(t, "the second round to close", 2*time.Minute, func() bool {
		failing()
		raw, err := ev.Evaluate(ctx, "Rounds:Get", "round-2")
		return err == nil && json.Unmarshal(raw, &round) == nil && round.Status != records.RoundOpen
	})
	if round.Status != records.RoundFinalized || !slices.Contains(round.Contributors, victim.cfg.Organization) {
		t.Fatalf("round-2 %s (%s) with contributors %v: the node with a failing workflow did not take part",
			round.Status, round.FailureReason, round.Contributors)
	}
	waitFor(t, "a review to fail and wait for a retry", time.Minute, func() bool { failing(); return len(parked) > 0 })
	list, _ := pending(t, victim)
	if list.Count == 0 || list.Actions[0].Attempts < 2 || !strings.Contains(list.Actions[0].LastError, "connection refused") {
		t.Fatalf("pending while the source is down: %+v", list)
	}
	m := metricsOf(t, victim)
	for _, want := range []string{`srellama_workflow_retries_total{kind="ProposalSubmitted"}`, `srellama_workflow_failures_total{kind="ProposalSubmitted"}`,
		`srellama_workflow_pending_limit 256`} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `srellama_workflow_pending_actions{kind="ProposalSubmitted"} 0`) {
		t.Fatal("metrics show no pending review while one waits")
	}

	down.Store(false)
	waitFor(t, "the pending actions to succeed", 2*time.Minute, func() bool {
		list, ok := pending(t, victim)
		return ok && list.Count == 0
	})
	decided := 0
	for id := range parked {
		raw, err := ev.Evaluate(ctx, "Generation:Decisions", id)
		var decisions []records.Decision
		if err != nil || json.Unmarshal(raw, &decisions) != nil {
			t.Fatalf("decisions on %s: %v", id, err)
		}
		if slices.ContainsFunc(decisions, func(d records.Decision) bool { return d.MSPID == victim.cfg.Organization }) {
			decided++
			continue
		}
		raw, _ = ev.Evaluate(ctx, "Generation:GetProposal", id)
		var p records.Proposal
		if json.Unmarshal(raw, &p) != nil || p.Status == records.ProposalOpen {
			t.Fatalf("proposal %s is %s without the victim's decision after its source came back", id, p.Status)
		}
	}
	if decided == 0 {
		t.Fatalf("none of the %d parked reviews was decided once the source was back", len(parked))
	}
	t.Logf("%d reviews parked while the source was down; %d decided once it was back, the rest closed meanwhile", len(parked), decided)
	if m := metricsOf(t, victim); !strings.Contains(m, `srellama_workflow_recovered_total{kind="ProposalSubmitted"}`) {
		t.Fatal("metrics count no recovered review")
	}
}
