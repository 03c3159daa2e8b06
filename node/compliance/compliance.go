// Package compliance summarizes a token's attestations (how its SLO did on
// each member's data, period by period) for people: one line per period
// and a compact text chart of the error budget consumed. It is pure; the
// CLI's 'token compliance' and the demo's report render with it.
package compliance

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
)

// Period is one attested period across the members that attested it.
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
	// Members attested the period; WithData of them saw events.
	Members  int `json:"members"`
	WithData int `json:"with_data"`
	// WorstBudget and MeanBudget are the highest and the mean budget
	// consumed among the members with data (0 without any).
	WorstBudget float64 `json:"worst_budget_consumed"`
	MeanBudget  float64 `json:"mean_budget_consumed"`
	// Breached: a majority of the members with data spent budget faster
	// than the SLO allows (the rule records.Assess counts).
	Breached bool `json:"breached"`
	// Incidents known to the members, and how many of them paged.
	Incidents int `json:"incidents"`
	Detected  int `json:"detected"`
	Paged     int `json:"paged"`
	// PageAlerts and TicketAlerts are the alert firings, summed.
	PageAlerts   int `json:"page_alerts"`
	TicketAlerts int `json:"ticket_alerts"`
}

// Periods groups attestations by period, oldest first.
func Periods(atts []records.Attestation) []Period {
	var out []Period
	var over []int // per period, the members with data over budget
	index := map[string]int{}
	for _, a := range atts {
		i, ok := index[a.PeriodStart]
		if !ok {
			i = len(out)
			index[a.PeriodStart] = i
			out = append(out, Period{Start: a.PeriodStart, End: a.PeriodEnd})
			over = append(over, 0)
		}
		p := &out[i]
		p.Members++
		if a.NoData {
			continue
		}
		p.WithData++
		if a.BudgetConsumed > 1 {
			over[i]++
		}
		p.WorstBudget = math.Max(p.WorstBudget, a.BudgetConsumed)
		p.MeanBudget += a.BudgetConsumed
		p.Incidents += a.Incidents
		p.Detected += a.IncidentsDetected
		p.Paged += a.IncidentsPaged
		p.PageAlerts += a.PageAlerts
		p.TicketAlerts += a.TicketAlerts
	}
	for i := range out {
		p := &out[i]
		if p.WithData == 0 {
			continue
		}
		p.MeanBudget /= float64(p.WithData)
		p.Breached = records.MajorityOver(over[i], p.WithData)
	}
	// The ledger stores period starts normalized (whole seconds, UTC), so
	// they sort as times.
	slices.SortFunc(out, func(a, b Period) int { return strings.Compare(a.Start, b.Start) })
	return out
}

// Chart draws the worst budget consumed per period as a bar, '|' marking
// the pace the SLO allows (1.0); bars are scaled to width columns for the
// larger of 2 and the worst figure (at most 10: a bar that runs off the
// scale ends in '>').
func Chart(ps []Period, width int) string {
	if width < 10 {
		width = 10
	}
	scale := 2.0
	for _, p := range ps {
		scale = math.Max(scale, math.Min(p.WorstBudget, 10))
	}
	mark := int(math.Round(float64(width) / scale))
	days := wholeDays(ps)
	var b strings.Builder
	fmt.Fprintf(&b, "budget consumed per period (worst member; '|' is the SLO's pace, 1.0; scale 0..%g)\n", scale)
	for _, p := range ps {
		label := p.Start
		if days {
			label = p.Start[:10]
		}
		if p.WithData == 0 {
			fmt.Fprintf(&b, "%s  %s  no data\n", label, strings.Repeat(" ", width+1))
			continue
		}
		n := int(math.Round(math.Min(p.WorstBudget, scale) / scale * float64(width)))
		bar := []byte(strings.Repeat("#", n) + strings.Repeat(" ", width-n))
		if p.WorstBudget > scale {
			bar[width-1] = '>'
		}
		line := string(bar[:mark]) + "|" + string(bar[mark:])
		flag := ""
		if p.Breached {
			flag = "  breached"
		}
		fmt.Fprintf(&b, "%s  %s  %.3g%s\n", label, line, p.WorstBudget, flag)
	}
	return b.String()
}

// wholeDays reports whether every period starts at midnight, so that a
// date labels each.
func wholeDays(ps []Period) bool {
	for _, p := range ps {
		if !strings.HasSuffix(p.Start, "T00:00:00Z") {
			return false
		}
	}
	return true
}
