// Package workflow is the governed part of a node's life, driven by ledger
// events: when a round finalizes (or a member asks) the organization
// assigned generates, validates and proposes an SLO; every other member
// reviews a proposal against its own data and approves or rejects it with a
// reason; when a token is minted, revised or retired its rules take effect.
//
// Decide is a pure function from one event to the actions this
// organization takes. The Executor carries them out idempotently against
// the ledger, so a node that replays events after a restart (its event
// checkpoint trails its actions) neither misses nor repeats an action.
// Federated rounds themselves are network.Participant's.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Action is something this organization does in response to an event.
type Action interface{ isAction() }

// Generate asks for an SLO definition answering a request, to propose.
type Generate struct{ Request records.GenerationRequest }

// Review asks for another member's proposal to be checked and decided.
type Review struct{ Proposal records.Proposal }

// Install makes a token's state take effect: active rules installed,
// superseded or retired ones removed.
type Install struct{ Token nft.Token }

func (Generate) isAction() {}
func (Review) isAction()   {}
func (Install) isAction()  {}

// Policy says what this organization does beyond its duties.
type Policy struct {
	Self string
	// Volunteer makes the node generate for every request, not only those
	// assigned to it; the first proposal to reach quorum wins.
	Volunteer bool
}

// Decide returns the actions an event calls for.
func Decide(p Policy, e records.Event) []Action {
	var out []Action
	switch e.Kind {
	case records.EventRoundFinalized, records.EventGenerationRequested, records.EventRequestReassigned:
		for _, req := range e.Requests {
			if req.Status == records.RequestOpen && (req.Assignee == p.Self || p.Volunteer) {
				out = append(out, Generate{Request: req})
			}
		}
	case records.EventProposalSubmitted:
		if pr := e.Proposal; pr != nil && pr.Proposer != p.Self && pr.Status == records.ProposalOpen && slices.Contains(pr.Members, p.Self) {
			out = append(out, Review{Proposal: *pr})
		}
	case records.EventTokenMinted, records.EventTokenRetired:
		if e.Superseded != nil {
			out = append(out, Install{Token: *e.Superseded})
		}
		if e.Token != nil {
			out = append(out, Install{Token: *e.Token})
		}
	}
	return out
}

// Ledger is what the executor needs of the chaincode: the transactions
// it reads and submits, typed (*chaincode.Client is one).
type Ledger interface {
	Request(ctx context.Context, requestID string) (records.GenerationRequest, error)
	ProposalsByRequest(ctx context.Context, requestID string) ([]records.Proposal, error)
	Proposal(ctx context.Context, proposalID string) (records.Proposal, error)
	Decisions(ctx context.Context, proposalID string) ([]records.Decision, error)
	Propose(ctx context.Context, requestID string, def nft.Definition) (chaincode.Committed[records.Proposal], error)
	ProposeWith(ctx context.Context, requestID string, def nft.Definition, d records.DecisionSpec) (chaincode.Committed[records.Proposal], error)
	Decide(ctx context.Context, proposalID string, d records.DecisionSpec) (chaincode.Committed[records.Proposal], error)
	Decline(ctx context.Context, requestID, reason string) (chaincode.Committed[records.GenerationRequest], error)
	Reassign(ctx context.Context, requestID string) (chaincode.Committed[records.GenerationRequest], error)
}

// Generated is a definition answering a request, with the figures the
// proposer measured on its own history (recorded with its approval).
type Generated struct {
	Definition nft.Definition
	Figures    map[string]float64
}

// Generator writes and validates a definition answering a request; the
// definition names this organization as proposer.
type Generator interface {
	Generate(ctx context.Context, req records.GenerationRequest) (Generated, error)
}

// ErrCannotGenerate is wrapped by generators when this organization cannot
// answer a request at all (it does not run the service, or its data holds
// no usable metric): the executor then declines the request, which the
// ledger hands to another member that runs the service.
var ErrCannotGenerate = errors.New("cannot generate")

// Verdict is a reviewer's decision on a proposal, with what it rests on:
// approve or reject with the figures measured on this organization's
// data, or abstain with the reason it cannot evaluate.
type Verdict struct {
	Kind    records.Verdict
	Reason  string
	Figures map[string]float64
}

// Approve is an approval resting on figures.
func Approve(reason string, figures map[string]float64) Verdict {
	return Verdict{Kind: records.VerdictApprove, Reason: reason, Figures: figures}
}

// Reject is a rejection with its reason and figures.
func Reject(figures map[string]float64, format string, args ...any) Verdict {
	return Verdict{Kind: records.VerdictReject, Reason: fmt.Sprintf(format, args...), Figures: figures}
}

// Abstain is an abstention with its reason.
func Abstain(figures map[string]float64, format string, args ...any) Verdict {
	return Verdict{Kind: records.VerdictAbstain, Reason: fmt.Sprintf(format, args...), Figures: figures}
}

// Reviewer checks another member's proposal against this organization's
// own data (validation, backtest).
type Reviewer interface {
	Review(ctx context.Context, p records.Proposal) (Verdict, error)
}

// Installer makes token states take effect.
type Installer interface {
	Apply(ctx context.Context, t nft.Token) (changed bool, err error)
	Reload(ctx context.Context) error
}

// Executor carries out actions.
type Executor struct {
	Policy    Policy
	Ledger    Ledger
	Generator Generator
	Reviewer  Reviewer
	Installer Installer
	// Turns, if set, follows other members' turns on open requests, for
	// Sweep to reassign those that pass without a proposal.
	Turns *Turns
	Log   *slog.Logger
}

// Handle runs the actions an event calls for. It returns an error only for
// failures worth retrying (the caller then keeps its event checkpoint); a
// refusal by the ledger that the action is already done is success.
func (x Executor) Handle(ctx context.Context, e records.Event) error {
	changed := false
	var errs []error
	if x.Turns != nil {
		x.Turns.Note(e)
	}
	for _, a := range Decide(x.Policy, e) {
		var err error
		switch a := a.(type) {
		case Generate:
			err = x.generate(ctx, a.Request)
		case Review:
			err = x.review(ctx, a.Proposal)
		case Install:
			var c bool
			c, err = x.Installer.Apply(ctx, a.Token)
			changed = changed || c
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if changed {
		if err := x.Installer.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (x Executor) generate(ctx context.Context, req records.GenerationRequest) error {
	// Catching up, the event may describe a request long settled or
	// since passed to another member: the ledger says which.
	current, err := x.request(ctx, req.ID)
	if err != nil {
		return err
	}
	if current.Status != records.RequestOpen || (current.Assignee != x.Policy.Self && !x.Policy.Volunteer) {
		x.logger().Debug("request settled or reassigned; not generating", "request", req.ID, "status", current.Status, "assignee", current.Assignee)
		return nil
	}
	req = current
	proposed, err := x.alreadyProposed(ctx, req.ID)
	if err != nil || proposed {
		return err
	}
	gen, err := x.Generator.Generate(ctx, req)
	if errors.Is(err, ErrCannotGenerate) {
		// Retrying cannot help (this organization lacks the service or
		// usable metrics): pass the request to another member.
		x.logger().Warn("declining a request", "request", req.ID, "service", req.Service, "reason", err)
		if req.Assignee != x.Policy.Self {
			return nil
		}
		if _, err := x.Ledger.Decline(ctx, req.ID, reasonText(err)); err != nil && !isDone(err) {
			return fmt.Errorf("declining request %s: %w", req.ID, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("generating for request %s: %w", req.ID, err)
	}
	def := gen.Definition
	if len(gen.Figures) > 0 {
		_, err = x.Ledger.ProposeWith(ctx, req.ID, def, records.DecisionSpec{Verdict: records.VerdictApprove, Figures: gen.Figures,
			Reason: "generated from our own history"})
	} else {
		_, err = x.Ledger.Propose(ctx, req.ID, def)
	}
	if err != nil {
		if isDone(err) {
			return nil
		}
		return fmt.Errorf("proposing for request %s: %w", req.ID, err)
	}
	x.logger().Info("proposed an SLO", "request", req.ID, "service", req.Service, "name", def.Name,
		"objective", def.SLO.Objective, "version", def.Version, "supersedes", def.Supersedes)
	return nil
}

// reasonText bounds an error's text to what the ledger takes as a reason.
func reasonText(err error) string {
	s := strings.TrimSpace(err.Error())
	if len(s) > records.MaxReasonLen {
		s = s[:records.MaxReasonLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func (x Executor) request(ctx context.Context, id string) (records.GenerationRequest, error) {
	req, err := x.Ledger.Request(ctx, id)
	if err != nil {
		return req, fmt.Errorf("reading request %s: %w", id, err)
	}
	return req, nil
}

// alreadyProposed reports whether this organization has a proposal for the
// request on the ledger: a replayed event must not propose twice.
func (x Executor) alreadyProposed(ctx context.Context, requestID string) (bool, error) {
	props, err := x.Ledger.ProposalsByRequest(ctx, requestID)
	if err != nil {
		return false, fmt.Errorf("reading proposals of %s: %w", requestID, err)
	}
	return slices.ContainsFunc(props, func(p records.Proposal) bool { return p.Proposer == x.Policy.Self }), nil
}

func (x Executor) review(ctx context.Context, p records.Proposal) error {
	// Catching up, a proposal the event shows open may have closed since.
	current, err := x.Ledger.Proposal(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("reading proposal %s: %w", p.ID, err)
	}
	if current.Status != records.ProposalOpen {
		x.logger().Debug("proposal closed; not reviewing", "proposal", p.ID, "status", current.Status)
		return nil
	}
	decisions, err := x.Ledger.Decisions(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("reading decisions on %s: %w", p.ID, err)
	}
	if slices.ContainsFunc(decisions, func(d records.Decision) bool { return d.MSPID == x.Policy.Self }) {
		return nil
	}
	v, err := x.Reviewer.Review(ctx, p)
	if err != nil {
		return fmt.Errorf("reviewing proposal %s: %w", p.ID, err)
	}
	spec := records.DecisionSpec{Verdict: v.Kind, Reason: v.Reason, Figures: v.Figures}
	if _, err = x.Ledger.Decide(ctx, p.ID, spec); err != nil && !isDone(err) {
		return fmt.Errorf("deciding on proposal %s: %w", p.ID, err)
	}
	x.logger().Info("decided on a proposal", "proposal", p.ID, "service", p.Definition.SLI.Service,
		"verdict", v.Kind, "reason", v.Reason, "figures", v.Figures)
	return nil
}

// isDone recognizes the chaincode's refusals that mean the action has
// already happened or can no longer happen: retrying would not help.
func isDone(err error) bool { return records.IsSettled(err) }

func (x Executor) logger() *slog.Logger {
	if x.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return x.Log
}
