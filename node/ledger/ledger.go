// Package ledger is the node's only way to the ledger: a small interface
// for the rest of the node (submit, evaluate, chaincode events with a
// durable checkpoint) and its implementation on the Fabric Gateway client,
// which works the same against the embedded ledger and a real Fabric peer.
package ledger

import (
	"context"
	"fmt"
)

// Ledger is what the node needs from the ledger.
type Ledger interface {
	// Submit endorses, orders and waits for the commit of a transaction. It
	// returns the chaincode's result and the transaction ID; a transaction
	// committed as invalid is an *InvalidTxError, a chaincode refusal a
	// *ChaincodeError. Transient failures are retried under one transaction
	// ID (retry.go); an error wrapping ErrOutcomeUnknown means the
	// transaction may have been committed all the same.
	Submit(ctx context.Context, fn string, args ...string) (result []byte, txID string, err error)
	// Evaluate runs a query on the current state, retrying transient
	// failures.
	Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error)
	// Events streams the chaincode's events from just after the checkpoint,
	// following new blocks and reconnecting after failures until ctx ends.
	// The consumer marks each event handled with cp.Done.
	Events(ctx context.Context, cp *Checkpoint) (<-chan Event, error)
	// Close releases the connection.
	Close() error
}

// Event is one chaincode event of a committed, valid transaction.
type Event struct {
	BlockNumber uint64
	TxID        string
	Name        string
	Payload     []byte
}

// ChaincodeError is the chaincode's refusal of a transaction or query.
type ChaincodeError struct {
	Fn      string
	MSPID   string // organization whose peer ran the chaincode, when known
	Message string
}

func (e *ChaincodeError) Error() string {
	return fmt.Sprintf("chaincode refused %s: %s", e.Fn, e.Message)
}

// InvalidTxError is a transaction that was ordered but failed validation
// (for example MVCC_READ_CONFLICT): its writes were not applied.
type InvalidTxError struct {
	Fn    string
	TxID  string
	Code  string // Fabric validation code name
	Block uint64
}

func (e *InvalidTxError) Error() string {
	return fmt.Sprintf("transaction %s (%s) committed as invalid in block %d: %s", e.TxID, e.Fn, e.Block, e.Code)
}
