// Package contracts is the SRE-Llama chaincode: the Consortium, Rounds,
// Generation, Tokens and Audit contracts on fabric-contract-api-go.
//
// Every function takes and returns strings: structured arguments are JSON
// documents that the records package decodes strictly, and results are
// canonical JSON. That keeps parsing and error messages ours (not the
// contract API's schema validator) and makes results byte-identical on
// every endorsing peer.
//
// Transaction names, as clients call them:
//
//	Consortium:RegisterOrganization(name)             admin
//	Consortium:RegisterNode(peerID, addrsJSON)        admin
//	Consortium:RemoveNode(peerID)                     admin
//	Rounds:Open(specJSON)                             admin
//	Rounds:CommitUpdate(roundID, commitmentJSON)      admin or client
//	Rounds:SubmitAggregate(roundID, claimJSON)        admin or client
//	Rounds:Close(roundID)                             admin or client
//	Generation:Request(specJSON)                      admin
//	Generation:Propose(requestID, definitionJSON)     admin or client
//	Generation:Approve(proposalID)                    admin or client (mints at quorum)
//	Generation:Reject(proposalID, reason)             admin or client
//	Generation:Close(proposalID)                      admin or client
//	Tokens:Approve / SetApprovalForAll / TransferFrom / Revise / Retire   admin
//
// and the queries each contract lists in GetEvaluateTransactions.
package contracts

import (
	"fmt"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-contract-api-go/v2/metadata"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Version of the chaincode's contracts, reported in contract metadata.
const Version = "0.1.0"

// New assembles the chaincode. The result never panics: a panic inside a
// contract becomes an error response, because in chaincode-as-a-service a
// panic would kill the process serving every peer.
func New() (shim.Chaincode, error) {
	named := func(name string) contractapi.Contract {
		return contractapi.Contract{Name: name, Info: metadata.InfoMetadata{Title: name, Version: Version}}
	}
	contracts := []contractapi.ContractInterface{
		&Consortium{named("Consortium")}, &Rounds{named("Rounds")}, &Generation{named("Generation")},
		&Tokens{named("Tokens")}, &Audit{named("Audit")},
	}
	cc, err := contractapi.NewChaincode(contracts...)
	if err != nil {
		return nil, fmt.Errorf("assembling chaincode: %w", err)
	}
	cc.Info.Title = "SRE-Llama consortium chaincode"
	cc.Info.Version = Version
	cc.DefaultContract = "Consortium"
	return safeChaincode{cc}, nil
}

type safeChaincode struct{ inner shim.Chaincode }

func (s safeChaincode) Init(stub shim.ChaincodeStubInterface) (resp *peer.Response) {
	defer recoverInto(&resp)
	return s.inner.Init(stub)
}

func (s safeChaincode) Invoke(stub shim.ChaincodeStubInterface) (resp *peer.Response) {
	defer recoverInto(&resp)
	return s.inner.Invoke(stub)
}

func recoverInto(resp **peer.Response) {
	if r := recover(); r != nil {
		*resp = shim.Error(fmt.Sprintf("internal error: %v", r))
	}
}
