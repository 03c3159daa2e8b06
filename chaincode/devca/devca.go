// Package devca is a development certificate authority for one Fabric
// organization: it issues ECDSA P-256 identities whose certificates carry
// Fabric's NodeOU roles (OU=admin, OU=client, OU=peer, OU=orderer), the way
// cryptogen and Fabric CA do with NodeOUs enabled.
//
// It serves the embedded ledger (one CA per organization, created on first
// start and kept on disk) and the chaincode tests (real X.509 creators rather
// than canned identities). It is not a production CA: no revocation, no
// intermediate CAs.
package devca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Role is a Fabric NodeOU role.
type Role string

// NodeOU roles.
const (
	RoleAdmin   Role = "admin"
	RoleClient  Role = "client"
	RolePeer    Role = "peer"
	RoleOrderer Role = "orderer"
)

// Validity of issued certificates. Development material: long enough that a
// demo folder kept for a year still works.
const validity = 5 * 365 * 24 * time.Hour

// CA is one organization's certificate authority.
type CA struct {
	MSPID string
	Cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	rand  io.Reader
}

// Identity is an issued certificate with its private key.
type Identity struct {
	MSPID   string
	Role    Role
	Name    string
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// New creates a CA for mspID. rnd is the entropy source (crypto/rand.Reader
// in production, or nil for it).
func New(mspID string, rnd io.Reader, now time.Time) (*CA, error) {
	if mspID == "" {
		return nil, errors.New("devca: empty MSP ID")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("devca: generate CA key: %w", err)
	}
	serial, err := newSerial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ca." + mspID, Organization: []string{mspID}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devca: self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: parse CA certificate: %w", err)
	}
	return &CA{MSPID: mspID, Cert: cert, key: key, rand: rnd}, nil
}

// Issue creates an identity with the given role. name becomes the common
// name (e.g. "Admin@org1"); hosts, if any, become DNS or IP SANs so the
// identity can also serve TLS.
func (ca *CA) Issue(role Role, name string, now time.Time, hosts ...string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), ca.rand)
	if err != nil {
		return nil, fmt.Errorf("devca: generate key for %s: %w", name, err)
	}
	serial, err := newSerial(ca.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         name,
			Organization:       []string{ca.MSPID},
			OrganizationalUnit: []string{string(role)},
		},
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       now.Add(validity),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	addHosts(tmpl, hosts)
	der, err := x509.CreateCertificate(ca.rand, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("devca: sign certificate for %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: parse certificate for %s: %w", name, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Identity{
		MSPID: ca.MSPID, Role: role, Name: name, Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
	}, nil
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Verify checks that cert was issued by this CA and is valid at now.
func (ca *CA) Verify(cert *x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("certificate %q not issued by %s: %w", cert.Subject.CommonName, ca.MSPID, err)
	}
	return nil
}

// RoleOf returns the NodeOU role a certificate carries, or "" if none.
func RoleOf(cert *x509.Certificate) Role {
	for _, ou := range cert.Subject.OrganizationalUnit {
		switch r := Role(ou); r {
		case RoleAdmin, RoleClient, RolePeer, RoleOrderer:
			return r
		}
	}
	return ""
}

// Save writes the CA certificate and key to dir (ca-cert.pem, ca-key.pem).
func (ca *CA) Save(dir string) error {
	keyPEM, err := encodeKey(ca.key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "ca-key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "ca-cert.pem"), ca.CertPEM(), 0o644)
}

// Load reads a CA saved by Save.
func Load(dir, mspID string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca-cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return &CA{MSPID: mspID, Cert: cert, key: key, rand: rand.Reader}, nil
}

// ParseCertificatePEM parses the first certificate in a PEM document.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("devca: no PEM certificate found")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: parse certificate: %w", err)
	}
	return cert, nil
}

// ParseKeyPEM parses a PKCS#8 (or SEC1) ECDSA private key.
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("devca: no PEM key found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if ec, ok := k.(*ecdsa.PrivateKey); ok {
			return ec, nil
		}
		return nil, errors.New("devca: key is not ECDSA")
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: parse key: %w", err)
	}
	return k, nil
}

// WriteFileAtomic writes data to a temporary file in the same directory,
// syncs it and renames it over path, so a crash leaves the old file or the
// new one, never a torn one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("devca: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for a P-256 key
	sum := sha256.Sum256(der)
	return sum[:20]
}

// newSerial draws a random positive 127-bit serial number: X.509 asks that
// serials be unique per CA, and reissuing a name must not repeat one.
func newSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, fmt.Errorf("devca: serial number: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never zero, never negative
	return new(big.Int).SetBytes(b), nil
}
