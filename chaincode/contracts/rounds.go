package contracts

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Rounds governs federated rounds. The round record is written only when a
// round opens and when it closes; commits and votes are keys of their own,
// so members committing concurrently never conflict with each other.
type Rounds struct {
	contractapi.Contract
}

// TopSLIsPerRequest is how many top-ranked metrics a generation request
// created at finalization carries.
const TopSLIsPerRequest = 5

// Open opens a federated round. The members registered now are the round's
// electorate; the quorum defaults to their majority.
func (c *Rounds) Open(ctx contractapi.TransactionContextInterface, specJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	spec, err := records.ParseRoundSpec(specJSON)
	if err != nil {
		return "", err
	}
	if err := t.checkServicesRun(spec.Services); err != nil {
		return "", fmt.Errorf("round %q: %w", spec.ID, err)
	}
	if found, err := t.exists(keyRound, spec.ID); err != nil {
		return "", err
	} else if found {
		return "", fmt.Errorf("round %q already exists", spec.ID)
	}
	return t.startRound(spec, "", 0)
}

// startRound opens a round whose ID is free: a hand-opened one, or a
// schedule's period (scheduleID set).
func (t *txn) startRound(spec records.RoundSpec, scheduleID string, period int64) (string, error) {
	if err := records.CheckRoundDeadlines(spec, t.now); err != nil {
		return "", fmt.Errorf("round %q: %w", spec.ID, err)
	}
	members, err := t.members()
	if err != nil {
		return "", err
	}
	if spec.Quorum == 0 {
		spec.Quorum = majority(len(members))
	}
	if spec.Quorum > len(members) || spec.MinParticipants > len(members) {
		return "", fmt.Errorf("round %q: quorum %d and min_participants %d cannot exceed the %d registered members", spec.ID, spec.Quorum, spec.MinParticipants, len(members))
	}
	if scheduleID != "" {
		if err := t.checkServicesRun(spec.Services); err != nil {
			return "", fmt.Errorf("round %q: %w", spec.ID, err)
		}
	}
	round := records.Round{
		RoundSpec: spec, Members: members, OpenedBy: t.actor.MSPID,
		OpenedAt: t.at, OpenTxID: t.txID, Status: records.RoundOpen,
		ScheduleID: scheduleID, Period: period,
	}
	if err := t.put(round, keyRound, round.ID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventRoundOpened, Round: &round}); err != nil {
		return "", err
	}
	return encode(round)
}

// CommitUpdate records the digest of the caller's model update, once per
// member per round, before the commit deadline.
func (c *Rounds) CommitUpdate(ctx contractapi.TransactionContextInterface, roundID string, commitmentJSON string) (string, error) {
	t, round, err := memberInOpenRound(ctx, roundID)
	if err != nil {
		return "", err
	}
	if deadline, _ := records.ParseTime(round.CommitDeadline); t.now.After(deadline) {
		return "", fmt.Errorf("round %q: commit deadline %s has passed (late commit)", roundID, round.CommitDeadline)
	}
	commitment, err := records.ParseUpdateCommitment(commitmentJSON)
	if err != nil {
		return "", err
	}
	for _, svc := range commitment.Services {
		if !slices.Contains(round.Services, svc) {
			return "", fmt.Errorf("round %q: the commitment names service %q, which the round does not cover", roundID, svc)
		}
	}
	if found, err := t.exists(keyUpdate, roundID, t.actor.MSPID); err != nil {
		return "", err
	} else if found {
		return "", fmt.Errorf("round %q: %s has already committed its update", roundID, t.actor.MSPID)
	}
	update := records.UpdateCommit{UpdateCommitment: commitment, RoundID: roundID, MSPID: t.actor.MSPID, CommittedAt: t.at, TxID: t.txID}
	if err := t.put(update, keyUpdate, roundID, t.actor.MSPID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventUpdateCommitted, Round: &round, Update: &update}); err != nil {
		return "", err
	}
	return encode(update)
}

// SubmitAggregate records the aggregate the caller computed. Aggregation
// may start once the commit deadline passed or every member committed. When
// a quorum of members has submitted the same outcome (digest, contributors
// and ranking), the round finalizes in this transaction and creates a
// generation request per ranked service without an active SLO, and a
// revision request per service whose active SLO the learned ranking would
// change (see rankingRevision); unchanged SLOs are kept.
func (c *Rounds) SubmitAggregate(ctx contractapi.TransactionContextInterface, roundID string, claimJSON string) (string, error) {
	t, round, err := memberInOpenRound(ctx, roundID)
	if err != nil {
		return "", err
	}
	if deadline, _ := records.ParseTime(round.Deadline); t.now.After(deadline) {
		return "", fmt.Errorf("round %q: deadline %s has passed; close the round", roundID, round.Deadline)
	}
	claim, err := records.ParseAggregateClaim(claimJSON)
	if err != nil {
		return "", err
	}
	if err := t.checkClaim(round, claim); err != nil {
		return "", err
	}
	if found, err := t.exists(keyVote, roundID, t.actor.MSPID); err != nil {
		return "", err
	} else if found {
		return "", fmt.Errorf("round %q: %s has already submitted its aggregate", roundID, t.actor.MSPID)
	}
	outcome, err := nft.DigestOf(claim)
	if err != nil {
		return "", err
	}
	vote := records.AggregateVote{AggregateClaim: claim, RoundID: roundID, MSPID: t.actor.MSPID, OutcomeDigest: outcome, SubmittedAt: t.at, TxID: t.txID}
	if err := t.put(vote, keyVote, roundID, t.actor.MSPID); err != nil {
		return "", err
	}
	agreeing, err := t.countVotes(roundID, outcome)
	if err != nil {
		return "", err
	}
	agreeing++ // this vote: not yet visible to reads in its own transaction
	if agreeing < round.Quorum {
		return t.emitVote(round, vote)
	}
	return t.finalize(round, vote)
}

func (t *txn) emitVote(round records.Round, vote records.AggregateVote) (string, error) {
	if err := t.emit(records.Event{Kind: records.EventAggregateSubmitted, Round: &round, Vote: &vote}); err != nil {
		return "", err
	}
	return encode(vote)
}

func (t *txn) finalize(round records.Round, vote records.AggregateVote) (string, error) {
	round.Status = records.RoundFinalized
	round.GlobalModelDigest = vote.Digest
	round.Contributors = vote.Contributors
	round.Ranking = vote.Ranking
	round.ClosedAt, round.CloseTxID = t.at, t.txID
	if err := t.put(round, keyRound, round.ID); err != nil {
		return "", err
	}
	updates, err := scanJSON[records.UpdateCommit](t, keyUpdate, round.ID)
	if err != nil {
		return "", err
	}
	requests := make([]records.GenerationRequest, 0, len(round.Ranking))
	for _, r := range round.Ranking {
		revise, evidence, skip, err := t.rankingRevision(round, r)
		if err != nil {
			return "", err
		}
		if skip {
			continue
		}
		top := r.Metrics[:min(len(r.Metrics), TopSLIsPerRequest)]
		req := records.GenerationRequest{
			ID:                round.ID + "." + r.Service,
			Evidence:          evidence,
			Service:           r.Service,
			RoundID:           round.ID,
			GlobalModelDigest: round.GlobalModelDigest,
			Contributors:      round.Contributors,
			SLIs:              top,
			RankingBasis:      r.Basis,
			RankingReason:     r.Reason,
			Runners:           runners(r.Service, round.Contributors, updates),
			RequestedBy:       t.actor.MSPID,
			RequestedAt:       t.at,
			Deadline:          records.FormatTime(t.now.Add(records.DefaultRequestTTL)),
			TxID:              t.txID,
			Status:            records.RequestOpen,
		}
		req.Assignee = assignee(round.ID, r.Service, req.Runners)
		req.AssignedUntil = t.assignedUntil(req)
		req.MinBackedApprovals = round.MinBackedApprovals
		if req.MinBackedApprovals == 0 {
			req.MinBackedApprovals = records.DefaultMinBackedApprovals
		}
		if revise != nil {
			req.Kind, req.Supersedes = records.RequestRevision, revise.ID
			err = t.putRevisionRequest(req)
		} else {
			err = t.putRequest(req)
		}
		if err != nil {
			return "", err
		}
		requests = append(requests, req)
	}
	if err := t.emit(records.Event{Kind: records.EventRoundFinalized, Round: &round, Vote: &vote, Requests: requests}); err != nil {
		return "", err
	}
	return encode(round)
}

// runners are the contributors whose commitments say they have data for
// the service (a commitment naming no services has data for all); when
// none does, every contributor.
func runners(service string, contributors []string, updates []records.UpdateCommit) []string {
	var out []string
	for _, u := range updates {
		if slices.Contains(contributors, u.MSPID) && (len(u.Services) == 0 || slices.Contains(u.Services, service)) {
			out = append(out, u.MSPID)
		}
	}
	if len(out) == 0 {
		return contributors
	}
	return out
}

// assignee picks the contributor asked to generate a service's SLO: a hash
// of round and service, so the work spreads over members and every peer
// picks the same one.
func assignee(roundID, service string, contributors []string) string {
	sum := sha256.Sum256([]byte(roundID + "\x00" + service))
	return contributors[binary.BigEndian.Uint64(sum[:8])%uint64(len(contributors))]
}

// checkClaim checks a claim against the round: the contributors are members
// who committed, enough of them, and aggregation may begin.
func (t *txn) checkClaim(round records.Round, claim records.AggregateClaim) error {
	committed, err := t.committedMembers(round.ID)
	if err != nil {
		return err
	}
	commitDeadline, _ := records.ParseTime(round.CommitDeadline)
	if !t.now.After(commitDeadline) && len(committed) < len(round.Members) {
		return fmt.Errorf("round %q: aggregation starts after the commit deadline %s or once all %d members committed (%d have)", round.ID, round.CommitDeadline, len(round.Members), len(committed))
	}
	for _, c := range claim.Contributors {
		if !slices.Contains(committed, c) {
			return fmt.Errorf("round %q: contributor %s has not committed an update", round.ID, c)
		}
	}
	if len(claim.Contributors) < round.MinParticipants {
		return fmt.Errorf("round %q: %d contributors, the round needs at least %d", round.ID, len(claim.Contributors), round.MinParticipants)
	}
	for _, r := range claim.Ranking {
		if !slices.Contains(round.Services, r.Service) {
			return fmt.Errorf("round %q: ranking names service %q, which the round does not cover", round.ID, r.Service)
		}
	}
	return nil
}

func (t *txn) committedMembers(roundID string) ([]string, error) {
	var out []string
	err := t.scan(keyUpdate, []string{roundID}, func(attrs []string, _ []byte) error {
		if len(attrs) == 2 {
			out = append(out, attrs[1])
		}
		return nil
	})
	return out, err
}

func (t *txn) countVotes(roundID, outcome string) (int, error) {
	votes, err := scanJSON[records.AggregateVote](t, keyVote, roundID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range votes {
		if v.OutcomeDigest == outcome {
			n++
		}
	}
	return n, nil
}

// Close fails a round whose deadline passed without quorum. Any member may
// call it from TimeWindow after the deadline on: a transaction's time is
// its proposal's timestamp, which a client may set up to TimeWindow ahead
// of the peers' clocks, so an earlier close could be a forged one.
func (c *Rounds) Close(ctx contractapi.TransactionContextInterface, roundID string) (string, error) {
	t, round, err := memberInOpenRound(ctx, roundID)
	if err != nil {
		return "", err
	}
	if deadline, _ := records.ParseTime(round.Deadline); !t.now.After(deadline.Add(TimeWindow)) {
		return "", fmt.Errorf("round %q is open until %s; it can be closed after %s (the deadline plus the %s time window)",
			roundID, round.Deadline, records.FormatTime(deadline.Add(TimeWindow)), TimeWindow)
	}
	votes, err := scanJSON[records.AggregateVote](t, keyVote, roundID)
	if err != nil {
		return "", err
	}
	round.Status = records.RoundFailed
	round.ClosedAt, round.CloseTxID = t.at, t.txID
	round.FailureReason = fmt.Sprintf("deadline passed without quorum: %d of %d members agreed on one aggregate, quorum is %d", bestAgreement(votes), len(round.Members), round.Quorum)
	if err := t.put(round, keyRound, round.ID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventRoundFailed, Round: &round}); err != nil {
		return "", err
	}
	return encode(round)
}

func bestAgreement(votes []records.AggregateVote) int {
	counts := map[string]int{}
	best := 0
	for _, v := range votes {
		counts[v.OutcomeDigest]++
		best = max(best, counts[v.OutcomeDigest])
	}
	return best
}

// memberInOpenRound starts a transaction of a member acting in an open
// round it belongs to.
func memberInOpenRound(ctx contractapi.TransactionContextInterface, roundID string) (*txn, records.Round, error) {
	t, err := begin(ctx)
	if err != nil {
		return nil, records.Round{}, err
	}
	if err := t.requireMember(); err != nil {
		return nil, records.Round{}, err
	}
	round, err := t.openRound(roundID)
	if err != nil {
		return t, round, err
	}
	// A transaction's time is its proposal's timestamp, which the client
	// chooses within the peers' time window: one dated before the round
	// opened is backdated, and would slip a late commit in.
	if opened, _ := records.ParseTime(round.OpenedAt); t.now.Before(opened) {
		return t, round, fmt.Errorf("round %q: transaction time %s is before the round opened (%s)", roundID, t.at, round.OpenedAt)
	}
	return t, round, nil
}

// openRound loads a round and checks that it is open and the caller is one
// of its members.
func (t *txn) openRound(roundID string) (records.Round, error) {
	round, err := record[records.Round](t, "round", keyRound, roundID)
	if err != nil {
		return records.Round{}, err
	}
	if round.Status != records.RoundOpen {
		return records.Round{}, fmt.Errorf("round %q is %s", roundID, round.Status)
	}
	if !slices.Contains(round.Members, t.actor.MSPID) {
		return records.Round{}, fmt.Errorf("access denied: %s was not a member when round %q opened", t.actor.MSPID, roundID)
	}
	return round, nil
}

// Get returns a round.
func (c *Rounds) Get(ctx contractapi.TransactionContextInterface, roundID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return record[records.Round](t, "round", keyRound, roundID) })
}

// List returns rounds, a page at a time, in ID order.
func (c *Rounds) List(ctx contractapi.TransactionContextInterface, pageSize string, bookmark string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return pageOf[records.Round](t, keyRound, nil, pageSize, bookmark) })
}

// Updates returns the update commitments of a round, by MSP ID.
func (c *Rounds) Updates(ctx contractapi.TransactionContextInterface, roundID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return list[records.UpdateCommit](t, keyUpdate, roundID) })
}

// Votes returns the aggregate votes of a round, by MSP ID.
func (c *Rounds) Votes(ctx contractapi.TransactionContextInterface, roundID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return list[records.AggregateVote](t, keyVote, roundID) })
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Rounds) GetEvaluateTransactions() []string {
	return []string{"Get", "List", "Updates", "Votes"}
}
