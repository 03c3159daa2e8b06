package mvcc

import (
	"maps"
	"slices"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
)

// RecentWrites remembers which keys the last blocks wrote, so that a
// transaction whose simulation height is known can be shown valid without
// reading the state.
//
// A transaction simulated on the state at height h read each key at the
// version it had after block h-1. That version is still current when no
// valid transaction of blocks h.. (nor an earlier one of the block being
// validated) wrote the key, and a range query still returns what it
// returned when none of them wrote inside the range. So if nothing the
// transaction read was written since, it is valid; if something was, or
// the window does not reach back to h, Validate decides as usual. The
// answer is never "invalid", only "valid" or "look": validation codes are
// exactly those of Validate.
//
// It also remembers the IDs of the transactions the blocks committed, as
// writes to the empty namespace, which no chaincode has: whether an ID was
// committed since a height is then the same question as whether a key was
// written.
//
// Only the committer uses it, in block order; it is not safe for
// concurrent use.
type RecentWrites struct {
	maxBlocks, maxKeys int
	keys               int // remembered, over all blocks
	// blocks are the write sets of the blocks [first, first+len(blocks)),
	// oldest first, each sorted.
	blocks []sortedWrites
	first  uint64
	// current is the block being validated: its number and the writes of
	// its valid transactions so far.
	current uint64
	written map[string]struct{}
}

// sortedWrites are a block's written keys, as writeKey forms them, sorted.
type sortedWrites []string

// NewRecentWrites remembers the write sets of up to maxBlocks blocks, and
// fewer when they hold more than maxKeys keys in all (it keeps the last
// block whatever its size), from height on: the first block it is given
// must be block height.
func NewRecentWrites(height uint64, maxBlocks, maxKeys int) *RecentWrites {
	return &RecentWrites{maxBlocks: max(maxBlocks, 1), maxKeys: maxKeys, first: height, current: height, written: map[string]struct{}{}}
}

// writeKey joins namespace and key so that one namespace's keys sort
// together and in key order: a namespace name holds no NUL.
func writeKey(ns, key string) string { return ns + "\x00" + key }

// BeginBlock starts validating block num, forgetting the writes of a block
// begun and not ended (one whose commit failed).
func (r *RecentWrites) BeginBlock(num uint64) {
	clear(r.written)
	r.current = num
}

// Add records the writes of a valid transaction of the current block.
func (r *RecentWrites) Add(sets []NsSet) {
	for _, ns := range sets {
		for _, w := range ns.KV.GetWrites() {
			r.written[writeKey(ns.Namespace, w.GetKey())] = struct{}{}
		}
	}
}

// AddTx records that the current block commits transaction txID, valid or
// not.
func (r *RecentWrites) AddTx(txID string) { r.written[txIDKey(txID)] = struct{}{} }

func txIDKey(txID string) string { return writeKey("", txID) }

// EndBlock keeps the current block's writes once it is committed.
func (r *RecentWrites) EndBlock() {
	keys := slices.Sorted(maps.Keys(r.written))
	if r.current != r.first+uint64(len(r.blocks)) {
		// A gap (a block committed without passing through here): what is
		// remembered no longer covers a contiguous span of heights.
		r.blocks, r.first, r.keys = nil, r.current, 0
	}
	r.blocks = append(r.blocks, keys)
	r.keys += len(keys)
	for len(r.blocks) > r.maxBlocks || (r.keys > r.maxKeys && len(r.blocks) > 1) {
		r.keys -= len(r.blocks[0])
		r.blocks = slices.Delete(r.blocks, 0, 1)
		r.first++
	}
	clear(r.written)
	r.current++
}

// Unchanged reports whether nothing a transaction simulated at height
// simHeight read has been written since: not by the blocks from simHeight
// up to the current one, nor by the current block's valid transactions so
// far. False means "not shown", not "invalid".
func (r *RecentWrites) Unchanged(sets []NsSet, simHeight uint64) bool {
	if !r.reachesBack(simHeight) {
		return false
	}
	since := r.blocks[simHeight-r.first:]
	for _, ns := range sets {
		for _, rd := range ns.KV.GetReads() {
			k := writeKey(ns.Namespace, rd.GetKey())
			if _, now := r.written[k]; now || r.writtenInBlocks(since, k) {
				return false
			}
		}
		for _, rq := range ns.KV.GetRangeQueriesInfo() {
			if !rangeShown(rq) {
				return false
			}
			lo, hi := rangeBounds(ns.Namespace, rq)
			if r.writtenInRange(since, lo, hi) {
				return false
			}
		}
	}
	return true
}

// TxAbsentSince reports whether no block from height h on, nor the current
// block so far, committed transaction txID. False means "not shown".
func (r *RecentWrites) TxAbsentSince(txID string, h uint64) bool {
	if !r.reachesBack(h) {
		return false
	}
	k := txIDKey(txID)
	_, now := r.written[k]
	return !now && !r.writtenInBlocks(r.blocks[h-r.first:], k)
}

// reachesBack reports whether the remembered blocks are every block from
// height h to the current one.
func (r *RecentWrites) reachesBack(h uint64) bool {
	return h >= r.first && h <= r.current && r.first+uint64(len(r.blocks)) == r.current
}

// rangeShown: only range queries with their raw reads recorded, as our
// simulator records them, are for this shortcut.
func rangeShown(rq *kvrwset.RangeQueryInfo) bool { return rq.GetRawReads() != nil }

// rangeBounds returns the write keys [lo, hi) a range query covers. An
// empty end key means the rest of the namespace.
func rangeBounds(ns string, rq *kvrwset.RangeQueryInfo) (string, string) {
	lo := writeKey(ns, rq.GetStartKey())
	if rq.GetEndKey() == "" {
		return lo, ns + "\x01"
	}
	return lo, writeKey(ns, rq.GetEndKey())
}

func (r *RecentWrites) writtenInBlocks(blocks []sortedWrites, k string) bool {
	for _, b := range blocks {
		if _, found := slices.BinarySearch(b, k); found {
			return true
		}
	}
	return false
}

func (r *RecentWrites) writtenInRange(blocks []sortedWrites, lo, hi string) bool {
	if lo >= hi {
		return false
	}
	for _, b := range blocks {
		i, _ := slices.BinarySearch(b, lo)
		if i < len(b) && b[i] < hi {
			return true
		}
	}
	for k := range r.written {
		if k >= lo && k < hi {
			return true
		}
	}
	return false
}
