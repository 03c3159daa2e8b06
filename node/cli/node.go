package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/demo"
)

func runDemo(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "demo", "", `
Run a three-organization consortium on this machine with embedded parts: the
embedded ledger serving the chaincode, one node per organization on its own
simulated 5G core (different services and chaos faults) with a libp2p host on
loopback. The nodes take part in a federated round, generate, review and mint
one s-528 SLO token per service, and the ledger is audited. The rules and a
report (Markdown with relevance charts) are written to the output folder.`, `
  srellama demo
  srellama demo --output-dir ./demo --output json`)
	dir := f.String("output-dir", "", "folder for the ledger, the nodes, the rules and the report (default: a fresh folder under the temporary directory)")
	timeout := f.Duration("timeout", 5*time.Minute, "give up after this long")
	verbose := f.Bool("v", false, "log every node's work to stderr")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "srellama-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	opt := demo.Options{OutputDir: *dir, Evidence: Evidence, Progress: env.Stderr, Timeout: *timeout}
	if *verbose {
		opt.Log = slog.New(slog.NewTextHandler(env.Stderr, nil))
	}
	sum, err := demo.Run(ctx, opt)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(env.Stdout, sum)
	}
	printDemo(env.Stdout, sum)
	return nil
}

func printDemo(w io.Writer, sum demo.Summary) {
	fmt.Fprintf(w, "Round %s finalized by %s (global model %s)\n\n", sum.Round.ID, strings.Join(sum.Round.Contributors, ", "), sum.Round.GlobalModelDigest)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tRANKING\tTOP METRIC\tRELEVANCE")
	for _, sr := range sum.Round.Ranking {
		if sr.Basis == records.RankingDeviationFallback {
			// No learned order to show: each SLO's proposer ranked the
			// metrics by their deviation during its own incidents.
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sr.Service, "deviation fallback", "(ranked by the proposer)", "-")
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\n", sr.Service, "learned", sr.Metrics[0].Name, sr.Metrics[0].Relevance)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSLO\tOBJECTIVE\tPERIOD\tOWNER\tTOKEN")
	for _, t := range sum.Tokens {
		d := t.Definition
		fmt.Fprintf(tw, "%s\t%s\t%.4g%%\t%s\t%s\t%s\n", d.SLI.Service, d.Name, d.SLO.Objective*100, d.SLO.Period, t.State.Owner, t.ID)
	}
	tw.Flush()
	printLoop(w, sum)
	fmt.Fprintf(w, "\nAudit: %d blocks hash-chained, state replayed, %d token digests checked: ok=%v\n", sum.Blocks, len(sum.Tokens), sum.AuditOK)
	for _, d := range sum.Rejections {
		fmt.Fprintf(w, "Rejected by %s: %s\n", d.MSPID, d.Reason)
	}
	fmt.Fprintf(w, "Rules: %s\nReport: %s\nTook %s\n", sum.RulesDir, sum.Report, sum.Elapsed.Round(time.Millisecond))
}

// printLoop tells the SLO lifecycle the demo ran: the scheduled rounds
// and the revision with the reviewers' verdicts.
func printLoop(w io.Writer, sum demo.Summary) {
	if sum.Round2.ID != "" {
		fmt.Fprintf(w, "\nSchedule %s: the nodes opened rounds %s and %s; the second asked for %d SLOs (services without one) and kept the others\n",
			sum.Schedule.ID, sum.Round.ID, sum.Round2.ID, len(sum.Round2Requests))
	}
	r := sum.Revision
	if r == nil {
		return
	}
	from, to := r.From.Definition, r.To.Definition
	fmt.Fprintf(w, "Revised %s/%s: v%d (%.4g%%, %s) -> v%d (%.4g%%, %s)\n", r.Service, from.Name,
		from.Version, from.SLO.Objective*100, r.From.State.Status, to.Version, to.SLO.Objective*100, r.To.State.Status)
	if why := to.Provenance.Revision; why != nil {
		fmt.Fprintf(w, "  why: %s\n", why.Reason)
	}
	for _, d := range r.Decisions {
		fmt.Fprintf(w, "  %s %s: %s\n", d.MSPID, d.Kind(), d.Reason)
	}
}

func runNode(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "node", "", `
Run one organization's node: it reads its metrics (the simulator, Prometheus
or Mimir, or a CSV dataset), takes part in federated rounds over libp2p,
generates, reviews and installs SLOs as the ledger's events call for, and
serves its HTTP API. It reaches the ledger only through the Fabric Gateway,
with the connection file the configuration names: one written by
'srellama ledger' for the embedded ledger, or one for a real Fabric peer.
Environment variables SRELLAMA_* override the file (see node/config).`, `
  srellama ledger --dir ./ledger &
  srellama node --config org1.yaml`)
	path := f.String("config", env.Getenv("SRELLAMA_CONFIG"), "configuration file (YAML)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *path == "" {
		return usagef("node: --config is required")
	}
	cfg, err := config.Load(*path, env.Getenv)
	if err != nil {
		return err
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	evidence := Evidence
	if cfg.Source.Kind == config.SourcePrometheus {
		evidence = EvidenceFor(cfg.Source.Prometheus.ServiceLabel)
	}
	n, err := daemon.New(ctx, cfg, daemon.Parts{Evidence: evidence, Log: log})
	if err != nil {
		return err
	}
	defer n.Close()
	log.Info("node starting", "org", cfg.Organization, "peer", n.PeerID(), "source", cfg.Source.Kind, "generator", cfg.Generate.Kind)
	return n.Run(ctx)
}
