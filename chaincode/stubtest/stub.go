package stubtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/srellama/srellama/chaincode/shimstub"
)

// stub is one transaction's view of the ledger.
type stub struct {
	shimstub.NoPrivateData
	ledger    *Ledger
	txID      string
	now       time.Time
	creator   []byte
	args      [][]byte
	writes    map[string][]byte // nil value: delete
	event     *Event
	paginated bool
}

var _ shim.ChaincodeStubInterface = (*stub)(nil)

var errUnsupported = errors.New("not supported by the SRE-Llama chaincode's test ledger")

func (l *Ledger) newStub(id *Identity, fn string, args []string) *stub {
	all := make([][]byte, 0, len(args)+1)
	all = append(all, []byte(fn))
	for _, a := range args {
		all = append(all, []byte(a))
	}
	var creator []byte
	if id != nil {
		creator = id.Creator
	}
	return &stub{
		NoPrivateData: shimstub.NoPrivateData{Err: errUnsupported},
		ledger:        l, txID: l.txIDFor(creator), now: l.now, creator: creator,
		args: all, writes: map[string][]byte{},
	}
}

func (s *stub) GetArgs() [][]byte { return s.args }

func (s *stub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *stub) GetFunctionAndParameters() (string, []string) {
	all := s.GetStringArgs()
	if len(all) == 0 {
		return "", nil
	}
	return all[0], all[1:]
}

func (s *stub) GetArgsSlice() ([]byte, error) {
	var out []byte
	for _, a := range s.args {
		out = append(out, a...)
	}
	return out, nil
}

func (s *stub) GetTxID() string      { return s.txID }
func (s *stub) GetChannelID() string { return s.ledger.channel }

func (s *stub) InvokeChaincode(string, [][]byte, string) *peer.Response {
	return shim.Error("chaincode-to-chaincode calls are not supported by the test ledger")
}

// GetState reads committed state only, as a peer's simulator does.
func (s *stub) GetState(key string) ([]byte, error) {
	if key == "" {
		return nil, errors.New("empty key")
	}
	v, ok := s.ledger.state[key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v.value...), nil
}

func (s *stub) GetMultipleStates(keys ...string) ([][]byte, error) {
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

// PutState buffers a write. As in Fabric, an empty value is a delete.
func (s *stub) PutState(key string, value []byte) error {
	if key == "" {
		return errors.New("empty key")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %q is not valid UTF-8", key)
	}
	if len(value) == 0 {
		s.writes[key] = nil
		return nil
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *stub) DelState(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	s.writes[key] = nil
	return nil
}

func (s *stub) SetStateValidationParameter(string, []byte) error { return errUnsupported }
func (s *stub) GetStateValidationParameter(string) ([]byte, error) {
	return nil, errUnsupported
}

func (s *stub) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	if strings.HasPrefix(startKey, "\x00") || strings.HasPrefix(endKey, "\x00") {
		return nil, errors.New("range keys must not start with a null character (composite key namespace)")
	}
	if startKey == "" {
		startKey = "\x01"
	}
	return s.rangeIter(startKey, endKey, 0, ""), nil
}

func (s *stub) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	s.paginated = true
	if startKey == "" {
		startKey = "\x01"
	}
	it := s.rangeIter(startKey, endKey, pageSize, bookmark)
	return it, &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(it.kvs)), Bookmark: it.next}, nil
}

func partialRange(objectType string, attrs []string) (string, string, error) {
	prefix, err := shim.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", "", err
	}
	return prefix, prefix + string(utf8.MaxRune), nil
}

func (s *stub) GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	start, end, err := partialRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	return s.rangeIter(start, end, 0, ""), nil
}

func (s *stub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	s.paginated = true
	start, end, err := partialRange(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	if bookmark != "" && (bookmark < start || bookmark >= end) {
		return nil, nil, fmt.Errorf("bookmark does not belong to this query")
	}
	it := s.rangeIter(start, end, pageSize, bookmark)
	return it, &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(it.kvs)), Bookmark: it.next}, nil
}

func (s *stub) GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	s.paginated = true
	it := s.rangeIter("\x00", "\x01", pageSize, bookmark)
	return it, &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(it.kvs)), Bookmark: it.next}, nil
}

// rangeIter snapshots committed keys in [start, end). With a page size it
// starts at the bookmark (inclusive, as Fabric's LevelDB bookmarks are) and
// records the key the next page starts at, or "" after the last page.
func (s *stub) rangeIter(start, end string, pageSize int32, bookmark string) *kvIter {
	if bookmark != "" && bookmark > start {
		start = bookmark
	}
	keys := s.ledger.sortedKeys(start, end)
	it := &kvIter{}
	for i, k := range keys {
		if pageSize > 0 && int32(i) == pageSize {
			it.next = k
			break
		}
		it.kvs = append(it.kvs, &queryresult.KV{Key: k, Value: append([]byte(nil), s.ledger.state[k].value...)})
	}
	return it
}

func (s *stub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *stub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	if len(compositeKey) < 2 || compositeKey[0] != 0 {
		return "", nil, fmt.Errorf("%q is not a composite key", compositeKey)
	}
	parts := strings.Split(compositeKey[1:], "\x00")
	if len(parts) < 2 || parts[len(parts)-1] != "" {
		return "", nil, fmt.Errorf("%q is not a composite key", compositeKey)
	}
	parts = parts[:len(parts)-1]
	return parts[0], parts[1:], nil
}

func (s *stub) GetQueryResult(string) (shim.StateQueryIteratorInterface, error) {
	return nil, errors.New("rich queries need CouchDB; the chaincode must not use them")
}

func (s *stub) GetQueryResultWithPagination(string, int32, string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, errors.New("rich queries need CouchDB; the chaincode must not use them")
}

// GetHistoryForKey returns the key's versions newest first, as Fabric's
// history database does.
func (s *stub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	mods := append([]*queryresult.KeyModification(nil), s.ledger.history[key]...)
	slices.Reverse(mods)
	return &historyIter{mods: mods}, nil
}

func (s *stub) GetCreator() ([]byte, error) {
	if len(s.creator) == 0 {
		return nil, errors.New("no creator")
	}
	return s.creator, nil
}

func (s *stub) GetTransient() (map[string][]byte, error) { return map[string][]byte{}, nil }
func (s *stub) GetBinding() ([]byte, error)              { return nil, nil }
func (s *stub) GetDecorations() map[string][]byte        { return nil }

func (s *stub) GetSignedProposal() (*peer.SignedProposal, error) {
	return nil, errors.New("the test ledger has no signed proposals")
}

func (s *stub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return timestamppb.New(s.now), nil }

// SetEvent keeps the last event set, as Fabric does.
func (s *stub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name must not be empty")
	}
	s.event = &Event{TxID: s.txID, Name: name, Payload: append([]byte(nil), payload...)}
	return nil
}

func (s *stub) StartWriteBatch()        {}
func (s *stub) FinishWriteBatch() error { return nil }

type kvIter struct {
	kvs  []*queryresult.KV
	pos  int
	next string
}

func (it *kvIter) HasNext() bool { return it.pos < len(it.kvs) }
func (it *kvIter) Close() error  { return nil }
func (it *kvIter) Next() (*queryresult.KV, error) {
	if !it.HasNext() {
		return nil, errors.New("iterator exhausted")
	}
	it.pos++
	return it.kvs[it.pos-1], nil
}

type historyIter struct {
	mods []*queryresult.KeyModification
	pos  int
}

func (it *historyIter) HasNext() bool { return it.pos < len(it.mods) }
func (it *historyIter) Close() error  { return nil }
func (it *historyIter) Next() (*queryresult.KeyModification, error) {
	if !it.HasNext() {
		return nil, errors.New("iterator exhausted")
	}
	it.pos++
	return it.mods[it.pos-1], nil
}
