// Package contracts is the SRE-Llama chaincode: the Consortium, Rounds,
// Generation, Tokens, Audit, Schedules and Compliance contracts on
// fabric-contract-api-go.
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
//	Consortium:DeclareServices(servicesJSON)          admin
//	Rounds:Open(specJSON)                             admin
//	Rounds:CommitUpdate(roundID, commitmentJSON)      admin or client
//	Rounds:SubmitAggregate(roundID, claimJSON)        admin or client
//	Rounds:Close(roundID)                             admin or client
//	Generation:Request(specJSON)                      admin
//	Generation:Propose(requestID, definitionJSON)     admin or client
//	Generation:ProposeWith(requestID, definitionJSON, decisionJSON)  admin or client
//	Generation:Decide(proposalID, decisionJSON)       admin or client (mints at quorum)
//	Generation:Approve(proposalID)                    admin or client (an approval without figures)
//	Generation:Reject(proposalID, reason)             admin or client
//	Generation:Decline(requestID, reason)             the assignee
//	Generation:Reassign(requestID)                    admin or client, once the assignee's turn passed
//	Generation:Close(proposalID)                      admin or client
//	Generation:RequestRevision(tokenID)               admin or client, on evidence
//	Generation:ProposeRetirement(tokenID)             admin or client, on evidence
//	Compliance:Attest(attestationJSON)                admin or client
//	Tokens:Approve / SetApprovalForAll / TransferFrom / Revise / Retire   admin
//	Schedules:Set(specJSON)                           admin
//	Schedules:Stop(scheduleID, reason)                admin
//	Schedules:OpenDue(scheduleID)                     admin or client
//
// and the queries each contract lists in GetEvaluateTransactions.
package contracts

import (
	"fmt"
	"reflect"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-contract-api-go/v2/metadata"
	"github.com/hyperledger/fabric-contract-api-go/v2/serializer"
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
	byName := map[string]contractapi.ContractInterface{
		"Consortium": &Consortium{named("Consortium")}, "Rounds": &Rounds{named("Rounds")}, "Generation": &Generation{named("Generation")},
		"Tokens": &Tokens{named("Tokens")}, "Audit": &Audit{named("Audit")}, "Schedules": &Schedules{named("Schedules")},
		"Compliance": &Compliance{named("Compliance")},
	}
	contracts := []contractapi.ContractInterface{byName["Consortium"], byName["Rounds"], byName["Generation"], byName["Tokens"], byName["Audit"], byName["Schedules"], byName["Compliance"]}
	cc, err := contractapi.NewChaincode(contracts...)
	if err != nil {
		return nil, fmt.Errorf("assembling chaincode: %w", err)
	}
	cc.Info.Title = "SRE-Llama consortium chaincode"
	cc.Info.Version = Version
	cc.DefaultContract = "Consortium"
	cc.TransactionSerializer = stringSerializer{}
	return safeChaincode{strictArgs{inner: cc, arity: arities(cc.DefaultContract, byName)}}, nil
}

// stringSerializer passes string arguments and results through unchanged.
// Every contract function takes and returns strings, so the contract API's
// JSON serializer would only wrap each one in a map and validate it against
// the schema {"type": "string"} with gojsonschema: for a token, about a
// tenth of a mint's CPU time for a check the Go type system already made.
// Any other type goes to the JSON serializer.
type stringSerializer struct{ json serializer.JSONSerializer }

func (s stringSerializer) FromString(param string, typ reflect.Type, meta *metadata.ParameterMetadata, components *metadata.ComponentMetadata) (reflect.Value, error) {
	if typ.Kind() == reflect.String {
		return reflect.ValueOf(param).Convert(typ), nil
	}
	return s.json.FromString(param, typ, meta, components)
}

func (s stringSerializer) ToString(result reflect.Value, typ reflect.Type, meta *metadata.ReturnMetadata, components *metadata.ComponentMetadata) (string, error) {
	if typ.Kind() == reflect.String {
		return result.String(), nil
	}
	return s.json.ToString(result, typ, meta, components)
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
