package sim

import (
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/srellama/srellama/chaincode/shimstub"
	"github.com/srellama/srellama/node/embedledger/store"
)

// recorder is the committed state as the simulated transaction reads it:
// one namespace of a snapshot, recording every key read with the version
// it had, and every range query with the entries it pulled from the store,
// which the committer re-executes to detect phantoms.
type recorder struct {
	ns     string
	state  State
	reads  map[string]*kvrwset.KVRead
	ranges []*kvrwset.RangeQueryInfo
}

var _ shimstub.Committed = (*recorder)(nil)

func (r *recorder) Get(key string) ([]byte, bool, error) {
	val, ver, ok := r.state.Get(r.ns, key)
	if _, seen := r.reads[key]; !seen {
		read := &kvrwset.KVRead{Key: key}
		if ok {
			read.Version = &kvrwset.Version{BlockNum: ver.Block, TxNum: ver.Tx}
		}
		r.reads[key] = read
	}
	return val, ok, nil
}

func (r *recorder) Range(start, end string) (shimstub.Cursor, error) {
	reads := &kvrwset.QueryReads{}
	info := &kvrwset.RangeQueryInfo{
		StartKey:  start,
		EndKey:    end,
		ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: reads},
	}
	r.ranges = append(r.ranges, info)
	return &recordingCursor{it: r.state.Range(r.ns, start, end), info: info, reads: reads}, nil
}

func (r *recorder) History(key string) ([]*queryresult.KeyModification, error) {
	return r.state.History(r.ns, key)
}

// recordingCursor records each entry it pulls from the store, and whether
// it reached the end of the range.
type recordingCursor struct {
	it    *store.Iterator
	info  *kvrwset.RangeQueryInfo
	reads *kvrwset.QueryReads
}

func (c *recordingCursor) Next() (string, []byte, bool, error) {
	e, ok := c.it.Next()
	if !ok {
		c.info.ItrExhausted = true
		return "", nil, false, nil
	}
	c.reads.KvReads = append(c.reads.KvReads, &kvrwset.KVRead{
		Key:     e.Key,
		Version: &kvrwset.Version{BlockNum: e.Version.Block, TxNum: e.Version.Tx},
	})
	return e.Key, e.Value, true, nil
}
