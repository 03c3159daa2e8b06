package demo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/demo"
	"github.com/srellama/srellama/node/rulesync"
)

// TestDemo is the one-command demo as an end-to-end test: tokens minted for
// the round's services, the rule files valid, the audit passing.
func TestDemo(t *testing.T) {
	var progress strings.Builder
	dir := t.TempDir()
	opt := demo.Options{OutputDir: dir, Evidence: cli.Evidence, Progress: &progress, Timeout: 4 * time.Minute}
	sum, err := demo.Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	if len(sum.Tokens) == 0 || !sum.AuditOK || sum.Blocks == 0 || len(sum.Backtests) != len(sum.Tokens) {
		t.Fatalf("summary: %d tokens, audit %v, %d blocks", len(sum.Tokens), sum.AuditOK, sum.Blocks)
	}
	// The node's default relevance policy is deviation: the round says
	// its ranking is the fallback, and every SLO's provenance says its
	// proposer ranked the metrics by local deviation.
	for _, sr := range sum.Round.Ranking {
		if sr.Basis != records.RankingDeviationFallback || sr.Reason == "" {
			t.Fatalf("ranking of %s: basis %q, reason %q; want the deviation fallback with its reason", sr.Service, sr.Basis, sr.Reason)
		}
	}
	// (A revision keeps the SLI of the version it supersedes, ranked by no
	// new round: its provenance names no basis.)
	for _, tok := range sum.Tokens {
		if tok.Definition.Supersedes != "" {
			continue
		}
		if b := tok.Definition.Provenance.RankingBasis; b != nft.RankingLocalDeviation {
			t.Fatalf("token %s: ranking basis %q, want %q", tok.Definition.Name, b, nft.RankingLocalDeviation)
		}
	}
	report, err := os.ReadFile(sum.Report)
	if err != nil || !strings.Contains(string(report), "## SLOs") || !strings.Contains(string(report), "## Backtests") || !strings.Contains(string(report), "backtest-") {
		t.Fatalf("report: %v", err)
	}
	promtool, err := exec.LookPath("promtool")
	for _, tok := range sum.Tokens {
		path := filepath.Join(sum.RulesDir, rulesync.FileName(tok))
		if _, statErr := os.Stat(path); statErr != nil {
			t.Fatalf("rules of %s not written: %v", tok.Definition.Name, statErr)
		}
		if err == nil {
			if out, cerr := exec.Command(promtool, "check", "rules", path).CombinedOutput(); cerr != nil {
				t.Fatalf("promtool check rules %s: %v\n%s", path, cerr, out)
			}
		}
	}
	if err == nil {
		for _, tok := range sum.Tokens {
			if _, serr := os.Stat(filepath.Join(sum.RulesDir, rulesync.TestsDir, rulesync.TestFileName(tok))); serr != nil && tok.Definition.SLI.ErrorRatioQuery == "" {
				t.Errorf("no promtool test file beside the rules of %s: %v", tok.Definition.Name, serr)
			}
		}
		if !strings.Contains(sum.Promtool, "pass test rules") {
			t.Errorf("the demo did not run promtool: %q", sum.Promtool)
		}
	}
	checkLoop(t, sum, filepath.Join(dir, "nodes"), []string{"Org1MSP", "Org2MSP", "Org3MSP"})
	t.Logf("demo: %d tokens in %s\n%s", len(sum.Tokens), sum.Elapsed, progress.String())
}
