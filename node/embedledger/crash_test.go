package embedledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
	"github.com/srellama/srellama/node/ledger"
)

// childDirEnv makes the test binary a standalone ledger process serving
// the directory it names (see TestMain), on the address in childAddrEnv.
const (
	childDirEnv  = "EMBEDLEDGER_TEST_SERVE_DIR"
	childAddrEnv = "EMBEDLEDGER_TEST_SERVE_ADDR"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(serveChild(dir, os.Getenv(childAddrEnv)))
	}
	os.Exit(m.Run())
}

func serveChild(dir, addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := embedledger.Serve(ctx, embedledger.ServeConfig{
		Ledger:    embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs, Chaincodes: map[string]shim.Chaincode{kvName: kvChaincode{}}},
		Address:   addr,
		Chaincode: kvName,
		Ready: func(addr string) {
			os.WriteFile(filepath.Join(dir, "ready"), []byte(addr), 0o644)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs the ledger in a separate OS process and waits until it
// serves.
func startChild(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	os.Remove(filepath.Join(dir, "ready"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childAddrEnv+"="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("ledger process did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialOrg(t *testing.T, dir, org string) *ledger.Gateway {
	t.Helper()
	cfg, err := ledger.LoadConfig(embedledger.ConnectionConfigPath(dir, org))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := ledger.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

type committed struct{ key, value, txID string }

func TestKillDuringSubmitLoadLosesNoValidTransaction(t *testing.T) {
	dir := t.TempDir()
	child := startChild(t, dir, "127.0.0.1:0")
	addr, err := os.ReadFile(filepath.Join(dir, "ready"))
	if err != nil {
		t.Fatal(err)
	}

	// An event consumer that stays connected across the crash: its stream
	// breaks, it reconnects from its checkpoint, and must see every event
	// exactly once.
	consumer := dialOrg(t, dir, "Org3MSP")
	if _, err := ledger.LoadConfig(embedledger.AdminConnectionConfigPath(dir, "Org3MSP")); err != nil {
		t.Errorf("admin connection configuration: %v", err)
	}
	defer consumer.Close()
	cp, err := ledger.OpenCheckpoint(filepath.Join(t.TempDir(), "cp"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	evCtx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	events, err := consumer.Events(evCtx, cp)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var valid []committed
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		org := testOrgs[w%len(testOrgs)]
		gw := dialOrg(t, dir, org)
		defer gw.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key, value := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("%s-%d", org, i)
				_, txID, err := gw.Submit(ctx, "put", key, value)
				if err != nil {
					return // the ledger died under us
				}
				mu.Lock()
				valid = append(valid, committed{key, value, txID})
				mu.Unlock()
			}
		}()
	}
	// Kill -9 once a good number of transactions have been reported VALID,
	// while the submitters keep going.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(valid)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	cancel()
	wg.Wait()
	if len(valid) < 50 {
		t.Fatalf("only %d transactions committed before the kill", len(valid))
	}

	// Restart on the same address: every transaction reported VALID is
	// there, with its value.
	child = startChild(t, dir, string(addr))
	gw := dialOrg(t, dir, "Org2MSP")
	for _, c := range valid {
		got, err := gw.Evaluate(context.Background(), "get", c.key)
		if err != nil || string(got) != c.value {
			t.Fatalf("after restart %s = %q, %v; want %q (tx %s)", c.key, got, err, c.value, c.txID)
		}
	}
	gw.Close()

	// The consumer saw each committed put once, the reported ones included.
	seen := map[string]int{}
	want := map[string]bool{}
	for _, c := range valid {
		want[c.key] = true
	}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			seen[string(ev.Payload)]++
			delete(want, string(ev.Payload))
			cp.Done(ev)
		case <-timeout:
			t.Fatalf("%d VALID puts never delivered as events", len(want))
		}
	}
	stopEvents()
	for key, n := range seen {
		if n != 1 {
			t.Errorf("event for %s delivered %d times", key, n)
		}
	}
	child.Process.Signal(syscall.SIGTERM)
	if err := child.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Fatalf("ledger process exited with %v", err)
	}

	// The block chain verifies, and the index agrees.
	s, err := store.Open(embedledger.StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	height, err := embedledger.VerifyStore(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := embedledger.VerifyState(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	s.View(func(snap *store.Snapshot) error {
		for _, c := range valid {
			st, ok := snap.TxStatus(c.txID)
			if !ok || st.Code != peer.TxValidationCode_VALID || st.Block >= height {
				t.Errorf("tx %s: status %+v, found %v", c.txID, st, ok)
			}
		}
		return nil
	})
	t.Logf("%d VALID transactions survived kill -9; chain of %d blocks verifies", len(valid), height)
}
