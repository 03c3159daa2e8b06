package nft_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

func BenchmarkCanonicalToken(b *testing.B) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	for b.Loop() {
		if _, err := nft.Canonical(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// tokenContent is the specification of what a token's digest covers, as a
// struct that Canonical sorts itself; ContentDigest composes the same bytes
// from the definition's canonical encoding without canonicalizing it twice.
type tokenContent struct {
	Standard   string         `json:"standard"`
	ID         string         `json:"id"`
	Definition nft.Definition `json:"definition"`
	Mint       nft.Mint       `json:"mint"`
}

func TestContentDigestIsTheCanonicalContentObject(t *testing.T) {
	plain := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	escaped := nfttest.Definition("smf", "Org2MSP")
	escaped.Description = "quotes \" and \\ and <tags> & \u2028 é \U0001F600"
	odd := nfttest.Token(escaped)
	odd.ID = "not a token id: \"quoted\"\n" // the digest covers whatever the token claims
	odd.Standard = "s-528 \u00e9"
	for name, tok := range map[string]nft.Token{"plain": plain, "escaped": nfttest.Token(escaped), "odd claims": odd} {
		want, err := nft.DigestOf(tokenContent{Standard: tok.Standard, ID: tok.ID, Definition: tok.Definition, Mint: tok.Mint})
		if err != nil {
			t.Fatal(err)
		}
		got, err := nft.ContentDigest(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: ContentDigest = %s, canonical content object hashes to %s", name, got, want)
		}
	}
}

func TestSealValidSealsAsSealAndRefusesWhatValidateRefuses(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	tok.ID, tok.Digest = "", ""
	viaSeal := tok
	if err := nft.Seal(&viaSeal); err != nil {
		t.Fatal(err)
	}
	viaSealValid := tok
	if err := nft.SealValid(&viaSealValid); err != nil {
		t.Fatal(err)
	}
	if viaSeal.ID != viaSealValid.ID || viaSeal.Digest != viaSealValid.Digest {
		t.Fatalf("SealValid sealed %s/%s; Seal sealed %s/%s", viaSealValid.ID, viaSealValid.Digest, viaSeal.ID, viaSeal.Digest)
	}
	if err := nft.ValidateToken(viaSealValid); err != nil {
		t.Fatalf("SealValid produced a token ValidateToken refuses: %v", err)
	}

	bad := tok
	bad.Definition.SLO.Objective = 1.5
	before := bad
	if err := nft.SealValid(&bad); err == nil || !strings.Contains(err.Error(), "objective") {
		t.Fatalf("SealValid of an objective of 1.5 = %v; want the objective refused", err)
	}
	if bad.ID != before.ID || bad.Digest != before.Digest || bad.Standard != before.Standard {
		t.Fatal("a refused token was changed")
	}
}

// TestSealValidEncodedIsTheCanonicalToken: the encoding composed from the
// seal's parts is exactly Canonical of the sealed token, whatever its
// strings hold, and the token is sealed as SealValid seals it.
func TestSealValidEncodedIsTheCanonicalToken(t *testing.T) {
	escaped := nfttest.Definition("smf", "Org2MSP")
	escaped.Description = "quotes \" and \\ and <tags> & \u2028 é \U0001F600 \x01"
	superseded := nfttest.Token(nfttest.Definition("upf", "Org3MSP"))
	superseded.State.Status, superseded.State.SupersededBy = nft.StatusSuperseded, strings.Repeat("ab", 32)
	for name, tok := range map[string]nft.Token{
		"plain":      nfttest.Token(nfttest.Definition("amf", "Org1MSP")),
		"escaped":    nfttest.Token(escaped),
		"superseded": superseded,
	} {
		t.Run(name, func(t *testing.T) {
			viaSealValid := tok
			if err := nft.SealValid(&viaSealValid); err != nil {
				t.Fatalf("not a valid token: %v", err)
			}
			raw, err := nft.SealValidEncoded(&tok)
			if err != nil {
				t.Fatal(err)
			}
			if tok.ID != viaSealValid.ID || tok.Digest != viaSealValid.Digest || tok.Standard != viaSealValid.Standard {
				t.Errorf("sealed as %s %s, SealValid seals %s %s", tok.ID, tok.Digest, viaSealValid.ID, viaSealValid.Digest)
			}
			want, err := nft.Canonical(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want) {
				t.Errorf("composed encoding differs from Canonical:\n got %s\nwant %s", raw, want)
			}
		})
	}
	bad := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	bad.Definition.SLI.Service = ""
	before := bad
	if _, err := nft.SealValidEncoded(&bad); err == nil {
		t.Error("an invalid token was sealed")
	}
	if bad.ID != before.ID || bad.Digest != before.Digest {
		t.Error("a refused token was changed")
	}
}
