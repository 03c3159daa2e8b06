package daemon

import (
	"context"
	"errors"
	"sync"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network"
	"github.com/srellama/srellama/node/source"
)

// failingTrainer remembers why local training failed in a round, so the
// API shows the node's part as failed with the reason and /metrics counts
// it, instead of a round that stays "training" with no sign of trouble.
type failingTrainer struct {
	network.Trainer
	m *nodeMetrics

	mu       sync.Mutex
	failures map[string]string // round ID -> reason
}

func (t *failingTrainer) Train(ctx context.Context, r records.Round) ([]byte, records.UpdateCommitment, error) {
	payload, c, err := t.Trainer.Train(ctx, r)
	if err != nil && ctx.Err() == nil {
		t.m.training.WithLabelValues(trainingCause(err)).Inc()
		t.mu.Lock()
		if t.failures == nil {
			t.failures = map[string]string{}
		}
		if len(t.failures) >= 1024 { // bounded: keep the latest rounds
			clear(t.failures)
		}
		t.failures[r.ID] = err.Error()
		t.mu.Unlock()
	}
	return payload, c, err
}

func (t *failingTrainer) reason(roundID string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	reason, ok := t.failures[roundID]
	return reason, ok
}

// trainingCause is a short, bounded label for a training failure.
func trainingCause(err error) string {
	switch {
	case errors.Is(err, source.ErrNotEnoughHistory):
		return "not_enough_history"
	case errors.Is(err, source.ErrUnknownService):
		return "no_service"
	}
	return "error"
}

// phases reports the round machine's phase for the API, "failed" where
// local training failed while the round is still open.
type phases struct {
	p *network.Participant
	t *failingTrainer
}

func (ph phases) Phase(id string) (string, bool) {
	s, ok := ph.p.State(id)
	if _, failed := ph.t.reason(id); failed && (!ok || s.Phase == "training") {
		return "failed", true
	}
	return string(s.Phase), ok
}

func (ph phases) PhaseReason(id string) string {
	reason, _ := ph.t.reason(id)
	return reason
}
