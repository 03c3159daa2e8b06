// Package chaincode is a typed client of the srellama chaincode: one Go
// function per transaction, taking the records the transaction reads and
// returning the record it answers with, decoded. It replaces string-named
// ledger calls ("Rounds:Open") each followed by its own json.Unmarshal, so
// that a renamed transaction or a changed result type fails to compile
// instead of failing at run time.
//
// Errors are the ledger's (a *ledger.ChaincodeError for a refusal, which
// names the transaction); a result that does not decode is an error naming
// the transaction and showing the start of the result.
package chaincode

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger"
)

// Client calls the chaincode through a ledger connection.
type Client struct {
	l ledger.Ledger
}

// New returns a client on l.
func New(l ledger.Ledger) *Client { return &Client{l: l} }

// Ledger returns the connection the client calls through.
func (c *Client) Ledger() ledger.Ledger { return c.l }

// Committed is the result of a submitted transaction with its ID.
type Committed[T any] struct {
	Result T
	TxID   string
}

// PageRequest selects one page of a paginated query: Size items (0: the
// chaincode's default, records.DefaultPageSize; at most
// records.MaxPageSize), starting at Bookmark ("" for the first page, else
// the Bookmark of the previous page).
type PageRequest struct {
	Size     int
	Bookmark string
}

func (p PageRequest) args() []string {
	size := ""
	if p.Size > 0 {
		size = strconv.Itoa(p.Size)
	}
	return []string{size, p.Bookmark}
}

func decode[T any](fn string, raw []byte) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		const show = 200
		if len(raw) > show {
			raw = append(raw[:show:show], "..."...)
		}
		return v, fmt.Errorf("%s: result %q is not the expected %T: %w", fn, raw, v, err)
	}
	return v, nil
}

func evaluate[T any](ctx context.Context, c *Client, fn string, args ...string) (T, error) {
	raw, err := c.l.Evaluate(ctx, fn, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](fn, raw)
}

func submit[T any](ctx context.Context, c *Client, fn string, args ...string) (Committed[T], error) {
	raw, txID, err := c.l.Submit(ctx, fn, args...)
	if err != nil {
		return Committed[T]{TxID: txID}, err
	}
	v, err := decode[T](fn, raw)
	return Committed[T]{Result: v, TxID: txID}, err
}

// text returns a plain-text result (OwnerOf, Name, ...).
func text(ctx context.Context, c *Client, fn string, args ...string) (string, error) {
	raw, err := c.l.Evaluate(ctx, fn, args...)
	return string(raw), err
}

// argJSON encodes a structured argument canonically, as the chaincode
// stores it.
func argJSON(fn string, v any) (string, error) {
	raw, err := nft.Canonical(v)
	if err != nil {
		return "", fmt.Errorf("%s: encoding the argument: %w", fn, err)
	}
	return string(raw), nil
}

func submitJSON[T any](ctx context.Context, c *Client, fn string, lead []string, v any) (Committed[T], error) {
	arg, err := argJSON(fn, v)
	if err != nil {
		return Committed[T]{}, err
	}
	return submit[T](ctx, c, fn, append(lead, arg)...)
}

// Consortium.

// RegisterOrganization registers the caller's organization, or renames it.
func (c *Client) RegisterOrganization(ctx context.Context, name string) (Committed[records.Organization], error) {
	return submit[records.Organization](ctx, c, "Consortium:RegisterOrganization", name)
}

// RegisterNode registers (or updates the addresses of) one of the caller's
// organization's nodes.
func (c *Client) RegisterNode(ctx context.Context, peerID string, addrs []string) (Committed[records.Node], error) {
	if addrs == nil {
		addrs = []string{}
	}
	return submitJSON[records.Node](ctx, c, "Consortium:RegisterNode", []string{peerID}, addrs)
}

// RemoveNode deregisters one of the caller's organization's nodes.
func (c *Client) RemoveNode(ctx context.Context, peerID string) (Committed[records.Node], error) {
	return submit[records.Node](ctx, c, "Consortium:RemoveNode", peerID)
}

// GetOrganization returns one member.
func (c *Client) GetOrganization(ctx context.Context, mspID string) (records.Organization, error) {
	return evaluate[records.Organization](ctx, c, "Consortium:GetOrganization", mspID)
}

// ListOrganizations returns every member, sorted by MSP ID.
func (c *Client) ListOrganizations(ctx context.Context) ([]records.Organization, error) {
	return evaluate[[]records.Organization](ctx, c, "Consortium:ListOrganizations")
}

// ListNodes returns the nodes of one member, or of all when mspID is "".
func (c *Client) ListNodes(ctx context.Context, mspID string) ([]records.Node, error) {
	return evaluate[[]records.Node](ctx, c, "Consortium:ListNodes", mspID)
}

// ResolvePeer returns the node registered under a peer ID.
func (c *Client) ResolvePeer(ctx context.Context, peerID string) (records.Node, error) {
	return evaluate[records.Node](ctx, c, "Consortium:ResolvePeer", peerID)
}

// Rounds.

// OpenRound opens a federated round (Rounds:Open).
func (c *Client) OpenRound(ctx context.Context, spec records.RoundSpec) (Committed[records.Round], error) {
	return submitJSON[records.Round](ctx, c, "Rounds:Open", nil, spec)
}

// CommitUpdate records the digest of the caller's model update.
func (c *Client) CommitUpdate(ctx context.Context, roundID string, u records.UpdateCommitment) (Committed[records.UpdateCommit], error) {
	return submitJSON[records.UpdateCommit](ctx, c, "Rounds:CommitUpdate", []string{roundID}, u)
}

// SubmitAggregate records the aggregate the caller computed.
func (c *Client) SubmitAggregate(ctx context.Context, roundID string, claim records.AggregateClaim) (Committed[records.AggregateVote], error) {
	return submitJSON[records.AggregateVote](ctx, c, "Rounds:SubmitAggregate", []string{roundID}, claim)
}

// CloseRound fails a round whose deadline passed without quorum
// (Rounds:Close).
func (c *Client) CloseRound(ctx context.Context, roundID string) (Committed[records.Round], error) {
	return submit[records.Round](ctx, c, "Rounds:Close", roundID)
}

// Round returns a round (Rounds:Get).
func (c *Client) Round(ctx context.Context, roundID string) (records.Round, error) {
	return evaluate[records.Round](ctx, c, "Rounds:Get", roundID)
}

// Rounds returns one page of rounds in ID order (Rounds:List).
func (c *Client) Rounds(ctx context.Context, p PageRequest) (records.Page[records.Round], error) {
	return evaluate[records.Page[records.Round]](ctx, c, "Rounds:List", p.args()...)
}

// Updates returns a round's update commitments, by MSP ID.
func (c *Client) Updates(ctx context.Context, roundID string) ([]records.UpdateCommit, error) {
	return evaluate[[]records.UpdateCommit](ctx, c, "Rounds:Updates", roundID)
}

// Votes returns a round's aggregate votes, by MSP ID.
func (c *Client) Votes(ctx context.Context, roundID string) ([]records.AggregateVote, error) {
	return evaluate[[]records.AggregateVote](ctx, c, "Rounds:Votes", roundID)
}

// Generation.

// RequestGeneration records a generation request (Generation:Request).
func (c *Client) RequestGeneration(ctx context.Context, spec records.RequestSpec) (Committed[records.GenerationRequest], error) {
	if spec.SLIs == nil {
		spec.SLIs = []nft.Metric{}
	}
	return submitJSON[records.GenerationRequest](ctx, c, "Generation:Request", nil, spec)
}

// Propose puts a draft to the vote (Generation:Propose).
func (c *Client) Propose(ctx context.Context, requestID string, def nft.Definition) (Committed[records.Proposal], error) {
	return submitJSON[records.Proposal](ctx, c, "Generation:Propose", []string{requestID}, def)
}

// ProposeWith is Propose with the proposer's own decision and figures
// (Generation:ProposeWith).
func (c *Client) ProposeWith(ctx context.Context, requestID string, def nft.Definition, d records.Decision) (Committed[records.Proposal], error) {
	body, err := argJSON("Generation:ProposeWith", def)
	if err != nil {
		return Committed[records.Proposal]{}, err
	}
	return submitJSON[records.Proposal](ctx, c, "Generation:ProposeWith", []string{requestID, body}, specOf(d))
}

// specOf is the part of a decision the member submits: the chaincode
// decodes it strictly and records who decided, when and in which
// transaction itself.
func specOf(d records.Decision) records.DecisionSpec {
	return records.DecisionSpec{Verdict: d.Kind(), Reason: d.Reason, Figures: d.Figures}
}

// Approve records the caller's approval without figures.
func (c *Client) Approve(ctx context.Context, proposalID string) (Committed[records.Proposal], error) {
	return submit[records.Proposal](ctx, c, "Generation:Approve", proposalID)
}

// Reject records the caller's rejection with a reason.
func (c *Client) Reject(ctx context.Context, proposalID, reason string) (Committed[records.Proposal], error) {
	return submit[records.Proposal](ctx, c, "Generation:Reject", proposalID, reason)
}

// Decide records the caller's decision with what it rests on.
func (c *Client) Decide(ctx context.Context, proposalID string, d records.Decision) (Committed[records.Proposal], error) {
	return submitJSON[records.Proposal](ctx, c, "Generation:Decide", []string{proposalID}, specOf(d))
}

// CloseProposal closes a proposal whose deadline passed undecided
// (Generation:Close).
func (c *Client) CloseProposal(ctx context.Context, proposalID string) (Committed[records.Proposal], error) {
	return submit[records.Proposal](ctx, c, "Generation:Close", proposalID)
}

// Decline passes an open request on, with a reason.
func (c *Client) Decline(ctx context.Context, requestID, reason string) (Committed[records.GenerationRequest], error) {
	return submit[records.GenerationRequest](ctx, c, "Generation:Decline", requestID, reason)
}

// Reassign hands an open request whose turn expired to the next member.
func (c *Client) Reassign(ctx context.Context, requestID string) (Committed[records.GenerationRequest], error) {
	return submit[records.GenerationRequest](ctx, c, "Generation:Reassign", requestID)
}

// Request returns a generation request (Generation:GetRequest).
func (c *Client) Request(ctx context.Context, requestID string) (records.GenerationRequest, error) {
	return evaluate[records.GenerationRequest](ctx, c, "Generation:GetRequest", requestID)
}

// RequestsByRound returns the requests a finalized round created.
func (c *Client) RequestsByRound(ctx context.Context, roundID string) ([]records.GenerationRequest, error) {
	return evaluate[[]records.GenerationRequest](ctx, c, "Generation:RequestsByRound", roundID)
}

// Proposal returns a proposal (Generation:GetProposal).
func (c *Client) Proposal(ctx context.Context, proposalID string) (records.Proposal, error) {
	return evaluate[records.Proposal](ctx, c, "Generation:GetProposal", proposalID)
}

// ProposalsByRequest returns the proposals made for a request.
func (c *Client) ProposalsByRequest(ctx context.Context, requestID string) ([]records.Proposal, error) {
	return evaluate[[]records.Proposal](ctx, c, "Generation:ProposalsByRequest", requestID)
}

// Proposals returns one page of proposals in ID order
// (Generation:ListProposals).
func (c *Client) Proposals(ctx context.Context, p PageRequest) (records.Page[records.Proposal], error) {
	return evaluate[records.Page[records.Proposal]](ctx, c, "Generation:ListProposals", p.args()...)
}

// Decisions returns the members' decisions on a proposal, by MSP ID.
func (c *Client) Decisions(ctx context.Context, proposalID string) ([]records.Decision, error) {
	return evaluate[[]records.Decision](ctx, c, "Generation:Decisions", proposalID)
}

// Tokens.

// ActiveTokens returns a service's active tokens, one per SLO name.
func (c *Client) ActiveTokens(ctx context.Context, service string) ([]nft.Token, error) {
	return evaluate[[]nft.Token](ctx, c, "Tokens:Active", service)
}

// CollectionName returns the token collection's name (Tokens:Name).
func (c *Client) CollectionName(ctx context.Context) (string, error) {
	return text(ctx, c, "Tokens:Name")
}

// CollectionSymbol returns the token collection's symbol (Tokens:Symbol).
func (c *Client) CollectionSymbol(ctx context.Context) (string, error) {
	return text(ctx, c, "Tokens:Symbol")
}

// Token returns a token with its full metadata (Tokens:Get).
func (c *Client) Token(ctx context.Context, tokenID string) (nft.Token, error) {
	return evaluate[nft.Token](ctx, c, "Tokens:Get", tokenID)
}

// OwnerOf returns the MSP ID owning a token.
func (c *Client) OwnerOf(ctx context.Context, tokenID string) (string, error) {
	return text(ctx, c, "Tokens:OwnerOf", tokenID)
}

// BalanceOf counts the tokens an organization owns.
func (c *Client) BalanceOf(ctx context.Context, owner string) (int, error) {
	s, err := text(ctx, c, "Tokens:BalanceOf", owner)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("Tokens:BalanceOf: result %q is not a count", s)
	}
	return n, nil
}

// ApproveOperator lets another member transfer one of the caller's tokens;
// operator "" clears the approval (Tokens:Approve).
func (c *Client) ApproveOperator(ctx context.Context, operator, tokenID string) (Committed[records.OperatorApproval], error) {
	return submit[records.OperatorApproval](ctx, c, "Tokens:Approve", operator, tokenID)
}

// SetApprovalForAll lets (or stops) an operator transfer all of the
// caller's tokens.
func (c *Client) SetApprovalForAll(ctx context.Context, operator string, approved bool) (Committed[records.OperatorApproval], error) {
	return submit[records.OperatorApproval](ctx, c, "Tokens:SetApprovalForAll", operator, strconv.FormatBool(approved))
}

// GetApproved returns the member approved for a token, or "".
func (c *Client) GetApproved(ctx context.Context, tokenID string) (string, error) {
	return text(ctx, c, "Tokens:GetApproved", tokenID)
}

// IsApprovedForAll reports whether operator may transfer all of owner's
// tokens.
func (c *Client) IsApprovedForAll(ctx context.Context, owner, operator string) (bool, error) {
	return evaluate[bool](ctx, c, "Tokens:IsApprovedForAll", owner, operator)
}

// TransferFrom moves a token from one member to another.
func (c *Client) TransferFrom(ctx context.Context, from, to, tokenID string) (Committed[nft.Token], error) {
	return submit[nft.Token](ctx, c, "Tokens:TransferFrom", from, to, tokenID)
}

// Revise mints a new version of one of the caller's tokens directly.
func (c *Client) Revise(ctx context.Context, tokenID string, def nft.Definition) (Committed[nft.Token], error) {
	return submitJSON[nft.Token](ctx, c, "Tokens:Revise", []string{tokenID}, def)
}

// Retire ends an active token's life, with a reason.
func (c *Client) Retire(ctx context.Context, tokenID, reason string) (Committed[nft.Token], error) {
	return submit[nft.Token](ctx, c, "Tokens:Retire", tokenID, reason)
}

// Audit.

// History returns every version of a token's record, oldest first.
func (c *Client) History(ctx context.Context, tokenID string) ([]records.HistoryEntry, error) {
	return evaluate[[]records.HistoryEntry](ctx, c, "Audit:History", tokenID)
}

// TokensByService returns one page of a service's tokens.
func (c *Client) TokensByService(ctx context.Context, service string, p PageRequest) (records.Page[nft.Token], error) {
	return evaluate[records.Page[nft.Token]](ctx, c, "Audit:ByService", append([]string{service}, p.args()...)...)
}

// TokensByOwner returns one page of the tokens an organization owns.
func (c *Client) TokensByOwner(ctx context.Context, owner string, p PageRequest) (records.Page[nft.Token], error) {
	return evaluate[records.Page[nft.Token]](ctx, c, "Audit:ByOwner", append([]string{owner}, p.args()...)...)
}

// TokensByRound returns one page of the tokens resting on a round.
func (c *Client) TokensByRound(ctx context.Context, roundID string, p PageRequest) (records.Page[nft.Token], error) {
	return evaluate[records.Page[nft.Token]](ctx, c, "Audit:ByRound", append([]string{roundID}, p.args()...)...)
}

// Provenance returns everything the ledger holds on how a token came to be.
func (c *Client) Provenance(ctx context.Context, tokenID string) (records.Provenance, error) {
	return evaluate[records.Provenance](ctx, c, "Audit:Provenance", tokenID)
}

// RawTokensByOwner is TokensByOwner with each token left undecoded, for an
// audit that must report a damaged token rather than fail on its page.
func (c *Client) RawTokensByOwner(ctx context.Context, owner string, p PageRequest) (records.Page[json.RawMessage], error) {
	return evaluate[records.Page[json.RawMessage]](ctx, c, "Audit:ByOwner", append([]string{owner}, p.args()...)...)
}

// ChaincodeVersion returns the version the chaincode's contract metadata
// reports for its contracts (the contract API's
// org.hyperledger.fabric:GetMetadata; the chaincode-wide info there says
// "latest", so the Tokens contract's is read).
func (c *Client) ChaincodeVersion(ctx context.Context) (string, error) {
	const fn = "org.hyperledger.fabric:GetMetadata"
	raw, err := c.l.Evaluate(ctx, fn)
	if err != nil {
		return "", err
	}
	type info struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	md, err := decode[struct {
		Contracts map[string]info `json:"contracts"`
	}](fn, raw)
	if err != nil {
		return "", err
	}
	tokens, ok := md.Contracts["Tokens"]
	if !ok || tokens.Info.Version == "" {
		return "", fmt.Errorf("%s: the metadata names no Tokens contract version", fn)
	}
	return tokens.Info.Version, nil
}
