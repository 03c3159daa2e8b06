package workflow

import (
	"context"
	"fmt"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// recent is the generator as it answers a revision request: evidence and
// backtests over the recent window.
func (g SLOGenerator) recent() SLOGenerator {
	if g.Recent != nil {
		g.Evidence = g.Recent
	}
	if g.RecentBacktest != nil {
		g.Backtest, g.recentWindow = g.RecentBacktest, true
	}
	return g
}

// answerRevision makes def the revision a request asks for: the next
// version of exactly the token the request supersedes, with the evidence
// that opened the request in its provenance.
func (g SLOGenerator) answerRevision(ctx context.Context, def nft.Definition, req records.GenerationRequest) (nft.Definition, error) {
	if req.Supersedes == "" {
		return nft.Definition{}, fmt.Errorf("%w: revision request %s names no token to supersede", ErrCannotGenerate, req.ID)
	}
	if g.Active == nil {
		return nft.Definition{}, fmt.Errorf("revision request %s: this node cannot read the active SLOs of %s", req.ID, req.Service)
	}
	active, err := g.Active(ctx, req.Service)
	if err != nil {
		return nft.Definition{}, fmt.Errorf("active SLOs of %s: %w", req.Service, err)
	}
	var current *nft.Token
	for i := range active {
		if active[i].ID == req.Supersedes && active[i].State.Status == nft.StatusActive {
			current = &active[i]
		}
	}
	if current == nil {
		// Revised or retired since: a proposal could not supersede it.
		return nft.Definition{}, fmt.Errorf("%w: token %s, which request %s revises, is no longer an active SLO of %s",
			ErrCannotGenerate, req.Supersedes, req.ID, req.Service)
	}
	if sameSLO(def, current.Definition) {
		// Minting it would change nothing but the version, and the
		// evidence that asked would ask again of the copy: decline, so
		// the request closes and the token stays as it is.
		return nft.Definition{}, fmt.Errorf("%w: the recent window supports no SLO other than token %s's (%s at %.6g%%)",
			ErrCannotGenerate, current.ID, current.Definition.Name, current.Definition.SLO.Objective*100)
	}
	def.Supersedes, def.Version = current.ID, current.Definition.Version+1
	if ev := req.Evidence; ev != nil {
		def.Provenance.Revision = &nft.RevisionReason{Trigger: ev.Trigger, Reason: ev.Reason, RequestID: req.ID}
	}
	if err := nft.ValidateDefinition(def); err != nil {
		return nft.Definition{}, fmt.Errorf("revision of %s: %w", current.ID, err)
	}
	return def, nil
}

// sameSLO reports whether two definitions measure the same SLI against the
// same objective over the same period.
func sameSLO(a, b nft.Definition) bool {
	x, y := a.SLI, b.SLI
	return x.Service == y.Service && x.Kind == y.Kind && x.GoodQuery == y.GoodQuery && x.TotalQuery == y.TotalQuery &&
		x.ErrorRatioQuery == y.ErrorRatioQuery && x.LatencyThreshold == y.LatencyThreshold &&
		a.SLO.Objective == b.SLO.Objective && a.SLO.Period == b.SLO.Period
}
