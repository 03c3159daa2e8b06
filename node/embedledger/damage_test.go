package embedledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
	"github.com/srellama/srellama/node/ledger"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const damageKeys = 1200

// fillAndStop commits damageKeys counters (each at 1) in blocks of many
// transactions, then reopens and closes the ledger so that LevelDB writes
// its journal out to tables.
func fillAndStop(t *testing.T, dir string) {
	t.Helper()
	l := openLedger(t, dir, nil)
	gws := make([]ledger.Ledger, 8)
	for i := range gws {
		gws[i] = connect(t, l, testOrgs[i%3], "client", kvName)
	}
	errs := make(chan error, len(gws))
	for i, gw := range gws {
		go func() {
			for k := i; k < damageKeys; k += len(gws) {
				if _, _, err := gw.Submit(context.Background(), "incr", counterKey(k)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range gws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	openLedger(t, dir, nil).Close()
}

func counterKey(i int) string { return fmt.Sprintf("counter-%05d", i) }

// flip inverts n bytes in the middle of a file.
func flip(t *testing.T, path string, n int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mid := len(raw) / 2
	for i := mid; i < mid+n && i < len(raw); i++ {
		raw[i] ^= 0xFF
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// largestTable is the largest LevelDB table of the ledger's index.
func largestTable(t *testing.T, dir string) string {
	t.Helper()
	tables, _ := filepath.Glob(filepath.Join(embedledger.StorePath(dir), "index", "*.ldb"))
	var best string
	var size int64
	for _, p := range tables {
		if info, err := os.Stat(p); err == nil && info.Size() > size {
			best, size = p, info.Size()
		}
	}
	if best == "" {
		t.Fatal("the index has no table")
	}
	return best
}

// After 64 bytes of one LevelDB table of a stopped ledger are flipped, no
// read says "not found" for a key that is there: a read that hits the
// damage fails its transaction with DataLoss, naming the damage and the
// remedy, and the ledger reports itself unhealthy. A counter read as absent
// would be incremented to 1 instead of 2.
func TestDamagedIndexTableFailsReadsLoudly(t *testing.T) {
	dir := t.TempDir()
	fillAndStop(t, dir)
	flip(t, largestTable(t, dir), 64)

	// The offline audit reads every table and finds the damage.
	s, err := store.OpenExisting(embedledger.StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := embedledger.VerifyState(context.Background(), s); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "rebuild the index") {
		t.Errorf("VerifyState of the damaged index = %v, want the damage and its remedy", err)
	}
	s.Close()

	l := openLedger(t, dir, nil)
	defer l.Close()
	if err := l.Health(); err != nil {
		t.Fatalf("healthy before any read hit the damage, got %v", err)
	}
	gw := connect(t, l, "Org1MSP", "client", kvName)
	ctx := context.Background()
	failed := 0
	for i := range damageKeys {
		v, err := gw.Evaluate(ctx, "get", counterKey(i))
		if err != nil {
			if status.Code(errors.Unwrap(err)) != codes.DataLoss && !strings.Contains(err.Error(), "DataLoss") {
				t.Fatalf("get %s: %v, want DataLoss", counterKey(i), err)
			}
			if !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "rebuild the index") {
				t.Fatalf("get %s: %v, want the damage and the remedy named", counterKey(i), err)
			}
			failed++
			// A transaction reading it fails too, instead of counting
			// from zero.
			if res, _, err := gw.Submit(ctx, "incr", counterKey(i)); err == nil {
				t.Fatalf("incr of the damaged %s committed, result %q", counterKey(i), res)
			}
			continue
		}
		if string(v) != "1" {
			t.Fatalf("get %s = %q, want 1: a damaged read answered", counterKey(i), v)
		}
		res, _, err := gw.Submit(ctx, "incr", counterKey(i))
		if err == nil && string(res) != "2" {
			t.Fatalf("incr %s = %q, want 2", counterKey(i), res)
		}
	}
	if failed == 0 {
		t.Fatal("no read hit the damage: the test flipped nothing that is read")
	}
	if err := l.Health(); err == nil || !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Health() = %v after %d damaged reads, want the damage", err, failed)
	}
	t.Logf("%d of %d keys read as damaged; health: %v", failed, damageKeys, l.Health())
}

// Flipped bytes in the block file refuse the open, naming the block and
// the remedy; verifying only the last blocks, the ledger opens, and a read
// of the damaged block fails as damaged instead of "missing".
func TestDamagedBlockFileIsRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	fillAndStop(t, dir)
	flip(t, filepath.Join(embedledger.StorePath(dir), "blocks"), 64)

	_, err := embedledger.Open(embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs, Chaincodes: kvChaincodes()})
	if err == nil || !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "fails its checksum") || !strings.Contains(err.Error(), "restore") {
		t.Fatalf("Open = %v, want the damaged block refused with its remedy", err)
	}
	t.Logf("refused: %v", err)
	m := regexp.MustCompile(`block (\d+) \(record at offset`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the refusal names no block: %v", err)
	}
	damaged, _ := strconv.ParseUint(m[1], 10, 64)

	l, err := embedledger.Open(embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs, Chaincodes: kvChaincodes(), VerifyBlocks: 1})
	if err != nil {
		t.Fatalf("open verifying the last block only: %v", err)
	}
	defer l.Close()
	if _, err := l.Block(damaged); !errors.Is(err, embedledger.ErrDamaged) || !strings.Contains(err.Error(), "fails its checksum") {
		t.Fatalf("Block(%d) = %v, want the damage", damaged, err)
	}
	if err := l.Health(); err == nil {
		t.Fatal("healthy after reading a damaged block")
	}
	if _, err := l.VerifyChain(context.Background()); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("block %d", damaged)) {
		t.Fatalf("VerifyChain = %v, want block %d named", err, damaged)
	}
}

func kvChaincodes() map[string]shim.Chaincode {
	return map[string]shim.Chaincode{kvName: kvChaincode{}}
}
