package msp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"testing"
	"time"

	"filippo.io/nistec"
	"github.com/srellama/srellama/chaincode/devca"
)

func newKey(t testing.TB) (*ecdsa.PrivateKey, *p256Table) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	table := newP256Table(raw)
	if table == nil {
		t.Fatal("no table for a P-256 key")
	}
	return key, table
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

// referenceVerify is verifyDigest as it was before the table: encoding/asn1
// and crypto/ecdsa throughout.
func referenceVerify(pub *ecdsa.PublicKey, digest [32]byte, sig []byte) bool {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.S.Cmp(p256HalfOrder) > 0 {
		return false
	}
	return ecdsa.VerifyASN1(pub, digest[:], sig)
}

func TestTableMultiplesEqualScalarMult(t *testing.T) {
	key, table := newKey(t)
	raw, _ := key.PublicKey.Bytes()
	q, _ := nistec.NewP256Point().SetBytes(raw)
	nMinus1 := new(big.Int).Sub(p256Order, big.NewInt(1))
	scalars := map[string][]byte{
		"zero":             make([]byte, 32),
		"one":              big.NewInt(1).FillBytes(make([]byte, 32)),
		"one window":       big.NewInt(63).FillBytes(make([]byte, 32)),
		"two windows":      big.NewInt(64).FillBytes(make([]byte, 32)),
		"n-1":              nMinus1.FillBytes(make([]byte, 32)),
		"all bits set":     bytes.Repeat([]byte{0xff}, 32),
		"only the top bit": append([]byte{0x80}, make([]byte, 31)...),
	}
	for i := range 50 {
		k := make([]byte, 32)
		rand.Read(k)
		scalars[fmt.Sprintf("random %d", i)] = k
	}
	for name, k := range scalars {
		t.Run(name, func(t *testing.T) {
			want, err := nistec.NewP256Point().ScalarMult(q, k)
			if err != nil {
				t.Fatal(err)
			}
			got := nistec.NewP256Point()
			table.addMultiple(got, (*[32]byte)(k))
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("table gives %x, ScalarMult %x", got.Bytes(), want.Bytes())
			}
		})
	}
}

// TestTableVerifiesExactlyAsCryptoECDSA holds the table's verdict to the
// reference's over valid signatures and every way to spoil one.
func TestTableVerifiesExactlyAsCryptoECDSA(t *testing.T) {
	key, table := newKey(t)
	other, _ := newKey(t)
	digests := map[string][32]byte{
		"zero digest (u1 = 0)":   {},
		"digest above the order": [32]byte(bytes.Repeat([]byte{0xff}, 32)),
	}
	for i := range 20 {
		digests[fmt.Sprintf("random %d", i)] = sha256.Sum256([]byte{byte(i)})
	}
	for name, digest := range digests {
		r, s := signLowS(t, key, digest[:])
		flipped := digest
		flipped[31] ^= 1
		cases := []struct {
			name   string
			pub    *ecdsa.PublicKey
			table  *p256Table
			digest [32]byte
			sig    []byte
			valid  bool
		}{
			{"valid", &key.PublicKey, table, digest, derSig(r, s), true},
			{"another digest", &key.PublicKey, table, flipped, derSig(r, s), false},
			{"another key", &other.PublicKey, nil, digest, derSig(r, s), false},
			{"r+1", &key.PublicKey, table, digest, derSig(new(big.Int).Add(r, big.NewInt(1)), s), false},
			{"s+1", &key.PublicKey, table, digest, derSig(r, new(big.Int).Add(s, big.NewInt(1))), false},
			{"high S", &key.PublicKey, table, digest, derSig(r, new(big.Int).Sub(p256Order, s)), false},
			{"r+n", &key.PublicKey, table, digest, derSig(new(big.Int).Add(r, p256Order), s), false},
			{"r = 0", &key.PublicKey, table, digest, derSig(big.NewInt(0), s), false},
			{"s = 0", &key.PublicKey, table, digest, derSig(r, big.NewInt(0)), false},
			{"negative r", &key.PublicKey, table, digest, derSig(new(big.Int).Neg(r), s), false},
			{"trailing byte", &key.PublicKey, table, digest, append(derSig(r, s), 0), false},
			{"empty", &key.PublicKey, table, digest, nil, false},
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				if c.table == nil {
					raw, _ := c.pub.Bytes()
					c.table = newP256Table(raw)
				}
				got := verifyDigest(c.pub, c.table, c.digest, c.sig) == nil
				ref := referenceVerify(c.pub, c.digest, c.sig)
				if got != ref || got != c.valid {
					t.Fatalf("table says %v, crypto/ecdsa %v, want %v", got, ref, c.valid)
				}
			})
		}
	}
}

// FuzzTableVerifyMatchesCryptoECDSA mutates signatures and digests and
// requires the table and crypto/ecdsa to agree on every one.
func FuzzTableVerifyMatchesCryptoECDSA(f *testing.F) {
	key, table := newKey(f)
	for i := range 4 {
		digest := sha256.Sum256([]byte{byte(i)})
		r, s := signLowS(f, key, digest[:])
		f.Add(digest[:], derSig(r, s))
	}
	f.Fuzz(func(t *testing.T, digest, sig []byte) {
		if len(digest) != 32 {
			return
		}
		d := [32]byte(digest)
		got := verifyDigest(&key.PublicKey, table, d, sig) == nil
		if ref := referenceVerify(&key.PublicKey, d, sig); got != ref {
			t.Fatalf("table says %v, crypto/ecdsa %v, for digest %x signature %x", got, ref, digest, sig)
		}
	})
}

func TestTablesAreBoundedAndIdentitiesBeyondVerifyAlike(t *testing.T) {
	now := time.Now()
	ca, err := devca.New("Org1MSP", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(map[string]*x509.Certificate{"Org1MSP": ca.Cert}, func() time.Time { return now })
	withTable, without := 0, 0
	for i := range maxP256Tables + 2 {
		issued, err := ca.Issue(devca.RoleClient, fmt.Sprintf("user%d", i), now)
		if err != nil {
			t.Fatal(err)
		}
		ser, _ := Serialize("Org1MSP", issued.CertPEM)
		id, err := v.Identify(ser)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := v.Identify(ser); again != id {
			t.Fatal("a second Identify did not return the cached identity")
		}
		if id.p256 != nil {
			withTable++
		} else {
			without++
		}
		key := issued.Key
		digest := sha256.Sum256([]byte(fmt.Sprint(i)))
		r, s := signLowS(t, key, digest[:])
		if err := id.VerifyDigest(digest, derSig(r, s)); err != nil {
			t.Fatalf("identity %d (table: %v): %v", i, id.p256 != nil, err)
		}
		digest[0] ^= 1
		if err := id.VerifyDigest(digest, derSig(r, s)); err == nil {
			t.Fatalf("identity %d (table: %v) accepted a signature over another digest", i, id.p256 != nil)
		}
	}
	if withTable != maxP256Tables || without != 2 {
		t.Errorf("%d identities got a table and %d did not, want %d and 2", withTable, without, maxP256Tables)
	}
}

func BenchmarkVerifyDigest(b *testing.B) {
	key, table := newKey(b)
	digest := sha256.Sum256([]byte("payload"))
	r, s := signLowS(b, key, digest[:])
	sig := derSig(r, s)
	for _, bc := range []struct {
		name  string
		table *p256Table
	}{{"crypto-ecdsa", nil}, {"table", table}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := verifyDigest(&key.PublicKey, bc.table, digest, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
