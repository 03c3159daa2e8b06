package contracts

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Audit answers who proposed, approved and changed what. Every query walks
// a composite-key index or one key's history; none scans the world state.
type Audit struct {
	contractapi.Contract
}

// History returns every version of a token's record (mint, transfers,
// supersession, retirement) with its transaction ID and time, oldest first.
func (c *Audit) History(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if _, err := records.ParseTokenID(tokenID); err != nil {
		return "", err
	}
	k, err := t.key(keyToken, tokenID)
	if err != nil {
		return "", err
	}
	it, err := t.stub.GetHistoryForKey(k)
	if err != nil {
		return "", fmt.Errorf("reading history of token %s: %w", tokenID, err)
	}
	defer it.Close()
	var out []records.HistoryEntry
	for it.HasNext() {
		m, err := it.Next()
		if err != nil {
			return "", fmt.Errorf("reading history of token %s: %w", tokenID, err)
		}
		e := records.HistoryEntry{TxID: m.GetTxId(), IsDelete: m.GetIsDelete()}
		if ts := m.GetTimestamp(); ts != nil {
			e.Timestamp = records.FormatTime(ts.AsTime())
		}
		if !e.IsDelete {
			var tok nft.Token
			if err := json.Unmarshal(m.GetValue(), &tok); err != nil {
				return "", fmt.Errorf("corrupt token record in history (tx %s): %w", e.TxID, err)
			}
			e.Token = &tok
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("token %q not found", tokenID)
	}
	// Fabric's history database yields newest first; an audit trail reads
	// oldest first.
	slices.Reverse(out)
	return encode(out)
}

// ByService returns the tokens of a service, a page at a time.
func (c *Audit) ByService(ctx contractapi.TransactionContextInterface, service string, pageSize string, bookmark string) (string, error) {
	return tokensByIndex(ctx, keyByService, service, pageSize, bookmark)
}

// ByOwner returns the tokens an organization owns, a page at a time.
func (c *Audit) ByOwner(ctx contractapi.TransactionContextInterface, owner string, pageSize string, bookmark string) (string, error) {
	return tokensByIndex(ctx, keyByOwner, owner, pageSize, bookmark)
}

// ByRound returns the tokens resting on a federated round, a page at a time.
func (c *Audit) ByRound(ctx contractapi.TransactionContextInterface, roundID string, pageSize string, bookmark string) (string, error) {
	return tokensByIndex(ctx, keyByRound, roundID, pageSize, bookmark)
}

func tokensByIndex(ctx contractapi.TransactionContextInterface, index, value, pageSize, bookmark string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if value == "" {
		return "", fmt.Errorf("%s: the value to look up must not be empty", index)
	}
	ids, err := pageOf[string](t, index, []string{value}, pageSize, bookmark)
	if err != nil {
		return "", err
	}
	page := records.Page[nft.Token]{Items: make([]nft.Token, 0, len(ids.Items)), Bookmark: ids.Bookmark, Count: ids.Count}
	for _, id := range ids.Items {
		tok, err := t.token(id)
		if err != nil {
			return "", err
		}
		page.Items = append(page.Items, tok)
	}
	return encode(page)
}

// pageOf reads one page under a partial composite key. For an index
// (T = string) the items are the keys' last attributes; for records the
// decoded values.
func pageOf[T any](t *txn, objectType string, attrs []string, pageSize, bookmark string) (records.Page[T], error) {
	size, bookmark, err := records.ParsePage(pageSize, bookmark)
	if err != nil {
		return records.Page[T]{}, err
	}
	it, meta, err := t.stub.GetStateByPartialCompositeKeyWithPagination(objectType, attrs, size, bookmark)
	if err != nil {
		return records.Page[T]{}, fmt.Errorf("querying %s: %w", objectType, err)
	}
	defer it.Close()
	page := records.Page[T]{Items: []T{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return records.Page[T]{}, fmt.Errorf("querying %s: %w", objectType, err)
		}
		var item T
		if s, ok := any(&item).(*string); ok {
			_, keyAttrs, err := splitKey(kv.GetKey())
			if err != nil {
				return records.Page[T]{}, err
			}
			*s = keyAttrs[len(keyAttrs)-1]
		} else if err := json.Unmarshal(kv.GetValue(), &item); err != nil {
			return records.Page[T]{}, fmt.Errorf("corrupt %s record: %w", objectType, err)
		}
		page.Items = append(page.Items, item)
	}
	page.Count = len(page.Items)
	if meta != nil {
		page.Bookmark = meta.GetBookmark()
	}
	return page, nil
}

// Provenance returns everything the ledger holds on how a token came to be:
// its round with the committed updates and votes, the generation request,
// the proposal and the decisions on it, and its earlier versions.
func (c *Audit) Provenance(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	tok, err := t.token(tokenID)
	if err != nil {
		return "", err
	}
	p := records.Provenance{Token: tok}
	if err := t.roundProvenance(&p, tok.Definition.Provenance.RoundID); err != nil {
		return "", err
	}
	if err := t.proposalProvenance(&p, tok); err != nil {
		return "", err
	}
	for prev := tok.Definition.Supersedes; prev != "" && len(p.Lineage) < 1000; {
		p.Lineage = append(p.Lineage, prev)
		older, err := t.token(prev)
		if err != nil {
			return "", err
		}
		prev = older.Definition.Supersedes
	}
	return encode(p)
}

func (t *txn) roundProvenance(p *records.Provenance, roundID string) error {
	if roundID == "" {
		return nil
	}
	var round records.Round
	if err := t.mustGet(&round, "round", keyRound, roundID); err != nil {
		return err
	}
	p.Round = &round
	var err error
	if p.Updates, err = scanJSON[records.UpdateCommit](t, keyUpdate, roundID); err != nil {
		return err
	}
	p.Votes, err = scanJSON[records.AggregateVote](t, keyVote, roundID)
	return err
}

func (t *txn) proposalProvenance(p *records.Provenance, tok nft.Token) error {
	if reqID := tok.Definition.Provenance.GenerationRequestID; reqID != "" {
		var req records.GenerationRequest
		if found, err := t.get(&req, keyRequest, reqID); err != nil {
			return err
		} else if found {
			p.Request = &req
		}
	}
	var prop records.Proposal
	found, err := t.get(&prop, keyProposal, tok.Mint.ProposalID)
	if err != nil || !found {
		return err // a direct revision has no proposal record
	}
	p.Proposal = &prop
	p.Decisions, err = scanJSON[records.Decision](t, keyDecision, prop.ID)
	return err
}

// Compliance returns a token's attestations, a page at a time, by period
// then member: how its SLO did on each member's data.
func (c *Audit) Compliance(ctx contractapi.TransactionContextInterface, tokenID string, pageSize string, bookmark string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		if _, err := t.token(tokenID); err != nil {
			return nil, err
		}
		return pageOf[records.Attestation](t, keyAttest, []string{tokenID}, pageSize, bookmark)
	})
}

// RecentCompliance returns the attestations the ledger's evidence rule
// reads for a token: those of its latest periods (records.EvidencePolicy
// Periods), by period then member. A node previews the evidence on them
// before it asks, reading what the ledger will read, at a cost that does
// not grow with the token's history.
func (c *Audit) RecentCompliance(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		if _, err := t.token(tokenID); err != nil {
			return nil, err
		}
		atts, err := t.recentAttestations(tokenID, records.DefaultEvidencePolicy().Periods())
		if atts == nil {
			atts = []records.Attestation{}
		}
		return atts, err
	})
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Audit) GetEvaluateTransactions() []string {
	return []string{"History", "ByService", "ByOwner", "ByRound", "Provenance", "Compliance", "RecentCompliance"}
}
