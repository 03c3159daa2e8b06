package embedledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
)

// TestBlocksTheIndexLostAreAppliedOnOpen: a power cut can lose LevelDB's
// latest batches, which the ledger writes without a sync once the block
// file holds their block. Restoring the index folder to an earlier copy
// does the same; the blocks after it are then applied again from the block
// file, and the ledger is as it was: same height, same state, same history,
// same commit statuses, and the chain and state verify. With no index at
// all, the whole index is rebuilt from the block file.
func TestBlocksTheIndexLostAreAppliedOnOpen(t *testing.T) {
	dir := t.TempDir()
	index := filepath.Join(embedledger.StorePath(dir), "index")
	ctx := context.Background()

	l := openLedger(t, dir, nil)
	gw := connect(t, l, "Org1MSP", "client", kvName)
	for _, k := range []string{"a", "b", "c"} {
		if _, _, err := gw.Submit(ctx, "put", k, k+"1"); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if out, err := exec.Command("cp", "-a", index, index+".earlier").CombinedOutput(); err != nil {
		t.Fatalf("copy index: %v %s", err, out)
	}

	l = openLedger(t, dir, nil)
	gw = connect(t, l, "Org2MSP", "client", kvName)
	var lastTx string
	for _, step := range [][]string{{"put", "a", "a2"}, {"del", "b"}, {"put", "d", "d1"}, {"put", "a", "a3"}} {
		_, commit, err := gw.Submit(ctx, step[0], step[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		lastTx = commit
	}
	want := ledgerView(t, l)
	l.Close()

	// LevelDB loses everything after the copy; the block file keeps it.
	if err := os.RemoveAll(index); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(index+".earlier", index); err != nil {
		t.Fatal(err)
	}

	l = openLedger(t, dir, nil)
	defer l.Close()
	if got := ledgerView(t, l); !slices.Equal(got, want) {
		t.Fatalf("after applying the lost blocks:\n got %q\nwant %q", got, want)
	}
	if _, err := l.VerifyChain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.VerifyState(ctx); err != nil {
		t.Fatal(err)
	}
	gw = connect(t, l, "Org3MSP", "client", kvName)
	if _, _, err := gw.Submit(ctx, "put", "e", "e1"); err != nil {
		t.Fatalf("a new transaction after the replay: %v", err)
	}
	l.Close()

	s, err := store.Open(embedledger.StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(snap *store.Snapshot) error {
		if st, ok := snap.TxStatus(lastTx); !ok || st.Code != peer.TxValidationCode_VALID {
			t.Errorf("the last replayed transaction is indexed as %+v, %v; want VALID", st, ok)
		}
		return nil
	})
	s.Close()

	// Without any index at all (moved aside after corruption), opening
	// rebuilds it from the block file, as Fabric's rebuild-dbs does.
	l = openLedger(t, dir, nil)
	want = ledgerView(t, l)
	l.Close()
	if err := os.RemoveAll(index); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, dir, nil)
	defer l.Close()
	if got := ledgerView(t, l); !slices.Equal(got, want) {
		t.Fatalf("after rebuilding the index:\n got %q\nwant %q", got, want)
	}
	if err := l.VerifyState(ctx); err != nil {
		t.Fatal(err)
	}
}

// ledgerView is what the test compares: the height, every key's value and
// every key's history.
func ledgerView(t *testing.T, l *embedledger.Ledger) []string {
	t.Helper()
	gw := connect(t, l, "Org1MSP", "client", kvName)
	out := []string{fmt.Sprint("height ", l.Height())}
	for _, k := range []string{"a", "b", "c", "d"} {
		v, err := gw.Evaluate(context.Background(), "get", k)
		if err != nil {
			t.Fatal(err)
		}
		hist, err := gw.Evaluate(context.Background(), "history", k)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(hist) {
			t.Fatalf("history of %s: %s", k, hist)
		}
		out = append(out, k+"="+string(v), k+" history "+string(hist))
	}
	return out
}
