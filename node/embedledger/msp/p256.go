package msp

import (
	"crypto/elliptic"
	"math/big"

	"filippo.io/nistec"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Verifying a P-256 ECDSA signature computes u1·G + u2·Q, G being the
// curve's generator and Q the signer's public key. crypto/ecdsa multiplies
// by G with a precomputed table but by Q from scratch, and that product is
// two thirds of a verification. The ledger verifies three client signatures
// per transaction, nearly all by the few identities it has cached, so it
// keeps a table of multiples of each cached identity's key: u2·Q becomes
// one point addition per window of u2's bits, and a verification takes
// about half as long. Only public values are involved, so unlike signing
// the arithmetic need not run in constant time. The point arithmetic is
// filippo.io/nistec, the standard library's own P-256 code, exported.

// Windows of p256WindowBits bits: 43 additions per product, and a table of
// 43×63 points (260 KB) built with as many additions, about 1 ms.
const (
	p256WindowBits = 6
	p256Windows    = (256 + p256WindowBits - 1) / p256WindowBits
	p256Digits     = 1<<p256WindowBits - 1 // the non-zero window values
)

var p256Order = elliptic.P256().Params().N

// p256Table holds d·2^(6i)·Q at [i][d-1], for each window i and non-zero
// window value d.
type p256Table [p256Windows][p256Digits]*nistec.P256Point

// newP256Table precomputes the multiples of the public key given in
// uncompressed form, or returns nil if it is not a point of P-256.
func newP256Table(uncompressed []byte) *p256Table {
	base, err := nistec.NewP256Point().SetBytes(uncompressed)
	if err != nil {
		return nil
	}
	var t p256Table
	for i := range p256Windows {
		t[i][0] = nistec.NewP256Point().Set(base)
		for d := 1; d < p256Digits; d++ {
			t[i][d] = nistec.NewP256Point().Add(t[i][d-1], base)
		}
		base = nistec.NewP256Point().Add(t[i][p256Digits-1], base) // 2^6 times the window's base
	}
	return &t
}

// addMultiple sets p to p + k·Q, k being a 32-byte big-endian scalar.
func (t *p256Table) addMultiple(p *nistec.P256Point, k *[32]byte) {
	for i := range p256Windows {
		if d := windowValue(k, i); d != 0 {
			p.Add(p, t[i][d-1])
		}
	}
}

// windowValue returns bits [6i, 6i+6) of the big-endian scalar k, bit 0
// being the least significant.
func windowValue(k *[32]byte, i int) int {
	d := 0
	for b := range p256WindowBits {
		bit := p256WindowBits*i + b
		if bit >= 256 {
			break
		}
		d |= int(k[31-bit/8]>>(bit%8)&1) << b
	}
	return d
}

// verify checks the signature (r, s) over a SHA-256 digest, as FIPS 186-5
// and crypto/ecdsa do: r and s must lie in [1, n-1], and the x coordinate
// of u1·G + u2·Q, reduced mod n, must equal r, where w = s⁻¹, u1 = e·w and
// u2 = r·w mod n, e being the digest read as an integer (a 256-bit digest
// needs no truncation for a 256-bit order).
func (t *p256Table) verify(digest []byte, r, s *big.Int) bool {
	if len(digest) != 32 || !inOrderRange(r) || !inOrderRange(s) {
		return false
	}
	w := new(big.Int).ModInverse(s, p256Order)
	u1 := new(big.Int).SetBytes(digest)
	u1.Mul(u1, w).Mod(u1, p256Order)
	u2 := w.Mul(r, w).Mod(w, p256Order)
	var k1, k2 [32]byte
	p, err := nistec.NewP256Point().ScalarBaseMult(u1.FillBytes(k1[:]))
	if err != nil {
		return false
	}
	t.addMultiple(p, (*[32]byte)(u2.FillBytes(k2[:])))
	x, err := p.BytesX() // an error for the point at infinity
	if err != nil {
		return false
	}
	v := new(big.Int).SetBytes(x)
	return v.Mod(v, p256Order).Cmp(r) == 0
}

func inOrderRange(x *big.Int) bool { return x.Sign() > 0 && x.Cmp(p256Order) < 0 }

// parseSignature reads a DER ECDSA signature, SEQUENCE { r INTEGER,
// s INTEGER }, exactly as strictly as crypto/ecdsa: minimal encodings, no
// negative values, nothing after it.
func parseSignature(sig []byte) (r, s *big.Int, ok bool) {
	var inner cryptobyte.String
	var rb, sb []byte
	in := cryptobyte.String(sig)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&rb) || !inner.ReadASN1Integer(&sb) || !inner.Empty() {
		return nil, nil, false
	}
	return new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb), true
}
