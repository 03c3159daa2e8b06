package demo

import (
	"fmt"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/compliance"
)

// complianceMarkdown renders a token's compliance history for the report:
// one row per period across the members that attested it, the chart of
// the worst budget consumed, and the evidence the ledger finds in it.
func complianceMarkdown(tok nft.Token, atts []records.Attestation) string {
	d := tok.Definition
	var b strings.Builder
	fmt.Fprintf(&b, "### %s/%s v%d (`%s`)\n\n", d.SLI.Service, d.Name, d.Version, tok.ID[:min(16, len(tok.ID))])
	if len(atts) == 0 {
		b.WriteString("No attestation yet.\n\n")
		return b.String()
	}
	periods := compliance.Periods(atts)
	b.WriteString("| period | members (with data) | worst budget consumed | mean | incidents / detected / paged | page / ticket alerts | breached |\n|---|---|---|---|---|---|---|\n")
	for _, p := range periods {
		fmt.Fprintf(&b, "| %s | %d (%d) | %.3g | %.3g | %d / %d / %d | %d / %d | %v |\n", p.Start, p.Members, p.WithData,
			p.WorstBudget, p.MeanBudget, p.Incidents, p.Detected, p.Paged, p.PageAlerts, p.TicketAlerts, p.Breached)
	}
	fmt.Fprintf(&b, "\n```\n%s```\n\n", compliance.Chart(periods, 40))
	if ev := records.Assess(atts, records.DefaultEvidencePolicy()); ev != nil {
		fmt.Fprintf(&b, "Evidence: %s\n\n", ev.Reason)
	} else {
		fmt.Fprintf(&b, "No evidence for a revision or retirement: %s.\n\n", records.Summary(atts, records.DefaultEvidencePolicy()))
	}
	return b.String()
}
