package stubtest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/srellama/srellama/chaincode/stubtest"
)

// kv is a chaincode that exposes the stub directly, so the test ledger's
// semantics can be checked one call at a time.
type kv struct{}

func (kv) Init(shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

func (kv) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, args := stub.GetFunctionAndParameters()
	switch fn {
	case "put": // put k v, then read k back within the same transaction
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return shim.Error(err.Error())
		}
		v, _ := stub.GetState(args[0])
		_ = stub.SetEvent("first", nil)
		_ = stub.SetEvent("put", []byte(args[0]))
		return shim.Success(v)
	case "putfail":
		_ = stub.PutState(args[0], []byte(args[1]))
		_ = stub.SetEvent("never", nil)
		return shim.Error("refused")
	case "ckey":
		k, _ := stub.CreateCompositeKey("obj", args)
		return shimResult(stub.PutState(k, []byte("v")))
	case "page":
		it, meta, err := stub.GetStateByPartialCompositeKeyWithPagination("obj", nil, 2, args[0])
		if err != nil {
			return shim.Error(err.Error())
		}
		var keys []string
		for it.HasNext() {
			r, _ := it.Next()
			_, attrs, _ := stub.SplitCompositeKey(r.GetKey())
			keys = append(keys, strings.Join(attrs, "/"))
		}
		if len(args) > 1 {
			_ = stub.PutState("x", []byte("y"))
		}
		return shim.Success([]byte(strings.Join(keys, ",") + "|" + meta.GetBookmark()))
	case "history":
		it, _ := stub.GetHistoryForKey(args[0])
		var vals []string
		for it.HasNext() {
			m, _ := it.Next()
			vals = append(vals, string(m.GetValue()))
		}
		return shim.Success([]byte(strings.Join(vals, ",")))
	case "time":
		ts, _ := stub.GetTxTimestamp()
		return shim.Success([]byte(ts.AsTime().Format(time.RFC3339Nano)))
	}
	return shim.Error("unknown " + fn)
}

func shimResult(err error) *peer.Response {
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(nil)
}

func setup(t *testing.T) (*stubtest.Ledger, *stubtest.Identity) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org, err := stubtest.NewOrg("Org1MSP", start)
	if err != nil {
		t.Fatal(err)
	}
	return stubtest.New("ch", start), org.Client
}

func TestReadsSeeCommittedStateOnly(t *testing.T) {
	l, id := setup(t)
	r, err := l.Submit(kv{}, id, "put", "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Payload) != 0 {
		t.Fatalf("a transaction read its own uncommitted write: %q", r.Payload)
	}
	if r.Event == nil || r.Event.Name != "put" {
		t.Fatalf("event = %+v, want the last one set", r.Event)
	}
	r, _ = l.Submit(kv{}, id, "put", "a", "2")
	if string(r.Payload) != "1" {
		t.Fatalf("read %q, want the committed 1", r.Payload)
	}
}

func TestFailedTransactionsLeaveNoTrace(t *testing.T) {
	l, id := setup(t)
	before := l.StateDigest()
	_, err := l.Submit(kv{}, id, "putfail", "a", "1")
	var ce *stubtest.ChaincodeError
	if !errors.As(err, &ce) || ce.Message != "refused" {
		t.Fatalf("err = %v", err)
	}
	if l.StateDigest() != before || len(l.Events()) != 0 {
		t.Fatal("a failed transaction changed state or emitted an event")
	}
}

func TestPaginationAndHistory(t *testing.T) {
	l, id := setup(t)
	for _, k := range []string{"c", "a", "b", "d", "e"} {
		if _, err := l.Submit(kv{}, id, "ckey", k, "x"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := l.Evaluate(kv{}, id, "page", "")
	if err != nil {
		t.Fatal(err)
	}
	keys, bookmark, _ := strings.Cut(string(out), "|")
	if keys != "a/x,b/x" || bookmark == "" {
		t.Fatalf("first page %q bookmark %q", keys, bookmark)
	}
	out, _ = l.Evaluate(kv{}, id, "page", bookmark)
	if got, _, _ := strings.Cut(string(out), "|"); got != "c/x,d/x" {
		t.Fatalf("second page %q", got)
	}
	if _, err := l.Submit(kv{}, id, "page", "", "write"); err == nil {
		t.Fatal("a paginated query in a writing transaction must fail, as in Fabric")
	}
	for _, v := range []string{"1", "2", "3"} {
		_, _ = l.Submit(kv{}, id, "put", "h", v)
	}
	out, _ = l.Evaluate(kv{}, id, "history", "h")
	if string(out) != "3,2,1" { // newest first, as in Fabric
		t.Fatalf("history %q", out)
	}
}

func TestClock(t *testing.T) {
	l, id := setup(t)
	l.Advance(time.Hour)
	out, _ := l.Evaluate(kv{}, id, "time")
	if string(out) != "2026-01-01T01:00:00Z" {
		t.Fatalf("tx time %s", out)
	}
}
