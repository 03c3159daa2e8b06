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
// proposer and pass validation. The proposer's own proposal counts as its
// approval.
func (c *Generation) Propose(ctx contractapi.TransactionContextInterface, requestID string, definitionJSON string) (string, error) {
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
	if def.Supersedes != "" {
		if _, err := t.supersedable(def); err != nil {
			return "", err
		}
	}
	members, err := t.members()
	if err != nil {
		return "", err
	}
	prop := records.Proposal{
		ID: id, RequestID: req.ID, Definition: def, Proposer: t.actor.MSPID,
		ProposedAt: t.at, TxID: t.txID, Deadline: req.Deadline,
		Members: members, Quorum: majority(len(members)), Status: records.ProposalOpen,
	}
	if err := t.putIndex(keyReqProposal, req.ID, prop.ID); err != nil {
		return "", err
	}
	own := records.Decision{ProposalID: id, MSPID: t.actor.MSPID, Approve: true, At: t.at, TxID: t.txID}
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
	}
	return nil
}

// Approve records the caller's approval; at quorum the token is minted.
func (c *Generation) Approve(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	return decideCall(ctx, proposalID, true, "")
}

// Reject records the caller's rejection with a reason. Once approval can no
// longer reach quorum the proposal is closed as rejected.
func (c *Generation) Reject(ctx contractapi.TransactionContextInterface, proposalID string, reason string) (string, error) {
	reason, err := records.ParseReason(reason)
	if err != nil {
		return "", err
	}
	return decideCall(ctx, proposalID, false, reason)
}

func decideCall(ctx contractapi.TransactionContextInterface, proposalID string, approve bool, reason string) (string, error) {
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
	req, err := t.openRequest(prop.RequestID)
	if err != nil {
		return "", err
	}
	d := records.Decision{ProposalID: proposalID, MSPID: t.actor.MSPID, Approve: approve, Reason: reason, At: t.at, TxID: t.txID}
	return t.decide(prop, req, d, decisions)
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
	approvals, rejections := 0, 0
	for _, x := range all {
		if x.Approve {
			approvals++
		} else {
			rejections++
		}
	}
	kind := records.EventProposalApproved
	if len(earlier) == 0 && d.MSPID == prop.Proposer {
		kind = records.EventProposalSubmitted
	}
	var minted, superseded *nft.Token
	switch {
	case approvals >= prop.Quorum:
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
	case rejections > len(prop.Members)-prop.Quorum:
		prop.Status = records.ProposalRejected
		prop.Reason = fmt.Sprintf("%d of %d members rejected; approval can no longer reach quorum %d", rejections, len(prop.Members), prop.Quorum)
		kind = records.EventProposalRejected
	case !d.Approve:
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
		if d.Approve {
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
	var req records.GenerationRequest
	if err := t.mustGet(&req, "generation request", keyRequest, prop.RequestID); err != nil {
		return "", err
	}
	if req.Status == records.RequestOpen {
		req.Status = records.RequestExpired
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

// Decisions returns the members' decisions on a proposal, by MSP ID.
func (c *Generation) Decisions(ctx contractapi.TransactionContextInterface, proposalID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return list[records.Decision](t, keyDecision, proposalID) })
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Generation) GetEvaluateTransactions() []string {
	return []string{"GetRequest", "RequestsByRound", "GetProposal", "ProposalsByRequest", "Decisions"}
}
