package round_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/network/round/roundtest"
	"github.com/srellama/srellama/nft"
)

// cluster runs N members' machines against the real chaincode on the
// in-memory ledger, with a message layer the test controls. Everything
// happens in one goroutine in a fixed order, so runs are reproducible.
type cluster struct {
	t        *testing.T
	ledger   *stubtest.Ledger
	cc       shim.Chaincode
	orgs     []*stubtest.Org
	machines map[string]*round.Machine
	storages map[string]*round.MemoryStorage
	cut      map[string]bool              // partitioned members: no messages in or out
	store    map[string]map[string][]byte // member -> digest -> payload it holds
	rejects  []round.Reject
	finished map[string]round.Finished
	queue    []func()
}

var start = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, ledger: stubtest.New("consortium", start), cc: cc,
		machines: map[string]*round.Machine{}, storages: map[string]*round.MemoryStorage{}, cut: map[string]bool{},
		store: map[string]map[string][]byte{}, finished: map[string]round.Finished{},
	}
	for i := range n {
		msp := fmt.Sprintf("Org%02dMSP", i+1)
		org, err := stubtest.NewOrg(msp, start)
		if err != nil {
			t.Fatal(err)
		}
		c.orgs = append(c.orgs, org)
		c.submit(org.Admin, "Consortium:RegisterOrganization", msp)
		c.machines[msp] = c.newMachine(msp)
		c.storages[msp] = round.NewMemoryStorage()
		c.store[msp] = map[string][]byte{}
	}
	return c
}

func (c *cluster) newMachine(msp string) *round.Machine {
	m, err := round.New(round.Config{
		Self: msp, Inspect: inspect, Aggregate: roundtest.Aggregate,
		Grace: 2 * time.Minute, RetryEvery: 30 * time.Second,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// inspect: a payload is "update:<org>:<values>"; "NaN" is malformed.
func inspect(_ records.Round, payload []byte) (string, error) {
	if !strings.HasPrefix(string(payload), "update:") || strings.Contains(string(payload), "NaN") {
		return "", errors.New("not a finite update")
	}
	return nft.DigestBytes(payload), nil
}

func (c *cluster) org(msp string) *stubtest.Org {
	for _, o := range c.orgs {
		if o.MSPID == msp {
			return o
		}
	}
	c.t.Fatalf("no org %s", msp)
	return nil
}

func (c *cluster) submit(id *stubtest.Identity, fn string, args ...string) error {
	res, err := c.ledger.Submit(c.cc, id, fn, args...)
	if err != nil {
		return err
	}
	if res.Event != nil {
		var e records.Event
		if err := json.Unmarshal(res.Event.Payload, &e); err != nil {
			c.t.Fatal(err)
		}
		for _, in := range round.FromEvent(e) {
			c.broadcastLedger(in)
		}
	}
	return nil
}

// broadcastLedger delivers a ledger event to every member: partitions cut
// the peer-to-peer network, not a member's own peer.
func (c *cluster) broadcastLedger(in round.Input) {
	for _, msp := range c.members() {
		c.deliver(msp, in)
	}
}

func (c *cluster) members() []string {
	var out []string
	for _, o := range c.orgs {
		out = append(out, o.MSPID)
	}
	return out
}

func (c *cluster) deliver(msp string, in round.Input) {
	c.queue = append(c.queue, func() {
		outs, err := c.machines[msp].Step(in).Persist(c.storages[msp])
		if err != nil {
			c.t.Fatal(err)
		}
		c.act(msp, outs)
	})
}

// act carries out a member's outputs the way the node's adapter does.
func (c *cluster) act(msp string, outs []round.Output) {
	for _, out := range outs {
		switch o := out.(type) {
		case round.StartTraining:
			payload := []byte("update:" + msp + ":" + o.Round.ID)
			c.deliver(msp, round.Trained{RoundID: o.Round.ID, Payload: payload, Commitment: records.UpdateCommitment{
				Samples: 100, Metrics: records.LocalMetrics{AUC: 0.8, F1: 0.5, Loss: 0.4},
			}})
		case round.SubmitCommit:
			raw, _ := json.Marshal(o.Commitment)
			err := c.submit(c.org(msp).Client, "Rounds:CommitUpdate", o.RoundID, string(raw))
			c.deliver(msp, round.TxDone{RoundID: o.RoundID, Kind: "commit", Err: err})
		case round.Publish:
			c.store[msp][o.Update.Digest] = o.Update.Payload
			if c.cut[msp] {
				continue
			}
			for _, peer := range c.members() {
				if peer != msp && !c.cut[peer] {
					c.deliver(peer, round.UpdateReceived{RoundID: o.RoundID, Update: o.Update})
				}
			}
		case round.Fetch:
			for _, w := range o.Want {
				for _, peer := range c.members() {
					if p, ok := c.store[peer][w.Digest]; ok && peer != msp && !c.cut[peer] && !c.cut[msp] {
						c.deliver(msp, round.UpdateReceived{RoundID: o.RoundID, Update: round.Update{MSPID: w.MSPID, Digest: w.Digest, Payload: p}})
						break
					}
				}
			}
		case round.SubmitAggregate:
			raw, _ := json.Marshal(o.Claim)
			err := c.submit(c.org(msp).Client, "Rounds:SubmitAggregate", o.RoundID, string(raw))
			c.deliver(msp, round.TxDone{RoundID: o.RoundID, Kind: "aggregate", Err: err})
		case round.SubmitClose:
			err := c.submit(c.org(msp).Client, "Rounds:Close", o.RoundID)
			c.deliver(msp, round.TxDone{RoundID: o.RoundID, Kind: "close", Err: err})
		case round.Reject:
			c.rejects = append(c.rejects, o)
		case round.Finished:
			c.finished[msp] = o
		}
	}
}

// run drains the queue, then advances time by step and ticks every member,
// until all members finished or the budget of steps is spent.
func (c *cluster) run(step time.Duration, steps int) {
	c.t.Helper()
	for range steps {
		for len(c.queue) > 0 {
			next := c.queue[0]
			c.queue = c.queue[1:]
			next()
		}
		if len(c.finished) == len(c.orgs) {
			return
		}
		c.ledger.Advance(step)
		for _, msp := range c.members() {
			c.deliver(msp, round.Tick{Now: c.ledger.Now()})
		}
	}
}

func (c *cluster) open(id string, minParticipants int) {
	c.t.Helper()
	now := c.ledger.Now()
	spec := records.RoundSpec{
		ID: id, Task: "sli-relevance", Services: []string{"amf"},
		FeatureSetDigest: nft.DigestBytes([]byte("features")), Strategy: "median",
		MinParticipants: minParticipants,
		CommitDeadline:  records.FormatTime(now.Add(5 * time.Minute)),
		Deadline:        records.FormatTime(now.Add(15 * time.Minute)),
	}
	raw, _ := json.Marshal(spec)
	for _, msp := range c.members() { // members learn the time before the round opens
		c.deliver(msp, round.Tick{Now: now})
	}
	if err := c.submit(c.orgs[0].Admin, "Rounds:Open", string(raw)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) roundOnLedger(id string) records.Round {
	raw, err := c.ledger.Evaluate(c.cc, c.orgs[0].Client, "Rounds:Get", id)
	if err != nil {
		c.t.Fatal(err)
	}
	var r records.Round
	_ = json.Unmarshal(raw, &r)
	return r
}

func TestRoundCompletesAndEveryMemberAgrees(t *testing.T) {
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprintf("%d members", n), func(t *testing.T) {
			c := newCluster(t, n)
			c.open("round-1", 2)
			c.run(time.Minute, 30)
			r := c.roundOnLedger("round-1")
			if r.Status != records.RoundFinalized || len(r.Contributors) != n {
				t.Fatalf("round %s with %d contributors, want finalized with %d", r.Status, len(r.Contributors), n)
			}
			for _, msp := range c.members() {
				f, ok := c.finished[msp]
				if !ok || !f.AgreesWithUs || f.Round.GlobalModelDigest != r.GlobalModelDigest {
					t.Errorf("%s: finished=%v agrees=%v", msp, ok, f.AgreesWithUs)
				}
			}
			if len(c.rejects) != 0 {
				t.Errorf("honest members were rejected: %+v", c.rejects)
			}
		})
	}
}

// One member is cut off from the peer-to-peer network: it commits on the
// ledger but its update never arrives. The others wait out the grace
// period, aggregate without it, and reach quorum.
func TestPartitionedMemberDoesNotBlockQuorum(t *testing.T) {
	c := newCluster(t, 3)
	c.cut["Org03MSP"] = true
	c.open("round-p", 2)
	c.run(time.Minute, 30)
	r := c.roundOnLedger("round-p")
	if r.Status != records.RoundFinalized || !slices.Equal(r.Contributors, []string{"Org01MSP", "Org02MSP"}) {
		t.Fatalf("round %s contributors %v", r.Status, r.Contributors)
	}
	if f := c.finished["Org03MSP"]; f.AgreesWithUs {
		t.Error("the partitioned member cannot have computed the finalized aggregate")
	}
	if !c.finished["Org01MSP"].AgreesWithUs || !c.finished["Org02MSP"].AgreesWithUs {
		t.Error("the connected members must agree with the outcome")
	}
}

// A member crashes after committing, having missed every update. Restarted
// from its persisted state, it fetches the missing updates by digest and
// submits the same aggregate as the others.
func TestRestartedMemberFetchesMissingUpdates(t *testing.T) {
	c := newCluster(t, 3)
	c.cut["Org02MSP"] = true // misses the gossip while "down"
	c.open("round-r", 3)
	c.run(time.Second, 2) // everyone trains and commits; no aggregation yet
	// What storage holds is exactly what the machine has (nothing acted on
	// was left unsaved), and survives a JSON round trip.
	saved, err := c.storages["Org02MSP"].Load()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(c.machines["Org02MSP"].States()); !jsonEqual(t, saved, want) {
		t.Fatal("storage does not hold the machine's state")
	}
	states, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	// Restart: a new machine from the persisted state, back on the network.
	var restored []round.State
	if err := json.Unmarshal(states, &restored); err != nil {
		t.Fatal(err)
	}
	if len(restored) != 1 || restored[0].Phase != round.PhaseCollecting || len(restored[0].Received) != 1 {
		t.Fatalf("persisted state: %+v", restored)
	}
	c.machines["Org02MSP"] = c.newMachine("Org02MSP")
	c.machines["Org02MSP"].Restore(restored)
	c.cut["Org02MSP"] = false
	c.run(time.Minute, 30)
	r := c.roundOnLedger("round-r")
	if r.Status != records.RoundFinalized || len(r.Contributors) != 3 {
		t.Fatalf("round %s contributors %v", r.Status, r.Contributors)
	}
	if !c.finished["Org02MSP"].AgreesWithUs {
		t.Error("the restarted member must compute the finalized aggregate")
	}
}

// Without enough participants the round fails at its deadline, closed by
// the members themselves.
func TestRoundWithoutQuorumFailsAtDeadline(t *testing.T) {
	c := newCluster(t, 3)
	for _, msp := range c.members() {
		c.cut[msp] = true
	}
	c.open("round-f", 2)
	c.run(time.Minute, 35) // the deadline (15 min) plus the time window (15 min)
	if r := c.roundOnLedger("round-f"); r.Status != records.RoundFailed {
		t.Fatalf("round %s, want failed", r.Status)
	}
	for _, msp := range c.members() {
		if f, ok := c.finished[msp]; !ok || f.Round.Status != records.RoundFailed {
			t.Errorf("%s did not see the failure", msp)
		}
	}
}

// A registered member sending an update that is not the one it committed,
// or a malformed one, is rejected and reported for scoring; an update that
// arrives before its commitment is held, not rejected.
func TestBadUpdatesAreRejected(t *testing.T) {
	c := newCluster(t, 1)
	m := stepper{t: t, m: c.newMachine("Org01MSP"), s: round.NewMemoryStorage()}
	r := records.Round{
		RoundSpec: records.RoundSpec{ID: "round-b", Services: []string{"amf"}, MinParticipants: 2,
			CommitDeadline: records.FormatTime(start.Add(time.Minute)), Deadline: records.FormatTime(start.Add(time.Hour))},
		Members: []string{"Org01MSP", "Org02MSP", "Org03MSP"}, Status: records.RoundOpen,
	}
	m.Step(round.Tick{Now: start})
	if out := m.Step(round.RoundOpened{Round: r}); len(out) != 1 {
		t.Fatalf("opening: %v", out)
	}
	honest := []byte("update:Org02MSP:1")
	early := m.Step(round.UpdateReceived{RoundID: "round-b", Update: round.Update{MSPID: "Org02MSP", Payload: honest}})
	if len(early) != 0 {
		t.Fatalf("an update ahead of its commitment must be held quietly, got %v", early)
	}
	digest, _ := inspect(r, honest)
	m.Step(round.UpdateCommitted{RoundID: "round-b", MSPID: "Org02MSP", Digest: digest})
	m.Step(round.UpdateCommitted{RoundID: "round-b", MSPID: "Org03MSP", Digest: nft.DigestBytes([]byte("update:Org03MSP:real"))})
	if st, _ := m.m.State("round-b"); len(st.Received) != 1 {
		t.Fatalf("the held update was not accepted once committed: %+v", st.Received)
	}

	tests := []struct {
		name string
		u    round.Update
		want string
	}{
		{"uncommitted content", round.Update{MSPID: "Org03MSP", Payload: []byte("update:Org03MSP:forged")}, "is not the committed"},
		{"malformed", round.Update{MSPID: "Org03MSP", Payload: []byte("update:NaN")}, "malformed update"},
		{"not a member", round.Update{MSPID: "Org99MSP", Payload: []byte("update:Org99MSP")}, "not a member"},
	}
	for _, tt := range tests {
		out := m.Step(round.UpdateReceived{RoundID: "round-b", Update: tt.u})
		if len(out) != 1 {
			t.Fatalf("%s: outputs %v", tt.name, out)
		}
		rej, ok := out[0].(round.Reject)
		if !ok || rej.From != tt.u.MSPID || !strings.Contains(rej.Reason, tt.want) {
			t.Errorf("%s: got %+v, want a rejection of %s saying %q", tt.name, out[0], tt.u.MSPID, tt.want)
		}
	}
	if st, _ := m.m.State("round-b"); len(st.Received) != 1 {
		t.Fatalf("a rejected update was kept: %+v", st.Received)
	}
}

// stepper drives one machine the way the adapter does: every step's Ready
// persisted before its outputs are read.
type stepper struct {
	t *testing.T
	m *round.Machine
	s round.Storage
}

func (p stepper) Step(in round.Input) []round.Output {
	p.t.Helper()
	outs, err := p.m.Step(in).Persist(p.s)
	if err != nil {
		p.t.Fatal(err)
	}
	return outs
}

func jsonEqual(t *testing.T, a any, b []byte) bool {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw) == string(b)
}
