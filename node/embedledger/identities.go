package embedledger

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/embedledger/msp"
	"github.com/srellama/srellama/node/embedledger/store"
)

// Layout of the ledger directory:
//
//	<dir>/ledgerdb/                         LevelDB: state, history, blocks, index
//	<dir>/tls/{ca-cert.pem,server-cert.pem,server-key.pem}
//	<dir>/orgs/<MSPID>/ca/{ca-cert.pem,ca-key.pem}
//	<dir>/orgs/<MSPID>/{admin,client,peer}/{cert.pem,key.pem}
//	<dir>/orgs/<MSPID>/connection.json      the node's ledger configuration
const (
	tlsMSP = "tlsca"
	// storeDir holds the ledger's database.
	storeDir = "ledgerdb"
	// boltFile held it in versions before LevelDB.
	boltFile = "ledger.db"
)

// StorePath is the database folder of the ledger in dir.
func StorePath(dir string) string { return filepath.Join(dir, storeDir) }

// OpenStoreForAudit opens the database of a stopped ledger in dir,
// read-only; it refuses a folder that holds no ledger instead of creating
// one.
func OpenStoreForAudit(dir string) (*store.Store, error) {
	if err := refuseBoltLedger(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(StorePath(dir)); err != nil {
		return nil, fmt.Errorf("%s is not an embedded ledger folder: %w", dir, err)
	}
	s, err := store.OpenExisting(StorePath(dir))
	if err != nil {
		return nil, err
	}
	if n := len(s.Unindexed()); n > 0 {
		s.Close()
		return nil, fmt.Errorf("%s: the block file holds %d committed blocks that the index lacks (the ledger stopped in a crash); start the ledger once to apply them, then audit", dir, n)
	}
	return s, nil
}

// refuseBoltLedger stops a ledger folder of an earlier version from being
// opened as an empty new ledger beside its old database.
func refuseBoltLedger(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, boltFile)); err == nil {
		return fmt.Errorf("%s holds a ledger of an earlier version (%s, bbolt); this version keeps the ledger in LevelDB (%s): start it in a new folder", dir, boltFile, storeDir)
	}
	return nil
}

// orgMaterial is one organization's CA and identities.
type orgMaterial struct {
	MSPID string
	CA    *devca.CA
	// Peer endorses on the organization's behalf inside the embedded ledger.
	Peer *devca.Identity
}

func orgDir(dir, mspID string) string           { return filepath.Join(dir, "orgs", mspID) }
func identityDir(dir, mspID, who string) string { return filepath.Join(orgDir(dir, mspID), who) }

// loadOrCreateOrg loads an organization's CA and identities, creating any
// that are missing. Existing material is never replaced, so identities
// handed to nodes stay valid across restarts.
func loadOrCreateOrg(dir, mspID string, now time.Time) (*orgMaterial, error) {
	caDir := filepath.Join(orgDir(dir, mspID), "ca")
	ca, err := devca.Load(caDir, mspID)
	if errors.Is(err, fs.ErrNotExist) {
		ca, err = devca.New(mspID, nil, now)
		if err == nil {
			err = ca.Save(caDir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("CA of %s: %w", mspID, err)
	}
	org := &orgMaterial{MSPID: mspID, CA: ca}
	for _, who := range []struct {
		dir  string
		role devca.Role
		name string
	}{
		{"admin", devca.RoleAdmin, "Admin@" + mspID},
		{"client", devca.RoleClient, "User1@" + mspID},
		{"peer", devca.RolePeer, "peer0." + mspID},
	} {
		id, err := loadOrIssue(ca, identityDir(dir, mspID, who.dir), who.role, who.name, now)
		if err != nil {
			return nil, err
		}
		if who.role == devca.RolePeer {
			org.Peer = id
		}
	}
	return org, nil
}

func loadOrIssue(ca *devca.CA, dir string, role devca.Role, name string, now time.Time, hosts ...string) (*devca.Identity, error) {
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM, errCert := os.ReadFile(certPath)
	keyPEM, errKey := os.ReadFile(keyPath)
	if errCert == nil && errKey == nil {
		cert, err := devca.ParseCertificatePEM(certPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		key, err := devca.ParseKeyPEM(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyPath, err)
		}
		return &devca.Identity{MSPID: ca.MSPID, Role: role, Name: name, Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
	}
	id, err := ca.Issue(role, name, now, hosts...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	// Key first: a crash in between leaves a key without a certificate,
	// which the next start replaces, never a certificate without its key.
	if err := devca.WriteFileAtomic(keyPath, id.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := devca.WriteFileAtomic(certPath, id.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return id, nil
}

// tlsMaterial is the TLS CA and the server certificate for loopback.
type tlsMaterial struct {
	CA     *devca.CA
	Server *devca.Identity
}

func loadOrCreateTLS(dir string, now time.Time) (*tlsMaterial, error) {
	caDir := filepath.Join(dir, "tls")
	ca, err := devca.Load(caDir, tlsMSP)
	if errors.Is(err, fs.ErrNotExist) {
		ca, err = devca.New(tlsMSP, nil, now)
		if err == nil {
			err = ca.Save(caDir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %w", err)
	}
	srv, err := loadOrIssue(ca, filepath.Join(caDir, "server"), devca.RolePeer, "localhost", now, "localhost", "127.0.0.1", "::1")
	if err != nil {
		return nil, err
	}
	return &tlsMaterial{CA: ca, Server: srv}, nil
}

func signerFor(id *devca.Identity) (*msp.Signer, error) {
	serialized, err := msp.Serialize(id.MSPID, id.CertPEM)
	if err != nil {
		return nil, err
	}
	return msp.NewSigner(&msp.Identity{MSPID: id.MSPID, Role: id.Role, Cert: id.Cert, Serialized: serialized}, id.Key), nil
}

func roots(orgs []*orgMaterial) map[string]*x509.Certificate {
	out := make(map[string]*x509.Certificate, len(orgs))
	for _, o := range orgs {
		out[o.MSPID] = o.CA.Cert
	}
	return out
}
