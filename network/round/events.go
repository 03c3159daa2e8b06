package round

import "github.com/srellama/srellama/chaincode/records"

// FromEvent turns a chaincode event into the machine's inputs: the adapter
// feeds every ledger event through it.
func FromEvent(e records.Event) []Input {
	switch e.Kind {
	case records.EventRoundOpened:
		if e.Round != nil {
			return []Input{RoundOpened{Round: *e.Round}}
		}
	case records.EventUpdateCommitted:
		if e.Update != nil {
			return []Input{UpdateCommitted{RoundID: e.Update.RoundID, MSPID: e.Update.MSPID, Digest: e.Update.Digest}}
		}
	case records.EventRoundFinalized, records.EventRoundFailed:
		if e.Round != nil {
			return []Input{RoundClosed{Round: *e.Round}}
		}
	}
	return nil
}
