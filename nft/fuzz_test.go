package nft_test

import (
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// FuzzDecodeToken: any input is either refused with an error or decodes to
// a token that validates and re-encodes to a fixed point.
func FuzzDecodeToken(f *testing.F) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Encode(tok)
	f.Add(raw)
	f.Add([]byte(`{"standard":"s-528"}`))
	f.Add([]byte(`{"definition":{"slo":{"objective":1e400}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := nft.DecodeToken(data)
		if err != nil {
			return
		}
		if err := nft.ValidateToken(got); err != nil {
			t.Fatalf("decoded token does not validate: %v", err)
		}
		enc, err := nft.Encode(got)
		if err != nil {
			t.Fatalf("decoded token does not encode: %v", err)
		}
		back, err := nft.DecodeToken(enc)
		if err != nil {
			t.Fatalf("re-encoded token does not decode: %v", err)
		}
		again, _ := nft.Encode(back)
		if string(again) != string(enc) {
			t.Fatal("encoding is not a fixed point")
		}
	})
}

// FuzzDecodeDefinition: the proposal decoder never panics and accepts only
// valid definitions.
func FuzzDecodeDefinition(f *testing.F) {
	raw, _ := nft.Encode(nfttest.Definition("amf", "Org1MSP"))
	f.Add(raw)
	f.Add([]byte(`{"name":"x","version":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := nft.DecodeDefinition(data)
		if err != nil {
			return
		}
		if err := nft.ValidateDefinition(d); err != nil {
			t.Fatalf("decoded definition does not validate: %v", err)
		}
		if _, err := nft.TokenIDOf(d); err != nil {
			t.Fatalf("valid definition has no ID: %v", err)
		}
	})
}

// FuzzCanonicalizeJSON: canonicalization is idempotent on whatever it
// accepts.
func FuzzCanonicalizeJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2.5,"x"]}`, `1e21`, `"\u2028"`, `{"a":{"b":null}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := nft.CanonicalizeJSON(data)
		if err != nil {
			return
		}
		again, err := nft.CanonicalizeJSON(c)
		if err != nil || string(again) != string(c) {
			t.Fatalf("not idempotent: %q -> %q (%v)", c, again, err)
		}
	})
}
