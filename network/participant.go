package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
)

// Submitter is the part of the node's ledger client a participant uses.
type Submitter interface {
	Submit(ctx context.Context, fn string, args ...string) (result []byte, txID string, err error)
}

// Trainer produces this member's model update for a round: the encoded
// payload and the commitment figures (samples, local metrics, privacy
// budget). The participant fills in the digest.
type Trainer interface {
	Train(ctx context.Context, r records.Round) (payload []byte, c records.UpdateCommitment, err error)
}

// ParticipantConfig wires a participant.
type ParticipantConfig struct {
	Machine   round.Config
	Gossip    *Gossip
	Admission *Admission
	Ledger    Submitter
	Trainer   Trainer
	// StatePath, if set, is where round states are persisted after every
	// step, so a restarted node resumes its rounds.
	StatePath string
	// OnFinished is told when a round closes on the ledger.
	OnFinished func(round.Finished)
	Log        *slog.Logger
	// TickEvery is how often deadlines and retries are checked.
	TickEvery time.Duration
	// Now is the clock; the ledger's transaction times are compared with
	// it, so nodes need roughly synchronized clocks (as Fabric does).
	Now func() time.Time
}

// Participant is the thin adapter between the pure round machine and the
// world: it feeds ledger events, received updates, results and ticks into
// the machine, and carries out its outputs.
type Participant struct {
	cfg ParticipantConfig

	mu      sync.Mutex // serializes Step and persistence
	machine *round.Machine
	wg      sync.WaitGroup
}

// NewParticipant builds a participant and restores persisted round states.
func NewParticipant(cfg ParticipantConfig) (*Participant, error) {
	if cfg.Gossip == nil || cfg.Admission == nil || cfg.Ledger == nil || cfg.Trainer == nil {
		return nil, errors.New("network: a participant needs gossip, admission, a ledger and a trainer")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := round.New(cfg.Machine)
	if err != nil {
		return nil, err
	}
	p := &Participant{cfg: cfg, machine: m}
	if cfg.StatePath != "" {
		states, err := loadStates(cfg.StatePath)
		if err != nil {
			return nil, err
		}
		m.Restore(states)
		// Peers may still need the updates this node held before it
		// stopped, its own first of all.
		for _, st := range states {
			for _, u := range st.Received {
				cfg.Gossip.cfg.Store.Put(u.Digest, u.Payload)
			}
		}
	}
	return p, nil
}

// Resume rejoins the topics of rounds restored from disk. Call it once the
// host is connected.
func (p *Participant) Resume(ctx context.Context) error {
	p.mu.Lock()
	states := p.machine.States()
	p.mu.Unlock()
	for _, s := range states {
		if s.Phase != round.PhaseClosed {
			if err := p.cfg.Gossip.Join(ctx, s.Round.ID); err != nil {
				return err
			}
		}
	}
	p.step(ctx, round.Tick{Now: p.cfg.Now()})
	return nil
}

// Run ticks the machine until ctx ends, then waits for work in flight.
func (p *Participant) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.wg.Wait()
			return
		case <-t.C:
			p.step(ctx, round.Tick{Now: p.cfg.Now()})
		}
	}
}

// HandleEvent feeds a ledger event to the machine. The node's event loop
// calls it for every chaincode event, in ledger order.
func (p *Participant) HandleEvent(ctx context.Context, e records.Event) {
	if e.Kind == records.EventRoundOpened && e.Round != nil && slices.Contains(e.Round.Members, p.cfg.Machine.Self) {
		if err := p.cfg.Gossip.Join(ctx, e.Round.ID); err != nil {
			p.cfg.Log.Error("cannot join round topic", "round", e.Round.ID, "err", err)
		}
	}
	for _, in := range round.FromEvent(e) {
		p.step(ctx, in)
	}
}

// Judge is the gossip validator's view of the round protocol: accept an
// update whose digest its sender committed, ignore one whose commitment we
// have not seen yet (it will be fetched), reject the rest.
func (p *Participant) Judge(m Message) Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.machine.State(m.RoundID)
	if !ok {
		return Ignore
	}
	if !slices.Contains(s.Round.Members, m.MSPID) {
		return Reject
	}
	want, committed := s.Committed[m.MSPID]
	switch {
	case !committed:
		return Ignore
	case want != m.Digest:
		return Reject
	}
	return Accept
}

// Deliver hands an accepted update to the machine.
func (p *Participant) Deliver(ctx context.Context, m Message) {
	p.step(ctx, round.UpdateReceived{RoundID: m.RoundID, Update: round.Update{MSPID: m.MSPID, Digest: m.Digest, Payload: m.Payload}})
}

// State returns the machine's view of a round.
func (p *Participant) State(roundID string) (round.State, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.machine.State(roundID)
}

func (p *Participant) step(ctx context.Context, in round.Input) {
	p.mu.Lock()
	outs := p.machine.Step(in)
	// Persist before returning: the caller advances its ledger event
	// checkpoint after HandleEvent, so the state must already hold what
	// the event changed. A tick changes nothing unless it produced outputs.
	_, isTick := in.(round.Tick)
	if p.cfg.StatePath != "" && (!isTick || len(outs) > 0) {
		if err := saveStates(p.cfg.StatePath, p.machine.States()); err != nil {
			p.cfg.Log.Error("cannot persist round state", "err", err)
		}
	}
	p.mu.Unlock()
	for _, out := range outs {
		p.do(ctx, out)
	}
}

// do carries out one output. Anything slow runs in its own goroutine and
// reports back through step, so the machine is never blocked on I/O.
func (p *Participant) do(ctx context.Context, out round.Output) {
	log := p.cfg.Log
	switch o := out.(type) {
	case round.StartTraining:
		p.async(func() {
			payload, c, err := p.cfg.Trainer.Train(ctx, o.Round)
			if err != nil {
				p.step(ctx, round.TrainingFailed{RoundID: o.Round.ID, Err: err})
				return
			}
			p.step(ctx, round.Trained{RoundID: o.Round.ID, Payload: payload, Commitment: c})
		})
	case round.SubmitCommit:
		p.submit(ctx, o.RoundID, "commit", "Rounds:CommitUpdate", o.RoundID, mustJSON(o.Commitment))
	case round.SubmitAggregate:
		p.submit(ctx, o.RoundID, "aggregate", "Rounds:SubmitAggregate", o.RoundID, mustJSON(o.Claim))
	case round.SubmitClose:
		p.submit(ctx, o.RoundID, "close", "Rounds:Close", o.RoundID)
	case round.Publish:
		p.async(func() {
			if err := p.cfg.Gossip.Publish(ctx, o.RoundID, o.Update.MSPID, o.Update.Digest, o.Update.Payload); err != nil {
				log.Warn("publishing update failed", "round", o.RoundID, "err", err)
			}
		})
	case round.Fetch:
		p.async(func() { p.fetch(ctx, o) })
	case round.Reject:
		log.Warn("rejected an update", "round", o.RoundID, "from", o.From, "reason", o.Reason)
		for _, id := range p.peersOf(o.From) {
			p.cfg.Gossip.Penalize(id)
		}
	case round.Finished:
		p.cfg.Gossip.Leave(o.Round.ID)
		log.Info("round closed", "round", o.Round.ID, "status", o.Round.Status, "global_model", o.Round.GlobalModelDigest, "agrees", o.AgreesWithUs)
		if p.cfg.OnFinished != nil {
			p.cfg.OnFinished(o)
		}
	case round.Log:
		log.Info(o.Message, "round", o.RoundID)
	}
}

func (p *Participant) submit(ctx context.Context, roundID, kind, fn string, args ...string) {
	p.async(func() {
		_, _, err := p.cfg.Ledger.Submit(ctx, fn, args...)
		p.step(ctx, round.TxDone{RoundID: roundID, Kind: kind, Err: err})
	})
}

// fetch asks the committing organization's peers first, then everyone
// connected, for each missing update.
func (p *Participant) fetch(ctx context.Context, f round.Fetch) {
	connected := p.cfg.Gossip.h.Network().Peers()
	for _, w := range f.Want {
		candidates := append(p.peersOf(w.MSPID), connected...)
		payload, err := p.cfg.Gossip.fetchFromAny(ctx, w.Digest, candidates...)
		if err != nil {
			p.cfg.Log.Info("missing update not fetched yet", "round", f.RoundID, "org", w.MSPID, "err", err)
			continue
		}
		p.cfg.Gossip.cfg.Store.Put(w.Digest, payload)
		p.step(ctx, round.UpdateReceived{RoundID: f.RoundID, Update: round.Update{MSPID: w.MSPID, Digest: w.Digest, Payload: payload}})
	}
}

// peersOf lists the connected peers registered for an organization.
func (p *Participant) peersOf(msp string) []peer.ID {
	var out []peer.ID
	for _, id := range p.cfg.Gossip.h.Network().Peers() {
		if org, ok := p.cfg.Admission.OrgOf(id); ok && org == msp {
			out = append(out, id)
		}
	}
	return out
}

func (p *Participant) async(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		// The machine's outputs are plain records; failing to encode one
		// is a programming error, reported rather than panicking.
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(raw)
}

func loadStates(path string) ([]round.State, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading round state: %w", err)
	}
	var states []round.State
	if err := json.Unmarshal(raw, &states); err != nil {
		return nil, fmt.Errorf("round state %s is corrupt: %w", path, err)
	}
	return states, nil
}

func saveStates(path string, states []round.State) error {
	raw, err := json.Marshal(states)
	if err != nil {
		return err
	}
	return devca.WriteFileAtomic(path, raw, 0o600)
}
