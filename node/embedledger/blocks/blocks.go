// Package blocks builds and verifies the embedded ledger's blocks in Fabric's
// format: a header with the block number, the hash of the previous block's
// header and the hash of this block's data; the transaction envelopes as
// data; the validation code of each transaction in the TRANSACTIONS_FILTER
// metadata. Headers hash the way Fabric's do (SHA-256 of the ASN.1 encoding
// of number, previous hash, data hash), so the chain can be audited with
// Fabric's own definitions.
package blocks

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// New builds block number num on top of the block whose header hash is
// prevHash, holding the given envelopes with their validation codes.
func New(num uint64, prevHash []byte, envelopes [][]byte, codes []peer.TxValidationCode) (*common.Block, error) {
	if len(envelopes) != len(codes) {
		return nil, fmt.Errorf("block %d: %d envelopes but %d validation codes", num, len(envelopes), len(codes))
	}
	filter := make([]byte, len(codes))
	for i, c := range codes {
		filter[i] = byte(c)
	}
	meta := make([][]byte, len(common.BlockMetadataIndex_name))
	meta[common.BlockMetadataIndex_TRANSACTIONS_FILTER] = filter
	return &common.Block{
		Header:   &common.BlockHeader{Number: num, PreviousHash: prevHash, DataHash: DataHash(envelopes)},
		Data:     &common.BlockData{Data: envelopes},
		Metadata: &common.BlockMetadata{Metadata: meta},
	}, nil
}

// DataHash is the SHA-256 of the concatenated envelopes.
func DataHash(data [][]byte) []byte {
	h := sha256.New()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// HeaderHash is the SHA-256 of the header's ASN.1 encoding.
func HeaderHash(h *common.BlockHeader) []byte {
	der, err := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(h.GetNumber()), h.GetPreviousHash(), h.GetDataHash()})
	if err != nil {
		panic(fmt.Sprintf("asn1 encoding of a block header cannot fail: %v", err))
	}
	sum := sha256.Sum256(der)
	return sum[:]
}

// ValidationCodes returns the validation code of each transaction.
func ValidationCodes(b *common.Block) []peer.TxValidationCode {
	var filter []byte
	if md := b.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		filter = md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	codes := make([]peer.TxValidationCode, len(b.GetData().GetData()))
	for i := range codes {
		codes[i] = peer.TxValidationCode_INVALID_OTHER_REASON
		if i < len(filter) {
			codes[i] = peer.TxValidationCode(filter[i])
		}
	}
	return codes
}

// Verifier checks a chain one block at a time, in order from block 0.
type Verifier struct {
	next     uint64
	prevHash []byte
}

// Add checks that b follows the blocks added so far and that its data
// matches its header, and returns b's header hash.
func (v *Verifier) Add(b *common.Block) ([]byte, error) {
	h := b.GetHeader()
	if h == nil {
		return nil, fmt.Errorf("block %d: no header", v.next)
	}
	if h.GetNumber() != v.next {
		return nil, fmt.Errorf("block %d: header says number %d", v.next, h.GetNumber())
	}
	if !bytes.Equal(h.GetPreviousHash(), v.prevHash) {
		return nil, fmt.Errorf("block %d: previous hash %x does not match block %d's header hash %x", v.next, h.GetPreviousHash(), v.next-1, v.prevHash)
	}
	if got := DataHash(b.GetData().GetData()); !bytes.Equal(got, h.GetDataHash()) {
		return nil, fmt.Errorf("block %d: data hash %x does not match the data (%x)", v.next, h.GetDataHash(), got)
	}
	v.prevHash = HeaderHash(h)
	v.next++
	return v.prevHash, nil
}
