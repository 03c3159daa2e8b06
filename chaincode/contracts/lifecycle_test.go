package contracts_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/xeipuuv/gojsonschema"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// TestLifecycle walks one SLO from registration to retirement with three
// organizations: register, open a round, commit, finalize, generation
// request, proposal, approval and mint, transfer, revise, retire, audit.
func TestLifecycle(t *testing.T) {
	w := newWorld(t)

	// Each organization registers itself and a node.
	for i, org := range w.orgs {
		res := w.submit(org.Admin, "Consortium:RegisterOrganization", org.MSPID+" Telecom")
		if e := event(t, res, records.EventOrganizationRegistered); e.Organization.MSPID != org.MSPID {
			t.Fatalf("registered %s, want %s", e.Organization.MSPID, org.MSPID)
		}
		peerID := peerIDOf(i)
		w.submit(org.Admin, "Consortium:RegisterNode", peerID, `["/ip4/127.0.0.1/tcp/4001","/ip4/127.0.0.1/udp/4001/quic-v1"]`)
	}
	orgs := decode[[]records.Organization](t, w.evaluate(w.org3.Client, "Consortium:ListOrganizations"))
	if len(orgs) != 3 || orgs[0].MSPID != "Org1MSP" || orgs[2].MSPID != "Org3MSP" {
		t.Fatalf("ListOrganizations = %+v", orgs)
	}
	node := decode[records.Node](t, w.evaluate(w.org1.Client, "Consortium:ResolvePeer", peerIDOf(1)))
	if node.MSPID != "Org2MSP" || len(node.Addrs) != 2 {
		t.Fatalf("ResolvePeer = %+v", node)
	}

	// A round: open, every member commits, two of three agree: finalized.
	res := w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-1")))
	opened := event(t, res, records.EventRoundOpened).Round
	if opened.Quorum != 2 || !slices.Equal(opened.Members, []string{"Org1MSP", "Org2MSP", "Org3MSP"}) {
		t.Fatalf("opened round: quorum %d members %v", opened.Quorum, opened.Members)
	}
	for _, org := range w.orgs {
		res := w.submit(org.Client, "Rounds:CommitUpdate", "round-1", mustJSON(t, commitment(org.MSPID)))
		event(t, res, records.EventUpdateCommitted)
	}
	all := claim("Org1MSP", "Org2MSP", "Org3MSP")
	res = w.submit(w.org1.Client, "Rounds:SubmitAggregate", "round-1", mustJSON(t, all))
	event(t, res, records.EventAggregateSubmitted)
	res = w.submit(w.org2.Client, "Rounds:SubmitAggregate", "round-1", mustJSON(t, all))
	fin := event(t, res, records.EventRoundFinalized)
	if fin.Round.Status != records.RoundFinalized || fin.Round.GlobalModelDigest != all.Digest {
		t.Fatalf("finalized round = %+v", fin.Round)
	}
	if len(fin.Requests) != 2 || fin.Requests[0].ID != "round-1.amf" || fin.Requests[1].ID != "round-1.smf" {
		t.Fatalf("finalization created requests %+v", fin.Requests)
	}
	req := fin.Requests[0]
	if req.Status != records.RequestOpen || len(req.SLIs) != 2 || !slices.Contains(req.Contributors, req.Assignee) {
		t.Fatalf("request = %+v", req)
	}
	w.refused(w.org3.Client, "round \"round-1\" is finalized", "Rounds:SubmitAggregate", "round-1", mustJSON(t, all))

	// The assignee proposes; one more approval reaches the majority: minted.
	proposer := w.orgByMSP(req.Assignee)
	def := definitionFor(req, proposer.MSPID)
	res = w.submit(proposer.Client, "Generation:Propose", req.ID, mustJSON(t, def))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	if prop.Status != records.ProposalOpen || prop.Quorum != 2 {
		t.Fatalf("proposal = %+v", prop)
	}
	approver := w.org1
	if approver == proposer {
		approver = w.org2
	}
	res = w.submit(approver.Client, "Generation:Decide", prop.ID, backedApproval)
	minted := event(t, res, records.EventTokenMinted)
	tok := *minted.Token
	var closed records.Proposal
	if err := json.Unmarshal(res.Payload, &closed); err != nil {
		t.Fatal(err)
	}
	if closed.Status != records.ProposalMinted || tok.ID != prop.ID || tok.Mint.ProposalID != prop.ID {
		t.Fatalf("mint: proposal %s, token %s minted from proposal %s", closed.Status, tok.ID, tok.Mint.ProposalID)
	}
	if minted.Proposal != nil {
		t.Fatal("the mint event repeats the proposal, whose definition the token carries")
	}
	if err := nft.ValidateToken(tok); err != nil {
		t.Fatalf("minted token invalid: %v", err)
	}
	if tok.Mint.MintedAt != records.FormatTime(w.ledger.Now().Add(-time.Millisecond)) {
		t.Fatalf("minted_at %s is not the transaction time", tok.Mint.MintedAt)
	}
	if len(tok.Mint.Approvals) != 2 || tok.State.Owner != proposer.MSPID {
		t.Fatalf("mint record %+v, owner %s", tok.Mint, tok.State.Owner)
	}
	stored := w.evaluate(w.org3.Client, "Tokens:Get", tok.ID)
	schema, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(nft.JSONSchema))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := schema.Validate(gojsonschema.NewBytesLoader(stored)); err != nil || !r.Valid() {
		t.Fatalf("minted token fails the published JSON Schema: %v %v", err, r.Errors())
	}
	if got := string(w.evaluate(w.org3.Client, "Tokens:OwnerOf", tok.ID)); got != proposer.MSPID {
		t.Fatalf("OwnerOf = %s", got)
	}
	if got := string(w.evaluate(w.org3.Client, "Tokens:BalanceOf", proposer.MSPID)); got != "1" {
		t.Fatalf("BalanceOf = %s", got)
	}
	// The request is fulfilled: no second mint for it.
	w.refused(w.org3.Client, records.SettledPrefix+"proposal "+prop.ID+" is closed (minted)", "Generation:Approve", prop.ID)

	// Transfer through an approved operator.
	other := w.org3
	if other == proposer {
		other = w.org1
	}
	w.submit(proposer.Admin, "Tokens:Approve", other.MSPID, tok.ID)
	if got := string(w.evaluate(w.org1.Client, "Tokens:GetApproved", tok.ID)); got != other.MSPID {
		t.Fatalf("GetApproved = %q", got)
	}
	res = w.submit(other.Admin, "Tokens:TransferFrom", proposer.MSPID, other.MSPID, tok.ID)
	if tr := event(t, res, records.EventTransfer).Transfer; tr.From != proposer.MSPID || tr.To != other.MSPID {
		t.Fatalf("transfer event %+v", tr)
	}
	if got := string(w.evaluate(w.org1.Client, "Tokens:GetApproved", tok.ID)); got != "" {
		t.Fatalf("approval survived the transfer: %q", got)
	}
	if got := string(w.evaluate(w.org1.Client, "Tokens:BalanceOf", proposer.MSPID)); got != "0" {
		t.Fatalf("old owner's balance = %s", got)
	}

	// The new owner revises: version 2 supersedes version 1, linked both ways.
	v2 := def
	v2.Version, v2.Supersedes = 2, tok.ID
	v2.Description = "Registration success ratio, with the runbook link fixed."
	v2.Provenance.Proposer = other.MSPID
	res = w.submit(other.Admin, "Tokens:Revise", tok.ID, mustJSON(t, v2))
	revised := event(t, res, records.EventTokenMinted)
	if revised.Superseded == nil || revised.Superseded.State.SupersededBy != revised.Token.ID || revised.Token.Definition.Supersedes != tok.ID {
		t.Fatalf("revision does not link both ways: %+v", revised)
	}
	if revised.Token.State.Owner != other.MSPID {
		t.Fatalf("revision owner %s, want %s", revised.Token.State.Owner, other.MSPID)
	}
	res = w.submit(other.Admin, "Tokens:Retire", revised.Token.ID, "service decommissioned")
	if e := event(t, res, records.EventTokenRetired); e.Token.State.Status != nft.StatusRetired || e.Reason != "service decommissioned" {
		t.Fatalf("retire event %+v", e)
	}

	// Audit: every version of v1 with its transaction, the indexes, the
	// provenance.
	history := decode[[]records.HistoryEntry](t, w.evaluate(w.org2.Client, "Audit:History", tok.ID))
	var statuses []string
	for _, h := range history {
		statuses = append(statuses, string(h.Token.State.Status)+"/"+h.Token.State.Owner)
		if h.TxID == "" || h.Timestamp == "" {
			t.Fatalf("history entry without tx or time: %+v", h)
		}
	}
	want := []string{"active/" + proposer.MSPID, "active/" + other.MSPID, "superseded/" + other.MSPID}
	if !slices.Equal(statuses, want) {
		t.Fatalf("history = %v, want %v", statuses, want)
	}
	page := decode[records.Page[nft.Token]](t, w.evaluate(w.org2.Client, "Audit:ByService", "amf", "1", ""))
	if page.Count != 1 || page.Bookmark == "" {
		t.Fatalf("first page %+v", page)
	}
	page2 := decode[records.Page[nft.Token]](t, w.evaluate(w.org2.Client, "Audit:ByService", "amf", "1", page.Bookmark))
	if page2.Count != 1 || page2.Bookmark != "" || page2.Items[0].ID == page.Items[0].ID {
		t.Fatalf("second page %+v", page2)
	}
	byOwner := decode[records.Page[nft.Token]](t, w.evaluate(w.org2.Client, "Audit:ByOwner", other.MSPID, "", ""))
	if byOwner.Count != 2 {
		t.Fatalf("ByOwner(%s) = %d tokens, want 2", other.MSPID, byOwner.Count)
	}
	byRound := decode[records.Page[nft.Token]](t, w.evaluate(w.org2.Client, "Audit:ByRound", "round-1", "", ""))
	if byRound.Count != 2 {
		t.Fatalf("ByRound = %d tokens, want 2 (both versions cite the round)", byRound.Count)
	}
	prov := decode[records.Provenance](t, w.evaluate(w.org2.Client, "Audit:Provenance", tok.ID))
	if prov.Round == nil || len(prov.Updates) != 3 || len(prov.Votes) != 2 || prov.Request == nil || prov.Proposal == nil || len(prov.Decisions) != 2 {
		t.Fatalf("provenance incomplete: round %v updates %d votes %d request %v proposal %v decisions %d",
			prov.Round != nil, len(prov.Updates), len(prov.Votes), prov.Request != nil, prov.Proposal != nil, len(prov.Decisions))
	}
	provV2 := decode[records.Provenance](t, w.evaluate(w.org2.Client, "Audit:Provenance", revised.Token.ID))
	if !slices.Equal(provV2.Lineage, []string{tok.ID}) {
		t.Fatalf("v2 lineage = %v", provV2.Lineage)
	}
}

// A rejection by one member does not stop the others; enough rejections
// close the proposal as rejected.
func TestRejections(t *testing.T) {
	w := registered(t)
	fin := w.finalizedRound("round-r")
	req := fin.Requests[1] // smf
	def := definitionFor(req, "Org1MSP")
	res := w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(t, def))
	prop := event(t, res, records.EventProposalSubmitted).Proposal

	w.refused(w.org2.Client, "a reason is required", "Generation:Reject", prop.ID, "  ")
	res = w.submit(w.org2.Client, "Generation:Reject", prop.ID, "objective 0.999 is above what our smf achieved (0.9971)")
	e := event(t, res, records.EventProposalRejected)
	if e.Proposal.Status != records.ProposalOpen || e.Decision.Reason == "" {
		t.Fatalf("one rejection of three: proposal %s", e.Proposal.Status)
	}
	// A member decides once; a second decision is settled, not retried.
	w.refused(w.org2.Client, records.SettledPrefix+"Org2MSP has already decided", "Generation:Approve", prop.ID)
	res = w.submit(w.org3.Client, "Generation:Reject", prop.ID, "same: backtest fires 41 pages a week")
	e = event(t, res, records.EventProposalRejected)
	if e.Proposal.Status != records.ProposalRejected {
		t.Fatalf("two rejections of three: proposal %s, want rejected", e.Proposal.Status)
	}
	w.refused(w.org2.Client, records.SettledPrefix+"proposal "+prop.ID+" is closed (rejected)", "Generation:Approve", prop.ID)
	decisions := decode[[]records.Decision](t, w.evaluate(w.org1.Client, "Generation:Decisions", prop.ID))
	if len(decisions) != 3 || decisions[0].MSPID != "Org1MSP" || !decisions[0].Approve || decisions[1].Approve {
		t.Fatalf("decisions = %+v", decisions)
	}

	// A fresh proposal for the same request can still be made and minted.
	def.SLO.Objective, def.SLO.ErrorBudget = 0.995, nft.ErrorBudget(0.995)
	res = w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(t, def))
	prop2 := event(t, res, records.EventProposalSubmitted).Proposal
	res = w.submit(w.org3.Admin, "Generation:Decide", prop2.ID, backedApproval)
	event(t, res, records.EventTokenMinted)
}

// Rounds without quorum fail at their deadline; proposals expire.
func TestDeadlines(t *testing.T) {
	w := registered(t)
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-late")))
	// A transaction dated before the round opened is backdated.
	w.ledger.Advance(-time.Minute)
	w.refused(w.org1.Client, "before the round opened", "Rounds:CommitUpdate", "round-late", mustJSON(t, commitment("a")))
	w.refused(w.org1.Client, "before the round opened", "Rounds:SubmitAggregate", "round-late", mustJSON(t, claim("Org1MSP")))
	w.ledger.Advance(time.Minute)
	w.submit(w.org1.Client, "Rounds:CommitUpdate", "round-late", mustJSON(t, commitment("a")))
	w.refused(w.org1.Client, "aggregation starts after the commit deadline", "Rounds:SubmitAggregate", "round-late", mustJSON(t, claim("Org1MSP")))

	w.ledger.Advance(11 * time.Minute)
	w.refused(w.org2.Client, "late commit", "Rounds:CommitUpdate", "round-late", mustJSON(t, commitment("b")))
	w.refused(w.org1.Client, "at least 2", "Rounds:SubmitAggregate", "round-late", mustJSON(t, claim("Org1MSP")))
	w.refused(w.org1.Client, "has not committed", "Rounds:SubmitAggregate", "round-late", mustJSON(t, claim("Org1MSP", "Org2MSP")))
	w.refused(w.org1.Client, "is open until", "Rounds:Close", "round-late")

	// The deadline has passed, but a client may date a transaction up to
	// the time window ahead: closing waits for the window too.
	w.ledger.Advance(10 * time.Minute)
	w.refused(w.org1.Client, "it can be closed after", "Rounds:Close", "round-late")
	w.ledger.Advance(contracts.TimeWindow)
	res := w.submit(w.org3.Client, "Rounds:Close", "round-late")
	failed := event(t, res, records.EventRoundFailed).Round
	if failed.Status != records.RoundFailed || failed.FailureReason == "" {
		t.Fatalf("closed round = %+v", failed)
	}
	w.refused(w.org1.Client, "is failed", "Rounds:Close", "round-late")

	// A proposal left undecided past the request's deadline expires.
	fin := w.finalizedRound("round-p")
	req := fin.Requests[0]
	res = w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(t, definitionFor(req, "Org1MSP")))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	w.refused(w.org2.Client, "is open until", "Generation:Close", prop.ID)
	w.ledger.Advance(records.DefaultRequestTTL + time.Second)
	w.refused(w.org2.Client, "expired", "Generation:Approve", prop.ID)
	w.refused(w.org2.Client, "the deadline plus the 15m0s time window", "Generation:Close", prop.ID)
	w.ledger.Advance(contracts.TimeWindow)
	res = w.submit(w.org2.Client, "Generation:Close", prop.ID)
	closed := event(t, res, records.EventProposalClosed)
	if closed.Proposal.Status != records.ProposalExpired || closed.Requests[0].Status != records.RequestExpired {
		t.Fatalf("closed: proposal %s request %s", closed.Proposal.Status, closed.Requests[0].Status)
	}
}

// An explicit request by an admin, answered by a hand-written definition.
func TestExplicitRequest(t *testing.T) {
	w := registered(t)
	spec := records.RequestSpec{Service: "upf", SLIs: []nft.Metric{{Name: "fivegs_upffunction_upf_sessionnbr", Relevance: 1, Stability: 1}}, Assignee: "Org3MSP", TTLSeconds: 3600}
	res := w.submit(w.org2.Admin, "Generation:Request", mustJSON(t, spec))
	req := event(t, res, records.EventGenerationRequested).Requests[0]
	if req.Assignee != "Org3MSP" || req.RoundID != "" || req.Deadline != records.FormatTime(w.ledger.Now().Add(time.Hour-time.Millisecond)) {
		t.Fatalf("request = %+v", req)
	}
	def := definitionFor(req, "Org3MSP")
	w.refused(w.org2.Client, "names proposer \"Org3MSP\" but the caller is Org2MSP", "Generation:Propose", req.ID, mustJSON(t, def))
	res = w.submit(w.org3.Client, "Generation:Propose", req.ID, mustJSON(t, def))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	w.refused(w.org3.Client, records.SettledPrefix+"definition", "Generation:Propose", req.ID, mustJSON(t, def))
	res = w.submit(w.org1.Client, "Generation:Approve", prop.ID)
	if tok := event(t, res, records.EventTokenMinted).Token; tok.Definition.Provenance.RoundID != "" {
		t.Fatalf("token cites round %q", tok.Definition.Provenance.RoundID)
	}
}

// Generation requests go to members that have data for the service, as
// their commitments say.
func TestRequestsAreAssignedToMembersRunningTheService(t *testing.T) {
	for _, id := range []string{"round-a", "round-b", "round-c", "round-d"} {
		w := registered(t)
		w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec(id)))
		runs := map[string][]string{"Org1MSP": {"amf"}, "Org2MSP": {"amf", "smf"}, "Org3MSP": {"smf"}}
		for _, org := range w.orgs {
			c := commitment(org.MSPID)
			c.Services = runs[org.MSPID]
			w.submit(org.Client, "Rounds:CommitUpdate", id, mustJSON(t, c))
		}
		all := claim("Org1MSP", "Org2MSP", "Org3MSP")
		w.submit(w.org1.Client, "Rounds:SubmitAggregate", id, mustJSON(t, all))
		fin := event(t, w.submit(w.org2.Client, "Rounds:SubmitAggregate", id, mustJSON(t, all)), records.EventRoundFinalized)
		for _, req := range fin.Requests {
			if !slices.Contains(runs[req.Assignee], req.Service) {
				t.Fatalf("%s: request for %s assigned to %s, which runs %v", id, req.Service, req.Assignee, runs[req.Assignee])
			}
		}
	}
	w := registered(t)
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-x")))
	c := commitment("x")
	c.Services = []string{"upf"}
	w.refused(w.org1.Client, "does not cover", "Rounds:CommitUpdate", "round-x", mustJSON(t, c))
}
