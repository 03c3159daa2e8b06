package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/srellama/srellama/chaincode/records"
)

// Turns follows the open generation requests and when each assignee's
// turn ends, from the ledger's events: a request whose assignee neither
// proposes nor declines in time is not lost, any member reassigns it.
type Turns struct {
	mu   sync.Mutex
	open map[string]time.Time // request ID -> end of the assignee's turn
}

// MaxTurns bounds how many open requests are followed.
const MaxTurns = 4096

// NewTurns follows no request yet.
func NewTurns() *Turns { return &Turns{open: map[string]time.Time{}} }

// Note updates the open requests from one event.
func (t *Turns) Note(e records.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, req := range e.Requests {
		until, err := records.ParseTime(req.AssignedUntil)
		if req.Status != records.RequestOpen || err != nil {
			delete(t.open, req.ID)
			continue
		}
		if _, known := t.open[req.ID]; !known && len(t.open) >= MaxTurns {
			continue
		}
		t.open[req.ID] = until
	}
	if e.Kind == records.EventTokenMinted && e.Token != nil {
		delete(t.open, e.Token.Definition.Provenance.GenerationRequestID)
	}
}

// Due lists the requests whose assignee's turn ended before now, in ID
// order.
func (t *Turns) Due(now time.Time) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, until := range t.open {
		if now.After(until) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (t *Turns) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, id)
}

func (t *Turns) set(id string, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open[id] = until
}

// Sweep reassigns every request whose assignee's turn passed without a
// proposal. The ledger decides: a request since settled, proposed for or
// reassigned by another member is only brought up to date here.
func (x Executor) Sweep(ctx context.Context, now time.Time) error {
	if x.Turns == nil {
		return nil
	}
	var errs []error
	for _, id := range x.Turns.Due(now) {
		_, err := x.Ledger.Reassign(ctx, id)
		if err == nil {
			x.logger().Info("reassigned a request whose assignee's turn passed", "request", id)
			continue // the reassignment event updates the turn
		}
		if !isDone(err) {
			errs = append(errs, fmt.Errorf("reassigning %s: %w", id, err))
			continue
		}
		req, rerr := x.request(ctx, id)
		if rerr != nil {
			errs = append(errs, rerr)
			continue
		}
		until, perr := records.ParseTime(req.AssignedUntil)
		switch {
		case req.Status != records.RequestOpen || perr != nil:
			x.Turns.forget(id)
		case until.After(now):
			x.Turns.set(id, until)
		default:
			// The assignee has a proposal open: its turn ends with it.
			x.Turns.set(id, now.Add(time.Hour))
		}
	}
	return errors.Join(errs...)
}
