package mvcc

import (
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
)

// txReading is a transaction of namespace "cc" that read keys and ran
// range queries [start, end).
func txReading(keys []string, ranges ...[2]string) []NsSet {
	kv := &kvrwset.KVRWSet{}
	for _, k := range keys {
		kv.Reads = append(kv.Reads, &kvrwset.KVRead{Key: k})
	}
	for _, r := range ranges {
		kv.RangeQueriesInfo = append(kv.RangeQueriesInfo, &kvrwset.RangeQueryInfo{
			StartKey: r[0], EndKey: r[1], ItrExhausted: true,
			ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: &kvrwset.QueryReads{}},
		})
	}
	return []NsSet{{Namespace: "cc", KV: kv}}
}

func txWriting(ns string, keys ...string) []NsSet {
	kv := &kvrwset.KVRWSet{}
	for _, k := range keys {
		kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: k, Value: []byte("v")})
	}
	return []NsSet{{Namespace: ns, KV: kv}}
}

// recentAfter returns a RecentWrites from height 10 that has seen blocks
// 10, 11 and 12, writing "a", then "m" (and "x" of another namespace), then
// nothing, and has begun block 13 with a valid transaction writing "q".
func recentAfter(t *testing.T) *RecentWrites {
	t.Helper()
	r := NewRecentWrites(10, 8, 1000)
	for _, block := range [][][]NsSet{
		{txWriting("cc", "a")},
		{txWriting("cc", "m"), txWriting("other", "x")},
		{},
	} {
		r.BeginBlock(r.current)
		for _, tx := range block {
			r.Add(tx)
		}
		r.EndBlock()
	}
	r.BeginBlock(13)
	r.Add(txWriting("cc", "q"))
	return r
}

func TestRecentWritesShowOnlyWhatNobodyWroteSince(t *testing.T) {
	tests := []struct {
		name      string
		tx        []NsSet
		simHeight uint64
		unchanged bool
	}{
		{"read a key nobody wrote", txReading([]string{"b"}), 10, true},
		{"read a key written in a block since", txReading([]string{"a"}), 10, false},
		{"read a key written before the simulation", txReading([]string{"a"}), 11, true},
		{"read a key written earlier in this block", txReading([]string{"q"}), 13, false},
		{"read the same key name in another namespace", txReading([]string{"x"}), 10, true},
		{"range with a write inside", txReading(nil, [2]string{"l", "n"}), 11, false},
		{"range ending at a written key", txReading(nil, [2]string{"b", "m"}), 11, true},
		{"range starting at a written key", txReading(nil, [2]string{"m", "n"}), 11, false},
		{"range with a write of this block inside", txReading(nil, [2]string{"p", "r"}), 13, false},
		{"range to the end of the namespace", txReading(nil, [2]string{"r", ""}), 10, true},
		{"range to the end past a write", txReading(nil, [2]string{"n", ""}), 10, false},
		{"empty range", txReading(nil, [2]string{"z", "a"}), 10, true},
		{"simulated before the window", txReading([]string{"b"}), 9, false},
		{"simulated after the current block", txReading([]string{"b"}), 14, false},
		{"simulated on the current block's state", txReading([]string{"a", "m"}), 13, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := recentAfter(t)
			if got := r.Unchanged(tt.tx, tt.simHeight); got != tt.unchanged {
				t.Errorf("Unchanged = %v, want %v", got, tt.unchanged)
			}
		})
	}
}

func TestRecentWritesNeverShowMerkleSummarisedRanges(t *testing.T) {
	r := recentAfter(t)
	tx := txReading(nil, [2]string{"s", "t"})
	tx[0].KV.RangeQueriesInfo[0].ReadsInfo = &kvrwset.RangeQueryInfo_ReadsMerkleHashes{ReadsMerkleHashes: &kvrwset.QueryReadsMerkleSummary{}}
	if r.Unchanged(tx, 13) {
		t.Error("a range query without raw reads was shown unchanged")
	}
}

func TestRecentWritesWindowSlidesAndRestartsAfterAGap(t *testing.T) {
	r := NewRecentWrites(0, 2, 1000)
	for range 3 { // blocks 0, 1, 2: only 1 and 2 are remembered
		r.BeginBlock(r.current)
		r.EndBlock()
	}
	r.BeginBlock(3)
	if r.Unchanged(txReading([]string{"k"}), 0) {
		t.Error("a simulation older than the window was shown unchanged")
	}
	if !r.Unchanged(txReading([]string{"k"}), 1) {
		t.Error("a simulation inside the window was not shown unchanged")
	}
	r.EndBlock()

	// Block 4 never passed through: block 5 starts a new window.
	r.BeginBlock(5)
	if r.Unchanged(txReading([]string{"k"}), 3) {
		t.Error("a simulation across a gap was shown unchanged")
	}
	r.Add(txWriting("cc", "k"))
	r.EndBlock()
	r.BeginBlock(6)
	if r.Unchanged(txReading([]string{"k"}), 5) {
		t.Error("a key written by block 5 was shown unchanged")
	}
	if !r.Unchanged(txReading([]string{"j"}), 5) {
		t.Error("a key nobody wrote since block 5 was not shown unchanged")
	}
}

func TestRecentWritesForgetABlockThatWasNotCommitted(t *testing.T) {
	r := NewRecentWrites(0, 4, 1000)
	r.BeginBlock(0)
	r.Add(txWriting("cc", "k"))
	// The commit of block 0 failed; it is validated again from scratch.
	r.BeginBlock(0)
	if !r.Unchanged(txReading([]string{"k"}), 0) {
		t.Error("a write of an abandoned block attempt is still remembered")
	}
}

func TestRecentWritesForgetOldBlocksPastTheKeyBudget(t *testing.T) {
	r := NewRecentWrites(0, 100, 3)
	for _, keys := range [][]string{{"a", "b"}, {"c", "d"}, {"e", "f", "g", "h"}} {
		r.BeginBlock(r.current)
		r.Add(txWriting("cc", keys...))
		r.EndBlock()
	}
	// Blocks 0 and 1 are forgotten; block 2, over the budget alone, is kept.
	r.BeginBlock(3)
	if r.Unchanged(txReading([]string{"z"}), 1) {
		t.Error("a simulation before the kept blocks was shown unchanged")
	}
	if !r.Unchanged(txReading([]string{"z"}), 2) {
		t.Error("a simulation at the last kept block was not shown unchanged")
	}
	if r.Unchanged(txReading([]string{"e"}), 2) {
		t.Error("a key of the kept block was shown unchanged")
	}
}

func TestRecentWritesTellWhetherATransactionIDWasCommittedSince(t *testing.T) {
	r := NewRecentWrites(10, 8, 1000)
	for _, ids := range [][]string{{"t10"}, {"t11a", "t11b"}, {}} { // blocks 10, 11, 12
		r.BeginBlock(r.current)
		for _, id := range ids {
			r.AddTx(id)
		}
		r.EndBlock()
	}
	r.BeginBlock(13)
	r.AddTx("t13")
	tests := []struct {
		name   string
		id     string
		since  uint64
		absent bool
	}{
		{"never committed, asked from the window's start", "new", 10, true},
		{"never committed, asked from the current block", "new", 13, true},
		{"committed in a block since", "t11b", 11, false},
		{"committed before the height asked from", "t11b", 12, true},
		{"committed earlier in the current block", "t13", 13, false},
		{"a height before the window", "new", 9, false},
		{"a height beyond the current block", "new", 14, false},
		{"a key of that name in a chaincode namespace is not an ID", "a", 10, true},
	}
	r.Add(txWriting("cc", "a")) // a write, not a committed ID
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.TxAbsentSince(tt.id, tt.since); got != tt.absent {
				t.Fatalf("TxAbsentSince(%q, %d) = %v, want %v", tt.id, tt.since, got, tt.absent)
			}
		})
	}
}
