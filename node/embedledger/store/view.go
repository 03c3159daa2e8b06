package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sort"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// view is what readers read through: a LevelDB snapshot, or a snapshot
// under an update's own writes. get returns a value the caller may keep;
// a key that is absent is (nil, false, nil), and a read that failed is an
// error, never an absence.
type view interface {
	get(key []byte) ([]byte, bool, error)
	iterate(r *util.Range) iterator.Iterator
	release()
}

type snapshotView struct{ snap *leveldb.Snapshot }

func (v snapshotView) get(key []byte) ([]byte, bool, error) {
	val, err := v.snap.Get(key, nil)
	switch {
	case err == nil:
		return val, true, nil
	case errors.Is(err, leveldb.ErrNotFound):
		return nil, false, nil
	default:
		// A corrupt table, a failed read, a closed store: the key may
		// well be there, so saying "not found" would be a wrong answer.
		return nil, false, indexError(err)
	}
}

func (v snapshotView) iterate(r *util.Range) iterator.Iterator { return v.snap.NewIterator(r, nil) }

func (v snapshotView) release() { v.snap.Release() }

// overlayValue is a pending write: a value, or a deletion.
type overlayValue struct {
	value   []byte
	deleted bool
}

// overlayView is an update in progress: its writes over the snapshot it
// started from.
type overlayView struct {
	base   view
	writes map[string]overlayValue
	sorted []string // keys of writes, sorted; nil when stale
}

func (o *overlayView) put(key, value []byte) {
	if _, ok := o.writes[string(key)]; !ok {
		o.sorted = nil
	}
	o.writes[string(key)] = overlayValue{value: value}
}

func (o *overlayView) delete(key []byte) {
	if _, ok := o.writes[string(key)]; !ok {
		o.sorted = nil
	}
	o.writes[string(key)] = overlayValue{deleted: true}
}

func (o *overlayView) get(key []byte) ([]byte, bool, error) {
	if w, ok := o.writes[string(key)]; ok {
		if w.deleted {
			return nil, false, nil
		}
		return slices.Clone(w.value), true, nil
	}
	return o.base.get(key)
}

func (o *overlayView) release() { o.base.release() }

// batchRecordOverhead bounds what a LevelDB batch adds to a record's key
// and value: a type byte and two length varints.
const batchRecordOverhead = 1 + 2*binary.MaxVarintLen32

// batch is the update's writes, for one atomic journal record.
func (o *overlayView) batch() *leveldb.Batch {
	// Sized up front: growing a batch of a block's values copies it again
	// at every doubling.
	size := 0
	for k, w := range o.writes {
		size += batchRecordOverhead + len(k) + len(w.value)
	}
	b := leveldb.MakeBatch(size)
	for _, k := range o.keys() {
		if w := o.writes[k]; w.deleted {
			b.Delete([]byte(k))
		} else {
			b.Put([]byte(k), w.value)
		}
	}
	return b
}

func (o *overlayView) keys() []string {
	if o.sorted == nil {
		o.sorted = make([]string, 0, len(o.writes))
		for k := range o.writes {
			o.sorted = append(o.sorted, k)
		}
		slices.Sort(o.sorted)
	}
	return o.sorted
}

// iterate merges the snapshot's keys in r with the pending writes: a
// pending write shadows the snapshot's entry, a pending deletion hides it.
func (o *overlayView) iterate(r *util.Range) iterator.Iterator {
	keys := o.keys()
	lo := sort.SearchStrings(keys, string(r.Start))
	hi := len(keys)
	if r.Limit != nil {
		hi = sort.SearchStrings(keys, string(r.Limit))
	}
	return &mergedIter{base: o.base.iterate(r), writes: o.writes, keys: keys[lo:max(lo, hi)]}
}

type source int

const (
	fromBase source = iota
	fromWrites
	fromBoth // the same key in both: the write wins
)

// mergedIter is the iterator of an overlayView.
type mergedIter struct {
	base   iterator.Iterator
	baseOK bool
	writes map[string]overlayValue
	keys   []string // pending keys in range, sorted
	ki     int
	src    source
	key    []byte
	value  []byte
	valid  bool
}

func (m *mergedIter) First() bool {
	m.baseOK, m.ki = m.base.First(), 0
	return m.settle()
}

func (m *mergedIter) Seek(key []byte) bool {
	m.baseOK = m.base.Seek(key)
	m.ki = sort.SearchStrings(m.keys, string(key))
	return m.settle()
}

func (m *mergedIter) Next() bool {
	if !m.valid {
		return false
	}
	m.advance()
	return m.settle()
}

func (m *mergedIter) advance() {
	if m.src != fromWrites {
		m.baseOK = m.base.Next()
	}
	if m.src != fromBase {
		m.ki++
	}
}

// settle positions on the smallest live key at or after the two cursors.
func (m *mergedIter) settle() bool {
	for {
		haveBase, haveWrite := m.baseOK, m.ki < len(m.keys)
		if !haveBase && !haveWrite {
			m.valid, m.key, m.value = false, nil, nil
			return false
		}
		c := -1
		switch {
		case !haveBase:
			c = 1
		case haveWrite:
			c = bytes.Compare(m.base.Key(), []byte(m.keys[m.ki]))
		}
		if c < 0 {
			m.src, m.key, m.value, m.valid = fromBase, m.base.Key(), m.base.Value(), true
			return true
		}
		m.src = fromWrites
		if c == 0 {
			m.src = fromBoth
		}
		w := m.writes[m.keys[m.ki]]
		if w.deleted {
			m.advance()
			continue
		}
		m.key, m.value, m.valid = []byte(m.keys[m.ki]), w.value, true
		return true
	}
}

func (m *mergedIter) Key() []byte   { return m.key }
func (m *mergedIter) Value() []byte { return m.value }
func (m *mergedIter) Valid() bool   { return m.valid }
func (m *mergedIter) Release()      { m.base.Release(); m.valid = false }
func (m *mergedIter) Error() error  { return m.base.Error() }

// The rest of iterator.Iterator. The store only walks forwards, so a
// backward move reports the end.
func (m *mergedIter) Last() bool                { m.valid = false; return false }
func (m *mergedIter) Prev() bool                { m.valid = false; return false }
func (m *mergedIter) SetReleaser(util.Releaser) {}
