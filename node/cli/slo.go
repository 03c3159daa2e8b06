package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/ollama"
	"github.com/srellama/srellama/llm/promtool"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/csvsource"
	"github.com/srellama/srellama/node/source/promsource"
	"github.com/srellama/srellama/node/source/sim"
)

// sourceFlags are the metric source options of slo generate.
type sourceFlags struct {
	kind                         *string
	seed                         *uint64
	org                          *string
	faultsPerDay                 *float64
	promURL, promUser, promOrgID *string
	serviceLabel                 *string
	csvDir, csvFormat            *string
}

func addSourceFlags(f *flags) sourceFlags {
	return sourceFlags{
		kind:         f.String("source", "simulator", "metric source: simulator, prometheus or csv"),
		seed:         f.Uint64("seed", 1, "simulator: seed of the organization's plan"),
		org:          f.String("org", "Org1MSP", "simulator: organization whose plan (services, faults) is simulated; also the proposer"),
		faultsPerDay: f.Float64("faults-per-day", 2, "simulator: chaos faults a day"),
		promURL:      f.String("prometheus-url", "", "prometheus: API root, e.g. http://127.0.0.1:9090 (bearer token from $SRELLAMA_PROMETHEUS_TOKEN, basic-auth password from $SRELLAMA_PROMETHEUS_PASSWORD)"),
		promUser:     f.String("prometheus-user", "", "prometheus: basic-auth user"),
		promOrgID:    f.String("prometheus-org-id", "", "prometheus: tenant sent as X-Scope-OrgID (Mimir, Cortex)"),
		serviceLabel: f.String("service-label", "service", "prometheus: label naming a service"),
		csvDir:       f.String("csv-dir", "", "csv: dataset folder"),
		csvFormat:    f.String("csv-format", "smd", "csv: dataset format, smd or nezha"),
	}
}

// open opens the chosen source over a history window ending at end (zero:
// now, or the end of a CSV service's data).
func (sf sourceFlags) open(ctx context.Context, env Env, service string, history time.Duration, end time.Time) (source.Source, time.Time, error) {
	switch *sf.kind {
	case "simulator":
		if end.IsZero() {
			end = env.Now().UTC().Truncate(time.Minute)
		}
		start := end.Add(-history)
		cfg, err := sim.Plan(*sf.org, *sf.seed, start, end, *sf.faultsPerDay)
		if err != nil {
			return nil, time.Time{}, err
		}
		s, err := sim.New(cfg)
		return s, end, err
	case "prometheus":
		if *sf.promURL == "" {
			return nil, time.Time{}, usagef("slo generate: --source prometheus needs --prometheus-url")
		}
		if end.IsZero() {
			end = env.Now().UTC().Truncate(time.Minute)
		}
		s, err := promsource.New(promsource.Config{
			URL: *sf.promURL, BearerToken: env.Getenv("SRELLAMA_PROMETHEUS_TOKEN"),
			Username: *sf.promUser, Password: env.Getenv("SRELLAMA_PROMETHEUS_PASSWORD"),
			OrgID: *sf.promOrgID, ServiceLabel: *sf.serviceLabel,
			DiscoveryWindow: history, Now: func() time.Time { return end },
		})
		return s, end, err
	case "csv":
		if *sf.csvDir == "" {
			return nil, time.Time{}, usagef("slo generate: --source csv needs --csv-dir")
		}
		var src *csvsource.Source
		switch *sf.csvFormat {
		case "smd":
			s, err := csvsource.OpenSMD(ctx, *sf.csvDir)
			if err != nil {
				return nil, time.Time{}, err
			}
			src = s.Source
		case "nezha":
			s, err := csvsource.OpenNezha(ctx, *sf.csvDir, csvsource.NezhaOptions{})
			if err != nil {
				return nil, time.Time{}, err
			}
			src = s
		default:
			return nil, time.Time{}, usagef("slo generate: --csv-format must be smd or nezha, got %q", *sf.csvFormat)
		}
		if end.IsZero() {
			_, last, err := src.Span(service)
			if err != nil {
				return nil, time.Time{}, err
			}
			end = last
		}
		return src, end, nil
	default:
		return nil, time.Time{}, usagef("slo generate: --source must be simulator, prometheus or csv, got %q", *sf.kind)
	}
}

func runSLOGenerate(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "slo generate", "", `
Generate one service's SLO offline: read the service's series from a metric
source over --history, turn them into daily evidence (counter increases,
gauge means, histogram bucket increases), and let a generator choose the SLI,
suggest an objective the history supports, and render multi-window
multi-burn-rate Prometheus rules, validated with Prometheus's own parser.
Without a federated round there is no learned ranking: metrics are ranked in
the order the source lists them, after those named by --rank.

The output is the SLO summary and the rendered rules (--rules-out writes them
to a file instead); --output json prints the nft.Definition a node would
propose for minting. The ollama generator asks a model served by Ollama and
falls back to the builtin generator (saying why) when no answer validates.

An SLI needs success and request counters, a latency histogram or an up/ready
gauge. The CSV datasets in ../shared/datasets (SMD, Nezha) hold only other
gauges, so generation from them is refused, with the reason for each metric.`, `
  srellama slo generate --service amf
  srellama slo generate --source simulator --org Org2MSP --seed 7 --service upf --period 28d --rules-out upf.rules.yml
  srellama slo generate --service amf --rank sbi_server_request_duration_seconds
  SRELLAMA_PROMETHEUS_TOKEN=... srellama slo generate --source prometheus --prometheus-url https://mimir.example.com/prometheus --service amf --history 14d
  srellama slo generate --source csv --csv-dir ./export --csv-format smd --service machine-1-1 --history 3d
  srellama slo generate --service amf --generator ollama --model srellama-slo --output json`)
	sf := addSourceFlags(f)
	service := f.String("service", "", "service to generate an SLO for; required")
	period := f.String("period", "30d", "SLO compliance period (1d to 366d)")
	history := f.String("history", "7d", "history the objective is suggested from (whole days)")
	step := f.Duration("step", 5*time.Minute, "sampling step of the history")
	endFlag := f.String("end", "", "end of the history, RFC 3339 (default: now; for csv the end of the service's data)")
	generator := f.String("generator", "builtin", "generator: builtin or ollama")
	ollamaHost := f.String("ollama-host", firstNonEmpty(env.Getenv("OLLAMA_HOST"), "http://127.0.0.1:11434"), "ollama: server URL (default $OLLAMA_HOST)")
	model := f.String("model", "", "ollama: model name")
	proposer := f.String("proposer", "", "MSP ID recorded as the proposer (default --org)")
	rulesOut := f.String("rules-out", "", "write the Prometheus rule file here instead of printing it")
	usePromtool := f.Bool("promtool", false, "also validate with promtool check rules and generated rule unit tests (promtool from $PROMTOOL or PATH)")
	rank := f.String("rank", "", "metrics to rank first, most relevant first, comma-separated (a histogram by its base name); default: the source's listing order")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *service == "" {
		return usagef("slo generate: --service is required")
	}
	if _, err := slo.Period(*period); err != nil {
		return usagef("slo generate: --period: %v", err)
	}
	hist, err := nft.ParseDuration(*history)
	if err != nil || hist < 24*time.Hour || hist%(24*time.Hour) != 0 {
		return usagef("slo generate: --history %q must be whole days (e.g. 7d)", *history)
	}
	var end time.Time
	if *endFlag != "" {
		if end, err = time.Parse(time.RFC3339, *endFlag); err != nil {
			return usagef("slo generate: --end: %v", err)
		}
	}
	if *generator != "builtin" && *generator != "ollama" {
		return usagef("slo generate: --generator must be builtin or ollama, got %q", *generator)
	}
	if *generator == "ollama" && *model == "" {
		return usagef("slo generate: --generator ollama needs --model")
	}
	if *proposer == "" {
		*proposer = *sf.org
	}
	src, end, err := sf.open(ctx, env, *service, hist, end)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "reading %s history of %s from the %s source\n", *history, *service, *sf.kind)
	in, err := Evidence(ctx, src, *service, source.Range{Start: end.Add(-hist), End: end, Step: *step})
	if err != nil {
		return fmt.Errorf("slo generate: %w", err)
	}
	if names := splitList(*rank); len(names) > 0 {
		if in, err = RankFirst(in, names); err != nil {
			return usagef("slo generate: --rank: %v", err)
		}
	}
	in.Period, in.Proposer = *period, *proposer
	fmt.Fprintf(env.Stderr, "generating with the %s generator from %d metrics\n", *generator, len(in.Metrics))
	gen := builtin.Generator{Validator: validate.Validator{KnownMetrics: metricNames(in)}}
	if *usePromtool {
		tool := promtool.Tool{Path: env.Getenv("PROMTOOL")}
		if tool.Path == "" {
			if tool, err = promtool.Find(); err != nil {
				return fmt.Errorf("slo generate: --promtool: %w", err)
			}
		}
		gen.Validator.Promtool = tool
	}
	var def nft.Definition
	if *generator == "builtin" {
		def, err = gen.Generate(ctx, in)
	} else {
		def, err = generateWithOllama(ctx, *ollamaHost, *model, gen, in)
	}
	if err != nil {
		return fmt.Errorf("slo generate: %w", err)
	}
	if *rulesOut != "" {
		if err := devca.WriteFileAtomic(*rulesOut, []byte(def.Rules.YAML), 0o644); err != nil {
			return fmt.Errorf("slo generate: %w", err)
		}
		fmt.Fprintf(env.Stderr, "rules written to %s\n", *rulesOut)
	}
	if f.json() {
		return writeJSON(env.Stdout, def)
	}
	printDefinition(env.Stdout, def, *rulesOut == "")
	return nil
}

func generateWithOllama(ctx context.Context, host, model string, fallback builtin.Generator, in builtin.Input) (nft.Definition, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nft.Definition{}, usagef("slo generate: --ollama-host %q is not a URL (http://host:port)", host)
	}
	g := ollama.Generator{Client: api.NewClient(u, http.DefaultClient), Config: ollama.Config{Model: model}, Builtin: fallback}
	res, err := g.Generate(ctx, in)
	if err != nil {
		return nft.Definition{}, err
	}
	return res.Definition, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func printDefinition(w io.Writer, d nft.Definition, withRules bool) {
	sli := d.SLI
	kv := []string{"slo", d.Name, "service", sli.Service, "kind", string(sli.Kind)}
	if sli.ErrorRatioQuery != "" {
		kv = append(kv, "error ratio", sli.ErrorRatioQuery)
	} else {
		kv = append(kv, "good events", sli.GoodQuery, "all events", sli.TotalQuery)
	}
	if sli.LatencyThreshold > 0 {
		kv = append(kv, "latency threshold", fmt.Sprintf("%gs", sli.LatencyThreshold))
	}
	gen := d.Provenance.Generator
	genName := gen.Name + " " + gen.Version
	if gen.Model != "" {
		genName += " (" + gen.Model + ")"
	}
	if gen.FallbackReason != "" {
		genName += "; fell back to builtin: " + gen.FallbackReason
	}
	kv = append(kv, "objective", formatObjective(d.SLO.Objective), "period", d.SLO.Period,
		"error budget", formatObjective(d.SLO.ErrorBudget), "generator", genName, "rules digest", d.Rules.Digest)
	fmt.Fprintln(w, d.Description)
	fmt.Fprintln(w)
	fields(w, kv...)
	fmt.Fprintln(w)
	t := newTable(w, "ALERT", "SEVERITY", "LONG WINDOW", "SHORT WINDOW", "BUDGET CONSUMED", "BURN RATE")
	for _, a := range d.SLO.AlertPolicy {
		t.row(a.Name, string(a.Severity), a.LongWindow, a.ShortWindow, fmt.Sprintf("%.4g%%", 100*a.BudgetConsumed), fmt.Sprintf("%.4g", a.BurnRate))
	}
	t.flush()
	fmt.Fprintln(w)
	t = newTable(w, "VALIDATION", "RESULT", "DETAIL")
	for _, c := range d.Provenance.Validation {
		result := "passed"
		if !c.Passed {
			result = "FAILED"
		}
		t.row(c.Name, result, c.Detail)
	}
	t.flush()
	if withRules {
		fmt.Fprintf(w, "\n# Prometheus rules\n%s", d.Rules.YAML)
	}
}
