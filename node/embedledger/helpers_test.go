package embedledger_test

import (
	"context"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
)

var testOrgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}

const (
	testChannel = "srellama"
	kvName      = "kv"
)

func openLedger(t testing.TB, dir string, chaincodes map[string]shim.Chaincode) *embedledger.Ledger {
	t.Helper()
	if chaincodes == nil {
		chaincodes = map[string]shim.Chaincode{kvName: kvChaincode{}}
	}
	l, err := embedledger.Open(embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs, Chaincodes: chaincodes})
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	return l
}

// connect returns a node ledger client for org's client identity over an
// in-process gateway connection.
func connect(t testing.TB, l *embedledger.Ledger, org, who, chaincode string) *ledger.Gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := l.Connect(ctx, org, who, chaincode)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Close()
		cancel()
	})
	return gw
}
