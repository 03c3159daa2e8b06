package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/workflow"
)

// tokenLedger holds the tokens' current states.
type tokenLedger map[string]nft.Token

func (l tokenLedger) Token(_ context.Context, id string) (nft.Token, error) {
	t, ok := l[id]
	if !ok {
		return t, errors.New("not found")
	}
	return t, nil
}

func mintEvent(t *testing.T, block uint64, tx string, tok nft.Token, superseded *nft.Token) ledger.Event {
	t.Helper()
	raw, err := json.Marshal(records.Event{Kind: records.EventTokenMinted, TxID: tx, Token: &tok, Superseded: superseded})
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Event{BlockNumber: block, TxID: tx, Name: string(records.EventTokenMinted), Payload: raw}
}

// An install parked while the source was down is retried after its
// token's successor was installed: it reads the token's state now and
// leaves the successor's rules in place instead of restoring its own.
func TestRetriedInstallDoesNotUndoALaterRevision(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	v1 := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	d2 := nfttest.Definition("amf", "Org1MSP")
	d2.Version, d2.Supersedes, d2.SLO.Objective, d2.SLO.ErrorBudget = 2, v1.ID, 0.995, nft.ErrorBudget(0.995)
	v2 := nfttest.Token(d2)
	superseded := v1
	superseded.State = nft.State{Owner: v1.State.Owner, Status: nft.StatusSuperseded, SupersededBy: v2.ID}
	if err := nft.ValidateToken(superseded); err != nil {
		t.Fatal(err)
	}
	l := tokenLedger{v1.ID: superseded, v2.ID: v2}

	var down atomic.Bool
	down.Store(true)
	rules := filepath.Join(dir, "rules")
	exec := workflow.Executor{Policy: workflow.Policy{Self: "Org2MSP"}, Log: log,
		Installer: rulesync.Syncer{Dir: rules, Served: rulesync.Served{Installs: func(context.Context, string) (bool, error) {
			if down.Load() {
				return false, errors.New("services this node serves: prometheus down")
			}
			return true, nil
		}}}}
	cp, err := ledger.OpenCheckpoint(filepath.Join(dir, workflowCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	pending, err := openPending(filepath.Join(dir, pendingDir), 8, time.Second, time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	c := workflowConsumer{handle: exec.Handle, sweep: func(context.Context, time.Time) error { return nil },
		refresh: currentTokens(l), pending: pending, cp: cp, now: time.Now, metrics: newMetrics(prometheus.NewRegistry()), log: log,
		decode: func(ev ledger.Event) (records.Event, bool) {
			var e records.Event
			return e, json.Unmarshal(ev.Payload, &e) == nil
		}}
	events := make(chan ledger.Event)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, events) }()
	defer func() { cancel(); <-done }()

	events <- mintEvent(t, 3, "tx-v1", v1, nil)
	waitUntil(t, "the first install to be parked", func() bool { return pending.has("tx-v1") })
	down.Store(false)
	events <- mintEvent(t, 4, "tx-v2", v2, &superseded) // handled before v1's retry is due
	waitUntil(t, "the parked install to be retried", func() bool { return len(pending.list()) == 0 })

	got, err := os.ReadFile(filepath.Join(rules, rulesync.FileName(v2)))
	want, _ := rulesync.Content(v2)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("rules after the retry are not v2's (err %v):\n%s", err, got)
	}
}
