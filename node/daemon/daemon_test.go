package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/rulesync"
)

var orgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}

type site struct {
	cfg    config.Config
	node   *daemon.Node
	admin  *ledger.Gateway
	client *ledger.Gateway
	stop   context.CancelFunc
	done   chan error
}

// start runs the site's node until stop is called.
func (s *site) start(t *testing.T, ctx context.Context) {
	t.Helper()
	n, err := daemon.New(ctx, s.cfg, daemon.Parts{Ledger: s.client, Admin: s.admin, Evidence: cli.Evidence, Log: testLog(s.cfg.Organization)})
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
// the three organizations and starts a node for each on the simulator.
func startConsortium(t *testing.T, ctx context.Context) (*embedledger.Ledger, []*site) {
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

// openRound opens a round over every simulated service.
func openRound(t *testing.T, ctx context.Context, ev *ledger.Gateway, id, strategy string) {
	t.Helper()
	now := time.Now().UTC()
	spec, _ := json.Marshal(records.RoundSpec{
		ID: id, Task: "sli-relevance", Services: []string{"amf", "ausf", "nrf", "pcf", "smf", "udm", "upf"},
		FeatureSetDigest: featureSet(t), Strategy: strategy, MinParticipants: 2,
		CommitDeadline: records.FormatTime(now.Add(45 * time.Second)), Deadline: records.FormatTime(now.Add(3 * time.Minute)),
	})
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
