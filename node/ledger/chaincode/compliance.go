package chaincode

import (
	"context"

	"github.com/srellama/srellama/chaincode/records"
)

// The SLO lifecycle's evidence: attestations, and the revisions and
// retirements they back.

// Attest records the caller's attestation of one active token over one
// period that has ended (Compliance:Attest). Who, when and the transaction
// are the ledger's to set: a's MSPID, At and TxID are not sent. A second
// attestation of the same token, period and member is a settled refusal
// (records.IsSettled).
func (c *Client) Attest(ctx context.Context, a records.Attestation) (Committed[records.Attestation], error) {
	a.MSPID, a.At, a.TxID = "", "", ""
	return submitJSON[records.Attestation](ctx, c, "Compliance:Attest", nil, a)
}

// Compliance returns one page of a token's attestations, by period then
// member (Audit:Compliance).
func (c *Client) Compliance(ctx context.Context, tokenID string, p PageRequest) (records.Page[records.Attestation], error) {
	return evaluate[records.Page[records.Attestation]](ctx, c, "Audit:Compliance", append([]string{tokenID}, p.args()...)...)
}

// AllCompliance reads every page of a token's attestations.
func (c *Client) AllCompliance(ctx context.Context, tokenID string) ([]records.Attestation, error) {
	all := []records.Attestation{}
	p := PageRequest{Size: records.MaxPageSize}
	for {
		page, err := c.Compliance(ctx, tokenID, p)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if len(page.Items) == 0 || page.Bookmark == "" || page.Bookmark == p.Bookmark {
			return all, nil
		}
		p.Bookmark = page.Bookmark
	}
}

// RecentCompliance returns the attestations of a token's latest periods,
// those the ledger's evidence rule reads (Audit:RecentCompliance).
func (c *Client) RecentCompliance(ctx context.Context, tokenID string) ([]records.Attestation, error) {
	return evaluate[[]records.Attestation](ctx, c, "Audit:RecentCompliance", tokenID)
}

// RequestRevision asks for a revision of an active token on the evidence
// of its attestations (Generation:RequestRevision): the ledger refuses
// without evidence of a breached or silent SLO, and answers a settled
// refusal while the token has an open revision request.
func (c *Client) RequestRevision(ctx context.Context, tokenID string) (Committed[records.GenerationRequest], error) {
	return submit[records.GenerationRequest](ctx, c, "Generation:RequestRevision", tokenID)
}

// ProposeRetirement puts the retirement of an active token to the vote on
// the evidence that its service is gone (Generation:ProposeRetirement);
// the caller's proposal counts as its approval. Decide on it like any
// proposal: at quorum the deciding transaction retires the token.
func (c *Client) ProposeRetirement(ctx context.Context, tokenID string) (Committed[records.Proposal], error) {
	return submit[records.Proposal](ctx, c, "Generation:ProposeRetirement", tokenID)
}
