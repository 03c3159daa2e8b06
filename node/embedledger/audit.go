package embedledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/store"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"
)

// VerifyChain walks every block from the genesis block and checks the hash
// chain (each header's previous hash is the previous header's hash, each
// data hash matches the block's transactions) up to the recorded tip. It
// returns the number of blocks verified.
func (l *Ledger) VerifyChain(ctx context.Context) (uint64, error) {
	return VerifyStore(ctx, l.store)
}

// VerifyStore verifies the chain of an open store (see VerifyChain).
func VerifyStore(ctx context.Context, s *store.Store) (uint64, error) {
	var height uint64
	err := s.View(func(snap *store.Snapshot) error {
		h, tipHash := snap.Height()
		height = h
		var v blocks.Verifier
		var last []byte
		for n := uint64(0); n < h; n++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			raw, err := snap.Block(n)
			if err != nil {
				return fmt.Errorf("height %d: %w", h, err)
			}
			var b common.Block
			if err := proto.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("block %d is corrupt: %w", n, err)
			}
			hash, err := v.Add(&b)
			if err != nil {
				return err
			}
			last = hash
		}
		if !bytes.Equal(last, tipHash) {
			return fmt.Errorf("recorded tip hash %x differs from the last block's header hash %x", tipHash, last)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("verify chain: %w", err)
	}
	return height, nil
}

// VerifyState checks the world state against the chain (see VerifyState).
func (l *Ledger) VerifyState(ctx context.Context) error { return VerifyState(ctx, l.store) }

// VerifyState replays the write sets of every VALID transaction in the
// chain and checks that the world state is exactly their result, versions
// included: no write lost, none applied from an invalid transaction or from
// a block that is not in the chain. Then it reads every other entry of the
// index (history, block and transaction index), so that LevelDB checks
// every table's checksums.
//
// Its memory does not grow with the ledger: the replay goes into a scratch
// LevelDB under scratchDir (the system's temporary folder if empty),
// holding each key's last version and the SHA-256 of its value, and the
// state and the scratch are then walked side by side in key order. The
// scratch takes about 60 bytes a key of disk and is removed at the end.
func VerifyState(ctx context.Context, s *store.Store) error { return VerifyStateIn(ctx, s, "") }

// VerifyStateIn is VerifyState with its scratch database under scratchDir.
func VerifyStateIn(ctx context.Context, s *store.Store, scratchDir string) error {
	if err := verifyState(ctx, s, scratchDir); err != nil {
		return fmt.Errorf("verify state: %w", err)
	}
	return nil
}

func verifyState(ctx context.Context, s *store.Store, scratchDir string) error {
	tmp, err := os.MkdirTemp(scratchDir, "srellama-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	scratch, err := leveldb.OpenFile(tmp, &opt.Options{
		Compression: opt.NoCompression, WriteBuffer: 4 << 20, BlockCacheCapacity: 8 << 20,
		OpenFilesCacheCapacity: 64, DisableSeeksCompaction: true, NoSync: true,
	})
	if err != nil {
		return fmt.Errorf("scratch database: %w", err)
	}
	defer scratch.Close()
	return s.View(func(snap *store.Snapshot) error {
		namespaces, err := replayInto(ctx, snap, scratch)
		if err != nil {
			return err
		}
		for _, ns := range snap.Namespaces() {
			namespaces[ns] = true
		}
		for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
			if err := compareNamespace(ctx, snap, scratch, ns); err != nil {
				return err
			}
		}
		if _, err := snap.Scan(ctx); err != nil {
			return err
		}
		return snap.Err()
	})
}

// replayInto writes the last valid write of every key in the chain into
// scratch, block by block, and returns the namespaces written.
func replayInto(ctx context.Context, snap *store.Snapshot, scratch *leveldb.DB) (map[string]bool, error) {
	namespaces := map[string]bool{}
	height, _ := snap.Height()
	for n := uint64(1); n < height; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw, err := snap.Block(n)
		if err != nil {
			return nil, err
		}
		var b common.Block
		if err := proto.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("block %d is corrupt: %w", n, err)
		}
		txs, err := decodeCommitted(&b)
		if err != nil {
			return nil, err
		}
		batch := new(leveldb.Batch)
		for _, c := range txs {
			for _, ns := range c.sets { // none for invalid transactions
				namespaces[ns.Namespace] = true
				for _, w := range ns.KV.GetWrites() {
					k := scratchKey(ns.Namespace, w.GetKey())
					if w.GetIsDelete() {
						batch.Delete(k)
					} else {
						batch.Put(k, scratchValue(c.height, w.GetValue()))
					}
				}
			}
		}
		if err := scratch.Write(batch, nil); err != nil {
			return nil, fmt.Errorf("scratch database: %w", err)
		}
	}
	return namespaces, nil
}

func scratchPrefix(ns string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(ns))), ns...)
}

func scratchKey(ns, key string) []byte { return append(scratchPrefix(ns), key...) }

func scratchValue(h store.Height, value []byte) []byte {
	out := binary.BigEndian.AppendUint64(nil, h.Block)
	out = binary.BigEndian.AppendUint64(out, h.Tx)
	sum := sha256.Sum256(value)
	return append(out, sum[:]...)
}

// compareNamespace walks a namespace's state and the replay's result side
// by side, in key order.
func compareNamespace(ctx context.Context, snap *store.Snapshot, scratch *leveldb.DB, ns string) error {
	state := snap.Range(ns, "", "")
	want := scratch.NewIterator(util.BytesPrefix(scratchPrefix(ns)), nil)
	defer want.Release()
	prefix := len(scratchPrefix(ns))
	e, haveState := state.Next()
	haveWant := want.First()
	for n := 0; haveState || haveWant; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c := -1 // the state's key comes first
		switch {
		case !haveState:
			c = 1
		case haveWant:
			c = strings.Compare(e.Key, string(want.Key()[prefix:]))
		}
		if c != 0 {
			if err := snap.Err(); err != nil {
				return err // the state's walk stopped at damage
			}
		}
		switch {
		case c < 0:
			return fmt.Errorf("state holds %s/%q, which no valid transaction wrote", ns, e.Key)
		case c > 0:
			return fmt.Errorf("the chain wrote %s/%q but the state lacks it", ns, want.Key()[prefix:])
		}
		if got := scratchValue(e.Version, e.Value); !bytes.Equal(got, want.Value()) {
			wantVer := store.Height{Block: binary.BigEndian.Uint64(want.Value()[0:8]), Tx: binary.BigEndian.Uint64(want.Value()[8:16])}
			if wantVer != e.Version {
				return fmt.Errorf("state %s/%q is at %+v, the chain says %+v", ns, e.Key, e.Version, wantVer)
			}
			return fmt.Errorf("state %s/%q at %+v holds a value other than the one the chain says was written there", ns, e.Key, e.Version)
		}
		e, haveState = state.Next()
		haveWant = want.Next()
	}
	if err := want.Error(); err != nil {
		return fmt.Errorf("scratch database: %w", err)
	}
	return snap.Err()
}
