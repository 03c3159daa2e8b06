// Package fabmsg reads and builds the Fabric messages the gateway exchanges:
// signed proposals, proposal responses with endorsements, and the
// transaction envelopes that the client signs and submits. It is pure:
// no identities, no state, only structure and the checks that bind the
// parts of a message together.
package fabmsg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Proposal is a decoded chaincode invocation proposal.
type Proposal struct {
	Signed          *peer.SignedProposal
	HeaderBytes     []byte
	ChannelHeader   *common.ChannelHeader
	SignatureHeader *common.SignatureHeader
	SigHeaderBytes  []byte
	Chaincode       string
	Args            [][]byte
	Transient       map[string][]byte
	// PayloadForTx is the ChaincodeProposalPayload without its transient
	// map, the form that goes into the transaction.
	PayloadForTx []byte
}

// TxID returns the proposal's transaction ID.
func (p *Proposal) TxID() string { return p.ChannelHeader.GetTxId() }

// Timestamp returns the client's timestamp.
func (p *Proposal) Timestamp() *timestamppb.Timestamp { return p.ChannelHeader.GetTimestamp() }

// ParseProposal decodes a signed proposal and checks that its parts agree:
// an endorser transaction on a named chaincode whose ID is derived from the
// nonce and the creator, as Fabric requires.
func ParseProposal(sp *peer.SignedProposal) (*Proposal, error) {
	if sp == nil || len(sp.GetProposalBytes()) == 0 {
		return nil, errors.New("empty proposal")
	}
	var prop peer.Proposal
	if err := proto.Unmarshal(sp.GetProposalBytes(), &prop); err != nil {
		return nil, fmt.Errorf("malformed proposal: %w", err)
	}
	var hdr common.Header
	if err := proto.Unmarshal(prop.GetHeader(), &hdr); err != nil {
		return nil, fmt.Errorf("malformed proposal header: %w", err)
	}
	ch, sh, err := parseHeader(&hdr)
	if err != nil {
		return nil, err
	}
	if common.HeaderType(ch.GetType()) != common.HeaderType_ENDORSER_TRANSACTION {
		return nil, fmt.Errorf("proposal header type %v is not ENDORSER_TRANSACTION", common.HeaderType(ch.GetType()))
	}
	var ext peer.ChaincodeHeaderExtension
	if err := proto.Unmarshal(ch.GetExtension(), &ext); err != nil {
		return nil, fmt.Errorf("malformed chaincode header extension: %w", err)
	}
	var ccpp peer.ChaincodeProposalPayload
	if err := proto.Unmarshal(prop.GetPayload(), &ccpp); err != nil {
		return nil, fmt.Errorf("malformed chaincode proposal payload: %w", err)
	}
	var cis peer.ChaincodeInvocationSpec
	if err := proto.Unmarshal(ccpp.GetInput(), &cis); err != nil {
		return nil, fmt.Errorf("malformed chaincode invocation spec: %w", err)
	}
	name := ext.GetChaincodeId().GetName()
	if name == "" || cis.GetChaincodeSpec().GetChaincodeId().GetName() != name {
		return nil, fmt.Errorf("proposal names chaincode %q in its header and %q in its payload", name, cis.GetChaincodeSpec().GetChaincodeId().GetName())
	}
	if want := TxID(sh.GetNonce(), sh.GetCreator()); ch.GetTxId() != want {
		return nil, fmt.Errorf("transaction ID %q is not derived from the nonce and creator", ch.GetTxId())
	}
	forTx, err := proto.MarshalOptions{Deterministic: true}.Marshal(&peer.ChaincodeProposalPayload{Input: ccpp.GetInput()})
	if err != nil {
		return nil, fmt.Errorf("marshal proposal payload: %w", err)
	}
	return &Proposal{
		Signed:          sp,
		HeaderBytes:     prop.GetHeader(),
		ChannelHeader:   ch,
		SignatureHeader: sh,
		SigHeaderBytes:  hdr.GetSignatureHeader(),
		Chaincode:       name,
		Args:            cis.GetChaincodeSpec().GetInput().GetArgs(),
		Transient:       ccpp.GetTransientMap(),
		PayloadForTx:    forTx,
	}, nil
}

func parseHeader(hdr *common.Header) (*common.ChannelHeader, *common.SignatureHeader, error) {
	var ch common.ChannelHeader
	if err := proto.Unmarshal(hdr.GetChannelHeader(), &ch); err != nil {
		return nil, nil, fmt.Errorf("malformed channel header: %w", err)
	}
	var sh common.SignatureHeader
	if err := proto.Unmarshal(hdr.GetSignatureHeader(), &sh); err != nil {
		return nil, nil, fmt.Errorf("malformed signature header: %w", err)
	}
	if ch.GetTxId() == "" || len(sh.GetNonce()) == 0 || len(sh.GetCreator()) == 0 {
		return nil, nil, errors.New("header lacks transaction ID, nonce or creator")
	}
	return &ch, &sh, nil
}

// TxID is Fabric's transaction ID: hex SHA-256 of nonce followed by creator.
func TxID(nonce, creator []byte) string {
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}

// ProposalHash binds a response to its proposal: the hash of the header and
// of the transient-free payload, so a response cannot be replayed onto
// another proposal.
func (p *Proposal) ProposalHash() []byte {
	h := sha256.New()
	h.Write(p.HeaderBytes)
	h.Write(p.PayloadForTx)
	return h.Sum(nil)
}

// ResponsePayload builds the ProposalResponsePayload bytes that endorsers sign.
func (p *Proposal) ResponsePayload(rwsetBytes []byte, event *peer.ChaincodeEvent, resp *peer.Response, version string) ([]byte, error) {
	var eventBytes []byte
	if event != nil {
		b, err := proto.Marshal(event)
		if err != nil {
			return nil, fmt.Errorf("marshal chaincode event: %w", err)
		}
		eventBytes = b
	}
	ccID := &peer.ChaincodeID{Name: p.Chaincode, Version: version}
	action, err := proto.Marshal(&peer.ChaincodeAction{Results: rwsetBytes, Events: eventBytes, Response: resp, ChaincodeId: ccID})
	if err != nil {
		return nil, fmt.Errorf("marshal chaincode action: %w", err)
	}
	prp, err := proto.Marshal(&peer.ProposalResponsePayload{ProposalHash: p.ProposalHash(), Extension: action})
	if err != nil {
		return nil, fmt.Errorf("marshal proposal response payload: %w", err)
	}
	return prp, nil
}

// EndorsedDigest is the SHA-256 digest of what an endorser signs: the
// response payload followed by the endorser's serialized identity. It is
// hashed in place, without the concatenation.
func EndorsedDigest(prp, endorser []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(prp)
	h.Write(endorser)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Envelope builds the unsigned transaction envelope for an endorsed
// proposal, which the client signs and submits.
func (p *Proposal) Envelope(prp []byte, endorsements []*peer.Endorsement) (*common.Envelope, error) {
	// The header is decoded and encoded again, as Fabric's gateway does, so
	// that the envelope carries it in canonical form whatever the client
	// sent.
	var hdr common.Header
	if err := proto.Unmarshal(p.HeaderBytes, &hdr); err != nil {
		return nil, fmt.Errorf("proposal header: %w", err)
	}
	actionPayload, err := proto.Marshal(&peer.ChaincodeActionPayload{
		ChaincodeProposalPayload: p.PayloadForTx,
		Action:                   &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp, Endorsements: endorsements},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal chaincode action payload: %w", err)
	}
	tx, err := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{Header: p.SigHeaderBytes, Payload: actionPayload}}})
	if err != nil {
		return nil, fmt.Errorf("marshal transaction: %w", err)
	}
	payload, err := proto.Marshal(&common.Payload{Header: &hdr, Data: tx})
	if err != nil {
		return nil, fmt.Errorf("marshal envelope payload: %w", err)
	}
	return &common.Envelope{Payload: payload}, nil
}

// Transaction is a decoded endorser transaction envelope.
type Transaction struct {
	Envelope        *common.Envelope
	ChannelHeader   *common.ChannelHeader
	SignatureHeader *common.SignatureHeader
	ResponsePayload []byte
	Endorsements    []*peer.Endorsement
	Action          *peer.ChaincodeAction
	RWSet           *rwset.TxReadWriteSet
	Event           *peer.ChaincodeEvent // nil when none
}

// TxID returns the transaction ID.
func (t *Transaction) TxID() string { return t.ChannelHeader.GetTxId() }

// ParseTransaction decodes an endorser transaction envelope with exactly one
// action, checking that the action's header is the envelope's.
func ParseTransaction(env *common.Envelope) (*Transaction, error) {
	if env == nil || len(env.GetPayload()) == 0 {
		return nil, errors.New("empty envelope")
	}
	w, err := unwrap(env.GetPayload())
	if err != nil {
		return nil, err
	}
	ch, sh, err := parseHeader(w.header)
	if err != nil {
		return nil, err
	}
	if common.HeaderType(ch.GetType()) != common.HeaderType_ENDORSER_TRANSACTION {
		return nil, fmt.Errorf("envelope type %v is not ENDORSER_TRANSACTION", common.HeaderType(ch.GetType()))
	}
	if want := TxID(sh.GetNonce(), sh.GetCreator()); ch.GetTxId() != want {
		return nil, fmt.Errorf("transaction ID %q is not derived from the nonce and creator", ch.GetTxId())
	}
	if !bytes.Equal(w.actionHeader, w.header.GetSignatureHeader()) {
		return nil, errors.New("transaction action header differs from the envelope's signature header")
	}
	var cca peer.ChaincodeAction
	if err := proto.Unmarshal(w.extension, &cca); err != nil {
		return nil, fmt.Errorf("malformed chaincode action: %w", err)
	}
	var set rwset.TxReadWriteSet
	if err := proto.Unmarshal(cca.GetResults(), &set); err != nil {
		return nil, fmt.Errorf("malformed read-write set: %w", err)
	}
	t := &Transaction{
		Envelope:        env,
		ChannelHeader:   ch,
		SignatureHeader: sh,
		ResponsePayload: w.responsePayload,
		Endorsements:    w.endorsements,
		Action:          &cca,
		RWSet:           &set,
	}
	if len(cca.GetEvents()) > 0 {
		var ev peer.ChaincodeEvent
		if err := proto.Unmarshal(cca.GetEvents(), &ev); err != nil {
			return nil, fmt.Errorf("malformed chaincode event: %w", err)
		}
		t.Event = &ev
	}
	return t, nil
}

// wrapping is what the levels of an endorser transaction that only wrap
// the next one yield: payload → transaction → its one action → action
// payload → endorsed action → response payload.
type wrapping struct {
	header          *common.Header
	actionHeader    []byte
	responsePayload []byte
	endorsements    []*peer.Endorsement
	extension       []byte // the ChaincodeAction
}

// unwrap reads the wrapping levels of an envelope's payload.
func unwrap(raw []byte) (wrapping, error) {
	var w wrapping
	var payload common.Payload
	if err := proto.Unmarshal(raw, &payload); err != nil {
		return w, fmt.Errorf("malformed envelope payload: %w", err)
	}
	if payload.GetHeader() == nil {
		return w, errors.New("envelope payload has no header")
	}
	w.header = payload.GetHeader()
	var tx peer.Transaction
	if err := proto.Unmarshal(payload.GetData(), &tx); err != nil {
		return w, fmt.Errorf("malformed transaction: %w", err)
	}
	if len(tx.GetActions()) != 1 {
		return w, fmt.Errorf("transaction has %d actions, want 1", len(tx.GetActions()))
	}
	act := tx.GetActions()[0]
	w.actionHeader = act.GetHeader()
	var actionPayload peer.ChaincodeActionPayload
	if err := proto.Unmarshal(act.GetPayload(), &actionPayload); err != nil {
		return w, fmt.Errorf("malformed chaincode action payload: %w", err)
	}
	w.responsePayload = actionPayload.GetAction().GetProposalResponsePayload()
	w.endorsements = actionPayload.GetAction().GetEndorsements()
	var prp peer.ProposalResponsePayload
	if err := proto.Unmarshal(w.responsePayload, &prp); err != nil {
		return w, fmt.Errorf("malformed proposal response payload: %w", err)
	}
	w.extension = prp.GetExtension()
	return w, nil
}
