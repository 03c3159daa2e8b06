package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
)

// attestDays has org attest token id for the days before today: budget
// consumed b on each (negative: no data).
func attestDays(t *testing.T, dir, org, id string, days int, b float64) {
	t.Helper()
	var tok nft.Token
	l := dial(t, embedledger.ConnectionConfigPath(dir, org))
	raw, err := l.Evaluate(context.Background(), "Tokens:Get", id)
	if err != nil || json.Unmarshal(raw, &tok) != nil {
		t.Fatalf("reading token %s: %v", id, err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := days; d >= 1; d-- {
		start := today.Add(-time.Duration(d) * 24 * time.Hour)
		a := records.Attestation{
			TokenID: id, Service: tok.Definition.SLI.Service, Name: tok.Definition.Name, Version: tok.Definition.Version,
			PeriodStart: records.FormatTime(start), PeriodEnd: records.FormatTime(start.Add(24 * time.Hour)),
			Objective: tok.Definition.SLO.Objective, NoData: b < 0,
		}
		if b >= 0 {
			a.Events, a.BudgetConsumed, a.Achieved = 5000, b, 1-b*(1-a.Objective)
			a.Incidents, a.IncidentsDetected, a.IncidentsPaged, a.PageAlerts = 1, 1, 1, 2
		}
		arg, err := nft.Canonical(a)
		if err != nil {
			t.Fatal(err)
		}
		submit(t, l, nil, "Compliance:Attest", string(arg))
	}
}

// openProposal has Org1 request an SLO for service by hand and propose
// it; the proposal stays open for the others' decisions.
func openProposal(t *testing.T, dir, service string) string {
	t.Helper()
	def := nfttest.Definition(service, "Org1MSP")
	spec, _ := json.Marshal(records.RequestSpec{Service: service, SLIs: def.SLI.Metrics})
	var req records.GenerationRequest
	submit(t, dial(t, embedledger.AdminConnectionConfigPath(dir, "Org1MSP")), &req, "Generation:Request", string(spec))
	def.Provenance.GenerationRequestID = req.ID
	raw, err := nft.Canonical(def)
	if err != nil {
		t.Fatal(err)
	}
	var prop records.Proposal
	submit(t, dial(t, embedledger.ConnectionConfigPath(dir, "Org1MSP")), &prop, "Generation:Propose", req.ID, string(raw))
	return prop.ID
}

// The lifecycle commands against a running 'srellama ledger': compliance,
// revision on evidence and by the owner, retirement by the owner and on
// evidence, decisions by hand, and their refusals.
func TestLifecycleCommands(t *testing.T) {
	ctx := context.Background()
	dir := startConsortiumLedger(t)
	admin1 := embedledger.AdminConnectionConfigPath(dir, "Org1MSP")
	client1 := embedledger.ConnectionConfigPath(dir, "Org1MSP")
	client2 := embedledger.ConnectionConfigPath(dir, "Org2MSP")
	client3 := embedledger.ConnectionConfigPath(dir, "Org3MSP")
	env := cli.Env{Now: time.Now}

	// Compliance of a breached SLO: the table, the chart, the evidence.
	amf := mint(t, dir, "amf")
	attestDays(t, dir, "Org1MSP", amf, 3, 2.5)
	attestDays(t, dir, "Org2MSP", amf, 2, 0.2)
	attestDays(t, dir, "Org3MSP", amf, 2, 1.5)
	var c struct {
		Attestations []records.Attestation `json:"attestations"`
		Periods      []struct {
			Start    string `json:"start"`
			Breached bool   `json:"breached"`
		} `json:"periods"`
		Evidence *records.Evidence `json:"evidence"`
	}
	decodeJSON(t, run(ctx, t, env, "token", "compliance", "--connection", client2, amf, "--output", "json"), &c, "token compliance")
	if len(c.Attestations) != 7 || len(c.Periods) != 3 || !c.Periods[0].Breached || !c.Periods[2].Breached ||
		c.Evidence == nil || c.Evidence.Trigger != records.TriggerBreached {
		t.Errorf("token compliance: %d attestations, periods %+v, evidence %+v", len(c.Attestations), c.Periods, c.Evidence)
	}
	r := run(ctx, t, env, "token", "compliance", "--connection", client2, amf)
	for _, want := range []string{"BUDGET CONSUMED", "INCIDENTS/DETECTED/PAGED", "Org2MSP", "budget consumed per period", "|", "breached: in 3 of the last 3"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("token compliance table lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}

	// A revision on that evidence; a second is settled (exit 1).
	var req records.GenerationRequest
	decodeJSON(t, run(ctx, t, env, "token", "revise", "--connection", client2, amf, "--output", "json"), &req, "token revise")
	if req.Kind != records.RequestRevision || req.Supersedes != amf || req.Assignee != "Org2MSP" || req.Evidence.Trigger != records.TriggerBreached {
		t.Errorf("token revise: %+v", req)
	}
	if r := run(ctx, t, env, "token", "revise", "--connection", client1, amf); r.code != 1 || !strings.Contains(r.stderr, "already has an open revision request") {
		t.Errorf("a second revision request: %d %q", r.code, r.stderr)
	}

	// The owner revises directly, then retires the new version.
	smf := mint(t, dir, "smf")
	if r := run(ctx, t, env, "token", "revise", "--connection", client1, smf); r.code != 1 || !strings.Contains(r.stderr, "no evidence for a revision") {
		t.Errorf("a revision without evidence: %d %q", r.code, r.stderr)
	}
	v2 := nfttest.Definition("smf", "Org1MSP")
	v2.Version, v2.Supersedes = 2, smf
	v2.Description = "Registration success ratio, runbook fixed."
	file := filepath.Join(t.TempDir(), "smf-v2.json")
	raw, _ := nft.Canonical(v2)
	os.WriteFile(file, raw, 0o644)
	var revised nft.Token
	decodeJSON(t, run(ctx, t, env, "token", "revise", "--connection", admin1, smf, "--definition", file, "--output", "json"), &revised, "token revise --definition")
	if revised.Definition.Version != 2 || revised.Definition.Supersedes != smf {
		t.Errorf("direct revision: %+v", revised.Definition)
	}
	if r := run(ctx, t, env, "token", "retire", "--connection", client2, revised.ID, "--reason", "not ours"); r.code != 1 || !strings.Contains(r.stderr, "access denied") {
		t.Errorf("retire by another organization's client: %d %q", r.code, r.stderr)
	}
	r = run(ctx, t, env, "token", "retire", "--connection", admin1, revised.ID, "--reason", "service decommissioned")
	if r.code != 0 || !strings.Contains(r.stdout, "retired") {
		t.Errorf("token retire --reason:\n%s%s", r.stdout, r.stderr)
	}

	// A retirement on evidence, decided by hand: an approval without
	// figures does not carry it, a rejection then closes it.
	udm := mint(t, dir, "udm")
	if r := run(ctx, t, env, "token", "retire", "--connection", client2, udm, "--on-evidence"); r.code != 1 || !strings.Contains(r.stderr, "no evidence for the retirement") {
		t.Errorf("a retirement without evidence: %d %q", r.code, r.stderr)
	}
	attestDays(t, dir, "Org2MSP", udm, 3, -1)
	var prop records.Proposal
	decodeJSON(t, run(ctx, t, env, "token", "retire", "--connection", client2, udm, "--on-evidence", "--output", "json"), &prop, "token retire --on-evidence")
	if prop.Kind != records.ProposalRetirement || prop.Target != udm || prop.Status != records.ProposalOpen {
		t.Errorf("retirement proposal %+v", prop)
	}
	var decided records.Proposal
	decodeJSON(t, run(ctx, t, env, "proposal", "approve", "--connection", client3, prop.ID, "--reason", "checked our dashboards", "--output", "json"), &decided, "proposal approve")
	if decided.Status != records.ProposalOpen {
		t.Errorf("a hand approval carried a proposal that needs two backed approvals: %s", decided.Status)
	}
	r = run(ctx, t, env, "proposal", "reject", "--connection", client1, prop.ID, "--reason", "we still serve udm")
	if r.code != 0 || !strings.Contains(r.stdout, "rejected") || !strings.Contains(r.stdout, "retire token "+udm) {
		t.Errorf("proposal reject:\n%s%s", r.stdout, r.stderr)
	}
	if r := run(ctx, t, env, "proposal", "show", "--connection", client1, prop.ID); r.code != 0 || !strings.Contains(r.stdout, "retires:") || !strings.Contains(r.stdout, "gone: ") {
		t.Errorf("proposal show of a retirement:\n%s%s", r.stdout, r.stderr)
	}
	var shown struct {
		Decisions []records.Decision `json:"decisions"`
	}
	decodeJSON(t, run(ctx, t, env, "proposal", "show", "--connection", client1, prop.ID, "--output", "json"), &shown, "proposal show")
	if len(shown.Decisions) != 3 || shown.Decisions[2].Reason != "checked our dashboards" || len(shown.Decisions[2].Figures) != 0 {
		t.Errorf("decisions %+v", shown.Decisions)
	}

	// A hand request's proposal (no backed approvals asked) is minted by
	// a hand approval without a reason.
	id := openProposal(t, dir, "upf")
	if r := run(ctx, t, env, "proposal", "approve", "--connection", client2, id); r.code != 0 || !strings.Contains(r.stdout, "minted") {
		t.Errorf("proposal approve:\n%s%s", r.stdout, r.stderr)
	}

	refusals := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"token", "retire", "--connection", admin1, amf}, 2, "either --reason"},
		{[]string{"token", "retire", "--connection", admin1, amf, "--reason", "x", "--on-evidence"}, 2, "either --reason"},
		{[]string{"token", "retire", "--connection", admin1, amf, "--reason", "   "}, 2, "a reason is required"},
		{[]string{"token", "compliance", "--connection", client1, "nope"}, 2, "not a token ID"},
		{[]string{"token", "compliance", "--connection", client1, strings.Repeat("0", 64)}, 1, "not found"},
		{[]string{"token", "revise", "--connection", admin1, amf, "--definition", filepath.Join(dir, "missing.json")}, 2, "--definition"},
		{[]string{"token", "revise", "--connection", admin1, amf, "--definition", file}, 2, "supersedes"},
		{[]string{"proposal", "reject", "--connection", client1, id}, 2, "a reason is required"},
		{[]string{"proposal", "approve", "--connection", client1, "nope"}, 2, "not a proposal ID"},
		{[]string{"proposal", "approve", "--connection", client1, strings.Repeat("0", 64)}, 1, "not found"},
		{[]string{"proposal", "approve", "--connection", client1, id}, 1, "settled"},
	}
	for _, tt := range refusals {
		r := run(ctx, t, env, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
}
