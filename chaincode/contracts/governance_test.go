package contracts_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// One active SLO per identity (service and name): a second first version
// is refused, a revision supersedes the active one in its minting
// transaction, and Tokens:Active lists only the newest.
func TestOneActiveSLOPerIdentity(t *testing.T) {
	w := registered(t)
	v1 := w.mintedToken("round-1")

	// A request by hand for amf (not a revision request, which would
	// name the token to supersede).
	req := w.handRequest("amf", v1.Definition.SLI.Metrics)
	dup := definitionFor(req, "Org1MSP")
	w.refused(w.org1.Client, "is active as token "+v1.ID+": propose a revision", "Generation:Propose", req.ID, mustJSON(t, dup))

	rev := dup
	rev.Version, rev.Supersedes = 2, v1.ID
	res := w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(t, rev))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	res = w.submit(w.org3.Client, "Generation:Decide", prop.ID, backedApproval)
	minted := event(t, res, records.EventTokenMinted)
	if minted.Superseded == nil || minted.Superseded.ID != v1.ID || minted.Superseded.State.Status != nft.StatusSuperseded ||
		minted.Superseded.State.SupersededBy != minted.Token.ID {
		t.Fatalf("the mint did not supersede v1: %+v", minted.Superseded)
	}
	var active []nft.Token
	if err := json.Unmarshal(w.evaluate(w.org2.Client, "Tokens:Active", "amf"), &active); err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ID != minted.Token.ID || active[0].Definition.Version != 2 {
		t.Fatalf("active tokens of amf: %d, want only v2", len(active))
	}

	// A revision of a version that is no longer active is refused: it
	// would make two active SLOs of one identity.
	req3 := w.handRequest("amf", v1.Definition.SLI.Metrics)
	stale := definitionFor(req3, "Org1MSP")
	stale.Version, stale.Supersedes = 2, v1.ID
	w.refused(w.org1.Client, "not "+v1.ID, "Generation:Propose", req3.ID, mustJSON(t, stale))

	// Retiring frees the identity for a new first version.
	w.submit(w.org1.Admin, "Tokens:Retire", minted.Token.ID, "replaced by a latency SLO")
	if err := json.Unmarshal(w.evaluate(w.org2.Client, "Tokens:Active", "amf"), &active); err != nil || len(active) != 0 {
		t.Fatalf("active after retirement: %d (%v)", len(active), err)
	}
	w.submit(w.org1.Client, "Generation:Propose", req3.ID, mustJSON(t, definitionFor(req3, "Org1MSP")))
}

// handRequest has Org1's admin request an SLO for service by hand.
func (w *world) handRequest(service string, slis []nft.Metric) records.GenerationRequest {
	w.t.Helper()
	spec := records.RequestSpec{Service: service, SLIs: slis}
	res := w.submit(w.org1.Admin, "Generation:Request", mustJSON(w.t, spec))
	return event(w.t, res, records.EventGenerationRequested).Requests[0]
}

// Decisions carry their figures or their reason; abstentions leave the
// electorate; quorum needs two organizations' approvals backed by data.
func TestDecisionsWithFigures(t *testing.T) {
	cases := []struct {
		name      string
		decisions [][2]string // org index 1 or 2 (Org2, Org3), decision JSON
		status    records.ProposalStatus
		reason    string
	}{
		{"backed approval mints", [][2]string{{"2", backedApproval}}, records.ProposalMinted, ""},
		{"abstention leaves the electorate", [][2]string{
			{"1", `{"verdict":"abstain","reason":"we do not run amf"}`},
			{"2", backedApproval}}, records.ProposalMinted, ""},
		{"approvals without data do not carry", [][2]string{
			{"1", `{"verdict":"abstain","reason":"we lack the SLI's metrics"}`},
			{"2", "approve"}}, records.ProposalRejected, "1 approvals rest on data"},
		{"everyone else abstains", [][2]string{
			{"1", `{"verdict":"abstain","reason":"we do not run amf"}`},
			{"2", `{"verdict":"abstain","reason":"1 day of history, 3 needed","figures":{"history_days":1,"needed_days":3}}`}},
			records.ProposalRejected, "(2 abstained, 0 rejected); 2 are needed"},
		{"rejections with figures", [][2]string{
			{"1", `{"verdict":"reject","reason":"our amf achieved 99.2%","figures":{"achieved":0.992,"objective":0.999}}`},
			{"2", `{"verdict":"reject","reason":"41 false pages","figures":{"false_pages":41}}`}},
			records.ProposalRejected, "approval can no longer reach quorum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := registered(t)
			fin := w.finalizedRound("round-d")
			req := fin.Requests[0]
			res := w.submit(w.org1.Client, "Generation:ProposeWith", req.ID, mustJSON(t, definitionFor(req, "Org1MSP")),
				`{"verdict":"approve","figures":{"history_days":7,"achieved":0.9996}}`)
			prop := event(t, res, records.EventProposalSubmitted).Proposal
			if prop.MinBackedApprovals != 2 {
				t.Fatalf("min backed approvals = %d", prop.MinBackedApprovals)
			}
			for _, d := range c.decisions {
				org := w.orgs[int(d[0][0]-'0')]
				if d[1] == "approve" {
					w.submit(org.Client, "Generation:Approve", prop.ID)
				} else {
					w.submit(org.Client, "Generation:Decide", prop.ID, d[1])
				}
			}
			var got records.Proposal
			if err := json.Unmarshal(w.evaluate(w.org1.Client, "Generation:GetProposal", prop.ID), &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != c.status || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("proposal %s (%q), want %s (%q)", got.Status, got.Reason, c.status, c.reason)
			}
			var decisions []records.Decision
			if err := json.Unmarshal(w.evaluate(w.org1.Client, "Generation:Decisions", prop.ID), &decisions); err != nil {
				t.Fatal(err)
			}
			for _, d := range decisions {
				legacy := d.Kind() == records.VerdictApprove && d.Verdict == records.VerdictApprove && len(d.Figures) == 0 && d.MSPID != "Org1MSP"
				if len(d.Figures) == 0 && d.Reason == "" && !legacy {
					t.Fatalf("decision of %s carries neither figures nor a reason: %+v", d.MSPID, d)
				}
			}
		})
	}
}

func TestDecisionSpecRefusals(t *testing.T) {
	w := registered(t)
	fin := w.finalizedRound("round-x")
	req := fin.Requests[0]
	res := w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(t, definitionFor(req, "Org1MSP")))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	for _, c := range []struct{ spec, want string }{
		{`{"verdict":"approve"}`, "give the figures"},
		{`{"verdict":"reject","figures":{"achieved":0.9}}`, "a reason is required"},
		{`{"verdict":"abstain"}`, "a reason is required"},
		{`{"verdict":"maybe","reason":"x"}`, "not approve, reject or abstain"},
		{`{"verdict":"approve","figures":{"Bad Name":1}}`, "figure name"},
		{`{"verdict":"approve","figures":{"x":1},"extra":1}`, "unknown field"},
	} {
		w.refused(w.org2.Client, c.want, "Generation:Decide", prop.ID, c.spec)
	}
}

// A request whose assignee declines, or lets its turn pass without a
// proposal, goes to another member that runs the service; when none is
// left it closes with the reason.
func TestReassignment(t *testing.T) {
	w := registered(t)
	fin := w.finalizedRound("round-r")
	req := fin.Requests[0]
	if len(req.Runners) != 3 || req.AssignedUntil == "" {
		t.Fatalf("request runners %v assigned until %q", req.Runners, req.AssignedUntil)
	}
	first := req.Assignee
	other := w.orgByMSP(otherThan(first, req.Runners))
	w.refused(other.Client, "is assigned to "+first, "Generation:Decline", req.ID, "not mine")
	w.refused(other.Client, "'s until", "Generation:Reassign", req.ID)

	res := w.submit(w.orgByMSP(first).Client, "Generation:Decline", req.ID, "we lack the SLI's metrics")
	ev := event(t, res, records.EventRequestReassigned)
	second := ev.Requests[0].Assignee
	if second == first || second == "" || !slices.Equal(ev.Requests[0].Passed, []string{first}) || !strings.Contains(ev.Reason, "lack the SLI") {
		t.Fatalf("after decline: assignee %s passed %v reason %q", second, ev.Requests[0].Passed, ev.Reason)
	}

	w.ledger.Advance(records.DefaultAssignTTL + time.Second)
	res = w.submit(w.org1.Client, "Generation:Reassign", req.ID)
	third := event(t, res, records.EventRequestReassigned).Requests[0]
	if third.Assignee == first || third.Assignee == second || len(third.Passed) != 2 {
		t.Fatalf("after a missed turn: assignee %s passed %v", third.Assignee, third.Passed)
	}

	// The third assignee proposes: its turn passing takes nothing away.
	def := definitionFor(req, third.Assignee)
	w.submit(w.orgByMSP(third.Assignee).Client, "Generation:Propose", req.ID, mustJSON(t, def))
	w.ledger.Advance(records.DefaultAssignTTL + time.Second)
	w.refused(w.org2.Client, "has a proposal open", "Generation:Reassign", req.ID)

	// With every runner passed, the request closes.
	fin = w.finalizedRound("round-s")
	req = fin.Requests[0]
	for range 3 {
		var cur records.GenerationRequest
		if err := json.Unmarshal(w.evaluate(w.org1.Client, "Generation:GetRequest", req.ID), &cur); err != nil {
			t.Fatal(err)
		}
		res = w.submit(w.orgByMSP(cur.Assignee).Client, "Generation:Decline", req.ID, "cannot generate")
	}
	last := event(t, res, records.EventRequestReassigned).Requests[0]
	if last.Status != records.RequestExpired || !strings.Contains(last.Reason, "no other member runs the service") {
		t.Fatalf("request after every runner declined: %s %q", last.Status, last.Reason)
	}
}

func otherThan(msp string, among []string) string {
	for _, m := range among {
		if m != msp {
			return m
		}
	}
	return ""
}
