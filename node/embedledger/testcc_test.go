package embedledger_test

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// kvChaincode is a small chaincode exercising the stub features our
// contracts use: state, ranges, composite keys, pagination, history,
// events, creator and timestamp.
type kvChaincode struct{}

func (kvChaincode) Init(shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

func (kvChaincode) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, args := stub.GetFunctionAndParameters()
	out, err := kvDispatch(stub, fn, args)
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(out)
}

func kvDispatch(stub shim.ChaincodeStubInterface, fn string, args []string) ([]byte, error) {
	switch fn {
	case "put":
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return nil, err
		}
		return nil, stub.SetEvent("put", []byte(args[0]))
	case "get":
		return stub.GetState(args[0])
	case "del":
		return nil, stub.DelState(args[0])
	case "incr":
		raw, err := stub.GetState(args[0])
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(string(raw))
		n++
		return []byte(strconv.Itoa(n)), stub.PutState(args[0], []byte(strconv.Itoa(n)))
	case "countInto": // count keys in [args[0], args[1]) and record the count under args[2]
		it, err := stub.GetStateByRange(args[0], args[1])
		if err != nil {
			return nil, err
		}
		defer it.Close()
		n := 0
		for it.HasNext() {
			if _, err := it.Next(); err != nil {
				return nil, err
			}
			n++
		}
		return []byte(strconv.Itoa(n)), stub.PutState(args[2], []byte(strconv.Itoa(n)))
	case "putIndexed":
		key, err := stub.CreateCompositeKey(args[0], args[1:3])
		if err != nil {
			return nil, err
		}
		return nil, stub.PutState(key, []byte(args[3]))
	case "listIndexed":
		it, err := stub.GetStateByPartialCompositeKey(args[0], args[1:])
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []string
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return nil, err
			}
			_, attrs, err := stub.SplitCompositeKey(kv.GetKey())
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprintf("%v=%s", attrs, kv.GetValue()))
		}
		return json.Marshal(out)
	case "page", "pageAndWrite":
		size, _ := strconv.Atoi(args[2])
		it, meta, err := stub.GetStateByRangeWithPagination(args[0], args[1], int32(size), args[3])
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var keys []string
		for it.HasNext() {
			kv, _ := it.Next()
			keys = append(keys, kv.GetKey())
		}
		if fn == "pageAndWrite" {
			if err := stub.PutState("written", []byte("x")); err != nil {
				return nil, err
			}
		}
		return json.Marshal(map[string]any{"keys": keys, "count": meta.GetFetchedRecordsCount(), "bookmark": meta.GetBookmark()})
	case "history":
		it, err := stub.GetHistoryForKey(args[0])
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []string
		for it.HasNext() {
			m, err := it.Next()
			if err != nil {
				return nil, err
			}
			if m.GetIsDelete() {
				out = append(out, "deleted")
			} else {
				out = append(out, string(m.GetValue()))
			}
		}
		return json.Marshal(out)
	case "whoami":
		raw, err := stub.GetCreator()
		if err != nil {
			return nil, err
		}
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(raw, &id); err != nil {
			return nil, err
		}
		ts, err := stub.GetTxTimestamp()
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf("%s@%d", id.GetMspid(), ts.GetSeconds())), nil
	case "private":
		return stub.GetPrivateData("c", args[0])
	case "fail":
		return nil, fmt.Errorf("refused: %s", args[0])
	case "panic":
		panic("boom")
	}
	return nil, fmt.Errorf("unknown function %q", fn)
}
