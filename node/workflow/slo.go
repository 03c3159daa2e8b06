package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
)

// Evidence reads one service's evidence from the organization's own
// metrics: candidate metrics with their types and daily history. An
// organization that does not run the service returns an error wrapping
// source.ErrUnknownService.
type Evidence func(ctx context.Context, service string) (builtin.Input, error)

// LLM is an LLM-backed generator (llm/ollama's Generator fits through a
// small adapter); optional.
type LLM interface {
	Generate(ctx context.Context, in builtin.Input) (nft.Definition, error)
}

// SLOGenerator answers generation requests: the evidence comes from this
// organization's data, the relevance of each metric from the federated
// ranking the request carries.
type SLOGenerator struct {
	Self   string
	Period string
	// Routing and PeriodSLI go into every definition (the node's
	// generator.routing and generator.period_sli).
	Routing   *nft.Routing
	PeriodSLI nft.PeriodSLI
	Evidence  Evidence
	Builtin   builtin.Generator
	LLM       LLM
	// Backtest, if set, makes the builtin generator choose among the SLIs
	// the evidence supports by replaying each over this organization's
	// history: the one that detects the most known incidents with the
	// fewest false pages wins, relevance breaking ties. Without it the
	// most relevant SLI is taken.
	Backtest func(ctx context.Context, d nft.Definition) (Replay, error)
	// Candidates bounds how many SLIs are backtested (default 6).
	Candidates int
}

// Generate implements Generator.
func (g SLOGenerator) Generate(ctx context.Context, req records.GenerationRequest) (nft.Definition, error) {
	in, err := g.Evidence(ctx, req.Service)
	if errors.Is(err, source.ErrUnknownService) {
		return nft.Definition{}, fmt.Errorf("%w: %v", ErrCannotGenerate, err)
	}
	if err != nil {
		return nft.Definition{}, fmt.Errorf("evidence for %s: %w", req.Service, err)
	}
	in.Proposer, in.Period = g.Self, g.Period
	in.Routing, in.PeriodSLI = g.Routing, g.PeriodSLI
	in.RoundID, in.GlobalModelDigest, in.GenerationRequestID = req.RoundID, req.GlobalModelDigest, req.ID
	in.Contributors = req.Contributors
	applyRanking(&in, req.SLIs)
	if g.LLM != nil {
		return g.LLM.Generate(ctx, in)
	}
	def, err := g.builtin(ctx, in)
	if err != nil {
		// The builtin generator is deterministic on the evidence: what it
		// cannot do now it cannot do on a retry either.
		return nft.Definition{}, fmt.Errorf("%w: %v", ErrCannotGenerate, err)
	}
	return def, nil
}

// builtin defines the most relevant SLI or, with a backtest, the one whose
// alerts best detected this organization's known incidents.
func (g SLOGenerator) builtin(ctx context.Context, in builtin.Input) (nft.Definition, error) {
	if g.Backtest == nil {
		return g.Builtin.Generate(ctx, in)
	}
	cands, err := builtin.Candidates(in, g.Builtin.Options)
	if err != nil {
		return nft.Definition{}, err
	}
	limit := g.Candidates
	if limit <= 0 {
		limit = 6
	}
	var best nft.Definition
	bestDetected, bestFalse := -1, 0
	var lastErr error
	for _, c := range cands[:min(len(cands), limit)] { // most relevant first: ties keep it
		def, err := g.Builtin.Define(ctx, in, c)
		if err != nil {
			lastErr = err
			continue
		}
		replay, err := g.Backtest(ctx, def)
		if err != nil {
			lastErr = err
			continue
		}
		if replay.Report.BudgetSpent > 1 {
			// The objective would not have held on this history as the
			// alerts measure it; do not propose it.
			lastErr = fmt.Errorf("SLI %s would have spent %.0f%% of a period's budget", def.Name, replay.Report.BudgetSpent*100)
			continue
		}
		detected, falsePages := detections(replay.Report), falsePages(replay.Report)
		if detected > bestDetected || (detected == bestDetected && falsePages < bestFalse) {
			best, bestDetected, bestFalse = def, detected, falsePages
		}
	}
	if bestDetected < 0 {
		return nft.Definition{}, fmt.Errorf("no candidate SLI could be defined and backtested: %w", lastErr)
	}
	return best, nil
}

// applyRanking gives each evidence metric the federated relevance of the
// ranked metric it is (a ranked name may carry a label selector), and
// leaves unranked metrics at zero so the ranked ones are preferred.
func applyRanking(in *builtin.Input, ranked []nft.Metric) {
	for i := range in.Metrics {
		m := &in.Metrics[i]
		m.Relevance, m.Stability = 0, 0
		for _, r := range ranked {
			name, _, _ := strings.Cut(r.Name, "{")
			if name == m.Name || validate.HistogramBase(name) == m.Name {
				m.Relevance = max(m.Relevance, r.Relevance)
				m.Stability = max(m.Stability, r.Stability)
			}
		}
	}
}

// OwnDataReviewer reviews another member's proposal: its definition must
// validate here too (PromQL, rule file, rendering), and where this
// organization runs the service and has the SLI's metrics, the objective
// must have held over this organization's own history.
type OwnDataReviewer struct {
	Evidence  Evidence
	Validator validate.Validator
	Options   builtin.Options
	// Backtest, if set, replays the proposal's alerts over this
	// organization's history; more than MaxFalsePages false pages is a
	// rejection: the SLO would page this organization's on-call for
	// nothing.
	Backtest      func(ctx context.Context, d nft.Definition) (Replay, error)
	MaxFalsePages int
	Log           *slog.Logger
}

// Review implements Reviewer.
func (r OwnDataReviewer) Review(ctx context.Context, p records.Proposal) (Verdict, error) {
	def := p.Definition
	if rep := r.Validator.Validate(ctx, def); !rep.Passed() {
		return Verdict{Reason: fmt.Sprintf("the definition does not validate here: %v", rep.Err())}, nil
	}
	in, err := r.Evidence(ctx, def.SLI.Service)
	if errors.Is(err, source.ErrUnknownService) {
		r.logger().Info("approving on validation alone: this organization does not run the service", "service", def.SLI.Service, "proposal", p.ID)
		return Verdict{Approve: true}, nil
	}
	if err != nil {
		return Verdict{}, fmt.Errorf("evidence for %s: %w", def.SLI.Service, err)
	}
	c, ok := matchingCandidate(in, def.SLI, r.Options)
	if !ok {
		r.logger().Info("approving on validation alone: this organization lacks the SLI's metrics", "service", def.SLI.Service, "proposal", p.ID)
		return Verdict{Approve: true}, nil
	}
	achieved, days := achievedLevel(c)
	if days > 0 && 1-achieved > def.SLO.ErrorBudget+1e-12 {
		return Verdict{Reason: fmt.Sprintf("over %d days our %s achieved %.4f%%, below the proposed objective %.4f%%",
			days, def.SLI.Service, achieved*100, def.SLO.Objective*100)}, nil
	}
	if r.Backtest != nil {
		replay, err := r.Backtest(ctx, def)
		switch {
		case err != nil:
			// A replay that cannot run here (the SLI's series are not
			// in our data) is no reason to block; the other checks stand.
			r.logger().Warn("could not backtest the proposal on our data", "proposal", p.ID, "err", err)
		case replay.Report.BudgetSpent > 1:
			return Verdict{Reason: fmt.Sprintf("on our history the objective would not have held: %.0f%% of a period's error budget spent", replay.Report.BudgetSpent*100)}, nil
		case falsePages(replay.Report) > r.MaxFalsePages:
			n := falsePages(replay.Report)
			return Verdict{Reason: fmt.Sprintf("on our history its alerts would have paged %d times outside any incident (at most %d accepted)", n, r.MaxFalsePages)}, nil
		}
	}
	return Verdict{Approve: true}, nil
}

// matchingCandidate finds, among the SLIs this organization's evidence
// supports, the one the definition measures (same queries).
func matchingCandidate(in builtin.Input, sli nft.SLI, opts builtin.Options) (builtin.Candidate, bool) {
	cands, err := builtin.Candidates(in, opts)
	if err != nil {
		return builtin.Candidate{}, false
	}
	for _, c := range cands {
		if sameQuery(c.Spec.GoodQuery, sli.GoodQuery) && sameQuery(c.Spec.TotalQuery, sli.TotalQuery) &&
			sameQuery(c.Spec.ErrorRatioQuery, sli.ErrorRatioQuery) {
			return c, true
		}
	}
	return builtin.Candidate{}, false
}

func sameQuery(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	ca, errA := validate.Canonical(a)
	cb, errB := validate.Canonical(b)
	return errA == nil && errB == nil && ca == cb
}

// achievedLevel is good/total over the candidate's whole history.
func achievedLevel(c builtin.Candidate) (float64, int) {
	var good, total float64
	for i := range c.Total {
		good += c.Good[i]
		total += c.Total[i]
	}
	if total <= 0 {
		return 0, 0
	}
	return min(1, good/total), len(c.Total)
}

func (r OwnDataReviewer) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
