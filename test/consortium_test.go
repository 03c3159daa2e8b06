package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/rulesync"
)

// e2ePortBase keeps the test's network clear of one an operator runs on
// the script's default ports.
const e2ePortBase = 27500

// TestFabricConsortiumEndToEnd runs the consortium on a real Fabric network:
// scripts/network.sh brings up three organizations' peers with the
// chaincode; each organization's admin registers it; three 'srellama node'
// processes, each with the configuration the script wrote for its
// organization, register themselves and declare their services; Org1's
// admin sets a round schedule with 'srellama schedule set' and the nodes'
// schedulers race to open its due round, of which exactly one exists; the
// round's generation requests are proposed, approved by a quorum of
// organizations and minted as tokens, whose rules every node installs. The
// nodes' simulators degrade one service lastingly: the members attest the
// SLO missed period after period, the ledger finds it breached, a node
// proposes a revision, the others approve it on their no-regression replay
// and every node swaps the rules. The compliance record and the tokens are
// audited through another organization's peer; the network goes down and
// leaves no process behind.
func TestFabricConsortiumEndToEnd(t *testing.T) {
	began := time.Now()
	n := startNetwork(t, e2ePortBase)
	ctx := context.Background()
	work := t.TempDir()
	srellama := buildSrellama(t, n.repo, work)

	for i, org := range orgs {
		admin := n.dial(t, org, true, "")
		if _, _, err := admin.Submit(ctx, "Consortium:RegisterOrganization", fmt.Sprintf("Org%d Telecom", i+1)); err != nil {
			t.Fatalf("%s registers itself: %v", org, err)
		}
	}
	// Org3's client sees the ledger through its own peer.
	observer := n.dial(t, "Org3MSP", false, "")
	cc := chaincode.New(observer)

	nodes := make([]*process, len(orgs))
	for i := range orgs {
		// A shorter history than the script's 7 days keeps training quick.
		// Every node installs every token's rules here (by default a node
		// installs its own services' only; the Prometheus end-to-end test
		// checks that).
		env := append(os.Environ(), "SRELLAMA_HISTORY=3d", "SRELLAMA_STEP=5m", "SRELLAMA_RULES_INSTALL=all")
		env = append(env, lifecycleEnv()...)
		cfg := filepath.Join(n.dir, "orgs", fmt.Sprintf("org%d.yaml", i+1))
		nodes[i] = startProcess(t, filepath.Join(work, fmt.Sprintf("node%d.log", i+1)), env, srellama, "node", "--config", cfg)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range nodes {
				t.Logf("--- %s\n%s", filepath.Base(p.log), tail(p.log, 3000))
			}
			n.dumpLogs(t)
		}
	})
	// A node that exits early fails the test at once, with its log.
	requireNodesRunning := func() {
		for _, p := range nodes {
			if done, err := p.exited(); done {
				t.Fatalf("node exited early (%v); log %s:\n%s", err, p.log, tail(p.log, 3000))
			}
		}
	}

	waitFor(t, "every node registered on the ledger", time.Minute, func() bool {
		requireNodesRunning()
		var nodes []records.Node
		return evaluate(ctx, observer, &nodes, "Consortium:ListNodes", "") == nil && len(nodes) == len(orgs)
	})

	// A schedule refuses services no member declares: the nodes declare
	// theirs as they start.
	waitFor(t, "every organization to declare its services", time.Minute, func() bool {
		requireNodesRunning()
		members, err := cc.ListOrganizations(ctx)
		if err != nil || len(members) != len(orgs) {
			return false
		}
		for _, m := range members {
			if len(m.Services) == 0 {
				return false
			}
		}
		return true
	})
	spec := e2eSchedule(time.Now())
	runCLI(t, srellama, "schedule", "set", "--connection", n.connection("Org1MSP", true), "--id", spec.ID,
		"--services", "smf,amf", "--strategy", spec.Strategy, "--min-participants", fmt.Sprint(spec.MinParticipants),
		"--cadence", "24h", "--start", spec.Start, "--commit", "45s", "--round-length", "3m", "--output", "json")
	period, ok := spec.PeriodAt(time.Now())
	if !ok {
		t.Fatalf("schedule %+v has no current period", spec)
	}
	roundID := records.ScheduledRoundID(spec.ID, period)

	// No one opens the round: the nodes' schedulers do.
	var round records.Round
	waitFor(t, "the scheduled round to finalize", 3*time.Minute, func() bool {
		requireNodesRunning()
		var err error
		round, err = cc.Round(ctx, roundID)
		return err == nil && round.Status != records.RoundOpen
	})
	if round.Status != records.RoundFinalized || len(round.Contributors) != len(orgs) {
		t.Fatalf("round %s (%s) with contributors %v", round.Status, round.FailureReason, round.Contributors)
	}
	requireOneScheduledRound(ctx, t, cc, spec, period, round)

	var tokens []nft.Token
	waitFor(t, "tokens minted from the round", 3*time.Minute, func() bool {
		requireNodesRunning()
		var page records.Page[nft.Token]
		if evaluate(ctx, observer, &page, "Audit:ByRound", round.ID, "", "") != nil {
			return false
		}
		// A token revised since also rests on the round: the round's own
		// are the first versions.
		tokens = slices.DeleteFunc(page.Items, func(tok nft.Token) bool { return tok.Definition.Supersedes != "" })
		return len(tokens) == len(round.Services)
	})
	for _, tok := range tokens {
		if err := nft.ValidateToken(tok); err != nil {
			t.Fatalf("minted token invalid: %v", err)
		}
		if !slices.Contains(round.Services, tok.Definition.SLI.Service) {
			t.Fatalf("token for %s, not a service of the round", tok.Definition.SLI.Service)
		}
		approvers := map[string]bool{}
		for _, a := range tok.Mint.Approvals {
			approvers[a.MSPID] = true
		}
		if len(approvers) < 2 {
			t.Fatalf("token %s minted with approvals from %v: a quorum is two organizations", tok.ID, tok.Mint.Approvals)
		}
	}

	// Every node installs every token's rules (the degraded service's
	// v1 may be revised before a node gets to it: its swap is checked
	// below).
	var v1 nft.Token
	for _, tok := range tokens {
		if tok.Definition.SLI.Service == degradedService {
			v1 = tok
		}
	}
	if v1.ID == "" {
		t.Fatalf("no token for the degraded service %s among %d", degradedService, len(tokens))
	}
	for i, org := range orgs {
		dir := filepath.Join(n.dir, "orgs", org, "node", "rules")
		for _, tok := range tokens {
			if tok.ID == v1.ID {
				continue
			}
			path := filepath.Join(dir, rulesync.FileName(tok))
			waitFor(t, fmt.Sprintf("node %d to install %s", i+1, tok.Definition.Name), time.Minute, func() bool {
				raw, err := os.ReadFile(path)
				want, _ := rulesync.Content(tok)
				return err == nil && string(raw) == string(want)
			})
		}
	}

	// The degraded service's SLO is revised on the members' evidence.
	v2 := waitForRevision(ctx, t, cc, v1, 2*time.Minute, requireNodesRunning)
	requireRevision(ctx, t, cc, v1, v2)
	for i, org := range orgs {
		dir := filepath.Join(n.dir, "orgs", org, "node", "rules")
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
			why := rulesSwapped(dir, v1, v2)
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d did not swap %s's rules to v2 within a minute: %s", i+1, degradedService, why)
			}
		}
	}
	// The evidence, read through a peer of an organization that did not
	// propose the token.
	other := otherThan(v1.Definition.Provenance.Proposer)
	by := attestingOrgs(t, runCLI(t, srellama, "token", "compliance", "--connection", n.connection(other, false), "--output", "json", v1.ID), v1.ID)
	if len(by) < 2 {
		t.Fatalf("token %s attested by %v through %s's peer, want two organizations or more", v1.ID, by, other)
	}
	t.Logf("token %s attested by %v, read through %s's peer", v1.ID[:12], by, other)

	// The nodes stop first, so that the ledger holds still while the
	// audit counts its tokens.
	for _, p := range nodes {
		p.stop()
	}
	minted := 0
	for _, service := range round.Services {
		versions := tokensOf(ctx, t, cc, service)
		minted += len(versions)
		t.Logf("%s: %d token versions minted", service, len(versions))
		for _, v := range versions {
			requireRevisionAnswersEvidence(ctx, t, cc, v)
		}
	}

	// The audit and a token read through a peer of an organization that
	// did not propose it.
	other = otherThan(tokens[0].Definition.Provenance.Proposer)
	var audit struct {
		OK     bool `json:"ok"`
		Tokens struct {
			Checked int    `json:"checked"`
			Source  string `json:"source"`
		} `json:"tokens"`
	}
	decode(t, runCLI(t, srellama, "audit", "verify", "--connection", n.connection(other, false), "--output", "json"), &audit)
	if !audit.OK || audit.Tokens.Checked != minted || audit.Tokens.Source != "gateway" {
		t.Fatalf("audit through %s's peer: %+v", other, audit)
	}
	var shown nft.Token
	decode(t, runCLI(t, srellama, "token", "show", "--connection", n.connection(other, false), "--output", "json", tokens[0].ID), &shown)
	if shown.ID != tokens[0].ID || shown.Digest != tokens[0].Digest || nft.ValidateToken(shown) != nil {
		t.Fatalf("token read through %s's peer differs: %+v", other, shown)
	}

	// The nodes' ledger clients retried transient gateway failures (and
	// logged why); how often shows how ready the network was.
	retries := 0
	for _, p := range nodes {
		retries += strings.Count(tail(p.log, 1<<30), "ledger call failed; retrying")
	}
	t.Logf("the nodes retried %d ledger calls", retries)
	pids := n.pids(t)
	if want := orderers() + 6; len(pids) != want { // orderers, three peers, three chaincode servers
		t.Fatalf("the script recorded %d processes, want %d: %v", len(pids), want, pids)
	}
	downStart := time.Now()
	if err := n.script("down"); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (PID %d) still runs after down", name, pid)
		}
	}
	t.Logf("%d token versions minted and audited; down took %s; whole test %s", minted,
		time.Since(downStart).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

func otherThan(msp string) string {
	for _, org := range orgs {
		if org != msp {
			return org
		}
	}
	return ""
}

func evaluate(ctx context.Context, l ledger.Ledger, into any, fn string, args ...string) error {
	raw, err := l.Evaluate(ctx, fn, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// runCLI runs the command-line tool and returns its standard output.
func runCLI(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("srellama %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

func decode(t *testing.T, raw []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}
