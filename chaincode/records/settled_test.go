package records_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
)

func TestSettledSurvivesTheGateway(t *testing.T) {
	cause := errors.New("proposal p1 is closed (minted)")
	refusal := records.Settled(cause)
	if !errors.Is(refusal, cause) {
		t.Error("a settled refusal does not unwrap to its cause")
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"the chaincode's refusal", refusal, true},
		// Fabric carries only the message, inside its own wording.
		{"as a real peer's gateway reports it", fmt.Errorf("endorse: failed to endorse transaction: chaincode response 500, %s", refusal.Error()), true},
		{"another refusal", errors.New("chaincode response 500, Org2MSP is not a member"), false},
		{"a transport error", errors.New("rpc error: code = Unavailable"), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		if got := records.IsSettled(tt.err); got != tt.want {
			t.Errorf("%s: IsSettled = %v, want %v", tt.name, got, tt.want)
		}
	}
}
