package promsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// transport adds credentials to every request and retries what may succeed
// later: network errors, per-attempt timeouts, 429 and 5xx answers. Other
// 4xx answers come back at once: asking again will not help.
type transport struct {
	base        http.RoundTripper
	bearer      string
	user, pass  string
	orgID       string
	retries     int
	backoffBase time.Duration
	backoffMax  time.Duration
	timeout     time.Duration
	log         *slog.Logger

	mu  sync.Mutex
	rng *rand.Rand // jitter; seeded so that tests are reproducible
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		resp, cancel, err := t.attempt(req)
		retry, why := t.shouldRetry(ctx, resp, err)
		if !retry || attempt >= t.retries {
			if err != nil {
				return nil, err
			}
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		wait := t.backoff(attempt, resp)
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			cancel()
		}
		t.log.Warn("prometheus request failed, retrying", "url", req.URL.Redacted(), "attempt", attempt+1, "reason", why, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// attempt sends one copy of req under its own timeout; cancel releases the
// timeout once the response body is done with.
func (t *transport) attempt(req *http.Request) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	r := req.Clone(ctx)
	if req.Body != nil && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("rewind request body: %w", err)
		}
		r.Body = body
	}
	switch {
	case t.bearer != "":
		r.Header.Set("Authorization", "Bearer "+t.bearer)
	case t.user != "":
		r.SetBasicAuth(t.user, t.pass)
	}
	if t.orgID != "" {
		r.Header.Set("X-Scope-OrgID", t.orgID)
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

func (t *transport) shouldRetry(ctx context.Context, resp *http.Response, err error) (bool, string) {
	if ctx.Err() != nil {
		return false, ""
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return true, fmt.Sprintf("no answer within %v", t.timeout)
		}
		return true, err.Error()
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return true, resp.Status
	}
	return false, ""
}

// backoff doubles from backoffBase up to backoffMax with full jitter, or
// follows the server's Retry-After (in seconds) when it is longer.
func (t *transport) backoff(attempt int, resp *http.Response) time.Duration {
	ceiling := t.backoffBase << attempt
	if ceiling > t.backoffMax || ceiling <= 0 {
		ceiling = t.backoffMax
	}
	t.mu.Lock()
	wait := ceiling/2 + time.Duration(t.rng.Int64N(int64(ceiling/2)+1))
	t.mu.Unlock()
	if resp != nil {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			if after := time.Duration(secs) * time.Second; after > wait {
				wait = min(after, t.backoffMax)
			}
		}
	}
	return wait
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
