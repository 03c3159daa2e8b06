package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/srellama/srellama/chaincode/devca"
)

// LoadOrCreateKey reads the node's libp2p identity key from path, creating
// an Ed25519 key there on first start. The peer ID derived from it is what
// the organization registers on the ledger, so it must survive restarts.
func LoadOrCreateKey(path string) (crypto.PrivKey, peer.ID, error) {
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, "", fmt.Errorf("identity key %s is corrupt: %w", path, err)
		}
		id, err := peer.IDFromPrivateKey(key)
		return key, id, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("reading identity key: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generating identity key: %w", err)
	}
	raw, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("encoding identity key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("creating key directory: %w", err)
	}
	if err := devca.WriteFileAtomic(path, raw, 0o600); err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(key)
	return key, id, err
}
