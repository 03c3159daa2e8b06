package daemon

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/ledger"
)

// pendingAction is a ledger event whose workflow action failed and waits
// for its next try. It holds the whole event, so the action can be retried
// after a restart even though the workflow's checkpoint has passed it.
type pendingAction struct {
	Event       ledger.Event      `json:"event"`
	Kind        records.EventKind `json:"kind"`
	Attempts    int               `json:"attempts"`
	LastError   string            `json:"last_error"`
	FirstFailed time.Time         `json:"first_failed"`
	NextTry     time.Time         `json:"next_try"`
}

// pendingSet is the workflow's bounded, durable set of failed actions
// waiting for a retry, one file per action under dir (so recording one
// failure rewrites one small file, not the set). A file is written before
// the workflow's event checkpoint passes its event and removed once the
// action succeeded: a crash in between replays the event, which the
// workflow's idempotence makes harmless.
type pendingSet struct {
	dir        string
	limit      int
	minBackoff time.Duration
	maxBackoff time.Duration

	mu      sync.Mutex
	actions map[string]*pendingAction // by transaction ID
}

// Bounds of the pending set when the node does not choose.
const (
	defaultPendingLimit = 256
	defaultMinBackoff   = time.Second
	defaultMaxBackoff   = time.Minute
	maxErrorText        = 512
)

// openPending loads the actions a previous run left pending. A file that
// cannot be read is left in place and reported, not silently dropped.
func openPending(dir string, limit int, minBackoff, maxBackoff time.Duration, log *slog.Logger) (*pendingSet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: pending workflow actions: %w", err)
	}
	s := &pendingSet{dir: dir, limit: limit, minBackoff: minBackoff, maxBackoff: maxBackoff, actions: map[string]*pendingAction{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("daemon: pending workflow actions: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var a pendingAction
		raw, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(raw, &a)
		}
		if err == nil && (a.Event.TxID == "" || fileOf(a.Event.TxID) != e.Name()) {
			err = errors.New("not a pending action of this node")
		}
		if err != nil {
			log.Error("cannot read a pending workflow action; its event is not retried", "file", path, "err", err)
			continue
		}
		s.actions[a.Event.TxID] = &a
	}
	return s, nil
}

// fileOf names an action's file by a digest of its transaction ID: IDs
// come from the ledger and are not trusted as file names.
func fileOf(txID string) string {
	sum := sha256.Sum256([]byte(txID))
	return hex.EncodeToString(sum[:16]) + ".json"
}

// full reports whether the set holds as many actions as it may: the
// workflow then reads no further event until one succeeds.
func (s *pendingSet) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.actions) >= s.limit
}

// has reports whether an event's action is pending.
func (s *pendingSet) has(txID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.actions[txID]
	return ok
}

// fail records a failed attempt at an event's action, durably, and
// schedules the next with exponential backoff.
func (s *pendingSet) fail(ev ledger.Event, kind records.EventKind, cause error, now time.Time) (pendingAction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.actions[ev.TxID]
	if !ok {
		a = &pendingAction{Event: ev, Kind: kind, FirstFailed: now}
	}
	next := *a
	next.Attempts++
	next.LastError = errorText(cause)
	next.NextTry = now.Add(s.backoff(next.Attempts))
	raw, err := json.Marshal(next)
	if err != nil {
		return next, fmt.Errorf("daemon: recording a pending workflow action: %w", err)
	}
	if err := devca.WriteFileAtomic(filepath.Join(s.dir, fileOf(ev.TxID)), raw, 0o600); err != nil {
		return next, fmt.Errorf("daemon: recording a pending workflow action: %w", err)
	}
	s.actions[ev.TxID] = &next
	return next, nil
}

// backoff is the wait after the given number of failed attempts.
func (s *pendingSet) backoff(attempts int) time.Duration {
	d := s.minBackoff
	for i := 1; i < attempts && d < s.maxBackoff; i++ {
		d *= 2
	}
	return min(d, s.maxBackoff)
}

func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "..."
	}
	return s
}

// done forgets an action that succeeded (or whose event turned out to need
// nothing).
func (s *pendingSet) done(txID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.actions[txID]; !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(s.dir, fileOf(txID))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("daemon: forgetting a pending workflow action: %w", err)
	}
	delete(s.actions, txID)
	return nil
}

// next returns the action due first, if any.
func (s *pendingSet) next() (pendingAction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first *pendingAction
	for _, a := range s.actions {
		if first == nil || a.NextTry.Before(first.NextTry) || (a.NextTry.Equal(first.NextTry) && ledgerOrder(*a, *first) < 0) {
			first = a
		}
	}
	if first == nil {
		return pendingAction{}, false
	}
	return *first, true
}

// list returns the pending actions in ledger order.
func (s *pendingSet) list() []pendingAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pendingAction, 0, len(s.actions))
	for _, a := range s.actions {
		out = append(out, *a)
	}
	slices.SortFunc(out, ledgerOrder)
	return out
}

// ledgerOrder orders actions by block, then by when they first failed
// (events of one block are handled, and fail, in ledger order).
func ledgerOrder(a, b pendingAction) int {
	return cmp.Or(cmp.Compare(a.Event.BlockNumber, b.Event.BlockNumber), a.FirstFailed.Compare(b.FirstFailed),
		strings.Compare(a.Event.TxID, b.Event.TxID))
}
