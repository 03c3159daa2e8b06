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
// validated: the writes of its valid transactions and the index entries of
// all but its duplicates (see recordTx).
func applyCommitted(u *store.Update, b *common.Block) error {
	txs, err := decodeCommitted(b)
	if err != nil {
		return err
	}
	for _, c := range txs {
		if err := recordTx(u, c.tx, c.sets, c.height, c.code); err != nil {
			return err
		}
	}
	return nil
}

// committedTx is one transaction of a committed block, decoded.
type committedTx struct {
	tx     *fabmsg.Transaction
	sets   []mvcc.NsSet // decoded for valid transactions only
	height store.Height
	code   peer.TxValidationCode
}

// decodeCommitted decodes the transactions of a committed block (not the
// genesis block, whose one transaction is a configuration), with the
// validation codes the block records.
func decodeCommitted(b *common.Block) ([]committedTx, error) {
	num := b.GetHeader().GetNumber()
	codes := blocks.ValidationCodes(b)
	out := make([]committedTx, 0, len(codes))
	for i, raw := range b.GetData().GetData() {
		var env common.Envelope
		if err := proto.Unmarshal(raw, &env); err != nil {
			return nil, fmt.Errorf("block %d tx %d: %w", num, i, err)
		}
		tx, err := fabmsg.ParseTransaction(&env)
		if err != nil {
			return nil, fmt.Errorf("block %d tx %d: %w", num, i, err)
		}
		c := committedTx{tx: tx, height: store.Height{Block: num, Tx: uint64(i)}, code: codes[i]}
		if c.code == peer.TxValidationCode_VALID {
			if c.sets, err = mvcc.Decode(tx.RWSet); err != nil {
				return nil, fmt.Errorf("block %d tx %d: %w", num, i, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// recordTx writes what a transaction's verdict commits: a valid one's
// writes and history, and the index entry of every one but a duplicate,
// whose ID keeps the entry of its first commit. The committer and the
// replay after a crash share it, so a replayed block is stored exactly as
// it was first committed.
func recordTx(u *store.Update, tx *fabmsg.Transaction, sets []mvcc.NsSet, h store.Height, code peer.TxValidationCode) error {
	switch code {
	case peer.TxValidationCode_DUPLICATE_TXID:
		return nil
	case peer.TxValidationCode_VALID:
		if err := mvcc.Apply(sets, u, mvcc.Tx{ID: tx.TxID(), Timestamp: tx.ChannelHeader.GetTimestamp(), Height: h}); err != nil {
			return err
		}
	}
	return u.IndexTx(tx.TxID(), store.TxStatus{Block: h.Block, Tx: h.Tx, Code: code})
}
