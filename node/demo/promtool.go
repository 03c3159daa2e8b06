package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/srellama/srellama/node/rulesync"
)

// checkWithPromtool runs Prometheus's own checks on the rules the demo
// wrote, when promtool is on PATH: `promtool check rules` on every rule
// file and `promtool test rules` on every generated test file beside them.
// It returns what it did in words, or an error naming the file promtool
// refused.
func checkWithPromtool(ctx context.Context, sum *Summary) (string, error) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return "promtool not on PATH: rule files not checked by promtool", nil
	}
	checked, tested := 0, 0
	for _, t := range sum.Tokens {
		rules := filepath.Join(sum.RulesDir, rulesync.FileName(t))
		if out, err := exec.CommandContext(ctx, promtool, "check", "rules", rules).CombinedOutput(); err != nil {
			return "", fmt.Errorf("demo: promtool check rules %s: %v\n%s", rules, err, out)
		}
		checked++
		tests := filepath.Join(sum.RulesDir, rulesync.TestsDir, rulesync.TestFileName(t))
		if !fileExists(tests) {
			continue // rules the test generator cannot write series for
		}
		if out, err := exec.CommandContext(ctx, promtool, "test", "rules", tests).CombinedOutput(); err != nil {
			return "", fmt.Errorf("demo: promtool test rules %s: %v\n%s", tests, err, out)
		}
		tested++
	}
	return fmt.Sprintf("promtool: %d rule files pass check rules, %d generated unit-test files pass test rules", checked, tested), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
