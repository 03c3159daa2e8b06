package shimstub

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Committed is the committed world state of one chaincode namespace, as a
// transaction reads it. A stub that must record what it read (the embedded
// ledger's simulator, for MVCC validation) does so in its implementation.
type Committed interface {
	// Get returns key's committed value; found is false when it has none.
	Get(key string) (value []byte, found bool, err error)
	// Range returns a cursor over the committed keys in [start, end), in
	// key order; an empty end means no upper bound.
	Range(start, end string) (Cursor, error)
	// History returns key's committed modifications, newest first.
	History(key string) ([]*queryresult.KeyModification, error)
}

// Cursor walks committed keys in order.
type Cursor interface {
	// Next returns the next key and value; ok is false after the last.
	Next() (key string, value []byte, ok bool, err error)
}

// Errors for what a peer without CouchDB, private data or key-level
// policies refuses.
var (
	ErrRichQuery         = errors.New("rich (JSON) queries need CouchDB; the state database is key-value only")
	ErrKeyLevelPolicy    = errors.New("state-based (key-level) endorsement is not supported")
	ErrPaginatedWithRWTx = errors.New("paginated queries are only supported in read-only transactions, but this transaction also writes")
	errIteratorDone      = errors.New("no more results in iterator")
)

const (
	compositeKeyNamespace = "\x00"
	// emptyKeySubstitute is where Fabric starts a range query whose start
	// key is empty: after the composite key namespace.
	emptyKeySubstitute = "\x01"
)

// Write is one buffered write: a value, or a delete.
type Write struct {
	Key    string
	Value  []byte // nil for a delete
	Delete bool
}

// Event is the transaction's chaincode event.
type Event struct {
	Name    string
	Payload []byte
}

// State implements the world-state part of shim.ChaincodeStubInterface
// with a Fabric peer's semantics, over a Committed state:
//
//   - reads see committed state only, never the transaction's own writes;
//   - PutState with an empty value is a delete, as on a peer, where an
//     empty value arrives as nil and the write set records a delete;
//   - keys are non-empty, valid UTF-8 and at most MaxKeyLen bytes;
//   - range queries skip the composite-key namespace, an empty start key
//     starting after it; partial composite keys range over their prefix;
//   - paginated queries start at the bookmark (inclusive), return the next
//     page's first key as the bookmark, and make the transaction read-only;
//   - history is newest first; the last event set wins;
//   - rich queries, private data and key-level policies are refused.
//
// Both of the project's stubs embed it: chaincode/stubtest, on which the
// chaincode's tests run, and the embedded ledger's simulator.
type State struct {
	NoPrivateData
	committed Committed
	maxKeyLen int
	writes    map[string]Write
	paginated bool
	event     *Event
}

// NewState returns the world-state view of one transaction. privateDataErr
// is what the private data calls return; maxKeyLen bounds keys (0: none).
func NewState(committed Committed, maxKeyLen int, privateDataErr error) *State {
	return &State{
		NoPrivateData: NoPrivateData{Err: privateDataErr},
		committed:     committed, maxKeyLen: maxKeyLen,
		writes: map[string]Write{},
	}
}

// Writes returns the buffered writes sorted by key, as Fabric orders a
// write set so that endorsements are deterministic.
func (s *State) Writes() []Write {
	out := make([]Write, 0, len(s.writes))
	for _, k := range slices.Sorted(maps.Keys(s.writes)) {
		out = append(out, s.writes[k])
	}
	return out
}

// CheckWritable refuses a transaction that made a paginated query and
// also writes: Fabric endorses paginated queries in read-only
// transactions only.
func (s *State) CheckWritable() error {
	if s.paginated && len(s.writes) > 0 {
		return ErrPaginatedWithRWTx
	}
	return nil
}

// Event returns the event set last, or nil.
func (s *State) Event() *Event { return s.event }

// GetState reads committed state.
func (s *State) GetState(key string) ([]byte, error) {
	if err := s.validKey(key); err != nil {
		return nil, err
	}
	v, found, err := s.committed.Get(key)
	if err != nil || !found {
		return nil, err
	}
	return v, nil
}

// GetMultipleStates reads several keys.
func (s *State) GetMultipleStates(keys ...string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.GetState(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// PutState buffers a write; an empty value is a delete.
func (s *State) PutState(key string, value []byte) error {
	if err := s.validKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		s.writes[key] = Write{Key: key, Delete: true}
		return nil
	}
	s.writes[key] = Write{Key: key, Value: slices.Clone(value)}
	return nil
}

// DelState buffers a delete.
func (s *State) DelState(key string) error {
	if err := s.validKey(key); err != nil {
		return err
	}
	s.writes[key] = Write{Key: key, Delete: true}
	return nil
}

func (s *State) validKey(key string) error {
	if key == "" {
		return errors.New("key must not be an empty string")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %x is not valid UTF-8", key)
	}
	if s.maxKeyLen > 0 && len(key) > s.maxKeyLen {
		return fmt.Errorf("key of %d bytes is longer than the %d allowed", len(key), s.maxKeyLen)
	}
	return nil
}

// SetStateValidationParameter is refused.
func (s *State) SetStateValidationParameter(string, []byte) error { return ErrKeyLevelPolicy }

// GetStateValidationParameter is refused.
func (s *State) GetStateValidationParameter(string) ([]byte, error) { return nil, ErrKeyLevelPolicy }

// GetStateByRange iterates over simple keys in [startKey, endKey).
func (s *State) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	startKey, err := simpleRange(startKey, endKey)
	if err != nil {
		return nil, err
	}
	return s.rangeQuery(startKey, endKey)
}

// GetStateByRangeWithPagination is GetStateByRange one page at a time.
func (s *State) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	startKey, err := simpleRange(startKey, endKey)
	if err != nil {
		return nil, nil, err
	}
	return s.page(startKey, endKey, pageSize, bookmark)
}

// GetStateByPartialCompositeKey iterates over composite keys with the given prefix.
func (s *State) GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	return s.rangeQuery(start, end)
}

// GetStateByPartialCompositeKeyWithPagination pages through a partial composite key.
func (s *State) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	return s.page(start, end, pageSize, bookmark)
}

// GetAllStatesCompositeKeyWithPagination pages through every composite key.
func (s *State) GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return s.page(compositeKeyNamespace, compositeKeyNamespace+string(utf8.MaxRune), pageSize, bookmark)
}

func (s *State) page(start, end string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	if pageSize <= 0 {
		return nil, nil, fmt.Errorf("page size must be positive, got %d", pageSize)
	}
	if bookmark != "" {
		if bookmark < start || (end != "" && bookmark >= end) {
			return nil, nil, fmt.Errorf("bookmark %q is outside the queried range", bookmark)
		}
		start = bookmark
	}
	s.paginated = true
	cur, err := s.committed.Range(start, end)
	if err != nil {
		return nil, nil, err
	}
	// The page is materialized: its metadata tells how many records it
	// holds and where the next page starts.
	var kvs []*queryresult.KV
	meta := &peer.QueryResponseMetadata{}
	for {
		k, v, ok, err := cur.Next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		if len(kvs) == int(pageSize) {
			meta.Bookmark = k
			break
		}
		kvs = append(kvs, &queryresult.KV{Key: k, Value: v})
	}
	meta.FetchedRecordsCount = int32(len(kvs))
	return &sliceIterator{kvs: kvs}, meta, nil
}

func (s *State) rangeQuery(start, end string) (shim.StateQueryIteratorInterface, error) {
	cur, err := s.committed.Range(start, end)
	if err != nil {
		return nil, err
	}
	return &cursorIterator{cur: cur}, nil
}

// simpleRange checks a range of simple keys and substitutes Fabric's start
// for an empty one.
func simpleRange(start, end string) (string, error) {
	for _, k := range []string{start, end} {
		if len(k) > 0 && k[0] == compositeKeyNamespace[0] {
			return "", fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", k)
		}
	}
	if start == "" {
		start = emptyKeySubstitute
	}
	return start, nil
}

func partialCompositeRange(objectType string, keys []string) (string, string, error) {
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return "", "", err
	}
	return prefix, prefix + string(utf8.MaxRune), nil
}

// CreateCompositeKey builds a composite key with Fabric's encoding.
func (s *State) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

// SplitCompositeKey splits a key made by CreateCompositeKey.
func (s *State) SplitCompositeKey(compositeKey string) (string, []string, error) {
	return SplitCompositeKey(compositeKey)
}

// SplitCompositeKey splits a composite key into object type and attributes,
// refusing (where the shim would return garbage) anything CreateCompositeKey
// cannot have made.
func SplitCompositeKey(compositeKey string) (string, []string, error) {
	if len(compositeKey) < 2 || compositeKey[0] != compositeKeyNamespace[0] || compositeKey[len(compositeKey)-1] != 0 {
		return "", nil, fmt.Errorf("%q is not a composite key", compositeKey)
	}
	var parts []string
	from := 1
	for i := 1; i < len(compositeKey); i++ {
		if compositeKey[i] == 0 {
			parts = append(parts, compositeKey[from:i])
			from = i + 1
		}
	}
	return parts[0], parts[1:], nil
}

// GetQueryResult is refused: no CouchDB.
func (s *State) GetQueryResult(string) (shim.StateQueryIteratorInterface, error) {
	return nil, ErrRichQuery
}

// GetQueryResultWithPagination is refused: no CouchDB.
func (s *State) GetQueryResultWithPagination(string, int32, string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, ErrRichQuery
}

// GetHistoryForKey returns the key's committed modifications, newest first.
// As in Fabric, history reads are not validated at commit.
func (s *State) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	if err := s.validKey(key); err != nil {
		return nil, err
	}
	mods, err := s.committed.History(key)
	if err != nil {
		return nil, err
	}
	return &historyIterator{mods: mods}, nil
}

// SetEvent sets the transaction's chaincode event; the last call wins.
func (s *State) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.event = &Event{Name: name, Payload: slices.Clone(payload)}
	return nil
}

// StartWriteBatch has no effect: writes are already local to the transaction.
func (s *State) StartWriteBatch() {}

// FinishWriteBatch has no effect.
func (s *State) FinishWriteBatch() error { return nil }

// cursorIterator serves a range query from a cursor, one key ahead.
type cursorIterator struct {
	cur    Cursor
	next   *queryresult.KV
	err    error
	done   bool
	closed bool
}

func (it *cursorIterator) pull() {
	if it.next != nil || it.done || it.closed {
		return
	}
	k, v, ok, err := it.cur.Next()
	switch {
	case err != nil:
		it.err, it.done = err, true
	case !ok:
		it.done = true
	default:
		it.next = &queryresult.KV{Key: k, Value: v}
	}
}

// HasNext reports whether Next has a result or an error to return.
func (it *cursorIterator) HasNext() bool {
	it.pull()
	return it.next != nil || it.err != nil
}

// Next returns the next key and value.
func (it *cursorIterator) Next() (*queryresult.KV, error) {
	if !it.HasNext() {
		return nil, errIteratorDone
	}
	if it.err != nil {
		err := it.err
		it.err = nil
		return nil, err
	}
	kv := it.next
	it.next = nil
	return kv, nil
}

// Close ends the iteration.
func (it *cursorIterator) Close() error {
	it.closed, it.next = true, nil
	return nil
}

type sliceIterator struct{ kvs []*queryresult.KV }

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
