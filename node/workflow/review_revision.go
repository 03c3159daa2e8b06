package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
)

// Reviewing a revision and a retirement on this organization's own data.
//
// Which history judges a revision: the revision's objective is checked on
// the recent window (Recent: the evidence periods,
// lifecycle.revision_history), not on the whole history as a new SLO's
// is. A revision answers a lasting shift: the service before the shift
// no longer exists, and an objective that fits it now would fail a check
// over a history half made of the old service (a tightened objective
// after the service improved) or pass trivially (a loosened one after it
// degraded). The no-regression comparison, by contrast, runs over the
// whole history (Compare): incidents are rare, the recent window may hold
// none, and whether the alerts catch an incident is a property of the
// windows and thresholds that the longer record tests better. After a
// lasting degradation the current SLO's alerts fire without any incident
// (the shift is no incident): those count as its false pages, which is
// what a revision must not make worse.

// reviewRevision judges a definition that supersedes a token: its
// objective must hold on the recent window, and replayed beside the
// current token on this organization's history it must detect no fewer
// incidents and page falsely no more.
func (r OwnDataReviewer) reviewRevision(ctx context.Context, p records.Proposal, figures map[string]float64) (Verdict, error) {
	def := p.Definition
	service := def.SLI.Service
	recent := ""
	if r.Recent != nil {
		m, err := r.Recent(ctx, def)
		if errors.Is(err, ErrNotMeasurable) {
			return Abstain(figures, "cannot measure the revision on our %s: %v", service, err), nil
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("measuring the revision of %s on our recent %s: %w", def.Supersedes, service, err)
		}
		window := spanOf(m)
		figures["recent_hours"] = window.Hours()
		if m.NoData {
			return Abstain(figures, "our %s saw no events of the SLI in the last %s", service, nft.FormatDuration(window)), nil
		}
		figures["recent_events"], figures["recent_achieved"], figures["recent_budget_consumed"] = m.Events, m.Achieved, m.BudgetConsumed
		if m.BudgetConsumed > 1 {
			return Reject(figures, "over the last %s our %s achieved %.4f%%, below the revision's objective %.4f%%",
				nft.FormatDuration(window), service, m.Achieved*100, def.SLO.Objective*100), nil
		}
		recent = fmt.Sprintf("over the last %s our %s achieved %.4f%% (objective %.4f%%); ",
			nft.FormatDuration(window), service, m.Achieved*100, def.SLO.Objective*100)
	}
	current, err := r.Token(ctx, def.Supersedes)
	if err != nil {
		return Verdict{}, fmt.Errorf("reading token %s, which the revision supersedes: %w", def.Supersedes, err)
	}
	cur, rev, err := r.Compare(ctx, current.Definition, def)
	if err != nil {
		// The objective held; a replay that cannot run here (a series
		// the engine cannot read) does not block the revision, as it
		// does not block a new SLO.
		r.logger().Warn("could not replay the revision beside the current SLO", "proposal", p.ID, "err", err)
		return Approve(recent+fmt.Sprintf("no replay beside the current SLO: %v", err), figures), nil
	}
	incidents := len(rev.Report.Incidents)
	detCur, detRev := detections(cur.Report), detections(rev.Report)
	fpCur, fpRev := falsePages(cur.Report), falsePages(rev.Report)
	figures["incidents"] = float64(incidents)
	figures["detected_current"], figures["detected_revision"] = float64(detCur), float64(detRev)
	figures["false_pages_current"], figures["false_pages_revision"] = float64(fpCur), float64(fpRev)
	hist := rev.Report.End.Sub(rev.Report.Start).Round(time.Hour)
	compared := fmt.Sprintf("replayed over %s of our history, the revision detects %d of %d incidents (the current SLO %d) and pages falsely %d times (the current SLO %d)",
		nft.FormatDuration(hist), detRev, incidents, detCur, fpRev, fpCur)
	switch {
	case detRev < detCur || fpRev > fpCur:
		return Reject(figures, "the revision regresses: %s", compared), nil
	case answersSilence(def) && incidents > 0 && detRev <= detCur:
		// Asked for because incidents went unpaged, a revision that
		// catches no more of them changes nothing the evidence showed:
		// approved, its own attestations would ask for the next version
		// at once, a version pile-up.
		return Reject(figures, "the revision was asked for because incidents went unpaged, yet it detects no more of them: %s", compared), nil
	}
	return Approve(recent+"no regression: "+compared, figures), nil
}

// reviewRetirement judges a proposal to retire a token whose service is
// gone: approve if this organization saw no event of its SLI in the recent
// window (the evidence periods), reject if it still does, abstain if it
// never ran the service.
func (r OwnDataReviewer) reviewRetirement(ctx context.Context, p records.Proposal) (Verdict, error) {
	def := p.Definition
	service := def.SLI.Service
	if _, err := r.Evidence(ctx, service); errors.Is(err, source.ErrUnknownService) {
		return Abstain(nil, "we do not run %s", service), nil
	}
	if r.Recent == nil {
		return Abstain(nil, "this node measures no recent window of %s", service), nil
	}
	m, err := r.Recent(ctx, def)
	if errors.Is(err, ErrNotMeasurable) {
		return Abstain(nil, "cannot measure %s on our %s: %v", def.Name, service, err), nil
	}
	if err != nil {
		return Verdict{}, fmt.Errorf("measuring %s on our recent %s: %w", def.Name, service, err)
	}
	window := spanOf(m)
	figures := map[string]float64{"recent_hours": window.Hours(), "recent_events": m.Events}
	if !m.NoData {
		figures["recent_achieved"] = m.Achieved
		return Reject(figures, "our %s is not gone: %.0f events of the SLI in the last %s",
			service, m.Events, nft.FormatDuration(window)), nil
	}
	return Approve(fmt.Sprintf("our %s saw no event of the SLI in the last %s", service, nft.FormatDuration(window)), figures), nil
}

// spanOf is an attestation's period length.
func spanOf(a records.Attestation) time.Duration {
	start, err1 := records.ParseTime(a.PeriodStart)
	end, err2 := records.ParseTime(a.PeriodEnd)
	if err1 != nil || err2 != nil {
		return 0
	}
	return end.Sub(start)
}

// Compare replays two definitions of one service over one and the same
// range of history (Run's), read once, so their figures answer the same
// incidents.
func (b SourceBacktest) Compare(ctx context.Context, current, revision nft.Definition) (Replay, Replay, error) {
	if current.SLI.Service != revision.SLI.Service {
		return Replay{}, Replay{}, fmt.Errorf("the revision is of %s, the current SLO of %s", revision.SLI.Service, current.SLI.Service)
	}
	r, evalStart := b.runRange()
	mem, all, err := b.load(ctx, current.SLI.Service, r)
	if err != nil {
		return Replay{}, Replay{}, err
	}
	cur, err := replayOn(ctx, mem, all, current, r, evalStart, r.End)
	if err != nil {
		return Replay{}, Replay{}, fmt.Errorf("replaying the current SLO: %w", err)
	}
	rev, err := replayOn(ctx, mem, all, revision, r, evalStart, r.End)
	if err != nil {
		return Replay{}, Replay{}, fmt.Errorf("replaying the revision: %w", err)
	}
	return cur, rev, nil
}

// answersSilence says whether a definition revises an SLO that spent no
// budget while incidents went unpaged (records.TriggerSilent).
func answersSilence(def nft.Definition) bool {
	return def.Provenance.Revision != nil && def.Provenance.Revision.Trigger == records.TriggerSilent
}
