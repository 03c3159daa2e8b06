package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/ledger"
)

func event(t *testing.T, block uint64, tx string, kind records.EventKind) ledger.Event {
	t.Helper()
	raw, err := json.Marshal(records.Event{Kind: kind, TxID: tx, Proposal: &records.Proposal{ID: "p-" + tx}})
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Event{BlockNumber: block, TxID: tx, Name: string(kind), Payload: raw}
}

func TestPendingSetPersistsBacksOffAndForgets(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := openPending(dir, 2, time.Second, 5*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ev := event(t, 7, "tx-a", records.EventProposalSubmitted)
	var waits []time.Duration
	for range 5 {
		a, err := s.fail(ev, records.EventProposalSubmitted, errors.New("prometheus: connection refused"), now)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, a.NextTry.Sub(now))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("backoff after %d failures = %v, want %v (all: %v)", i+1, waits[i], want[i], waits)
		}
	}
	if _, err := s.fail(event(t, 8, "tx-b", records.EventTokenMinted), records.EventTokenMinted, errors.New("reload"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !s.full() {
		t.Fatal("a set at its limit is not full")
	}

	// A restart finds both, attempts and errors included; an unreadable
	// file is reported and left out.
	if err := os.WriteFile(filepath.Join(dir, "garbage.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = openPending(dir, 2, time.Second, 5*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	list := s.list()
	if len(list) != 2 || list[0].Event.TxID != "tx-a" || list[0].Attempts != 5 || list[0].LastError != "prometheus: connection refused" ||
		string(list[0].Event.Payload) != string(ev.Payload) || !list[0].FirstFailed.Equal(now) || list[1].Event.TxID != "tx-b" {
		t.Fatalf("reloaded %+v", list)
	}
	if a, ok := s.next(); !ok || a.Event.TxID != "tx-a" {
		t.Fatalf("next = %v %v, want tx-a (due first)", a.Event.TxID, ok)
	}
	if err := s.done("tx-a"); err != nil {
		t.Fatal(err)
	}
	if s.has("tx-a") || s.full() {
		t.Fatal("done did not forget the action")
	}
	s, _ = openPending(dir, 2, time.Second, 5*time.Second, log)
	if l := s.list(); len(l) != 1 || l[0].Event.TxID != "tx-b" {
		t.Fatalf("after done and restart: %+v", l)
	}
}

// fakeWorkflow fails the actions of chosen transactions while the source
// is down.
type fakeWorkflow struct {
	mu       sync.Mutex
	down     bool
	failing  map[string]bool // proposal IDs that need the source
	handled  []string        // proposal IDs of successful handles, in order
	refresh  int
	attempts map[string]int
}

func (f *fakeWorkflow) handle(_ context.Context, e records.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := e.Proposal.ID
	f.attempts[id]++
	if f.down && f.failing[id] {
		return errors.New("evidence: prometheus down")
	}
	f.handled = append(f.handled, id)
	return nil
}

func (f *fakeWorkflow) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeWorkflow) snapshot() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.handled...), f.refresh
}

type consumerRig struct {
	wf      *fakeWorkflow
	cp      *ledger.Checkpoint
	pending *pendingSet
	metrics *nodeMetrics
	reg     *prometheus.Registry
	events  chan ledger.Event
	stop    context.CancelFunc
	done    chan error
}

func startConsumer(t *testing.T, dir string, limit int, wf *fakeWorkflow) *consumerRig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cp, err := ledger.OpenCheckpoint(filepath.Join(dir, workflowCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	pending, err := openPending(filepath.Join(dir, pendingDir), limit, 5*time.Millisecond, 20*time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r := &consumerRig{wf: wf, cp: cp, pending: pending, metrics: newMetrics(reg), reg: reg,
		events: make(chan ledger.Event), done: make(chan error, 1)}
	r.metrics.watchPending(reg, pending)
	c := workflowConsumer{
		handle: wf.handle,
		sweep:  func(context.Context, time.Time) error { return nil },
		refresh: func(_ context.Context, e records.Event) (records.Event, error) {
			wf.mu.Lock()
			defer wf.mu.Unlock()
			wf.refresh++
			return e, nil
		},
		decode: func(ev ledger.Event) (records.Event, bool) {
			var e records.Event
			return e, json.Unmarshal(ev.Payload, &e) == nil
		},
		pending: pending, cp: cp, now: time.Now, metrics: r.metrics, log: log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- c.run(ctx, r.events) }()
	t.Cleanup(func() { r.close() })
	return r
}

func (r *consumerRig) close() {
	if r.stop == nil {
		return
	}
	r.stop()
	<-r.done
	r.cp.Close()
	r.stop = nil
}

// value reads a counter or gauge of the rig's registry (0 when absent).
func (r *consumerRig) value(t *testing.T, name, kind string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A failing action is parked and later events go on; the checkpoint moves
// past the parked event; the action is retried, also across a restart,
// and succeeds once its source is back.
func TestWorkflowConsumerParksFailuresAndGoesOn(t *testing.T) {
	dir := t.TempDir()
	wf := &fakeWorkflow{down: true, failing: map[string]bool{"p-tx1": true}, attempts: map[string]int{}}
	r := startConsumer(t, dir, 8, wf)
	r.events <- event(t, 3, "tx1", records.EventProposalSubmitted)
	r.events <- event(t, 4, "tx2", records.EventProposalSubmitted)
	r.events <- event(t, 5, "tx3", records.EventProposalSubmitted)
	waitUntil(t, "the later events to be handled", func() bool { h, _ := wf.snapshot(); return len(h) == 2 })
	if h, _ := wf.snapshot(); h[0] != "p-tx2" || h[1] != "p-tx3" {
		t.Fatalf("handled %v, want the events after the failing one", h)
	}
	waitUntil(t, "retries", func() bool { return r.value(t, "srellama_workflow_retries_total", "ProposalSubmitted") >= 2 })
	if b, tx := r.cp.Position(); b != 5 || tx != "tx3" {
		t.Fatalf("checkpoint at %d/%s, want past every event (5/tx3)", b, tx)
	}
	if l := r.pending.list(); len(l) != 1 || l[0].Event.TxID != "tx1" || l[0].Attempts < 2 || l[0].LastError != "evidence: prometheus down" {
		t.Fatalf("pending %+v", l)
	}
	if got := r.value(t, "srellama_workflow_pending_actions", "ProposalSubmitted"); got != 1 {
		t.Fatalf("pending gauge = %v, want 1", got)
	}

	// Restarted while still failing: the event is not replayed (the
	// checkpoint passed it), the pending file brings it back.
	r.close()
	r = startConsumer(t, dir, 8, wf)
	waitUntil(t, "a retry after the restart", func() bool {
		return r.value(t, "srellama_workflow_retries_total", "ProposalSubmitted") >= 1
	})
	wf.setDown(false)
	waitUntil(t, "the parked action to succeed", func() bool { return len(r.pending.list()) == 0 })
	h, refreshed := wf.snapshot()
	if h[len(h)-1] != "p-tx1" || refreshed == 0 {
		t.Fatalf("handled %v, refreshed %d times: want tx1 last, retried with a refreshed event", h, refreshed)
	}
	if got := r.value(t, "srellama_workflow_recovered_total", "ProposalSubmitted"); got != 1 {
		t.Fatalf("recovered = %v", got)
	}
	if got := r.value(t, "srellama_workflow_pending_actions", "ProposalSubmitted"); got != 0 {
		t.Fatalf("pending gauge = %v after the retry succeeded", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, pendingDir)); len(entries) != 0 {
		t.Fatalf("pending files left: %v", entries)
	}
}

// At its limit the set reads no further event (nothing is dropped, the
// checkpoint stays) until a parked action succeeds.
func TestWorkflowConsumerStopsReadingWhenFull(t *testing.T) {
	dir := t.TempDir()
	wf := &fakeWorkflow{down: true, failing: map[string]bool{"p-tx1": true}, attempts: map[string]int{}}
	r := startConsumer(t, dir, 1, wf)
	r.events <- event(t, 3, "tx1", records.EventProposalSubmitted)
	select {
	case r.events <- event(t, 4, "tx2", records.EventProposalSubmitted):
		t.Fatal("a full set read another event")
	case <-time.After(100 * time.Millisecond):
	}
	if b, tx := r.cp.Position(); b != 3 || tx != "tx1" {
		t.Fatalf("checkpoint at %d/%s, want at the parked event", b, tx)
	}
	wf.setDown(false)
	r.events <- event(t, 4, "tx2", records.EventProposalSubmitted)
	waitUntil(t, "both handled", func() bool { h, _ := wf.snapshot(); return len(h) == 2 })
	if h, _ := wf.snapshot(); h[0] != "p-tx1" || h[1] != "p-tx2" {
		t.Fatalf("handled %v", h)
	}
}

// A replayed event whose action is pending (a crash between recording it
// and the checkpoint) is handled again and leaves the set on success.
func TestWorkflowConsumerReplayClearsPending(t *testing.T) {
	dir := t.TempDir()
	pending, err := openPending(filepath.Join(dir, pendingDir), 8, time.Hour, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t, 3, "tx1", records.EventProposalSubmitted)
	if _, err := pending.fail(ev, records.EventProposalSubmitted, errors.New("down"), time.Now()); err != nil {
		t.Fatal(err)
	}
	wf := &fakeWorkflow{failing: map[string]bool{}, attempts: map[string]int{}}
	r := startConsumer(t, dir, 8, wf)
	r.events <- ev
	waitUntil(t, "the replayed action to leave the set", func() bool { return len(r.pending.list()) == 0 })
}

// A node upgraded from one shared checkpoint starts both consumers from
// it; a consumer's own checkpoint is never overwritten.
func TestSplitLegacyCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if err := splitLegacyCheckpoint(dir); err != nil {
		t.Fatal(err)
	}
	legacy, err := ledger.OpenCheckpoint(filepath.Join(dir, legacyCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Done(ledger.Event{BlockNumber: 42, TxID: "tx-42"}); err != nil {
		t.Fatal(err)
	}
	legacy.Close()
	own, _ := ledger.OpenCheckpoint(filepath.Join(dir, roundsCheckpoint))
	_ = own.Done(ledger.Event{BlockNumber: 50, TxID: "tx-50"})
	own.Close()

	if err := splitLegacyCheckpoint(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{roundsCheckpoint: 50, workflowCheckpoint: 42} {
		cp, err := ledger.OpenCheckpoint(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := cp.Position(); b != want {
			t.Errorf("%s at block %d, want %d", name, b, want)
		}
		cp.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, legacyCheckpoint)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("legacy checkpoint still there: %v", err)
	}
}
