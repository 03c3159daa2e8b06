package ledger

import (
	"errors"
	"strings"
	"testing"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestChaincodeMessagesSurfaceFromGatewayErrors(t *testing.T) {
	withDetail := func(code codes.Code, msg, detail string) error {
		st, _ := status.New(code, msg).WithDetails(&gwproto.ErrorDetail{Address: "peer0:7051", MspId: "Org2MSP", Message: detail})
		return st.Err()
	}
	tests := []struct {
		name      string
		err       error
		chaincode string // "" when it is not a chaincode error
		mspID     string
	}{
		{"endorse refused by chaincode (real peer format)", withDetail(codes.Aborted, "failed to endorse transaction, see attached details for more info", "chaincode response 500, proposal p1 is closed (minted)"), "proposal p1 is closed (minted)", "Org2MSP"},
		{"evaluate refused by chaincode", status.Error(codes.Unknown, "evaluate call to endorser returned error: chaincode response 500, token \"x\" not found"), "token \"x\" not found", ""},
		{"identity refused", status.Error(codes.PermissionDenied, "identity refused: MSP \"X\" is not a channel member"), "", ""},
		{"detail that is not a chaincode response", withDetail(codes.Unavailable, "no peers", "connection refused"), "", ""},
	}
	g := &Gateway{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.rpcError("Fn", "endorse", tt.err)
			var ccErr *ChaincodeError
			isCC := errors.As(err, &ccErr)
			if isCC != (tt.chaincode != "") {
				t.Fatalf("err = %v, chaincode error: %v", err, isCC)
			}
			if isCC && (ccErr.Message != tt.chaincode || ccErr.MSPID != tt.mspID) {
				t.Errorf("chaincode error %+v, want message %q from %q", ccErr, tt.chaincode, tt.mspID)
			}
			if !isCC && (status.Code(err) != status.Code(tt.err) || !strings.Contains(err.Error(), "endorse Fn")) {
				t.Errorf("err = %v: want the gRPC status kept and the call named", err)
			}
		})
	}
}
