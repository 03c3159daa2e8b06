package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gatewayError is a status error as a Fabric gateway returns it, with the
// per-peer details it attaches.
func gatewayError(code codes.Code, msg string, details ...string) error {
	st := status.New(code, msg)
	for _, d := range details {
		st, _ = st.WithDetails(&gwproto.ErrorDetail{Address: "127.0.0.1:7051", MspId: "Org2MSP", Message: d})
	}
	return st.Err()
}

// The messages are Fabric v3.1's (internal/pkg/gateway).
func TestTransientErrorKinds(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		retry bool
	}{
		{"gateway unreachable", status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:7051: connect: connection refused\""), true},
		{"no orderer took the transaction", gatewayError(codes.Unavailable, "no orderers could successfully process transaction",
			"received unsuccessful response from orderer: status=SERVICE_UNAVAILABLE, info=no Raft leader"), true},
		{"endorsement timed out", status.Error(codes.DeadlineExceeded, "endorsement timeout expired while collecting endorsements"), true},
		{"client deadline for the call", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"discovery does not know enough peers yet", status.Error(codes.FailedPrecondition,
			"no combination of peers can be derived which satisfy the endorsement policy: required chaincodes are not installed on sufficient peers"), true},
		{"endorsing peers unreachable", gatewayError(codes.Aborted, "failed to collect enough transaction endorsements, see attached details for more info",
			"rpc error: code = Unavailable desc = connection error", "rpc error: code = Unavailable desc = error reading from server: EOF"), true},
		{"wrapped as fabric-gateway and this package wrap", fmt.Errorf("ledger: endorse Fn: %w", fmt.Errorf("endorse error: %w", status.Error(codes.Unavailable, "x"))), true},

		{"chaincode refused", gatewayError(codes.Aborted, "failed to endorse transaction, see attached details for more info", "chaincode response 500, proposal p1 is closed"), false},
		{"chaincode refused (evaluate)", status.Error(codes.Unknown, "evaluate call to endorser returned error: chaincode response 500, token not found"), false},
		{"endorsements differ between organizations", gatewayError(codes.Aborted, "failed to collect enough transaction endorsements, see attached details for more info",
			"rpc error: code = Unavailable desc = connection error", "ProposalResponsePayloads do not match (base64): 'CiB...' vs 'CiC...'"), false},
		{"transaction could not be assembled", status.Error(codes.Aborted, "failed to assemble transaction: ProposalResponsePayloads do not match"), false},
		{"orderer refused the transaction", status.Error(codes.Aborted, "received unsuccessful response from orderer: status=BAD_REQUEST, info=bad envelope"), false},
		{"access denied", status.Error(codes.FailedPrecondition, "failed to evaluate transaction: access denied: channel [consortium] creator org unknown"), false},
		{"not a channel member", status.Error(codes.PermissionDenied, "identity refused: MSP \"X\" is not a channel member"), false},
		{"unknown channel", status.Error(codes.NotFound, "channel not found"), false},
		{"caller cancelled", status.Error(codes.Canceled, "context canceled"), false},
		{"committed as invalid (MVCC read conflict)", &InvalidTxError{Fn: "Fn", TxID: "t1", Code: "MVCC_READ_CONFLICT", Block: 7}, false},
		{"not from gRPC (signing failed)", errors.New("failed to sign"), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, ok := transient(tt.err)
			if ok != tt.retry {
				t.Fatalf("transient(%v) = %v, want %v", tt.err, ok, tt.retry)
			}
			if ok && reason == "" {
				t.Error("a retried error needs a reason for the log")
			}
		})
	}
}

func TestMayHaveReachedOrderer(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"timed out while broadcasting", status.Error(codes.DeadlineExceeded, "submit timeout expired while broadcasting to ordering service"), true},
		{"connection lost", status.Error(codes.Unavailable, "error reading from server: EOF"), true},
		{"orderer refused", status.Error(codes.Aborted, "received unsuccessful response from orderer: status=BAD_REQUEST"), false},
		{"unsigned", status.Error(codes.InvalidArgument, "prepared transaction must be signed"), false},
		{"signing failed before sending", errors.New("sign: no key"), false},
	}
	for _, tt := range tests {
		if got := mayHaveReachedOrderer(tt.err); got != tt.want {
			t.Errorf("%s: mayHaveReachedOrderer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoffDoublesUpToTheMaximumWithJitter(t *testing.T) {
	p := RetryPolicy{Attempts: 10, FirstBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Budget: time.Minute}
	full := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, want := range full {
		want *= time.Millisecond
		if got := p.backoff(i+1, func() float64 { return 1 }); got != want {
			t.Errorf("backoff(%d), most jitter = %s, want %s", i+1, got, want)
		}
		if got := p.backoff(i+1, func() float64 { return 0 }); got != want/2 {
			t.Errorf("backoff(%d), least jitter = %s, want %s", i+1, got, want/2)
		}
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	if err := DefaultRetryPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	for _, p := range []RetryPolicy{
		{Attempts: 0, Budget: time.Second},
		{Attempts: 3, FirstBackoff: time.Second, MaxBackoff: time.Millisecond, Budget: time.Second},
		{Attempts: 3, FirstBackoff: -1, Budget: time.Second},
		{Attempts: 3},
	} {
		if p.Validate() == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}

// fakeRetrier runs on a fake clock that the backoff sleeps advance.
func fakeRetrier(p RetryPolicy, logs *strings.Builder) (*retrier, *time.Time) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &retrier{
		policy: p, log: slog.New(slog.NewTextHandler(logs, nil)), start: now,
		now: func() time.Time { return now },
		sleep: func(ctx context.Context, d time.Duration) error {
			now = now.Add(d)
			return ctx.Err()
		},
		jitter: func() float64 { return 1 },
	}
	return r, &now
}

func TestRetryIsBounded(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	tests := []struct {
		name         string
		policy       RetryPolicy
		failures     int // failures before success; -1: always
		wantAttempts int
		wantErr      string
	}{
		{"succeeds at once", RetryPolicy{Attempts: 5, FirstBackoff: time.Second, MaxBackoff: time.Second, Budget: time.Minute}, 0, 1, ""},
		{"succeeds after transient failures", RetryPolicy{Attempts: 5, FirstBackoff: time.Second, MaxBackoff: time.Second, Budget: time.Minute}, 3, 4, ""},
		{"gives up after its attempts", RetryPolicy{Attempts: 5, FirstBackoff: time.Second, MaxBackoff: time.Second, Budget: time.Minute}, -1, 5, "gave up after 5 attempts"},
		{"gives up when the next wait passes the budget", RetryPolicy{Attempts: 50, FirstBackoff: time.Second, MaxBackoff: 4 * time.Second, Budget: 10 * time.Second}, -1, 4, "gave up after 4 attempts in 7s"},
		{"one attempt disables retries", RetryPolicy{Attempts: 1, Budget: time.Minute}, -1, 1, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			r, _ := fakeRetrier(tt.policy, &logs)
			attempts := 0
			v, err := retry(context.Background(), r, "endorse", []any{"tx", "t1"}, func(context.Context) (int, error) {
				attempts++
				if tt.failures < 0 || attempts <= tt.failures {
					return 0, unavailable
				}
				return 42, nil
			})
			if attempts != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts, tt.wantAttempts)
			}
			if tt.wantErr == "" {
				if err != nil || v != 42 {
					t.Fatalf("retry = %v, %v", v, err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if status.Code(err) != codes.Unavailable {
					t.Errorf("the last failure's status is lost: %v", err)
				}
			}
			// Every retry is logged, with the step, the attempt and why.
			if got := strings.Count(logs.String(), "retrying"); got != tt.wantAttempts-1 {
				t.Errorf("%d retries logged, want %d:\n%s", got, tt.wantAttempts-1, logs.String())
			}
			if tt.wantAttempts > 1 && !strings.Contains(logs.String(), "reason=unavailable") {
				t.Errorf("log does not say why:\n%s", logs.String())
			}
		})
	}
}

func TestRetryReturnsPermanentErrorsAtOnce(t *testing.T) {
	var logs strings.Builder
	r, _ := fakeRetrier(DefaultRetryPolicy(), &logs)
	refused := gatewayError(codes.Aborted, "failed to endorse transaction, see attached details for more info", "chaincode response 500, no")
	attempts := 0
	_, err := retry(context.Background(), r, "endorse", nil, func(context.Context) (int, error) {
		attempts++
		return 0, refused
	})
	if attempts != 1 || !errors.Is(err, refused) {
		t.Fatalf("%d attempts, err %v: want one attempt and the refusal as is", attempts, err)
	}
}

func TestRetryStopsWhenTheCallerGivesUp(t *testing.T) {
	var logs strings.Builder
	r, _ := fakeRetrier(DefaultRetryPolicy(), &logs)
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	_, err := retry(ctx, r, "submit", nil, func(context.Context) (int, error) {
		attempts++
		if attempts == 2 {
			cancel()
		}
		return 0, status.Error(codes.Unavailable, "down")
	})
	if attempts != 2 || err == nil {
		t.Fatalf("%d attempts, err %v: want to stop once the context ended", attempts, err)
	}
}
