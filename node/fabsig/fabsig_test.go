package fabsig_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"math/big"
	"testing"

	"github.com/srellama/srellama/node/fabsig"
)

func TestSignaturesVerifyAreLowSAndDeterministic(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		half := new(big.Int).Rsh(curve.Params().N, 1)
		sha384 := sha512.Sum384([]byte("sha-384"))
		digests := [][]byte{sha384[:], []byte("an odd-sized digest, random nonce")}
		for i := range 40 { // both halves of S come up among these
			d := sha256.Sum256([]byte{byte(i)})
			digests = append(digests, d[:])
		}
		for i, digest := range digests {
			t.Run(fmt.Sprintf("%s/%d", curve.Params().Name, i), func(t *testing.T) {
				sig, err := fabsig.SignDigest(key, digest)
				if err != nil {
					t.Fatal(err)
				}
				if !ecdsa.VerifyASN1(&key.PublicKey, digest, sig) {
					t.Fatal("signature does not verify")
				}
				var rs struct{ R, S *big.Int }
				if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 {
					t.Fatalf("not one DER signature: %v", err)
				}
				if rs.S.Cmp(half) > 0 {
					t.Fatal("S is in the upper half of the order")
				}
				if _, deterministic := map[int]bool{32: true, 48: true, 64: true}[len(digest)]; !deterministic {
					return
				}
				again, _ := fabsig.SignDigest(key, digest)
				if !bytes.Equal(sig, again) {
					t.Error("two signatures of one digest differ: the nonce is not RFC 6979's")
				}
			})
		}
	}
}
