package msp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
	"testing"
)

var p256Order = elliptic.P256().Params().N

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func derSig(r, s *big.Int) []byte {
	sig, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		panic(err)
	}
	return sig
}

func signLowS(t testing.TB, key *ecdsa.PrivateKey, digest []byte) (r, s *big.Int) {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cmp(p256HalfOrder) > 0 {
		s.Sub(p256Order, s)
	}
	return r, s
}

// referenceVerify states Fabric's rule with other parts of the standard
// library: encoding/asn1 reads the signature, S must be at most n/2, and
// crypto/ecdsa decides.
func referenceVerify(pub *ecdsa.PublicKey, digest [32]byte, sig []byte) bool {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.S.Cmp(p256HalfOrder) > 0 {
		return false
	}
	return ecdsa.VerifyASN1(pub, digest[:], sig)
}

// TestVerifyDigestFollowsFabricsRule holds verifyDigest to the reference
// and to the expected verdict over valid signatures and every way to spoil
// one.
func TestVerifyDigestFollowsFabricsRule(t *testing.T) {
	key, other := newKey(t), newKey(t)
	digests := map[string][32]byte{
		"zero digest":            {},
		"digest above the order": [32]byte(bytes.Repeat([]byte{0xff}, 32)),
	}
	for i := range 8 {
		digests[fmt.Sprintf("random %d", i)] = sha256.Sum256([]byte{byte(i)})
	}
	for name, digest := range digests {
		r, s := signLowS(t, key, digest[:])
		flipped := digest
		flipped[31] ^= 1
		cases := []struct {
			name   string
			pub    *ecdsa.PublicKey
			digest [32]byte
			sig    []byte
			valid  bool
		}{
			{"valid", &key.PublicKey, digest, derSig(r, s), true},
			{"another digest", &key.PublicKey, flipped, derSig(r, s), false},
			{"another key", &other.PublicKey, digest, derSig(r, s), false},
			{"r+1", &key.PublicKey, digest, derSig(new(big.Int).Add(r, big.NewInt(1)), s), false},
			{"s+1", &key.PublicKey, digest, derSig(r, new(big.Int).Add(s, big.NewInt(1))), false},
			{"high S", &key.PublicKey, digest, derSig(r, new(big.Int).Sub(p256Order, s)), false},
			{"r+n", &key.PublicKey, digest, derSig(new(big.Int).Add(r, p256Order), s), false},
			{"r = 0", &key.PublicKey, digest, derSig(big.NewInt(0), s), false},
			{"s = 0", &key.PublicKey, digest, derSig(r, big.NewInt(0)), false},
			{"negative r", &key.PublicKey, digest, derSig(new(big.Int).Neg(r), s), false},
			{"negative s", &key.PublicKey, digest, derSig(r, new(big.Int).Neg(s)), false},
			{"trailing byte", &key.PublicKey, digest, append(derSig(r, s), 0), false},
			{"empty", &key.PublicKey, digest, nil, false},
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				got := verifyDigest(c.pub, c.digest, c.sig) == nil
				ref := referenceVerify(c.pub, c.digest, c.sig)
				if got != ref || got != c.valid {
					t.Fatalf("verifyDigest says %v, the reference %v, want %v", got, ref, c.valid)
				}
			})
		}
	}
}

// FuzzVerifyDigestMatchesReference mutates signatures and digests and
// requires verifyDigest and the reference to agree on every one.
func FuzzVerifyDigestMatchesReference(f *testing.F) {
	key := newKey(f)
	for i := range 4 {
		digest := sha256.Sum256([]byte{byte(i)})
		r, s := signLowS(f, key, digest[:])
		f.Add(digest[:], derSig(r, s))
		f.Add(digest[:], derSig(r, new(big.Int).Sub(p256Order, s)))
	}
	f.Fuzz(func(t *testing.T, digest, sig []byte) {
		if len(digest) != 32 {
			return
		}
		d := [32]byte(digest)
		got := verifyDigest(&key.PublicKey, d, sig) == nil
		if ref := referenceVerify(&key.PublicKey, d, sig); got != ref {
			t.Fatalf("verifyDigest says %v, the reference %v, for digest %x signature %x", got, ref, digest, sig)
		}
	})
}

func BenchmarkVerifyDigest(b *testing.B) {
	key := newKey(b)
	digest := sha256.Sum256([]byte("payload"))
	r, s := signLowS(b, key, digest[:])
	sig := derSig(r, s)
	for b.Loop() {
		if err := verifyDigest(&key.PublicKey, digest, sig); err != nil {
			b.Fatal(err)
		}
	}
}
