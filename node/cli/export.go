package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/llm/export"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
)

// maxDefinitionFile bounds a definition or token file read from disk: a
// token is at most a few hundred KiB (nft.MaxRulesLen and the rest).
const maxDefinitionFile = 4 << 20

func runSLOExport(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "slo export", "[TOKEN-ID]", `
Export an SLO in another tool's format: a minted token read from the ledger
(TOKEN-ID with --connection) or a definition file (--definition: the JSON of
a token, or of a definition as 'slo generate --output json' prints it).

  openslo         OpenSLO v1 documents (SLO, AlertPolicy, AlertCondition,
                  AlertNotificationTarget), validated with the OpenSLO Go SDK;
                  queries are plain PromQL at the 5m window
  sloth           a Sloth prometheus/v1 spec; for periods other than 28d and
                  30d also Sloth's AlertWindows catalogue (--out writes it to
                  DIR/windows/, printed otherwise), to generate with
                  sloth generate --default-slo-period P --slo-period-windows-path DIR/windows
  pyrra           a Pyrra ServiceLevelObjective, for the SLIs Pyrra can express:
                  an error ratio sum(rate(errors[w])) / sum(rate(total[w])), or a
                  latency SLI over a histogram bucket and its _count (Pyrra takes
                  counter selectors, and its ratio counts errors: a good/total
                  ratio has no Pyrra form and is refused with that reason)
  prometheusrule  the token's own rules as a prometheus-operator PrometheusRule

With --out DIR the files are written there (named after the SLO's ID);
otherwise the export is printed.`, `
  srellama slo export --connection ./ledger/orgs/Org1MSP/connection.json --format openslo 4f1c0e...
  srellama slo generate --service amf --output json > amf.json && srellama slo export --definition amf.json --format sloth --out ./sloth
  srellama slo export --definition amf.json --format prometheusrule --namespace monitoring`)
	conn := connectionFlag(f, env, "")
	defFile := f.String("definition", "", "definition or token JSON file to export instead of a minted token")
	format := f.String("format", export.FormatOpenSLO, "openslo, sloth, pyrra or prometheusrule")
	out := f.String("out", "", "folder to write the export to (default: print it)")
	suffix := f.String("sloth-name-suffix", "-sloth", "sloth: appended to the SLO name, so Sloth's rules and the token's own can be loaded into one Prometheus side by side; \"\" to replace the token's rules with Sloth's (both under one name write the same series, which Prometheus refuses as out-of-order samples)")
	namespace := f.String("namespace", "monitoring", "prometheusrule, pyrra: namespace of the resource")
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	switch *format {
	case export.FormatOpenSLO, export.FormatSloth, export.FormatPrometheusRule, export.FormatPyrra:
	default:
		return usagef("slo export: --format must be openslo, sloth, pyrra or prometheusrule, got %q", *format)
	}
	var d nft.Definition
	switch {
	case len(pos) == 1 && *defFile != "":
		return usagef("slo export: give a TOKEN-ID or --definition, not both")
	case len(pos) == 1:
		if !nft.IsTokenID(pos[0]) {
			return usagef("slo export: %q is not a token ID (64 lowercase hex digits)", pos[0])
		}
		cc, closeLedger, err := dialClient(*conn, env)
		if err != nil {
			return err
		}
		defer closeLedger()
		t, err := cc.Token(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("slo export: %w", err)
		}
		if err := nft.ValidateToken(t); err != nil {
			return fmt.Errorf("slo export: the ledger's token does not validate: %w", err)
		}
		d = t.Definition
	case *defFile != "":
		if d, err = readDefinition(*defFile); err != nil {
			return fmt.Errorf("slo export: %w", err)
		}
	default:
		return usagef("slo export: give a TOKEN-ID (with --connection) or --definition FILE")
	}
	files, err := exportFiles(d, *format, *suffix, *namespace)
	if err != nil {
		return fmt.Errorf("slo export: %w", err)
	}
	exported := exportedFiles{Format: *format, Files: []exportedFile{}}
	if *out == "" {
		if f.json() {
			for _, file := range files {
				exported.Files = append(exported.Files, exportedFile{Name: file.name, Content: string(file.data)})
			}
			return writeJSON(env.Stdout, exported)
		}
		for i, file := range files {
			if i > 0 {
				fmt.Fprintf(env.Stdout, "---\n# %s\n", file.name)
			}
			env.Stdout.Write(file.data)
		}
		return nil
	}
	for _, file := range files {
		path := filepath.Join(*out, file.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("slo export: %w", err)
		}
		if err := devca.WriteFileAtomic(path, file.data, 0o644); err != nil {
			return fmt.Errorf("slo export: %w", err)
		}
		exported.Files = append(exported.Files, exportedFile{Name: file.name, Path: path})
		if !f.json() {
			fmt.Fprintf(env.Stderr, "wrote %s\n", path)
		}
	}
	if f.json() {
		return writeJSON(env.Stdout, exported)
	}
	return nil
}

// exportedFiles is the JSON output of slo export: each file with its
// content, or with the path it was written to under --out.
type exportedFiles struct {
	Format string         `json:"format"`
	Files  []exportedFile `json:"files"`
}

type exportedFile struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Content string `json:"content,omitempty"`
}

type exportFile struct {
	name string
	data []byte
}

// exportFiles returns the files of one definition's export, named after
// its ID. A Sloth windows catalogue is named after its period, so the
// catalogues of several SLOs share a folder without clashing.
func exportFiles(d nft.Definition, format, slothSuffix, namespace string) ([]exportFile, error) {
	id := render.ID(d)
	switch format {
	case export.FormatOpenSLO:
		data, err := export.OpenSLO(d)
		return []exportFile{{id + ".openslo.yaml", data}}, err
	case export.FormatSloth:
		s, err := export.Sloth(d, export.SlothOptions{NameSuffix: slothSuffix})
		if err != nil {
			return nil, err
		}
		files := []exportFile{{id + ".sloth.yaml", s.Spec}}
		if s.Windows != nil {
			files = append(files, exportFile{filepath.Join("windows", s.Period+".yaml"), s.Windows})
		}
		return files, nil
	case export.FormatPyrra:
		data, err := export.Pyrra(d, export.KubeOptions{Namespace: namespace})
		return []exportFile{{id + ".pyrra.yaml", data}}, err
	default:
		data, err := export.PrometheusRuleFor(d, export.KubeOptions{Namespace: namespace})
		return []exportFile{{id + ".prometheusrule.yaml", data}}, err
	}
}

// readDefinition reads a token or a definition from a JSON file and
// checks it with nft's validation.
func readDefinition(path string) (nft.Definition, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nft.Definition{}, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxDefinitionFile+1))
	if err != nil {
		return nft.Definition{}, err
	}
	if len(data) > maxDefinitionFile {
		return nft.Definition{}, fmt.Errorf("%s: larger than %d bytes", path, maxDefinitionFile)
	}
	var probe struct {
		Standard   string          `json:"standard"`
		Definition json.RawMessage `json:"definition"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nft.Definition{}, fmt.Errorf("%s: not JSON: %w", path, err)
	}
	if probe.Standard != "" || probe.Definition != nil {
		var t nft.Token
		if err := strictJSON(data, &t); err != nil {
			return nft.Definition{}, fmt.Errorf("%s: %w", path, err)
		}
		if err := nft.ValidateToken(t); err != nil {
			return nft.Definition{}, fmt.Errorf("%s: %w", path, err)
		}
		return t.Definition, nil
	}
	var d nft.Definition
	if err := strictJSON(data, &d); err != nil {
		return nft.Definition{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := nft.ValidateDefinition(d); err != nil {
		return nft.Definition{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON document")
	}
	return nil
}
