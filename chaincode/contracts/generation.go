package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Generation turns rankings into tokens: requests say what to generate,
// members propose s-528 drafts, and members approve or reject them. A
// proposal that reaches quorum approval is minted in the approving
// transaction.
type Generation struct {
	contractapi.Contract
}

// Request records an explicit generation request for one service.
func (c *Generation) Request(ctx contractapi.TransactionContextInterface, specJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	spec, err := records.ParseRequestSpec(specJSON)
	if err != nil {
		return "", err
	}
	if err := t.checkServicesRun([]string{spec.Service}); err != nil {
		return "", fmt.Errorf("generation request: %w", err)
	}
	req := records.GenerationRequest{
		ID:          requestID(t.txID, spec.Service),
		Service:     spec.Service,
		SLIs:        spec.SLIs,
		Assignee:    spec.Assignee,
		RequestedBy: t.actor.MSPID,
		RequestedAt: t.at,
		TxID:        t.txID,
		Status:      records.RequestOpen,
	}
	if req.Assignee == "" {
		req.Assignee = t.actor.MSPID
	} else if found, err := t.exists(keyOrg, req.Assignee); err != nil {
		return "", err
	} else if !found {
		return "", fmt.Errorf("assignee %s is not a registered member", req.Assignee)
	}
	ttl := records.DefaultRequestTTL
	if spec.TTLSeconds > 0 {
		ttl = time.Duration(spec.TTLSeconds) * time.Second
	}
	req.Deadline = records.FormatTime(t.now.Add(ttl))
	req.MinBackedApprovals = spec.MinBackedApprovals
	req.AssignTTLSeconds = spec.AssignTTLSeconds
	req.AssignedUntil = t.assignedUntil(req)
	if spec.RoundID != "" {
		var round records.Round
		if err := t.mustGet(&round, "round", keyRound, spec.RoundID); err != nil {
			return "", err
		}
		if round.Status != records.RoundFinalized {
			return "", fmt.Errorf("round %q is %s; only a finalized round can back a request", spec.RoundID, round.Status)
		}
		req.RoundID, req.GlobalModelDigest, req.Contributors = round.ID, round.GlobalModelDigest, round.Contributors
	}
	if found, err := t.exists(keyRequest, req.ID); err != nil {
		return "", err
	} else if found {
		return "", fmt.Errorf("generation request %q already exists", req.ID)
	}
	if err := t.putRequest(req); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventGenerationRequested, Requests: []records.GenerationRequest{req}}); err != nil {
		return "", err
	}
	return encode(req)
}

func requestID(txID, service string) string {
	sum := sha256.Sum256([]byte(txID))
	return "req-" + hex.EncodeToString(sum[:8]) + "." + service
}

func (t *txn) putRequest(req records.GenerationRequest) error {
	if req.Contributors == nil {
		req.Contributors = []string{}
	}
	if err := t.put(req, keyRequest, req.ID); err != nil {
		return err
	}
	if req.RoundID != "" {
		return t.putIndex(keyRoundReq, req.RoundID, req.ID)
	}
	return nil
}

// Propose puts an s-528 draft to the vote. The draft must answer an open
// request (same service, round, model and contributors), name the caller as
// proposer, pass validation, and either be the first active SLO of its
// identity (service and name) or supersede the one that is. The
// proposer's own proposal counts as its approval.
func (c *Generation) Propose(ctx contractapi.TransactionContextInterface, requestID string, definitionJSON string) (string, error) {
	return propose(ctx, requestID, definitionJSON, "")
}

// ProposeWith is Propose with the figures the proposer measured on its own
// history (a decision of verdict approve), recorded with its approval.
func (c *Generation) ProposeWith(ctx contractapi.TransactionContextInterface, requestID string, definitionJSON string, decisionJSON string) (string, error) {
	return propose(ctx, requestID, definitionJSON, decisionJSON)
}

func propose(ctx contractapi.TransactionContextInterface, requestID, definitionJSON, decisionJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	own := records.Decision{MSPID: t.actor.MSPID, Approve: true, Verdict: records.VerdictApprove, At: t.at, TxID: t.txID}
	if decisionJSON != "" {
		spec, err := records.ParseDecisionSpec(decisionJSON)
		if err != nil {
			return "", err
		}
		if spec.Verdict != records.VerdictApprove {
			return "", fmt.Errorf("a proposer's decision is approve, not %s", spec.Verdict)
		}
		own.Reason, own.Figures = spec.Reason, spec.Figures
	}
	req, err := t.openRequest(requestID)
	if err != nil {
		return "", err
	}
	def, err := nft.DecodeDefinition([]byte(definitionJSON))
	if err != nil {
		return "", err
	}
	if err := checkAnswers(def, req, t.actor.MSPID); err != nil {
		return "", err
	}
	id, err := nft.TokenIDOf(def)
	if err != nil {
		return "", err
	}
	for _, objectType := range []string{keyProposal, keyToken} {
		if found, err := t.exists(objectType, id); err != nil {
			return "", err
		} else if found {
			return "", records.Settled(fmt.Errorf("definition %s was already proposed or minted", id))
		}
	}
	if err := t.checkIdentity(def); err != nil {
		return "", err
	}
	members, err := t.members()
	if err != nil {
		return "", err
	}
	prop := records.Proposal{
		ID: id, RequestID: req.ID, Definition: def, Proposer: t.actor.MSPID,
		ProposedAt: t.at, TxID: t.txID, Deadline: req.Deadline,
		Members: members, Quorum: majority(len(members)), Status: records.ProposalOpen,
		MinBackedApprovals: min(req.MinBackedApprovals, len(members)),
	}
	if err := t.putIndex(keyReqProposal, req.ID, prop.ID); err != nil {
		return "", err
	}
	own.ProposalID = id
	return t.decide(prop, req, own, nil)
}

// checkAnswers checks that a definition answers a request and names the
// caller as its proposer.
func checkAnswers(def nft.Definition, req records.GenerationRequest, caller string) error {
	p := def.Provenance
	switch {
	case p.Proposer != caller:
		return fmt.Errorf("definition names proposer %q but the caller is %s", p.Proposer, caller)
	case p.GenerationRequestID != req.ID:
		return fmt.Errorf("definition answers request %q, not %q", p.GenerationRequestID, req.ID)
	case def.SLI.Service != req.Service:
		return fmt.Errorf("definition is for service %q, the request for %q", def.SLI.Service, req.Service)
	case p.RoundID != req.RoundID || p.GlobalModelDigest != req.GlobalModelDigest:
		return fmt.Errorf("definition cites round %q model %q, the request round %q model %q", p.RoundID, p.GlobalModelDigest, req.RoundID, req.GlobalModelDigest)
	case req.RoundID != "" && !slices.Equal(p.Contributors, req.Contributors):
		return fmt.Errorf("definition names contributors %v, the round had %v", p.Contributors, req.Contributors)
	case req.Kind == records.RequestRevision && def.Supersedes != req.Supersedes:
		return fmt.Errorf("request %s asks for a revision of token %s: the definition must supersede it, it names %q", req.ID, req.Supersedes, def.Supersedes)
	case p.Revision != nil && p.Revision.RequestID != "" && p.Revision.RequestID != req.ID:
		return fmt.Errorf("definition's revision reason cites request %q, it answers %q", p.Revision.RequestID, req.ID)
	}
	return nil
}

// Approve records the caller's approval without figures: it counts toward
// quorum but not toward the approvals backed by data.
func (c *Generation) Approve(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	return decideCall(ctx, proposalID, records.DecisionSpec{Verdict: records.VerdictApprove})
}

// Reject records the caller's rejection with a reason. Once approval can no
// longer reach quorum the proposal is closed as rejected.
func (c *Generation) Reject(ctx contractapi.TransactionContextInterface, proposalID string, reason string) (string, error) {
	reason, err := records.ParseReason(reason)
	if err != nil {
		return "", err
	}
	return decideCall(ctx, proposalID, records.DecisionSpec{Verdict: records.VerdictReject, Reason: reason})
}

// Decide records the caller's decision with what it rests on: approve or
// reject with the figures measured on the caller's own data, or abstain
// with the reason it cannot evaluate. Abstentions leave the electorate.
func (c *Generation) Decide(ctx contractapi.TransactionContextInterface, proposalID string, decisionJSON string) (string, error) {
	spec, err := records.ParseDecisionSpec(decisionJSON)
	if err != nil {
		return "", err
	}
	return decideCall(ctx, proposalID, spec)
}

func decideCall(ctx contractapi.TransactionContextInterface, proposalID string, spec records.DecisionSpec) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	prop, err := t.openProposal(proposalID)
	if err != nil {
		return "", err
	}
	if !slices.Contains(prop.Members, t.actor.MSPID) {
		return "", fmt.Errorf("access denied: %s was not a member when proposal %s was made", t.actor.MSPID, proposalID)
	}
	decisions, err := t.decisionsOn(prop)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(decisions, func(d records.Decision) bool { return d.MSPID == t.actor.MSPID }) {
		return "", records.Settled(fmt.Errorf("%s has already decided on proposal %s", t.actor.MSPID, proposalID))
	}
	req, err := t.requestOf(prop)
	if err != nil {
		return "", err
	}
	d := records.Decision{ProposalID: proposalID, MSPID: t.actor.MSPID, Approve: spec.Verdict == records.VerdictApprove,
		Verdict: spec.Verdict, Reason: spec.Reason, Figures: spec.Figures, At: t.at, TxID: t.txID}
	return t.decide(prop, req, d, decisions)
}

// requestOf returns the open request a proposal answers. A retirement
// answers none: its own deadline bounds it.
func (t *txn) requestOf(prop records.Proposal) (records.GenerationRequest, error) {
	if prop.Kind != records.ProposalRetirement {
		return t.openRequest(prop.RequestID)
	}
	if deadline, _ := records.ParseTime(prop.Deadline); t.now.After(deadline) {
		return records.GenerationRequest{}, records.Settled(fmt.Errorf("retirement proposal %s expired at %s", prop.ID, prop.Deadline))
	}
	return records.GenerationRequest{}, nil
}

// decisionsOn reads the decisions on a proposal, in member order. Only the
// proposal's members can decide, so one read per member finds every
// decision a range scan would, and conflicts alike with a concurrent one;
// it costs less than opening a range iterator does.
func (t *txn) decisionsOn(prop records.Proposal) ([]records.Decision, error) {
	var out []records.Decision
	for _, member := range prop.Members {
		var d records.Decision
		found, err := t.get(&d, keyDecision, prop.ID, member)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, d)
		}
	}
	return out, nil
}

// decide records decision d on top of the earlier ones and settles the
// proposal: minted at quorum approval, rejected once quorum is out of reach,
// otherwise still open. It emits the transaction's one event.
func (t *txn) decide(prop records.Proposal, req records.GenerationRequest, d records.Decision, earlier []records.Decision) (string, error) {
	if err := t.put(d, keyDecision, d.ProposalID, d.MSPID); err != nil {
		return "", err
	}
	all := append(slices.Clone(earlier), d)
	tl := tallyOf(prop, all)
	kind := records.EventProposalApproved
	switch {
	case len(earlier) == 0 && d.MSPID == prop.Proposer:
		kind = records.EventProposalSubmitted
	case d.Kind() == records.VerdictReject:
		kind = records.EventProposalRejected
	case d.Kind() == records.VerdictAbstain:
		kind = records.EventProposalAbstained
	}
	var minted, superseded, retired *nft.Token
	var retiredBecause string
	switch {
	case tl.carried() && prop.Kind == records.ProposalRetirement:
		tok, reason, why, err := t.retireOnEvidence(prop)
		switch {
		case err != nil:
			return "", err
		case tok == nil:
			prop.Status, prop.Reason = records.ProposalRejected, why
			kind = records.EventProposalRejected
		default:
			retired, retiredBecause = tok, reason
			prop.Status = records.ProposalRetired
			kind = records.EventTokenRetired
		}
	case tl.carried():
		if err := t.checkIdentity(prop.Definition); err != nil {
			// Another revision of the same SLO was minted meanwhile:
			// this one can no longer take effect.
			prop.Status, prop.Reason = records.ProposalRejected, "approved but cannot be minted: "+err.Error()
			kind = records.EventProposalRejected
			break
		}
		tok, old, err := t.mintProposal(prop, all)
		if err != nil {
			return "", err
		}
		minted, superseded = &tok, old
		prop.Status, prop.TokenID = records.ProposalMinted, tok.ID
		req.Status, req.TokenID = records.RequestFulfilled, tok.ID
		if err := t.putRequest(req); err != nil {
			return "", err
		}
		kind = records.EventTokenMinted
	case tl.lost():
		prop.Status, prop.Reason = records.ProposalRejected, tl.why()
		kind = records.EventProposalRejected
	}
	// The proposal record is written when it is new or closes; a plain
	// vote writes only its own decision key.
	var result []byte
	if len(earlier) == 0 || prop.Status != records.ProposalOpen {
		raw, err := t.write(prop, keyProposal, prop.ID)
		if err != nil {
			return "", err
		}
		result = raw
	}
	ev := records.Event{Kind: kind, Proposal: &prop, Decision: &d, Token: minted, Superseded: superseded}
	if retired != nil {
		ev.Token, ev.Reason = retired, retiredBecause
	}
	if minted != nil {
		// The token carries the definition and its mint record names the
		// proposal and approvals: the proposal would repeat them.
		ev.Proposal = nil
	}
	if err := t.emit(ev); err != nil {
		return "", err
	}
	if result == nil {
		return encode(prop)
	}
	return string(result), nil
}

func (t *txn) mintProposal(prop records.Proposal, decisions []records.Decision) (nft.Token, *nft.Token, error) {
	var approvals []nft.Approval
	for _, d := range decisions {
		if d.Kind() == records.VerdictApprove {
			approvals = append(approvals, nft.Approval{MSPID: d.MSPID, TxID: d.TxID, At: d.At})
		}
	}
	slices.SortFunc(approvals, func(a, b nft.Approval) int { return strings.Compare(a.MSPID, b.MSPID) })
	return t.mint(prop.Definition, prop.ID, approvals, prop.Proposer)
}

// Close closes a proposal whose deadline passed undecided, and the request
// behind it if that expired too.
func (c *Generation) Close(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	prop, err := t.openProposal(proposalID)
	if err != nil {
		return "", err
	}
	if deadline, _ := records.ParseTime(prop.Deadline); !t.now.After(deadline.Add(TimeWindow)) { // see Rounds.Close
		return "", fmt.Errorf("proposal %s is open until %s; it can be closed after %s (the deadline plus the %s time window)",
			proposalID, prop.Deadline, records.FormatTime(deadline.Add(TimeWindow)), TimeWindow)
	}
	prop.Status, prop.Reason = records.ProposalExpired, "deadline passed without quorum"
	if err := t.put(prop, keyProposal, prop.ID); err != nil {
		return "", err
	}
	if prop.Kind == records.ProposalRetirement {
		if err := t.emit(records.Event{Kind: records.EventProposalClosed, Proposal: &prop}); err != nil {
			return "", err
		}
		return encode(prop)
	}
	var req records.GenerationRequest
	if err := t.mustGet(&req, "generation request", keyRequest, prop.RequestID); err != nil {
		return "", err
	}
	if req.Status == records.RequestOpen {
		req.Status, req.Reason = records.RequestExpired, "its proposal expired without quorum"
		if err := t.putRequest(req); err != nil {
			return "", err
		}
	}
	if err := t.emit(records.Event{Kind: records.EventProposalClosed, Proposal: &prop, Requests: []records.GenerationRequest{req}}); err != nil {
		return "", err
	}
	return encode(prop)
}

func (t *txn) openRequest(id string) (records.GenerationRequest, error) {
	var req records.GenerationRequest
	if err := t.mustGet(&req, "generation request", keyRequest, id); err != nil {
		return records.GenerationRequest{}, err
	}
	if req.Status != records.RequestOpen {
		return records.GenerationRequest{}, records.Settled(fmt.Errorf("generation request %q is %s", id, req.Status))
	}
	if deadline, _ := records.ParseTime(req.Deadline); t.now.After(deadline) {
		return records.GenerationRequest{}, records.Settled(fmt.Errorf("generation request %q expired at %s", id, req.Deadline))
	}
	return req, nil
}

func (t *txn) openProposal(id string) (records.Proposal, error) {
	var prop records.Proposal
	if err := t.mustGet(&prop, "proposal", keyProposal, id); err != nil {
		return records.Proposal{}, err
	}
	if prop.Status != records.ProposalOpen {
		return records.Proposal{}, records.Settled(fmt.Errorf("proposal %s is closed (%s)", id, prop.Status))
	}
	return prop, nil
}

// GetRequest returns a generation request.
func (c *Generation) GetRequest(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		return record[records.GenerationRequest](t, "generation request", keyRequest, requestID)
	})
}

// RequestsByRound returns the requests a finalized round created.
func (c *Generation) RequestsByRound(ctx contractapi.TransactionContextInterface, roundID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		return indexed[records.GenerationRequest](t, keyRoundReq, roundID, "generation request", keyRequest)
	})
}

// GetProposal returns a proposal.
func (c *Generation) GetProposal(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		return record[records.Proposal](t, "proposal", keyProposal, proposalID)
	})
}

// ProposalsByRequest returns the proposals made for a request.
func (c *Generation) ProposalsByRequest(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		return indexed[records.Proposal](t, keyReqProposal, requestID, "proposal", keyProposal)
	})
}

// ListProposals returns proposals, a page at a time, in ID order, for an
// operator listing them without knowing their requests.
func (c *Generation) ListProposals(ctx contractapi.TransactionContextInterface, pageSize string, bookmark string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return pageOf[records.Proposal](t, keyProposal, nil, pageSize, bookmark) })
}

// Decisions returns the members' decisions on a proposal, by MSP ID.
func (c *Generation) Decisions(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return list[records.Decision](t, keyDecision, proposalID) })
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Generation) GetEvaluateTransactions() []string {
	return []string{"GetRequest", "RequestsByRound", "GetProposal", "ProposalsByRequest", "ListProposals", "Decisions"}
}

// tally counts the decisions on a proposal.
type tally struct {
	members, approvals, rejections, abstentions, backed, minBacked int
}

func tallyOf(prop records.Proposal, decisions []records.Decision) tally {
	tl := tally{members: len(prop.Members), minBacked: prop.MinBackedApprovals}
	for _, d := range decisions {
		switch d.Kind() {
		case records.VerdictApprove:
			tl.approvals++
			// The proposer generated the definition from its own
			// history: its approval rests on data.
			if d.Backed() || d.MSPID == prop.Proposer {
				tl.backed++
			}
		case records.VerdictReject:
			tl.rejections++
		case records.VerdictAbstain:
			tl.abstentions++
		}
	}
	return tl
}

// quorum is a majority of the members that did not abstain.
func (tl tally) quorum() int { return majority(tl.members - tl.abstentions) }

func (tl tally) undecided() int {
	return tl.members - tl.approvals - tl.rejections - tl.abstentions
}

// carried: quorum reached, enough of it backed by data.
func (tl tally) carried() bool {
	return tl.approvals >= tl.quorum() && tl.backed >= tl.minBacked
}

// lost: even if every undecided member approved with data (abstaining
// would not help: it lowers quorum by at most what an approval adds), the
// proposal could not carry.
func (tl tally) lost() bool {
	return tl.approvals+tl.undecided() < tl.quorum() || tl.backed+tl.undecided() < tl.minBacked
}

func (tl tally) why() string {
	if tl.approvals+tl.undecided() < tl.quorum() {
		return fmt.Sprintf("%d of %d members rejected and %d abstained; approval can no longer reach quorum %d",
			tl.rejections, tl.members, tl.abstentions, tl.quorum())
	}
	return fmt.Sprintf("%d approvals rest on data (%d abstained, %d rejected); %d are needed",
		tl.backed, tl.abstentions, tl.rejections, tl.minBacked)
}

// assignedUntil is the end of the current assignee's turn: the request's
// assignment TTL from now, within the request's deadline.
func (t *txn) assignedUntil(req records.GenerationRequest) string {
	ttl := records.DefaultAssignTTL
	if req.AssignTTLSeconds > 0 {
		ttl = time.Duration(req.AssignTTLSeconds) * time.Second
	}
	until := t.now.Add(ttl)
	if deadline, err := records.ParseTime(req.Deadline); err == nil && until.After(deadline) {
		until = deadline
	}
	return records.FormatTime(until)
}

// Decline lets the assignee of an open request pass it on, with a reason
// (it does not run the service, or its data cannot carry an SLI): the
// request goes to another member that runs the service.
func (c *Generation) Decline(ctx contractapi.TransactionContextInterface, requestID string, reason string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	reason, err = records.ParseReason(reason)
	if err != nil {
		return "", err
	}
	req, err := t.openRequest(requestID)
	if err != nil {
		return "", err
	}
	if req.Assignee != t.actor.MSPID {
		return "", records.Settled(fmt.Errorf("request %s is assigned to %s, not %s", requestID, req.Assignee, t.actor.MSPID))
	}
	return t.pass(req, fmt.Sprintf("%s declined: %s", t.actor.MSPID, reason))
}

// Reassign hands an open request to another member that runs the service
// once its assignee's turn has passed without a proposal of its own.
func (c *Generation) Reassign(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	req, err := t.openRequest(requestID)
	if err != nil {
		return "", err
	}
	if until, err := records.ParseTime(req.AssignedUntil); err != nil || !t.now.After(until) {
		return "", records.Settled(fmt.Errorf("request %s is %s's until %s", requestID, req.Assignee, req.AssignedUntil))
	}
	props, err := indexed[records.Proposal](t, keyReqProposal, req.ID, "proposal", keyProposal)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(props, func(p records.Proposal) bool { return p.Proposer == req.Assignee && p.Status == records.ProposalOpen }) {
		return "", records.Settled(fmt.Errorf("request %s: assignee %s has a proposal open", requestID, req.Assignee))
	}
	return t.pass(req, fmt.Sprintf("%s did not propose by %s", req.Assignee, req.AssignedUntil))
}

// pass moves a request from its assignee to the next member that runs the
// service and has not passed it yet, or closes it when none is left.
func (t *txn) pass(req records.GenerationRequest, why string) (string, error) {
	req.Passed = append(req.Passed, req.Assignee)
	candidates := req.Runners
	if len(candidates) == 0 {
		members, err := t.members()
		if err != nil {
			return "", err
		}
		candidates = members
	}
	next := nextAssignee(req.ID, candidates, req.Passed)
	if next == "" {
		req.Status, req.Reason = records.RequestExpired, why+"; no other member runs the service"
	} else {
		req.Assignee, req.AssignedUntil = next, t.assignedUntil(req)
	}
	if err := t.putRequest(req); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventRequestReassigned, Requests: []records.GenerationRequest{req}, Reason: why}); err != nil {
		return "", err
	}
	return encode(req)
}

// nextAssignee orders the candidates by a hash of request and member (so
// successive requests spread over members) and takes the first that has
// not passed.
func nextAssignee(requestID string, candidates, passed []string) string {
	type ranked struct {
		msp string
		key string
	}
	var rs []ranked
	for _, c := range candidates {
		if slices.Contains(passed, c) {
			continue
		}
		sum := sha256.Sum256([]byte(requestID + "\x00" + c))
		rs = append(rs, ranked{c, hex.EncodeToString(sum[:])})
	}
	if len(rs) == 0 {
		return ""
	}
	slices.SortFunc(rs, func(a, b ranked) int { return strings.Compare(a.key, b.key) })
	return rs[0].msp
}
