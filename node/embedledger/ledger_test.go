package embedledger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
)

func TestThreeOrganizationsSubmitAndEvaluateWithTheirOwnIdentities(t *testing.T) {
	l := openLedger(t, t.TempDir(), nil)
	defer l.Close()
	ctx := context.Background()
	for _, org := range testOrgs {
		gw := connect(t, l, org, "client", kvName)
		if _, _, err := gw.Submit(ctx, "put", "owner/"+org, org); err != nil {
			t.Fatalf("%s put: %v", org, err)
		}
		who, err := gw.Evaluate(ctx, "whoami")
		if err != nil {
			t.Fatalf("%s whoami: %v", org, err)
		}
		if !strings.HasPrefix(string(who), org+"@") {
			t.Errorf("whoami as %s = %q", org, who)
		}
		ts := strings.TrimPrefix(string(who), org+"@")
		if ts == "0" || ts == "" {
			t.Errorf("GetTxTimestamp gave %q, want the proposal's time", ts)
		}
	}
	gw := connect(t, l, "Org2MSP", "admin", kvName)
	for _, org := range testOrgs {
		got, err := gw.Evaluate(ctx, "get", "owner/"+org)
		if err != nil || string(got) != org {
			t.Errorf("get owner/%s = %q, %v", org, got, err)
		}
	}
	if n, err := l.VerifyChain(ctx); err != nil || n != 4 {
		t.Errorf("VerifyChain = %d blocks, %v; want genesis + 3", n, err)
	}
}

func TestSubmitReturnsResultAndCommittedState(t *testing.T) {
	l := openLedger(t, t.TempDir(), nil)
	defer l.Close()
	gw := connect(t, l, "Org1MSP", "client", kvName)
	ctx := context.Background()
	for want := 1; want <= 3; want++ {
		res, txID, err := gw.Submit(ctx, "incr", "counter")
		if err != nil {
			t.Fatal(err)
		}
		if string(res) != string(rune('0'+want)) || len(txID) != 64 {
			t.Fatalf("incr #%d = %q (tx %q)", want, res, txID)
		}
	}
	for _, step := range [][]string{{"put", "k", "v2"}, {"del", "k"}, {"put", "k", "v3"}} {
		if _, _, err := gw.Submit(ctx, step[0], step[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := gw.Evaluate(ctx, "history", "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(hist) != `["v3","deleted","v2"]` {
		t.Errorf("history newest first = %s", hist)
	}
}

func TestCompositeKeysAndPagination(t *testing.T) {
	l := openLedger(t, t.TempDir(), nil)
	defer l.Close()
	gw := connect(t, l, "Org1MSP", "client", kvName)
	ctx := context.Background()
	for _, args := range [][]string{
		{"putIndexed", "token", "svcA", "t1", "x"}, {"putIndexed", "token", "svcA", "t2", "y"},
		{"putIndexed", "token", "svcB", "t3", "z"}, {"put", "a1", "1"}, {"put", "a2", "2"}, {"put", "a3", "3"},
	} {
		if _, _, err := gw.Submit(ctx, args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		fn   string
		args []string
		want string
	}{
		{"listIndexed", []string{"token", "svcA"}, `["[svcA t1]=x","[svcA t2]=y"]`},
		{"listIndexed", []string{"token"}, `["[svcA t1]=x","[svcA t2]=y","[svcB t3]=z"]`},
		{"page", []string{"", "", "2", ""}, `{"bookmark":"a3","count":2,"keys":["a1","a2"]}`},
		{"page", []string{"", "", "2", "a3"}, `{"bookmark":"","count":1,"keys":["a3"]}`},
	}
	for _, tt := range tests {
		got, err := gw.Evaluate(ctx, tt.fn, tt.args...)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s%v = %s, %v; want %s", tt.fn, tt.args, got, err, tt.want)
		}
	}
	_, _, err := gw.Submit(ctx, "pageAndWrite", "", "", "2", "")
	var ccErr *ledger.ChaincodeError
	if !errors.As(err, &ccErr) || !strings.Contains(ccErr.Message, "paginated queries are only supported in read-only") {
		t.Errorf("paginated query in a writing transaction: err = %v", err)
	}
}

func TestChaincodeErrorsSurfaceWithTheChaincodeMessage(t *testing.T) {
	l := openLedger(t, t.TempDir(), nil)
	defer l.Close()
	gw := connect(t, l, "Org3MSP", "client", kvName)
	ctx := context.Background()
	tests := []struct {
		name, fn, want string
		submit         bool
	}{
		{"evaluate refused", "fail", "refused: nope", false},
		{"submit refused", "fail", "refused: nope", true},
		{"panic contained", "panic", "chaincode panicked: boom", true},
		{"private data unsupported", "private", "private data collections are not supported", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.submit {
				_, _, err = gw.Submit(ctx, tt.fn, "nope")
			} else {
				_, err = gw.Evaluate(ctx, tt.fn, "nope")
			}
			var ccErr *ledger.ChaincodeError
			if !errors.As(err, &ccErr) || !strings.Contains(ccErr.Message, tt.want) {
				t.Fatalf("err = %v, want chaincode error containing %q", err, tt.want)
			}
		})
	}
	// The refused submits left nothing behind: only the genesis block.
	if n, err := l.VerifyChain(ctx); err != nil || n != 1 {
		t.Errorf("VerifyChain = %d, %v; want only the genesis block", n, err)
	}
}

func TestEventsResumeFromCheckpointAfterLedgerRestart(t *testing.T) {
	dir := t.TempDir()
	cpPath := t.TempDir() + "/events.checkpoint"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	l := openLedger(t, dir, nil)
	gw := connect(t, l, "Org1MSP", "client", kvName)
	for _, k := range []string{"e1", "e2", "e3"} {
		if _, _, err := gw.Submit(ctx, "put", k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := ledger.OpenCheckpoint(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, ctx, gw, cp, 2)
	cp.Close()
	l.Close()

	// Both sides restart: a new ledger process on the same directory, a new
	// client with the same checkpoint file.
	l = openLedger(t, dir, nil)
	defer l.Close()
	gw = connect(t, l, "Org1MSP", "client", kvName)
	if _, _, err := gw.Submit(ctx, "put", "e4", "v"); err != nil {
		t.Fatal(err)
	}
	cp, err = ledger.OpenCheckpoint(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	got = append(got, readEvents(t, ctx, gw, cp, 2)...)
	if strings.Join(got, ",") != "e1,e2,e3,e4" {
		t.Errorf("events across restart = %v, want each exactly once in order", got)
	}
}

func readEvents(t *testing.T, ctx context.Context, gw ledger.Ledger, cp *ledger.Checkpoint, n int) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := gw.Events(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for ev := range events {
		if ev.Name != "put" || ev.BlockNumber == 0 || ev.TxID == "" {
			t.Errorf("event %+v", ev)
		}
		keys = append(keys, string(ev.Payload))
		if err := cp.Done(ev); err != nil {
			t.Fatal(err)
		}
		if len(keys) == n {
			return keys
		}
	}
	t.Fatalf("event stream ended after %v", keys)
	return nil
}

func TestContendedIncrementsCommitOnlyNonConflictingOnes(t *testing.T) {
	l := openLedger(t, t.TempDir(), nil)
	defer l.Close()
	ctx := context.Background()
	const workers, each = 6, 10
	results := make(chan error, workers*each)
	for w := range workers {
		gw := connect(t, l, testOrgs[w%3], "client", kvName)
		go func() {
			for range each {
				_, _, err := gw.Submit(ctx, "incr", "hot")
				results <- err
			}
		}()
	}
	succeeded := 0
	for range workers * each {
		err := <-results
		var invalid *ledger.InvalidTxError
		switch {
		case err == nil:
			succeeded++
		case errors.As(err, &invalid) && invalid.Code == "MVCC_READ_CONFLICT" && invalid.Block > 0:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	got, err := connect(t, l, "Org1MSP", "client", kvName).Evaluate(ctx, "get", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strconv.Itoa(succeeded) {
		t.Errorf("counter = %s after %d successful increments", got, succeeded)
	}
	t.Logf("%d of %d contended increments committed", succeeded, workers*each)
}

// TestRefusesALedgerFolderOfAnEarlierVersion: a folder that holds the bbolt
// database of versions before LevelDB is refused with a clear message, not
// opened as a new, empty ledger beside the old one; audits refuse it too.
func TestRefusesALedgerFolderOfAnEarlierVersion(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ledger.db"), []byte("bbolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := embedledger.Open(embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs, Chaincodes: map[string]shim.Chaincode{kvName: kvChaincode{}}})
	if err == nil || !strings.Contains(err.Error(), "earlier version") {
		t.Fatalf("Open = %v; want the earlier version refused", err)
	}
	if _, err := os.Stat(embedledger.StorePath(dir)); err == nil {
		t.Fatal("a new store was created beside the old ledger")
	}
	if _, err := embedledger.OpenStoreForAudit(dir); err == nil || !strings.Contains(err.Error(), "earlier version") {
		t.Fatalf("OpenStoreForAudit = %v; want the earlier version refused", err)
	}
}
