// Package shimstub holds what the project's shim stubs (chaincode/stubtest
// for the chaincode's tests, the embedded ledger's simulator) share.
package shimstub

import "github.com/hyperledger/fabric-chaincode-go/v2/shim"

// NoPrivateData implements the private-data calls of
// shim.ChaincodeStubInterface by refusing each with Err: neither stub keeps
// private data collections, and the chaincode uses none.
type NoPrivateData struct{ Err error }

// GetPrivateData is refused.
func (n NoPrivateData) GetPrivateData(string, string) ([]byte, error) { return nil, n.Err }

// GetMultiplePrivateData is refused.
func (n NoPrivateData) GetMultiplePrivateData(string, ...string) ([][]byte, error) {
	return nil, n.Err
}

// GetPrivateDataHash is refused.
func (n NoPrivateData) GetPrivateDataHash(string, string) ([]byte, error) { return nil, n.Err }

// PutPrivateData is refused.
func (n NoPrivateData) PutPrivateData(string, string, []byte) error { return n.Err }

// DelPrivateData is refused.
func (n NoPrivateData) DelPrivateData(string, string) error { return n.Err }

// PurgePrivateData is refused.
func (n NoPrivateData) PurgePrivateData(string, string) error { return n.Err }

// SetPrivateDataValidationParameter is refused.
func (n NoPrivateData) SetPrivateDataValidationParameter(string, string, []byte) error {
	return n.Err
}

// GetPrivateDataValidationParameter is refused.
func (n NoPrivateData) GetPrivateDataValidationParameter(string, string) ([]byte, error) {
	return nil, n.Err
}

// GetPrivateDataByRange is refused.
func (n NoPrivateData) GetPrivateDataByRange(string, string, string) (shim.StateQueryIteratorInterface, error) {
	return nil, n.Err
}

// GetPrivateDataByPartialCompositeKey is refused.
func (n NoPrivateData) GetPrivateDataByPartialCompositeKey(string, string, []string) (shim.StateQueryIteratorInterface, error) {
	return nil, n.Err
}

// GetPrivateDataQueryResult is refused.
func (n NoPrivateData) GetPrivateDataQueryResult(string, string) (shim.StateQueryIteratorInterface, error) {
	return nil, n.Err
}
