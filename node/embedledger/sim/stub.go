// Package sim runs a chaincode invocation against a snapshot of the world
// state, as a Fabric peer's transaction simulator does: reads come from
// committed state and are recorded with their versions, writes are buffered
// into a write set, range queries are recorded for phantom detection at
// commit. The Stub implements shim.ChaincodeStubInterface so that any
// shim.Chaincode (contract API chaincode included) runs in-process.
package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/chaincode/shimstub"
	"github.com/srellama/srellama/node/embedledger/mvcc"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// State is the committed state a simulation reads.
type State interface {
	Get(ns, key string) ([]byte, store.Height, bool)
	Range(ns, start, end string) *store.Iterator
	History(ns, key string) ([]*queryresult.KeyModification, error)
}

// Invocation is what the chaincode sees of a verified proposal.
type Invocation struct {
	TxID      string
	ChannelID string
	Timestamp *timestamppb.Timestamp
	Creator   []byte // serialized msp.SerializedIdentity
	Nonce     []byte
	Epoch     uint64
	Args      [][]byte
	Transient map[string][]byte
	Signed    *peer.SignedProposal
}

// Errors for features the embedded ledger deliberately does not offer.
var (
	ErrPrivateData       = errors.New("private data collections are not supported by the embedded ledger")
	ErrKeyLevelPolicy    = errors.New("state-based (key-level) endorsement is not supported by the embedded ledger")
	ErrRichQuery         = errors.New("rich (JSON) queries need CouchDB; the embedded ledger's state database is key-value only")
	ErrChaincodeToCC     = errors.New("chaincode-to-chaincode invocation is not supported by the embedded ledger")
	ErrPaginatedWithRWTx = errors.New("paginated queries are only supported in read-only transactions, but this transaction also writes")
)

const (
	compositeKeyNamespace = "\x00"
	emptyKeySubstitute    = "\x01"
)

// Stub is the simulator. It is not safe for concurrent use; Fabric's shim
// is not either.
type Stub struct {
	// The private data calls are refused with ErrPrivateData.
	shimstub.NoPrivateData

	ns    string
	inv   *Invocation
	state State

	reads     map[string]*kvrwset.KVRead
	writes    map[string]*kvrwset.KVWrite
	ranges    []*kvrwset.RangeQueryInfo
	paginated bool
	event     *peer.ChaincodeEvent
}

var _ shim.ChaincodeStubInterface = (*Stub)(nil)

// NewStub prepares a simulation of inv against namespace ns (the chaincode
// name) of state.
func NewStub(ns string, inv *Invocation, state State) *Stub {
	return &Stub{
		NoPrivateData: shimstub.NoPrivateData{Err: ErrPrivateData},
		ns:            ns, inv: inv, state: state,
		reads:  map[string]*kvrwset.KVRead{},
		writes: map[string]*kvrwset.KVWrite{},
	}
}

// Result is what a simulation produced.
type Result struct {
	RWBytes []byte               // the marshalled TxReadWriteSet
	Event   *peer.ChaincodeEvent // nil when the chaincode set none
}

// Result assembles the read-write set (reads and writes sorted by key, as
// Fabric does, so that endorsements are deterministic).
func (s *Stub) Result() (*Result, error) {
	if s.paginated && len(s.writes) > 0 {
		return nil, ErrPaginatedWithRWTx
	}
	kv := &kvrwset.KVRWSet{RangeQueriesInfo: s.ranges}
	for _, k := range slices.Sorted(maps.Keys(s.reads)) {
		kv.Reads = append(kv.Reads, s.reads[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.writes)) {
		kv.Writes = append(kv.Writes, s.writes[k])
	}
	raw, err := marshalRWSet(s.ns, kv)
	if err != nil {
		return nil, fmt.Errorf("marshal read-write set: %w", err)
	}
	return &Result{RWBytes: raw, Event: s.event}, nil
}

// marshalRWSet encodes the TxReadWriteSet of one namespace's KV set.
func marshalRWSet(ns string, kv *kvrwset.KVRWSet) ([]byte, error) {
	kvBytes, err := proto.Marshal(kv)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&rwset.TxReadWriteSet{
		DataModel: rwset.TxReadWriteSet_KV,
		NsRwset:   []*rwset.NsReadWriteSet{{Namespace: ns, Rwset: kvBytes}},
	})
}

// GetArgs returns the invocation arguments, function name first.
func (s *Stub) GetArgs() [][]byte { return s.inv.Args }

// GetStringArgs returns the arguments as strings.
func (s *Stub) GetStringArgs() []string {
	out := make([]string, len(s.inv.Args))
	for i, a := range s.inv.Args {
		out[i] = string(a)
	}
	return out
}

// GetFunctionAndParameters splits the arguments into function and parameters.
func (s *Stub) GetFunctionAndParameters() (string, []string) {
	args := s.GetStringArgs()
	if len(args) == 0 {
		return "", []string{}
	}
	return args[0], args[1:]
}

// GetArgsSlice returns the arguments concatenated.
func (s *Stub) GetArgsSlice() ([]byte, error) {
	var out []byte
	for _, a := range s.inv.Args {
		out = append(out, a...)
	}
	return out, nil
}

// GetTxID returns the transaction ID.
func (s *Stub) GetTxID() string { return s.inv.TxID }

// GetChannelID returns the channel name.
func (s *Stub) GetChannelID() string { return s.inv.ChannelID }

// InvokeChaincode is not supported.
func (s *Stub) InvokeChaincode(string, [][]byte, string) *peer.Response {
	return &peer.Response{Status: shim.ERROR, Message: ErrChaincodeToCC.Error()}
}

// GetState reads committed state, recording the version read.
func (s *Stub) GetState(key string) ([]byte, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	val, ver, ok := s.state.Get(s.ns, key)
	s.recordRead(key, ver, ok)
	if !ok {
		return nil, nil
	}
	return val, nil
}

func (s *Stub) recordRead(key string, ver store.Height, ok bool) {
	if _, seen := s.reads[key]; seen {
		return
	}
	r := &kvrwset.KVRead{Key: key}
	if ok {
		r.Version = &kvrwset.Version{BlockNum: ver.Block, TxNum: ver.Tx}
	}
	s.reads[key] = r
}

// GetMultipleStates reads several keys.
func (s *Stub) GetMultipleStates(keys ...string) ([][]byte, error) {
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

// PutState buffers a write.
func (s *Stub) PutState(key string, value []byte) error {
	if err := validKey(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // Fabric treats a nil value as a delete; keep put explicit
	}
	s.writes[key] = &kvrwset.KVWrite{Key: key, Value: slices.Clone(value)}
	return nil
}

// DelState buffers a delete.
func (s *Stub) DelState(key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	s.writes[key] = &kvrwset.KVWrite{Key: key, IsDelete: true}
	return nil
}

func validKey(key string) error {
	if key == "" {
		return errors.New("key must not be an empty string")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %x is not valid UTF-8", key)
	}
	if len(key) > mvcc.MaxKeyLen {
		return fmt.Errorf("key of %d bytes is longer than the %d allowed", len(key), mvcc.MaxKeyLen)
	}
	return nil
}

// SetStateValidationParameter is not supported.
func (s *Stub) SetStateValidationParameter(string, []byte) error { return ErrKeyLevelPolicy }

// GetStateValidationParameter is not supported.
func (s *Stub) GetStateValidationParameter(string) ([]byte, error) { return nil, ErrKeyLevelPolicy }

// GetStateByRange iterates over simple keys in [startKey, endKey).
func (s *Stub) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	if startKey == "" {
		startKey = emptyKeySubstitute
	}
	if err := simpleKeys(startKey, endKey); err != nil {
		return nil, err
	}
	return s.rangeQuery(startKey, endKey, 0), nil
}

// GetStateByRangeWithPagination is GetStateByRange one page at a time.
func (s *Stub) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	if startKey == "" {
		startKey = emptyKeySubstitute
	}
	if err := simpleKeys(startKey, endKey); err != nil {
		return nil, nil, err
	}
	return s.page(startKey, endKey, pageSize, bookmark)
}

// GetStateByPartialCompositeKey iterates over composite keys with the given prefix.
func (s *Stub) GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	return s.rangeQuery(start, end, 0), nil
}

// GetStateByPartialCompositeKeyWithPagination pages through a partial composite key.
func (s *Stub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	return s.page(start, end, pageSize, bookmark)
}

// GetAllStatesCompositeKeyWithPagination pages through every composite key.
func (s *Stub) GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return s.page(compositeKeyNamespace, compositeKeyNamespace+string(utf8.MaxRune), pageSize, bookmark)
}

func (s *Stub) page(start, end string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
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
	it := s.rangeQuery(start, end, int(pageSize))
	// Materialize the page: the metadata must tell how many records it holds
	// and where the next page starts.
	var kvs []*queryresult.KV
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, nil, err
		}
		kvs = append(kvs, kv)
	}
	meta := &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(kvs))}
	if next, ok := it.peekBeyondLimit(); ok {
		meta.Bookmark = next
	}
	return &sliceIterator{kvs: kvs}, meta, nil
}

func partialCompositeRange(objectType string, keys []string) (string, string, error) {
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return "", "", err
	}
	return prefix, prefix + string(utf8.MaxRune), nil
}

func simpleKeys(keys ...string) error {
	for _, k := range keys {
		if len(k) > 0 && k[0] == compositeKeyNamespace[0] {
			return fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", k)
		}
	}
	return nil
}

// CreateCompositeKey builds a composite key with Fabric's encoding.
func (s *Stub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

// SplitCompositeKey splits a key made by CreateCompositeKey.
func (s *Stub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	return SplitCompositeKey(compositeKey)
}

// SplitCompositeKey splits a composite key into object type and attributes.
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

// GetQueryResult is not supported (no CouchDB).
func (s *Stub) GetQueryResult(string) (shim.StateQueryIteratorInterface, error) {
	return nil, ErrRichQuery
}

// GetQueryResultWithPagination is not supported (no CouchDB).
func (s *Stub) GetQueryResultWithPagination(string, int32, string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, ErrRichQuery
}

// GetHistoryForKey returns the key's committed modifications, newest first.
// As in Fabric, history reads are not validated at commit.
func (s *Stub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	mods, err := s.state.History(s.ns, key)
	if err != nil {
		return nil, err
	}
	return &historyIterator{mods: mods}, nil
}

// GetCreator returns the serialized identity that signed the proposal.
func (s *Stub) GetCreator() ([]byte, error) { return s.inv.Creator, nil }

// GetTransient returns the proposal's transient map.
func (s *Stub) GetTransient() (map[string][]byte, error) {
	if s.inv.Transient == nil {
		return map[string][]byte{}, nil
	}
	return s.inv.Transient, nil
}

// GetBinding returns SHA-256(nonce || creator || epoch), Fabric's binding.
func (s *Stub) GetBinding() ([]byte, error) {
	h := sha256.New()
	h.Write(s.inv.Nonce)
	h.Write(s.inv.Creator)
	h.Write(binary.LittleEndian.AppendUint64(nil, s.inv.Epoch))
	return h.Sum(nil), nil
}

// GetDecorations returns no decorations: the embedded ledger has no decorators.
func (s *Stub) GetDecorations() map[string][]byte { return map[string][]byte{} }

// GetSignedProposal returns the proposal as signed by the client.
func (s *Stub) GetSignedProposal() (*peer.SignedProposal, error) { return s.inv.Signed, nil }

// GetTxTimestamp returns the client's timestamp from the channel header.
func (s *Stub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return s.inv.Timestamp, nil }

// SetEvent sets the transaction's chaincode event; the last call wins.
func (s *Stub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.event = &peer.ChaincodeEvent{ChaincodeId: s.ns, TxId: s.inv.TxID, EventName: name, Payload: slices.Clone(payload)}
	return nil
}

// StartWriteBatch has no effect: writes are already local to the simulation.
func (s *Stub) StartWriteBatch() {}

// FinishWriteBatch has no effect.
func (s *Stub) FinishWriteBatch() error { return nil }
