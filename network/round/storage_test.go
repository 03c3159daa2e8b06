package round_test

import (
	"errors"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/network/round/roundtest"
	"github.com/srellama/srellama/nft"
)

func soloRound(id string, opened time.Time) records.Round {
	return records.Round{
		RoundSpec: records.RoundSpec{ID: id, Services: []string{"amf"}, MinParticipants: 1,
			CommitDeadline: records.FormatTime(opened.Add(time.Minute)), Deadline: records.FormatTime(opened.Add(5 * time.Minute))},
		Members: []string{"Org01MSP"}, Status: records.RoundOpen,
	}
}

func soloMachine(t *testing.T, retain time.Duration) *round.Machine {
	t.Helper()
	m, err := round.New(round.Config{Self: "Org01MSP", Inspect: inspect, Aggregate: roundtest.Aggregate,
		Grace: time.Minute, RetryEvery: 30 * time.Second, Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A step that storage refuses yields no outputs: nothing is published or
// submitted that a restart would not remember.
func TestNothingIsDoneThatWasNotPersisted(t *testing.T) {
	m := soloMachine(t, 0)
	s := round.NewMemoryStorage()
	if _, err := m.Step(round.Tick{Now: start}).Persist(s); err != nil {
		t.Fatal(err)
	}
	s.Fail = errors.New("disk full")
	rd := m.Step(round.RoundOpened{Round: soloRound("round-1", start)})
	if len(rd.Changed) != 1 || rd.Changed[0].Round.ID != "round-1" {
		t.Fatalf("the opened round must be in Ready.Changed: %+v", rd.Changed)
	}
	outs, err := rd.Persist(s)
	if err == nil || len(outs) != 0 {
		t.Fatalf("got outputs %v, error %v; want none and the storage error", outs, err)
	}
	// A tick that changes nothing asks storage for nothing.
	s.Fail = nil
	if rd := m.Step(round.Tick{Now: start.Add(time.Second)}); len(rd.Changed) != 0 || len(rd.Forgotten) != 0 {
		t.Fatalf("an idle tick changed %d rounds", len(rd.Changed))
	}
}

// A closed round is kept for Retain after its close and its deadline, then
// forgotten in storage too; a replay of its opening event does not revive it.
func TestClosedRoundsAreForgottenAfterRetention(t *testing.T) {
	const retain = time.Hour
	m := stepper{t: t, m: soloMachine(t, retain), s: round.NewMemoryStorage()}
	r := soloRound("round-1", start)
	m.Step(round.Tick{Now: start})
	m.Step(round.RoundOpened{Round: r})
	payload := []byte("update:Org01MSP:1")
	m.Step(round.Trained{RoundID: r.ID, Payload: payload})
	m.Step(round.UpdateCommitted{RoundID: r.ID, MSPID: "Org01MSP", Digest: nft.DigestBytes(payload)})
	closed := r
	closed.Status = records.RoundFailed
	m.Step(round.RoundClosed{Round: closed})
	stored := func() int {
		states, err := m.s.Load()
		if err != nil {
			t.Fatal(err)
		}
		return len(states)
	}
	for _, tt := range []struct {
		at   time.Duration
		kept bool
	}{{2 * time.Minute, true}, {30 * time.Minute, true}, {retain + 4*time.Minute, true}, {retain + 6*time.Minute, false}} {
		m.Step(round.Tick{Now: start.Add(tt.at)})
		if _, ok := m.m.State(r.ID); ok != tt.kept || (stored() == 1) != tt.kept {
			t.Fatalf("at +%v: in machine %v, stored %d; want kept=%v", tt.at, ok, stored(), tt.kept)
		}
	}
	if out := m.Step(round.RoundOpened{Round: r}); len(out) != 0 {
		t.Fatalf("a replayed opening of a forgotten round restarted it: %v", out)
	}
	if _, ok := m.m.State(r.ID); ok {
		t.Fatal("a replayed opening revived a forgotten round")
	}
}
