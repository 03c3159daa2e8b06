// Package mvcc validates a transaction's read-write set against the world
// state at commit time and applies its writes, with Fabric's rules: every key
// read must still be at the version read (else MVCC_READ_CONFLICT), every
// range query must still return the same keys at the same versions (else
// PHANTOM_READ_CONFLICT). Transactions of a block are validated in order,
// each against the state left by the valid transactions before it.
package mvcc

import (
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// State is the state a transaction is validated against.
type State interface {
	Get(ns, key string) ([]byte, store.Height, bool)
	Range(ns, start, end string) *store.Iterator
}

// NsSet is one namespace's decoded read-write set.
type NsSet struct {
	Namespace string
	KV        *kvrwset.KVRWSet
}

// Decode unmarshals the per-namespace sets of a read-write set.
func Decode(set *rwset.TxReadWriteSet) ([]NsSet, error) {
	if set.GetDataModel() != rwset.TxReadWriteSet_KV {
		return nil, fmt.Errorf("unsupported read-write set data model %v", set.GetDataModel())
	}
	out := make([]NsSet, 0, len(set.GetNsRwset()))
	for _, ns := range set.GetNsRwset() {
		if len(ns.GetCollectionHashedRwset()) > 0 {
			return nil, fmt.Errorf("namespace %q carries private data hashes, which are not supported", ns.GetNamespace())
		}
		var kv kvrwset.KVRWSet
		if err := proto.Unmarshal(ns.GetRwset(), &kv); err != nil {
			return nil, fmt.Errorf("namespace %q: malformed read-write set: %w", ns.GetNamespace(), err)
		}
		out = append(out, NsSet{Namespace: ns.GetNamespace(), KV: &kv})
	}
	return out, nil
}

// MaxKeyLen bounds state keys so that every key, with the history suffix,
// fits the storage engine's key limit.
const MaxKeyLen = 16 * 1024

// CheckWrites refuses a write set the store could not apply, so that a bad
// transaction is marked invalid instead of failing its whole block.
func CheckWrites(sets []NsSet) error {
	for _, ns := range sets {
		for _, w := range ns.KV.GetWrites() {
			if k := w.GetKey(); k == "" || len(k) > MaxKeyLen {
				return fmt.Errorf("namespace %q: write to a key of %d bytes (1..%d allowed)", ns.Namespace, len(k), MaxKeyLen)
			}
		}
	}
	return nil
}

// Validate returns VALID, MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT.
func Validate(sets []NsSet, st State) peer.TxValidationCode {
	for _, ns := range sets {
		for _, r := range ns.KV.GetReads() {
			if !sameVersion(st, ns.Namespace, r) {
				return peer.TxValidationCode_MVCC_READ_CONFLICT
			}
		}
		for _, rq := range ns.KV.GetRangeQueriesInfo() {
			if !sameRange(st, ns.Namespace, rq) {
				return peer.TxValidationCode_PHANTOM_READ_CONFLICT
			}
		}
	}
	return peer.TxValidationCode_VALID
}

func sameVersion(st State, ns string, r *kvrwset.KVRead) bool {
	_, ver, ok := st.Get(ns, r.GetKey())
	if r.GetVersion() == nil {
		return !ok
	}
	return ok && ver.Block == r.GetVersion().GetBlockNum() && ver.Tx == r.GetVersion().GetTxNum()
}

// sameRange re-executes a recorded range query. If the simulation stopped
// before the end of the range, only the prefix it saw must match.
func sameRange(st State, ns string, rq *kvrwset.RangeQueryInfo) bool {
	raw := rq.GetRawReads()
	if raw == nil {
		return false // merkle summaries are never produced by our simulator
	}
	it := st.Range(ns, rq.GetStartKey(), rq.GetEndKey())
	for _, want := range raw.GetKvReads() {
		got, ok := it.Next()
		if !ok || got.Key != want.GetKey() ||
			got.Version.Block != want.GetVersion().GetBlockNum() || got.Version.Tx != want.GetVersion().GetTxNum() {
			return false
		}
	}
	if rq.GetItrExhausted() {
		_, more := it.Next()
		return !more
	}
	return true
}

// Tx identifies the transaction whose writes are applied, for the history.
type Tx struct {
	ID        string
	Timestamp *timestamppb.Timestamp
	Height    store.Height
}

// Apply writes a valid transaction's writes and their history entries.
func Apply(sets []NsSet, u *store.Update, tx Tx) error {
	for _, ns := range sets {
		for _, w := range ns.KV.GetWrites() {
			var err error
			if w.GetIsDelete() {
				err = u.Delete(ns.Namespace, w.GetKey())
			} else {
				err = u.Put(ns.Namespace, w.GetKey(), w.GetValue(), tx.Height)
			}
			if err != nil {
				return fmt.Errorf("apply tx %s: %w", tx.ID, err)
			}
			mod := &queryresult.KeyModification{TxId: tx.ID, Value: w.GetValue(), Timestamp: tx.Timestamp, IsDelete: w.GetIsDelete()}
			if err := u.AddHistory(ns.Namespace, w.GetKey(), tx.Height, mod); err != nil {
				return fmt.Errorf("apply tx %s: %w", tx.ID, err)
			}
		}
	}
	return nil
}
