package nft_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// TestCanonicalFastPathOnTokens: the documents the chaincode canonicalizes
// most, tokens and definitions with rule text full of characters that
// encoding/json escapes, take the fast path and match the reference.
func TestCanonicalFastPathOnTokens(t *testing.T) {
	d := nfttest.Definition("amf", "Org1MSP")
	d.Description = "p99 < 250ms && errors > 1% \u2028 é \U0001F600"
	tok := nfttest.Token(d)
	for name, v := range map[string]any{"definition": d, "token": tok} {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := nft.CanonicalizeTree(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := nft.CanonicalizeFast(raw)
		if !ok {
			t.Fatalf("%s: fast path declined %s", name, raw)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: fast path differs\n got %s\nwant %s", name, got, want)
		}
	}
}

func BenchmarkCanonicalToken(b *testing.B) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, err := json.Marshal(tok)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("tree", func(b *testing.B) {
		for b.Loop() {
			if _, err := nft.CanonicalizeTree(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := nft.CanonicalizeFast(raw); !ok {
				b.Fatal("declined")
			}
		}
	})
}
