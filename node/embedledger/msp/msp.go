// Package msp verifies Fabric identities for the embedded ledger: a
// serialized identity (msp.SerializedIdentity carrying a PEM certificate) is
// accepted when its certificate chains to the CA of the MSP it names, is valid
// now and carries an allowed NodeOU role; signatures are ECDSA P-256 over the
// SHA-256 digest, DER encoded with low S, as Fabric's BCCSP requires.
package msp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/fabsig"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"google.golang.org/protobuf/proto"
)

// ErrUnknownIdentity and ErrBadSignature classify refusals so the gateway can
// map them to the right gRPC status.
var (
	ErrUnknownIdentity = errors.New("identity refused")
	ErrBadSignature    = errors.New("signature verification failed")
)

// Identity is a verified member of the channel.
type Identity struct {
	MSPID      string
	Role       devca.Role
	Cert       *x509.Certificate
	Serialized []byte
}

// Verifier checks identities against the channel members' root CAs. It
// caches certificates it has verified (chain verification is the expensive
// part), but re-checks their validity period on every use.
type Verifier struct {
	roots map[string]*x509.CertPool
	now   func() time.Time
	cache sync.Map // string(serialized identity) -> *Identity
}

// NewVerifier builds a verifier for the given MSP ID to root CA certificate
// map. now is the clock (time.Now in production).
func NewVerifier(roots map[string]*x509.Certificate, now func() time.Time) *Verifier {
	pools := make(map[string]*x509.CertPool, len(roots))
	for id, cert := range roots {
		p := x509.NewCertPool()
		p.AddCert(cert)
		pools[id] = p
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{roots: pools, now: now}
}

// Members returns the MSP IDs the verifier knows, sorted.
func (v *Verifier) Members() []string {
	ids := make([]string, 0, len(v.roots))
	for id := range v.roots {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Identify deserializes and verifies an identity, requiring one of the given
// roles (any role when none is given).
func (v *Verifier) Identify(serialized []byte, roles ...devca.Role) (*Identity, error) {
	id, err := v.identify(serialized)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if now.Before(id.Cert.NotBefore) || now.After(id.Cert.NotAfter) {
		return nil, fmt.Errorf("%w: certificate %q of %s expired or not yet valid", ErrUnknownIdentity, id.Cert.Subject.CommonName, id.MSPID)
	}
	if len(roles) > 0 && !slices.Contains(roles, id.Role) {
		return nil, fmt.Errorf("%w: %q of %s has role %q, want one of %v", ErrUnknownIdentity, id.Cert.Subject.CommonName, id.MSPID, id.Role, roles)
	}
	return id, nil
}

func (v *Verifier) identify(serialized []byte) (*Identity, error) {
	if cached, ok := v.cache.Load(string(serialized)); ok {
		return cached.(*Identity), nil
	}
	var sid msp.SerializedIdentity
	if err := proto.Unmarshal(serialized, &sid); err != nil {
		return nil, fmt.Errorf("%w: malformed serialized identity: %v", ErrUnknownIdentity, err)
	}
	pool, ok := v.roots[sid.GetMspid()]
	if !ok {
		return nil, fmt.Errorf("%w: MSP %q is not a channel member", ErrUnknownIdentity, sid.GetMspid())
	}
	cert, err := devca.ParseCertificatePEM(sid.GetIdBytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownIdentity, err)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: certificate key is not ECDSA", ErrUnknownIdentity)
	}
	// Validity is checked per use in Identify; here only the chain, at the
	// certificate's own start so that the cached result does not age.
	opts := x509.VerifyOptions{Roots: pool, CurrentTime: cert.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := cert.Verify(opts); err != nil {
		return nil, fmt.Errorf("%w: certificate %q not issued by %s: %v", ErrUnknownIdentity, cert.Subject.CommonName, sid.GetMspid(), err)
	}
	id := &Identity{MSPID: sid.GetMspid(), Role: devca.RoleOf(cert), Cert: cert, Serialized: slices.Clone(serialized)}
	if id.Role == "" {
		return nil, fmt.Errorf("%w: certificate %q carries no NodeOU role", ErrUnknownIdentity, cert.Subject.CommonName)
	}
	if cached, loaded := v.cache.LoadOrStore(string(serialized), id); loaded {
		return cached.(*Identity), nil // a concurrent first use got there first
	}
	return id, nil
}

// Verify checks sig over msg with the identity's public key.
func (id *Identity) Verify(msg, sig []byte) error {
	digest := sha256.Sum256(msg)
	return id.VerifyDigest(digest, sig)
}

// VerifyDigest checks sig over a message whose SHA-256 digest is given.
func (id *Identity) VerifyDigest(digest [sha256.Size]byte, sig []byte) error {
	return verifyDigest(id.Cert.PublicKey.(*ecdsa.PublicKey), digest, sig)
}

// VerifySignature checks a DER ECDSA signature over SHA-256(msg), refusing
// high-S signatures (malleable duplicates), as Fabric does.
func VerifySignature(pub *ecdsa.PublicKey, msg, sig []byte) error {
	return verifyDigest(pub, sha256.Sum256(msg), sig)
}

// verifyDigest is crypto/ecdsa's verification with Fabric's low-S rule in
// front of it: of the two valid signatures (r, s) and (r, n-s), Fabric's
// BCCSP accepts only the one with s <= n/2, so that a transaction cannot be
// resubmitted under a second signature.
func verifyDigest(pub *ecdsa.PublicKey, digest [sha256.Size]byte, sig []byte) error {
	_, s, ok := parseSignature(sig)
	if !ok {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if s.Cmp(halfOrder(pub.Curve)) > 0 {
		return fmt.Errorf("%w: signature S is not low-S", ErrBadSignature)
	}
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return ErrBadSignature
	}
	return nil
}

// parseSignature reads a DER ECDSA signature, SEQUENCE { r INTEGER,
// s INTEGER }, with nothing after it, for the low-S check; crypto/ecdsa
// parses it again, as strictly, to verify it.
func parseSignature(sig []byte) (r, s *big.Int, ok bool) {
	var inner cryptobyte.String
	r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 {
		return nil, nil, false
	}
	return r, s, true
}

var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

func halfOrder(c elliptic.Curve) *big.Int {
	if c == elliptic.P256() {
		return p256HalfOrder
	}
	return new(big.Int).Rsh(c.Params().N, 1)
}

// Signer signs with an identity's private key the way Fabric clients do.
type Signer struct {
	Identity *Identity
	key      *ecdsa.PrivateKey
}

// NewSigner pairs a verified identity with its key.
func NewSigner(id *Identity, key *ecdsa.PrivateKey) *Signer {
	return &Signer{Identity: id, key: key}
}

// Sign returns a low-S DER ECDSA signature over SHA-256(msg).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	return s.SignDigest(sha256.Sum256(msg))
}

// SignDigest signs a message whose SHA-256 digest is given.
func (s *Signer) SignDigest(digest [sha256.Size]byte) ([]byte, error) {
	return fabsig.SignDigest(s.key, digest[:])
}

// Serialize encodes an identity the way Fabric puts it in signature headers.
func Serialize(mspID string, certPEM []byte) ([]byte, error) {
	b, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: certPEM})
	if err != nil {
		return nil, fmt.Errorf("serialize identity: %w", err)
	}
	return b, nil
}
