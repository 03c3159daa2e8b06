// Package round is the federated round protocol as a pure state machine,
// in the manner of etcd's raft: the Machine takes inputs (ledger events,
// messages received from peers, results of its own requests, clock ticks)
// and returns outputs (messages to publish, ledger transactions to submit,
// training and fetching to start). It does no I/O and reads no clock; a
// thin adapter feeds it and carries out what it asks, so the protocol is
// tested by driving inputs and reading outputs, and every node that sees the
// same inputs takes the same steps.
//
// A round, seen from one member:
//
//	opened      -> StartTraining
//	trained     -> SubmitCommit (digest, samples, local metrics)
//	committed   -> Publish (the update, to the round's topic)
//	collecting  -> updates from peers are kept if their digest is the one
//	               that peer committed on the ledger; missing ones fetched
//	ready       -> SubmitAggregate, once the commit deadline has passed (or
//	               every member committed) and every committed update is in,
//	               or after a grace period with the updates that arrived
//	closed      -> Finished, when the ledger says finalized or failed
//
// Past the round's deadline an open round is closed on the ledger.
package round

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/srellama/srellama/chaincode/records"
)

// Phase is where this member is in a round.
type Phase string

// Phases.
const (
	PhaseTraining   Phase = "training"
	PhaseCommitting Phase = "committing"
	PhaseCollecting Phase = "collecting"
	PhaseVoted      Phase = "voted"
	// PhaseVerifying: the round finalized on an aggregate this member had
	// not computed (it was slower, or restarted); it gathers the finalized
	// contributors' updates and computes the aggregate itself.
	PhaseVerifying Phase = "verifying"
	PhaseClosed    Phase = "closed"
)

// Update is a model update as it travels: the committing organization, the
// digest it committed and the encoded payload.
type Update struct {
	MSPID   string `json:"msp_id"`
	Digest  string `json:"digest"`
	Payload []byte `json:"payload"`
}

// Config is what the machine needs beyond its inputs. Both functions must
// be pure and deterministic: every honest member runs them on the same
// updates and must reach the same digest.
type Config struct {
	// Self is this member's MSP ID.
	Self string
	// Inspect validates a received payload for a round (dimension, finite
	// values, size) and returns its digest.
	Inspect func(round records.Round, payload []byte) (digest string, err error)
	// Aggregate combines the updates, sorted by MSP ID, into the claim this
	// member submits: the aggregate's digest, the contributors and the
	// ranking.
	Aggregate func(round records.Round, updates []Update) (records.AggregateClaim, error)
	// Grace is how long after the commit deadline a member waits for
	// missing updates before aggregating those it has.
	Grace time.Duration
	// RetryEvery spaces out retries of failed transactions and fetches.
	RetryEvery time.Duration
	// Retain is how long a closed round is kept, counted from its close or
	// its deadline, whichever is later; then it is forgotten and Ready
	// tells storage to delete it. Zero keeps closed rounds forever.
	Retain time.Duration
}

// Machine runs the rounds this member takes part in.
type Machine struct {
	cfg    Config
	now    time.Time
	rounds map[string]*State
	// changed and forgotten collect what the current step did to the
	// rounds, for its Ready.
	changed   map[string]bool
	forgotten []string
}

// State is one round as this member sees it. It is exported so the adapter
// can persist it after every step and restore it after a crash.
type State struct {
	Round      records.Round             `json:"round"`
	Phase      Phase                     `json:"phase"`
	Own        *Update                   `json:"own,omitempty"`
	Commitment *records.UpdateCommitment `json:"commitment,omitempty"`
	Committed  map[string]string         `json:"committed"` // MSP ID -> committed digest
	SeenAt     map[string]time.Time      `json:"seen_at"`   // when each commitment was seen
	Received   map[string]Update         `json:"received"`  // updates matching their commitment
	Early      map[string]Update         `json:"early"`     // arrived before their commitment was seen
	Claim      *records.AggregateClaim   `json:"claim,omitempty"`
	Pending    map[string]pendingTx      `json:"pending"` // transaction kind -> retry state
	LastFetch  time.Time                 `json:"last_fetch"`
	Outcome    *records.Round            `json:"outcome,omitempty"`
	// ClosedAt is when this member saw the round close, by its ticks.
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

type pendingTx struct {
	RetryAt time.Time `json:"retry_at"`
	Tries   int       `json:"tries"`
}

// New returns a machine with no rounds.
func New(cfg Config) (*Machine, error) {
	switch {
	case cfg.Self == "":
		return nil, errors.New("round: Config.Self is empty")
	case cfg.Inspect == nil || cfg.Aggregate == nil:
		return nil, errors.New("round: Config.Inspect and Config.Aggregate are required")
	case cfg.Grace <= 0 || cfg.RetryEvery <= 0:
		return nil, errors.New("round: Config.Grace and Config.RetryEvery must be positive")
	case cfg.Retain < 0:
		return nil, errors.New("round: Config.Retain must not be negative")
	}
	return &Machine{cfg: cfg, rounds: map[string]*State{}, changed: map[string]bool{}}, nil
}

// Restore replaces the machine's rounds with persisted states.
func (m *Machine) Restore(states []State) {
	m.rounds = map[string]*State{}
	for i := range states {
		s := states[i]
		s.ensureMaps()
		m.rounds[s.Round.ID] = &s
	}
}

// States returns copies of the rounds' states, sorted by round ID, for the
// adapter to persist.
func (m *Machine) States() []State {
	ids := make([]string, 0, len(m.rounds))
	for id := range m.rounds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]State, 0, len(ids))
	for _, id := range ids {
		out = append(out, *m.rounds[id])
	}
	return out
}

// State returns one round's state.
func (m *Machine) State(roundID string) (State, bool) {
	s, ok := m.rounds[roundID]
	if !ok {
		return State{}, false
	}
	return *s, true
}

// Forget drops a round's state now, whatever Retain says; the next Ready
// tells storage to delete it.
func (m *Machine) Forget(roundID string) {
	if _, ok := m.rounds[roundID]; ok {
		delete(m.rounds, roundID)
		delete(m.changed, roundID)
		m.forgotten = append(m.forgotten, roundID)
	}
}

func (s *State) ensureMaps() {
	if s.Committed == nil {
		s.Committed = map[string]string{}
	}
	if s.SeenAt == nil {
		s.SeenAt = map[string]time.Time{}
	}
	if s.Received == nil {
		s.Received = map[string]Update{}
	}
	if s.Early == nil {
		s.Early = map[string]Update{}
	}
	if s.Pending == nil {
		s.Pending = map[string]pendingTx{}
	}
}

// Step applies one input and returns what the adapter must persist and
// then do: the outputs come only out of Ready.Persist.
func (m *Machine) Step(in Input) Ready {
	outs := m.apply(in)
	rd := Ready{Forgotten: m.forgotten, outputs: outs}
	for _, id := range slices.Sorted(maps.Keys(m.changed)) {
		rd.Changed = append(rd.Changed, *m.rounds[id])
	}
	m.changed = map[string]bool{}
	m.forgotten = nil
	return rd
}

func (m *Machine) apply(in Input) []Output {
	switch in := in.(type) {
	case Tick:
		if in.Now.After(m.now) {
			m.now = in.Now
		}
		return m.onTick()
	case RoundOpened:
		return m.onOpened(in.Round)
	case Trained:
		return m.onTrained(in)
	case TrainingFailed:
		return m.withRound(in.RoundID, func(s *State) []Output {
			return []Output{Log{RoundID: in.RoundID, Message: fmt.Sprintf("local training failed, taking part without an update: %v", in.Err)}}
		})
	case UpdateCommitted:
		return m.onCommitted(in)
	case UpdateReceived:
		return m.onReceived(in)
	case TxDone:
		return m.onTxDone(in)
	case RoundClosed:
		return m.onClosed(in.Round)
	}
	return []Output{Log{Message: fmt.Sprintf("round: unknown input %T", in)}}
}

func (m *Machine) withRound(id string, f func(*State) []Output) []Output {
	s, ok := m.rounds[id]
	if !ok || s.Phase == PhaseClosed {
		return nil
	}
	m.changed[id] = true
	return f(s)
}

func (m *Machine) onOpened(r records.Round) []Output {
	if _, seen := m.rounds[r.ID]; seen || !slices.Contains(r.Members, m.cfg.Self) || r.Status != records.RoundOpen {
		return nil
	}
	if m.expired(r) {
		// A replayed event of a round already forgotten: it closed long
		// ago, and reviving it would only train and commit in vain.
		return nil
	}
	s := &State{Round: r, Phase: PhaseTraining}
	s.ensureMaps()
	m.rounds[r.ID] = s
	m.changed[r.ID] = true
	return []Output{StartTraining{Round: r}}
}

func (m *Machine) onTrained(in Trained) []Output {
	return m.withRound(in.RoundID, func(s *State) []Output {
		if s.Phase != PhaseTraining {
			return nil
		}
		digest, err := m.cfg.Inspect(s.Round, in.Payload)
		if err != nil {
			return []Output{Log{RoundID: s.Round.ID, Message: fmt.Sprintf("own update is invalid, not committing it: %v", err)}}
		}
		c := in.Commitment
		c.Digest = digest
		s.Own = &Update{MSPID: m.cfg.Self, Digest: digest, Payload: in.Payload}
		s.Commitment = &c
		s.Phase = PhaseCommitting
		s.Pending[kindCommit] = pendingTx{}
		return []Output{SubmitCommit{RoundID: s.Round.ID, Commitment: c}}
	})
}

func (m *Machine) onCommitted(in UpdateCommitted) []Output {
	return m.withRound(in.RoundID, func(s *State) []Output {
		if !slices.Contains(s.Round.Members, in.MSPID) {
			return nil
		}
		s.Committed[in.MSPID] = in.Digest
		if _, seen := s.SeenAt[in.MSPID]; !seen {
			s.SeenAt[in.MSPID] = m.now
		}
		var out []Output
		if in.MSPID == m.cfg.Self && s.Own != nil && in.Digest == s.Own.Digest {
			delete(s.Pending, kindCommit)
			s.Received[m.cfg.Self] = *s.Own
			if s.Phase == PhaseCommitting {
				s.Phase = PhaseCollecting
			}
			out = append(out, Publish{RoundID: s.Round.ID, Update: *s.Own})
		}
		if early, ok := s.Early[in.MSPID]; ok {
			delete(s.Early, in.MSPID)
			out = append(out, m.accept(s, early)...)
		}
		return append(out, m.maybeAggregate(s)...)
	})
}

func (m *Machine) onReceived(in UpdateReceived) []Output {
	return m.withRound(in.RoundID, func(s *State) []Output {
		u := in.Update
		if u.MSPID == m.cfg.Self {
			return nil
		}
		if !slices.Contains(s.Round.Members, u.MSPID) {
			return []Output{Reject{RoundID: s.Round.ID, From: u.MSPID, Reason: "sender is not a member of the round"}}
		}
		if _, have := s.Received[u.MSPID]; have {
			return nil
		}
		if _, known := s.Committed[u.MSPID]; !known {
			// The ledger event may simply not have reached us yet: hold
			// one update per member until it does.
			s.Early[u.MSPID] = u
			return nil
		}
		out := m.accept(s, u)
		if s.Phase == PhaseVerifying {
			return append(out, m.verify(s)...)
		}
		return append(out, m.maybeAggregate(s)...)
	})
}

// accept keeps an update if it is well-formed and its digest is the one its
// sender committed; otherwise it reports the sender for scoring.
func (m *Machine) accept(s *State, u Update) []Output {
	digest, err := m.cfg.Inspect(s.Round, u.Payload)
	if err != nil {
		return []Output{Reject{RoundID: s.Round.ID, From: u.MSPID, Reason: fmt.Sprintf("malformed update: %v", err)}}
	}
	if want := s.Committed[u.MSPID]; digest != want {
		return []Output{Reject{RoundID: s.Round.ID, From: u.MSPID, Reason: fmt.Sprintf("update digest %s is not the committed %s", digest, want)}}
	}
	u.Digest = digest
	s.Received[u.MSPID] = u
	return nil
}

// maybeAggregate aggregates when the round allows it and the updates are in.
func (m *Machine) maybeAggregate(s *State) []Output {
	// A member whose own update never made it still aggregates the others.
	if s.Phase == PhaseVoted || s.Phase == PhaseClosed || s.Phase == PhaseVerifying {
		return nil
	}
	if m.now.IsZero() {
		return nil
	}
	commitDeadline, _ := records.ParseTime(s.Round.CommitDeadline)
	allCommitted := len(s.Committed) == len(s.Round.Members)
	if !allCommitted && !m.now.After(commitDeadline) {
		return nil
	}
	missing := s.missing()
	if len(missing) > 0 && m.now.Before(commitDeadline.Add(m.cfg.Grace)) {
		return m.fetch(s, m.overdue(s, missing))
	}
	updates := s.sortedReceived()
	if len(updates) < s.Round.MinParticipants {
		return nil // the round will fail at its deadline
	}
	claim, err := m.cfg.Aggregate(s.Round, updates)
	if err != nil {
		return []Output{Log{RoundID: s.Round.ID, Message: fmt.Sprintf("aggregation failed: %v", err)}}
	}
	s.Claim = &claim
	s.Phase = PhaseVoted
	s.Pending[kindAggregate] = pendingTx{}
	return []Output{SubmitAggregate{RoundID: s.Round.ID, Claim: claim}}
}

func (m *Machine) fetch(s *State, missing []Wanted) []Output {
	if len(missing) == 0 || !s.LastFetch.IsZero() && m.now.Before(s.LastFetch.Add(m.cfg.RetryEvery)) {
		return nil
	}
	s.LastFetch = m.now
	return []Output{Fetch{RoundID: s.Round.ID, Want: missing}}
}

// overdue keeps the missing updates whose commitment was seen at least
// RetryEvery ago: gossip normally delivers an update right after its
// commitment, and fetching it at the same time would download it twice.
func (m *Machine) overdue(s *State, missing []Wanted) []Wanted {
	var out []Wanted
	for _, w := range missing {
		if seen, ok := s.SeenAt[w.MSPID]; !ok || !m.now.Before(seen.Add(m.cfg.RetryEvery)) {
			out = append(out, w)
		}
	}
	return out
}

// missing lists committed updates not yet received, by MSP ID.
func (s *State) missing() []Wanted {
	var out []Wanted
	for _, msp := range s.Round.Members {
		if d, ok := s.Committed[msp]; ok {
			if _, have := s.Received[msp]; !have {
				out = append(out, Wanted{MSPID: msp, Digest: d})
			}
		}
	}
	return out
}

func (s *State) sortedReceived() []Update {
	out := make([]Update, 0, len(s.Received))
	for _, msp := range s.Round.Members {
		if u, ok := s.Received[msp]; ok {
			out = append(out, u)
		}
	}
	return out
}

// Transaction kinds, for TxDone and retries.
const (
	// maxTries bounds retries of one transaction: conflicts clear within a
	// few blocks, and a refusal that persists will not clear at all.
	maxTries = 5

	kindCommit    = "commit"
	kindAggregate = "aggregate"
	kindClose     = "close"
)

func (m *Machine) onTxDone(in TxDone) []Output {
	return m.withRound(in.RoundID, func(s *State) []Output {
		if in.Err == nil {
			delete(s.Pending, in.Kind)
			return nil
		}
		p := s.Pending[in.Kind]
		p.Tries++
		if p.Tries >= maxTries {
			delete(s.Pending, in.Kind)
			return []Output{Log{RoundID: s.Round.ID, Message: fmt.Sprintf("%s transaction failed %d times, giving up: %v", in.Kind, p.Tries, in.Err)}}
		}
		p.RetryAt = m.now.Add(m.cfg.RetryEvery)
		s.Pending[in.Kind] = p
		return []Output{Log{RoundID: s.Round.ID, Message: fmt.Sprintf("%s transaction failed (try %d), retrying: %v", in.Kind, p.Tries, in.Err)}}
	})
}

func (m *Machine) onTick() []Output {
	var out []Output
	for _, id := range slices.Sorted(maps.Keys(m.rounds)) {
		st := m.rounds[id]
		if st.Phase == PhaseClosed {
			m.retire(st)
			continue
		}
		// Whatever a tick changes in a round comes with an output (a
		// retry, a fetch, an aggregate, a close), so only those rounds
		// need persisting.
		var o []Output
		if st.Phase == PhaseVerifying {
			o = m.verify(st)
		} else {
			o = append(m.retries(st), m.maybeAggregate(st)...)
			// The chaincode closes a round only TimeWindow after its
			// deadline, so that no postdated transaction can close it early.
			if deadline, _ := records.ParseTime(st.Round.Deadline); m.now.After(deadline.Add(records.TimeWindow)) {
				if _, pending := st.Pending[kindClose]; !pending {
					st.Pending[kindClose] = pendingTx{RetryAt: m.now.Add(m.cfg.RetryEvery)}
					o = append(o, SubmitClose{RoundID: st.Round.ID})
				}
			}
		}
		if len(o) > 0 {
			m.changed[id] = true
		}
		out = append(out, o...)
	}
	return out
}

// retire stamps a closed round with the time it was first seen closed and
// forgets it once Retain has passed since then and since its deadline.
func (m *Machine) retire(s *State) {
	if s.ClosedAt.IsZero() {
		s.ClosedAt = m.now
		m.changed[s.Round.ID] = true
		return
	}
	if m.cfg.Retain > 0 && m.expired(s.Round) && m.now.After(s.ClosedAt.Add(m.cfg.Retain)) {
		m.Forget(s.Round.ID)
	}
}

// expired says a round's deadline is more than Retain ago: a closed round
// that old is forgotten, and an opening event that old is a replay.
func (m *Machine) expired(r records.Round) bool {
	if m.cfg.Retain <= 0 || m.now.IsZero() {
		return false
	}
	deadline, err := records.ParseTime(r.Deadline)
	return err == nil && m.now.After(deadline.Add(m.cfg.Retain))
}

func (m *Machine) retries(s *State) []Output {
	var out []Output
	for _, kind := range []string{kindCommit, kindAggregate, kindClose} {
		p, ok := s.Pending[kind]
		if !ok || p.Tries == 0 || m.now.Before(p.RetryAt) {
			continue
		}
		p.RetryAt = m.now.Add(m.cfg.RetryEvery)
		s.Pending[kind] = p
		switch {
		case kind == kindCommit && s.Commitment != nil && s.Phase == PhaseCommitting:
			out = append(out, SubmitCommit{RoundID: s.Round.ID, Commitment: *s.Commitment})
		case kind == kindAggregate && s.Claim != nil:
			out = append(out, SubmitAggregate{RoundID: s.Round.ID, Claim: *s.Claim})
		case kind == kindClose:
			out = append(out, SubmitClose{RoundID: s.Round.ID})
		}
	}
	return out
}

func (m *Machine) onClosed(r records.Round) []Output {
	return m.withRound(r.ID, func(s *State) []Output {
		s.Outcome = &r
		s.Pending = map[string]pendingTx{}
		if r.Status != records.RoundFinalized {
			s.Phase = PhaseClosed
			return []Output{Finished{Round: r}}
		}
		if s.Claim != nil && slices.Equal(s.Claim.Contributors, r.Contributors) {
			return m.finish(s, *s.Claim)
		}
		s.Phase = PhaseVerifying
		return m.verify(s)
	})
}

// verify computes the finalized aggregate from the finalized contributors'
// updates, fetching the ones missing, so every member holds the global
// model and knows whether it matches the ledger's digest.
func (m *Machine) verify(s *State) []Output {
	r := *s.Outcome
	var updates []Update
	var missing []Wanted
	for _, msp := range r.Contributors {
		if u, ok := s.Received[msp]; ok {
			updates = append(updates, u)
		} else if d, ok := s.Committed[msp]; ok {
			missing = append(missing, Wanted{MSPID: msp, Digest: d})
		} else {
			// Its commitment event has not reached us yet: nothing to
			// fetch by until the ledger replays it.
			missing = append(missing, Wanted{MSPID: msp})
		}
	}
	if len(missing) > 0 {
		if deadline, _ := records.ParseTime(r.Deadline); m.now.After(deadline.Add(m.cfg.Grace)) {
			s.Phase = PhaseClosed
			return []Output{
				Log{RoundID: r.ID, Message: fmt.Sprintf("could not gather %d finalized updates to verify the global model", len(missing))},
				Finished{Round: r},
			}
		}
		return m.fetch(s, slices.DeleteFunc(missing, func(w Wanted) bool { return w.Digest == "" }))
	}
	claim, err := m.cfg.Aggregate(r, updates)
	if err != nil {
		s.Phase = PhaseClosed
		return []Output{Log{RoundID: r.ID, Message: fmt.Sprintf("aggregation failed: %v", err)}, Finished{Round: r}}
	}
	s.Claim = &claim
	return m.finish(s, claim)
}

func (m *Machine) finish(s *State, claim records.AggregateClaim) []Output {
	s.Phase = PhaseClosed
	r := *s.Outcome
	agrees := claim.Digest == r.GlobalModelDigest
	var used []Update
	if agrees {
		for _, msp := range r.Contributors {
			used = append(used, s.Received[msp])
		}
	}
	return []Output{Finished{Round: r, AgreesWithUs: agrees, Updates: used}}
}
