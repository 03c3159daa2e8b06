package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/workflow"
)

// replayed is a replay that detected `detected` of `incidents` incidents
// and paged falsely `falsePages` times.
func replayed(incidents, detected, falsePages int) workflow.Replay {
	rep := backtest.Report{Start: day0.Add(-7 * 24 * time.Hour), End: day0,
		Pairs: []backtest.PairReport{{Name: "page-fast", Severity: nft.SeverityPage, Episodes: detected + falsePages, FalseEpisodes: falsePages}}}
	for i := range incidents {
		rep.Incidents = append(rep.Incidents, backtest.IncidentReport{Name: "fault", Detected: i < detected})
	}
	return workflow.Replay{Report: rep}
}

func recentWindow(achieved, objective float64, noData bool) func(context.Context, nft.Definition) (records.Attestation, error) {
	return func(context.Context, nft.Definition) (records.Attestation, error) {
		a := records.Attestation{PeriodStart: "2026-11-30T00:00:00Z", PeriodEnd: "2026-12-03T00:00:00Z", NoData: noData, Objective: objective}
		if !noData {
			a.Events, a.Achieved, a.BudgetConsumed = 250000, achieved, (1-achieved)/(1-objective)
		}
		return a, nil
	}
}

// A revision is approved only if, replayed beside the current token on our
// history, it detects no fewer incidents and pages falsely no more, and
// its objective holds on the recent window.
func TestReviewOfARevision(t *testing.T) {
	def := generated(t)
	def.Supersedes, def.Version = tokV4, 5
	current := nft.Token{ID: tokV4, Definition: generated(t)}
	tests := []struct {
		name     string
		cur, rev workflow.Replay
		recent   func(context.Context, nft.Definition) (records.Attestation, error)
		compare  error
		trigger  string
		verdict  records.Verdict
		reason   []string
	}{
		{name: "detects as many, pages falsely less", cur: replayed(3, 2, 5), rev: replayed(3, 2, 0), recent: recentWindow(0.9998, def.SLO.Objective, false),
			verdict: records.VerdictApprove, reason: []string{"no regression", "detects 2 of 3 incidents (the current SLO 2)", "pages falsely 0 times (the current SLO 5)"}},
		{name: "detects more", cur: replayed(3, 1, 0), rev: replayed(3, 3, 0), recent: recentWindow(0.9998, def.SLO.Objective, false),
			verdict: records.VerdictApprove, reason: []string{"detects 3 of 3"}},
		{name: "misses an incident the current SLO caught", cur: replayed(3, 3, 4), rev: replayed(3, 2, 0), recent: recentWindow(0.9998, def.SLO.Objective, false),
			verdict: records.VerdictReject, reason: []string{"regresses", "detects 2 of 3 incidents (the current SLO 3)"}},
		{name: "pages falsely more", cur: replayed(2, 2, 1), rev: replayed(2, 2, 2), recent: recentWindow(0.9998, def.SLO.Objective, false),
			verdict: records.VerdictReject, reason: []string{"regresses", "pages falsely 2 times (the current SLO 1)"}},
		{name: "objective missed on the recent window", cur: replayed(1, 1, 0), rev: replayed(1, 1, 0), recent: recentWindow(0.99, def.SLO.Objective, false),
			verdict: records.VerdictReject, reason: []string{"over the last 3d", "below the revision's objective"}},
		{name: "no events lately", cur: replayed(1, 1, 0), rev: replayed(1, 1, 0), recent: recentWindow(0, def.SLO.Objective, true),
			verdict: records.VerdictAbstain, reason: []string{"no events of the SLI in the last 3d"}},
		{name: "asked for unpaged incidents, detects no more", cur: replayed(3, 0, 0), rev: replayed(3, 0, 0), trigger: records.TriggerSilent,
			recent: recentWindow(0.9998, def.SLO.Objective, false), verdict: records.VerdictReject, reason: []string{"went unpaged", "detects 0 of 3 incidents (the current SLO 0)"}},
		{name: "asked for unpaged incidents, detects more", cur: replayed(3, 0, 0), rev: replayed(3, 2, 0), trigger: records.TriggerSilent,
			recent: recentWindow(0.9998, def.SLO.Objective, false), verdict: records.VerdictApprove, reason: []string{"no regression"}},
		{name: "asked for a breach, detects as many", cur: replayed(3, 0, 0), rev: replayed(3, 0, 0), trigger: records.TriggerBreached,
			recent: recentWindow(0.9998, def.SLO.Objective, false), verdict: records.VerdictApprove, reason: []string{"no regression"}},
		{name: "the pair cannot be replayed here", compare: errors.New("no series"), recent: recentWindow(0.9998, def.SLO.Objective, false),
			verdict: records.VerdictApprove, reason: []string{"no replay beside the current SLO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := workflow.OwnDataReviewer{Evidence: evidence(0.9999), Recent: tt.recent,
				Token: func(_ context.Context, id string) (nft.Token, error) {
					if id != tokV4 {
						t.Fatalf("read token %s, not the superseded one", id)
					}
					return current, nil
				},
				Compare: func(_ context.Context, c, v nft.Definition) (workflow.Replay, workflow.Replay, error) {
					if c.Supersedes != "" || v.Supersedes != tokV4 {
						t.Fatalf("compared %q with %q", c.Supersedes, v.Supersedes)
					}
					return tt.cur, tt.rev, tt.compare
				}}
			def := def
			if tt.trigger != "" {
				def.Provenance.Revision = &nft.RevisionReason{Trigger: tt.trigger, Reason: "evidence", RequestID: "rev-1"}
			}
			v, err := r.Review(context.Background(), records.Proposal{ID: "p", Definition: def})
			if err != nil {
				t.Fatal(err)
			}
			if v.Kind != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", v.Kind, v.Reason, tt.verdict)
			}
			for _, want := range tt.reason {
				if !strings.Contains(v.Reason, want) {
					t.Errorf("reason %q does not say %q", v.Reason, want)
				}
			}
			if tt.compare == nil && tt.verdict != records.VerdictAbstain && tt.recent != nil && tt.name != "objective missed on the recent window" {
				for _, f := range []string{"incidents", "detected_current", "detected_revision", "false_pages_current", "false_pages_revision", "recent_achieved"} {
					if _, ok := v.Figures[f]; !ok {
						t.Errorf("figures %v lack %s", v.Figures, f)
					}
				}
			}
		})
	}
}

// The whole-history objective check does not apply to a revision judged
// on its recent window: after a lasting degradation the old history would
// hold a loosened objective trivially and a tightened one never.
func TestARevisionIsJudgedOnTheRecentWindowNotTheWholeHistory(t *testing.T) {
	def := generated(t) // fitted to 99.95%
	def.Supersedes, def.Version = tokV4, 5
	r := workflow.OwnDataReviewer{Evidence: evidence(0.99), Recent: recentWindow(0.9998, def.SLO.Objective, false),
		Token: func(context.Context, string) (nft.Token, error) {
			return nft.Token{ID: tokV4, Definition: generated(t)}, nil
		},
		Compare: func(context.Context, nft.Definition, nft.Definition) (workflow.Replay, workflow.Replay, error) {
			return replayed(1, 1, 0), replayed(1, 1, 0), nil
		}}
	v, err := r.Review(context.Background(), records.Proposal{ID: "p", Definition: def})
	if err != nil || v.Kind != records.VerdictApprove {
		t.Fatalf("a revision that holds lately but not over 14 days: %+v, %v", v, err)
	}
	// A proposal for a new SLO is still judged on the whole history.
	def.Supersedes = ""
	if v, _ := r.Review(context.Background(), records.Proposal{ID: "p", Definition: def}); v.Kind != records.VerdictReject {
		t.Fatalf("a new SLO the whole history misses: %+v", v)
	}
}

// On a simulated core that degrades lastingly on day 6, with one 15-minute
// outage of the AUSF on day 4, replayed with Prometheus's engine: a
// revision loose enough for the degraded service no longer pages for the
// outage the current SLO paged for (rejected as a regression), and one
// tight enough to page for it misses its objective on the recent window.
// The figures say which.
func TestReviewOfARevisionOnASimulatedShift(t *testing.T) {
	src, origin := lifecycleCore(t)
	current := registrations(t)
	currentTok := nft.Token{ID: tokV4, Definition: current}
	now := origin.Add(9 * 24 * time.Hour)
	b := workflow.SourceBacktest{Source: src, History: 9 * 24 * time.Hour, Step: time.Minute, Now: func() time.Time { return now }}
	r := workflow.OwnDataReviewer{Evidence: evidence(0.9999),
		Token:   func(context.Context, string) (nft.Token, error) { return currentTok, nil },
		Compare: b.Compare,
		Recent: func(ctx context.Context, d nft.Definition) (records.Attestation, error) {
			return b.Measure(ctx, d, now.Add(-3*24*time.Hour), now)
		}}
	revision := func(objective float64) nft.Definition {
		d, err := slo.Build(slo.Spec{Name: current.Name, Description: current.Description, Service: "amf", Kind: nft.KindRatio,
			GoodQuery: current.SLI.GoodQuery, TotalQuery: current.SLI.TotalQuery, Objective: objective, Period: "30d"},
			slo.Draft{Metrics: current.SLI.Metrics, Provenance: nft.Provenance{Proposer: "Org2MSP",
				Generator: nft.Generator{Kind: nft.GeneratorBuiltin, Name: "builtin", Version: "1"}}})
		if err != nil {
			t.Fatal(err)
		}
		d.Supersedes, d.Version = tokV4, 2
		return d
	}
	tests := []struct {
		objective float64
		reason    string
		figures   map[string]float64
	}{
		{0.95, "detects 0 of 1 incidents (the current SLO 1)", map[string]float64{"incidents": 1, "detected_current": 1, "detected_revision": 0, "false_pages_revision": 0}},
		{0.985, "below the revision's objective", nil},
	}
	for _, tt := range tests {
		v, err := r.Review(context.Background(), records.Proposal{ID: "p", Definition: revision(tt.objective)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Kind != records.VerdictReject || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("objective %v: %s %q, want a rejection saying %q", tt.objective, v.Kind, v.Reason, tt.reason)
		}
		for k, want := range tt.figures {
			if got, ok := v.Figures[k]; !ok || got != want {
				t.Errorf("objective %v: figure %s = %v, want %v (%v)", tt.objective, k, got, want, v.Figures)
			}
		}
	}
}

// A retirement is approved where the service is gone, rejected where it
// still serves, and left to others where it never ran.
func TestReviewOfARetirement(t *testing.T) {
	def := generated(t)
	tests := []struct {
		name     string
		evidence workflow.Evidence
		recent   func(context.Context, nft.Definition) (records.Attestation, error)
		verdict  records.Verdict
		reason   string
		figure   string
	}{
		{"gone here too", evidence(0.9999), recentWindow(0, def.SLO.Objective, true), records.VerdictApprove, "saw no event of the SLI in the last 3d", "recent_events"},
		{"still serving here", evidence(0.9999), recentWindow(0.999, def.SLO.Objective, false), records.VerdictReject, "not gone: 250000 events", "recent_events"},
		{"never ran here", runsNothing, recentWindow(0, def.SLO.Objective, true), records.VerdictAbstain, "we do not run amf", ""},
		{"runs it on other metrics", evidence(0.9999), func(context.Context, nft.Definition) (records.Attestation, error) {
			return records.Attestation{}, fmt.Errorf("measuring: %w", workflow.ErrNotMeasurable)
		}, records.VerdictAbstain, "cannot measure", ""},
	}
	for _, tt := range tests {
		r := workflow.OwnDataReviewer{Evidence: tt.evidence, Recent: tt.recent}
		v, err := r.Review(context.Background(), records.Proposal{ID: "p", Kind: records.ProposalRetirement, Target: tokV4, Definition: def})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if v.Kind != tt.verdict || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("%s: %s %q, want %s saying %q", tt.name, v.Kind, v.Reason, tt.verdict, tt.reason)
		}
		if _, ok := v.Figures[tt.figure]; tt.figure != "" && !ok {
			t.Errorf("%s: figures %v lack %s", tt.name, v.Figures, tt.figure)
		}
	}
}

// A retirement proposal arrives as any proposal does and is reviewed by
// every other member.
func TestRetirementProposalsAreReviewed(t *testing.T) {
	p := records.Proposal{ID: tokV4, Kind: records.ProposalRetirement, Target: tokV4, Proposer: "Org1MSP",
		Status: records.ProposalOpen, Members: []string{"Org1MSP", "Org2MSP"}}
	e := records.Event{Kind: records.EventProposalSubmitted, Proposal: &p}
	if got := workflow.Decide(workflow.Policy{Self: "Org2MSP"}, e); len(got) != 1 || got[0].(workflow.Review).Proposal.Kind != records.ProposalRetirement {
		t.Fatalf("Org2MSP's actions: %+v", got)
	}
	if got := workflow.Decide(workflow.Policy{Self: "Org1MSP"}, e); len(got) != 0 {
		t.Fatalf("the proposer reviews its own retirement: %+v", got)
	}
}
