package network_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/srellama/srellama/network"
	"github.com/srellama/srellama/nft"
)

func TestMessageRoundTrip(t *testing.T) {
	payload := []byte("FLU1 model update bytes")
	tests := []network.Message{
		{RoundID: "round-1", MSPID: "Org1MSP", Digest: nft.DigestBytes(payload), Payload: payload, Size: len(payload)},
		{RoundID: "round-1", MSPID: "Org1MSP", Digest: nft.DigestBytes(payload), Size: len(payload)},
	}
	for _, m := range tests {
		raw, err := network.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := network.DecodeMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got.RoundID != m.RoundID || got.MSPID != m.MSPID || got.Digest != m.Digest || got.Size != m.Size || !bytes.Equal(got.Payload, m.Payload) || got.Inline() != m.Inline() {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, got)
		}
	}
}

func TestDecodeMessageRefuses(t *testing.T) {
	payload := []byte("payload")
	good, _ := network.EncodeMessage(network.Message{RoundID: "r", MSPID: "Org1MSP", Digest: nft.DigestBytes(payload), Payload: payload, Size: len(payload)})
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	tests := map[string][]byte{
		"empty":            nil,
		"wrong magic":      append([]byte("XYZ\x01"), good[4:]...),
		"tampered payload": tampered,
		"truncated":        good[:len(good)-2],
		"trailing bytes":   append(append([]byte(nil), good...), 0),
		"oversize id":      append([]byte("SRL\x01\x01\xff\x01"), bytes.Repeat([]byte("a"), 255)...),
	}
	for name, raw := range tests {
		if _, err := network.DecodeMessage(raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := network.EncodeMessage(network.Message{RoundID: strings.Repeat("r", 200), MSPID: "m", Digest: nft.DigestBytes(nil)}); err == nil {
		t.Error("encoded an oversize round ID")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	payload := []byte("payload")
	good, _ := network.EncodeMessage(network.Message{RoundID: "r", MSPID: "Org1MSP", Digest: nft.DigestBytes(payload), Payload: payload, Size: len(payload)})
	f.Add(good)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := network.DecodeMessage(raw)
		if err != nil {
			return
		}
		again, err := network.EncodeMessage(m)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("accepted message does not re-encode to itself: %v", err)
		}
	})
}
