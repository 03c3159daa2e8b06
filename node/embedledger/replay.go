package embedledger

import (
	"bytes"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"github.com/srellama/srellama/node/embedledger/mvcc"
	"github.com/srellama/srellama/node/embedledger/store"
)

// replayUnindexed applies the blocks that the block file holds beyond the
// store's index: committed blocks whose LevelDB batch a crash lost. Each is
// checked to extend the chain, then its valid transactions' writes, its
// history and its transaction index are applied exactly as at its commit,
// from the validation codes the block records.
func (l *Ledger) replayUnindexed() error {
	for _, ub := range l.store.Unindexed() {
		var b common.Block
		if err := proto.Unmarshal(ub.Bytes, &b); err != nil {
			return fmt.Errorf("replay block %d: %w", ub.Num, err)
		}
		err := l.store.Commit(func(u *store.Update) error {
			height, tip := u.Height()
			if err := extendsChain(&b, height, tip); err != nil {
				return err
			}
			if ub.Num > 0 { // block 0 is the genesis block: no transactions to apply
				if err := applyCommitted(u, &b); err != nil {
					return err
				}
			}
			return u.AdoptBlock(ub.Num, blocks.HeaderHash(b.GetHeader()))
		})
		if err != nil {
			return fmt.Errorf("replay block %d: %w", ub.Num, err)
		}
		l.log.Info("applied a block the index lacked after a crash", "block", ub.Num, "txs", len(b.GetData().GetData()))
	}
	return nil
}

// extendsChain checks that b is block height of a chain whose tip is tip.
func extendsChain(b *common.Block, height uint64, tip []byte) error {
	h := b.GetHeader()
	if h.GetNumber() != height {
		return fmt.Errorf("the block file holds block %d where block %d belongs", h.GetNumber(), height)
	}
	if !bytes.Equal(h.GetPreviousHash(), tip) {
		return fmt.Errorf("block %d does not follow the chain's tip %x", height, tip)
	}
	if !bytes.Equal(blocks.DataHash(b.GetData().GetData()), h.GetDataHash()) {
		return fmt.Errorf("block %d: data hash does not match its transactions", height)
	}
	return nil
}

// applyCommitted writes what commitBlock wrote for a block already
// validated: the writes of its valid transactions and every transaction's
// index entry.
func applyCommitted(u *store.Update, b *common.Block) error {
	num := b.GetHeader().GetNumber()
	codes := blocks.ValidationCodes(b)
	for i, raw := range b.GetData().GetData() {
		var env common.Envelope
		if err := proto.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("tx %d: %w", i, err)
		}
		tx, err := fabmsg.ParseTransaction(&env)
		if err != nil {
			return fmt.Errorf("tx %d: %w", i, err)
		}
		h := store.Height{Block: num, Tx: uint64(i)}
		if codes[i] == peer.TxValidationCode_VALID {
			sets, err := mvcc.Decode(tx.RWSet)
			if err != nil {
				return fmt.Errorf("tx %d: %w", i, err)
			}
			if err := mvcc.Apply(sets, u, mvcc.Tx{ID: tx.TxID(), Timestamp: tx.ChannelHeader.GetTimestamp(), Height: h}); err != nil {
				return err
			}
		}
		if err := u.IndexTx(tx.TxID(), store.TxStatus{Block: num, Tx: uint64(i), Code: codes[i]}); err != nil {
			return err
		}
	}
	return nil
}
