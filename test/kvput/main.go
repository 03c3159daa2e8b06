// Command kvput is the benchmark's ceiling: a chaincode whose one
// transaction writes one small key. It runs on the same Fabric network as
// SRE-Llama's chaincode, served the same way (chaincode-as-a-service with
// contract-api), so the difference between the two is the token mint's own
// work.
//
// It listens on CHAINCODE_SERVER_ADDRESS as the package CHAINCODE_ID (or
// CORE_CHAINCODE_ID_NAME).
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// KV writes keys.
type KV struct {
	contractapi.Contract
}

// Put stores value under key.
func (KV) Put(ctx contractapi.TransactionContextInterface, key, value string) error {
	if key == "" {
		return errors.New("key is empty")
	}
	return ctx.GetStub().PutState(key, []byte(value))
}

func main() {
	if err := serve(os.Getenv); err != nil {
		slog.Error("kvput stopped", "err", err)
		os.Exit(1)
	}
}

func serve(getenv func(string) string) error {
	address := getenv("CHAINCODE_SERVER_ADDRESS")
	id := getenv("CHAINCODE_ID")
	if id == "" {
		id = getenv("CORE_CHAINCODE_ID_NAME")
	}
	if address == "" || id == "" {
		return errors.New("set CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID: kvput runs only as a chaincode service")
	}
	kv := &KV{}
	kv.Name = "KV"
	cc, err := contractapi.NewChaincode(kv)
	if err != nil {
		return fmt.Errorf("kvput: %w", err)
	}
	server := &shim.ChaincodeServer{CCID: id, Address: address, CC: cc, TLSProps: shim.TLSProperties{Disabled: true}}
	return server.Start()
}
