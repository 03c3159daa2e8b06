package fabmsg_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"google.golang.org/protobuf/proto"
)

// The one-buffer builders must produce exactly what marshalling each level
// of Fabric's nesting with proto.Marshal produces: the bytes are signed, and
// a peer or auditor that rebuilds them the usual way must agree.

func referenceResponsePayload(p *fabmsg.Proposal, rwset []byte, ev *peer.ChaincodeEvent, resp *peer.Response, version string) ([]byte, error) {
	var evBytes []byte
	if ev != nil {
		var err error
		if evBytes, err = proto.Marshal(ev); err != nil {
			return nil, err
		}
	}
	action, err := proto.Marshal(&peer.ChaincodeAction{Results: rwset, Events: evBytes, Response: resp, ChaincodeId: &peer.ChaincodeID{Name: p.Chaincode, Version: version}})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&peer.ProposalResponsePayload{ProposalHash: p.ProposalHash(), Extension: action})
}

func referenceEnvelopePayload(p *fabmsg.Proposal, prp []byte, endorsements []*peer.Endorsement) ([]byte, error) {
	actionPayload, err := proto.Marshal(&peer.ChaincodeActionPayload{
		ChaincodeProposalPayload: p.PayloadForTx,
		Action:                   &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp, Endorsements: endorsements},
	})
	if err != nil {
		return nil, err
	}
	tx, err := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{Header: p.SigHeaderBytes, Payload: actionPayload}}})
	if err != nil {
		return nil, err
	}
	var hdr common.Header
	if err := proto.Unmarshal(p.HeaderBytes, &hdr); err != nil {
		return nil, err
	}
	return proto.Marshal(&common.Payload{Header: &hdr, Data: tx})
}

func TestNestedMessagesMatchProtoMarshal(t *testing.T) {
	big := bytes.Repeat([]byte("rules: x > 1\n"), 2000) // lengths past one varint byte
	events := []*peer.ChaincodeEvent{nil, {}, {ChaincodeId: "cc", TxId: "tx", EventName: "TokenMinted", Payload: big}}
	responses := []*peer.Response{nil, {}, {Status: 200, Payload: []byte("result")}, {Status: 200, Payload: big}}
	rwsets := [][]byte{nil, {}, []byte("rw"), big}
	endorsementSets := [][]*peer.Endorsement{nil, {{}}, {{Endorser: []byte("peer1"), Signature: []byte("s1")}, {Endorser: big, Signature: []byte("s2")}}}
	for _, payloadForTx := range [][]byte{nil, []byte("payload")} {
		p, err := fabmsg.ParseProposal(proposal(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		p.PayloadForTx = payloadForTx
		for i, ev := range events {
			for j, resp := range responses {
				for k, rw := range rwsets {
					name := fmt.Sprintf("payload %d, event %d, response %d, rwset %d", len(payloadForTx), i, j, k)
					prp, err := p.ResponsePayload(rw, ev, resp, "1.0")
					if err != nil {
						t.Fatal(err)
					}
					want, err := referenceResponsePayload(p, rw, ev, resp, "1.0")
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(prp, want) {
						t.Fatalf("%s: response payload differs from proto.Marshal's", name)
					}
					for l, es := range endorsementSets {
						env, err := p.Envelope(prp, es)
						if err != nil {
							t.Fatal(err)
						}
						want, err := referenceEnvelopePayload(p, prp, es)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(env.GetPayload(), want) {
							t.Fatalf("%s, endorsements %d: envelope payload differs from proto.Marshal's", name, l)
						}
					}
				}
			}
		}
	}
}

func TestEndorsedDigestIsTheDigestOfPayloadThenEndorser(t *testing.T) {
	prp, endorser := bytes.Repeat([]byte("payload"), 1000), []byte("endorser identity")
	want := sha256.Sum256(append(append([]byte(nil), prp...), endorser...))
	if got := fabmsg.EndorsedDigest(prp, endorser); got != want {
		t.Errorf("EndorsedDigest = %x, want %x", got, want)
	}
}
