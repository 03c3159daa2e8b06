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
	ErrKeyLevelPolicy    = shimstub.ErrKeyLevelPolicy
	ErrRichQuery         = shimstub.ErrRichQuery
	ErrChaincodeToCC     = errors.New("chaincode-to-chaincode invocation is not supported by the embedded ledger")
	ErrPaginatedWithRWTx = shimstub.ErrPaginatedWithRWTx
)

// Stub is the simulator. It is not safe for concurrent use; Fabric's shim
// is not either. The world-state calls are shimstub.State's, the same
// semantics the chaincode's tests run on; the simulator adds the recording
// of what was read, which the committer validates.
type Stub struct {
	*shimstub.State

	ns  string
	inv *Invocation
	rec *recorder
}

var _ shim.ChaincodeStubInterface = (*Stub)(nil)

// NewStub prepares a simulation of inv against namespace ns (the chaincode
// name) of state.
func NewStub(ns string, inv *Invocation, state State) *Stub {
	rec := &recorder{ns: ns, state: state, reads: map[string]*kvrwset.KVRead{}}
	return &Stub{
		State: shimstub.NewState(rec, mvcc.MaxKeyLen, ErrPrivateData),
		ns:    ns, inv: inv, rec: rec,
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
	if err := s.CheckWritable(); err != nil {
		return nil, err
	}
	kv := &kvrwset.KVRWSet{RangeQueriesInfo: s.rec.ranges}
	for _, k := range slices.Sorted(maps.Keys(s.rec.reads)) {
		kv.Reads = append(kv.Reads, s.rec.reads[k])
	}
	for _, w := range s.Writes() {
		kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: w.Key, Value: w.Value, IsDelete: w.Delete})
	}
	raw, err := marshalRWSet(s.ns, kv)
	if err != nil {
		return nil, fmt.Errorf("marshal read-write set: %w", err)
	}
	res := &Result{RWBytes: raw}
	if ev := s.Event(); ev != nil {
		res.Event = &peer.ChaincodeEvent{ChaincodeId: s.ns, TxId: s.inv.TxID, EventName: ev.Name, Payload: ev.Payload}
	}
	return res, nil
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
