package embedledger

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/store"
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
			raw, ok := snap.BlockBytes(n)
			if !ok {
				return fmt.Errorf("block %d is missing (height %d)", n, h)
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
// a block that is not in the chain. It holds the whole state in memory and
// is meant for audits and tests.
func VerifyState(ctx context.Context, s *store.Store) error {
	type entry struct {
		value []byte
		ver   store.Height
	}
	want := map[string]map[string]entry{}
	err := s.View(func(snap *store.Snapshot) error {
		height, _ := snap.Height()
		for n := uint64(1); n < height; n++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			raw, ok := snap.BlockBytes(n)
			if !ok {
				return fmt.Errorf("block %d is missing", n)
			}
			var b common.Block
			if err := proto.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("block %d is corrupt: %w", n, err)
			}
			txs, err := decodeCommitted(&b)
			if err != nil {
				return err
			}
			for _, c := range txs {
				for _, ns := range c.sets { // none for invalid transactions
					if want[ns.Namespace] == nil {
						want[ns.Namespace] = map[string]entry{}
					}
					for _, w := range ns.KV.GetWrites() {
						if w.GetIsDelete() {
							delete(want[ns.Namespace], w.GetKey())
						} else {
							want[ns.Namespace][w.GetKey()] = entry{w.GetValue(), c.height}
						}
					}
				}
			}
		}
		for _, ns := range snap.Namespaces() {
			it := snap.Range(ns, "", "")
			for e, ok := it.Next(); ok; e, ok = it.Next() {
				w, found := want[ns][e.Key]
				if !found {
					return fmt.Errorf("state holds %s/%q, which no valid transaction wrote", ns, e.Key)
				}
				if w.ver != e.Version || !bytes.Equal(w.value, e.Value) {
					return fmt.Errorf("state %s/%q is at %+v, the chain says %+v", ns, e.Key, e.Version, w.ver)
				}
				delete(want[ns], e.Key)
			}
		}
		for ns, keys := range want {
			for k := range keys {
				return fmt.Errorf("the chain wrote %s/%q but the state lacks it", ns, k)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify state: %w", err)
	}
	return nil
}
