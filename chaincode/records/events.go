package records

import "github.com/srellama/srellama/nft"

// EventKind names a chaincode event. Fabric keeps one event per transaction,
// so each transaction emits exactly one Event whose kind says what happened
// and whose fields carry everything a node needs to act without a second
// read (a finalizing vote carries the round and the generation requests it
// created; a minting approval carries the token).
type EventKind string

// Event kinds.
const (
	EventOrganizationRegistered EventKind = "OrganizationRegistered"
	EventNodeRegistered         EventKind = "NodeRegistered"
	EventNodeRemoved            EventKind = "NodeRemoved"
	EventRoundOpened            EventKind = "RoundOpened"
	EventUpdateCommitted        EventKind = "UpdateCommitted"
	EventAggregateSubmitted     EventKind = "AggregateSubmitted"
	EventRoundFinalized         EventKind = "RoundFinalized"
	EventRoundFailed            EventKind = "RoundFailed"
	EventGenerationRequested    EventKind = "GenerationRequested"
	// RequestReassigned carries a request whose assignee declined or let
	// its turn pass, with its new assignee (or closed, none being left).
	EventRequestReassigned EventKind = "RequestReassigned"
	EventProposalSubmitted EventKind = "ProposalSubmitted"
	// ProposalApproved and ProposalRejected record one member's decision;
	// the proposal's status in the event says whether it closed.
	EventProposalApproved EventKind = "ProposalApproved"
	EventProposalRejected EventKind = "ProposalRejected"
	// ProposalAbstained records a member that could not evaluate.
	EventProposalAbstained EventKind = "ProposalAbstained"
	EventProposalClosed    EventKind = "ProposalClosed"
	// TokenMinted carries the token, whose mint record names its proposal
	// and approvals, and the decision that reached quorum; not the
	// proposal, whose definition the token repeats.
	EventTokenMinted    EventKind = "TokenMinted"
	EventTransfer       EventKind = "Transfer"
	EventApproval       EventKind = "Approval"
	EventApprovalForAll EventKind = "ApprovalForAll"
	EventTokenRetired   EventKind = "TokenRetired"
	// ScheduleSet and ScheduleStopped carry the schedule.
	EventScheduleSet     EventKind = "ScheduleSet"
	EventScheduleStopped EventKind = "ScheduleStopped"
	// Attested carries one member's attestation of one token and period.
	EventAttested EventKind = "Attested"
)

// Event is the payload of every chaincode event; the event name equals Kind.
type Event struct {
	Kind         EventKind           `json:"kind"`
	TxID         string              `json:"tx_id"`
	At           string              `json:"at"`
	Actor        string              `json:"actor"`
	Organization *Organization       `json:"organization,omitempty"`
	Node         *Node               `json:"node,omitempty"`
	Round        *Round              `json:"round,omitempty"`
	Update       *UpdateCommit       `json:"update,omitempty"`
	Vote         *AggregateVote      `json:"vote,omitempty"`
	Requests     []GenerationRequest `json:"requests,omitempty"`
	Proposal     *Proposal           `json:"proposal,omitempty"`
	Decision     *Decision           `json:"decision,omitempty"`
	Token        *nft.Token          `json:"token,omitempty"`
	// Superseded is the previous version when a mint revised a token.
	Superseded  *nft.Token        `json:"superseded,omitempty"`
	Schedule    *Schedule         `json:"schedule,omitempty"`
	Attestation *Attestation      `json:"attestation,omitempty"`
	Transfer    *Transfer         `json:"transfer,omitempty"`
	Approval    *OperatorApproval `json:"approval,omitempty"`
	// Reason explains a retirement.
	Reason string `json:"reason,omitempty"`
}

// Page is one page of a paginated query.
type Page[T any] struct {
	Items    []T    `json:"items"`
	Bookmark string `json:"bookmark"`
	Count    int    `json:"count"`
}

// HistoryEntry is one version of a token's record.
type HistoryEntry struct {
	TxID      string     `json:"tx_id"`
	Timestamp string     `json:"timestamp"`
	IsDelete  bool       `json:"is_delete"`
	Token     *nft.Token `json:"token,omitempty"`
}

// Provenance is everything the ledger knows about how a token came to be.
type Provenance struct {
	Token     nft.Token          `json:"token"`
	Round     *Round             `json:"round,omitempty"`
	Updates   []UpdateCommit     `json:"updates,omitempty"`
	Votes     []AggregateVote    `json:"votes,omitempty"`
	Request   *GenerationRequest `json:"request,omitempty"`
	Proposal  *Proposal          `json:"proposal,omitempty"`
	Decisions []Decision         `json:"decisions,omitempty"`
	// Lineage lists the IDs of earlier versions, newest first.
	Lineage []string `json:"lineage,omitempty"`
}
