package demo

import (
	"context"
	"fmt"
	"html"
	"math"
	"path/filepath"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/rulesync"
)

// writeOutputs installs every minted token's rules in OutputDir/rules and
// writes report.md with one relevance chart per service.
func writeOutputs(opt Options, sum *Summary) error {
	sum.RulesDir = filepath.Join(opt.OutputDir, "rules")
	syncer := rulesync.Syncer{Dir: sum.RulesDir}
	for _, t := range sum.Tokens {
		if _, err := syncer.Apply(context.Background(), t); err != nil {
			return err
		}
	}
	var b strings.Builder
	r := sum.Round
	fmt.Fprintf(&b, "# SRE-Llama demo report\n\n")
	fmt.Fprintf(&b, "Schedule `%s` (every %ds from %s, recorded by %s): the nodes opened each period's round themselves.\n\n",
		sum.Schedule.ID, sum.Schedule.CadenceSeconds, sum.Schedule.Start, sum.Schedule.SetBy)
	fmt.Fprintf(&b, "Round `%s` (%s aggregation) finalized with contributors %s; global model `%s`.\n\n",
		r.ID, r.Strategy, strings.Join(r.Contributors, ", "), r.GlobalModelDigest)
	if sum.Round2.ID != "" {
		fmt.Fprintf(&b, "Round `%s` finalized with contributors %s: %d generation requests, for services without an active SLO only; the SLOs with nothing to change were kept.\n\n",
			sum.Round2.ID, strings.Join(sum.Round2.Contributors, ", "), len(sum.Round2Requests))
	}
	fmt.Fprintf(&b, "%d generation requests, %d s-528 tokens minted. Audit: %d blocks hash-chained, state replayed, every token's digest matches its content: **%v**.\n\n",
		sum.Requests, len(sum.Tokens), sum.Blocks, sum.AuditOK)

	fmt.Fprintf(&b, "## SLOs\n\n| service | SLO | SLI | objective | period | error budget | proposer | approvals | token |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range sum.Tokens {
		d := t.Definition
		var approvers []string
		for _, a := range t.Mint.Approvals {
			approvers = append(approvers, a.MSPID)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.4g%% | %s | %.4g%% | %s | %s | `%s` |\n", d.SLI.Service, d.Name, d.SLI.Kind,
			d.SLO.Objective*100, d.SLO.Period, d.SLO.ErrorBudget*100, d.Provenance.Proposer, strings.Join(approvers, ", "), t.ID[:16])
	}
	if len(sum.Rejections) > 0 {
		fmt.Fprintf(&b, "\n### Rejections (recorded on the ledger)\n\n")
		for _, d := range sum.Rejections {
			fmt.Fprintf(&b, "- %s on proposal `%s`: %s\n", d.MSPID, d.ProposalID[:16], d.Reason)
		}
	}
	writeLifecycle(&b, sum)
	fmt.Fprintf(&b, "\n## Backtests\n\nEach SLO's alerts replayed with Prometheus's engine over its proposer's history (the first day warms the windows up).\n\n")
	fmt.Fprintf(&b, "| service | org | alert pair | episodes | false | firing |\n|---|---|---|---|---|---|\n")
	for _, bt := range sum.Backtests {
		for _, p := range bt.Report.Pairs {
			fmt.Fprintf(&b, "| %s | %s | %s (%s) | %d | %d | %.2f%% |\n", bt.Service, bt.Org, p.Name, p.Severity, p.Episodes, p.FalseEpisodes, p.FiringFraction*100)
		}
	}
	b.WriteString("\n")
	for _, bt := range sum.Backtests {
		chart := "backtest-" + bt.Service + ".svg"
		if err := writeFile(filepath.Join(opt.OutputDir, chart), backtestSVG(bt)); err != nil {
			return err
		}
		fmt.Fprintf(&b, "### %s\n\n![backtest of %s](%s)\n\n%s; error ratio %.4g, %.1f%% of a period's budget at this rate.\n\n",
			bt.Service, bt.Service, chart, detectionSummary(bt), bt.Report.ErrorRatio, bt.Report.BudgetSpent*100)
	}
	fmt.Fprintf(&b, "\n## Federated relevance ranking\n\n")
	for _, sr := range r.Ranking {
		if sr.Basis == records.RankingDeviationFallback {
			fmt.Fprintf(&b, "### %s\n\nDeviation fallback, not learned: %s. The SLO's proposer ranked the metrics by their deviation during its own incidents (the SLO's provenance says `ranking_basis: local_deviation`).\n\n", sr.Service, sr.Reason)
			continue
		}
		chart := "relevance-" + sr.Service + ".svg"
		if err := writeFile(filepath.Join(opt.OutputDir, chart), relevanceSVG(sr)); err != nil {
			return err
		}
		fmt.Fprintf(&b, "### %s\n\n![relevance of %s metrics](%s)\n\n| metric | relevance | stability |\n|---|---|---|\n", sr.Service, sr.Service, chart)
		for _, m := range sr.Metrics[:min(len(sr.Metrics), 8)] {
			fmt.Fprintf(&b, "| `%s` | %.3f | %.2f |\n", m.Name, m.Relevance, m.Stability)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Files\n\n- Prometheus rules: `rules/` (one file per token; `promtool check rules` passes on each).\n- The ledger: `ledger/`. Each node's state: `nodes/<MSP>/`.\n")
	sum.Report = filepath.Join(opt.OutputDir, "report.md")
	return writeFile(sum.Report, []byte(b.String()))
}

// relevanceSVG draws a service's ranked metrics as horizontal bars.
func relevanceSVG(sr records.ServiceRanking) []byte {
	ms := sr.Metrics[:min(len(sr.Metrics), 10)]
	const labelW, barW, rowH, top = 420, 320, 22, 30
	top1 := 0.0
	for _, m := range ms {
		top1 = max(top1, m.Relevance)
	}
	height := top + rowH*len(ms) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", labelW+barW+80, height)
	fmt.Fprintf(&b, `<text x="4" y="18" font-weight="bold">%s: federated relevance</text>`+"\n", html.EscapeString(sr.Service))
	for i, m := range ms {
		y := top + i*rowH
		w := 0.0
		if top1 > 0 {
			w = m.Relevance / top1 * barW
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-6, y+14, html.EscapeString(truncate(m.Name, 60)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4c78a8"/>`+"\n", labelW, y+3, w, rowH-6)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.3f</text>`+"\n", float64(labelW)+w+4, y+14, m.Relevance)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// detectionSummary says how the SLO's alerts met the service's known
// incidents, counting apart those that burned less of the error budget than
// the page pairs page on: multi-window burn-rate alerts let short or mild
// incidents pass by design, and an SLO is not wrong to stay silent for a
// two-minute blip or a traffic surge the service absorbed.
func detectionSummary(bt Backtest) string {
	var major, majorDetected, minor, minorDetected int
	var delays []string
	most := 0.0
	for _, in := range bt.Report.Incidents {
		if in.BudgetBurned >= bt.Report.PageBurn { // NaN (no data) is minor
			major++
			if in.Detected {
				majorDetected++
				delays = append(delays, in.Delay.String())
			}
			continue
		}
		minor++
		if in.Detected {
			minorDetected++
		}
		if !math.IsNaN(in.BudgetBurned) {
			most = math.Max(most, in.BudgetBurned)
		}
	}
	threshold := fmt.Sprintf("%.1f%% of the budget (what the page pairs page on)", bt.Report.PageBurn*100)
	if major == 0 {
		return fmt.Sprintf("None of the %d known incidents burned %s: at most %.2f%%; %d of them alerted on",
			minor, threshold, most*100, minorDetected)
	}
	out := fmt.Sprintf("%d of the %d known incidents that burned at least %s detected", majorDetected, major, threshold)
	if len(delays) > 0 {
		out += " (delays " + strings.Join(delays, ", ") + ")"
	}
	if minor > 0 {
		out += fmt.Sprintf("; %d more burned less (at most %.2f%%), %d of them alerted on", minor, most*100, minorDetected)
	}
	return out
}
