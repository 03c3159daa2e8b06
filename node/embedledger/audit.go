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
