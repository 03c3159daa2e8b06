package sim

import (
	"errors"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/srellama/srellama/node/embedledger/store"
)

var errIteratorDone = errors.New("no more results in iterator")

// rangeIterator walks committed state and records every entry it pulls from
// the store into the transaction's RangeQueryInfo, which the committer
// re-executes to detect phantoms.
type rangeIterator struct {
	ns     string
	it     *store.Iterator
	info   *kvrwset.RangeQueryInfo
	reads  *kvrwset.QueryReads
	next   *store.Entry
	done   bool
	limit  int // 0: unlimited
	served int
	closed bool
}

func (s *Stub) rangeQuery(start, end string, limit int) *rangeIterator {
	reads := &kvrwset.QueryReads{}
	info := &kvrwset.RangeQueryInfo{
		StartKey:  start,
		EndKey:    end,
		ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: reads},
	}
	s.ranges = append(s.ranges, info)
	return &rangeIterator{ns: s.ns, it: s.state.Range(s.ns, start, end), info: info, reads: reads, limit: limit}
}

func (r *rangeIterator) pull() {
	if r.next != nil || r.done {
		return
	}
	e, ok := r.it.Next()
	if !ok {
		r.done = true
		r.info.ItrExhausted = true
		return
	}
	r.reads.KvReads = append(r.reads.KvReads, &kvrwset.KVRead{
		Key:     e.Key,
		Version: &kvrwset.Version{BlockNum: e.Version.Block, TxNum: e.Version.Tx},
	})
	r.next = &e
}

// HasNext reports whether Next has a result.
func (r *rangeIterator) HasNext() bool {
	if r.closed || (r.limit > 0 && r.served >= r.limit) {
		return false
	}
	r.pull()
	return r.next != nil
}

// Next returns the next key and value.
func (r *rangeIterator) Next() (*queryresult.KV, error) {
	if !r.HasNext() {
		return nil, errIteratorDone
	}
	e := r.next
	r.next = nil
	r.served++
	return &queryresult.KV{Namespace: r.ns, Key: e.Key, Value: e.Value}, nil
}

// peekBeyondLimit returns the key after the last one served, if any.
func (r *rangeIterator) peekBeyondLimit() (string, bool) {
	r.pull()
	if r.next == nil {
		return "", false
	}
	return r.next.Key, true
}

// Close ends the iteration.
func (r *rangeIterator) Close() error {
	r.closed = true
	return nil
}

type sliceIterator struct {
	kvs []*queryresult.KV
}

func (s *sliceIterator) HasNext() bool { return len(s.kvs) > 0 }
func (s *sliceIterator) Close() error  { s.kvs = nil; return nil }
func (s *sliceIterator) Next() (*queryresult.KV, error) {
	if len(s.kvs) == 0 {
		return nil, errIteratorDone
	}
	kv := s.kvs[0]
	s.kvs = s.kvs[1:]
	return kv, nil
}

type historyIterator struct {
	mods []*queryresult.KeyModification
}

func (h *historyIterator) HasNext() bool { return len(h.mods) > 0 }
func (h *historyIterator) Close() error  { h.mods = nil; return nil }
func (h *historyIterator) Next() (*queryresult.KeyModification, error) {
	if len(h.mods) == 0 {
		return nil, errIteratorDone
	}
	m := h.mods[0]
	h.mods = h.mods[1:]
	return m, nil
}
