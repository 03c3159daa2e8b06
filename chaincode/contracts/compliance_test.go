package contracts_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft"
)

// day0 starts the first attested period: ten days before the test
// ledger's clock, so that every period the tests attest is over.
var day0 = genesis.Truncate(24 * time.Hour).Add(-10 * 24 * time.Hour)

// attestation is a member's account of tok over day d: budget consumed b,
// inc incidents of which paged paged (and detected); nodata for a period
// without events.
func attestation(tok nft.Token, d int, b float64, inc, paged int, nodata bool) records.Attestation {
	start := day0.Add(time.Duration(d) * 24 * time.Hour)
	a := records.Attestation{
		TokenID: tok.ID, Service: tok.Definition.SLI.Service, Name: tok.Definition.Name, Version: tok.Definition.Version,
		PeriodStart: records.FormatTime(start), PeriodEnd: records.FormatTime(start.Add(24 * time.Hour)),
		Objective: tok.Definition.SLO.Objective, NoData: nodata,
	}
	if !nodata {
		a.Events, a.BudgetConsumed = 10000, b
		a.Achieved = 1 - b*(1-a.Objective)
		a.Incidents, a.IncidentsDetected, a.IncidentsPaged = inc, paged, paged
		a.PageAlerts = paged
	}
	return a
}

func (w *world) attest(org *stubtest.Org, a records.Attestation) records.Attestation {
	w.t.Helper()
	res := w.submit(org.Client, "Compliance:Attest", mustJSON(w.t, a))
	return *event(w.t, res, records.EventAttested).Attestation
}

func TestAttest(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-1")
	stored := w.attest(w.org2, attestation(tok, 0, 0.4, 1, 1, false))
	if stored.MSPID != "Org2MSP" || stored.TxID == "" || stored.At == "" || stored.BudgetConsumed != 0.4 {
		t.Fatalf("stored attestation %+v", stored)
	}
	w.attest(w.org1, attestation(tok, 0, 0.6, 1, 0, false))
	w.attest(w.org1, attestation(tok, 1, 0, 0, 0, true))

	outsider, err := stubtest.NewOrg("Org4MSP", genesis)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := w.org1.Issue(devca.RolePeer, "peer0.org1", genesis)
	if err != nil {
		t.Fatal(err)
	}
	good := attestation(tok, 2, 0.5, 0, 0, false)
	with := func(edit func(*records.Attestation)) string {
		a := good
		edit(&a)
		return mustJSON(t, a)
	}
	future := attestation(tok, 10, 0.5, 0, 0, false) // today: not over yet
	for _, c := range []struct {
		name   string
		caller *stubtest.Identity
		arg    string
		want   string
	}{
		{"a non-member attests", outsider.Client, mustJSON(t, good), "not a registered consortium member"},
		{"a peer identity attests", peer, mustJSON(t, good), "needs an admin or client"},
		{"the same member and period twice (settled)", w.org2.Client, mustJSON(t, attestation(tok, 0, 0.9, 0, 0, false)), records.SettledPrefix + "Org2MSP has already attested"},
		{"a ratio above 1", w.org3.Client, with(func(a *records.Attestation) { a.Achieved = 1.5 }), "a ratio lies in [0,1]"},
		{"more paged than detected", w.org3.Client, with(func(a *records.Attestation) { a.IncidentsPaged = 1 }), "does not hold"},
		{"another version of the SLO", w.org3.Client, with(func(a *records.Attestation) { a.Version = 2 }), "token " + tok.ID + " is amf/amf-registration v1"},
		{"another objective", w.org3.Client, with(func(a *records.Attestation) { a.Objective = 0.99 }), "is not token"},
		{"a period not over yet", w.org3.Client, mustJSON(t, future), "attest a period once it is over"},
		{"an unknown token", w.org3.Client, with(func(a *records.Attestation) { a.TokenID = strings.Repeat("0", 64) }), "not found"},
		{"the ledger's fields set by the member", w.org3.Client, with(func(a *records.Attestation) { a.MSPID = "Org1MSP" }), "set by the ledger"},
		{"not JSON", w.org3.Client, "{", "attestation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.t = t
			w.refused(c.caller, c.want, "Compliance:Attest", c.arg)
		})
	}
	w.t = t

	// The history: by period, then member, a page at a time.
	page := decode[records.Page[records.Attestation]](t, w.evaluate(w.org3.Client, "Audit:Compliance", tok.ID, "2", ""))
	if page.Count != 2 || page.Bookmark == "" || page.Items[0].MSPID != "Org1MSP" || page.Items[1].MSPID != "Org2MSP" {
		t.Fatalf("first page %+v", page)
	}
	rest := decode[records.Page[records.Attestation]](t, w.evaluate(w.org3.Client, "Audit:Compliance", tok.ID, "2", page.Bookmark))
	if rest.Count != 1 || !rest.Items[0].NoData || rest.Items[0].PeriodStart <= page.Items[0].PeriodStart {
		t.Fatalf("second page %+v", rest)
	}
	if _, err := w.ledger.Evaluate(w.cc, w.org1.Client, "Audit:Compliance", strings.Repeat("0", 64), "", ""); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("compliance of an unknown token: %v", err)
	}

	// A retired token is attested no more: settled, it will not come back.
	w.submit(w.org1.Admin, "Tokens:Retire", tok.ID, "decommissioned")
	w.refused(w.org3.Client, records.SettledPrefix+"token "+tok.ID+" is retired", "Compliance:Attest", mustJSON(t, good))
}

// breach has Org1 and Org2 attest tok over budget for days 0-2.
func (w *world) breach(tok nft.Token) {
	for d := range 3 {
		w.attest(w.org1, attestation(tok, d, 2.5, 1, 1, false))
		w.attest(w.org2, attestation(tok, d, 1.4, 0, 0, false))
	}
}

// A token is attested on one grid, set by its first attestation: the same
// length, a whole number of periods from the first start, earlier ones
// included. Short or shifted periods are refused, so no member can crowd
// the latest periods with its own.
func TestAttestationsShareTheTokensGrid(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-1")
	w.attest(w.org1, attestation(tok, 3, 0.2, 0, 0, false))
	short := attestation(tok, 5, 0.2, 0, 0, false)
	short.PeriodEnd = records.FormatTime(day0.Add(5*24*time.Hour + time.Hour))
	w.refused(w.org2.Client, "is attested in periods of 24h0m0s", "Compliance:Attest", mustJSON(t, short))
	shifted := attestation(tok, 5, 0.2, 0, 0, false)
	shifted.PeriodStart = records.FormatTime(day0.Add(5*24*time.Hour + 12*time.Hour))
	shifted.PeriodEnd = records.FormatTime(day0.Add(6*24*time.Hour + 12*time.Hour))
	w.refused(w.org2.Client, "is not one of them", "Compliance:Attest", mustJSON(t, shifted))
	w.attest(w.org2, attestation(tok, 0, 0.2, 0, 0, false)) // earlier, on the grid
	w.attest(w.org2, attestation(tok, 5, 0.2, 0, 0, false))
}

// The evidence reads a token's latest periods through the newest-first
// index, however long its history: six older periods within budget do
// not enter the evidence of the three breached ones after them.
func TestRevisionReadsTheLatestPeriods(t *testing.T) {
	w := registered(t)
	v1 := w.mintedToken("round-1")
	for d := range 6 {
		w.attest(w.org1, attestation(v1, d, 0.2, 0, 0, false))
	}
	for d := 6; d < 9; d++ {
		w.attest(w.org1, attestation(v1, d, 2.5, 1, 1, false))
		w.attest(w.org2, attestation(v1, d, 1.4, 0, 0, false))
	}
	// What a node previews is what the ledger reads: the same latest
	// periods, oldest first.
	var recent []records.Attestation
	if err := json.Unmarshal(w.evaluate(w.org3.Client, "Audit:RecentCompliance", v1.ID), &recent); err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, a := range recent {
		starts = append(starts, a.PeriodStart)
	}
	day := func(d int) string { return records.FormatTime(day0.Add(time.Duration(d) * 24 * time.Hour)) }
	if want := []string{day(6), day(6), day(7), day(7), day(8), day(8)}; !slices.Equal(starts, want) {
		t.Fatalf("recent attestations from %v, want %v", starts, want)
	}
	res := w.submit(w.org2.Client, "Generation:RequestRevision", v1.ID)
	ev := event(t, res, records.EventGenerationRequested).Requests[0].Evidence
	if ev == nil || ev.Trigger != records.TriggerBreached || len(ev.Attestations) != 6 || ev.Figures["breached_periods"] != 3 {
		t.Fatalf("evidence %+v, want the 6 attestations of the 3 breached periods", ev)
	}
}

func TestRevisionOnEvidence(t *testing.T) {
	w := registered(t)
	v1 := w.mintedToken("round-1")

	// Within budget: no evidence.
	w.attest(w.org1, attestation(v1, 0, 0.3, 0, 0, false))
	w.refused(w.org2.Client, "no evidence for a revision of token "+v1.ID, "Generation:RequestRevision", v1.ID)

	w = registered(t)
	v1 = w.mintedToken("round-1")
	w.breach(v1)
	w.attest(w.org3, attestation(v1, 2, 0, 0, 0, true))
	outsider, _ := stubtest.NewOrg("Org4MSP", genesis)
	w.refused(outsider.Client, "not a registered consortium member", "Generation:RequestRevision", v1.ID)
	w.refused(w.org2.Client, "token ID", "Generation:RequestRevision", "nope")

	res := w.submit(w.org2.Client, "Generation:RequestRevision", v1.ID)
	req := event(t, res, records.EventGenerationRequested).Requests[0]
	switch {
	case req.Kind != records.RequestRevision || req.Supersedes != v1.ID || req.Service != "amf":
		t.Fatalf("request %+v", req)
	case req.Evidence == nil || req.Evidence.Trigger != records.TriggerBreached || len(req.Evidence.Attestations) != 7 ||
		req.Evidence.Figures["breached_periods"] != 3:
		t.Fatalf("evidence %+v", req.Evidence)
	case req.Assignee != "Org2MSP" || !slices.Equal(req.Runners, []string{"Org1MSP", "Org2MSP"}) || req.MinBackedApprovals != records.DefaultMinBackedApprovals:
		t.Fatalf("assignee %s runners %v min backed %d", req.Assignee, req.Runners, req.MinBackedApprovals)
	case !slices.Equal(req.SLIs, v1.Definition.SLI.Metrics):
		t.Fatalf("SLIs %v", req.SLIs)
	}
	w.refused(w.org1.Client, records.SettledPrefix+"token "+v1.ID+" already has an open revision request, "+req.ID, "Generation:RequestRevision", v1.ID)

	// Its proposals must supersede the token.
	def := definitionFor(req, "Org2MSP")
	w.refused(w.org2.Client, "must supersede it", "Generation:Propose", req.ID, mustJSON(t, def))
	def.Version, def.Supersedes = 2, v1.ID
	def.SLO.Objective, def.SLO.ErrorBudget = 0.995, nft.ErrorBudget(0.995)
	def.Provenance.Revision = &nft.RevisionReason{Trigger: req.Evidence.Trigger, Reason: req.Evidence.Reason, RequestID: "another"}
	w.refused(w.org2.Client, "cites request \"another\"", "Generation:Propose", req.ID, mustJSON(t, def))
	def.Provenance.Revision.RequestID = req.ID
	res = w.submit(w.org2.Client, "Generation:Propose", req.ID, mustJSON(t, def))
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	res = w.submit(w.org1.Client, "Generation:Decide", prop.ID, backedApproval)
	minted := event(t, res, records.EventTokenMinted)
	if minted.Superseded == nil || minted.Superseded.ID != v1.ID || minted.Token.Definition.Provenance.Revision.Trigger != records.TriggerBreached {
		t.Fatalf("revision mint %+v", minted)
	}
	// The superseded version is attested no more, and cannot be revised.
	w.refused(w.org3.Client, records.SettledPrefix+"token "+v1.ID+" is superseded", "Compliance:Attest", mustJSON(t, attestation(v1, 5, 0, 0, 0, true)))
	w.refused(w.org3.Client, records.SettledPrefix+"token "+v1.ID+" is superseded", "Generation:RequestRevision", v1.ID)
}

func TestSilentSLOIsRevised(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-1")
	for d := range 3 {
		w.attest(w.org1, attestation(tok, d, 0.02, 2, 0, false))
	}
	res := w.submit(w.org3.Client, "Generation:RequestRevision", tok.ID)
	ev := event(t, res, records.EventGenerationRequested).Requests[0].Evidence
	if ev.Trigger != records.TriggerSilent || ev.Figures["unpaged_incidents"] != 6 {
		t.Fatalf("evidence %+v", ev)
	}
}

func TestRetirementOnEvidence(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-1")
	w.attest(w.org1, attestation(tok, 0, 0.2, 0, 0, false))
	w.attest(w.org1, attestation(tok, 1, 0, 0, 0, true))
	w.attest(w.org1, attestation(tok, 2, 0, 0, 0, true))
	w.refused(w.org2.Client, "no evidence for the retirement of token "+tok.ID, "Generation:ProposeRetirement", tok.ID)
	w.attest(w.org2, attestation(tok, 3, 0, 0, 0, true))
	w.attest(w.org1, attestation(tok, 3, 0, 0, 0, true))
	w.refused(w.org2.Client, "propose its retirement instead", "Generation:RequestRevision", tok.ID)

	res := w.submit(w.org2.Client, "Generation:ProposeRetirement", tok.ID)
	prop := event(t, res, records.EventProposalSubmitted).Proposal
	switch {
	case prop.Kind != records.ProposalRetirement || prop.Target != tok.ID || prop.ID == tok.ID || !nft.IsTokenID(prop.ID):
		t.Fatalf("proposal %+v", prop)
	case prop.Evidence == nil || prop.Evidence.Trigger != records.TriggerGone || prop.Definition.Name != tok.Definition.Name:
		t.Fatalf("evidence %+v", prop.Evidence)
	case prop.Status != records.ProposalOpen || prop.MinBackedApprovals != 2:
		t.Fatalf("status %s, min backed %d", prop.Status, prop.MinBackedApprovals)
	}
	w.refused(w.org1.Client, records.SettledPrefix+"token "+tok.ID+" already has an open retirement proposal", "Generation:ProposeRetirement", tok.ID)

	// A second organization's approval with its figures retires the
	// token in the deciding transaction: one event carries it all.
	res = w.submit(w.org3.Client, "Generation:Decide", prop.ID, `{"verdict":"approve","figures":{"events":0,"periods":3}}`)
	retired := event(t, res, records.EventTokenRetired)
	if retired.Token == nil || retired.Token.ID != tok.ID || retired.Token.State.Status != nft.StatusRetired ||
		retired.Proposal == nil || retired.Proposal.Status != records.ProposalRetired || !strings.Contains(retired.Reason, "gone") {
		t.Fatalf("retirement event %+v", retired)
	}
	var active []nft.Token
	if err := json.Unmarshal(w.evaluate(w.org1.Client, "Tokens:Active", "amf"), &active); err != nil || len(active) != 0 {
		t.Fatalf("active after retirement: %d (%v)", len(active), err)
	}
	w.refused(w.org1.Client, records.SettledPrefix+"proposal "+prop.ID+" is closed (retired)", "Generation:Approve", prop.ID)
	w.refused(w.org1.Client, records.SettledPrefix+"token "+tok.ID+" is retired", "Generation:ProposeRetirement", tok.ID)
}

// Members that still see the service reject the retirement; the token
// stays, and a later proposal may be made.
func TestRetirementRejected(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-1")
	for d := range 3 {
		w.attest(w.org1, attestation(tok, d, 0, 0, 0, true))
	}
	prop := event(t, w.submit(w.org1.Client, "Generation:ProposeRetirement", tok.ID), records.EventProposalSubmitted).Proposal
	w.submit(w.org2.Client, "Generation:Reject", prop.ID, "we still serve amf registrations")
	res := w.submit(w.org3.Client, "Generation:Decide", prop.ID, `{"verdict":"reject","reason":"412 events last period","figures":{"events":412}}`)
	if e := event(t, res, records.EventProposalRejected); e.Proposal.Status != records.ProposalRejected {
		t.Fatalf("proposal %s", e.Proposal.Status)
	}
	if got := decode[nft.Token](t, w.evaluate(w.org1.Client, "Tokens:Get", tok.ID)); got.State.Status != nft.StatusActive {
		t.Fatalf("token %s after a rejected retirement", got.State.Status)
	}
	w.submit(w.org1.Client, "Generation:ProposeRetirement", tok.ID)

	// An undecided retirement proposal expires and can be closed.
	w.ledger.Advance(records.DefaultRequestTTL + time.Second)
	open := decode[records.Page[records.Proposal]](t, w.evaluate(w.org1.Client, "Generation:ListProposals", "", ""))
	var last records.Proposal
	for _, p := range open.Items {
		if p.Status == records.ProposalOpen {
			last = p
		}
	}
	w.refused(w.org2.Client, records.SettledPrefix+"retirement proposal "+last.ID+" expired", "Generation:Approve", last.ID)
	w.ledger.Advance(records.TimeWindow)
	closed := event(t, w.submit(w.org2.Client, "Generation:Close", last.ID), records.EventProposalClosed)
	if closed.Proposal.Status != records.ProposalExpired || len(closed.Requests) != 0 {
		t.Fatalf("closed %+v", closed)
	}
}

// rankedClaim is the claim of a round whose amf ranking has basis and puts
// first the given metric.
func rankedClaim(basis, first string) records.AggregateClaim {
	c := claim("Org1MSP", "Org2MSP", "Org3MSP")
	c.Ranking[0].Basis = basis
	c.Ranking[0].Metrics = []nft.Metric{{Name: first, Relevance: 0.95, Stability: 1}, {Name: "fivegs_amffunction_rm_regsmsgsnd", Relevance: 0.5, Stability: 1}}
	return c
}

func (w *world) finalizedRoundWith(id string, c records.AggregateClaim) records.Event {
	w.t.Helper()
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(w.t, w.roundSpec(id)))
	for _, org := range w.orgs {
		w.submit(org.Client, "Rounds:CommitUpdate", id, mustJSON(w.t, commitment(org.MSPID+id)))
	}
	w.submit(w.org1.Client, "Rounds:SubmitAggregate", id, mustJSON(w.t, c))
	return event(w.t, w.submit(w.org2.Client, "Rounds:SubmitAggregate", id, mustJSON(w.t, c)), records.EventRoundFinalized)
}

func services(reqs []records.GenerationRequest) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Service)
	}
	return out
}

// A finalized round keeps an active SLO unless its learned ranking puts
// first a metric the SLO's SLI does not rest on; then it asks for a
// revision of that token, once.
func TestFinalizeRevisesOnlyOnANewLearnedRanking(t *testing.T) {
	w := registered(t)
	v1 := w.mintedToken("round-1") // amf, resting on reginitreq and reginitsucc
	const other = "fivegs_amffunction_rm_regemergreq"
	for _, c := range []struct {
		name, round string
		claim       records.AggregateClaim
	}{
		{"a ranking without a basis", "round-2", claim("Org1MSP", "Org2MSP", "Org3MSP")},
		{"a deviation fallback", "round-3", rankedClaim(records.RankingDeviationFallback, other)},
		{"a learned ranking that keeps the SLI's metric first", "round-4", rankedClaim(records.RankingLearned, "fivegs_amffunction_rm_reginitsucc")},
	} {
		fin := w.finalizedRoundWith(c.round, c.claim)
		if got := services(fin.Requests); !slices.Equal(got, []string{"smf"}) {
			t.Fatalf("%s: requests for %v, want smf alone (amf's SLO is kept)", c.name, got)
		}
	}
	fin := w.finalizedRoundWith("round-5", rankedClaim(records.RankingLearned, other))
	if got := services(fin.Requests); !slices.Equal(got, []string{"amf", "smf"}) {
		t.Fatalf("requests for %v, want amf's revision and smf's (which has no token yet)", got)
	}
	req := fin.Requests[0]
	if req.Kind != records.RequestRevision || req.Supersedes != v1.ID || req.Evidence == nil ||
		req.Evidence.Trigger != records.TriggerRanking || req.Evidence.RoundID != "round-5" || !strings.Contains(req.Evidence.Reason, other) {
		t.Fatalf("ranking revision request %+v (evidence %+v)", req, req.Evidence)
	}
	w.refused(w.org1.Client, "must supersede it", "Generation:Propose", req.ID, mustJSON(t, definitionFor(req, "Org1MSP")))
	// The revision request is open: the next round asks for no other.
	if got := services(w.finalizedRoundWith("round-6", rankedClaim(records.RankingLearned, other)).Requests); !slices.Equal(got, []string{"smf"}) {
		t.Fatalf("requests for %v while amf's revision request is open", got)
	}
}
