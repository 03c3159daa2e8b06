// Package records defines what the SRE-Llama chaincode keeps in world state
// and what its events carry. It is pure (no Fabric imports) so that the node,
// the CLI and auditors decode ledger answers with the same types the
// chaincode wrote them with.
package records

import (
	"time"

	"github.com/srellama/srellama/nft"
)

// Organization is a consortium member, keyed by its MSP ID.
type Organization struct {
	MSPID        string `json:"msp_id"`
	Name         string `json:"name"`
	RegisteredAt string `json:"registered_at"`
	UpdatedAt    string `json:"updated_at"`
	// Services are those the organization declares it runs (sorted): a
	// round, schedule or request naming a service no member runs is
	// refused at once.
	Services []string `json:"services,omitempty"`
}

// Node is one libp2p node of an organization. Nodes admit peers only if
// their peer ID is registered here for a member.
type Node struct {
	MSPID        string   `json:"msp_id"`
	PeerID       string   `json:"peer_id"`
	Addrs        []string `json:"addrs"`
	RegisteredAt string   `json:"registered_at"`
}

// RoundStatus is the state of a federated round.
type RoundStatus string

// Round statuses.
const (
	RoundOpen      RoundStatus = "open"
	RoundFinalized RoundStatus = "finalized"
	RoundFailed    RoundStatus = "failed"
)

// Aggregation strategies a round may name; fl implements them.
var Strategies = []string{"fedavg", "fedprox", "median", "trimmed-mean", "multi-krum"}

// Protocol is the version of the round protocol this chaincode opens
// rounds under: the update and model encodings, the aggregation arithmetic
// (fl.ProtocolVersion) and the claim format, everything whose bytes a quorum
// compares. Changing any of them is a new version, brought in by upgrading
// the chaincode through its governed lifecycle, so that members running
// different arithmetic refuse a round visibly instead of splitting its
// quorum silently.
const Protocol = 1

// RoundSpec is what a member admin submits to open a round.
type RoundSpec struct {
	ID string `json:"id"`
	// Protocol is the round protocol version (see Protocol). A spec that
	// omits it is read as version 1, the protocol before versions were
	// recorded; the stored round always names it.
	Protocol         int      `json:"protocol"`
	Task             string   `json:"task"`
	Services         []string `json:"services"`
	FeatureSetDigest string   `json:"feature_set_digest"`
	Strategy         string   `json:"strategy"`
	MinParticipants  int      `json:"min_participants"`
	// Quorum is the number of members that must submit the same aggregate
	// for the round to finalize; 0 means a majority of the members
	// registered when the round opens.
	Quorum int `json:"quorum,omitempty"`
	// MinBackedApprovals is how many organizations must approve the
	// round's proposals with figures from their own data before a token
	// is minted; 0 means DefaultMinBackedApprovals.
	MinBackedApprovals int `json:"min_backed_approvals,omitempty"`
	// CommitDeadline ends the commit phase; Deadline ends the round. Both
	// are RFC 3339 times compared with transaction timestamps.
	CommitDeadline string `json:"commit_deadline"`
	Deadline       string `json:"deadline"`
}

// ProtocolVersion is the spec's protocol, reading an unset one as 1.
func (s RoundSpec) ProtocolVersion() int {
	if s.Protocol == 0 {
		return 1
	}
	return s.Protocol
}

// Round is a federated round as the ledger holds it.
type Round struct {
	RoundSpec
	Members  []string    `json:"members"`
	OpenedBy string      `json:"opened_by"`
	OpenedAt string      `json:"opened_at"`
	OpenTxID string      `json:"open_tx_id"`
	Status   RoundStatus `json:"status"`
	// ScheduleID and Period name the schedule period that opened the
	// round; empty for a round opened by hand.
	ScheduleID string `json:"schedule_id,omitempty"`
	Period     int64  `json:"period,omitempty"`
	// Outcome, once finalized.
	GlobalModelDigest string           `json:"global_model_digest,omitempty"`
	Contributors      []string         `json:"contributors,omitempty"`
	Ranking           []ServiceRanking `json:"ranking,omitempty"`
	ClosedAt          string           `json:"closed_at,omitempty"`
	CloseTxID         string           `json:"close_tx_id,omitempty"`
	FailureReason     string           `json:"failure_reason,omitempty"`
}

// ServiceRanking is the federated relevance ranking of one service's metrics,
// best first.
type ServiceRanking struct {
	Service string       `json:"service"`
	Metrics []nft.Metric `json:"metrics"`
	// Basis says where the relevance comes from: RankingLearned (the
	// federated model's weights) or RankingDeviationFallback (learning did
	// not earn the place; relevance is 0 and the SLI generator ranks by
	// deviation during incidents), with Reason. Empty in claims made before
	// the field existed.
	Basis  string `json:"basis,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Ranking bases.
const (
	RankingLearned           = "learned"
	RankingDeviationFallback = "deviation_fallback"
)

// LocalMetrics are the quality figures a member reports for its update,
// measured on its own held-out data.
type LocalMetrics struct {
	AUC  float64 `json:"auc"`
	F1   float64 `json:"f1"`
	Loss float64 `json:"loss"`
}

// UpdateCommitment is what a member submits to commit its model update.
type UpdateCommitment struct {
	Digest  string       `json:"digest"`
	Samples int64        `json:"samples"`
	Metrics LocalMetrics `json:"metrics"`
	// Epsilon is the differential-privacy budget this update spent, and
	// EpsilonTotal the member's running total, recorded for audit.
	Epsilon      float64 `json:"epsilon"`
	EpsilonTotal float64 `json:"epsilon_total"`
	// Services are the round's services this member has data for (sorted);
	// generation requests are assigned among the members that have the
	// service. Empty means all of them.
	Services []string `json:"services,omitempty"`
}

// UpdateCommit is a member's committed update for a round.
type UpdateCommit struct {
	UpdateCommitment
	RoundID     string `json:"round_id"`
	MSPID       string `json:"msp_id"`
	CommittedAt string `json:"committed_at"`
	TxID        string `json:"tx_id"`
}

// AggregateClaim is what a member submits after aggregating: the digest it
// computed, the members whose updates went in, and the ranking it derived.
type AggregateClaim struct {
	Digest       string           `json:"digest"`
	Contributors []string         `json:"contributors"`
	Ranking      []ServiceRanking `json:"ranking"`
}

// AggregateVote is a member's recorded claim. OutcomeDigest hashes the whole
// claim: members agree only if digest, contributors and ranking all match.
type AggregateVote struct {
	AggregateClaim
	RoundID       string `json:"round_id"`
	MSPID         string `json:"msp_id"`
	OutcomeDigest string `json:"outcome_digest"`
	SubmittedAt   string `json:"submitted_at"`
	TxID          string `json:"tx_id"`
}

// RequestStatus is the state of a generation request.
type RequestStatus string

// Generation request statuses.
const (
	RequestOpen      RequestStatus = "open"
	RequestFulfilled RequestStatus = "fulfilled"
	RequestExpired   RequestStatus = "expired"
)

// DefaultMinBackedApprovals is how many organizations must back their
// approval of a round's proposal with figures from their own data (the
// proposer counts: it generated from its own history). A proposal whose
// electorate is smaller needs every member's.
const DefaultMinBackedApprovals = 2

// DefaultAssignTTL is how long an assignee has to propose before any
// member may hand the request to another member that runs the service.
const DefaultAssignTTL = time.Hour

// GenerationRequest asks members to generate an SLO for one service from
// its top-ranked SLIs.
type GenerationRequest struct {
	ID string `json:"id"`
	// Kind is RequestRevision for a request raised on evidence against
	// the active token Supersedes; its proposals must supersede it.
	Kind              RequestKind  `json:"kind,omitempty"`
	Supersedes        string       `json:"supersedes,omitempty"`
	Evidence          *Evidence    `json:"evidence,omitempty"`
	Service           string       `json:"service"`
	RoundID           string       `json:"round_id,omitempty"`
	GlobalModelDigest string       `json:"global_model_digest,omitempty"`
	Contributors      []string     `json:"contributors"`
	SLIs              []nft.Metric `json:"slis"`
	// RankingBasis and RankingReason copy the round ranking's Basis and
	// Reason for the service: under RankingDeviationFallback the SLIs carry
	// no learned order and the generator ranks the service's metrics by
	// their deviation during its own incidents. Empty for explicit requests.
	RankingBasis  string `json:"ranking_basis,omitempty"`
	RankingReason string `json:"ranking_reason,omitempty"`
	Assignee      string `json:"assignee"`
	// AssignedUntil is when the assignee's turn ends: past it, with no
	// proposal of the assignee's, any member may reassign the request.
	AssignedUntil string `json:"assigned_until,omitempty"`
	// Runners are the members that run the service, the candidates for
	// reassignment; empty means every member.
	Runners []string `json:"runners,omitempty"`
	// Passed are the members that declined the request or let their turn
	// pass, in order; none is asked again.
	Passed []string `json:"passed,omitempty"`
	// AssignTTLSeconds is the length of each assignee's turn.
	AssignTTLSeconds int64 `json:"assign_ttl_seconds,omitempty"`
	// MinBackedApprovals is copied into the request's proposals.
	MinBackedApprovals int           `json:"min_backed_approvals,omitempty"`
	RequestedBy        string        `json:"requested_by"`
	RequestedAt        string        `json:"requested_at"`
	Deadline           string        `json:"deadline"`
	TxID               string        `json:"tx_id"`
	Status             RequestStatus `json:"status"`
	TokenID            string        `json:"token_id,omitempty"`
	// Reason says why a request closed without a token.
	Reason string `json:"reason,omitempty"`
}

// RequestSpec is what a member admin submits for an explicit request.
type RequestSpec struct {
	Service string       `json:"service"`
	SLIs    []nft.Metric `json:"slis"`
	// RoundID optionally ties the request to a finalized round, whose
	// model digest and contributors the proposals must then carry.
	RoundID string `json:"round_id,omitempty"`
	// Assignee is the member asked to generate; empty means the requester.
	Assignee string `json:"assignee,omitempty"`
	// TTLSeconds bounds how long proposals may be made and decided; 0 means
	// DefaultRequestTTL.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// AssignTTLSeconds bounds the assignee's turn; 0 means DefaultAssignTTL.
	AssignTTLSeconds int64 `json:"assign_ttl_seconds,omitempty"`
	// MinBackedApprovals is how many organizations must approve with
	// figures from their own data; 0 means none (a hand request states its
	// own bar: srellama generation request asks for the default).
	MinBackedApprovals int `json:"min_backed_approvals,omitempty"`
}

// ProposalStatus is the state of a proposal.
type ProposalStatus string

// Proposal statuses.
const (
	ProposalOpen     ProposalStatus = "open"
	ProposalMinted   ProposalStatus = "minted"
	ProposalRejected ProposalStatus = "rejected"
	ProposalExpired  ProposalStatus = "expired"
)

// Proposal is an s-528 draft put to the members' vote. Its ID is the token
// ID the definition would mint.
type Proposal struct {
	ID string `json:"id"`
	// Kind is ProposalRetirement for a proposal to retire the token
	// Target on Evidence; Definition is then the target's.
	Kind       ProposalKind   `json:"kind,omitempty"`
	Target     string         `json:"target,omitempty"`
	Evidence   *Evidence      `json:"evidence,omitempty"`
	RequestID  string         `json:"request_id"`
	Definition nft.Definition `json:"definition"`
	Proposer   string         `json:"proposer"`
	ProposedAt string         `json:"proposed_at"`
	TxID       string         `json:"tx_id"`
	Deadline   string         `json:"deadline"`
	// Members are the organizations registered when the proposal was made:
	// the electorate. Quorum approvals mint the token.
	Members []string `json:"members"`
	// Quorum is the approvals needed when every member votes; abstentions
	// leave the electorate, and quorum is then a majority of the rest.
	Quorum int `json:"quorum"`
	// MinBackedApprovals is how many of the approvals must rest on the
	// approver's own data (carry figures); the proposer's counts.
	MinBackedApprovals int            `json:"min_backed_approvals,omitempty"`
	Status             ProposalStatus `json:"status"`
	Reason             string         `json:"reason,omitempty"`
	TokenID            string         `json:"token_id,omitempty"`
}

// Verdict is a member's decision on a proposal.
type Verdict string

// Verdicts. An abstention says the member cannot evaluate the proposal on
// its data (it lacks the service or the SLI's metrics, or enough history);
// it does not count toward quorum.
const (
	VerdictApprove Verdict = "approve"
	VerdictReject  Verdict = "reject"
	VerdictAbstain Verdict = "abstain"
)

// Decision is one member's vote on a proposal. The proposer's own proposal
// counts as its approval, backed by the data it generated from.
type Decision struct {
	ProposalID string `json:"proposal_id"`
	MSPID      string `json:"msp_id"`
	Approve    bool   `json:"approve"`
	// Verdict is empty on decisions recorded before verdicts existed:
	// Approve then tells approve from reject.
	Verdict Verdict `json:"verdict,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	// Figures are what the member measured on its own data (days of
	// history, achieved level, objective, false pages...).
	Figures map[string]float64 `json:"figures,omitempty"`
	At      string             `json:"at"`
	TxID    string             `json:"tx_id"`
}

// Kind is the decision's verdict, also for decisions without one.
func (d Decision) Kind() Verdict {
	switch {
	case d.Verdict != "":
		return d.Verdict
	case d.Approve:
		return VerdictApprove
	}
	return VerdictReject
}

// Backed reports whether d is an approval resting on the member's own
// data.
func (d Decision) Backed() bool { return d.Kind() == VerdictApprove && len(d.Figures) > 0 }

// DecisionSpec is what a member submits to decide on a proposal.
type DecisionSpec struct {
	Verdict Verdict            `json:"verdict"`
	Reason  string             `json:"reason,omitempty"`
	Figures map[string]float64 `json:"figures,omitempty"`
}

// Transfer records a change of a token's owner.
type Transfer struct {
	TokenID string `json:"token_id"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// OperatorApproval records an ERC-721 approval: a single token (TokenID
// set) or all of an owner's tokens.
type OperatorApproval struct {
	Owner    string `json:"owner"`
	Operator string `json:"operator"`
	TokenID  string `json:"token_id,omitempty"`
	Approved bool   `json:"approved"`
}
