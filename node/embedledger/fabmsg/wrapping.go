package fabmsg

import (
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// wrapping is what the levels of an endorser transaction that only wrap
// the next one yield: payload → transaction → its one action → action
// payload → endorsed action → response payload.
type wrapping struct {
	header          *common.Header
	actionHeader    []byte
	responsePayload []byte
	endorsements    []*peer.Endorsement
	extension       []byte // the ChaincodeAction
}

// errMergedField marks a singular message field that occurs more than once:
// protobuf merges the occurrences, which readWrapping leaves to
// unmarshalWrapping.
var errMergedField = errors.New("a singular message field occurs more than once")

// readWrapping reads the wrapping levels in place.
func readWrapping(payload []byte) (wrapping, error) {
	var w wrapping
	var headerBytes, data []byte
	headers := 0
	if err := eachBytesField(payload, func(num protowire.Number, v []byte) {
		switch num {
		case 1: // Payload.header
			headerBytes, headers = v, headers+1
		case 2: // Payload.data
			data = v
		}
	}); err != nil {
		return w, fmt.Errorf("malformed envelope payload: %w", err)
	}
	if headers == 0 {
		return w, errors.New("envelope payload has no header")
	}
	if headers > 1 {
		return w, errMergedField
	}
	w.header = &common.Header{}
	if err := proto.Unmarshal(headerBytes, w.header); err != nil {
		return w, fmt.Errorf("malformed envelope payload: %w", err)
	}

	var actions [][]byte
	if err := eachBytesField(data, func(num protowire.Number, v []byte) {
		if num == 1 { // Transaction.actions
			actions = append(actions, v)
		}
	}); err != nil {
		return w, fmt.Errorf("malformed transaction: %w", err)
	}
	if len(actions) != 1 {
		return w, fmt.Errorf("transaction has %d actions, want 1", len(actions))
	}

	var actionPayload []byte
	if err := eachBytesField(actions[0], func(num protowire.Number, v []byte) {
		switch num {
		case 1: // TransactionAction.header
			w.actionHeader = v
		case 2: // TransactionAction.payload
			actionPayload = v
		}
	}); err != nil {
		return w, fmt.Errorf("malformed transaction: %w", err)
	}

	var endorsed []byte
	endorsedCount := 0
	if err := eachBytesField(actionPayload, func(num protowire.Number, v []byte) {
		if num == 2 { // ChaincodeActionPayload.action
			endorsed, endorsedCount = v, endorsedCount+1
		}
	}); err != nil {
		return w, fmt.Errorf("malformed chaincode action payload: %w", err)
	}
	if endorsedCount > 1 {
		return w, errMergedField
	}
	var endorsements [][]byte
	if err := eachBytesField(endorsed, func(num protowire.Number, v []byte) {
		switch num {
		case 1: // ChaincodeEndorsedAction.proposal_response_payload
			w.responsePayload = v
		case 2: // ChaincodeEndorsedAction.endorsements
			endorsements = append(endorsements, v)
		}
	}); err != nil {
		return w, fmt.Errorf("malformed chaincode action payload: %w", err)
	}
	for _, raw := range endorsements {
		e := &peer.Endorsement{}
		if err := proto.Unmarshal(raw, e); err != nil {
			return w, fmt.Errorf("malformed chaincode action payload: %w", err)
		}
		w.endorsements = append(w.endorsements, e)
	}

	if err := eachBytesField(w.responsePayload, func(num protowire.Number, v []byte) {
		if num == 2 { // ProposalResponsePayload.extension
			w.extension = v
		}
	}); err != nil {
		return w, fmt.Errorf("malformed proposal response payload: %w", err)
	}
	return w, nil
}

// eachBytesField calls visit with every length-delimited field of msg, in
// order, and checks that the whole of msg is well formed, as
// proto.Unmarshal does. Fields of other wire types are skipped: where a
// known field number comes with an unexpected wire type, protobuf keeps it
// as an unknown field.
func eachBytesField(msg []byte, visit func(protowire.Number, []byte)) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("field number %d out of range", num)
		}
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg[n:])
			if m < 0 {
				return protowire.ParseError(m)
			}
			visit(num, v)
			msg = msg[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		msg = msg[n+m:]
	}
	return nil
}

// unmarshalWrapping reads the wrapping levels with proto.Unmarshal, for
// the envelopes readWrapping leaves to it.
func unmarshalWrapping(raw []byte) (wrapping, error) {
	var w wrapping
	var payload common.Payload
	if err := proto.Unmarshal(raw, &payload); err != nil {
		return w, fmt.Errorf("malformed envelope payload: %w", err)
	}
	if payload.GetHeader() == nil {
		return w, errors.New("envelope payload has no header")
	}
	w.header = payload.GetHeader()
	var tx peer.Transaction
	if err := proto.Unmarshal(payload.GetData(), &tx); err != nil {
		return w, fmt.Errorf("malformed transaction: %w", err)
	}
	if len(tx.GetActions()) != 1 {
		return w, fmt.Errorf("transaction has %d actions, want 1", len(tx.GetActions()))
	}
	act := tx.GetActions()[0]
	w.actionHeader = act.GetHeader()
	var actionPayload peer.ChaincodeActionPayload
	if err := proto.Unmarshal(act.GetPayload(), &actionPayload); err != nil {
		return w, fmt.Errorf("malformed chaincode action payload: %w", err)
	}
	w.responsePayload = actionPayload.GetAction().GetProposalResponsePayload()
	w.endorsements = actionPayload.GetAction().GetEndorsements()
	var prp peer.ProposalResponsePayload
	if err := proto.Unmarshal(w.responsePayload, &prp); err != nil {
		return w, fmt.Errorf("malformed proposal response payload: %w", err)
	}
	w.extension = prp.GetExtension()
	return w, nil
}
