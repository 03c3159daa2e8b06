package stubtest

import (
	"errors"
	"slices"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/srellama/srellama/chaincode/shimstub"
)

// stub is one transaction's view of the ledger. Its world-state calls are
// shimstub.State's, the same implementation the embedded ledger simulates
// with, over the ledger's committed state.
type stub struct {
	*shimstub.State
	ledger  *Ledger
	txID    string
	now     time.Time
	creator []byte
	args    [][]byte
}

var _ shim.ChaincodeStubInterface = (*stub)(nil)

var errUnsupported = errors.New("not supported by the SRE-Llama chaincode's test ledger")

func (l *Ledger) newStub(id *Identity, fn string, args []string) *stub {
	all := make([][]byte, 0, len(args)+1)
	all = append(all, []byte(fn))
	for _, a := range args {
		all = append(all, []byte(a))
	}
	var creator []byte
	if id != nil {
		creator = id.Creator
	}
	return &stub{
		State:  shimstub.NewState(committed{l}, MaxKeyLen, errUnsupported),
		ledger: l, txID: l.txIDFor(creator), now: l.now, creator: creator,
		args: all,
	}
}

// MaxKeyLen bounds state keys as the embedded ledger does.
const MaxKeyLen = 16 * 1024

// committed is the ledger's committed state, as shimstub reads it.
type committed struct{ l *Ledger }

func (c committed) Get(key string) ([]byte, bool, error) {
	v, ok := c.l.state[key]
	if !ok {
		return nil, false, nil
	}
	return slices.Clone(v.value), true, nil
}

func (c committed) Range(start, end string) (shimstub.Cursor, error) {
	return &keyCursor{l: c.l, keys: c.l.sortedKeys(start, end)}, nil
}

func (c committed) History(key string) ([]*queryresult.KeyModification, error) {
	mods := slices.Clone(c.l.history[key])
	slices.Reverse(mods)
	return mods, nil
}

// keyCursor walks the keys that were committed when the range query
// started; transactions run one at a time, so they stay committed.
type keyCursor struct {
	l    *Ledger
	keys []string
}

func (c *keyCursor) Next() (string, []byte, bool, error) {
	if len(c.keys) == 0 {
		return "", nil, false, nil
	}
	k := c.keys[0]
	c.keys = c.keys[1:]
	return k, slices.Clone(c.l.state[k].value), true, nil
}

func (s *stub) GetArgs() [][]byte { return s.args }

func (s *stub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *stub) GetFunctionAndParameters() (string, []string) {
	all := s.GetStringArgs()
	if len(all) == 0 {
		return "", nil
	}
	return all[0], all[1:]
}

func (s *stub) GetArgsSlice() ([]byte, error) {
	var out []byte
	for _, a := range s.args {
		out = append(out, a...)
	}
	return out, nil
}

func (s *stub) GetTxID() string      { return s.txID }
func (s *stub) GetChannelID() string { return s.ledger.channel }

func (s *stub) InvokeChaincode(string, [][]byte, string) *peer.Response {
	return shim.Error("chaincode-to-chaincode calls are not supported by the test ledger")
}

func (s *stub) GetCreator() ([]byte, error) {
	if len(s.creator) == 0 {
		return nil, errors.New("no creator")
	}
	return s.creator, nil
}

func (s *stub) GetTransient() (map[string][]byte, error) { return map[string][]byte{}, nil }
func (s *stub) GetBinding() ([]byte, error)              { return nil, nil }
func (s *stub) GetDecorations() map[string][]byte        { return nil }

func (s *stub) GetSignedProposal() (*peer.SignedProposal, error) {
	return nil, errors.New("the test ledger has no signed proposals")
}

func (s *stub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return timestamppb.New(s.now), nil }
