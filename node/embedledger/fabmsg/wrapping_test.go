package fabmsg

import (
	"bytes"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// sampleEnvelopePayload is an endorser transaction payload with two
// endorsements.
func sampleEnvelopePayload(t testing.TB) []byte {
	t.Helper()
	sh, _ := proto.Marshal(&common.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce")})
	ch, _ := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), ChannelId: "ch", TxId: TxID([]byte("nonce"), []byte("creator"))})
	action, _ := proto.Marshal(&peer.ChaincodeAction{Results: []byte("rwset"), Response: &peer.Response{Status: 200}})
	prp, _ := proto.Marshal(&peer.ProposalResponsePayload{ProposalHash: []byte("hash"), Extension: action})
	cap, _ := proto.Marshal(&peer.ChaincodeActionPayload{ChaincodeProposalPayload: []byte("input"), Action: &peer.ChaincodeEndorsedAction{
		ProposalResponsePayload: prp,
		Endorsements:            []*peer.Endorsement{{Endorser: []byte("p1"), Signature: []byte("s1")}, {Endorser: []byte("p2"), Signature: []byte("s2")}},
	}})
	tx, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{Header: sh, Payload: cap}}})
	payload, _ := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: ch, SignatureHeader: sh}, Data: tx})
	return payload
}

// checkWrappingMatches fails unless reading in place yields what
// proto.Unmarshal yields, or leaves the envelope to it.
func checkWrappingMatches(t *testing.T, payload []byte) {
	t.Helper()
	got, gotErr := readWrapping(payload)
	if gotErr == errMergedField {
		return
	}
	want, wantErr := unmarshalWrapping(payload)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("in place: %v; proto.Unmarshal: %v", gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if !proto.Equal(got.header, want.header) || !bytes.Equal(got.actionHeader, want.actionHeader) ||
		!bytes.Equal(got.responsePayload, want.responsePayload) || !bytes.Equal(got.extension, want.extension) ||
		len(got.endorsements) != len(want.endorsements) {
		t.Fatalf("in place and proto.Unmarshal differ:\n%+v\n%+v", got, want)
	}
	for i := range got.endorsements {
		if !proto.Equal(got.endorsements[i], want.endorsements[i]) {
			t.Fatalf("endorsement %d differs", i)
		}
	}
}

func TestWrappingReadInPlaceMatchesUnmarshal(t *testing.T) {
	good := sampleEnvelopePayload(t)
	header := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{})
	tests := map[string][]byte{
		"well formed":                  good,
		"empty":                        {},
		"header field twice (merged)":  append(clone(good), header...),
		"data as a varint (unknown)":   append(clone(good), protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7)...),
		"unknown length-delimited":     append(clone(good), protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), []byte("x"))...),
		"truncated":                    good[:len(good)-3],
		"no header":                    protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{}),
		"two actions":                  twoActions(t),
		"malformed group":              append(clone(good), protowire.AppendTag(nil, 5, protowire.StartGroupType)...),
		"field number zero":            append(clone(good), 0x02, 0x00),
		"header with an invalid field": protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff}),
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) { checkWrappingMatches(t, payload) })
	}
	// The merged header is left to proto.Unmarshal, which takes it.
	merged := tests["header field twice (merged)"]
	if _, err := readWrapping(merged); err != errMergedField {
		t.Errorf("a repeated header read in place: %v, want it left to proto.Unmarshal", err)
	}
	if _, err := unmarshalWrapping(merged); err != nil {
		t.Errorf("proto.Unmarshal refused the merged header: %v", err)
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func twoActions(t *testing.T) []byte {
	tx, _ := proto.Marshal(&peer.Transaction{Actions: []*peer.TransactionAction{{}, {}}})
	p, _ := proto.Marshal(&common.Payload{Header: &common.Header{}, Data: tx})
	return p
}

func FuzzWrappingReadInPlaceMatchesUnmarshal(f *testing.F) {
	f.Add(sampleEnvelopePayload(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) { checkWrappingMatches(t, payload) })
}
