package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Compliance holds each member's account of how each active SLO did on its
// own data, period by period: the attestations that revisions and
// retirements rest on.
type Compliance struct {
	contractapi.Contract
}

// Keys of the lifecycle's evidence.
const (
	keyAttest = "srl.attest" // [tokenID, periodStart, msp]
	// keyAttestRecent lists a token's attestations newest period first:
	// [tokenID, newestFirst(periodStart), msp] -> periodStart.
	keyAttestRecent = "srl.idx.attest.recent"
	// keyAttestGrid is a token's period grid, set by its first
	// attestation: [tokenID] -> attestGrid.
	keyAttestGrid = "srl.attest.grid"
	keyRevision   = "srl.idx.revision"   // [tokenID] -> its latest revision request ID
	keyRetirement = "srl.idx.retirement" // [tokenID] -> its latest retirement proposal ID
)

// Attest records the caller's attestation of one active token over one
// period that has ended: once per token, period and member (a second is a
// settled refusal). The figures are the member's; the ledger adds who,
// when and the transaction.
func (c *Compliance) Attest(ctx contractapi.TransactionContextInterface, attestationJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	a, err := records.ParseAttestation(attestationJSON)
	if err != nil {
		return "", err
	}
	tok, err := t.activeToken(a.TokenID, "attestations")
	if err != nil {
		return "", err
	}
	if err := attestsToken(a, tok); err != nil {
		return "", err
	}
	// A client may date a transaction up to the time window ahead of the
	// peers' clocks: a period may end no later than that.
	if end, _ := records.ParseTime(a.PeriodEnd); end.After(t.now.Add(TimeWindow)) {
		return "", fmt.Errorf("attestation: the period ends at %s, after the transaction time %s (plus the %s time window): attest a period once it is over", a.PeriodEnd, t.at, TimeWindow)
	}
	if err := t.onGrid(a); err != nil {
		return "", err
	}
	if found, err := t.exists(keyAttest, a.TokenID, a.PeriodStart, t.actor.MSPID); err != nil {
		return "", err
	} else if found {
		return "", records.Settled(fmt.Errorf("%s has already attested token %s for the period from %s", t.actor.MSPID, a.TokenID, a.PeriodStart))
	}
	a.MSPID, a.At, a.TxID = t.actor.MSPID, t.at, t.txID
	raw, err := t.write(a, keyAttest, a.TokenID, a.PeriodStart, a.MSPID)
	if err != nil {
		return "", err
	}
	newest, err := newestFirst(a.PeriodStart)
	if err != nil {
		return "", err
	}
	if err := t.putEncoded([]byte(a.PeriodStart), keyAttestRecent, a.TokenID, newest, a.MSPID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventAttested, Attestation: &a}); err != nil {
		return "", err
	}
	return string(raw), nil
}

// attestGrid is the one period grid a token is attested on: periods of
// one length, starting a whole number of lengths from the first
// attestation's start. Members then attest the same periods, and none can
// crowd the latest periods the evidence reads with short ones of its own.
type attestGrid struct {
	Anchor  string `json:"anchor"`
	Seconds int64  `json:"seconds"`
}

// onGrid checks an attestation's period against the token's grid, and
// sets the grid from the token's first attestation.
func (t *txn) onGrid(a records.Attestation) error {
	start, _ := records.ParseTime(a.PeriodStart)
	end, _ := records.ParseTime(a.PeriodEnd)
	secs := int64(end.Sub(start) / time.Second)
	var g attestGrid
	found, err := t.get(&g, keyAttestGrid, a.TokenID)
	if err != nil {
		return err
	}
	if !found {
		return t.put(attestGrid{Anchor: a.PeriodStart, Seconds: secs}, keyAttestGrid, a.TokenID)
	}
	anchor, err := records.ParseTime(g.Anchor)
	if err != nil || g.Seconds <= 0 {
		return fmt.Errorf("corrupt %s record of token %s", keyAttestGrid, a.TokenID)
	}
	if off := int64(start.Sub(anchor) / time.Second); secs != g.Seconds || off%g.Seconds != 0 {
		return fmt.Errorf("attestation: token %s is attested in periods of %v starting from %s; the period %s to %s is not one of them (check lifecycle.attest_period across members)",
			a.TokenID, time.Duration(g.Seconds)*time.Second, g.Anchor, a.PeriodStart, a.PeriodEnd)
	}
	return nil
}

// attestsToken checks an attestation names the token's SLO as it is.
func attestsToken(a records.Attestation, tok nft.Token) error {
	d := tok.Definition
	switch {
	case a.Service != d.SLI.Service || a.Name != d.Name || a.Version != d.Version:
		return fmt.Errorf("attestation: it names %s/%s v%d, token %s is %s/%s v%d", a.Service, a.Name, a.Version, tok.ID, d.SLI.Service, d.Name, d.Version)
	case a.Objective != d.SLO.Objective:
		return fmt.Errorf("attestation: objective %v is not token %s's (%v)", a.Objective, tok.ID, d.SLO.Objective)
	}
	return nil
}

// attestationsOf reads every attestation of a token, by period then
// member.
func (t *txn) attestationsOf(tokenID string) ([]records.Attestation, error) {
	return scanJSON[records.Attestation](t, keyAttest, tokenID)
}

// errEnoughPeriods ends a scan of the recent-attestation index.
var errEnoughPeriods = errors.New("enough periods read")

// recentAttestations reads the attestations of a token's latest periods
// periods, by period then member: what the evidence rule looks at, read
// through the newest-first index so that the cost does not grow with the
// token's history (or with a member attesting many old periods). A token
// whose attestations all predate the index is read in full.
func (t *txn) recentAttestations(tokenID string, periods int) ([]records.Attestation, error) {
	var out []records.Attestation
	seen, last := 0, ""
	err := t.scan(keyAttestRecent, []string{tokenID}, func(attrs []string, start []byte) error {
		if len(attrs) != 3 {
			return fmt.Errorf("corrupt %s key %v", keyAttestRecent, attrs)
		}
		if attrs[1] != last {
			if seen++; seen > periods {
				return errEnoughPeriods
			}
			last = attrs[1]
		}
		var a records.Attestation
		if err := t.mustGet(&a, "attestation", keyAttest, tokenID, string(start), attrs[2]); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughPeriods) {
		return nil, err
	}
	if len(out) == 0 {
		return t.attestationsOf(tokenID)
	}
	// The index reads newest first; the rule reads oldest first.
	slices.SortFunc(out, func(a, b records.Attestation) int {
		if c := strings.Compare(a.PeriodStart, b.PeriodStart); c != 0 {
			return c
		}
		return strings.Compare(a.MSPID, b.MSPID)
	})
	return out, nil
}

// newestFirst maps a period start to an index attribute that sorts the
// latest period first: the seconds left until year 10000, zero-padded.
func newestFirst(periodStart string) (string, error) {
	start, err := records.ParseTime(periodStart)
	if err != nil {
		return "", fmt.Errorf("attestation: period_start: %w", err)
	}
	end := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	if u := start.Unix(); u < 0 || u >= end {
		return "", fmt.Errorf("attestation: period_start %s is outside the years 1970 to 9999", periodStart)
	}
	return fmt.Sprintf("%012d", end-start.Unix()), nil
}

// activeToken loads a token that must be active for what is asked; any
// other status is settled: it will not become active again.
func (t *txn) activeToken(tokenID, what string) (nft.Token, error) {
	tok, err := t.token(tokenID)
	if err != nil {
		return nft.Token{}, err
	}
	if tok.State.Status != nft.StatusActive {
		return nft.Token{}, records.Settled(fmt.Errorf("token %s is %s; only an active token can have %s", tokenID, tok.State.Status, what))
	}
	return tok, nil
}

// RequestRevision asks for a revision of an active token on the evidence
// of its attestations: the ledger assesses them (records.Assess) and
// refuses without evidence of a breached or silent SLO. The request is
// assigned to the caller, may pass to the members that attested with data,
// and its proposals must supersede the token. One open revision request
// per token: a second is a settled refusal.
func (c *Generation) RequestRevision(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	tok, err := t.activeToken(tokenID, "a revision")
	if err != nil {
		return "", err
	}
	if open, err := t.openRevision(tokenID); err != nil {
		return "", err
	} else if open != "" {
		return "", records.Settled(fmt.Errorf("token %s already has an open revision request, %s", tokenID, open))
	}
	policy := records.DefaultEvidencePolicy()
	atts, err := t.recentAttestations(tokenID, policy.Periods())
	if err != nil {
		return "", err
	}
	ev := records.Assess(atts, policy)
	switch {
	case ev != nil && ev.Trigger == records.TriggerGone:
		return "", fmt.Errorf("no evidence for a revision of token %s: %s; propose its retirement instead", tokenID, ev.Reason)
	case ev == nil:
		return "", fmt.Errorf("no evidence for a revision of token %s: %s show it neither breached nor silent", tokenID, records.Summary(atts, policy))
	}
	req := records.GenerationRequest{
		ID: requestID(t.txID, tok.Definition.SLI.Service), Kind: records.RequestRevision, Supersedes: tok.ID, Evidence: ev,
		Service: tok.Definition.SLI.Service, Contributors: []string{}, SLIs: tok.Definition.SLI.Metrics,
		Assignee: t.actor.MSPID, Runners: attestedWithData(atts, ev.Attestations),
		MinBackedApprovals: records.DefaultMinBackedApprovals,
		RequestedBy:        t.actor.MSPID, RequestedAt: t.at, TxID: t.txID, Status: records.RequestOpen,
		Deadline: records.FormatTime(t.now.Add(records.DefaultRequestTTL)),
	}
	req.AssignedUntil = t.assignedUntil(req)
	if err := t.putRevisionRequest(req); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventGenerationRequested, Requests: []records.GenerationRequest{req}}); err != nil {
		return "", err
	}
	return encode(req)
}

// putRevisionRequest stores a revision request and makes it its token's
// open one.
func (t *txn) putRevisionRequest(req records.GenerationRequest) error {
	if err := t.putRequest(req); err != nil {
		return err
	}
	return t.put(req.ID, keyRevision, req.Supersedes)
}

// attestedWithData are the members whose attestations among those read
// had data, sorted.
func attestedWithData(atts []records.Attestation, read []string) []string {
	var out []string
	for _, a := range atts {
		if !a.NoData && slices.Contains(read, a.TxID) && !slices.Contains(out, a.MSPID) {
			out = append(out, a.MSPID)
		}
	}
	slices.Sort(out)
	return out
}

// openRevision returns the token's open revision request, or "".
func (t *txn) openRevision(tokenID string) (string, error) {
	var id string
	if found, err := t.get(&id, keyRevision, tokenID); err != nil || !found {
		return "", err
	}
	var req records.GenerationRequest
	if found, err := t.get(&req, keyRequest, id); err != nil || !found {
		return "", err
	}
	if deadline, _ := records.ParseTime(req.Deadline); req.Status != records.RequestOpen || t.now.After(deadline) {
		return "", nil
	}
	return id, nil
}

// ProposeRetirement puts the retirement of an active token to the vote on
// the evidence of its attestations: every member that attested saw no
// event of the service for records.DefaultEvidencePolicy().GonePeriods
// periods. The proposal (kind retirement, target the token, definition the
// token's) is decided with Generation:Decide like any other; at quorum the
// deciding transaction retires the token. The caller's proposal counts as
// its approval, resting on the evidence's figures. One open retirement
// proposal per token: a second is a settled refusal.
func (c *Generation) ProposeRetirement(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	tok, err := t.activeToken(tokenID, "its retirement proposed")
	if err != nil {
		return "", err
	}
	if open, err := t.openRetirement(tokenID); err != nil {
		return "", err
	} else if open != "" {
		return "", records.Settled(fmt.Errorf("token %s already has an open retirement proposal, %s", tokenID, open))
	}
	policy := records.DefaultEvidencePolicy()
	atts, err := t.recentAttestations(tokenID, policy.Periods())
	if err != nil {
		return "", err
	}
	ev := records.Assess(atts, policy)
	if ev == nil || ev.Trigger != records.TriggerGone {
		return "", fmt.Errorf("no evidence for the retirement of token %s: %s do not show the service gone for %d periods", tokenID, records.Summary(atts, policy), policy.GonePeriods)
	}
	members, err := t.members()
	if err != nil {
		return "", err
	}
	prop := records.Proposal{
		ID: retirementID(tokenID, t.txID), Kind: records.ProposalRetirement, Target: tokenID, Evidence: ev,
		Definition: tok.Definition, Proposer: t.actor.MSPID, ProposedAt: t.at, TxID: t.txID,
		Deadline: records.FormatTime(t.now.Add(records.DefaultRequestTTL)),
		Members:  members, Quorum: majority(len(members)), Status: records.ProposalOpen,
		MinBackedApprovals: min(records.DefaultMinBackedApprovals, len(members)),
	}
	if err := t.put(prop.ID, keyRetirement, tokenID); err != nil {
		return "", err
	}
	own := records.Decision{ProposalID: prop.ID, MSPID: t.actor.MSPID, Approve: true, Verdict: records.VerdictApprove,
		Reason: ev.Reason, Figures: ev.Figures, At: t.at, TxID: t.txID}
	return t.decide(prop, records.GenerationRequest{}, own, nil)
}

// retirementID names a retirement proposal like any proposal (64 hex
// digits), derived from its token and transaction so that it is no
// token's ID.
func retirementID(tokenID, txID string) string {
	sum := sha256.Sum256([]byte("retirement\x00" + tokenID + "\x00" + txID))
	return hex.EncodeToString(sum[:])
}

// openRetirement returns the token's open retirement proposal, or "".
func (t *txn) openRetirement(tokenID string) (string, error) {
	var id string
	if found, err := t.get(&id, keyRetirement, tokenID); err != nil || !found {
		return "", err
	}
	var prop records.Proposal
	if found, err := t.get(&prop, keyProposal, id); err != nil || !found {
		return "", err
	}
	if deadline, _ := records.ParseTime(prop.Deadline); prop.Status != records.ProposalOpen || t.now.After(deadline) {
		return "", nil
	}
	return id, nil
}

// retireOnEvidence carries out an approved retirement proposal: the target
// is retired with the evidence as its reason. A target no longer active
// (retired or revised meanwhile) is reported in why, and nothing changes.
func (t *txn) retireOnEvidence(prop records.Proposal) (tok *nft.Token, reason, why string, err error) {
	target, err := t.token(prop.Target)
	if err != nil {
		return nil, "", "", err
	}
	if target.State.Status != nft.StatusActive {
		return nil, "", fmt.Sprintf("approved but token %s is %s", target.ID, target.State.Status), nil
	}
	target.State.Status = nft.StatusRetired
	if err := t.put(target, keyToken, target.ID); err != nil {
		return nil, "", "", err
	}
	if err := t.clearActive(target); err != nil {
		return nil, "", "", err
	}
	reason = "retired on evidence (proposal " + prop.ID + ")"
	if prop.Evidence != nil {
		reason += ": " + prop.Evidence.Reason
	}
	return &target, reason, "", nil
}

// activeTokens returns a service's active tokens in name order.
func (t *txn) activeTokens(service string) ([]nft.Token, error) {
	var out []nft.Token
	err := t.scan(keyActive, []string{service}, func(_ []string, value []byte) error {
		var id string
		if err := json.Unmarshal(value, &id); err != nil {
			return fmt.Errorf("corrupt active index: %w", err)
		}
		tok, err := t.token(id)
		out = append(out, tok)
		return err
	})
	return out, err
}

// rankingRevision decides what a finalized round asks for a ranked
// service. Without an active token: a new SLO (revise is nil, skip false).
// With one, only a learned ranking that puts first a metric the token's
// SLI does not rest on asks for a revision of it (on TriggerRanking
// evidence); anything else asks for nothing, so that an SLO the round
// would not change is kept instead of minted again as its next version.
func (t *txn) rankingRevision(round records.Round, r records.ServiceRanking) (revise *nft.Token, ev *records.Evidence, skip bool, err error) {
	active, err := t.activeTokens(r.Service)
	if err != nil || len(active) == 0 {
		return nil, nil, false, err
	}
	if r.Basis != records.RankingLearned || len(r.Metrics) == 0 {
		return nil, nil, true, nil
	}
	first := r.Metrics[0]
	for _, tok := range active {
		if slices.ContainsFunc(tok.Definition.SLI.Metrics, func(m nft.Metric) bool { return m.Name == first.Name }) {
			return nil, nil, true, nil
		}
	}
	for _, tok := range active {
		if open, err := t.openRevision(tok.ID); err != nil {
			return nil, nil, false, err
		} else if open != "" {
			continue
		}
		var uses []string
		for _, m := range tok.Definition.SLI.Metrics {
			uses = append(uses, m.Name)
		}
		ev := &records.Evidence{
			Trigger: records.TriggerRanking, RoundID: round.ID,
			Reason: fmt.Sprintf("ranking: round %s's learned ranking puts %s first for %s; token %s's SLI rests on %v",
				round.ID, first.Name, r.Service, tok.ID, uses),
			Figures: map[string]float64{"first_relevance": first.Relevance, "first_stability": first.Stability},
		}
		return &tok, ev, false, nil
	}
	return nil, nil, true, nil
}
