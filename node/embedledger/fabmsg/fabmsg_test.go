package fabmsg_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func proposal(t testing.TB, txID string) *peer.SignedProposal {
	t.Helper()
	nonce := make([]byte, 24)
	rand.Read(nonce)
	creator := []byte("creator")
	if txID == "" {
		txID = fabmsg.TxID(nonce, creator)
	}
	ext, _ := proto.Marshal(&peer.ChaincodeHeaderExtension{ChaincodeId: &peer.ChaincodeID{Name: "cc"}})
	ch, _ := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), ChannelId: "ch", TxId: txID, Timestamp: timestamppb.Now(), Extension: ext})
	sh, _ := proto.Marshal(&common.SignatureHeader{Creator: creator, Nonce: nonce})
	hdr, _ := proto.Marshal(&common.Header{ChannelHeader: ch, SignatureHeader: sh})
	cis, _ := proto.Marshal(&peer.ChaincodeInvocationSpec{ChaincodeSpec: &peer.ChaincodeSpec{ChaincodeId: &peer.ChaincodeID{Name: "cc"}, Input: &peer.ChaincodeInput{Args: [][]byte{[]byte("fn"), []byte("a")}}}})
	payload, _ := proto.Marshal(&peer.ChaincodeProposalPayload{Input: cis, TransientMap: map[string][]byte{"secret": []byte("s")}})
	prop, _ := proto.Marshal(&peer.Proposal{Header: hdr, Payload: payload})
	return &peer.SignedProposal{ProposalBytes: prop, Signature: []byte("sig")}
}

func TestProposalToEnvelopeRoundTrip(t *testing.T) {
	p, err := fabmsg.ParseProposal(proposal(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if p.Chaincode != "cc" || string(p.Args[0]) != "fn" || string(p.Transient["secret"]) != "s" {
		t.Fatalf("parsed %+v", p)
	}
	ev := &peer.ChaincodeEvent{ChaincodeId: "cc", TxId: p.TxID(), EventName: "e"}
	prp, err := p.ResponsePayload([]byte{}, ev, &peer.Response{Status: 200, Payload: []byte("result")}, "1.0")
	if err != nil {
		t.Fatal(err)
	}
	env, err := p.Envelope(prp, []*peer.Endorsement{{Endorser: []byte("peer"), Signature: []byte("s")}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := fabmsg.ParseTransaction(env)
	if err != nil {
		t.Fatal(err)
	}
	if tx.TxID() != p.TxID() || string(tx.Action.GetResponse().GetPayload()) != "result" || tx.Event.GetEventName() != "e" || len(tx.Endorsements) != 1 {
		t.Errorf("transaction %+v", tx)
	}
	raw, _ := proto.Marshal(env)
	if bytes.Contains(raw, []byte("secret")) {
		t.Error("the transient map leaked into the transaction")
	}
}

func TestProposalWithForeignTxIDIsRefused(t *testing.T) {
	if _, err := fabmsg.ParseProposal(proposal(t, "not-derived")); err == nil {
		t.Fatal("accepted a transaction ID not derived from nonce and creator")
	}
}

// FuzzParse checks that arbitrary bytes never panic the parsers.
func FuzzParse(f *testing.F) {
	good := proposal(f, "")
	f.Add(good.GetProposalBytes())
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		fabmsg.ParseProposal(&peer.SignedProposal{ProposalBytes: raw})
		fabmsg.ParseTransaction(&common.Envelope{Payload: raw})
	})
}
