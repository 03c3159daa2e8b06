package fabmsg_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"google.golang.org/protobuf/proto"
)

// TestBuiltMessagesRoundTrip builds response payloads and envelopes over
// the combinations of empty, absent and large parts, and requires
// ParseTransaction to give back every part as it was given.
func TestBuiltMessagesRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("rules: x > 1\n"), 2000) // lengths past one varint byte
	events := []*peer.ChaincodeEvent{nil, {ChaincodeId: "cc", TxId: "tx", EventName: "TokenMinted", Payload: big}}
	responses := []*peer.Response{nil, {}, {Status: 200, Payload: big}}
	set, _ := proto.Marshal(&rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{{Namespace: "cc", Rwset: big}}})
	rwsets := [][]byte{nil, set}
	endorsementSets := [][]*peer.Endorsement{nil, {{}}, {{Endorser: []byte("peer1"), Signature: []byte("s1")}, {Endorser: big, Signature: []byte("s2")}}}
	p, err := fabmsg.ParseProposal(proposal(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range events {
		for j, resp := range responses {
			for k, rw := range rwsets {
				for l, es := range endorsementSets {
					name := fmt.Sprintf("event %d, response %d, rwset %d, endorsements %d", i, j, k, l)
					prp, err := p.ResponsePayload(rw, ev, resp, "1.0")
					if err != nil {
						t.Fatal(err)
					}
					env, err := p.Envelope(prp, es)
					if err != nil {
						t.Fatal(err)
					}
					tx, err := fabmsg.ParseTransaction(env)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if tx.TxID() != p.TxID() || !bytes.Equal(tx.ResponsePayload, prp) || !bytes.Equal(tx.Action.GetResults(), rw) ||
						!proto.Equal(tx.Action.GetResponse(), resp) || !proto.Equal(tx.Event, ev) ||
						tx.Action.GetChaincodeId().GetName() != "cc" || len(tx.Endorsements) != len(es) {
						t.Fatalf("%s: parsed back as %+v", name, tx)
					}
					for m := range es {
						if !proto.Equal(tx.Endorsements[m], es[m]) {
							t.Fatalf("%s: endorsement %d differs", name, m)
						}
					}
				}
			}
		}
	}
}

func TestParseTransactionRefusesMalformedWrapping(t *testing.T) {
	good := sampleEnvelopePayload(t)
	// Raw protobuf fields, tag byte (field number << 3 | wire type) first.
	header := []byte{1<<3 | 2, 0} // field 1 (Payload.header), length-delimited, empty
	tests := []struct {
		name    string
		payload []byte
		wantErr string // "" when it must parse
	}{
		{"well formed", good, ""},
		{"header field twice (protobuf merges it)", append(clone(good), header...), ""},
		{"unknown length-delimited field", append(clone(good), 9<<3|2, 1, 'x'), ""},
		{"empty", []byte{}, "empty envelope"},
		{"truncated", good[:len(good)-3], "malformed envelope payload"},
		{"no header", []byte{2<<3 | 2, 0}, "no header"},
		{"two actions", twoActions(t), "2 actions"},
		{"data field as a varint (kept as unknown)", append(clone(good), 2<<3|0, 7), ""},
		{"malformed group", append(clone(good), 5<<3|3), "malformed envelope payload"},
		{"field number zero", append(clone(good), 0x02, 0x00), "malformed envelope payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fabmsg.ParseTransaction(&common.Envelope{Payload: tt.payload})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// sampleEnvelopePayload is an endorser transaction payload with two
// endorsements.
func sampleEnvelopePayload(t testing.TB) []byte {
	t.Helper()
	sh, _ := proto.Marshal(&common.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce")})
	ch, _ := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), ChannelId: "ch", TxId: fabmsg.TxID([]byte("nonce"), []byte("creator"))})
	action, _ := proto.Marshal(&peer.ChaincodeAction{Results: []byte{}, Response: &peer.Response{Status: 200}})
	prp, _ := proto.Marshal(&peer.ProposalResponsePayload{ProposalHash: []byte("hash"), Extension: action})
	cap, _ := proto.Marshal(&peer.ChaincodeActionPayload{ChaincodeProposalPayload: []byte("input"), Action: &peer.ChaincodeEndorsedAction{
		ProposalResponsePayload: prp,
		Endorsements:            []*peer.Endorsement{{Endorser: []byte("p1"), Signature: []byte("s1")}, {Endorser: []byte("p2"), Signature: []byte("s2")}},
	}})
	tx, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{Header: sh, Payload: cap}}})
	payload, _ := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: ch, SignatureHeader: sh}, Data: tx})
	return payload
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func twoActions(t *testing.T) []byte {
	tx, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{}, {}}})
	p, _ := proto.Marshal(&common.Payload{Header: &common.Header{}, Data: tx})
	return p
}

func TestEndorsedDigestIsTheDigestOfPayloadThenEndorser(t *testing.T) {
	prp, endorser := bytes.Repeat([]byte("payload"), 1000), []byte("endorser identity")
	want := sha256.Sum256(append(append([]byte(nil), prp...), endorser...))
	if got := fabmsg.EndorsedDigest(prp, endorser); got != want {
		t.Errorf("EndorsedDigest = %x, want %x", got, want)
	}
}
