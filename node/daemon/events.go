package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger"
)

// The ledger's events are read twice, by two consumers with their own
// checkpoints: the round participant, which must keep up with rounds'
// deadlines, and the SLO workflow, whose actions (generation, review,
// install) read the metric source and may fail for minutes. Neither waits
// for the other.
const (
	roundsCheckpoint   = "events.rounds.checkpoint"
	workflowCheckpoint = "events.workflow.checkpoint"
	// legacyCheckpoint is the one checkpoint both shared before: it
	// advanced only once both were done with an event, so each may start
	// from it.
	legacyCheckpoint = "events.checkpoint"
	pendingDir       = "workflow.pending"
)

// handleEvents runs the round and workflow consumers until ctx ends or one
// of them fails for good.
func (n *Node) handleEvents(ctx context.Context) error {
	if err := splitLegacyCheckpoint(n.cfg.DataDir); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- n.consumeRounds(ctx) }()
	go func() { errs <- n.consumeWorkflow(ctx) }()
	first := <-errs
	cancel()
	return errors.Join(first, <-errs)
}

// splitLegacyCheckpoint starts each consumer's checkpoint from the shared
// one a node upgraded from an earlier version has. The old file goes only
// once both copies exist, so a crash midway repeats the split.
func splitLegacyCheckpoint(dir string) error {
	legacy := filepath.Join(dir, legacyCheckpoint)
	raw, err := os.ReadFile(legacy)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("daemon: reading the event checkpoint: %w", err)
	}
	for _, name := range []string{roundsCheckpoint, workflowCheckpoint} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := devca.WriteFileAtomic(path, raw, 0o600); err != nil {
			return fmt.Errorf("daemon: splitting the event checkpoint: %w", err)
		}
	}
	if err := os.Remove(legacy); err != nil {
		return fmt.Errorf("daemon: splitting the event checkpoint: %w", err)
	}
	return nil
}

// consumeRounds feeds every event to the round participant, in ledger
// order, and checkpoints it once fed: the participant persists its own
// state before it acts, and never blocks on the workflow.
func (n *Node) consumeRounds(ctx context.Context) error {
	cp, err := ledger.OpenCheckpoint(filepath.Join(n.cfg.DataDir, roundsCheckpoint))
	if err != nil {
		return err
	}
	defer cp.Close()
	events, err := n.parts.Ledger.Events(ctx, cp)
	if err != nil {
		return fmt.Errorf("daemon: ledger events for rounds: %w", err)
	}
	for ev := range events {
		if e, ok := n.decode(ev, "rounds"); ok {
			n.handleRoundEvent(ctx, e)
		}
		if ctx.Err() != nil {
			return nil // stopped mid-event; it is fed again on restart
		}
		if err := cp.Done(ev); err != nil {
			return fmt.Errorf("daemon: saving the rounds' event checkpoint: %w", err)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("daemon: the ledger event stream for rounds ended")
}

func (n *Node) handleRoundEvent(ctx context.Context, e records.Event) {
	if e.Kind == records.EventRoundOpened && e.Round != nil && roundPassed(ctx, n.chain, *e.Round, n.parts.Now()) {
		// Catching up: the round closed, or its commit window did, long
		// ago; training for it now would only be refused.
		n.log.Debug("round already past; not taking part", "round", e.Round.ID)
	} else {
		n.part.HandleEvent(ctx, e)
	}
	if e.Kind == records.EventNodeRegistered && e.Node != nil {
		n.dial(ctx, *e.Node)
	}
}

// decode reads an SRE-Llama event; anything else is skipped.
func (n *Node) decode(ev ledger.Event, consumer string) (records.Event, bool) {
	var e records.Event
	if err := json.Unmarshal(ev.Payload, &e); err != nil {
		n.log.Warn("ignoring an event that is not an SRE-Llama event", "consumer", consumer, "name", ev.Name, "tx", ev.TxID, "err", err)
		return e, false
	}
	n.metrics.events.WithLabelValues(consumer, string(e.Kind)).Inc()
	return e, true
}

// consumeWorkflow runs the workflow's consumer on its own checkpoint.
func (n *Node) consumeWorkflow(ctx context.Context) error {
	cp, err := ledger.OpenCheckpoint(filepath.Join(n.cfg.DataDir, workflowCheckpoint))
	if err != nil {
		return err
	}
	defer cp.Close()
	events, err := n.parts.Ledger.Events(ctx, cp)
	if err != nil {
		return fmt.Errorf("daemon: ledger events for the workflow: %w", err)
	}
	c := workflowConsumer{
		handle:  n.exec.Handle,
		sweep:   n.exec.Sweep,
		refresh: currentTokens(n.chain),
		decode:  func(ev ledger.Event) (records.Event, bool) { return n.decode(ev, "workflow") },
		pending: n.pending,
		cp:      cp,
		now:     n.parts.Now,
		metrics: n.metrics,
		log:     n.log,
	}
	return c.run(ctx, events)
}

// tokenReader reads a token's state on the ledger now.
type tokenReader interface {
	Token(ctx context.Context, tokenID string) (nft.Token, error)
}

// currentTokens replaces the tokens of an event with their state on the
// ledger now. A retried install runs after later events were handled: a
// token's old state must not undo what a later revision installed.
func currentTokens(l tokenReader) func(ctx context.Context, e records.Event) (records.Event, error) {
	return func(ctx context.Context, e records.Event) (records.Event, error) {
		for _, t := range []**nft.Token{&e.Token, &e.Superseded} {
			if *t == nil {
				continue
			}
			tok, err := l.Token(ctx, (*t).ID)
			if err == nil {
				// The rules installed are the token's: check its seal.
				err = nft.ValidateToken(tok)
			}
			if err != nil {
				return e, fmt.Errorf("reading token %s: %w", (*t).ID, err)
			}
			*t = &tok
		}
		return e, nil
	}
}

// workflowConsumer carries out the workflow's actions in ledger order. An
// action that fails is parked in the pending set, durably, and retried on
// its own schedule while later events go on: the checkpoint passes an event
// only once its action succeeded or is recorded as pending. When the set is
// full no further event is read (nothing is dropped) until one succeeds.
type workflowConsumer struct {
	handle  func(ctx context.Context, e records.Event) error
	sweep   func(ctx context.Context, now time.Time) error
	refresh func(ctx context.Context, e records.Event) (records.Event, error)
	decode  func(ev ledger.Event) (records.Event, bool)
	pending *pendingSet
	cp      *ledger.Checkpoint
	now     func() time.Time
	metrics *nodeMetrics
	log     *slog.Logger
	// sweepEvery is how often requests whose assignee's turn passed are
	// reassigned; 0 means reassignEvery.
	sweepEvery time.Duration
}

func (c workflowConsumer) run(ctx context.Context, events <-chan ledger.Event) error {
	every := c.sweepEvery
	if every <= 0 {
		every = reassignEvery
	}
	sweep := time.NewTicker(every)
	defer sweep.Stop()
	for {
		in := events
		if c.pending.full() {
			in = nil
		}
		var retry <-chan time.Time
		if a, ok := c.pending.next(); ok {
			retry = time.After(time.Until(a.NextTry))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			// Requests whose assignee let its turn pass go to another
			// member; failures are retried at the next sweep.
			if err := c.sweep(ctx, c.now()); err != nil && ctx.Err() == nil {
				c.log.Warn("reassigning requests", "err", err)
			}
		case <-retry:
			if a, ok := c.pending.next(); ok && !time.Now().Before(a.NextTry) {
				if err := c.retry(ctx, a); err != nil {
					return err
				}
			}
		case ev, ok := <-in:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("daemon: the ledger event stream for the workflow ended")
			}
			if err := c.consume(ctx, ev); err != nil || ctx.Err() != nil {
				return err // stopped mid-action: the event stays unhandled
			}
		}
	}
}

// consume handles one event the first time (or again, after a restart
// between parking it and checkpointing it) and checkpoints it.
func (c workflowConsumer) consume(ctx context.Context, ev ledger.Event) error {
	if e, ok := c.decode(ev); ok {
		err := c.handle(ctx, e)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if err := c.park(ev, e.Kind, err); err != nil {
				return err
			}
		case c.pending.has(ev.TxID):
			if err := c.pending.done(ev.TxID); err != nil {
				return err
			}
		}
	}
	if err := c.cp.Done(ev); err != nil {
		return fmt.Errorf("daemon: saving the workflow's event checkpoint: %w", err)
	}
	return nil
}

// retry tries a pending action again, with the current state of the
// tokens it installs.
func (c workflowConsumer) retry(ctx context.Context, a pendingAction) error {
	c.metrics.workflowRetries.WithLabelValues(string(a.Kind)).Inc()
	var e records.Event
	err := json.Unmarshal(a.Event.Payload, &e)
	if err == nil {
		e, err = c.refresh(ctx, e)
	}
	if err == nil {
		err = c.handle(ctx, e)
	}
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return c.park(a.Event, a.Kind, err)
	}
	if err := c.pending.done(a.Event.TxID); err != nil {
		return err
	}
	c.metrics.workflowRecovered.WithLabelValues(string(a.Kind)).Inc()
	c.log.Info("pending workflow action done", "event", a.Kind, "tx", a.Event.TxID, "attempts", a.Attempts+1,
		"pending_for", time.Since(a.FirstFailed).Round(time.Second))
	return nil
}

// park records a failed attempt; an error here (the disk) stops the
// consumer, as the checkpoint must not pass an event recorded nowhere.
func (c workflowConsumer) park(ev ledger.Event, kind records.EventKind, cause error) error {
	c.metrics.workflowFailures.WithLabelValues(string(kind)).Inc()
	a, err := c.pending.fail(ev, kind, cause, time.Now())
	if err != nil {
		return err
	}
	level := slog.LevelDebug
	if a.Attempts&(a.Attempts-1) == 0 {
		// Attempts 1, 2, 4, 8...: a long outage does not flood the log;
		// the API and metrics show every action's state.
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, "workflow action failed; retrying later, later events go on", "event", kind,
		"tx", ev.TxID, "attempts", a.Attempts, "err", cause, "next_try", a.NextTry.Format(time.RFC3339))
	return nil
}

// roundPassed reports whether a round whose opening event is being
// handled is settled on the ledger or past its commit window: a node
// catching up recognises finished rounds without acting on them. When the
// ledger cannot say, the round is taken as live.
func roundPassed(ctx context.Context, l interface {
	Round(ctx context.Context, roundID string) (records.Round, error)
}, r records.Round, now time.Time) bool {
	if commit, err := records.ParseTime(r.CommitDeadline); err == nil && now.After(commit) {
		return true
	}
	current, err := l.Round(ctx, r.ID)
	return err == nil && current.Status != records.RoundOpen
}

// reassignEvery is how often the node looks for requests whose assignee's
// turn passed.
const reassignEvery = 30 * time.Second
