package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/workflow"
)

var (
	tokV4    = strings.Repeat("4", 64)
	tokV3    = strings.Repeat("3", 64)
	otherTok = strings.Repeat("9", 64)
)

func revisionRequest(supersedes string) records.GenerationRequest {
	req := request()
	req.ID, req.Kind, req.Supersedes = "rev-1", records.RequestRevision, supersedes
	req.Evidence = &records.Evidence{Trigger: records.TriggerBreached, Reason: "the objective was missed in 3 of the last 3 periods",
		Figures: map[string]float64{"breached_periods": 3}}
	return req
}

// activeSLO is the service's current SLO, version 4.
func activeSLO(status nft.Status) func(context.Context, string) ([]nft.Token, error) {
	return func(_ context.Context, service string) ([]nft.Token, error) {
		return []nft.Token{
			{ID: otherTok, Definition: nft.Definition{Name: "x", Version: 9, SLI: nft.SLI{Service: service}}, State: nft.State{Status: nft.StatusActive}},
			{ID: tokV4, Definition: nft.Definition{Name: "old", Version: 4, SLI: nft.SLI{Service: service}}, State: nft.State{Status: status}},
		}, nil
	}
}

// A revision answers its request: the objective fitted to the recent
// window (the service as it is after a lasting shift), the next version of
// exactly the token the request names, and the evidence in the provenance.
func TestRevisionIsFittedToTheRecentWindow(t *testing.T) {
	ctx := context.Background()
	// Fourteen days at 99.95%, the last few at 98.5%.
	g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995), Recent: evidence(0.985), Active: activeSLO(nft.StatusActive)}
	full, err := g.Generate(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	rev, err := g.Generate(ctx, revisionRequest(tokV4))
	if err != nil {
		t.Fatal(err)
	}
	d := rev.Definition
	if d.SLO.Objective >= full.Definition.SLO.Objective || d.SLO.Objective > 0.985 {
		t.Errorf("revision objective %v (whole history's %v): want one the recent 98.5%% meets", d.SLO.Objective, full.Definition.SLO.Objective)
	}
	if rev.Figures["achieved"] > 0.9851 {
		t.Errorf("the proposer's figures %v are not the recent window's", rev.Figures)
	}
	if d.Supersedes != tokV4 || d.Version != 5 {
		t.Errorf("supersedes %q version %d; want the named token and 5 (not the same-named or first active token)", d.Supersedes, d.Version)
	}
	r := d.Provenance.Revision
	if r == nil || r.Trigger != records.TriggerBreached || r.RequestID != "rev-1" || r.Reason == "" {
		t.Errorf("provenance revision %+v", r)
	}
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	// Without a recent window the whole history is read.
	g.Recent = nil
	rev, err = g.Generate(ctx, revisionRequest(tokV4))
	if err != nil || rev.Definition.SLO.Objective != full.Definition.SLO.Objective {
		t.Errorf("without a recent window: %v, %v", rev.Definition.SLO.Objective, err)
	}
}

// A revision request that cannot be answered is declined, not retried.
func TestRevisionOfATokenNoLongerActive(t *testing.T) {
	tests := []struct {
		name   string
		req    records.GenerationRequest
		active func(context.Context, string) ([]nft.Token, error)
	}{
		{"superseded since", revisionRequest(tokV4), activeSLO(nft.StatusSuperseded)},
		{"unknown token", revisionRequest(tokV3), activeSLO(nft.StatusActive)},
		{"no token named", revisionRequest(""), activeSLO(nft.StatusActive)},
	}
	for _, tt := range tests {
		g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995), Active: tt.active}
		if _, err := g.Generate(context.Background(), tt.req); !errors.Is(err, workflow.ErrCannotGenerate) {
			t.Errorf("%s: err = %v, want ErrCannotGenerate", tt.name, err)
		}
	}
}

// A revision that would be the current SLO again (the recent window fits
// the same SLI and objective) is declined: minting a copy changes nothing
// and the same evidence would ask again of it, version after version.
func TestARevisionIdenticalToTheCurrentSLOIsDeclined(t *testing.T) {
	ctx := context.Background()
	g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995), Recent: evidence(0.985)}
	same, err := g.Generate(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	current := nft.Token{ID: tokV4, Definition: same.Definition, State: nft.State{Status: nft.StatusActive}}
	current.Definition.Version = 4
	g.Active = func(context.Context, string) ([]nft.Token, error) { return []nft.Token{current}, nil }
	g.Recent = evidence(0.9995)
	if _, err := g.Generate(ctx, revisionRequest(tokV4)); !errors.Is(err, workflow.ErrCannotGenerate) || !strings.Contains(err.Error(), "no SLO other than") {
		t.Fatalf("an identical revision: err = %v, want ErrCannotGenerate", err)
	}
	g.Recent = evidence(0.985)
	if rev, err := g.Generate(ctx, revisionRequest(tokV4)); err != nil || rev.Definition.Version != 5 {
		t.Fatalf("a revision that changes the objective: %v", err)
	}
}

// A revision's candidate must hold its objective over the recent window it
// is replayed on: a window of a few periods spends little of a whole SLO
// period's budget even when it misses the objective, so that share cannot
// tell (the reviewers would reject it on recent_budget_consumed).
func TestRevisionCandidateMustHoldOverTheRecentWindow(t *testing.T) {
	replayAt := func(errorRatio float64) func(context.Context, nft.Definition) (workflow.Replay, error) {
		return func(context.Context, nft.Definition) (workflow.Replay, error) {
			// Half a day of a 30-day period: BudgetSpent stays below 1.
			return workflow.Replay{Report: backtest.Report{ErrorRatio: errorRatio, BudgetSpent: errorRatio / 0.05 / 60}}, nil
		}
	}
	g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995), Recent: evidence(0.985),
		Active: activeSLO(nft.StatusActive), Backtest: replayAt(0), RecentBacktest: replayAt(0.45)}
	if rev, err := g.Generate(context.Background(), revisionRequest(tokV4)); !errors.Is(err, workflow.ErrCannotGenerate) {
		t.Fatalf("a revision missing its objective over the recent window was generated: %+v, %v", rev.Definition.SLO, err)
	}
	g.RecentBacktest = replayAt(0.001)
	if _, err := g.Generate(context.Background(), revisionRequest(tokV4)); err != nil {
		t.Fatalf("a revision that holds over the recent window: %v", err)
	}
	// A new SLO's whole-history replay is judged as before.
	g.Backtest = replayAt(0.45)
	if _, err := g.Generate(context.Background(), request()); err != nil {
		t.Fatalf("a new SLO: %v", err)
	}
}
