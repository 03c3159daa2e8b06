package round

import (
	"time"

	"github.com/srellama/srellama/chaincode/records"
)

// Input is something that happened: a ledger event, a message, the result
// of a request the machine made, or the passing of time.
type Input interface{ isInput() }

// Tick tells the machine the time. Deadlines and retries advance only on
// ticks, so the machine never reads a clock.
type Tick struct{ Now time.Time }

// RoundOpened is the ledger's RoundOpened event.
type RoundOpened struct{ Round records.Round }

// Trained delivers this member's local update for a round. The machine
// fills in the commitment's digest from the payload.
type Trained struct {
	RoundID    string
	Payload    []byte
	Commitment records.UpdateCommitment
}

// TrainingFailed says local training could not produce an update.
type TrainingFailed struct {
	RoundID string
	Err     error
}

// UpdateCommitted is the ledger's UpdateCommitted event.
type UpdateCommitted struct {
	RoundID string
	MSPID   string
	Digest  string
}

// UpdateReceived is an update that arrived from a peer, its sender's
// organization already resolved from the libp2p peer ID by the network.
type UpdateReceived struct {
	RoundID string
	Update  Update
}

// TxDone reports the outcome of a transaction the machine asked for
// (Kind "commit", "aggregate" or "close").
type TxDone struct {
	RoundID string
	Kind    string
	Err     error
}

// RoundClosed is the ledger's RoundFinalized or RoundFailed event.
type RoundClosed struct{ Round records.Round }

func (Tick) isInput()            {}
func (RoundOpened) isInput()     {}
func (Trained) isInput()         {}
func (TrainingFailed) isInput()  {}
func (UpdateCommitted) isInput() {}
func (UpdateReceived) isInput()  {}
func (TxDone) isInput()          {}
func (RoundClosed) isInput()     {}

// Output is something the adapter must do.
type Output interface{ isOutput() }

// StartTraining asks for a local update for the round.
type StartTraining struct{ Round records.Round }

// SubmitCommit asks for Rounds:CommitUpdate; report the outcome as TxDone
// with Kind "commit".
type SubmitCommit struct {
	RoundID    string
	Commitment records.UpdateCommitment
}

// Publish asks for the update to be sent to the round's peers.
type Publish struct {
	RoundID string
	Update  Update
}

// Wanted names a committed update that has not arrived.
type Wanted struct {
	MSPID  string
	Digest string
}

// Fetch asks for missing updates to be fetched from peers by digest.
type Fetch struct {
	RoundID string
	Want    []Wanted
}

// SubmitAggregate asks for Rounds:SubmitAggregate; report as TxDone with
// Kind "aggregate".
type SubmitAggregate struct {
	RoundID string
	Claim   records.AggregateClaim
}

// SubmitClose asks for Rounds:Close past the deadline; report as TxDone
// with Kind "close".
type SubmitClose struct{ RoundID string }

// Reject reports a peer that sent an update it should not have, so the
// network can score it down.
type Reject struct {
	RoundID string
	From    string
	Reason  string
}

// Finished says the round closed on the ledger, and whether the finalized
// aggregate is the one this member computed.
type Finished struct {
	Round        records.Round
	AgreesWithUs bool
}

// Log is a note for the operator's log.
type Log struct {
	RoundID string
	Message string
}

func (StartTraining) isOutput()   {}
func (SubmitCommit) isOutput()    {}
func (Publish) isOutput()         {}
func (Fetch) isOutput()           {}
func (SubmitAggregate) isOutput() {}
func (SubmitClose) isOutput()     {}
func (Reject) isOutput()          {}
func (Finished) isOutput()        {}
func (Log) isOutput()             {}
