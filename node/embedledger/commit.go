package embedledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"github.com/srellama/srellama/node/embedledger/mvcc"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// pendingTx is a submitted transaction waiting for a block.
type pendingTx struct {
	raw  []byte // the envelope as it goes into the block
	tx   *fabmsg.Transaction
	sets []mvcc.NsSet
	// code is the verdict of the checks that need no state (endorsements,
	// read-write set structure); VALID means "check MVCC next".
	code peer.TxValidationCode
	// simulated says the read-write set is one this ledger simulated, as
	// sim says.
	simulated bool
	sim       simulation
}

type commitResult struct {
	status store.TxStatus
	err    error
}

// Submit accepts a signed transaction envelope for ordering. As with a
// Fabric orderer, a transaction whose creator or signature is refused is
// rejected here; a transaction whose endorsements do not satisfy the policy
// is ordered and marked invalid in its block.
func (l *Ledger) Submit(ctx context.Context, env *common.Envelope) error {
	tx, err := fabmsg.ParseTransaction(env)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if ch := tx.ChannelHeader.GetChannelId(); ch != l.cfg.Channel {
		return fmt.Errorf("%w: channel %q (this ledger serves %q)", ErrNotFound, ch, l.cfg.Channel)
	}
	creator, err := l.verifier.Identify(tx.SignatureHeader.GetCreator(), devca.RoleClient, devca.RoleAdmin)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if err := creator.Verify(env.GetPayload(), env.GetSignature()); err != nil {
		return fmt.Errorf("%w: transaction envelope from %s: %v", ErrUnauthorized, creator.MSPID, err)
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	p := &pendingTx{raw: raw, tx: tx}
	p.code, p.sim, p.simulated = l.checkEndorsements(tx)
	if p.code == peer.TxValidationCode_VALID {
		if p.sets, err = mvcc.Decode(tx.RWSet); err != nil || mvcc.CheckWrites(p.sets) != nil {
			p.code = peer.TxValidationCode_BAD_RWSET
		}
	}
	l.noteQueued(p.tx.TxID(), 1)
	select {
	case l.queue <- p:
		if len(l.queue) >= l.cfg.MaxBlockTxs-1 {
			select { // the committer may be asleep in a batch window
			case l.blockFull <- struct{}{}:
			default:
			}
		}
		return nil
	case <-l.closing:
		err = fmt.Errorf("%w: ledger is shutting down", ErrUnavailable)
	case <-l.done:
		err = fmt.Errorf("%w: the committer stopped after a failed commit", ErrUnavailable)
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.noteQueued(p.tx.TxID(), -1)
	return err
}

// noteQueued counts a transaction into or out of the queue.
func (l *Ledger) noteQueued(txID string, delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.queued[txID] + delta; n > 0 {
		l.queued[txID] = n
	} else {
		delete(l.queued, txID)
	}
}

// checkEndorsements applies the channel's endorsement policy: the
// transaction must be endorsed, with valid signatures over the exact
// response it carries, by the peer of at least one member organization, for
// a chaincode this ledger hosts, and only touch that chaincode's namespace.
// When one of the endorsements is this ledger's own, it also returns the
// simulation it came from.
func (l *Ledger) checkEndorsements(tx *fabmsg.Transaction) (code peer.TxValidationCode, sim simulation, simulated bool) {
	name := tx.Action.GetChaincodeId().GetName()
	if _, ok := l.cfg.Chaincodes[name]; !ok {
		return peer.TxValidationCode_INVALID_CHAINCODE, simulation{}, false
	}
	for _, ns := range tx.RWSet.GetNsRwset() {
		if ns.GetNamespace() != name {
			return peer.TxValidationCode_ILLEGAL_WRITESET, simulation{}, false
		}
	}
	if tx.Action.GetResponse().GetStatus() >= 400 {
		return peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, simulation{}, false
	}
	endorsed := 0
	for _, e := range tx.Endorsements {
		id, err := l.verifier.Identify(e.GetEndorser(), devca.RolePeer)
		if err != nil {
			return peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, simulation{}, false
		}
		digest := fabmsg.EndorsedDigest(tx.ResponsePayload, e.GetEndorser())
		if s, ours := l.endorsed.signedHere(e.GetSignature(), digest); ours {
			sim, simulated = s, true
		} else if err := id.VerifyDigest(digest, e.GetSignature()); err != nil {
			return peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, simulation{}, false
		}
		endorsed++
	}
	if endorsed == 0 {
		return peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, simulation{}, false
	}
	return peer.TxValidationCode_VALID, sim, simulated
}

// runCommitter is the orderer and committer: it cuts blocks from the queue
// and commits them one at a time.
func (l *Ledger) runCommitter() {
	defer close(l.done)
	for {
		var first *pendingTx
		select {
		case first = <-l.queue:
		case <-l.closing:
			return
		}
		batch := l.cut(first)
		if err := l.commitBlock(batch); err != nil {
			l.fail(batch, err)
			return
		}
	}
}

// cut collects a block: the first transaction and whatever else is queued
// by the end of the batch window, BatchTimeout after the first, up to
// MaxBlockTxs. The committer sleeps through the window instead of waking
// for each arrival: the queue holds them, and a trace showed a committer
// woken once per transaction spending more time waiting for a processor
// than committing. A full block ends the window early.
func (l *Ledger) cut(first *pendingTx) []*pendingTx {
	batch := []*pendingTx{first}
	select {
	case <-l.blockFull: // left from an earlier window; the queue says
	default:
	}
	if l.cfg.BatchTimeout > 0 && len(l.queue) < l.cfg.MaxBlockTxs-1 {
		t := time.NewTimer(l.cfg.BatchTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.blockFull:
		case <-l.closing:
			return batch
		}
	}
	return l.drain(batch)
}

// drain adds what is queued now to the batch, up to MaxBlockTxs.
func (l *Ledger) drain(batch []*pendingTx) []*pendingTx {
	for len(batch) < l.cfg.MaxBlockTxs {
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commitBlock validates the batch in order and writes the block, its state
// changes, history and index in one durable store commit.
func (l *Ledger) commitBlock(batch []*pendingTx) error {
	var num uint64
	codes := make([]peer.TxValidationCode, len(batch))
	start := time.Now()
	err := l.store.Commit(func(u *store.Update) error {
		height, prevHash := u.Height()
		num = height
		l.recent.BeginBlock(num)
		seen := make(map[string]bool, len(batch))
		envs := make([][]byte, len(batch))
		for i, p := range batch {
			envs[i] = p.raw
			id := p.tx.TxID()
			code := p.code
			switch {
			case seen[id] || l.committedBefore(u, p):
				code = peer.TxValidationCode_DUPLICATE_TXID
			case code == peer.TxValidationCode_VALID && p.simulated && l.recent.Unchanged(p.sets, p.sim.height):
				// Nothing it read was written since it was simulated here.
			case code == peer.TxValidationCode_VALID:
				code = mvcc.Validate(p.sets, u)
			}
			if code == peer.TxValidationCode_VALID {
				l.recent.Add(p.sets)
			}
			seen[id] = true
			l.recent.AddTx(id)
			codes[i] = code
			if err := recordTx(u, p.tx, p.sets, store.Height{Block: num, Tx: uint64(i)}, code); err != nil {
				return err
			}
		}
		return appendBlock(u, num, prevHash, envs, codes)
	})
	if err != nil {
		return fmt.Errorf("commit block %d: %w", num, err)
	}
	l.recent.EndBlock()
	l.published(num, batch, codes, time.Since(start))
	return nil
}

// committedBefore reports whether p's transaction ID is in the index.
// Endorse found the ID of each transaction it simulated absent from the
// index of the state it simulated on; unless a block since committed it,
// it is still absent, and the index, where LevelDB looks for an absent key
// in every level-0 table, need not be read. The endorsement binds the
// simulated ID only through the proposal hash, which is not checked against
// the envelope, so the IDs are compared.
func (l *Ledger) committedBefore(u *store.Update, p *pendingTx) bool {
	id := p.tx.TxID()
	if p.simulated && p.sim.txID == id && l.recent.TxAbsentSince(id, p.sim.height) {
		return false
	}
	_, committed := u.TxStatus(id)
	return committed
}

func appendBlock(u *store.Update, num uint64, prevHash []byte, envs [][]byte, codes []peer.TxValidationCode) error {
	b, err := blocks.New(num, prevHash, envs, codes)
	if err != nil {
		return err
	}
	raw, err := proto.Marshal(b)
	if err != nil {
		return fmt.Errorf("marshal block %d: %w", num, err)
	}
	return u.AppendBlock(num, raw, blocks.HeaderHash(b.GetHeader()))
}

// published wakes commit status waiters and event streams.
func (l *Ledger) published(num uint64, batch []*pendingTx, codes []peer.TxValidationCode, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Blocks++
	l.stats.Txs += uint64(len(batch))
	l.stats.CommitTime += took
	for i, p := range batch {
		id := p.tx.TxID()
		if n := l.queued[id]; n > 1 {
			l.queued[id] = n - 1
		} else {
			delete(l.queued, id)
		}
		st := store.TxStatus{Block: num, Tx: uint64(i), Code: codes[i]}
		if codes[i] == peer.TxValidationCode_DUPLICATE_TXID {
			// Waiters want the first commit. Those that came while this
			// resubmission was queued did not look it up: answer them.
			if len(l.waiters[id]) == 0 {
				continue
			}
			found, ok, err := l.txStatus(id)
			if err != nil {
				for _, w := range l.waiters[id] {
					w <- commitResult{err: err}
				}
				delete(l.waiters, id)
				continue
			}
			if !ok {
				continue // cannot be: a duplicate's ID is in the index
			}
			st = found
		}
		for _, w := range l.waiters[id] {
			w <- commitResult{status: st}
		}
		delete(l.waiters, id)
	}
	l.height = num + 1
	close(l.newTip)
	l.newTip = make(chan struct{})
}

// fail stops the ledger after a commit error: nothing of the failed block
// was written, and every waiter learns the ledger is unavailable.
func (l *Ledger) fail(batch []*pendingTx, err error) {
	l.unhealthy(fmt.Errorf("the committer stopped: %w", err), false)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failure = err
	clear(l.queued)
	for id, ws := range l.waiters {
		for _, w := range ws {
			w <- commitResult{err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
		}
		delete(l.waiters, id)
	}
	close(l.newTip)
	l.newTip = make(chan struct{})
}

// CommitStatus authenticates a signed commit status request and waits until
// the transaction is committed (or ctx ends).
func (l *Ledger) CommitStatus(ctx context.Context, signed *gateway.SignedCommitStatusRequest) (*gateway.CommitStatusResponse, error) {
	var req gateway.CommitStatusRequest
	if err := proto.Unmarshal(signed.GetRequest(), &req); err != nil {
		return nil, fmt.Errorf("%w: malformed commit status request: %v", ErrBadRequest, err)
	}
	if err := l.authenticate(req.GetIdentity(), signed.GetRequest(), signed.GetSignature()); err != nil {
		return nil, err
	}
	if req.GetChannelId() != l.cfg.Channel {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, req.GetChannelId())
	}
	st, err := l.waitCommit(ctx, req.GetTransactionId())
	if err != nil {
		return nil, err
	}
	return &gateway.CommitStatusResponse{Result: st.Code, BlockNumber: st.Block}, nil
}

func (l *Ledger) authenticate(identity, msg, sig []byte) error {
	id, err := l.verifier.Identify(identity)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if err := id.Verify(msg, sig); err != nil {
		return fmt.Errorf("%w: request from %s: %v", ErrUnauthorized, id.MSPID, err)
	}
	return nil
}

func (l *Ledger) waitCommit(ctx context.Context, txID string) (store.TxStatus, error) {
	ch := make(chan commitResult, 1)
	l.mu.Lock()
	// Looked up under the lock that published() takes after writing, so a
	// transaction is either found here or its waiter is registered in time.
	var st store.TxStatus
	ok := false
	if l.queued[txID] == 0 {
		var err error
		if st, ok, err = l.txStatus(txID); err != nil {
			l.mu.Unlock()
			return store.TxStatus{}, err
		}
	}
	if !ok {
		if l.failure != nil {
			l.mu.Unlock()
			return store.TxStatus{}, fmt.Errorf("%w: %v", ErrUnavailable, l.failure)
		}
		l.waiters[txID] = append(l.waiters[txID], ch)
	}
	l.mu.Unlock()
	if ok {
		return st, nil
	}
	select {
	case r := <-ch:
		return r.status, r.err
	case <-l.closing:
		l.dropWaiter(txID, ch)
		return store.TxStatus{}, fmt.Errorf("%w: ledger is shutting down", ErrUnavailable)
	case <-ctx.Done():
		l.dropWaiter(txID, ch)
		return store.TxStatus{}, ctx.Err()
	}
}

func (l *Ledger) dropWaiter(txID string, ch chan commitResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.waiters[txID]
	for i, w := range ws {
		if w == ch {
			l.waiters[txID] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(l.waiters[txID]) == 0 {
		delete(l.waiters, txID)
	}
}

// genesis is the content of block 0: the channel and its members' root CAs.
// It anchors the hash chain; it is not a Fabric configtx.
type genesis struct {
	Channel string            `json:"channel"`
	Members map[string]string `json:"members"` // MSP ID -> root CA certificate (PEM)
}

func (l *Ledger) ensureGenesis() error {
	return l.store.Commit(func(u *store.Update) error {
		height, _ := u.Height()
		l.height = height
		if height > 0 {
			return nil
		}
		g := genesis{Channel: l.cfg.Channel, Members: map[string]string{}}
		for _, o := range l.orgs {
			g.Members[o.MSPID] = string(o.CA.CertPEM())
		}
		data, err := json.Marshal(g)
		if err != nil {
			return err
		}
		ch, err := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_CONFIG), ChannelId: l.cfg.Channel, Timestamp: timestamppb.New(l.cfg.Now())})
		if err != nil {
			return err
		}
		payload, err := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: ch}, Data: data})
		if err != nil {
			return err
		}
		env, err := proto.Marshal(&common.Envelope{Payload: payload})
		if err != nil {
			return err
		}
		l.height = 1
		return appendBlock(u, 0, nil, [][]byte{env}, []peer.TxValidationCode{peer.TxValidationCode_VALID})
	})
}
