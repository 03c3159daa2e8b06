package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// TimeWindow is records.TimeWindow: closing a round or a proposal takes
// effect only this long after its deadline (see there).
const TimeWindow = records.TimeWindow

// txn is one transaction's view of the ledger: the stub, who is calling,
// and the transaction time. Every contract function starts by building one,
// so identity and time are read the same way everywhere.
type txn struct {
	stub  shim.ChaincodeStubInterface
	actor actor
	now   time.Time
	at    string // now, formatted as stored
	txID  string
}

// actor is the caller: its organization and NodeOU role.
type actor struct {
	MSPID string
	Role  devca.Role
}

func (a actor) isAdmin() bool { return a.Role == devca.RoleAdmin }

// begin reads the caller's identity and the transaction time. It does not
// check any permission; the contract function says what it requires.
func begin(ctx contractapi.TransactionContextInterface) (*txn, error) {
	stub := ctx.GetStub()
	if stub == nil {
		return nil, errors.New("no transaction stub")
	}
	// contractapi has parsed the caller's certificate already, but it
	// ignores the error of doing so and then hands us a nil *cid.ClientID
	// in the interface: parse it ourselves only then, so a bad creator is
	// an error, not a panic.
	id := ctx.GetClientIdentity()
	if parsed, ok := id.(*cid.ClientID); id == nil || (ok && parsed == nil) {
		parsed, err := cid.New(stub)
		if err != nil {
			return nil, fmt.Errorf("reading the caller's identity: %w", err)
		}
		id = parsed
	}
	msp, err := id.GetMSPID()
	if err != nil || msp == "" {
		return nil, errors.New("the caller's identity has no MSP ID")
	}
	cert, err := id.GetX509Certificate()
	if err != nil || cert == nil {
		return nil, errors.New("the caller's identity has no X.509 certificate")
	}
	ts, err := stub.GetTxTimestamp()
	if err != nil || ts == nil {
		return nil, errors.New("the transaction has no timestamp")
	}
	now := ts.AsTime().UTC()
	return &txn{
		stub:  stub,
		actor: actor{MSPID: msp, Role: devca.RoleOf(cert)},
		now:   now,
		at:    records.FormatTime(now),
		txID:  stub.GetTxID(),
	}, nil
}

// requireAdmin checks that the caller is an admin of a registered member.
func (t *txn) requireAdmin() error {
	if !t.actor.isAdmin() {
		return fmt.Errorf("access denied: %s caller has role %q; this transaction needs an organization admin", t.actor.MSPID, t.actor.Role)
	}
	return t.requireRegistered()
}

// requireMember checks that the caller is an admin or client of a
// registered member. Peers and orderers do not transact.
func (t *txn) requireMember() error {
	if t.actor.Role != devca.RoleAdmin && t.actor.Role != devca.RoleClient {
		return fmt.Errorf("access denied: %s caller has role %q; this transaction needs an admin or client identity", t.actor.MSPID, t.actor.Role)
	}
	return t.requireRegistered()
}

func (t *txn) requireRegistered() error {
	ok, err := t.exists(keyOrg, t.actor.MSPID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("access denied: %s is not a registered consortium member", t.actor.MSPID)
	}
	return nil
}

// Object types of the composite keys. Every record type has its own, and
// each index is a separate key whose value is a single byte, so that no
// query is a full scan and no two organizations write the same key in
// normal operation (which would cause MVCC conflicts).
const (
	keyOrg         = "srl.org"          // [msp]
	keyNode        = "srl.node"         // [msp, peerID]
	keyPeer        = "srl.peer"         // [peerID] -> msp
	keyRound       = "srl.round"        // [roundID]
	keyUpdate      = "srl.update"       // [roundID, msp]
	keyVote        = "srl.vote"         // [roundID, msp]
	keyRequest     = "srl.request"      // [requestID]
	keyRoundReq    = "srl.idx.roundreq" // [roundID, requestID]
	keyProposal    = "srl.proposal"     // [proposalID]
	keyReqProposal = "srl.idx.reqprop"  // [requestID, proposalID]
	keyDecision    = "srl.decision"     // [proposalID, msp]
	keyToken       = "srl.token"        // [tokenID]
	keyByOwner     = "srl.idx.owner"    // [owner, tokenID]
	keyByService   = "srl.idx.service"  // [service, tokenID]
	keyByRound     = "srl.idx.round"    // [roundID, tokenID]
	keyActive      = "srl.idx.active"   // [service, name] -> active token ID
	keyApproved    = "srl.approved"     // [tokenID] -> operator MSP
	keyOperator    = "srl.operator"     // [owner, operator]
	keySchedule    = "srl.schedule"     // [scheduleID]
)

// indexMarker is the value of index keys. Fabric treats an empty value as a
// delete, so indexes store one byte.
var indexMarker = []byte{0}

func (t *txn) key(objectType string, attrs ...string) (string, error) {
	k, err := t.stub.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", fmt.Errorf("building key %s%v: %w", objectType, attrs, err)
	}
	return k, nil
}

func (t *txn) exists(objectType string, attrs ...string) (bool, error) {
	k, err := t.key(objectType, attrs...)
	if err != nil {
		return false, err
	}
	v, err := t.stub.GetState(k)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", objectType, err)
	}
	return len(v) > 0, nil
}

// get reads a JSON record; found is false if the key is absent.
func (t *txn) get(v any, objectType string, attrs ...string) (found bool, err error) {
	k, err := t.key(objectType, attrs...)
	if err != nil {
		return false, err
	}
	raw, err := t.stub.GetState(k)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", objectType, err)
	}
	if len(raw) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("corrupt %s record: %w", objectType, err)
	}
	return true, nil
}

// mustGet reads a record that must exist, with a clear "not found" error.
func (t *txn) mustGet(v any, what string, objectType string, attrs ...string) error {
	ok, err := t.get(v, objectType, attrs...)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s %q not found", what, attrs[len(attrs)-1])
	}
	return nil
}

// put stores a record in canonical JSON, so every peer endorses identical
// bytes.
func (t *txn) put(v any, objectType string, attrs ...string) error {
	_, err := t.write(v, objectType, attrs...)
	return err
}

// write is put returning the canonical encoding it stored, for a
// transaction that also returns the record.
func (t *txn) write(v any, objectType string, attrs ...string) ([]byte, error) {
	raw, err := nft.Canonical(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", objectType, err)
	}
	if err := t.putEncoded(raw, objectType, attrs...); err != nil {
		return nil, err
	}
	return raw, nil
}

// putEncoded is put for a record already in canonical form.
func (t *txn) putEncoded(canonical []byte, objectType string, attrs ...string) error {
	k, err := t.key(objectType, attrs...)
	if err != nil {
		return err
	}
	if err := t.stub.PutState(k, canonical); err != nil {
		return fmt.Errorf("writing %s: %w", objectType, err)
	}
	return nil
}

func (t *txn) putIndex(objectType string, attrs ...string) error {
	return t.putEncoded(indexMarker, objectType, attrs...)
}

func (t *txn) del(objectType string, attrs ...string) error {
	k, err := t.key(objectType, attrs...)
	if err != nil {
		return err
	}
	if err := t.stub.DelState(k); err != nil {
		return fmt.Errorf("deleting %s: %w", objectType, err)
	}
	return nil
}

// scan visits every record under a partial composite key, in key order.
// Used only for per-round and per-proposal sets, which are small and bounded
// by the number of members.
func (t *txn) scan(objectType string, attrs []string, visit func(attrs []string, value []byte) error) error {
	it, err := t.stub.GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return fmt.Errorf("querying %s: %w", objectType, err)
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return fmt.Errorf("querying %s: %w", objectType, err)
		}
		_, keyAttrs, err := splitKey(kv.GetKey())
		if err != nil {
			return err
		}
		if err := visit(keyAttrs, kv.GetValue()); err != nil {
			return err
		}
	}
	return nil
}

// scanJSON decodes every record under a partial key into a slice.
func scanJSON[T any](t *txn, objectType string, attrs ...string) ([]T, error) {
	var out []T
	err := t.scan(objectType, attrs, func(_ []string, value []byte) error {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("corrupt %s record: %w", objectType, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// members returns the registered organizations' MSP IDs, sorted (composite
// keys come back in key order).
func (t *txn) members() ([]string, error) {
	var out []string
	err := t.scan(keyOrg, nil, func(attrs []string, _ []byte) error {
		if len(attrs) == 1 {
			out = append(out, attrs[0])
		}
		return nil
	})
	return out, err
}

// emit sets the transaction's single event.
func (t *txn) emit(e records.Event) error {
	e.TxID = t.txID
	e.At = t.at
	e.Actor = t.actor.MSPID
	raw, err := nft.Canonical(e)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	if err := t.stub.SetEvent(string(e.Kind), raw); err != nil {
		return fmt.Errorf("setting event: %w", err)
	}
	return nil
}

// splitKey splits a composite key without the shim's panic on malformed
// input.
func splitKey(k string) (string, []string, error) {
	if len(k) < 2 || k[0] != 0 {
		return "", nil, fmt.Errorf("malformed composite key %q", k)
	}
	var parts []string
	start := 1
	for i := 1; i < len(k); i++ {
		if k[i] == 0 {
			parts = append(parts, k[start:i])
			start = i + 1
		}
	}
	if len(parts) == 0 || start != len(k) {
		return "", nil, fmt.Errorf("malformed composite key %q", k)
	}
	return parts[0], parts[1:], nil
}

// majority is the default quorum: more than half of n.
func majority(n int) int { return n/2 + 1 }

// query runs a read-only function and returns its result as canonical JSON.
func query(ctx contractapi.TransactionContextInterface, read func(t *txn) (any, error)) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	v, err := read(t)
	if err != nil {
		return "", err
	}
	return encode(v)
}

// record reads one record that must exist.
func record[T any](t *txn, what, objectType string, attrs ...string) (T, error) {
	var v T
	err := t.mustGet(&v, what, objectType, attrs...)
	return v, err
}

// list returns the records under a partial key; an empty list is [].
func list[T any](t *txn, objectType string, attrs ...string) ([]T, error) {
	v, err := scanJSON[T](t, objectType, attrs...)
	return nonNil(v), err
}

// indexed follows an index keyed [key, id] to the records it names.
func indexed[T any](t *txn, index, key, what, objectType string) ([]T, error) {
	out := []T{}
	err := t.scan(index, []string{key}, func(attrs []string, _ []byte) error {
		v, err := record[T](t, what, objectType, attrs[len(attrs)-1])
		out = append(out, v)
		return err
	})
	return out, err
}

// encode returns a query result as canonical JSON text.
func encode(v any) (string, error) {
	raw, err := nft.Canonical(v)
	if err != nil {
		return "", err
	}
	return string(raw), nil
}
