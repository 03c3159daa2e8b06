package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
)

// leafCommands lists the commands 'srellama help' names.
func leafCommands(t *testing.T) []string {
	t.Helper()
	r := run(context.Background(), t, cli.Env{}, "help")
	_, list, _ := strings.Cut(r.stdout, "Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var out []string
	for _, line := range strings.Split(list, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		out = append(out, name)
	}
	return out
}

// Every command's --output json prints JSON that encoding/json parses:
// run here against a running ledger, or by the test named, or, for the
// daemon alone, not at all (it prints nothing: its log is JSON lines).
func TestEveryCommandPrintsJSON(t *testing.T) {
	ctx := context.Background()
	dir := startConsortiumLedger(t)
	admin1 := embedledger.AdminConnectionConfigPath(dir, "Org1MSP")
	client2 := embedledger.ConnectionConfigPath(dir, "Org2MSP")
	id := mint(t, dir, "amf")
	work := t.TempDir()
	spec := filepath.Join(work, "amf.yaml")
	if err := os.WriteFile(spec, []byte(slothKube), 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(work, "amf.json")
	now := time.Now()
	// The lifecycle commands each act on a token or proposal of their own:
	// the commands run in no set order.
	breached, retiring := mint(t, dir, "smf"), mint(t, dir, "upf")
	attestDays(t, dir, "Org1MSP", breached, 3, 3)
	attestDays(t, dir, "Org2MSP", retiring, 3, -1)
	approving, rejecting := openProposal(t, dir, "ausf"), openProposal(t, dir, "nrf")

	runs := map[string][]string{
		"round open":         {"--connection", admin1, "--id", "r1", "--services", "smf,amf"},
		"round list":         {"--connection", client2},
		"round status":       {"--connection", client2, "r1"},
		"proposal list":      {"--connection", client2},
		"proposal show":      {"--connection", client2, id},
		"generation request": {"--connection", admin1, "--service", "udm", "--slis", "fivegs_udm_ueauth_req"},
		"token list":         {"--connection", client2},
		"token show":         {"--connection", client2, id},
		"token history":      {"--connection", client2, id},
		"token provenance":   {"--connection", client2, id},
		"token transfer":     {"--connection", admin1, id, "--to", "Org3MSP"},
		"schedule set":       {"--connection", admin1, "--id", "daily", "--services", "smf,amf", "--cadence", "24h"},
		"schedule show":      {"--connection", client2, "daily"},
		"schedule stop":      {"--connection", admin1, "daily", "--reason", "a test"},
		"token compliance":   {"--connection", client2, breached},
		"token revise":       {"--connection", client2, breached},
		"token retire":       {"--connection", client2, retiring, "--on-evidence"},
		"proposal approve":   {"--connection", client2, approving, "--reason", "looks right"},
		"proposal reject":    {"--connection", client2, rejecting, "--reason", "objective too strict"},
		"audit verify":       {"--connection", client2},
		"version":            {"--connection", client2},
		"slo generate":       {"--org", "Org1MSP", "--service", "amf", "--history", "1d", "--end", "2026-03-09T00:00:00Z"},
		"slo export":         {"--connection", client2, "--format", "sloth", id},
		"slo import":         {spec, "--out", filepath.Join(work, "imported")},
		"simulate":           {"--backfill", "1h", "--out", filepath.Join(work, "sim.om")},
	}
	elsewhere := map[string]string{
		"demo":         "TestWriteJSONEncodesNonFiniteFigures (the demo's result with NaN and Inf; the demo takes 10-60 s)",
		"ledger":       "TestLedgerDescribesItselfInJSON",
		"dataset eval": "TestDatasetEval",
		"round close":  "none yet: a close needs the round's deadline plus the chaincode's 15-minute time window behind the client's clock, which no test waits for; TestScheduleCommands checks its refusal on a running ledger",
		"node":         "none: the daemon prints nothing on stdout, and its log on stderr is JSON lines",
	}
	for _, name := range leafCommands(t) {
		args, ok := runs[name]
		if !ok {
			if _, ok := elsewhere[name]; !ok {
				t.Errorf("%q has no --output json check: add it to this test", name)
			}
			continue
		}
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			r := run(ctx, t, cli.Env{Now: func() time.Time { return now }}, append(append(strings.Fields(name), args...), "--output", "json")...)
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil || v == nil {
				t.Fatalf("exit %d, %v\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
			}
			if name == "slo generate" { // feeds slo export --definition
				os.WriteFile(def, []byte(r.stdout), 0o644)
			}
		})
	}
	r := run(ctx, t, cli.Env{}, "slo", "export", "--definition", def, "--format", "openslo", "--out", filepath.Join(work, "out"), "--output", "json")
	var exported struct {
		Files []struct{ Name, Path string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &exported); err != nil || len(exported.Files) == 0 || exported.Files[0].Path == "" {
		t.Errorf("slo export --out --output json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	if r := run(ctx, t, cli.Env{}, "simulate", "--backfill", "1h", "--output", "json"); r.code != 2 || !strings.Contains(r.stderr, "--out") {
		t.Errorf("simulate backfill to stdout with --output json: %d %q", r.code, r.stderr)
	}
}
