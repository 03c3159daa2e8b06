// Package gateway serves the Fabric Gateway gRPC API over a ledger backend,
// translating between gRPC and the backend's errors the way a Fabric
// gateway peer reports them (endorsement failures as Aborted with an
// ErrorDetail carrying the chaincode's message, and so on).
package gateway

import (
	"context"
	"errors"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	gw "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Backend is the ledger the service fronts.
type Backend interface {
	Evaluate(ctx context.Context, sp *peer.SignedProposal) (*peer.Response, error)
	Endorse(ctx context.Context, sp *peer.SignedProposal, orgs []string) (*common.Envelope, error)
	Submit(ctx context.Context, env *common.Envelope) error
	CommitStatus(ctx context.Context, req *gw.SignedCommitStatusRequest) (*gw.CommitStatusResponse, error)
	ChaincodeEvents(ctx context.Context, req *gw.SignedChaincodeEventsRequest, send func(*gw.ChaincodeEventsResponse) error) error
}

// ErrorClass maps a backend error to a gRPC code or, for chaincode errors,
// to the organization and message to put in an ErrorDetail.
type ErrorClass func(err error) (code codes.Code, mspID, chaincodeMessage string, isChaincode bool)

// Server implements gw.GatewayServer.
type Server struct {
	gw.UnimplementedGatewayServer
	backend  Backend
	classify ErrorClass
	address  string
}

// New returns a gateway service for backend; address names this endpoint in
// error details.
func New(backend Backend, classify ErrorClass, address string) *Server {
	return &Server{backend: backend, classify: classify, address: address}
}

// Evaluate runs a query proposal.
func (s *Server) Evaluate(ctx context.Context, req *gw.EvaluateRequest) (*gw.EvaluateResponse, error) {
	resp, err := s.backend.Evaluate(ctx, req.GetProposedTransaction())
	if err != nil {
		return nil, s.status(err, "evaluate call to endorser returned error", codes.Unknown)
	}
	return &gw.EvaluateResponse{Result: resp}, nil
}

// Endorse endorses a proposal and returns the envelope to sign.
func (s *Server) Endorse(ctx context.Context, req *gw.EndorseRequest) (*gw.EndorseResponse, error) {
	env, err := s.backend.Endorse(ctx, req.GetProposedTransaction(), req.GetEndorsingOrganizations())
	if err != nil {
		return nil, s.status(err, "failed to endorse transaction, see attached details for more info", codes.Aborted)
	}
	return &gw.EndorseResponse{PreparedTransaction: env}, nil
}

// Submit orders a signed transaction.
func (s *Server) Submit(ctx context.Context, req *gw.SubmitRequest) (*gw.SubmitResponse, error) {
	if err := s.backend.Submit(ctx, req.GetPreparedTransaction()); err != nil {
		return nil, s.status(err, "failed to submit transaction", codes.Aborted)
	}
	return &gw.SubmitResponse{}, nil
}

// CommitStatus waits for a transaction's commit.
func (s *Server) CommitStatus(ctx context.Context, req *gw.SignedCommitStatusRequest) (*gw.CommitStatusResponse, error) {
	resp, err := s.backend.CommitStatus(ctx, req)
	if err != nil {
		return nil, s.status(err, "failed to obtain commit status", codes.Aborted)
	}
	return resp, nil
}

// ChaincodeEvents streams chaincode events.
func (s *Server) ChaincodeEvents(req *gw.SignedChaincodeEventsRequest, stream gw.Gateway_ChaincodeEventsServer) error {
	err := s.backend.ChaincodeEvents(stream.Context(), req, stream.Send)
	if err != nil && stream.Context().Err() == nil {
		return s.status(err, "chaincode events", codes.Aborted)
	}
	return nil
}

// status converts err; chaincode errors get ccCode, as Fabric reports them
// (Unknown for evaluate, Aborted for endorse).
func (s *Server) status(err error, summary string, ccCode codes.Code) error {
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	code, mspID, msg, isChaincode := s.classify(err)
	if !isChaincode {
		return status.Error(code, summary+": "+err.Error())
	}
	if ccCode == codes.Unknown {
		summary += ": " + err.Error()
	}
	st := status.New(ccCode, summary)
	detailed, derr := st.WithDetails(&gw.ErrorDetail{Address: s.address, MspId: mspID, Message: msg})
	if derr != nil {
		return st.Err()
	}
	return detailed.Err()
}
