package contracts

import (
	"fmt"
	"strconv"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Tokens implements the ERC-721 operations for s-528 tokens, with
// organizations (MSP IDs) as owners, plus Revise and Retire. Every write
// needs an admin of the organization acting.
type Tokens struct {
	contractapi.Contract
}

// Token collection metadata, as ERC-721's optional metadata extension names it.
const (
	CollectionName   = "SRE-Llama SLI/SLO"
	CollectionSymbol = "S528"
)

// mint creates a token from an approved definition. A definition that
// supersedes a token takes over its owner and marks it superseded, linking
// both ways. It returns the new token and, for a revision, the old one.
func (t *txn) mint(def nft.Definition, proposalID string, approvals []nft.Approval, owner string) (nft.Token, *nft.Token, error) {
	var old *nft.Token
	if def.Supersedes != "" {
		prev, err := t.supersedable(def)
		if err != nil {
			return nft.Token{}, nil, err
		}
		owner = prev.State.Owner
		old = &prev
	}
	tok := nft.Token{
		Definition: def,
		Mint:       nft.Mint{ProposalID: proposalID, Approvals: approvals, MintedAt: t.at, TxID: t.txID},
		State:      nft.State{Owner: owner, Status: nft.StatusActive},
	}
	encoded, err := nft.SealValidEncoded(&tok)
	if err != nil {
		return nft.Token{}, nil, err
	}
	if found, err := t.exists(keyToken, tok.ID); err != nil {
		return nft.Token{}, nil, err
	} else if found {
		return nft.Token{}, nil, fmt.Errorf("token %s already exists", tok.ID)
	}
	if err := t.checkIdentity(def); err != nil {
		return nft.Token{}, nil, err
	}
	if old != nil {
		old.State.Status, old.State.SupersededBy = nft.StatusSuperseded, tok.ID
		if err := t.put(*old, keyToken, old.ID); err != nil {
			return nft.Token{}, nil, err
		}
		if err := t.clearActive(*old); err != nil {
			return nft.Token{}, nil, err
		}
	}
	if err := t.put(tok.ID, keyActive, def.SLI.Service, def.Name); err != nil {
		return nft.Token{}, nil, err
	}
	if err := t.putEncoded(encoded, keyToken, tok.ID); err != nil {
		return nft.Token{}, nil, err
	}
	if err := t.putIndex(keyByOwner, owner, tok.ID); err != nil {
		return nft.Token{}, nil, err
	}
	if err := t.putIndex(keyByService, def.SLI.Service, tok.ID); err != nil {
		return nft.Token{}, nil, err
	}
	if def.Provenance.RoundID != "" {
		if err := t.putIndex(keyByRound, def.Provenance.RoundID, tok.ID); err != nil {
			return nft.Token{}, nil, err
		}
	}
	return tok, old, nil
}

// supersedable loads the token a revision supersedes and checks the
// revision may replace it: active, same service, next version.
func (t *txn) supersedable(def nft.Definition) (nft.Token, error) {
	prev, err := t.token(def.Supersedes)
	if err != nil {
		return nft.Token{}, err
	}
	switch {
	case prev.State.Status != nft.StatusActive:
		return nft.Token{}, fmt.Errorf("token %s is %s and cannot be superseded", prev.ID, prev.State.Status)
	case prev.Definition.SLI.Service != def.SLI.Service:
		return nft.Token{}, fmt.Errorf("a revision of token %s must keep its service %q, got %q", prev.ID, prev.Definition.SLI.Service, def.SLI.Service)
	case def.Version != prev.Definition.Version+1:
		return nft.Token{}, fmt.Errorf("a revision of token %s (version %d) must have version %d, got %d", prev.ID, prev.Definition.Version, prev.Definition.Version+1, def.Version)
	}
	return prev, nil
}

// checkIdentity enforces one active SLO per identity (service and name,
// the sloth_id its rules record under): a definition either is the first
// active one of its identity or supersedes the one that is. Two active
// tokens of one identity would write the same recording rules from
// different definitions.
func (t *txn) checkIdentity(def nft.Definition) error {
	var active string
	found, err := t.get(&active, keyActive, def.SLI.Service, def.Name)
	if err != nil {
		return err
	}
	switch {
	case found && def.Supersedes == "":
		return fmt.Errorf("SLO %s-%s is active as token %s: propose a revision that supersedes it", def.SLI.Service, def.Name, active)
	case found && active != def.Supersedes:
		return fmt.Errorf("SLO %s-%s is active as token %s, not %s: a revision must supersede the active version", def.SLI.Service, def.Name, active, def.Supersedes)
	}
	if def.Supersedes != "" {
		_, err := t.supersedable(def)
		return err
	}
	return nil
}

// clearActive removes a token from the active index if it is there.
func (t *txn) clearActive(tok nft.Token) error {
	var active string
	found, err := t.get(&active, keyActive, tok.Definition.SLI.Service, tok.Definition.Name)
	if err != nil || !found || active != tok.ID {
		return err
	}
	return t.del(keyActive, tok.Definition.SLI.Service, tok.Definition.Name)
}

// Active returns a service's active tokens, one per SLO name, in name
// order: what a new generation for the service revises.
func (c *Tokens) Active(ctx contractapi.TransactionContextInterface, service string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		if !nft.IsValidName(service) {
			return nil, fmt.Errorf("service %q is not a service name", service)
		}
		out, err := t.activeTokens(service)
		if out == nil {
			out = []nft.Token{}
		}
		return out, err
	})
}

func (t *txn) token(id string) (nft.Token, error) {
	if _, err := records.ParseTokenID(id); err != nil {
		return nft.Token{}, err
	}
	return record[nft.Token](t, "token", keyToken, id)
}

// ownedToken loads a token and checks the caller is an admin of its owner.
func (t *txn) ownedToken(id string) (nft.Token, error) {
	if err := t.requireAdmin(); err != nil {
		return nft.Token{}, err
	}
	tok, err := t.token(id)
	if err != nil {
		return nft.Token{}, err
	}
	if tok.State.Owner != t.actor.MSPID {
		return nft.Token{}, fmt.Errorf("access denied: token %s is owned by %s, not %s", id, tok.State.Owner, t.actor.MSPID)
	}
	return tok, nil
}

// Name returns the collection name.
func (c *Tokens) Name(ctx contractapi.TransactionContextInterface) (string, error) {
	return CollectionName, nil
}

// Symbol returns the collection symbol.
func (c *Tokens) Symbol(ctx contractapi.TransactionContextInterface) (string, error) {
	return CollectionSymbol, nil
}

// Get returns a token with its full metadata.
func (c *Tokens) Get(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return t.token(tokenID) })
}

// OwnerOf returns the MSP ID owning a token.
func (c *Tokens) OwnerOf(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	tok, err := t.token(tokenID)
	if err != nil {
		return "", err
	}
	return tok.State.Owner, nil
}

// BalanceOf counts the tokens an organization owns, through the owner
// index (no global counter: counters make every mint conflict).
func (c *Tokens) BalanceOf(ctx contractapi.TransactionContextInterface, owner string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if _, err := records.ParseMSPID("owner", owner); err != nil {
		return "", err
	}
	n := 0
	if err := t.scan(keyByOwner, []string{owner}, func([]string, []byte) error { n++; return nil }); err != nil {
		return "", err
	}
	return strconv.Itoa(n), nil
}

// Approve lets another member transfer one of the caller's tokens; an empty
// operator clears the approval.
func (c *Tokens) Approve(ctx contractapi.TransactionContextInterface, operator string, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	tok, err := t.ownedToken(tokenID)
	if err != nil {
		return "", err
	}
	approval := records.OperatorApproval{Owner: tok.State.Owner, Operator: operator, TokenID: tok.ID, Approved: operator != ""}
	if operator == "" {
		err = t.del(keyApproved, tok.ID)
	} else {
		err = t.setOperator(keyApproved, operator, tok.ID)
	}
	if err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventApproval, Approval: &approval}); err != nil {
		return "", err
	}
	return encode(approval)
}

// setOperator checks the operator is a member other than the caller and
// records it.
func (t *txn) setOperator(objectType, operator string, attrs ...string) error {
	if _, err := records.ParseMSPID("operator", operator); err != nil {
		return err
	}
	if operator == t.actor.MSPID {
		return fmt.Errorf("%s cannot approve itself", operator)
	}
	if found, err := t.exists(keyOrg, operator); err != nil {
		return err
	} else if !found {
		return fmt.Errorf("operator %s is not a registered member", operator)
	}
	return t.put(operator, objectType, attrs...)
}

// SetApprovalForAll lets (or stops) an operator transfer all of the
// caller's tokens. approved is "true" or "false".
func (c *Tokens) SetApprovalForAll(ctx contractapi.TransactionContextInterface, operator string, approved string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	on, err := strconv.ParseBool(approved)
	if err != nil {
		return "", fmt.Errorf("approved must be true or false, got %q", approved)
	}
	if on {
		err = t.setOperator(keyOperator, operator, t.actor.MSPID, operator)
	} else {
		err = t.del(keyOperator, t.actor.MSPID, operator)
	}
	if err != nil {
		return "", err
	}
	approval := records.OperatorApproval{Owner: t.actor.MSPID, Operator: operator, Approved: on}
	if err := t.emit(records.Event{Kind: records.EventApprovalForAll, Approval: &approval}); err != nil {
		return "", err
	}
	return encode(approval)
}

// GetApproved returns the member approved for a token, or "".
func (c *Tokens) GetApproved(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if _, err := t.token(tokenID); err != nil {
		return "", err
	}
	var operator string
	if _, err := t.get(&operator, keyApproved, tokenID); err != nil {
		return "", err
	}
	return operator, nil
}

// IsApprovedForAll reports whether operator may transfer all of owner's
// tokens.
func (c *Tokens) IsApprovedForAll(ctx contractapi.TransactionContextInterface, owner string, operator string) (bool, error) {
	t, err := begin(ctx)
	if err != nil {
		return false, err
	}
	return t.exists(keyOperator, owner, operator)
}

// TransferFrom moves a token from one member to another. The caller must be
// an admin of the owner, of the token's approved operator, or of an
// operator approved for all the owner's tokens.
func (c *Tokens) TransferFrom(ctx contractapi.TransactionContextInterface, from string, to string, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	tok, err := t.token(tokenID)
	if err != nil {
		return "", err
	}
	if tok.State.Owner != from {
		return "", fmt.Errorf("token %s is owned by %s, not %s", tokenID, tok.State.Owner, from)
	}
	if err := t.checkTransferRight(tok); err != nil {
		return "", err
	}
	if _, err := records.ParseMSPID("recipient", to); err != nil {
		return "", err
	}
	if to == from {
		return "", fmt.Errorf("token %s is already owned by %s", tokenID, to)
	}
	if found, err := t.exists(keyOrg, to); err != nil {
		return "", err
	} else if !found {
		return "", fmt.Errorf("recipient %s is not a registered member", to)
	}
	tok.State.Owner = to
	for _, step := range []func() error{
		func() error { return t.put(tok, keyToken, tok.ID) },
		func() error { return t.del(keyByOwner, from, tok.ID) },
		func() error { return t.putIndex(keyByOwner, to, tok.ID) },
		func() error { return t.del(keyApproved, tok.ID) },
	} {
		if err := step(); err != nil {
			return "", err
		}
	}
	transfer := records.Transfer{TokenID: tok.ID, From: from, To: to}
	if err := t.emit(records.Event{Kind: records.EventTransfer, Transfer: &transfer, Token: &tok}); err != nil {
		return "", err
	}
	return encode(tok)
}

func (t *txn) checkTransferRight(tok nft.Token) error {
	caller := t.actor.MSPID
	if caller == tok.State.Owner {
		return nil
	}
	var approved string
	if _, err := t.get(&approved, keyApproved, tok.ID); err != nil {
		return err
	}
	if approved == caller {
		return nil
	}
	if ok, err := t.exists(keyOperator, tok.State.Owner, caller); err != nil {
		return err
	} else if ok {
		return nil
	}
	return fmt.Errorf("access denied: %s is neither the owner of token %s nor approved by %s", caller, tok.ID, tok.State.Owner)
}

// Revise mints a new version of one of the caller's tokens directly, with
// the owner's own approval: for corrections the owner makes without a vote
// (a runbook link, a description). The new definition must be the next
// version, supersede this token and keep its service. The mint record
// names this transaction as its proposal.
func (c *Tokens) Revise(ctx contractapi.TransactionContextInterface, tokenID string, definitionJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if _, err := t.ownedToken(tokenID); err != nil {
		return "", err
	}
	def, err := nft.DecodeDefinition([]byte(definitionJSON))
	if err != nil {
		return "", err
	}
	if def.Supersedes != tokenID {
		return "", fmt.Errorf("the revision must supersede %s, it names %q", tokenID, def.Supersedes)
	}
	if def.Provenance.Proposer != t.actor.MSPID {
		return "", fmt.Errorf("the revision names proposer %q but the caller is %s", def.Provenance.Proposer, t.actor.MSPID)
	}
	approvals := []nft.Approval{{MSPID: t.actor.MSPID, TxID: t.txID, At: t.at}}
	tok, old, err := t.mint(def, t.txID, approvals, t.actor.MSPID)
	if err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventTokenMinted, Token: &tok, Superseded: old}); err != nil {
		return "", err
	}
	return encode(tok)
}

// Retire ends an active token's life; it stays on the ledger for audit.
func (c *Tokens) Retire(ctx contractapi.TransactionContextInterface, tokenID string, reason string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	tok, err := t.ownedToken(tokenID)
	if err != nil {
		return "", err
	}
	reason, err = records.ParseReason(reason)
	if err != nil {
		return "", err
	}
	if tok.State.Status != nft.StatusActive {
		return "", fmt.Errorf("token %s is %s; only an active token can be retired", tokenID, tok.State.Status)
	}
	tok.State.Status = nft.StatusRetired
	if err := t.put(tok, keyToken, tok.ID); err != nil {
		return "", err
	}
	if err := t.clearActive(tok); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventTokenRetired, Token: &tok, Reason: reason}); err != nil {
		return "", err
	}
	return encode(tok)
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Tokens) GetEvaluateTransactions() []string {
	return []string{"Name", "Symbol", "Get", "OwnerOf", "BalanceOf", "GetApproved", "IsApprovedForAll", "Active"}
}
