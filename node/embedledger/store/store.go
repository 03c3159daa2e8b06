// Package store is the embedded ledger's durable storage, laid out as a
// Fabric peer's: an append-only block file (see blockFile), and LevelDB for
// the versioned world state, the key history, the block index and the
// transaction index.
//
// A commit syncs its block to the block file, which makes it durable, then
// writes everything the block changes as one LevelDB batch without a sync
// of its own: LevelDB can only fall behind the block file, and the ledger
// applies the blocks it lacks when it opens. A batch is written
// sequentially to LevelDB's journal and sorted into tables later, in the
// background. An earlier version kept the ledger in a bbolt B+tree, which
// rewrote every page a block touched (about 1.6 MB for a block of ten token
// mints) and synced twice per block.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/syndtr/goleveldb/leveldb"
	lderrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	"github.com/srellama/srellama/node/embedledger/fabmsg"
)

// format is the layout version, kept under the meta key "format".
const format = 1

// Height is the version of a state entry: the block and the position in the
// block of the transaction that last wrote it, as in Fabric.
type Height struct {
	Block uint64
	Tx    uint64
}

// TxStatus is where a transaction was committed and its validation code.
type TxStatus struct {
	Block uint64
	Tx    uint64
	Code  peer.TxValidationCode
}

// Store is the ledger's database: the LevelDB index and state, and the
// block file.
type Store struct {
	dir    string
	db     *leveldb.DB
	blocks *blockFile
	// commitMu makes commits one at a time: an Update reads a snapshot plus
	// its own writes, which is only the state it commits onto while no
	// other commit lands in between.
	commitMu sync.Mutex
	// namespaces holds the namespaces known to hold state, so that a write
	// need not look its namespace's marker up; guarded by commitMu.
	namespaces map[string]bool
	cache      *stateCache
}

// stateCacheBytes bounds the state cache.
const stateCacheBytes = 64 << 20

// Options configure Open.
type Options struct {
	// VerifyBlocks is how many of the last indexed blocks' records have
	// their checksums verified when the store opens: 0, every block; a
	// negative number, none. A damaged record refuses the open, naming the
	// block and the remedy.
	VerifyBlocks int64
}

// Open opens (creating if needed) the database in directory dir: the
// LevelDB database in dir/index and the blocks in dir/blocks. Every
// indexed block's checksum is verified first.
func Open(dir string) (*Store, error) {
	return OpenWith(dir, Options{})
}

// OpenWith is Open with options.
func OpenWith(dir string, opt Options) (*Store, error) {
	return open(dir, false, opt)
}

// OpenExisting opens the database in dir read-only, refusing to create one:
// for audits of a stopped ledger, which read every block themselves.
func OpenExisting(dir string) (*Store, error) {
	return open(dir, true, Options{VerifyBlocks: -1})
}

func open(dir string, readOnly bool, o Options) (*Store, error) {
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open ledger store: %w", err)
		}
	}
	db, err := leveldb.OpenFile(filepath.Join(dir, "index"), &opt.Options{
		ErrorIfMissing: readOnly,
		ReadOnly:       readOnly,
		// Lookups of absent keys (new token IDs, new transaction IDs) are
		// answered by the filter without reading a table.
		Filter: filter.NewBloomFilter(10),
		// CPU is what a two-core machine runs out of; disk is plentiful.
		Compression: opt.NoCompression,
		// A larger memtable turns into fewer, larger level-0 tables.
		WriteBuffer:            16 << 20,
		BlockCacheCapacity:     blockCache(readOnly),
		DisableSeeksCompaction: true,
	})
	if err != nil {
		if lderrors.IsCorrupted(err) {
			return nil, fmt.Errorf("open ledger store %s: %w (the block file is the ledger's record: move %s aside and open the ledger again to rebuild the index from the blocks)", dir, err, filepath.Join(dir, "index"))
		}
		return nil, fmt.Errorf("open ledger store %s: %w", dir, err)
	}
	s := &Store{dir: dir, db: db, namespaces: map[string]bool{}}
	if err := s.checkFormat(readOnly); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger store %s: %w", dir, err)
	}
	var indexedEnd, verifyFrom int64
	var height, verifyFirst uint64
	err = s.View(func(snap *Snapshot) error {
		for _, ns := range snap.Namespaces() {
			s.namespaces[ns] = true
		}
		height, _ = snap.Height()
		if height > 0 {
			loc, ok := snap.blockLocation(height - 1)
			if !ok {
				return errors.Join(snap.Err(), fmt.Errorf("the index has no location for block %d", height-1))
			}
			indexedEnd = loc.end()
			if o.VerifyBlocks > 0 && uint64(o.VerifyBlocks) < height {
				verifyFirst = height - uint64(o.VerifyBlocks)
				if loc, ok = snap.blockLocation(verifyFirst); !ok {
					return errors.Join(snap.Err(), fmt.Errorf("the index has no location for block %d", verifyFirst))
				}
				verifyFrom = loc.offset
			}
		}
		return snap.Err()
	})
	if err == nil {
		s.blocks, err = openBlockFile(filepath.Join(dir, "blocks"), indexedEnd, readOnly)
	}
	if err == nil && height > 0 && o.VerifyBlocks >= 0 {
		if err = s.blocks.verify(verifyFrom, indexedEnd, verifyFirst, height-1); err != nil {
			s.blocks.close()
			err = withRemedy(err, dir)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger store %s: %w", dir, err)
	}
	s.cache = newStateCache(height, stateCacheBytes)
	return s, nil
}

// blockCache sizes LevelDB's block cache: an audit reads each table block
// about once, in order, so a cache would only hold what it never reads
// again.
func blockCache(readOnly bool) int {
	if readOnly {
		return 4 << 20
	}
	return 64 << 20
}

func (s *Store) checkFormat(readOnly bool) error {
	v, err := s.db.Get(metaKey(keyFormat), nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound) && !readOnly:
		return s.db.Put(metaKey(keyFormat), u64(format), &opt.WriteOptions{Sync: true})
	case errors.Is(err, leveldb.ErrNotFound):
		return errors.New("not a ledger store (no format marker)")
	case err != nil:
		return err
	case len(v) != 8 || binary.BigEndian.Uint64(v) != format:
		return fmt.Errorf("ledger store format %x is not supported (this version reads format %d)", v, format)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.blocks != nil {
		err = errors.Join(err, s.blocks.close())
	}
	return err
}

// Snapshot opens a consistent read view. Close it when done: it pins the
// tables it reads.
func (s *Store) Snapshot() (*Snapshot, error) {
	v, err := s.view()
	if err != nil {
		return nil, fmt.Errorf("open ledger snapshot: %w", err)
	}
	return &Snapshot{reader{view: v, blocks: s.blocks, dir: s.dir}}, nil
}

// view is a LevelDB snapshot, read through the state cache once the store
// is open.
func (s *Store) view() (view, error) {
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, err
	}
	base := snapshotView{snap}
	if s.cache == nil {
		return base, nil
	}
	raw, ok, err := base.get(metaKey(keyHeight))
	if err != nil {
		base.release()
		return nil, withRemedy(err, s.dir)
	}
	var height uint64
	if ok && len(raw) == 8 {
		height = binary.BigEndian.Uint64(raw)
	}
	return cachedView{view: base, cache: s.cache, height: height}, nil
}

// View runs fn on a snapshot that is closed when fn returns.
func (s *Store) View(fn func(*Snapshot) error) error {
	snap, err := s.Snapshot()
	if err != nil {
		return err
	}
	defer snap.Close()
	return fn(snap)
}

// Commit runs fn in one write transaction and makes its effects durable
// before returning. If fn fails nothing is written.
func (s *Store) Commit(fn func(*Update) error) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	base, err := s.view()
	if err != nil {
		return fmt.Errorf("open ledger update: %w", err)
	}
	u := &Update{
		reader: reader{view: &overlayView{base: base, writes: map[string]overlayValue{}}, blocks: s.blocks, dir: s.dir},
		known:  s.namespaces,
	}
	defer u.release()
	if err := fn(u); err != nil {
		return errors.Join(err, u.Err())
	}
	if err := u.Err(); err != nil {
		// What fn decided, it decided on a read that failed.
		return err
	}
	end := s.blocks.end
	switch {
	case u.adopted:
		end = s.blocks.unindexed[0].loc.end()
	case u.block != nil:
		// The block first, synced: from here on it is committed. A crash
		// before LevelDB has its batch is repaired by applying the block
		// again when the ledger opens.
		if end, err = s.blocks.appendSynced(u.block); err != nil {
			return errors.Join(err, s.blocks.abandon())
		}
	}
	// With the block synced, LevelDB need not sync: it can only fall
	// behind the block file, never lose a block.
	sync := u.block == nil && !u.adopted
	if err := s.db.Write(u.overlay().batch(), &opt.WriteOptions{Sync: sync}); err != nil {
		if u.block != nil {
			// The block is durable and will be applied on the next open;
			// until then nothing may be appended after it.
			s.blocks.unindexed = append(s.blocks.unindexed, record{loc: blockLocation{offset: s.blocks.end, length: uint32(len(u.block))}, block: u.block})
			return fmt.Errorf("write ledger update after block %d was committed to the block file (it is applied again on the next open): %w", u.num, err)
		}
		return fmt.Errorf("write ledger update: %w", err)
	}
	s.blocks.end = end
	if u.adopted {
		s.blocks.unindexed = s.blocks.unindexed[1:]
	}
	if s.cache != nil {
		if u.block != nil || u.adopted {
			s.cache.committed(u.stateKeys, u.overlay().writes, u.num+1)
		} else {
			s.cache.forget(u.overlay().writes)
		}
	}
	for _, ns := range u.added {
		s.namespaces[ns] = true
	}
	return nil
}

// Snapshot is a read-only view of the ledger.
type Snapshot struct{ reader }

// Close releases the view and any iterator still open on it.
func (s *Snapshot) Close() error {
	s.release()
	return nil
}

// Update is a view of the ledger that can also write; reads see earlier
// writes of the same update.
type Update struct {
	reader
	known map[string]bool // the store's namespaces before this update
	added []string        // namespaces this update gives their first state
	block []byte          // the block this update appends, if any
	num   uint64          // its number, or the number of the block adopted
	// adopted is set when the update indexes the first unindexed block of
	// the block file instead of appending one.
	adopted bool
	// stateKeys are the state entries written, for the state cache.
	stateKeys []string
}

func (u *Update) overlay() *overlayView { return u.view.(*overlayView) }

type reader struct {
	view   view
	blocks *blockFile
	iters  []iterator.Iterator // released with the view
	dir    string
	// err is the first read that failed. Reads go on (answering as if
	// the key were absent), but the caller must check Err before it uses
	// anything it read: an answer computed on a failed read is wrong.
	err error
}

// Err returns the first read error of this view, with its remedy if the
// store is damaged. A view with an error must not be trusted for anything.
func (r *reader) Err() error { return r.err }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = withRemedy(err, r.dir)
	}
}

// get reads a key, recording a failed read.
func (r *reader) get(key []byte) ([]byte, bool) {
	raw, ok, err := r.view.get(key)
	if err != nil {
		r.fail(err)
		return nil, false
	}
	return raw, ok
}

// iterDone records an iterator's error once it stops.
func (r *reader) iterDone(it iterator.Iterator) {
	if err := it.Error(); err != nil {
		r.fail(indexError(err))
	}
}

func (r *reader) iterate(start, limit []byte) iterator.Iterator {
	it := r.view.iterate(&util.Range{Start: start, Limit: limit})
	r.iters = append(r.iters, it)
	return it
}

func (r *reader) release() {
	for _, it := range r.iters {
		it.Release()
	}
	r.iters = nil
	r.view.release()
}

// Get returns the committed value and version of key in namespace ns.
func (r *reader) Get(ns, key string) (value []byte, ver Height, ok bool) {
	raw, ok := r.get(stateKey(ns, key))
	if !ok || len(raw) < 16 {
		return nil, Height{}, false
	}
	ver, value = decodeVersioned(raw)
	return value, ver, true
}

// Entry is one state entry returned by a range scan.
type Entry struct {
	Key     string
	Value   []byte
	Version Height
}

// Iterator walks a key range in lexical order.
type Iterator struct {
	r       *reader
	it      iterator.Iterator
	ns      string
	prefix  int // length of the namespace prefix of every store key
	started bool
	done    bool
}

// Range returns an iterator over keys in [start, end) of namespace ns; an
// empty end means no upper bound. It is released with its view, or when it
// reaches the end.
func (r *reader) Range(ns, start, end string) *Iterator {
	prefix := nsPrefix(ns)
	limit := prefixLimit(prefix)
	if end != "" {
		limit = escapeKey(slices.Clone(prefix), end)
	}
	it := r.iterate(escapeKey(slices.Clone(prefix), start), limit)
	return &Iterator{r: r, it: it, ns: ns, prefix: len(prefix)}
}

// Next returns the next entry, or false at the end of the range.
func (it *Iterator) Next() (Entry, bool) {
	if it.done {
		return Entry{}, false
	}
	ok := false
	if !it.started {
		ok, it.started = it.it.First(), true
	} else {
		ok = it.it.Next()
	}
	for ok {
		key, kind, valid := splitKey(it.it.Key()[it.prefix:])
		switch {
		case !valid:
			// Only this package writes these keys; one it cannot read is
			// corruption, which VerifyState reports. Skip it here.
			ok = it.it.Next()
		case kind == kindState:
			ver, val := decodeVersioned(it.it.Value())
			return Entry{Key: key, Value: slices.Clone(val), Version: ver}, true
		default:
			// History of a key (deleted, or whose state entry was just
			// returned): jump past all of it.
			ok = it.it.Seek(append(nsPrefix(it.ns), afterHistory(key)...))
		}
	}
	it.done = true
	it.r.iterDone(it.it)
	it.it.Release()
	return Entry{}, false
}

// Namespaces returns the namespaces that hold state, sorted.
func (r *reader) Namespaces() []string {
	var out []string
	it := r.iterate(util.BytesPrefix([]byte{tagNamespace}).Start, util.BytesPrefix([]byte{tagNamespace}).Limit)
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, string(it.Key()[1:]))
	}
	r.iterDone(it)
	return out
}

// History returns every committed modification of key, newest first, with
// the value each wrote read from its block.
func (r *reader) History(ns, key string) ([]*queryresult.KeyModification, error) {
	prefix := historyPrefix(ns, key)
	it := r.iterate(prefix, prefixLimit(prefix))
	var out []*queryresult.KeyModification
	for ok := it.First(); ok; ok = it.Next() {
		var m queryresult.KeyModification
		suffix := it.Key()[len(prefix):]
		if len(suffix) != 16 || proto.Unmarshal(it.Value(), &m) != nil {
			return nil, fmt.Errorf("history of %q: corrupt entry", key)
		}
		if !m.GetIsDelete() {
			at := Height{Block: binary.BigEndian.Uint64(suffix[:8]), Tx: binary.BigEndian.Uint64(suffix[8:])}
			value, err := r.writtenValue(at, ns, key)
			if err != nil {
				return nil, fmt.Errorf("history of %q: %w", key, err)
			}
			m.Value = value
		}
		out = append(out, &m)
	}
	r.iterDone(it)
	if r.err != nil {
		return nil, fmt.Errorf("history of %q: %w", key, r.err)
	}
	slices.Reverse(out)
	return out, nil
}

// writtenValue finds the value that the transaction at the given height
// wrote to key.
func (r *reader) writtenValue(at Height, ns, key string) ([]byte, error) {
	raw, err := r.Block(at.Block)
	if err != nil {
		return nil, err
	}
	var b common.Block
	if err := proto.Unmarshal(raw, &b); err != nil || at.Tx >= uint64(len(b.GetData().GetData())) {
		return nil, fmt.Errorf("block %d has no transaction %d", at.Block, at.Tx)
	}
	var env common.Envelope
	if err := proto.Unmarshal(b.GetData().GetData()[at.Tx], &env); err != nil {
		return nil, fmt.Errorf("block %d transaction %d: %w", at.Block, at.Tx, err)
	}
	tx, err := fabmsg.ParseTransaction(&env)
	if err != nil {
		return nil, fmt.Errorf("block %d transaction %d: %w", at.Block, at.Tx, err)
	}
	for _, set := range tx.RWSet.GetNsRwset() {
		if set.GetNamespace() != ns {
			continue
		}
		var kv kvrwset.KVRWSet
		if err := proto.Unmarshal(set.GetRwset(), &kv); err != nil {
			return nil, fmt.Errorf("block %d transaction %d: %w", at.Block, at.Tx, err)
		}
		for _, w := range kv.GetWrites() {
			if w.GetKey() == key {
				return w.GetValue(), nil
			}
		}
	}
	return nil, fmt.Errorf("block %d transaction %d did not write %s/%q", at.Block, at.Tx, ns, key)
}

// TxStatus looks a transaction up in the index.
func (r *reader) TxStatus(txID string) (TxStatus, bool) {
	raw, ok := r.get(txKey(txID))
	return decodeTxStatus(raw, ok)
}

// TxStatus looks a transaction up in the committed index: one key, read
// without the snapshot (and its height lookup) a view would take, for the
// duplicate check of every endorsement and every commit-status request.
func (s *Store) TxStatus(txID string) (TxStatus, bool, error) {
	raw, err := s.db.Get(txKey(txID), nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		return TxStatus{}, false, nil
	case err != nil:
		return TxStatus{}, false, withRemedy(indexError(err), s.dir)
	}
	st, ok := decodeTxStatus(raw, true)
	return st, ok, nil
}

func decodeTxStatus(raw []byte, ok bool) (TxStatus, bool) {
	if !ok || len(raw) != 20 {
		return TxStatus{}, false
	}
	return TxStatus{
		Block: binary.BigEndian.Uint64(raw[0:8]),
		Tx:    binary.BigEndian.Uint64(raw[8:16]),
		Code:  peer.TxValidationCode(int32(binary.BigEndian.Uint32(raw[16:20]))),
	}, true
}

// BlockBytes returns the marshaled block with the given number, or false
// when there is none; a block that cannot be read is also false, and the
// view's Err says why.
func (r *reader) BlockBytes(num uint64) ([]byte, bool) {
	raw, err := r.Block(num)
	if err != nil {
		r.fail(err)
		return nil, false
	}
	return raw, true
}

// ErrNoBlock is returned for a block number beyond the chain.
var ErrNoBlock = errors.New("no such block")

// Block returns the marshaled block with the given number: ErrNoBlock when
// the index has none, an ErrDamaged error naming the block when its record
// does not hold what was written.
func (r *reader) Block(num uint64) ([]byte, error) {
	raw, ok, err := r.view.get(blockKey(num))
	if err != nil {
		return nil, withRemedy(err, r.dir)
	}
	if !ok {
		return nil, fmt.Errorf("block %d: %w", num, ErrNoBlock)
	}
	loc, ok := decodeLocation(raw)
	if !ok {
		return nil, withRemedy(fmt.Errorf("%w: %w: the location of block %d is malformed", ErrDamaged, errIndexDamaged, num), r.dir)
	}
	block, err := r.blocks.read(loc.offset, loc.length)
	switch {
	case errors.Is(err, errBadRecord):
		return nil, withRemedy(blockDamage(num, loc.offset, strings.TrimPrefix(err.Error(), errBadRecord.Error()+": ")), r.dir)
	case err != nil:
		return nil, fmt.Errorf("block %d: %w", num, err)
	}
	return block, nil
}

func (r *reader) blockLocation(num uint64) (blockLocation, bool) {
	raw, ok := r.get(blockKey(num))
	if !ok {
		return blockLocation{}, false
	}
	return decodeLocation(raw)
}

// BlockBytes returns the marshaled block with the given number, including
// the one this update appends.
func (u *Update) BlockBytes(num uint64) ([]byte, bool) {
	if u.block != nil && num == u.num {
		return slices.Clone(u.block), true
	}
	return u.reader.BlockBytes(num)
}

// BlockCount returns the number of committed blocks, as Height does; a
// snapshot of the open store has it at hand, read when it was opened.
func (r *reader) BlockCount() uint64 {
	if v, ok := r.view.(cachedView); ok {
		return v.height
	}
	h, _ := r.Height()
	return h
}

// Height returns the number of committed blocks and the hash of the last
// block's header (nil when there is none).
func (r *reader) Height() (uint64, []byte) {
	raw, ok := r.get(metaKey(keyHeight))
	if !ok || len(raw) != 8 {
		return 0, nil
	}
	tip, _ := r.get(metaKey(keyTipHash))
	return binary.BigEndian.Uint64(raw), tip
}

// Put writes key at version ver.
func (u *Update) Put(ns, key string, value []byte, ver Height) error {
	if key == "" {
		return errors.New("put: empty key")
	}
	u.noteNamespace(ns)
	k := stateKey(ns, key)
	u.overlay().put(k, encodeVersioned(ver, value))
	u.stateKeys = append(u.stateKeys, string(k))
	return nil
}

// noteNamespace records that ns holds state, for Namespaces.
func (u *Update) noteNamespace(ns string) {
	if u.known[ns] || slices.Contains(u.added, ns) {
		return
	}
	u.added = append(u.added, ns)
	u.overlay().put(namespaceKey(ns), nil)
}

// Delete removes key.
func (u *Update) Delete(ns, key string) error {
	k := stateKey(ns, key)
	u.overlay().delete(k)
	u.stateKeys = append(u.stateKeys, string(k))
	return nil
}

// AddHistory records a modification of key made at height ver. As in
// Fabric's history database, the entry holds no value: History reads it
// from the block, which keeps every value out of the index a second time.
func (u *Update) AddHistory(ns, key string, ver Height, m *queryresult.KeyModification) error {
	if key == "" {
		return errors.New("history: empty key")
	}
	raw, err := proto.Marshal(&queryresult.KeyModification{TxId: m.GetTxId(), Timestamp: m.GetTimestamp(), IsDelete: m.GetIsDelete()})
	if err != nil {
		return fmt.Errorf("history %s/%q: %w", ns, key, err)
	}
	u.noteNamespace(ns)
	u.overlay().put(historyKey(ns, key, ver), raw)
	return nil
}

// IndexTx records a transaction's commit status. The first commit of an ID
// is the one that counts: the caller indexes each ID once, leaving out the
// duplicates it found (an index lookup here, of a key nearly always absent,
// would cost a probe of every LevelDB level-0 table).
func (u *Update) IndexTx(txID string, st TxStatus) error {
	k := txKey(txID)
	raw := make([]byte, 20)
	binary.BigEndian.PutUint64(raw[0:8], st.Block)
	binary.BigEndian.PutUint64(raw[8:16], st.Tx)
	binary.BigEndian.PutUint32(raw[16:20], uint32(int32(st.Code)))
	u.overlay().put(k, raw)
	return nil
}

// AppendBlock stores block number num (which must be the current height)
// and makes headerHash the new tip.
func (u *Update) AppendBlock(num uint64, blockBytes, headerHash []byte) error {
	if h, _ := u.Height(); h != num {
		return fmt.Errorf("append block %d: ledger height is %d", num, h)
	}
	if u.block != nil || u.adopted {
		return fmt.Errorf("append block %d: block %d is already appended by this update", num, u.num)
	}
	if len(blockBytes) > math.MaxUint32 {
		return fmt.Errorf("append block %d: %d bytes is more than a block record holds", num, len(blockBytes))
	}
	u.block, u.num = blockBytes, num
	o := u.overlay()
	o.put(blockKey(num), blockLocation{offset: u.blocks.end, length: uint32(len(blockBytes))}.encode())
	o.put(metaKey(keyHeight), u64(num+1))
	o.put(metaKey(keyTipHash), slices.Clone(headerHash))
	return nil
}

// UnindexedBlock is a block in the block file that the index lacks.
type UnindexedBlock struct {
	Num   uint64
	Bytes []byte
}

// Unindexed returns the blocks in the block file beyond the index, oldest
// first: committed blocks whose state LevelDB lost in a crash. The ledger
// applies them with AdoptBlock before it commits anything else.
func (s *Store) Unindexed() []UnindexedBlock {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var height uint64
	s.View(func(snap *Snapshot) error { height, _ = snap.Height(); return nil })
	out := make([]UnindexedBlock, len(s.blocks.unindexed))
	for i, r := range s.blocks.unindexed {
		out[i] = UnindexedBlock{Num: height + uint64(i), Bytes: slices.Clone(r.block)}
	}
	return out
}

// AdoptBlock indexes the first unindexed block of the block file as block
// num (which must be the current height), with headerHash as the new tip;
// the caller applies the block's writes in the same update.
func (u *Update) AdoptBlock(num uint64, headerHash []byte) error {
	if h, _ := u.Height(); h != num {
		return fmt.Errorf("adopt block %d: ledger height is %d", num, h)
	}
	if u.block != nil || u.adopted {
		return fmt.Errorf("adopt block %d: this update already adds block %d", num, u.num)
	}
	if len(u.blocks.unindexed) == 0 {
		return fmt.Errorf("adopt block %d: the block file holds no unindexed block", num)
	}
	u.adopted, u.num = true, num
	o := u.overlay()
	o.put(blockKey(num), u.blocks.unindexed[0].loc.encode())
	o.put(metaKey(keyHeight), u64(num+1))
	o.put(metaKey(keyTipHash), slices.Clone(headerHash))
	return nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func encodeVersioned(ver Height, value []byte) []byte {
	raw := make([]byte, 16, 16+len(value))
	binary.BigEndian.PutUint64(raw[0:8], ver.Block)
	binary.BigEndian.PutUint64(raw[8:16], ver.Tx)
	return append(raw, value...)
}

func decodeVersioned(raw []byte) (Height, []byte) {
	return Height{Block: binary.BigEndian.Uint64(raw[0:8]), Tx: binary.BigEndian.Uint64(raw[8:16])}, raw[16:]
}

// prefixLimit is the first key after every key that starts with prefix.
func prefixLimit(prefix []byte) []byte { return util.BytesPrefix(prefix).Limit }

// Scan reads every entry of the index (state, history, the block and
// transaction indexes), so that LevelDB checks the checksum of every table
// block, and returns how many it read. A damaged table is an ErrDamaged
// error with the remedy.
func (r *reader) Scan(ctx context.Context) (uint64, error) {
	it := r.iterate(nil, nil)
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
	}
	r.iterDone(it)
	return n, r.err
}
