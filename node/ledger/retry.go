package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Retrying gateway calls, and why it never applies a transaction twice.
//
// A submit goes through three steps, each its own gateway call: endorse
// (the gateway runs the proposal on enough peers and returns the endorsed
// transaction), submit (the gateway sends the signed transaction to the
// orderers) and commit status (the gateway waits until its peer has
// validated the block holding it). fabric-gateway reports a failure of
// each as *client.EndorseError, *client.SubmitError and
// *client.CommitStatusError.
//
// Every retry repeats the step that failed, with the same signed message,
// so one Submit call has one transaction ID however often it retries:
//   - endorse again with the same proposal: an endorsement failure means the
//     gateway never returned a transaction to sign, so nothing reached the
//     orderers;
//   - submit again with the same signed envelope: after a timeout or a lost
//     connection the orderers may have received it already. Fabric
//     validates at most one transaction per ID (a later copy is marked
//     DUPLICATE_TXID and its writes are discarded; the embedded ledger does
//     the same), and the commit status of an ID is that of its first copy;
//   - ask for the commit status again: the transaction is with the
//     orderers, only the answer was lost.
//
// Endorsing a *new* proposal after a submit or commit-status failure could
// apply the same change twice under two IDs; this package never does, and
// when the submit or commit-status retries run out the error wraps
// ErrOutcomeUnknown, so a caller can tell "not applied" from "maybe
// applied".
//
// Only transient failures are retried (see transient): an unreachable
// gateway, peer or orderer (Unavailable), a timeout (DeadlineExceeded), a
// gateway that does not yet know enough organizations' peers to satisfy
// the endorsement policy (discovery's refusal, while gossip is still
// spreading membership after peers start), and an endorsement that failed
// only because the endorsing peers were unreachable. Chaincode refusals,
// endorsements that differ between organizations, access-control failures
// and transactions committed as invalid (an MVCC read conflict, say) are
// returned at once, as before: repeating them yields the same answer, and
// an MVCC conflict needs a new proposal on new state, which is the
// caller's decision.

// ErrOutcomeUnknown marks a submit whose transaction may or may not have
// been committed: it was (or may have been) sent to the orderers, and its
// commit status could not be obtained.
var ErrOutcomeUnknown = errors.New("the transaction may have been committed")

// RetryPolicy bounds the retries of one ledger call.
type RetryPolicy struct {
	// Attempts is how often each step of a call (evaluate; endorse, submit,
	// commit status) is tried, the first time included. 1 disables retries.
	Attempts int
	// FirstBackoff is the wait after the first failure; each further wait
	// doubles, up to MaxBackoff, and is drawn between half and all of that.
	FirstBackoff, MaxBackoff time.Duration
	// Budget bounds the time one call spends: no retry starts after Budget
	// has passed since the call began. A caller's context deadline applies
	// too.
	Budget time.Duration
}

// DefaultRetryPolicy rides out a gateway restart and the seconds to a
// minute that gossip needs, on a loaded machine, to tell a freshly started
// peer about the other organizations' peers: 10 attempts, backoff from 250
// ms to 8 s (about 45 s of waiting at most), 2 minutes in all.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 10, FirstBackoff: 250 * time.Millisecond, MaxBackoff: 8 * time.Second, Budget: 2 * time.Minute}
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	switch {
	case p.Attempts < 1:
		return fmt.Errorf("ledger retry: attempts %d: want at least 1", p.Attempts)
	case p.FirstBackoff < 0 || p.MaxBackoff < p.FirstBackoff:
		return fmt.Errorf("ledger retry: backoff %s to %s: want 0 <= first <= max", p.FirstBackoff, p.MaxBackoff)
	case p.Budget <= 0:
		return fmt.Errorf("ledger retry: budget %s: want a positive duration", p.Budget)
	}
	return nil
}

// backoff is the wait before attempt n+1 (n >= 1), jittered so that nodes
// that failed together do not retry together.
func (p RetryPolicy) backoff(n int, jitter func() float64) time.Duration {
	d := p.FirstBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// discoveryRefusal is how a Fabric gateway says that discovery knows too
// few peers to satisfy the endorsement policy (fabric
// internal/pkg/gateway/registry.go), which is transient while gossip
// spreads membership.
const discoveryRefusal = "no combination of peers can be derived which satisfy the endorsement policy"

// transient reports whether err, from a gateway call, is worth trying
// again with the same message, and a short reason for the log.
func transient(err error) (reason string, ok bool) {
	if err == nil {
		return "", false
	}
	st, isStatus := status.FromError(err)
	if !isStatus {
		// Not from gRPC (a signing or encoding failure): retrying repeats it.
		return "", false
	}
	switch st.Code() {
	case codes.Unavailable:
		return "unavailable", true
	case codes.DeadlineExceeded:
		return "deadline exceeded", true
	case codes.FailedPrecondition:
		if strings.Contains(st.Message(), discoveryRefusal) {
			return "endorsers not yet discovered", true
		}
	case codes.Aborted:
		if endorsersUnreachable(st) {
			return "endorsing peers unreachable", true
		}
	}
	return "", false
}

// endorsersUnreachable: an endorsement the gateway abandoned only because
// every peer it asked could not be reached (each detail a transport
// failure, none a chaincode answer or a differing endorsement).
func endorsersUnreachable(st *status.Status) bool {
	n := 0
	for _, d := range st.Details() {
		detail, ok := d.(*gwproto.ErrorDetail)
		if !ok {
			continue
		}
		if !strings.Contains(detail.GetMessage(), "code = Unavailable") {
			return false
		}
		n++
	}
	return n > 0
}

// retrier runs the steps of one ledger call under a policy.
type retrier struct {
	policy RetryPolicy
	log    *slog.Logger
	start  time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func() float64
}

func (g *Gateway) newRetrier(fn string) *retrier {
	return &retrier{
		policy: g.retry, log: g.log.With("fn", fn), start: time.Now(), now: time.Now,
		sleep: sleepCtx, jitter: rand.Float64,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry runs one step until it succeeds, fails for good, or the policy's
// attempts or budget run out; it returns the last error.
func retry[T any](ctx context.Context, r *retrier, step string, attrs []any, do func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := do(ctx)
		if err == nil {
			if attempt > 1 {
				r.log.Info("ledger call succeeded after retries", append(attrs, "step", step, "attempts", attempt)...)
			}
			return v, nil
		}
		reason, ok := transient(err)
		if !ok || ctx.Err() != nil {
			return v, err
		}
		if r.policy.Attempts == 1 {
			return v, err // retries disabled
		}
		if attempt >= r.policy.Attempts {
			return v, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := r.policy.backoff(attempt, r.jitter)
		if r.now().Add(wait).Sub(r.start) > r.policy.Budget {
			return v, fmt.Errorf("%w (gave up after %d attempts in %s)", err, attempt, r.now().Sub(r.start).Round(time.Millisecond))
		}
		r.log.Warn("ledger call failed; retrying", append(attrs, "step", step, "attempt", attempt, "reason", reason,
			"backoff", wait.Round(time.Millisecond), "err", err)...)
		if stop := r.sleep(ctx, wait); stop != nil {
			return v, fmt.Errorf("%w (stopped retrying: %v)", err, stop)
		}
	}
}

// mayHaveReachedOrderer: a failed submit call whose transaction the
// orderers may nevertheless have received. Only an answer that refuses the
// transaction (the gateway's or an orderer's) or a failure before anything
// was sent rules that out.
func mayHaveReachedOrderer(err error) bool {
	if err == nil {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return false // signing failed; nothing was sent
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.PermissionDenied,
		codes.Unauthenticated, codes.Aborted:
		return false
	}
	return true
}
