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
	// Active, if set, lists the service's active tokens: a generation for
	// a service with an active SLO proposes its next version, superseding
	// it (the one of the same name, else the first), so the consortium
	// keeps one active SLO per service.
	Active func(ctx context.Context, service string) ([]nft.Token, error)
	// Deviation ranks a service's metrics by their deviation during this
	// organization's own incidents, best first, relevance in [0, 1]
	// (federation.Trainer.DeviationRanking). It is used when the round's
	// ranking for the service is the deviation fallback: the request then
	// carries no learned order, and without a local ranking the SLI would
	// be picked in the order the evidence lists metrics. Without it such
	// requests are declined. Errors wrapping source.ErrNoIncidents or
	// source.ErrNotEnoughHistory decline the request too: another runner
	// may have the incidents this one lacks.
	Deviation func(ctx context.Context, service string) ([]nft.Metric, error)
	// Recent, if set, is the evidence a revision request (Kind revision)
	// is answered from: the service's recent history only (the evidence
	// periods, lifecycle.revision_history), so the objective fits the
	// service as it is now, not as it was before a lasting shift. Without
	// it revisions read Evidence. RecentBacktest replays candidates over
	// the same window (without it, Backtest).
	Recent         Evidence
	RecentBacktest func(ctx context.Context, d nft.Definition) (Replay, error)

	// recentWindow is set while answering a revision (see recent).
	recentWindow bool
}

// Generate implements Generator.
func (g SLOGenerator) Generate(ctx context.Context, req records.GenerationRequest) (Generated, error) {
	revision := req.Kind == records.RequestRevision
	if revision {
		g = g.recent()
	}
	in, err := g.Evidence(ctx, req.Service)
	if errors.Is(err, source.ErrUnknownService) || errors.Is(err, source.ErrNotEnoughHistory) {
		return Generated{}, fmt.Errorf("%w: %v", ErrCannotGenerate, err)
	}
	if err != nil {
		return Generated{}, fmt.Errorf("evidence for %s: %w", req.Service, err)
	}
	in.Proposer, in.Period = g.Self, g.Period
	in.Routing, in.PeriodSLI = g.Routing, g.PeriodSLI
	in.RoundID, in.GlobalModelDigest, in.GenerationRequestID = req.RoundID, req.GlobalModelDigest, req.ID
	in.Contributors = req.Contributors
	if err := g.rank(ctx, &in, req); err != nil {
		return Generated{}, err
	}
	var def nft.Definition
	if g.LLM != nil {
		def, err = g.LLM.Generate(ctx, in)
		if err != nil {
			return Generated{}, err
		}
	} else if def, err = g.builtin(ctx, in); err != nil {
		// The builtin generator is deterministic on the evidence: what it
		// cannot do now it cannot do on a retry either.
		return Generated{}, fmt.Errorf("%w: %v", ErrCannotGenerate, err)
	}
	if revision {
		def, err = g.answerRevision(ctx, def, req)
	} else {
		def, err = g.revise(ctx, def)
	}
	if err != nil {
		return Generated{}, err
	}
	out := Generated{Definition: def}
	if ev, err := MapSLI(in, def.SLI); err == nil {
		out.Figures = ev.figures(def)
	}
	return out, nil
}

// revise makes def the next version of the service's active SLO, if it
// has one.
func (g SLOGenerator) revise(ctx context.Context, def nft.Definition) (nft.Definition, error) {
	if g.Active == nil {
		return def, nil
	}
	active, err := g.Active(ctx, def.SLI.Service)
	if err != nil {
		return nft.Definition{}, fmt.Errorf("active SLOs of %s: %w", def.SLI.Service, err)
	}
	target := Supersedable(active, def)
	if target == nil {
		return def, nil
	}
	def.Supersedes, def.Version = target.ID, target.Definition.Version+1
	if err := nft.ValidateDefinition(def); err != nil {
		return nft.Definition{}, fmt.Errorf("revision of %s: %w", target.ID, err)
	}
	return def, nil
}

// Supersedable picks the active token a new definition of the same
// service revises: the one of the same name, else the first; nil when the
// service has none.
func Supersedable(active []nft.Token, def nft.Definition) *nft.Token {
	var first *nft.Token
	for i := range active {
		t := &active[i]
		if t.State.Status != nft.StatusActive || t.Definition.SLI.Service != def.SLI.Service {
			continue
		}
		if t.Definition.Name == def.Name {
			return t
		}
		if first == nil {
			first = t
		}
	}
	return first
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
		if g.recentWindow && replay.Report.ErrorRatio > nft.ErrorBudget(def.SLO.Objective) {
			// A revision's window is a few periods: BudgetSpent, a share
			// of a whole SLO period's budget, hardly grows over it. The
			// objective must hold over the window itself, as the
			// reviewers check (recent_budget_consumed).
			lastErr = fmt.Errorf("SLI %s missed its objective %v over the recent window (error ratio %.4g)", def.Name, def.SLO.Objective, replay.Report.ErrorRatio)
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

// rank gives the evidence metrics their relevance: the round's learned
// ranking, or, where the round fell back from learning, this
// organization's own deviation ranking, and records which in the
// provenance.
func (g SLOGenerator) rank(ctx context.Context, in *builtin.Input, req records.GenerationRequest) error {
	if req.RankingBasis != records.RankingDeviationFallback {
		applyRanking(in, req.SLIs)
		if req.RankingBasis == records.RankingLearned {
			in.RankingBasis = nft.RankingLearned
		}
		return nil
	}
	if g.Deviation == nil {
		return fmt.Errorf("%w: the round's ranking of %s is the deviation fallback (%s) and this node ranks no metrics by deviation",
			ErrCannotGenerate, req.Service, req.RankingReason)
	}
	ranked, err := g.Deviation(ctx, req.Service)
	switch {
	case errors.Is(err, source.ErrNoIncidents) || errors.Is(err, source.ErrNotEnoughHistory):
		return fmt.Errorf("%w: the round's ranking of %s is the deviation fallback, and %v", ErrCannotGenerate, req.Service, err)
	case err != nil:
		return fmt.Errorf("deviation ranking of %s: %w", req.Service, err)
	}
	applyRanking(in, ranked)
	in.RankingBasis = nft.RankingLocalDeviation
	return nil
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

// OwnDataReviewer reviews another member's proposal on this
// organization's own data: its definition must validate here too (PromQL,
// rule file, rendering); the SLI is mapped onto this organization's series
// by metric name and service (a latency SLI by its agreed bucket) and the
// objective must have held over this organization's history, and, with a
// backtest, its alerts must not have paged falsely. Every approval and
// rejection carries the figures it rests on; a proposal it cannot evaluate
// (service or metrics not here, too little history) gets an abstention
// with the reason.
type OwnDataReviewer struct {
	Evidence  Evidence
	Validator validate.Validator
	// MinDays is the history an evaluation needs (default 1 day).
	MinDays int
	// Backtest, if set, replays the proposal's alerts over this
	// organization's history; more than MaxFalsePages false pages is a
	// rejection: the SLO would page this organization's on-call for
	// nothing.
	Backtest      func(ctx context.Context, d nft.Definition) (Replay, error)
	MaxFalsePages int
	Log           *slog.Logger
	// Revisions and retirements (see review_revision.go): Token reads the
	// token a revision supersedes; Compare replays the current token and
	// the revision over one range of this organization's history; Recent
	// measures a definition over the recent window (the evidence periods).
	Token   func(ctx context.Context, id string) (nft.Token, error)
	Compare func(ctx context.Context, current, revision nft.Definition) (Replay, Replay, error)
	Recent  func(ctx context.Context, d nft.Definition) (records.Attestation, error)
}

// Review implements Reviewer.
func (r OwnDataReviewer) Review(ctx context.Context, p records.Proposal) (Verdict, error) {
	if p.Kind == records.ProposalRetirement {
		return r.reviewRetirement(ctx, p)
	}
	def := p.Definition
	// A revision is compared with the token it supersedes when this
	// node can replay both; otherwise it is reviewed as a new SLO.
	revision := def.Supersedes != "" && r.Compare != nil && r.Token != nil
	service := def.SLI.Service
	if rep := r.Validator.Validate(ctx, def); !rep.Passed() {
		return Reject(map[string]float64{"validation_failures": float64(failures(rep))},
			"the definition does not validate here: %v", rep.Err()), nil
	}
	in, err := r.Evidence(ctx, service)
	var short *source.NotEnoughHistoryError
	switch {
	case errors.Is(err, source.ErrUnknownService):
		return Abstain(nil, "we do not run %s", service), nil
	case errors.As(err, &short):
		return Abstain(map[string]float64{"history_hours": short.Present.Hours(), "needed_hours": short.Needed.Hours()},
			"not enough history of %s here: %s", service, short.Error()), nil
	case err != nil:
		return Verdict{}, fmt.Errorf("evidence for %s: %w", service, err)
	}
	ev, err := MapSLI(in, def.SLI)
	if err != nil {
		return Abstain(nil, "cannot map the SLI onto our %s series: %v", service, err), nil
	}
	figures := ev.figures(def)
	minDays := max(r.MinDays, 1)
	switch {
	case ev.Days < minDays:
		return Abstain(figures, "our %s has %d days of history, %d needed", service, ev.Days, minDays), nil
	case !(ev.Events > 0):
		return Abstain(figures, "our %s saw no events of the SLI in %d days", service, ev.Days), nil
	case 1-ev.Achieved > def.SLO.ErrorBudget+1e-12 && !(revision && r.Recent != nil):
		// A revision's objective is judged on the recent window instead.
		return Reject(figures, "over %d days our %s achieved %.4f%%, below the proposed objective %.4f%%",
			ev.Days, service, ev.Achieved*100, def.SLO.Objective*100), nil
	}
	if revision {
		return r.reviewRevision(ctx, p, figures)
	}
	if r.Backtest != nil {
		replay, err := r.Backtest(ctx, def)
		if err != nil {
			// The objective held on our data; a replay that cannot run
			// here (a series the engine cannot read) does not block it.
			r.logger().Warn("could not backtest the proposal on our data", "proposal", p.ID, "err", err)
			return Approve(fmt.Sprintf("over %d days our %s achieved %.4f%% (objective %.4f%%); no backtest: %v",
				ev.Days, service, ev.Achieved*100, def.SLO.Objective*100, err), figures), nil
		}
		figures["budget_spent"] = replay.Report.BudgetSpent
		figures["false_pages"] = float64(falsePages(replay.Report))
		figures["incidents"] = float64(len(replay.Report.Incidents))
		figures["incidents_detected"] = float64(detections(replay.Report))
		switch {
		case replay.Report.BudgetSpent > 1:
			return Reject(figures, "on our history the objective would not have held: %.0f%% of a period's error budget spent",
				replay.Report.BudgetSpent*100), nil
		case falsePages(replay.Report) > r.MaxFalsePages:
			return Reject(figures, "on our history its alerts would have paged %d times outside any incident (at most %d accepted)",
				falsePages(replay.Report), r.MaxFalsePages), nil
		}
	}
	return Approve(fmt.Sprintf("over %d days our %s achieved %.4f%% (objective %.4f%%)",
		ev.Days, service, ev.Achieved*100, def.SLO.Objective*100), figures), nil
}

func failures(r validate.Report) int {
	n := 0
	for _, c := range r.Checks {
		if !c.Passed {
			n++
		}
	}
	return n
}

func (r OwnDataReviewer) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
