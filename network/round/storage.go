package round

import (
	"errors"
	"maps"
	"slices"
	"sync"
)

// Storage keeps a member's rounds across restarts, in the manner of etcd
// raft's Storage: the machine says what changed, storage makes it durable,
// and only then may the adapter act.
type Storage interface {
	// Save durably stores the changed rounds' states (payloads included)
	// and deletes the forgotten rounds, their payloads with them, before
	// it returns.
	Save(changed []State, forgotten []string) error
	// Load returns every stored round, payloads included.
	Load() ([]State, error)
}

// Ready is what one step did: the rounds whose state changed, the rounds
// forgotten, and the outputs. The outputs come only out of Persist, after
// storage holds the states they follow from, so an adapter cannot publish
// an update, submit a transaction or start training on a state a crash
// would lose: restarted, it would contradict what its peers and the ledger
// saw.
type Ready struct {
	Changed   []State
	Forgotten []string
	outputs   []Output
}

// Persist saves the step's changes to s and returns its outputs; on a
// storage error it returns no outputs: nothing is done that was not saved.
func (rd Ready) Persist(s Storage) ([]Output, error) {
	if len(rd.Changed) > 0 || len(rd.Forgotten) > 0 {
		if err := s.Save(rd.Changed, rd.Forgotten); err != nil {
			return nil, err
		}
	}
	return rd.outputs, nil
}

// MemoryStorage keeps rounds in memory, for tests and for nodes that need
// not survive restarts.
type MemoryStorage struct {
	mu     sync.Mutex
	rounds map[string]State
	// Fail, when set, makes Save fail with it.
	Fail error
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{rounds: map[string]State{}} }

// Save implements Storage.
func (s *MemoryStorage) Save(changed []State, forgotten []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	for _, st := range changed {
		if st.Round.ID == "" {
			return errors.New("round storage: a state without a round ID")
		}
		s.rounds[st.Round.ID] = st.clone()
	}
	for _, id := range forgotten {
		delete(s.rounds, id)
	}
	return nil
}

// Load implements Storage.
func (s *MemoryStorage) Load() ([]State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]State, 0, len(s.rounds))
	for _, id := range slices.Sorted(maps.Keys(s.rounds)) {
		out = append(out, s.rounds[id].clone())
	}
	return out, nil
}

// clone copies a state deeply enough that the machine's later changes do
// not reach a stored copy (payloads are never modified in place).
func (s State) clone() State {
	c := s
	c.Committed = maps.Clone(s.Committed)
	c.SeenAt = maps.Clone(s.SeenAt)
	c.Received = maps.Clone(s.Received)
	c.Early = maps.Clone(s.Early)
	c.Pending = maps.Clone(s.Pending)
	if s.Own != nil {
		own := *s.Own
		c.Own = &own
	}
	if s.Commitment != nil {
		cm := *s.Commitment
		c.Commitment = &cm
	}
	if s.Claim != nil {
		cl := *s.Claim
		c.Claim = &cl
	}
	if s.Outcome != nil {
		o := *s.Outcome
		c.Outcome = &o
	}
	c.ensureMaps()
	return c
}
