package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/workflow"
)

var start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// consortium runs three organizations' executors against the real
// chaincode; events of committed transactions queue up and are handed to
// every executor in ledger order, as each node's event stream would.
type consortium struct {
	t      *testing.T
	ledger *stubtest.Ledger
	cc     shim.Chaincode
	orgs   map[string]*stubtest.Org
	execs  map[string]workflow.Executor
	order  []string // sorted MSP IDs
	// handling is the order executors get each event in.
	handling []string
	log      []records.Event // every event so far, for replays
	queue    []records.Event
	// submits counts transactions per organization, to prove replays
	// repeat nothing; refused counts those the ledger refused.
	submits map[string]int
	refused map[string]int
}

// orgLedger is one organization's view: its client identity. The
// executor reaches it through the typed chaincode client, as a node does.
type orgLedger struct {
	ledger.Ledger // events are the consortium's queue, not the ledger's
	c             *consortium
	msp           string
}

func (l orgLedger) Submit(_ context.Context, fn string, args ...string) ([]byte, string, error) {
	res, err := l.c.ledger.Submit(l.c.cc, l.c.orgs[l.msp].Client, fn, args...)
	if err != nil {
		l.c.refused[l.msp]++
		return nil, "", err
	}
	l.c.submits[l.msp]++
	l.c.record(res)
	return res.Payload, res.TxID, nil
}

func (l orgLedger) Evaluate(_ context.Context, fn string, args ...string) ([]byte, error) {
	return l.c.ledger.Evaluate(l.c.cc, l.c.orgs[l.msp].Client, fn, args...)
}

func (c *consortium) record(res stubtest.Result) {
	if res.Event == nil {
		return
	}
	var e records.Event
	if err := json.Unmarshal(res.Event.Payload, &e); err != nil {
		c.t.Fatal(err)
	}
	c.log = append(c.log, e)
	c.queue = append(c.queue, e)
}

// generator answers a request with a fixed objective.
type generator struct {
	self      string
	objective float64
}

func (g generator) Generate(_ context.Context, req records.GenerationRequest) (workflow.Generated, error) {
	d := nfttest.Definition(req.Service, g.self)
	d.SLO.Objective, d.SLO.ErrorBudget = g.objective, nft.ErrorBudget(g.objective)
	d.Provenance.GenerationRequestID, d.Provenance.RoundID = req.ID, req.RoundID
	d.Provenance.GlobalModelDigest, d.Provenance.Contributors = req.GlobalModelDigest, req.Contributors
	return workflow.Generated{Definition: d, Figures: map[string]float64{"history_days": 7}}, nil
}

// reviewer rejects objectives above what "its data" supports.
type reviewer struct{ max float64 }

func (r reviewer) Review(_ context.Context, p records.Proposal) (workflow.Verdict, error) {
	figures := map[string]float64{"supported": r.max}
	if p.Definition.SLO.Objective > r.max {
		return workflow.Reject(figures, "objective %v is above the %v our data supports", p.Definition.SLO.Objective, r.max), nil
	}
	return workflow.Approve("our data supports it", figures), nil
}

func newConsortium(t *testing.T, maxObjective map[string]float64) *consortium {
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	c := &consortium{t: t, ledger: stubtest.New("consortium", start), cc: cc,
		orgs: map[string]*stubtest.Org{}, execs: map[string]workflow.Executor{}, submits: map[string]int{}, refused: map[string]int{}}
	for _, msp := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		org, err := stubtest.NewOrg(msp, start)
		if err != nil {
			t.Fatal(err)
		}
		c.orgs[msp] = org
		c.order = append(c.order, msp)
		c.execs[msp] = workflow.Executor{
			Policy:    workflow.Policy{Self: msp},
			Ledger:    chaincode.New(orgLedger{c: c, msp: msp}),
			Generator: generator{self: msp, objective: 0.999},
			Reviewer:  reviewer{max: maxObjective[msp]},
			Installer: rulesync.Syncer{Dir: filepath.Join(t.TempDir(), msp)},
		}
		if _, err := c.ledger.Submit(cc, org.Admin, "Consortium:RegisterOrganization", msp); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// finalizeRound runs a round on the ledger directly (the round protocol is
// network's) so that its finalization event starts the workflow.
func (c *consortium) finalizeRound(id string) {
	now := c.ledger.Now()
	spec, _ := json.Marshal(records.RoundSpec{ID: id, Task: "sli-relevance", Services: []string{"amf", "smf"},
		FeatureSetDigest: nft.DigestBytes([]byte("f")), Strategy: "median", MinParticipants: 2,
		CommitDeadline: records.FormatTime(now.Add(time.Minute)), Deadline: records.FormatTime(now.Add(time.Hour))})
	must := func(msp, fn string, args ...string) {
		if _, _, err := (orgLedger{c: c, msp: msp}).Submit(context.Background(), fn, args...); err != nil {
			c.t.Fatalf("%s %s: %v", msp, fn, err)
		}
	}
	res, err := c.ledger.Submit(c.cc, c.orgs["Org1MSP"].Admin, "Rounds:Open", string(spec))
	if err != nil {
		c.t.Fatal(err)
	}
	c.record(res)
	for _, msp := range c.order {
		u, _ := json.Marshal(records.UpdateCommitment{Digest: nft.DigestBytes([]byte(msp)), Samples: 10, Metrics: records.LocalMetrics{AUC: 0.9}})
		must(msp, "Rounds:CommitUpdate", id, string(u))
	}
	claim, _ := json.Marshal(records.AggregateClaim{Digest: nft.DigestBytes([]byte("model")), Contributors: c.order,
		Ranking: []records.ServiceRanking{
			{Service: "amf", Metrics: []nft.Metric{{Name: "fivegs_amffunction_rm_reginitreq", Relevance: 1, Stability: 1}}},
			{Service: "smf", Metrics: []nft.Metric{{Name: "fivegs_smffunction_sm_sessionnbr", Relevance: 1, Stability: 1}}},
		}})
	must("Org1MSP", "Rounds:SubmitAggregate", id, string(claim))
	must("Org2MSP", "Rounds:SubmitAggregate", id, string(claim))
}

// drain hands queued events to every executor until none are left.
func (c *consortium) drain() {
	for len(c.queue) > 0 {
		e := c.queue[0]
		c.queue = c.queue[1:]
		handling := c.handling
		if handling == nil {
			handling = c.order
		}
		for _, msp := range handling {
			if err := c.execs[msp].Handle(context.Background(), e); err != nil {
				c.t.Fatalf("%s handling %s: %v", msp, e.Kind, err)
			}
		}
	}
}

func (c *consortium) tokens() []nft.Token {
	var out []nft.Token
	for _, svc := range []string{"amf", "smf"} {
		raw, err := c.ledger.Evaluate(c.cc, c.orgs["Org1MSP"].Client, "Audit:ByService", svc, "", "")
		if err != nil {
			c.t.Fatal(err)
		}
		var page records.Page[nft.Token]
		_ = json.Unmarshal(raw, &page)
		out = append(out, page.Items...)
	}
	return out
}

func TestRoundToInstalledRules(t *testing.T) {
	c := newConsortium(t, map[string]float64{"Org1MSP": 0.9999, "Org2MSP": 0.9999, "Org3MSP": 0.9999})
	c.finalizeRound("round-1")
	c.drain()
	toks := c.tokens()
	if len(toks) != 2 {
		t.Fatalf("%d tokens minted, want one per service", len(toks))
	}
	for _, tok := range toks {
		for _, msp := range c.order {
			path := filepath.Join(c.execs[msp].Installer.(rulesync.Syncer).Dir, rulesync.FileName(tok))
			want, _ := rulesync.Content(tok)
			if raw, err := os.ReadFile(path); err != nil || string(raw) != string(want) {
				t.Errorf("%s has not installed the rules of %s: %v", msp, tok.Definition.SLI.Service, err)
			}
		}
	}
}

// One organization's data does not support the objective: it rejects with
// its reason on the ledger; the others' approvals still mint.
func TestRejectionIsRecordedAndQuorumStillMints(t *testing.T) {
	c := newConsortium(t, map[string]float64{"Org1MSP": 0.9999, "Org2MSP": 0.9999, "Org3MSP": 0.99})
	c.handling = []string{"Org3MSP", "Org1MSP", "Org2MSP"} // Org3 reviews first
	c.finalizeRound("round-1")
	c.drain()
	toks := c.tokens()
	if len(toks) != 2 {
		t.Fatalf("%d tokens, want 2", len(toks))
	}
	checked := 0
	for _, tok := range toks {
		if tok.Definition.Provenance.Proposer == "Org3MSP" {
			continue
		}
		checked++
		found := false
		for _, e := range c.log {
			found = found || (e.Kind == records.EventProposalRejected && e.Proposal.ID == tok.ID &&
				e.Decision.MSPID == "Org3MSP" && e.Decision.Reason == "objective 0.999 is above the 0.99 our data supports")
		}
		if !found {
			t.Errorf("Org3's rejection of %s's %s proposal, with its reason, is not on the ledger", tok.Definition.Provenance.Proposer, tok.Definition.SLI.Service)
		}
		if len(tok.Mint.Approvals) != 2 {
			t.Errorf("token %s minted with %d approvals, want the other two", tok.ID, len(tok.Mint.Approvals))
		}
	}
	if checked == 0 {
		t.Fatal("every request went to Org3; the test checked no rejection")
	}
}

// A node that restarts replays events from an earlier checkpoint: it
// proposes nothing twice, decides nothing twice, rewrites no rule file.
func TestReplayedEventsRepeatNothing(t *testing.T) {
	c := newConsortium(t, map[string]float64{"Org1MSP": 0.9999, "Org2MSP": 0.9999, "Org3MSP": 0.9999})
	c.finalizeRound("round-1")
	c.drain()
	before := c.ledger.StateDigest()
	submits := fmt.Sprint(c.submits)
	c.queue = append([]records.Event(nil), c.log...)
	c.drain()
	if c.ledger.StateDigest() != before || fmt.Sprint(c.submits) != submits {
		t.Fatalf("replaying the events changed the ledger (submits %s -> %v)", submits, c.submits)
	}
	// Catching up, settled work is recognised from the ledger: nothing is
	// even attempted for the ledger to refuse.
	for msp, n := range c.refused {
		if n > 0 {
			t.Fatalf("%s acted on settled work while catching up: %d transactions refused", msp, n)
		}
	}
}

// cannot is a generator of an organization that cannot answer.
type cannot struct{}

func (cannot) Generate(context.Context, records.GenerationRequest) (workflow.Generated, error) {
	return workflow.Generated{}, fmt.Errorf("%w: we lack the SLI's metrics", workflow.ErrCannotGenerate)
}

// requests reads a round's requests.
func (c *consortium) requests(round string) []records.GenerationRequest {
	raw, err := c.ledger.Evaluate(c.cc, c.orgs["Org1MSP"].Client, "Generation:RequestsByRound", round)
	if err != nil {
		c.t.Fatal(err)
	}
	var reqs []records.GenerationRequest
	if err := json.Unmarshal(raw, &reqs); err != nil {
		c.t.Fatal(err)
	}
	return reqs
}

// No lost work: an assignee that cannot generate declines, one whose node
// is down lets its turn pass and another member reassigns; either way
// another member that runs the service answers.
func TestRequestsAreReassigned(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the assignee of the first request fail that way.
		fail func(c *consortium, assignee string)
	}{
		{"the assignee declines", func(c *consortium, assignee string) {
			x := c.execs[assignee]
			x.Generator = cannot{}
			c.execs[assignee] = x
		}},
		{"the assignee's node is down past its turn", func(c *consortium, assignee string) {
			for _, msp := range c.order {
				if msp != assignee {
					c.handling = append(c.handling, msp)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsortium(t, map[string]float64{"Org1MSP": 0.9999, "Org2MSP": 0.9999, "Org3MSP": 0.9999})
			for msp, x := range c.execs {
				x.Turns = workflow.NewTurns()
				c.execs[msp] = x
			}
			c.finalizeRound("round-1")
			first := c.requests("round-1")[0]
			tt.fail(c, first.Assignee)
			c.drain()
			if c.handling != nil {
				// The down node's turn passes; any other member sweeps.
				c.ledger.Advance(records.DefaultAssignTTL + time.Minute)
				if err := c.execs[c.handling[0]].Sweep(context.Background(), c.ledger.Now()); err != nil {
					t.Fatal(err)
				}
				c.drain()
			}
			var got records.GenerationRequest
			for _, r := range c.requests("round-1") {
				if r.ID == first.ID {
					got = r
				}
			}
			if got.Status != records.RequestFulfilled || len(got.Passed) != 1 || got.Passed[0] != first.Assignee || got.Assignee == first.Assignee {
				t.Fatalf("request %s: %s, assignee %s, passed %v (first assignee %s)", got.ID, got.Status, got.Assignee, got.Passed, first.Assignee)
			}
		})
	}
}

func TestTurns(t *testing.T) {
	at := func(min int) string { return records.FormatTime(start.Add(time.Duration(min) * time.Minute)) }
	req := func(id, until string, status records.RequestStatus) records.GenerationRequest {
		return records.GenerationRequest{ID: id, AssignedUntil: until, Status: status}
	}
	tr := workflow.NewTurns()
	tr.Note(records.Event{Kind: records.EventRoundFinalized, Requests: []records.GenerationRequest{
		req("a", at(10), records.RequestOpen), req("b", at(20), records.RequestOpen), req("c", at(5), records.RequestFulfilled)}})
	steps := []struct {
		name  string
		event *records.Event
		now   int
		want  string
	}{
		{"none due yet", nil, 9, "[]"},
		{"a's turn passed", nil, 11, "[a]"},
		{"a reassigned with a new turn", &records.Event{Kind: records.EventRequestReassigned, Requests: []records.GenerationRequest{req("a", at(70), records.RequestOpen)}}, 30, "[b]"},
		{"b fulfilled by a mint", &records.Event{Kind: records.EventTokenMinted, Token: &nft.Token{Definition: nft.Definition{Provenance: nft.Provenance{GenerationRequestID: "b"}}}}, 30, "[]"},
		{"a closed when nobody was left", &records.Event{Kind: records.EventRequestReassigned, Requests: []records.GenerationRequest{req("a", at(70), records.RequestExpired)}}, 80, "[]"},
	}
	for _, st := range steps {
		if st.event != nil {
			tr.Note(*st.event)
		}
		if got := fmt.Sprint(tr.Due(start.Add(time.Duration(st.now) * time.Minute))); got != st.want {
			t.Errorf("%s: due %s, want %s", st.name, got, st.want)
		}
	}
}

func TestDecide(t *testing.T) {
	req := records.GenerationRequest{ID: "r.amf", Assignee: "Org2MSP", Status: records.RequestOpen}
	prop := &records.Proposal{ID: "p", Proposer: "Org2MSP", Members: []string{"Org1MSP", "Org2MSP"}, Status: records.ProposalOpen}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	tests := []struct {
		name   string
		policy workflow.Policy
		event  records.Event
		want   string
	}{
		{"assigned request", workflow.Policy{Self: "Org2MSP"}, records.Event{Kind: records.EventRoundFinalized, Requests: []records.GenerationRequest{req}}, "[workflow.Generate]"},
		{"someone else's request", workflow.Policy{Self: "Org1MSP"}, records.Event{Kind: records.EventRoundFinalized, Requests: []records.GenerationRequest{req}}, "[]"},
		{"volunteer", workflow.Policy{Self: "Org1MSP", Volunteer: true}, records.Event{Kind: records.EventGenerationRequested, Requests: []records.GenerationRequest{req}}, "[workflow.Generate]"},
		{"reassigned to us", workflow.Policy{Self: "Org2MSP"}, records.Event{Kind: records.EventRequestReassigned, Requests: []records.GenerationRequest{req}}, "[workflow.Generate]"},
		{"another's proposal", workflow.Policy{Self: "Org1MSP"}, records.Event{Kind: records.EventProposalSubmitted, Proposal: prop}, "[workflow.Review]"},
		{"own proposal", workflow.Policy{Self: "Org2MSP"}, records.Event{Kind: records.EventProposalSubmitted, Proposal: prop}, "[]"},
		{"not an elector", workflow.Policy{Self: "Org3MSP"}, records.Event{Kind: records.EventProposalSubmitted, Proposal: prop}, "[]"},
		{"revision", workflow.Policy{Self: "Org3MSP"}, records.Event{Kind: records.EventTokenMinted, Token: &tok, Superseded: &tok}, "[workflow.Install workflow.Install]"},
		{"retirement", workflow.Policy{Self: "Org3MSP"}, records.Event{Kind: records.EventTokenRetired, Token: &tok}, "[workflow.Install]"},
		{"unrelated event", workflow.Policy{Self: "Org1MSP"}, records.Event{Kind: records.EventUpdateCommitted}, "[]"},
	}
	for _, tt := range tests {
		var kinds []string
		for _, a := range workflow.Decide(tt.policy, tt.event) {
			kinds = append(kinds, fmt.Sprintf("%T", a))
		}
		if got := fmt.Sprint(kinds); got != tt.want && !(got == "[]" && tt.want == "[]") {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
