package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
	"github.com/srellama/srellama/node/ledger"
)

var orgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}

// startConsortiumLedger starts a ledger on which every organization has
// registered itself, and returns its folder.
func startConsortiumLedger(t *testing.T) string {
	t.Helper()
	dir, _ := startLedger(t)
	for _, org := range orgs {
		submit(t, dial(t, embedledger.AdminConnectionConfigPath(dir, org)), nil, "Consortium:RegisterOrganization", strings.TrimSuffix(org, "MSP"))
	}
	return dir
}

// startLedger runs 'srellama ledger' in-process on a free loopback port and
// returns its folder and a function that stops it and returns its exit code.
func startLedger(t *testing.T, extra ...string) (string, func() result) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan result, 1)
	go func() {
		args := append([]string{"ledger", "--dir", dir, "--listen", "127.0.0.1:0", "--orgs", strings.Join(orgs, ",")}, extra...)
		done <- run(ctx, t, cli.Env{LedgerReady: func(addr string) { ready <- addr }}, args...)
	}()
	select {
	case <-ready:
	case r := <-done:
		cancel()
		t.Fatalf("ledger exited with %d: %s", r.code, r.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("ledger did not start in 30s")
	}
	var stopped *result
	stop := func() result {
		if stopped == nil {
			cancel()
			r := <-done
			stopped = &r
		}
		return *stopped
	}
	t.Cleanup(func() { stop() })
	return dir, stop
}

func dial(t *testing.T, path string) ledger.Ledger {
	t.Helper()
	cfg, err := ledger.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := ledger.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

func submit(t *testing.T, l ledger.Ledger, out any, fn string, args ...string) {
	t.Helper()
	res, _, err := l.Submit(context.Background(), fn, args...)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s result %s: %v", fn, res, err)
		}
	}
}

// mint drives a generation through the ledger clients: Org1's admin
// requests, its client proposes, Org2's approval reaches the quorum.
func mint(t *testing.T, dir, service string) string {
	t.Helper()
	admin1 := dial(t, embedledger.AdminConnectionConfigPath(dir, "Org1MSP"))
	client1 := dial(t, embedledger.ConnectionConfigPath(dir, "Org1MSP"))
	client2 := dial(t, embedledger.ConnectionConfigPath(dir, "Org2MSP"))
	def := nfttest.Definition(service, "Org1MSP")
	spec, _ := json.Marshal(records.RequestSpec{Service: service, SLIs: def.SLI.Metrics})
	var req records.GenerationRequest
	submit(t, admin1, &req, "Generation:Request", string(spec))
	def.Provenance.GenerationRequestID = req.ID
	raw, err := nft.Canonical(def)
	if err != nil {
		t.Fatal(err)
	}
	var prop records.Proposal
	submit(t, client1, &prop, "Generation:Propose", req.ID, string(raw))
	var approved records.Proposal
	submit(t, client2, &approved, "Generation:Approve", prop.ID)
	if approved.Status != records.ProposalMinted {
		t.Fatalf("proposal not minted: %+v", approved)
	}
	return approved.TokenID
}

func TestLedgerRoundsTokensAndAudit(t *testing.T) {
	ctx := context.Background()
	dir, stop := startLedger(t)
	for _, org := range orgs {
		path := embedledger.AdminConnectionConfigPath(dir, org)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the ledger did not write %s's admin connection: %v", org, err)
		}
		submit(t, dial(t, path), nil, "Consortium:RegisterOrganization", strings.TrimSuffix(org, "MSP"))
	}
	admin1 := embedledger.AdminConnectionConfigPath(dir, "Org1MSP")
	client2 := embedledger.ConnectionConfigPath(dir, "Org2MSP")
	now := time.Now()
	clock := cli.Env{Now: func() time.Time { return now }}

	// round open: table, then JSON, then the ledger's refusals.
	r := run(ctx, t, clock, "round", "open", "--connection", admin1, "--id", "r1", "--services", "amf,smf", "--strategy", "median")
	if r.code != 0 || !strings.Contains(r.stdout, "round:") || !strings.Contains(r.stdout, "r1") || !strings.Contains(r.stdout, "Org1MSP, Org2MSP, Org3MSP") {
		t.Fatalf("round open: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(ctx, t, clock, "round", "open", "--connection", admin1, "--id", "r2", "--services", "upf", "--quorum", "3", "--output", "json")
	var round records.Round
	if err := json.Unmarshal([]byte(r.stdout), &round); err != nil || r.code != 0 {
		t.Fatalf("round open --output json: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	want := records.FormatTime(now.UTC().Add(10 * time.Minute))
	if round.ID != "r2" || round.Quorum != 3 || round.Status != records.RoundOpen || round.CommitDeadline != want || round.OpenedBy != "Org1MSP" {
		t.Errorf("round %+v (commit deadline want %s)", round, want)
	}
	// generation request: re-requesting by hand.
	r = run(ctx, t, clock, "generation", "request", "--connection", admin1, "--service", "udm", "--assignee", "Org2MSP",
		"--slis", "fivegs_udm_ueauth_req,fivegs_udm_ueauth_succ", "--output", "json")
	var req records.GenerationRequest
	if err := json.Unmarshal([]byte(r.stdout), &req); err != nil || r.code != 0 {
		t.Fatalf("generation request: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if req.Service != "udm" || req.Assignee != "Org2MSP" || req.Status != records.RequestOpen ||
		req.MinBackedApprovals != records.DefaultMinBackedApprovals || req.AssignedUntil == "" {
		t.Errorf("request %+v", req)
	}
	if r := run(ctx, t, clock, "generation", "request", "--connection", client2, "--service", "udm", "--slis", "x_total"); r.code != 1 || !strings.Contains(r.stderr, "admin") {
		t.Errorf("a client's request: exit %d, %q", r.code, r.stderr)
	}
	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"same round twice", []string{"--connection", admin1, "--id", "r1", "--services", "amf"}, `round "r1" already exists`},
		{"client identity", []string{"--connection", client2, "--id", "r3", "--services", "amf"}, "admin"},
		{"more participants than members", []string{"--connection", admin1, "--id", "r4", "--services", "amf", "--min-participants", "4"}, "cannot exceed the 3 registered members"},
	}
	for _, tt := range refusals {
		r := run(ctx, t, clock, append([]string{"round", "open"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tt.name, r.code, r.stderr, tt.want)
		}
	}

	id := mint(t, dir, "amf")
	submit(t, dial(t, admin1), nil, "Tokens:TransferFrom", "Org1MSP", "Org3MSP", id)

	// token show / history / provenance: tables and JSON.
	r = run(ctx, t, cli.Env{}, "token", "show", "--connection", client2, id)
	for _, s := range []string{"id:", id, "service:", "amf", "objective:", "period:", "owner:", "Org3MSP", "status:", "active", "minted at:", "matches the content"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("token show lacks %q:\n%s%s", s, r.stdout, r.stderr)
		}
	}
	r = run(ctx, t, cli.Env{Getenv: func(k string) string {
		if k == "SRELLAMA_CONNECTION" {
			return client2
		}
		return ""
	}}, "token", "show", id, "--output", "json")
	var tok nft.Token
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.ID != id || nft.ValidateToken(tok) != nil {
		t.Fatalf("token show --output json (connection from the environment): %v\n%s%s", err, r.stdout, r.stderr)
	}
	r = run(ctx, t, cli.Env{}, "token", "history", "--connection", client2, id)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "TX") || !strings.Contains(lines[1], "Org1MSP") || !strings.Contains(lines[2], "Org3MSP") {
		t.Errorf("token history (mint then transfer, oldest first):\n%s%s", r.stdout, r.stderr)
	}
	r = run(ctx, t, cli.Env{}, "token", "history", "--connection", client2, id, "--output", "json")
	var hist []records.HistoryEntry
	if err := json.Unmarshal([]byte(r.stdout), &hist); err != nil || len(hist) != 2 {
		t.Errorf("token history --output json: %v\n%s", err, r.stdout)
	}
	r = run(ctx, t, cli.Env{}, "token", "provenance", "--connection", client2, id)
	for _, s := range []string{"proposal:", "request:", "ORGANIZATION", "approve", "Org2MSP"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("token provenance lacks %q:\n%s%s", s, r.stdout, r.stderr)
		}
	}
	r = run(ctx, t, cli.Env{}, "token", "provenance", "--connection", client2, id, "--output", "json")
	var prov records.Provenance
	if err := json.Unmarshal([]byte(r.stdout), &prov); err != nil || prov.Proposal == nil || len(prov.Decisions) == 0 {
		t.Errorf("token provenance --output json: %v\n%s", err, r.stdout)
	}
	missing := strings.Repeat("0", 64)
	if r := run(ctx, t, cli.Env{}, "token", "show", "--connection", client2, missing); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown token: %d %q", r.code, r.stderr)
	}

	// audit verify through the gateway, while the ledger serves.
	r = run(ctx, t, cli.Env{}, "audit", "verify", "--connection", client2)
	if r.code != 0 || !strings.Contains(r.stdout, "1 tokens checked (gateway), 0 failed") || !strings.Contains(r.stdout, "not checked") {
		t.Errorf("audit verify --connection: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The ledger stops cleanly; then the offline audit reads its folder.
	served := stop()
	if served.code != 0 || !strings.Contains(served.stderr, "ledger stopped") {
		t.Fatalf("ledger stopped with %d: %s", served.code, served.stderr)
	}
	for _, org := range orgs {
		for _, s := range []string{"serving the Fabric Gateway API on 127.0.0.1:", org, embedledger.ConnectionConfigPath(dir, org), embedledger.AdminConnectionConfigPath(dir, org)} {
			if !strings.Contains(served.stdout, s) {
				t.Errorf("ledger output lacks %q:\n%s", s, served.stdout)
			}
		}
	}
	r = run(ctx, t, cli.Env{}, "audit", "verify", "--ledger-dir", dir, "--output", "json")
	var rep struct {
		OK    bool `json:"ok"`
		Chain struct {
			OK     bool
			Blocks uint64
		}
		State  struct{ OK bool }
		Tokens struct {
			OK      bool
			Checked int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.OK || !rep.Chain.OK || rep.Chain.Blocks < 10 || !rep.State.OK || rep.Tokens.Checked != 1 {
		t.Fatalf("audit verify --ledger-dir: %d %v %+v\n%s%s", r.code, err, rep, r.stdout, r.stderr)
	}

	// A token edited behind the ledger's back fails its digest and the
	// state replay; the audit says so and exits 1.
	tamper(t, dir, id)
	r = run(ctx, t, cli.Env{}, "audit", "verify", "--ledger-dir", dir)
	for _, s := range []string{"world state", "FAILED", "token digests", id, "audit FAILED"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("audit of a tampered ledger lacks %q:\n%s", s, r.stdout)
		}
	}
	if r.code != 1 {
		t.Errorf("audit of a tampered ledger exited %d", r.code)
	}
}

// tamper rewrites a token's name in the world state, keeping its version.
func tamper(t *testing.T, dir, id string) {
	t.Helper()
	s, err := store.Open(embedledger.StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := "\x00srl.token\x00" + id + "\x00"
	err = s.Commit(func(u *store.Update) error {
		raw, ver, ok := u.Get(cli.ChaincodeName, key)
		if !ok {
			t.Fatalf("no token record under %q", key)
		}
		var tok nft.Token
		if err := json.Unmarshal(raw, &tok); err != nil {
			return err
		}
		tok.Definition.Name += "-edited"
		edited, err := json.Marshal(tok)
		if err != nil {
			return err
		}
		return u.Put(cli.ChaincodeName, key, edited, ver)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLedgerDescribesItselfInJSON(t *testing.T) {
	dir, stop := startLedger(t, "--orgs", "Org1MSP,Org2MSP", "--channel", "ops", "--output", "json")
	r := stop()
	var svc struct {
		Address   string `json:"address"`
		Channel   string `json:"channel"`
		Chaincode string `json:"chaincode"`
		Orgs      []struct {
			MSPID           string `json:"msp_id"`
			Connection      string `json:"connection"`
			AdminConnection string `json:"admin_connection"`
		} `json:"orgs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &svc); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(svc.Address, "127.0.0.1:") || svc.Channel != "ops" || svc.Chaincode != cli.ChaincodeName || len(svc.Orgs) != 2 {
		t.Fatalf("service %+v", svc)
	}
	for _, o := range svc.Orgs {
		cfg, err := ledger.LoadConfig(o.Connection)
		if err != nil || cfg.MSPID != o.MSPID || cfg.Channel != "ops" || cfg.Endpoint != svc.Address {
			t.Errorf("%s: connection %+v, %v", o.MSPID, cfg, err)
		}
		if o.AdminConnection != embedledger.AdminConnectionConfigPath(dir, o.MSPID) {
			t.Errorf("%s: admin connection %s", o.MSPID, o.AdminConnection)
		}
	}
}
