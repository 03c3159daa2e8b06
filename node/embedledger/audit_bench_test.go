package embedledger_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/loadgen"
)

// auditValue is what each transaction of the audited ledger writes: a key
// of its own with 2 KB, about what a token record holds.
var auditValue = strings.Repeat("v", 2048)

// BenchmarkAuditVerify times the offline audit of a stopped ledger (the
// chain check and the state check of 'srellama audit verify --ledger-dir')
// and its peak resident memory, at each size in $SRELLAMA_AUDIT_TXS
// (transactions, comma-separated; default 10000), each transaction writing
// a key of its own with 2 KB. Each audit runs in a child process, so that
// its memory is its own. "streaming" is VerifyState; "in-memory" the
// replay into maps it replaced (skipped above $SRELLAMA_AUDIT_INMEMORY_MAX
// transactions, default 100000). Building a ledger takes most of the time
// (370 transactions a second through the gateway on the loaded 2-core
// machine: 4.5 minutes for 100k); $SRELLAMA_AUDIT_DIR keeps them between
// runs. With $SRELLAMA_AUDIT_SYNTHESIZE set, all but the first 1,000
// transactions are copies of the last one with keys of their own, appended
// straight to the store (see AppendSyntheticBlocks), which builds a million
// in minutes:
//
//	SRELLAMA_AUDIT_TXS=10000,100000 SRELLAMA_AUDIT_DIR=/tmp/audit-ledgers \
//	  go test -run '^$' -bench AuditVerify -benchtime 1x -timeout 3h ./node/embedledger/
//	SRELLAMA_AUDIT_TXS=100000,1000000 SRELLAMA_AUDIT_SYNTHESIZE=1 SRELLAMA_AUDIT_DIR=/tmp/audit-synth \
//	  go test -run '^$' -bench AuditVerify -benchtime 1x -timeout 3h ./node/embedledger/
func BenchmarkAuditVerify(b *testing.B) {
	sizes := envOr("SRELLAMA_AUDIT_TXS", "10000")
	inMemoryMax, _ := strconv.Atoi(envOr("SRELLAMA_AUDIT_INMEMORY_MAX", "100000"))
	for _, s := range strings.Split(sizes, ",") {
		txs, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("SRELLAMA_AUDIT_TXS: %v", err)
		}
		dir := auditLedger(b, txs)
		for _, mode := range []string{"streaming", "in-memory"} {
			b.Run(fmt.Sprintf("txs=%d/%s", txs, mode), func(b *testing.B) {
				if mode == "in-memory" && txs > inMemoryMax {
					b.Skipf("above SRELLAMA_AUDIT_INMEMORY_MAX=%d", inMemoryMax)
				}
				cmd := exec.Command(os.Args[0], "-test.run", "^TestAuditChild$")
				cmd.Env = append(os.Environ(), "SRELLAMA_AUDIT_CHILD="+mode, "SRELLAMA_AUDIT_LEDGER="+dir)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("audit: %v\n%s", err, out)
				}
				var seconds float64
				var peakKB int
				for _, line := range strings.Split(string(out), "\n") {
					if _, err := fmt.Sscanf(line, "audited in %g s, peak %d kB", &seconds, &peakKB); err == nil {
						break
					}
				}
				if peakKB == 0 {
					b.Fatalf("the audit reported nothing:\n%s", out)
				}
				b.ReportMetric(seconds, "audit-s")
				b.ReportMetric(float64(peakKB)/1024, "peak-rss-MB")
				b.ReportMetric(float64(dirSize(dir))/(1<<20), "ledger-MB")
			})
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// auditLedger returns a stopped ledger of txs transactions, built once
// under $SRELLAMA_AUDIT_DIR if set.
func auditLedger(b *testing.B, txs int) string {
	base := os.Getenv("SRELLAMA_AUDIT_DIR")
	if base == "" {
		base = b.TempDir()
	}
	dir := filepath.Join(base, fmt.Sprintf("txs-%d", txs))
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	l := openLedger(b, dir, nil)
	clients := make([]ledger.Ledger, 32)
	for i := range clients {
		clients[i] = connect(b, l, testOrgs[i%3], "client", kvName)
	}
	keys := make([]string, txs)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%09d", i)
	}
	start := time.Now()
	real := keys
	synthesize := os.Getenv("SRELLAMA_AUDIT_SYNTHESIZE") != ""
	if synthesize {
		real = keys[:min(len(keys), 1000)]
	}
	if _, err := loadgen.ClosedLoop(context.Background(), clients, real, func(ctx context.Context, gw ledger.Ledger, key string) error {
		_, _, err := gw.Submit(ctx, "put", key, auditValue)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if synthesize && len(keys) > len(real) {
		if err := l.AppendSyntheticBlocks(len(keys)-len(real), 500, func(i int) string { return keys[len(real)+i] }); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built a ledger of %d transactions in %s", txs, time.Since(start).Round(time.Second))
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// TestAuditChild is the audit benchmark's audit, run in a child process;
// it is skipped otherwise.
func TestAuditChild(t *testing.T) {
	mode := os.Getenv("SRELLAMA_AUDIT_CHILD")
	if mode == "" {
		t.Skip("the audit benchmark's child process")
	}
	ctx := context.Background()
	start := time.Now()
	s, err := embedledger.OpenStoreForAudit(os.Getenv("SRELLAMA_AUDIT_LEDGER"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := embedledger.VerifyStore(ctx, s); err != nil {
		t.Fatal(err)
	}
	if mode == "streaming" {
		err = embedledger.VerifyState(ctx, s)
	} else {
		err = embedledger.VerifyStateInMemory(ctx, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("SRELLAMA_AUDIT_HEAP"); path != "" {
		f, _ := os.Create(path)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	raw, _ := os.ReadFile("/proc/self/status")
	peak := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peak, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	fmt.Printf("audited in %.2f s, peak %d kB\n", time.Since(start).Seconds(), peak)
}
