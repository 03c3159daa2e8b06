package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/cli"
)

// result is what one in-process run of the command line produced.
type result struct {
	code           int
	stdout, stderr string
}

func run(ctx context.Context, t testing.TB, env cli.Env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.Now == nil {
		env.Now = func() time.Time { return time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC) }
	}
	code := cli.Run(ctx, args, env)
	return result{code, out.String(), errb.String()}
}

func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		notInHelps []string
	}{
		{name: "help lists every command", args: []string{"help"}, code: 0,
			stdout: []string{"Usage:", "demo", "node ", "ledger", "round open", "token show", "token history", "token provenance", "audit verify", "slo generate", "dataset eval", "Examples:", "--output json"}},
		{name: "no arguments: the command list on stderr", args: nil, code: 2, stderr: []string{"Commands:", "missing command"}},
		{name: "node without a configuration", args: []string{"node"}, code: 2, stderr: []string{"--config is required"}},
		{name: "node with a missing configuration", args: []string{"node", "--config", "/nonexistent/org1.yaml"}, code: 1, stderr: []string{"no such file"}},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: []string{"Commands:"}},
		{name: "help of an unknown command", args: []string{"help", "frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "help of a leaf", args: []string{"help", "token", "show"}, code: 0, stdout: []string{"Usage: srellama token show [flags] TOKEN-ID", "-connection", "Examples:"}},
		{name: "-h of a leaf", args: []string{"slo", "generate", "-h"}, code: 0, stdout: []string{"Usage: srellama slo generate", "-source", "-generator", "-rules-out", "Examples:"}},
		{name: "-h of a group", args: []string{"token", "-h"}, code: 0, stdout: []string{"srellama token <command>", "provenance"}},
		{name: "audit help says what a real peer gets", args: []string{"audit", "verify", "-h"}, code: 0, stdout: []string{"real", "Fabric peer", "does not check the block chain"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "unknown subcommand", args: []string{"token", "burn"}, code: 2, stderr: []string{`unknown command "token burn"`}},
		{name: "missing subcommand", args: []string{"round"}, code: 2, stderr: []string{"round: missing subcommand", "open"}},
		{name: "unknown flag", args: []string{"token", "show", "--colour", "x"}, code: 2, stderr: []string{"flag provided but not defined: -colour", "srellama token show -h"}},
		{name: "missing argument", args: []string{"token", "history"}, code: 2, stderr: []string{"want 1 argument(s) TOKEN-ID, got 0"}},
		{name: "bad token ID", args: []string{"token", "show", "abc"}, code: 2, stderr: []string{`"abc" is not a token ID`}},
		{name: "bad output format", args: []string{"slo", "generate", "--service", "amf", "--output", "yaml"}, code: 2, stderr: []string{"--output must be table or json"}},
		{name: "no connection", args: []string{"token", "show", strings.Repeat("a", 64)}, code: 2, stderr: []string{"--connection is required"}},
		{name: "round open without id", args: []string{"round", "open", "--services", "amf"}, code: 2, stderr: []string{"--id and --services are required"}},
		{name: "round open with a bad strategy", args: []string{"round", "open", "--id", "r1", "--services", "amf", "--strategy", "vote"}, code: 2, stderr: []string{`strategy "vote" is not one of`}},
		{name: "round open with the deadline inside the commit window", args: []string{"round", "open", "--id", "r1", "--services", "amf", "--deadline", "5m"}, code: 2, stderr: []string{"--commit-window < --deadline"}},
		{name: "audit without a target", args: []string{"audit", "verify"}, code: 2, stderr: []string{"give --ledger-dir, --connection or both"}},
		{name: "audit of a folder that is no ledger", args: []string{"audit", "verify", "--ledger-dir", "/nonexistent"}, code: 1, stderr: []string{"is not an embedded ledger folder"}},
		{name: "slo generate without a service", args: []string{"slo", "generate"}, code: 2, stderr: []string{"--service is required"}},
		{name: "slo generate with a bad period", args: []string{"slo", "generate", "--service", "amf", "--period", "1h"}, code: 2, stderr: []string{"--period"}},
		{name: "slo generate with a partial-day history", args: []string{"slo", "generate", "--service", "amf", "--history", "36h"}, code: 2, stderr: []string{"must be whole days"}},
		{name: "slo generate from an unknown source", args: []string{"slo", "generate", "--service", "amf", "--source", "kafka"}, code: 2, stderr: []string{"--source must be simulator, prometheus or csv"}},
		{name: "slo generate with ollama but no model", args: []string{"slo", "generate", "--service", "amf", "--generator", "ollama"}, code: 2, stderr: []string{"needs --model"}},
		{name: "slo generate for a service the organization lacks", args: []string{"slo", "generate", "--service", "nosuch", "--end", "2026-03-09T00:00:00Z"}, code: 1, stderr: []string{"unknown service"}},
		{name: "dataset eval without a folder", args: []string{"dataset", "eval"}, code: 2, stderr: []string{"want 1 argument(s) DIR"}},
		{name: "dataset eval of an empty folder", args: []string{"dataset", "eval", "."}, code: 1, stderr: []string{"holds no machine-X-Y.test.csv"}},
		{name: "ledger on a public address", args: []string{"ledger", "--dir", "/nonexistent/ledger", "--listen", "0.0.0.0:7051"}, code: 1, stderr: []string{"is not a loopback address"}},
		{name: "ledger without a folder", args: []string{"ledger", "--dir", ""}, code: 2, stderr: []string{"--dir is required"}},
		{name: "ledger with no time window", args: []string{"ledger", "--time-window", "0s"}, code: 2, stderr: []string{"--time-window must be positive"}},
		{name: "ledger with in-flight bytes below a message", args: []string{"ledger", "--max-message-bytes", "1000", "--max-inflight-bytes", "999"}, code: 2, stderr: []string{"--max-inflight-bytes >= --max-message-bytes"}},
		{name: "ledger with a bad organization", args: []string{"ledger", "--orgs", "Org 1"}, code: 2, stderr: []string{`"Org 1" is not an MSP ID`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(context.Background(), t, cli.Env{}, tt.args...)
			if got.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", got.code, tt.code, got.stdout, got.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(got.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, got.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, got.stderr)
				}
			}
			for _, s := range tt.notInHelps {
				if strings.Contains(got.stdout, s) {
					t.Errorf("help lists %q, which is not a working command", s)
				}
			}
		})
	}
}

func TestHelpGolden(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"audit", "verify", "-h"}, {"token", "list", "-h"}, {"schedule", "set", "-h"}, {"token", "compliance", "-h"}, {"proposal", "approve", "-h"}} {
		r := run(context.Background(), t, cli.Env{}, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		golden(t, "help-"+strings.Join(args, "-"), r.stdout)
	}
}
