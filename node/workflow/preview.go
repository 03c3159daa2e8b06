package workflow

import (
	"fmt"
	"slices"

	"github.com/srellama/srellama/chaincode/records"
)

// The evidence policy PreviewEvidence applies: the ledger's defaults.
const (
	// EvidenceWindow is how many of the latest attested periods are read.
	EvidenceWindow = 3
	// BreachedPeriods is how many of them must show the objective missed.
	BreachedPeriods = 2
	// GonePeriods is how many latest periods must have no data anywhere.
	GonePeriods = 3
	// SilentBudget is the most budget a period may consume and still
	// count as not spending any.
	SilentBudget = 0.1
)

// PreviewEvidence is this node's reading of a token's attestations, the
// same rules the ledger applies before it grants a revision or retirement
// (records.Assess replaces it once the ledger has it; the node only
// previews, the ledger decides): over the last EvidenceWindow periods
// attested, the token is
//   - gone when in each of the last GonePeriods periods every attesting
//     member reported no data;
//   - breached when in at least BreachedPeriods of them a majority of the
//     members with data consumed more than the budget's pace;
//   - silent when no period consumed more than SilentBudget while at least
//     one incident known to a member went unpaged.
//
// It returns nil when the attestations call for nothing.
func PreviewEvidence(atts []records.Attestation) *records.Evidence {
	byPeriod := map[string][]records.Attestation{}
	for _, a := range atts {
		byPeriod[a.PeriodStart] = append(byPeriod[a.PeriodStart], a)
	}
	periods := make([]string, 0, len(byPeriod))
	for p := range byPeriod {
		periods = append(periods, p)
	}
	slices.Sort(periods) // RFC 3339 in UTC sorts by time
	if len(periods) > EvidenceWindow {
		periods = periods[len(periods)-EvidenceWindow:]
	}
	if len(periods) == 0 {
		return nil
	}
	var txs []string
	gone, breached, unpaged, withData := 0, 0, 0, 0
	spent := false
	for _, p := range periods {
		withDataHere, over := 0, 0
		for _, a := range byPeriod[p] {
			if a.TxID != "" {
				txs = append(txs, a.TxID)
			}
			if a.NoData {
				continue
			}
			withDataHere++
			if a.BudgetConsumed > 1 {
				over++
			}
			if a.BudgetConsumed > SilentBudget {
				spent = true
			}
			unpaged += max(0, a.Incidents-a.IncidentsPaged)
		}
		withData += withDataHere
		if withDataHere == 0 {
			gone++
		}
		if withDataHere > 0 && 2*over > withDataHere {
			breached++
		}
	}
	figures := map[string]float64{"periods": float64(len(periods)), "breached_periods": float64(breached),
		"unpaged_incidents": float64(unpaged), "periods_without_data": float64(gone)}
	ev := &records.Evidence{Figures: figures, Attestations: txs}
	switch {
	case len(periods) >= GonePeriods && gone >= GonePeriods:
		ev.Trigger = records.TriggerGone
		ev.Reason = fmt.Sprintf("no member saw the service in the last %d periods", gone)
	case breached >= BreachedPeriods:
		ev.Trigger = records.TriggerBreached
		ev.Reason = fmt.Sprintf("the objective was missed in %d of the last %d periods", breached, len(periods))
	case withData > 0 && !spent && unpaged > 0:
		ev.Trigger = records.TriggerSilent
		ev.Reason = fmt.Sprintf("no budget spent in the last %d periods while %d incidents went unpaged", len(periods), unpaged)
	default:
		return nil
	}
	return ev
}
