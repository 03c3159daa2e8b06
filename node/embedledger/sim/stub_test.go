package sim_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/srellama/srellama/node/embedledger/mvcc"
	"github.com/srellama/srellama/node/embedledger/sim"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/protobuf/proto"
)

const ns = "cc"

// seeded opens a store holding keys a, b, c (block 1) and a composite key.
func seeded(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ck, _ := shim.CreateCompositeKey("tok", []string{"svc", "t1"})
	err = s.Commit(func(u *store.Update) error {
		for i, k := range []string{"a", "b", "c", ck} {
			if err := u.Put(ns, k, []byte("v"+k), store.Height{Block: 1, Tx: uint64(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func simulate(t *testing.T, s *store.Store, run func(stub *sim.Stub)) *kvrwset.KVRWSet {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	stub := sim.NewStub(ns, &sim.Invocation{TxID: "tx1", ChannelID: "ch"}, snap)
	run(stub)
	res, err := stub.Result()
	if err != nil {
		t.Fatal(err)
	}
	var set rwset.TxReadWriteSet
	if err := proto.Unmarshal(res.RWBytes, &set); err != nil {
		t.Fatal(err)
	}
	var kv kvrwset.KVRWSet
	if err := proto.Unmarshal(set.GetNsRwset()[0].GetRwset(), &kv); err != nil {
		t.Fatal(err)
	}
	return &kv
}

func TestReadsAreRecordedOnceWithTheirCommittedVersion(t *testing.T) {
	s := seeded(t)
	kv := simulate(t, s, func(stub *sim.Stub) {
		stub.GetState("b")
		stub.PutState("b", []byte("new"))
		if v, _ := stub.GetState("b"); string(v) != "vb" {
			t.Errorf("GetState after PutState = %q; Fabric reads committed state only", v)
		}
		stub.GetState("missing")
		stub.DelState("a")
	})
	if len(kv.Reads) != 2 || kv.Reads[0].GetKey() != "b" || kv.Reads[0].GetVersion().GetTxNum() != 1 ||
		kv.Reads[1].GetKey() != "missing" || kv.Reads[1].GetVersion() != nil {
		t.Errorf("reads = %v", kv.Reads)
	}
	if len(kv.Writes) != 2 || kv.Writes[0].GetKey() != "a" || !kv.Writes[0].GetIsDelete() || string(kv.Writes[1].GetValue()) != "new" {
		t.Errorf("writes sorted by key = %v", kv.Writes)
	}
}

func TestRangeQueriesAreRecordedForPhantomDetection(t *testing.T) {
	s := seeded(t)
	tests := []struct {
		name      string
		consume   int
		exhausted bool
	}{
		{"fully consumed", -1, true},
		{"stopped early", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := simulate(t, s, func(stub *sim.Stub) {
				it, err := stub.GetStateByRange("", "")
				if err != nil {
					t.Fatal(err)
				}
				for n := 0; it.HasNext() && n != tt.consume; n++ {
					it.Next()
				}
				it.Close()
			})
			rq := kv.GetRangeQueriesInfo()[0]
			if rq.GetItrExhausted() != tt.exhausted || rq.GetStartKey() != "\x01" {
				t.Errorf("range info %v", rq)
			}
			for _, r := range rq.GetRawReads().GetKvReads() {
				if strings.HasPrefix(r.GetKey(), "\x00") {
					t.Errorf("a simple-key range returned composite key %q", r.GetKey())
				}
			}
		})
	}
}

// TestEmptyPutIsRecordedAsADelete: the write set says delete, as a peer's
// does for a PutState whose value is empty (shimstub's table tests cover
// the rest of the stub's state semantics).
func TestEmptyPutIsRecordedAsADelete(t *testing.T) {
	s := seeded(t)
	kv := simulate(t, s, func(stub *sim.Stub) {
		stub.PutState("a", []byte{})
		stub.PutState("b", nil)
		stub.PutState("c", []byte("x"))
	})
	if len(kv.Writes) != 3 || !kv.Writes[0].GetIsDelete() || !kv.Writes[1].GetIsDelete() || kv.Writes[2].GetIsDelete() {
		t.Errorf("writes = %v, want a and b deleted, c written", kv.Writes)
	}
}

func TestStubRefusesWhatFabricRefusesAndWhatItDoesNotSupport(t *testing.T) {
	s := seeded(t)
	snap, _ := s.Snapshot()
	defer snap.Close()
	stub := sim.NewStub(ns, &sim.Invocation{TxID: "tx"}, snap)
	_, priv := stub.GetPrivateData("c", "k")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"key longer than the store takes", stub.PutState(strings.Repeat("k", mvcc.MaxKeyLen+1), []byte("v")), "longer than"},
		{"rich query", second(stub.GetQueryResult("{}")), "CouchDB"},
		{"private data", priv, "private data"},
		{"key-level endorsement", stub.SetStateValidationParameter("k", nil), "state-based"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, tt.err, tt.want)
		}
	}
	if r := stub.InvokeChaincode("other", nil, ""); r.GetStatus() != shim.ERROR {
		t.Errorf("chaincode-to-chaincode call: %v", r)
	}
}

func second[T any](_ T, err error) error { return err }

func TestEventLastOneWins(t *testing.T) {
	s := seeded(t)
	snap, _ := s.Snapshot()
	defer snap.Close()
	stub := sim.NewStub(ns, &sim.Invocation{TxID: "tx"}, snap)
	stub.SetEvent("first", []byte("1"))
	stub.SetEvent("second", []byte("2"))
	res, _ := stub.Result()
	if res.Event.GetEventName() != "second" || res.Event.GetTxId() != "tx" || res.Event.GetChaincodeId() != ns {
		t.Errorf("event = %v", res.Event)
	}
}

func TestValidationAgainstStateChangedSinceSimulation(t *testing.T) {
	tests := []struct {
		name   string
		sim    func(stub *sim.Stub)
		change func(u *store.Update) error
		want   string
	}{
		{"read key rewritten", func(s *sim.Stub) { s.GetState("a") },
			func(u *store.Update) error { return u.Put(ns, "a", []byte("x"), store.Height{Block: 2}) }, "MVCC_READ_CONFLICT"},
		{"absent key created", func(s *sim.Stub) { s.GetState("zz") },
			func(u *store.Update) error { return u.Put(ns, "zz", []byte("x"), store.Height{Block: 2}) }, "MVCC_READ_CONFLICT"},
		{"key inserted into a scanned range", scan("a", "c", -1),
			func(u *store.Update) error { return u.Put(ns, "ab", []byte("x"), store.Height{Block: 2}) }, "PHANTOM_READ_CONFLICT"},
		{"key deleted from a scanned range", scan("a", "c", -1),
			func(u *store.Update) error { return u.Delete(ns, "b") }, "PHANTOM_READ_CONFLICT"},
		{"insert beyond where the scan stopped", scan("a", "", 1),
			func(u *store.Update) error { return u.Put(ns, "bb", []byte("x"), store.Height{Block: 2}) }, "VALID"},
		{"unrelated write", func(s *sim.Stub) { s.GetState("a") },
			func(u *store.Update) error { return u.Put(ns, "q", []byte("x"), store.Height{Block: 2}) }, "VALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seeded(t)
			kv := simulate(t, s, tt.sim)
			if err := s.Commit(tt.change); err != nil {
				t.Fatal(err)
			}
			s.View(func(snap *store.Snapshot) error {
				if got := mvcc.Validate([]mvcc.NsSet{{Namespace: ns, KV: kv}}, snap).String(); got != tt.want {
					t.Errorf("Validate = %s, want %s", got, tt.want)
				}
				return nil
			})
		})
	}
}

func scan(start, end string, n int) func(*sim.Stub) {
	return func(s *sim.Stub) {
		it, _ := s.GetStateByRange(start, end)
		for i := 0; it.HasNext() && i != n; i++ {
			it.Next()
		}
	}
}
