// Package promtool runs Prometheus's promtool on generated rules: the thin
// edge between the pure validator and the binary Debian's prometheus
// package installs.
package promtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/srellama/srellama/llm/ruletest"
)

// ErrNotFound is returned by Find when no promtool is installed.
var ErrNotFound = errors.New("promtool not found (install Debian's prometheus package, or set PROMTOOL)")

// Tool runs one promtool binary.
type Tool struct {
	Path string
	// Timeout bounds each run; zero means one minute.
	Timeout time.Duration
}

// Find locates promtool: $PROMTOOL, then PATH.
func Find() (Tool, error) {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return Tool{Path: p}, nil
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return Tool{}, ErrNotFound
	}
	return Tool{Path: p}, nil
}

// CheckRules runs `promtool check rules` on a rule file.
func (t Tool) CheckRules(ctx context.Context, rulesYAML string) error {
	dir, err := os.MkdirTemp("", "srellama-promtool-")
	if err != nil {
		return fmt.Errorf("promtool: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, ruletest.RulesFile)
	if err := os.WriteFile(path, []byte(rulesYAML), 0o600); err != nil {
		return fmt.Errorf("promtool: %w", err)
	}
	return t.run(ctx, dir, "check", "rules", path)
}

// TestRules runs `promtool test rules` with the rules next to the tests,
// under the name the tests refer to.
func (t Tool) TestRules(ctx context.Context, rulesYAML, testsYAML string) error {
	dir, err := os.MkdirTemp("", "srellama-promtool-")
	if err != nil {
		return fmt.Errorf("promtool: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, ruletest.RulesFile), []byte(rulesYAML), 0o600); err != nil {
		return fmt.Errorf("promtool: %w", err)
	}
	tests := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(tests, []byte(testsYAML), 0o600); err != nil {
		return fmt.Errorf("promtool: %w", err)
	}
	return t.run(ctx, dir, "test", "rules", tests)
}

func (t Tool) run(ctx context.Context, dir string, args ...string) error {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Path, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 4000 {
			msg = msg[:4000] + "..."
		}
		if ctx.Err() != nil {
			return fmt.Errorf("promtool %s: %w", strings.Join(args[:2], " "), ctx.Err())
		}
		return fmt.Errorf("promtool %s: %w: %s", strings.Join(args[:2], " "), err, msg)
	}
	return nil
}
