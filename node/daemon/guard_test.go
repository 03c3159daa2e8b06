package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/datadir"
	"github.com/srellama/srellama/node/source"
)

func noEvidence(context.Context, source.Source, string, source.Range) (builtin.Input, error) {
	return builtin.Input{}, errors.New("unused")
}

// A node whose configured organization is not the MSP of its ledger
// identity is refused before it dials, and one on a locked data folder
// before it reads anything.
func TestNodeGuards(t *testing.T) {
	dir := t.TempDir()
	conn := filepath.Join(dir, "org2.json")
	if err := os.WriteFile(conn, []byte(`{"endpoint":"127.0.0.1:1","tlsRootCert":"ca.pem","mspId":"Org2MSP","cert":"c.pem","key":"k.pem","channel":"ch","chaincode":"cc"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Organization = "Org1MSP"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Ledger.Connection = conn
	_, err := daemon.New(context.Background(), cfg, daemon.Parts{Evidence: noEvidence})
	if err == nil || !strings.Contains(err.Error(), "does not match the ledger identity's MSP Org2MSP") {
		t.Fatalf("organization mismatch: %v", err)
	}
	// The refused node released its lock; another process's lock refuses.
	held, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		t.Fatalf("a refused node kept the data folder locked: %v", err)
	}
	defer held.Release()
	cfg.Organization = "Org2MSP"
	_, err = daemon.New(context.Background(), cfg, daemon.Parts{Evidence: noEvidence})
	if !errors.Is(err, datadir.ErrLocked) {
		t.Fatalf("second node on a data folder: %v", err)
	}
}

// A wide CSV far longer than the node's history opens, keeping only the
// history's rows.
func TestWideCSVReadsOnlyTheHistory(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("timestamp,anomaly,latency\n")
	for i := range 20_000 {
		fmt.Fprintf(&b, "%d,0,%d\n", 1_700_000_000+60*i, i%97)
	}
	if err := os.WriteFile(filepath.Join(dir, "amf.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Source.Kind, cfg.Source.CSV.Dir, cfg.Source.CSV.Format = config.SourceCSV, dir, "wide"
	cfg.Source.History, cfg.Source.Step = "1d", "1m"
	src, err := daemon.OpenSource(context.Background(), cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	services, err := src.Services(context.Background())
	if err != nil || len(services) != 1 || services[0] != "amf" {
		t.Fatalf("services %v, %v", services, err)
	}
}
