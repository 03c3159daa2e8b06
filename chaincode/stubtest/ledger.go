// Package stubtest runs chaincode against an in-memory implementation of
// the shim's ChaincodeStubInterface, the way httptest runs handlers: world
// state with versions, composite keys, range and partial-key queries with
// pagination, key history, one event per transaction, transaction time from
// a controllable clock, and creators built from real X.509 certificates with
// MSP IDs and NodeOU roles.
//
// Transactions run one at a time. Like a peer, a transaction reads only
// committed state (never its own writes), and its writes and event are kept
// only if the chaincode returned success.
package stubtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Ledger is an in-memory channel ledger for one chaincode namespace.
type Ledger struct {
	channel string
	now     time.Time
	seq     uint64
	state   map[string]versioned
	history map[string][]*queryresult.KeyModification
	events  []Event
}

type versioned struct {
	value   []byte
	version uint64 // sequence number of the writing transaction
}

// Event is a chaincode event from a committed transaction.
type Event struct {
	TxID    string
	Name    string
	Payload []byte
}

// Result is the outcome of one transaction.
type Result struct {
	TxID    string
	Payload []byte
	Event   *Event
}

// New returns an empty ledger whose clock starts at start.
func New(channel string, start time.Time) *Ledger {
	return &Ledger{
		channel: channel,
		now:     start.UTC(),
		state:   map[string]versioned{},
		history: map[string][]*queryresult.KeyModification{},
	}
}

// Now returns the ledger clock: the timestamp the next transaction gets.
func (l *Ledger) Now() time.Time { return l.now }

// Advance moves the ledger clock forward.
func (l *Ledger) Advance(d time.Duration) { l.now = l.now.Add(d) }

// Events returns the events of committed transactions, oldest first.
func (l *Ledger) Events() []Event { return append([]Event(nil), l.events...) }

// Submit runs a transaction and commits its writes and event if the
// chaincode succeeds. A chaincode error is returned as an error and leaves
// the ledger unchanged.
func (l *Ledger) Submit(cc shim.Chaincode, id *Identity, fn string, args ...string) (Result, error) {
	return l.run(cc, id, true, fn, args...)
}

// Evaluate runs a query: its writes, if any, are discarded.
func (l *Ledger) Evaluate(cc shim.Chaincode, id *Identity, fn string, args ...string) ([]byte, error) {
	r, err := l.run(cc, id, false, fn, args...)
	return r.Payload, err
}

func (l *Ledger) run(cc shim.Chaincode, id *Identity, commit bool, fn string, args ...string) (Result, error) {
	l.seq++
	stub := l.newStub(id, fn, args)
	resp := cc.Invoke(stub)
	if resp == nil {
		return Result{TxID: stub.txID}, errors.New("chaincode returned no response")
	}
	if resp.GetStatus() >= shim.ERRORTHRESHOLD {
		return Result{TxID: stub.txID}, &ChaincodeError{Status: resp.GetStatus(), Message: resp.GetMessage()}
	}
	res := Result{TxID: stub.txID, Payload: resp.GetPayload()}
	if !commit {
		return res, nil
	}
	if err := stub.CheckWritable(); err != nil {
		return res, err
	}
	l.apply(stub)
	if ev := stub.Event(); ev != nil {
		res.Event = &Event{TxID: stub.txID, Name: ev.Name, Payload: ev.Payload}
		l.events = append(l.events, *res.Event)
	}
	// Each transaction gets a distinct, later timestamp, as ordered
	// transactions would.
	l.now = l.now.Add(time.Millisecond)
	return res, nil
}

func (l *Ledger) apply(s *stub) {
	ts := timestamppb.New(s.now)
	for _, w := range s.Writes() {
		mod := &queryresult.KeyModification{TxId: s.txID, Timestamp: ts}
		if w.Delete {
			delete(l.state, w.Key)
			mod.IsDelete = true
		} else {
			l.state[w.Key] = versioned{value: w.Value, version: l.seq}
			mod.Value = w.Value
		}
		l.history[w.Key] = append(l.history[w.Key], mod)
	}
}

// ChaincodeError is a chaincode's error response.
type ChaincodeError struct {
	Status  int32
	Message string
}

func (e *ChaincodeError) Error() string {
	return fmt.Sprintf("chaincode error (status %d): %s", e.Status, e.Message)
}

// sortedKeys returns committed keys in [start, end) in order.
func (l *Ledger) sortedKeys(start, end string) []string {
	var out []string
	for k := range l.state {
		if k >= start && (end == "" || k < end) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (l *Ledger) txIDFor(creator []byte) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], l.seq)
	h.Write(n[:])
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}

// StateDigest hashes the whole world state, so a test can check that a
// refused transaction changed nothing.
func (l *Ledger) StateDigest() string {
	h := sha256.New()
	for _, k := range l.sortedKeys("", "") {
		v := l.state[k]
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(v.value)))
		h.Write(n[:])
		h.Write(v.value)
	}
	return hex.EncodeToString(h.Sum(nil))
}
