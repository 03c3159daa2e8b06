package embedledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
)

// ChaincodeEvents authenticates a signed events request and streams the
// chaincode events of valid transactions, block by block, from the
// requested start position, then follows new blocks until ctx ends or send
// fails. With AfterTransactionId, events of the start block up to and
// including that transaction are skipped: that is how a client resumes from
// a checkpoint without seeing an event twice.
func (l *Ledger) ChaincodeEvents(ctx context.Context, signed *gateway.SignedChaincodeEventsRequest, send func(*gateway.ChaincodeEventsResponse) error) error {
	var req gateway.ChaincodeEventsRequest
	if err := proto.Unmarshal(signed.GetRequest(), &req); err != nil {
		return fmt.Errorf("%w: malformed chaincode events request: %v", ErrBadRequest, err)
	}
	if err := l.authenticate(req.GetIdentity(), signed.GetRequest(), signed.GetSignature()); err != nil {
		return err
	}
	if req.GetChannelId() != l.cfg.Channel {
		return fmt.Errorf("%w: channel %q", ErrNotFound, req.GetChannelId())
	}
	if _, ok := l.cfg.Chaincodes[req.GetChaincodeId()]; !ok {
		return fmt.Errorf("%w: chaincode %q", ErrNotFound, req.GetChaincodeId())
	}
	next, err := l.startBlock(req.GetStartPosition())
	if err != nil {
		return err
	}
	skipThrough := req.GetAfterTransactionId()
	for {
		if err := l.waitForBlock(ctx, next); err != nil {
			return err
		}
		b, err := l.Block(next)
		if err != nil {
			return err
		}
		events, err := chaincodeEvents(b, req.GetChaincodeId(), skipThrough)
		if err != nil {
			return err
		}
		skipThrough = ""
		if len(events) > 0 {
			if err := send(&gateway.ChaincodeEventsResponse{BlockNumber: next, Events: events}); err != nil {
				return err
			}
		}
		next++
	}
}

func (l *Ledger) startBlock(pos *orderer.SeekPosition) (uint64, error) {
	l.mu.Lock()
	height := l.height
	l.mu.Unlock()
	switch t := pos.GetType().(type) {
	case nil, *orderer.SeekPosition_NextCommit, *orderer.SeekPosition_Newest:
		if _, newest := t.(*orderer.SeekPosition_Newest); newest && height > 0 {
			return height - 1, nil
		}
		return height, nil
	case *orderer.SeekPosition_Oldest:
		return 0, nil
	case *orderer.SeekPosition_Specified:
		return t.Specified.GetNumber(), nil
	default:
		return 0, fmt.Errorf("%w: unsupported start position %T", ErrBadRequest, t)
	}
}

// waitForBlock returns once block num is committed.
func (l *Ledger) waitForBlock(ctx context.Context, num uint64) error {
	for {
		l.mu.Lock()
		height, tip, failure := l.height, l.newTip, l.failure
		l.mu.Unlock()
		if num < height {
			return nil
		}
		if failure != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, failure)
		}
		select {
		case <-tip:
		case <-l.closing:
			return fmt.Errorf("%w: ledger is shutting down", ErrUnavailable)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Height returns the number of committed blocks, genesis included.
func (l *Ledger) Height() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.height
}

// Block returns committed block num.
func (l *Ledger) Block(num uint64) (*common.Block, error) {
	var raw []byte
	err := l.store.View(func(s *store.Snapshot) error {
		var err error
		raw, err = s.Block(num)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNoBlock):
		return nil, fmt.Errorf("%w: block %d", ErrNotFound, num)
	case err != nil:
		return nil, l.readFailed(err)
	}
	var b common.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("block %d is corrupt: %w", num, err)
	}
	return &b, nil
}

func chaincodeEvents(b *common.Block, chaincode, skipThrough string) ([]*peer.ChaincodeEvent, error) {
	codes := blocks.ValidationCodes(b)
	var out []*peer.ChaincodeEvent
	for i, raw := range b.GetData().GetData() {
		var env common.Envelope
		if err := proto.Unmarshal(raw, &env); err != nil {
			return nil, fmt.Errorf("block %d tx %d: %w", b.GetHeader().GetNumber(), i, err)
		}
		tx, err := fabmsg.ParseTransaction(&env)
		if err != nil {
			continue // genesis or another non-endorser transaction
		}
		if skipThrough != "" && tx.TxID() == skipThrough {
			out = out[:0] // resume after the checkpointed transaction
			continue
		}
		if codes[i] != peer.TxValidationCode_VALID || tx.Event == nil || tx.Event.GetChaincodeId() != chaincode {
			continue
		}
		out = append(out, tx.Event)
	}
	return out, nil
}
