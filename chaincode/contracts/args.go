package contracts

import (
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// strictArgs refuses, before any contract runs, the arguments the contract
// API would pass on altered or ignore: bytes that are not UTF-8 (Go's
// string conversion keeps them, and the canonical JSON a record is stored
// in turns them into U+FFFD, so the ledger would hold another name than
// the one submitted), and more arguments than the function takes (the
// contract API drops the surplus silently, so a client that misordered or
// misnumbered its arguments would see its transaction succeed).
type strictArgs struct {
	inner shim.Chaincode
	// arity maps each transaction name, "Contract:Function" and, for the
	// default contract, "Function", to its number of parameters.
	arity map[string]int
}

var txContext = reflect.TypeFor[contractapi.TransactionContextInterface]()

// arities reads each contract function's parameter count off its method:
// the parameters after the transaction context.
func arities(defaultContract string, contracts map[string]contractapi.ContractInterface) map[string]int {
	out := map[string]int{}
	for name, c := range contracts {
		t := reflect.TypeOf(c)
		for i := range t.NumMethod() {
			m := t.Method(i)
			// In(0) is the receiver.
			if m.Type.NumIn() < 2 || !m.Type.In(1).Implements(txContext) || m.Type.IsVariadic() {
				continue
			}
			out[name+":"+m.Name] = m.Type.NumIn() - 2
			if name == defaultContract {
				out[m.Name] = m.Type.NumIn() - 2
			}
		}
	}
	return out
}

func (s strictArgs) Init(stub shim.ChaincodeStubInterface) *peer.Response {
	return s.inner.Init(stub)
}

func (s strictArgs) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	if err := s.check(stub.GetArgs()); err != nil {
		return shim.Error(err.Error())
	}
	return s.inner.Invoke(stub)
}

func (s strictArgs) check(args [][]byte) error {
	for i, a := range args {
		if !utf8.Valid(a) {
			if i == 0 {
				return fmt.Errorf("the function name %q is not valid UTF-8", a)
			}
			return fmt.Errorf("argument %d is not valid UTF-8 (at byte %d)", i, invalidUTF8At(a))
		}
	}
	if len(args) == 0 {
		return nil // the contract API reports the missing function name
	}
	fn := string(args[0])
	if n, ok := s.arity[fn]; ok && len(args)-1 > n {
		return fmt.Errorf("%s takes %d argument(s), got %d", fn, n, len(args)-1)
	}
	return nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
