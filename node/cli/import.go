package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/importer"
	"github.com/srellama/srellama/llm/promtool"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Import provenance.
const (
	importerName    = "srellama-import"
	importerVersion = "1.0.0"
)

func runSLOImport(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "slo import", "FILE", `
Import SLOs a team already has: a Sloth prometheus/v1 spec, a Sloth
PrometheusServiceLevel (Kubernetes), or OpenSLO v1 documents (SLO with an
inline or referenced ratioMetric SLI on Prometheus queries). Each SLO is
rendered and validated by the project's own pipeline (promql/parser,
rulefmt, and promtool with --promtool), with the workbook alert policy for
its period, and its provenance records the file's format, name and SHA-256.

Offline (--out DIR) the rules and the definition's JSON are written there.
With --propose, each definition goes to the consortium's vote as a
generation proposal: an explicit generation request for its service
(Generation:Request, which needs an admin identity), then the proposal
(Generation:Propose); the other members review it on their own data.`, `
  srellama slo import slos.sloth.yaml --period 28d --out ./imported
  srellama slo import checkout.openslo.yaml --out ./imported --promtool
  srellama slo import slos.sloth.yaml --propose --connection ./ledger/orgs/Org1MSP/connection-admin.json`)
	period := f.String("period", "30d", "period of Sloth SLOs (Sloth specs carry none; OpenSLO's timeWindow is used as it is)")
	out := f.String("out", "", "folder to write each SLO's rules and definition JSON to")
	propose := f.Bool("propose", false, "submit each SLO as a generation proposal on the ledger (needs --connection with an admin identity)")
	conn := connectionFlag(f, env, "; with --propose")
	proposer := f.String("proposer", "", "MSP ID recorded as proposer offline (with --propose: the connection's)")
	usePromtool := f.Bool("promtool", false, "also validate with promtool check rules and generated unit tests")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if !*propose && *out == "" {
		return usagef("slo import: give --out DIR, --propose, or both")
	}
	if _, err := slo.Period(*period); err != nil {
		return usagef("slo import: --period: %v", err)
	}
	fh, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("slo import: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(fh, importer.MaxFile+1))
	fh.Close()
	if err != nil {
		return fmt.Errorf("slo import: %w", err)
	}
	res, err := importer.Parse(data, *period)
	if err != nil {
		return fmt.Errorf("slo import %s: %w", pos[0], err)
	}
	var gw *ledger.Gateway
	if *propose {
		cfg, err := ledger.LoadConfig(*conn)
		if *conn == "" {
			return usagef("slo import: --propose needs --connection (or SRELLAMA_CONNECTION)")
		}
		if err != nil {
			return err
		}
		*proposer = cfg.MSPID
		if gw, err = dialLedger(*conn, env); err != nil {
			return err
		}
		defer gw.Close()
	}
	if *proposer == "" {
		*proposer = "Org1MSP"
	}
	v := validate.Validator{}
	if *usePromtool {
		tool, err := promtool.Find()
		if err != nil {
			return fmt.Errorf("slo import: --promtool: %w", err)
		}
		v.Promtool = tool
	}
	source := &nft.Source{Format: res.Format, Name: filepath.Base(pos[0]), Digest: nft.DigestBytes(data)}
	// Everything is built and validated before anything is written or
	// submitted: a file with one bad SLO changes nothing.
	var defs []nft.Definition
	for _, imp := range res.SLOs {
		d, err := importDefinition(ctx, v, imp, source, *proposer, "")
		if err != nil {
			return fmt.Errorf("slo import %s: %w", pos[0], err)
		}
		defs = append(defs, d)
	}
	imported := importedSLOs{SLOs: []importedSLO{}}
	for i, d := range defs {
		slo := importedSLO{Service: d.SLI.Service, Name: d.Name, Objective: d.SLO.Objective, Period: d.SLO.Period, Result: "validated"}
		if *out != "" {
			if err := writeImported(*out, d); err != nil {
				return fmt.Errorf("slo import: %w", err)
			}
			slo.Result, slo.WrittenTo = "written to "+*out, *out
		}
		if gw != nil {
			id, err := proposeImported(ctx, chaincode.New(gw), v, res.SLOs[i], source, *proposer)
			if err != nil {
				return fmt.Errorf("slo import: %s: %w", d.Name, err)
			}
			slo.Result, slo.ProposalID = "proposed "+id, id
		}
		imported.SLOs = append(imported.SLOs, slo)
	}
	if f.json() {
		return writeJSON(env.Stdout, imported)
	}
	t := newTable(env.Stdout, "SERVICE", "SLO", "OBJECTIVE", "PERIOD", "RESULT")
	for _, slo := range imported.SLOs {
		t.row(slo.Service, slo.Name, formatObjective(slo.Objective), slo.Period, slo.Result)
	}
	t.flush()
	return nil
}

// importedSLOs is the JSON output of slo import.
type importedSLOs struct {
	SLOs []importedSLO `json:"slos"`
}

type importedSLO struct {
	Service    string  `json:"service"`
	Name       string  `json:"name"`
	Objective  float64 `json:"objective"`
	Period     string  `json:"period"`
	Result     string  `json:"result"`
	WrittenTo  string  `json:"written_to,omitempty"`
	ProposalID string  `json:"proposal_id,omitempty"`
}

// importDefinition builds and validates one imported SLO's definition.
func importDefinition(ctx context.Context, v validate.Validator, imp importer.Imported, source *nft.Source, proposer, requestID string) (nft.Definition, error) {
	d, err := slo.Build(imp.Spec, slo.Draft{
		Metrics: imp.Metrics,
		Provenance: nft.Provenance{
			Generator:           nft.Generator{Kind: nft.GeneratorImport, Name: importerName, Version: importerVersion},
			Source:              source,
			Proposer:            proposer,
			GenerationRequestID: requestID,
			Contributors:        []string{},
		},
		PeriodSLI: imp.PeriodSLI,
	})
	if err != nil {
		return nft.Definition{}, err
	}
	return v.Finish(ctx, d)
}

// proposeImported asks for a generation request for the SLO's service,
// assigned to the caller, and answers it with the imported definition.
func proposeImported(ctx context.Context, cc *chaincode.Client, v validate.Validator, imp importer.Imported, source *nft.Source, proposer string) (string, error) {
	requested, err := cc.RequestGeneration(ctx, records.RequestSpec{Service: imp.Spec.Service, SLIs: imp.Metrics, Assignee: proposer})
	if err != nil {
		return "", err
	}
	req := requested.Result
	d, err := importDefinition(ctx, v, imp, source, proposer, req.ID)
	if err != nil {
		return "", err
	}
	if _, err := cc.Propose(ctx, req.ID, d); err != nil {
		return "", err
	}
	return nft.TokenIDOf(d)
}

func writeImported(dir string, d nft.Definition) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, render.ID(d))
	if err := devca.WriteFileAtomic(base+".rules.yml", []byte(d.Rules.YAML), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return devca.WriteFileAtomic(base+".definition.json", append(js, '\n'), 0o644)
}
