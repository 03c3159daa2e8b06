package records

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/nft"
)

// Bounds on an attestation's period: long enough to hold a burn-rate
// window's worth of events, short enough that a period is one of a series.
const (
	MinAttestPeriod = time.Minute
	MaxAttestPeriod = 31 * 24 * time.Hour
)

// ProposalRetired is the status of a retirement proposal carried out: its
// target token was retired in the deciding transaction.
const ProposalRetired ProposalStatus = "retired"

// EvidencePolicy says when attestations are evidence enough to revise or
// retire a token. The chaincode applies DefaultEvidencePolicy; nodes use the
// same to preview what the ledger will accept.
type EvidencePolicy struct {
	// Window is how many of the most recent attested periods are read.
	Window int
	// Breached is in how many of them a majority of the members with data
	// must have spent budget faster than the SLO allows (BudgetConsumed > 1)
	// for the SLO to count as chronically breached.
	Breached int
	// SilentBudget is the BudgetConsumed at or below which a period spent
	// no budget worth the name; an SLO is silent when every period stayed
	// there while incidents went unpaged.
	SilentBudget float64
	// GonePeriods is how many of the most recent periods must have every
	// attesting member report no data for the service to count as gone.
	GonePeriods int
}

// Periods is how many of the most recent attested periods the policy
// reads at all: Assess looks at nothing older.
func (p EvidencePolicy) Periods() int { return max(p.Window, p.GonePeriods, 1) }

// DefaultEvidencePolicy is the policy the chaincode applies.
func DefaultEvidencePolicy() EvidencePolicy {
	return EvidencePolicy{Window: 3, Breached: 2, SilentBudget: 0.1, GonePeriods: 3}
}

// MajorityOver is the breach rule for one period: over of the withData
// members that had data spent budget faster than the SLO allows
// (BudgetConsumed > 1), and they are a majority of them.
func MajorityOver(over, withData int) bool { return withData > 0 && 2*over > withData }

// periodAtts is one period's attestations.
type periodAtts struct {
	start string
	atts  []Attestation
}

// byPeriod groups attestations by period start, oldest first (starts are
// stored normalized, so they sort as times).
func byPeriod(atts []Attestation) []periodAtts {
	sorted := slices.Clone(atts)
	slices.SortStableFunc(sorted, func(a, b Attestation) int {
		if c := strings.Compare(a.PeriodStart, b.PeriodStart); c != 0 {
			return c
		}
		return strings.Compare(a.MSPID, b.MSPID)
	})
	var out []periodAtts
	for _, a := range sorted {
		if n := len(out); n > 0 && out[n-1].start == a.PeriodStart {
			out[n-1].atts = append(out[n-1].atts, a)
			continue
		}
		out = append(out, periodAtts{start: a.PeriodStart, atts: []Attestation{a}})
	}
	return out
}

func lastN(ps []periodAtts, n int) []periodAtts {
	if n <= 0 || n >= len(ps) {
		return ps
	}
	return ps[len(ps)-n:]
}

// Assess reads a token's attestations and says whether they are evidence
// for a revision (TriggerBreached, TriggerSilent) or a retirement
// (TriggerGone), with the figures it rests on and the attestations it read;
// nil when they are evidence for nothing. It is pure and deterministic: the
// chaincode runs it in a transaction, nodes to preview.
//
// Over the last Window attested periods:
//   - breached: in at least Breached of them, a majority of the members
//     that had data report BudgetConsumed > 1;
//   - silent: members had data, no period spent budget (every
//     BudgetConsumed ≤ SilentBudget), and at least one incident went
//     unpaged (Incidents − IncidentsPaged, summed);
//   - gone: in each of the last GonePeriods periods (there must be that
//     many) every attesting member reports NoData.
func Assess(atts []Attestation, p EvidencePolicy) *Evidence {
	periods := byPeriod(atts)
	if len(periods) == 0 {
		return nil
	}
	if ev := assessGone(periods, p); ev != nil {
		return ev
	}
	window := lastN(periods, p.Window)
	var (
		breached, withData, incidents, unpaged int
		maxBudget                              float64
		quiet                                  = true
		read                                   []string
	)
	for _, period := range window {
		over, had := 0, 0
		for _, a := range period.atts {
			read = append(read, a.TxID)
			if a.NoData {
				continue
			}
			had++
			maxBudget = max(maxBudget, a.BudgetConsumed)
			if a.BudgetConsumed > 1 {
				over++
			}
			if a.BudgetConsumed > p.SilentBudget {
				quiet = false
			}
			incidents += a.Incidents
			unpaged += a.Incidents - a.IncidentsPaged
		}
		withData += had
		if MajorityOver(over, had) {
			breached++
		}
	}
	figures := map[string]float64{
		"periods":             float64(len(window)),
		"breached_periods":    float64(breached),
		"attestations":        float64(len(read)),
		"with_data":           float64(withData),
		"max_budget_consumed": maxBudget,
		"incidents":           float64(incidents),
		"unpaged_incidents":   float64(unpaged),
	}
	span := fmt.Sprintf("the last %d attested period(s) from %s", len(window), window[0].start)
	switch {
	case breached >= p.Breached:
		return &Evidence{Trigger: TriggerBreached, Figures: figures, Attestations: read,
			Reason: fmt.Sprintf("breached: in %d of %s a majority of the members with data spent error budget faster than the SLO allows (max budget consumed %.3g)", breached, span, maxBudget)}
	case withData > 0 && quiet && unpaged > 0:
		return &Evidence{Trigger: TriggerSilent, Figures: figures, Attestations: read,
			Reason: fmt.Sprintf("silent: over %s no period spent more than %.3g of its budget while %d of %d incident(s) went unpaged", span, p.SilentBudget, unpaged, incidents)}
	}
	return nil
}

func assessGone(periods []periodAtts, p EvidencePolicy) *Evidence {
	if p.GonePeriods <= 0 || len(periods) < p.GonePeriods {
		return nil
	}
	recent := lastN(periods, p.GonePeriods)
	var read []string
	for _, period := range recent {
		for _, a := range period.atts {
			if !a.NoData {
				return nil
			}
			read = append(read, a.TxID)
		}
	}
	return &Evidence{
		Trigger: TriggerGone,
		Reason: fmt.Sprintf("gone: no member that attested saw an event of the service in the last %d period(s), from %s",
			len(recent), recent[0].start),
		Figures:      map[string]float64{"periods": float64(len(recent)), "attestations": float64(len(read)), "with_data": 0},
		Attestations: read,
	}
}

// Summary says in one line what attestations show, for a refusal that
// found no evidence.
func Summary(atts []Attestation, p EvidencePolicy) string {
	periods := byPeriod(atts)
	if len(periods) == 0 {
		return "no attestation yet"
	}
	window := lastN(periods, p.Window)
	n := 0
	maxBudget, unpaged := 0.0, 0
	for _, period := range window {
		for _, a := range period.atts {
			n++
			maxBudget = max(maxBudget, a.BudgetConsumed)
			unpaged += a.Incidents - a.IncidentsPaged
		}
	}
	return fmt.Sprintf("%d attestation(s) over the last %d period(s): max budget consumed %.3g, %d unpaged incident(s)", n, len(window), maxBudget, unpaged)
}

// ParseAttestation decodes and checks an attestation as a member submits
// it: the figures only (who, when and the transaction are the ledger's to
// set), period bounds whole seconds, 1 minute to 31 days long; ratios in
// [0,1], counts non-negative, paged ≤ detected ≤ incidents, false pages ≤
// page alerts; and all figures zero when NoData. The period bounds come
// back normalized, so that one period has one key. Checks against the
// token and the transaction time are the chaincode's.
func ParseAttestation(raw string) (Attestation, error) {
	var a Attestation
	if err := nft.DecodeStrict([]byte(raw), &a); err != nil {
		return Attestation{}, fmt.Errorf("attestation: %w", err)
	}
	if err := checkAttestation(&a); err != nil {
		return Attestation{}, fmt.Errorf("attestation: %w", err)
	}
	return a, nil
}

func checkAttestation(a *Attestation) error {
	if a.MSPID != "" || a.At != "" || a.TxID != "" {
		return errors.New("msp_id, at and tx_id are set by the ledger, not the member")
	}
	if _, err := ParseTokenID(a.TokenID); err != nil {
		return err
	}
	if !nft.IsValidName(a.Service) || a.Name == "" || len(a.Name) > 256 || a.Version < 1 {
		return fmt.Errorf("service %q, name %q and version %d must name the token's SLO", a.Service, a.Name, a.Version)
	}
	start, err := parseWholeSecond("period_start", a.PeriodStart)
	if err != nil {
		return err
	}
	end, err := parseWholeSecond("period_end", a.PeriodEnd)
	if err != nil {
		return err
	}
	if d := end.Sub(start); d < MinAttestPeriod || d > MaxAttestPeriod {
		return fmt.Errorf("period %s to %s lasts %v; a period lasts %v to %v", a.PeriodStart, a.PeriodEnd, d, MinAttestPeriod, MaxAttestPeriod)
	}
	a.PeriodStart, a.PeriodEnd = FormatTime(start), FormatTime(end)
	for _, f := range []struct {
		name  string
		value float64
		ratio bool
	}{{"events", a.Events, false}, {"achieved", a.Achieved, true}, {"objective", a.Objective, true}, {"budget_consumed", a.BudgetConsumed, false}} {
		switch {
		case !finite(f.value) || f.value < 0:
			return fmt.Errorf("%s is %v; it must be a finite, non-negative number", f.name, f.value)
		case f.ratio && f.value > 1:
			return fmt.Errorf("%s is %v; a ratio lies in [0,1]", f.name, f.value)
		}
	}
	if a.Objective <= 0 || a.Objective >= 1 {
		return fmt.Errorf("objective is %v; an SLO's objective lies strictly between 0 and 1", a.Objective)
	}
	for _, c := range []struct {
		name  string
		value int
	}{{"page_alerts", a.PageAlerts}, {"ticket_alerts", a.TicketAlerts}, {"false_pages", a.FalsePages},
		{"incidents", a.Incidents}, {"incidents_detected", a.IncidentsDetected}, {"incidents_paged", a.IncidentsPaged}} {
		if c.value < 0 {
			return fmt.Errorf("%s is %d; a count is non-negative", c.name, c.value)
		}
	}
	switch {
	case a.IncidentsPaged > a.IncidentsDetected || a.IncidentsDetected > a.Incidents:
		return fmt.Errorf("incidents_paged (%d) ≤ incidents_detected (%d) ≤ incidents (%d) does not hold", a.IncidentsPaged, a.IncidentsDetected, a.Incidents)
	case a.FalsePages > a.PageAlerts:
		return fmt.Errorf("false_pages (%d) exceeds page_alerts (%d)", a.FalsePages, a.PageAlerts)
	case a.NoData && (a.Events != 0 || a.Achieved != 0 || a.BudgetConsumed != 0 || a.PageAlerts != 0 || a.TicketAlerts != 0 ||
		a.FalsePages != 0 || a.Incidents != 0):
		return errors.New("no_data: a period without data has zero figures (the objective aside)")
	case !a.NoData && a.Events == 0:
		return errors.New("events is 0: a period without events is no_data")
	}
	return nil
}

func parseWholeSecond(what, s string) (time.Time, error) {
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", what, err)
	}
	if t.Nanosecond() != 0 || t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%s %s must be a whole second between the years 2000 and 9999", what, s)
	}
	return t, nil
}
