package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
)

const slothKube = `apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: amf
spec:
  service: amf
  slos:
    - name: reginit-errors
      objective: 99.5
      description: Initial registrations that fail at the AMF.
      sli:
        events:
          errorQuery: sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}])) - sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))
          totalQuery: sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))
      alerting:
        name: AMFRegistrationErrors
`

func TestSLOImportOfflineWritesValidatedRules(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "amf.yaml")
	os.WriteFile(spec, []byte(slothKube), 0o644)
	out := filepath.Join(dir, "out")
	r := run(context.Background(), t, cli.Env{}, "slo", "import", spec, "--period", "28d", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "amf-reginit-errors.definition.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d nft.Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	src := d.Provenance.Source
	if src == nil || src.Format != "sloth/kubernetes-v1" || src.Digest != nft.DigestBytes([]byte(slothKube)) || d.SLO.Period != "4w" || d.Provenance.Generator.Kind != nft.GeneratorImport {
		t.Errorf("provenance %+v, period %s", d.Provenance, d.SLO.Period)
	}
	rules, _ := os.ReadFile(filepath.Join(out, "amf-reginit-errors.rules.yml"))
	checkRules(t, string(rules))

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(slothKube, "objective: 99.5", "objective: 100", 1)), 0o644)
	if r := run(context.Background(), t, cli.Env{}, "slo", "import", bad, "--out", filepath.Join(dir, "bad")); r.code != cli.ExitFail {
		t.Errorf("an objective of 100%%: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Error("a refused import wrote something")
	}
}

// An imported SLO goes to the consortium's vote, is minted on a second
// member's approval with its import provenance, and exports from the
// ledger by token ID.
func TestSLOImportProposesAndTheTokenExports(t *testing.T) {
	ledgerDir, _ := startLedger(t)
	for _, org := range orgs {
		submit(t, dial(t, embedledger.AdminConnectionConfigPath(ledgerDir, org)), nil, "Consortium:RegisterOrganization", org+" Telecom")
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "amf.yaml")
	os.WriteFile(spec, []byte(slothKube), 0o644)
	ctx := context.Background()
	admin := embedledger.AdminConnectionConfigPath(ledgerDir, "Org1MSP")
	r := run(ctx, t, cli.Env{}, "slo", "import", spec, "--propose", "--connection", admin)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fields := strings.Fields(r.stdout[strings.Index(r.stdout, "proposed "):])
	id := fields[1]
	client2 := dial(t, embedledger.ConnectionConfigPath(ledgerDir, "Org2MSP"))
	var approved records.Proposal
	submit(t, client2, &approved, "Generation:Approve", id)
	if approved.Status != records.ProposalMinted {
		t.Fatalf("not minted: %+v", approved)
	}
	r = run(ctx, t, cli.Env{}, "slo", "export", "--connection", embedledger.ConnectionConfigPath(ledgerDir, "Org3MSP"), "--format", "openslo", approved.TokenID)
	if r.code != 0 || !strings.Contains(r.stdout, "kind: SLO") || !strings.Contains(r.stdout, "reginit-errors") {
		t.Fatalf("export of the minted token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(ctx, t, cli.Env{}, "token", "show", "--connection", embedledger.ConnectionConfigPath(ledgerDir, "Org3MSP"), "--output", "json", approved.TokenID)
	var tok nft.Token
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatal(err)
	}
	if s := tok.Definition.Provenance.Source; s == nil || s.Digest != nft.DigestBytes([]byte(slothKube)) || s.Name != "amf.yaml" {
		t.Errorf("minted provenance source %+v", s)
	}
}
