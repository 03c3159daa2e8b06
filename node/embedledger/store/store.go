// Package store is the embedded ledger's durable storage on bbolt: the
// versioned world state, the key history, the blocks and the transaction
// index. A block is committed with everything it changes in one bbolt
// transaction, fsynced before Commit returns, so a crash leaves either the
// whole block or none of it.
//
// A key's history entries sit right after its state entry, in the same
// namespace bucket (see keys.go): a write and its history record then
// usually dirty the same B+tree page, and the commit, whose cost is the
// pages it writes, has about half the pages to write for a token mint.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

var (
	bucketState = []byte("state")
	// bucketHistory held key history apart from the state in format 1; it
	// is only read to migrate such a store.
	bucketHistory = []byte("history")
	// bucketBlocks holds one sub-bucket per block, named by its number,
	// holding the block under keyBlock. A block is written once: stored as
	// plain values side by side, each new block would rewrite the leaf page
	// holding the previous one, writing every block's bytes twice.
	bucketBlocks = []byte("blockstore")
	keyBlock     = []byte("block")
	// bucketBlocksFormat1 held the blocks as plain values in format 1.
	bucketBlocksFormat1 = []byte("blocks")
	bucketTxIndex       = []byte("txindex")
	bucketMeta          = []byte("meta")
	keyHeight           = []byte("height")
	keyTipHash          = []byte("tiphash")
	keyFormat           = []byte("format")
)

// format is the layout version; see migrate.
const format = 2

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

// Store is the ledger's bbolt database.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 5 * time.Second,
		// The freelist is rebuilt on open instead of written on every
		// commit: fewer pages per fsync, same crash safety.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Growing the memory map waits for every open read transaction,
		// i.e. for every running simulation; mapping 1 GiB of address
		// space up front keeps commits from stalling on that.
		InitialMmapSize: 1 << 30,
		// 16 KiB pages: a block's writes become fewer, larger page runs,
		// which the commit's fdatasync flushes markedly faster than 4 KiB
		// pages (TokenMint throughput ~1.6x on the development VM; 32 and
		// 64 KiB were no better). Fixed when the database is created.
		PageSize: 16 * 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("open ledger store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketState, bucketBlocks, bucketTxIndex, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return migrate(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialize ledger store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Snapshot opens a consistent read view. Close it promptly: a long-lived
// view holds back bbolt's page reuse.
func (s *Store) Snapshot() (*Snapshot, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("open ledger snapshot: %w", err)
	}
	return &Snapshot{reader{tx}}, nil
}

// View runs fn on a snapshot that is closed when fn returns.
func (s *Store) View(fn func(*Snapshot) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Snapshot{reader{tx}}) })
}

// Commit runs fn in one write transaction and makes its effects durable
// before returning. If fn fails nothing is written.
func (s *Store) Commit(fn func(*Update) error) error {
	before := s.db.Stats().TxStats
	err := s.db.Update(func(tx *bolt.Tx) error { return fn(&Update{reader{tx}}) })
	after := s.db.Stats().TxStats
	if os.Getenv("LEDGER_TRACE") != "" {
		fmt.Fprintf(os.Stderr, "pages-written %d\n", after.GetWrite()-before.GetWrite())
	}
	return err
}

// Snapshot is a read-only view of the ledger.
type Snapshot struct{ reader }

// Close releases the view.
func (s *Snapshot) Close() error { return s.tx.Rollback() }

// Update is a view of the ledger that can also write; reads see earlier
// writes of the same update.
type Update struct{ reader }

type reader struct{ tx *bolt.Tx }

// Get returns the committed value and version of key in namespace ns.
func (r reader) Get(ns, key string) (value []byte, ver Height, ok bool) {
	b := r.tx.Bucket(bucketState).Bucket([]byte(ns))
	if b == nil {
		return nil, Height{}, false
	}
	raw := b.Get(stateKey(key))
	if raw == nil {
		return nil, Height{}, false
	}
	ver, value = decodeVersioned(raw)
	return slices.Clone(value), ver, true
}

// Entry is one state entry returned by a range scan.
type Entry struct {
	Key     string
	Value   []byte
	Version Height
}

// Iterator walks a key range in lexical order.
type Iterator struct {
	c       *bolt.Cursor
	end     []byte // encoded bound, nil for none
	k, v    []byte
	started bool
	start   []byte // encoded
}

// Range returns an iterator over keys in [start, end) of namespace ns; an
// empty end means no upper bound.
func (r reader) Range(ns, start, end string) *Iterator {
	it := &Iterator{start: escapeKey(nil, start)}
	if end != "" {
		it.end = escapeKey(nil, end)
	}
	if b := r.tx.Bucket(bucketState).Bucket([]byte(ns)); b != nil {
		it.c = b.Cursor()
	}
	return it
}

// Next returns the next entry, or false at the end of the range.
func (it *Iterator) Next() (Entry, bool) {
	if it.c == nil {
		return Entry{}, false
	}
	if !it.started {
		it.k, it.v = it.c.Seek(it.start)
		it.started = true
	} else {
		it.k, it.v = it.c.Next()
	}
	for {
		if it.k == nil || (it.end != nil && bytes.Compare(it.k, it.end) >= 0) {
			it.c = nil
			return Entry{}, false
		}
		key, kind, ok := splitKey(it.k)
		if !ok {
			// Only this package writes the bucket; a key it cannot read
			// is corruption, which VerifyState reports. Skip it here.
			it.k, it.v = it.c.Next()
			continue
		}
		if kind == kindState {
			ver, val := decodeVersioned(it.v)
			return Entry{Key: key, Value: slices.Clone(val), Version: ver}, true
		}
		// History of a key (deleted, or whose state entry was just
		// returned): jump past all of it.
		it.k, it.v = it.c.Seek(afterHistory(key))
	}
}

// Namespaces returns the namespaces that hold state, sorted.
func (r reader) Namespaces() []string {
	var out []string
	r.tx.Bucket(bucketState).ForEachBucket(func(k []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// History returns every committed modification of key, newest first.
func (r reader) History(ns, key string) ([]*queryresult.KeyModification, error) {
	b := r.tx.Bucket(bucketState).Bucket([]byte(ns))
	if b == nil {
		return nil, nil
	}
	prefix := historyPrefix(key)
	var out []*queryresult.KeyModification
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var m queryresult.KeyModification
		if err := proto.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("history of %q: corrupt entry: %w", key, err)
		}
		out = append(out, &m)
	}
	slices.Reverse(out)
	return out, nil
}

// TxStatus looks a transaction up in the index.
func (r reader) TxStatus(txID string) (TxStatus, bool) {
	raw := r.tx.Bucket(bucketTxIndex).Get([]byte(txID))
	if len(raw) != 20 {
		return TxStatus{}, false
	}
	return TxStatus{
		Block: binary.BigEndian.Uint64(raw[0:8]),
		Tx:    binary.BigEndian.Uint64(raw[8:16]),
		Code:  peer.TxValidationCode(int32(binary.BigEndian.Uint32(raw[16:20]))),
	}, true
}

// BlockBytes returns the marshaled block with the given number.
func (r reader) BlockBytes(num uint64) ([]byte, bool) {
	b := r.tx.Bucket(bucketBlocks).Bucket(u64(num))
	if b == nil {
		return nil, false
	}
	raw := b.Get(keyBlock)
	if raw == nil {
		return nil, false
	}
	return slices.Clone(raw), true
}

// Height returns the number of committed blocks and the hash of the last
// block's header (nil when there is none).
func (r reader) Height() (uint64, []byte) {
	meta := r.tx.Bucket(bucketMeta)
	raw := meta.Get(keyHeight)
	if raw == nil {
		return 0, nil
	}
	return binary.BigEndian.Uint64(raw), slices.Clone(meta.Get(keyTipHash))
}

// Put writes key at version ver.
func (u *Update) Put(ns, key string, value []byte, ver Height) error {
	if key == "" {
		return errors.New("put: empty key")
	}
	b, err := u.tx.Bucket(bucketState).CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return fmt.Errorf("put %s/%q: %w", ns, key, err)
	}
	return b.Put(stateKey(key), encodeVersioned(ver, value))
}

// Delete removes key.
func (u *Update) Delete(ns, key string) error {
	b := u.tx.Bucket(bucketState).Bucket([]byte(ns))
	if b == nil {
		return nil
	}
	return b.Delete(stateKey(key))
}

// AddHistory records a modification of key made at height ver.
func (u *Update) AddHistory(ns, key string, ver Height, m *queryresult.KeyModification) error {
	if key == "" {
		return errors.New("history: empty key")
	}
	b, err := u.tx.Bucket(bucketState).CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return fmt.Errorf("history %s/%q: %w", ns, key, err)
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("history %s/%q: %w", ns, key, err)
	}
	return b.Put(historyKey(key, ver), raw)
}

// IndexTx records a transaction's commit status. An already indexed ID is
// kept: the first commit of a transaction ID is the one that counts.
func (u *Update) IndexTx(txID string, st TxStatus) error {
	b := u.tx.Bucket(bucketTxIndex)
	if b.Get([]byte(txID)) != nil {
		return nil
	}
	raw := make([]byte, 20)
	binary.BigEndian.PutUint64(raw[0:8], st.Block)
	binary.BigEndian.PutUint64(raw[8:16], st.Tx)
	binary.BigEndian.PutUint32(raw[16:20], uint32(int32(st.Code)))
	return b.Put([]byte(txID), raw)
}

// AppendBlock stores block number num (which must be the current height)
// and makes headerHash the new tip.
func (u *Update) AppendBlock(num uint64, blockBytes, headerHash []byte) error {
	if h, _ := u.Height(); h != num {
		return fmt.Errorf("append block %d: ledger height is %d", num, h)
	}
	b, err := u.tx.Bucket(bucketBlocks).CreateBucket(u64(num))
	if err != nil {
		return fmt.Errorf("append block %d: %w", num, err)
	}
	if err := b.Put(keyBlock, blockBytes); err != nil {
		return fmt.Errorf("append block %d: %w", num, err)
	}
	meta := u.tx.Bucket(bucketMeta)
	if err := meta.Put(keyHeight, u64(num+1)); err != nil {
		return err
	}
	return meta.Put(keyTipHash, headerHash)
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
