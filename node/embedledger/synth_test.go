package embedledger

import (
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
)

// AppendSyntheticBlocks appends blocks of perBlock VALID transactions,
// n in all, each a copy of the last committed block's first transaction
// with its one write's key replaced by key(i): ledgers of a million
// transactions for the audit benchmark, which through the gateway take
// most of an hour to build on a loaded two-core machine. The copies carry
// the template's signatures, which no longer cover them; the audit does
// not check signatures (the committer did), so it reads and replays them
// exactly as real ones.
func (l *Ledger) AppendSyntheticBlocks(n, perBlock int, key func(int) string) error {
	tmpl, err := l.templateTx()
	if err != nil {
		return err
	}
	for done := 0; done < n; {
		count := min(perBlock, n-done)
		envs := make([][]byte, count)
		codes := make([]peer.TxValidationCode, count)
		for i := range envs {
			if envs[i], err = tmpl.withKey(key(done + i)); err != nil {
				return err
			}
		}
		err := l.store.Commit(func(u *store.Update) error {
			num, prev := u.Height()
			b, err := blocks.New(num, prev, envs, codes)
			if err != nil {
				return err
			}
			if err := applyCommitted(u, b); err != nil {
				return err
			}
			raw, err := proto.Marshal(b)
			if err != nil {
				return err
			}
			return u.AppendBlock(num, raw, blocks.HeaderHash(b.GetHeader()))
		})
		if err != nil {
			return err
		}
		done += count
	}
	return l.store.View(func(snap *store.Snapshot) error {
		h, _ := snap.Height()
		l.mu.Lock()
		l.height = h
		l.mu.Unlock()
		return nil
	})
}

// template is a transaction taken apart down to its write set.
type template struct {
	env     common.Envelope
	payload common.Payload
	tx      peer.Transaction
	cap     peer.ChaincodeActionPayload
	prp     peer.ProposalResponsePayload
	action  peer.ChaincodeAction
	set     rwset.TxReadWriteSet
	kv      kvrwset.KVRWSet
}

func (l *Ledger) templateTx() (*template, error) {
	b, err := l.Block(l.Height() - 1)
	if err != nil {
		return nil, err
	}
	t := &template{}
	if err := proto.Unmarshal(b.GetData().GetData()[0], &t.env); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		raw func() []byte
		m   proto.Message
	}{
		// Closures: each reads its field once the step before filled it.
		{func() []byte { return t.env.GetPayload() }, &t.payload},
		{func() []byte { return t.payload.GetData() }, &t.tx},
		{func() []byte { return t.tx.GetActions()[0].GetPayload() }, &t.cap},
		{func() []byte { return t.cap.GetAction().GetProposalResponsePayload() }, &t.prp},
		{func() []byte { return t.prp.GetExtension() }, &t.action},
		{func() []byte { return t.action.GetResults() }, &t.set},
		{func() []byte { return t.set.GetNsRwset()[0].GetRwset() }, &t.kv},
	} {
		if err := proto.Unmarshal(s.raw(), s.m); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	if len(t.kv.GetWrites()) != 1 {
		return nil, fmt.Errorf("template: %d writes, want 1", len(t.kv.GetWrites()))
	}
	return t, nil
}

func (t *template) withKey(key string) ([]byte, error) {
	t.kv.Writes[0].Key = key
	var err error
	marshal := func(m proto.Message) []byte {
		if err != nil {
			return nil
		}
		var raw []byte
		raw, err = proto.Marshal(m)
		return raw
	}
	t.set.NsRwset[0].Rwset = marshal(&t.kv)
	t.action.Results = marshal(&t.set)
	t.prp.Extension = marshal(&t.action)
	t.cap.Action.ProposalResponsePayload = marshal(&t.prp)
	t.tx.Actions[0].Payload = marshal(&t.cap)
	t.payload.Data = marshal(&t.tx)
	t.env.Payload = marshal(&t.payload)
	raw := marshal(&t.env)
	return raw, err
}
