package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// counter is a chaincode whose transaction is not idempotent: applied
// twice, it counts two.
type counter struct{}

func (counter) Init(shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

func (counter) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, _ := stub.GetFunctionAndParameters()
	raw, err := stub.GetState("n")
	if err != nil {
		return shim.Error(err.Error())
	}
	n, _ := strconv.Atoi(string(raw))
	switch fn {
	case "incr":
		if err := stub.PutState("n", []byte(strconv.Itoa(n+1))); err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(nil)
	case "get":
		return shim.Success([]byte(strconv.Itoa(n)))
	default:
		return shim.Error("no such function " + fn)
	}
}

const (
	endorse      = gwproto.Gateway_Endorse_FullMethodName
	submit       = gwproto.Gateway_Submit_FullMethodName
	commitStatus = gwproto.Gateway_CommitStatus_FullMethodName
	evaluate     = gwproto.Gateway_Evaluate_FullMethodName
)

// fault replaces one gateway call's outcome: before it reaches the ledger
// (the call is lost on the way) or after (the ledger did the work and the
// answer is lost), or rewrites the answer.
type fault struct {
	err   error
	after bool
	edit  func(reply any)
}

// faultyConn is a gateway connection that injects faults, in order, per
// method, and records what it forwarded.
type faultyConn struct {
	grpc.ClientConnInterface
	mu        sync.Mutex
	faults    map[string][]fault
	calls     map[string]int
	submitted map[string]int // forwarded submits by transaction ID
}

func (c *faultyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c.mu.Lock()
	c.calls[method]++
	var f *fault
	if q := c.faults[method]; len(q) > 0 {
		f, c.faults[method] = &q[0], q[1:]
	}
	c.mu.Unlock()
	if f != nil && f.err != nil && !f.after {
		return f.err
	}
	if req, ok := args.(*gwproto.SubmitRequest); ok {
		c.mu.Lock()
		c.submitted[req.GetTransactionId()]++
		c.mu.Unlock()
	}
	if err := c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...); err != nil {
		return err
	}
	if f != nil && f.edit != nil {
		f.edit(reply)
	}
	if f != nil && f.err != nil {
		return f.err
	}
	return nil
}

func times(n int, f fault) []fault {
	out := make([]fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

var (
	unavailable = status.Error(codes.Unavailable, "connection error: desc = \"transport: connection refused\"")
	timedOut    = status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	notFound    = status.Error(codes.FailedPrecondition, "no combination of peers can be derived which satisfy the endorsement policy: "+
		"required chaincodes are not installed on sufficient peers")
)

func aborted(msg string, details ...string) error {
	st := status.New(codes.Aborted, msg)
	for _, d := range details {
		st, _ = st.WithDetails(&gwproto.ErrorDetail{Address: "127.0.0.1:27201", MspId: "Org2MSP", Message: d})
	}
	return st.Err()
}

// TestSubmitRetriesTransientFailuresAndAppliesOnce runs the ledger client
// against the embedded ledger through a connection that loses calls or
// their answers: transient failures are retried with the same signed
// message, the counter shows each transaction applied at most once, and
// everything else is returned as before.
func TestSubmitRetriesTransientFailuresAndAppliesOnce(t *testing.T) {
	const attempts = 4
	tests := []struct {
		name      string
		fn        string
		faults    map[string][]fault
		wantCalls map[string]int // endorse, submit, commit status
		wantCount int            // the counter afterwards
		wantErr   func(error) bool
		wantLog   string
	}{
		{name: "endorsers not yet discovered", fn: "incr",
			faults:    map[string][]fault{endorse: times(2, fault{err: notFound})},
			wantCalls: map[string]int{endorse: 3, submit: 1, commitStatus: 1}, wantCount: 1,
			wantLog: "endorsers not yet discovered"},
		{name: "endorsing peers unreachable", fn: "incr",
			faults: map[string][]fault{endorse: {{err: aborted("failed to collect enough transaction endorsements, see attached details for more info",
				"rpc error: code = Unavailable desc = connection error")}}},
			wantCalls: map[string]int{endorse: 2, submit: 1, commitStatus: 1}, wantCount: 1},
		{name: "gateway unreachable at endorsement", fn: "incr",
			faults:    map[string][]fault{endorse: times(attempts-1, fault{err: unavailable})},
			wantCalls: map[string]int{endorse: attempts, submit: 1, commitStatus: 1}, wantCount: 1},
		{name: "submit answer lost after the orderer took the transaction", fn: "incr",
			faults:    map[string][]fault{submit: {{err: timedOut, after: true}, {err: unavailable, after: true}}},
			wantCalls: map[string]int{endorse: 1, submit: 3, commitStatus: 1}, wantCount: 1},
		{name: "commit status lost", fn: "incr",
			faults:    map[string][]fault{commitStatus: {{err: unavailable}, {err: timedOut, after: true}}},
			wantCalls: map[string]int{endorse: 1, submit: 1, commitStatus: 3}, wantCount: 1},

		{name: "chaincode refusal is not retried", fn: "nosuch",
			wantCalls: map[string]int{endorse: 1}, wantCount: 0,
			wantErr: func(err error) bool { var cc *ledger.ChaincodeError; return errors.As(err, &cc) }},
		{name: "differing endorsements are not retried", fn: "incr",
			faults: map[string][]fault{endorse: {{err: aborted("failed to collect enough transaction endorsements, see attached details for more info",
				"ProposalResponsePayloads do not match (base64): 'CiA=' vs 'CiB='")}}},
			wantCalls: map[string]int{endorse: 1}, wantCount: 0,
			wantErr: func(err error) bool {
				return status.Code(err) == codes.Aborted && !errors.Is(err, ledger.ErrOutcomeUnknown)
			}},
		{name: "access refused is not retried", fn: "incr",
			faults:    map[string][]fault{endorse: {{err: status.Error(codes.FailedPrecondition, "access denied: creator org unknown")}}},
			wantCalls: map[string]int{endorse: 1}, wantCount: 0,
			wantErr: func(err error) bool { return status.Code(err) == codes.FailedPrecondition }},
		{name: "orderer refusal is not retried and applied nothing", fn: "incr",
			faults:    map[string][]fault{submit: {{err: aborted("received unsuccessful response from orderer: status=BAD_REQUEST, info=bad")}}},
			wantCalls: map[string]int{endorse: 1, submit: 1}, wantCount: 0,
			wantErr: func(err error) bool {
				return status.Code(err) == codes.Aborted && !errors.Is(err, ledger.ErrOutcomeUnknown)
			}},
		{name: "invalid commit (MVCC conflict) is not retried", fn: "incr",
			faults: map[string][]fault{commitStatus: {{edit: func(reply any) {
				reply.(*gwproto.CommitStatusResponse).Result = peer.TxValidationCode_MVCC_READ_CONFLICT
			}}}},
			wantCalls: map[string]int{endorse: 1, submit: 1, commitStatus: 1}, wantCount: 1, // the edit only changed the answer
			wantErr: func(err error) bool {
				var inv *ledger.InvalidTxError
				return errors.As(err, &inv) && inv.Code == "MVCC_READ_CONFLICT"
			}},
		{name: "submit answers lost every time: outcome unknown, applied once", fn: "incr",
			faults:    map[string][]fault{submit: times(attempts, fault{err: unavailable, after: true})},
			wantCalls: map[string]int{endorse: 1, submit: attempts}, wantCount: 1,
			wantErr: func(err error) bool {
				return errors.Is(err, ledger.ErrOutcomeUnknown) && strings.Contains(err.Error(), "gave up after 4 attempts")
			}},
		{name: "commit status lost every time: outcome unknown", fn: "incr",
			faults:    map[string][]fault{commitStatus: times(attempts, fault{err: unavailable})},
			wantCalls: map[string]int{endorse: 1, submit: 1, commitStatus: attempts}, wantCount: 1,
			wantErr: func(err error) bool { return errors.Is(err, ledger.ErrOutcomeUnknown) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, conn, logs := faultyGateway(t, ledger.RetryPolicy{Attempts: attempts, FirstBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Budget: time.Minute})
			conn.faults = tt.faults
			_, txID, err := gw.Submit(context.Background(), tt.fn)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("submit: %v", err)
			}
			if tt.wantErr != nil && (err == nil || !tt.wantErr(err)) {
				t.Fatalf("submit err = %v: not the error wanted", err)
			}
			for _, m := range []string{endorse, submit, commitStatus} {
				if conn.calls[m] != tt.wantCalls[m] {
					t.Errorf("%s called %d times, want %d", m[strings.LastIndex(m, "/")+1:], conn.calls[m], tt.wantCalls[m])
				}
			}
			// Every submit sent the one transaction the call endorsed.
			for id, n := range conn.submitted {
				if id != txID {
					t.Errorf("submitted transaction %s (%d times), but the call's ID is %s", id, n, txID)
				}
			}
			conn.faults = nil
			// A submit whose outcome is unknown returned without waiting for
			// the commit: the block may still be on its way.
			var got []byte
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if got, err = gw.Evaluate(context.Background(), "get"); err != nil {
					t.Fatal(err)
				}
				if string(got) == strconv.Itoa(tt.wantCount) || time.Now().After(deadline) {
					break
				}
			}
			if string(got) != strconv.Itoa(tt.wantCount) {
				t.Errorf("counter = %s, want %d", got, tt.wantCount)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log does not say %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

func TestEvaluateRetriesTransientFailures(t *testing.T) {
	gw, conn, logs := faultyGateway(t, ledger.RetryPolicy{Attempts: 3, FirstBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Budget: time.Minute})
	conn.faults = map[string][]fault{evaluate: {{err: unavailable}, {err: timedOut}}}
	got, err := gw.Evaluate(context.Background(), "get")
	if err != nil || string(got) != "0" || conn.calls[evaluate] != 3 {
		t.Fatalf("evaluate = %q, %v after %d calls", got, err, conn.calls[evaluate])
	}
	if !strings.Contains(logs.String(), "step=evaluate") {
		t.Errorf("retries not logged:\n%s", logs.String())
	}
}

func TestSubmitStopsRetryingWhenTheCallerGivesUp(t *testing.T) {
	gw, conn, _ := faultyGateway(t, ledger.RetryPolicy{Attempts: 100, FirstBackoff: time.Hour, MaxBackoff: time.Hour, Budget: 3 * time.Hour})
	conn.faults = map[string][]fault{endorse: times(100, fault{err: unavailable})}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := gw.Submit(ctx, "incr"); err == nil {
		t.Fatal("submit succeeded")
	}
	if took := time.Since(start); took > 5*time.Second || conn.calls[endorse] != 1 {
		t.Fatalf("took %s and %d endorse calls: want to stop with the context", took, conn.calls[endorse])
	}
}

func faultyGateway(t *testing.T, policy ledger.RetryPolicy) (*ledger.Gateway, *faultyConn, *strings.Builder) {
	t.Helper()
	l, err := embedledger.Open(embedledger.Config{Dir: t.TempDir(), Channel: "ch", Orgs: []string{"Org1MSP", "Org2MSP"},
		Chaincodes: map[string]shim.Chaincode{"counter": counter{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inner, err := l.DialInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := &faultyConn{ClientConnInterface: inner, calls: map[string]int{}, submitted: map[string]int{}}
	logs := &strings.Builder{}
	gw, err := ledger.Dial(l.ConnectionConfig("Org1MSP", "client", "in-process", "counter"),
		ledger.WithConnection(conn), ledger.WithRetryPolicy(policy), ledger.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(); inner.Close() })
	return gw, conn, logs
}
