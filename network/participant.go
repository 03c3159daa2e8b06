package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
)

// RoundLedger is what a participant asks of the ledger: the three
// transactions of a round's protocol (the node's typed chaincode client
// behind an adapter).
type RoundLedger interface {
	CommitUpdate(ctx context.Context, roundID string, c records.UpdateCommitment) error
	SubmitAggregate(ctx context.Context, roundID string, claim records.AggregateClaim) error
	CloseRound(ctx context.Context, roundID string) error
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
	Ledger    RoundLedger
	Trainer   Trainer
	// StateDir, if set, is where round states are persisted (DirStorage)
	// after every step that changes them, so a restarted node resumes its
	// rounds. Closed rounds are deleted after Machine.Retain.
	StateDir string
	// Storage replaces StateDir's DirStorage when set; with neither,
	// rounds live in memory only.
	Storage round.Storage
	// OnFinished is told when a round closes on the ledger.
	OnFinished func(round.Finished)
	// Nodes reads the ledger's node registry (Consortium:ListNodes); the
	// participant refreshes the admission list from it when a node is
	// registered or removed. Optional.
	Nodes func(ctx context.Context) ([]records.Node, error)
	Log   *slog.Logger
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
	storage round.Storage
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
	storage := cfg.Storage
	if storage == nil && cfg.StateDir != "" {
		if storage, err = OpenDirStorage(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	if storage == nil {
		storage = round.NewMemoryStorage()
	}
	states, err := storage.Load()
	if err != nil {
		return nil, err
	}
	m.Restore(states)
	// Peers may still need the updates this node held before it stopped,
	// its own first of all.
	for _, st := range states {
		for _, u := range st.Received {
			cfg.Gossip.cfg.Store.Put(u.Digest, u.Payload)
		}
	}
	return &Participant{cfg: cfg, machine: m, storage: storage}, nil
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
	if (e.Kind == records.EventNodeRegistered || e.Kind == records.EventNodeRemoved) && p.cfg.Nodes != nil {
		p.RefreshAdmission(ctx)
	}
	if e.Kind == records.EventRoundOpened && e.Round != nil && slices.Contains(e.Round.Members, p.cfg.Machine.Self) {
		if err := p.cfg.Gossip.Join(ctx, e.Round.ID); err != nil {
			p.cfg.Log.Error("cannot join round topic", "round", e.Round.ID, "err", err)
		}
	}
	for _, in := range round.FromEvent(e) {
		p.step(ctx, in)
	}
}

// RefreshAdmission reloads the admitted peers from the ledger's registry
// and drops connections to peers no longer registered.
func (p *Participant) RefreshAdmission(ctx context.Context) {
	if p.cfg.Nodes == nil {
		return
	}
	nodes, err := p.cfg.Nodes(ctx)
	if err != nil {
		p.cfg.Log.Error("cannot read the node registry; keeping the current admission list", "err", err)
		return
	}
	p.cfg.Admission.Set(nodes)
	for _, id := range p.cfg.Gossip.h.Network().Peers() {
		if _, ok := p.cfg.Admission.OrgOf(id); !ok {
			_ = p.cfg.Gossip.h.Network().ClosePeer(id)
		}
	}
}

// Judge is the gossip validator's view of the round protocol: accept an
// update whose digest its sender committed, ignore one whose commitment we
// have not seen yet (it will be fetched), reject the rest.
func (p *Participant) Judge(m Message) Verdict {
	p.mu.Lock()
	s, ok := p.machine.State(m.RoundID)
	member := ok && slices.Contains(s.Round.Members, m.MSPID)
	want, committed := "", false
	if member {
		want, committed = s.Committed[m.MSPID]
	}
	p.mu.Unlock()
	switch {
	case !ok, member && !committed:
		return Ignore
	case !member, want != m.Digest:
		return Reject
	}
	// Inline payloads are checked here, before gossip forwards them:
	// wrong dimensions or non-finite values never travel further. The
	// check runs outside the lock so validation never stalls the machine.
	if m.Inline() {
		if _, err := p.cfg.Machine.Inspect(s.Round, m.Payload); err != nil {
			return Reject
		}
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
	// Persisted before returning, and before anything is done: the caller
	// advances its ledger event checkpoint after HandleEvent, so storage
	// must already hold what the event changed, and nothing is published
	// or submitted that a restart would not remember.
	outs, err := p.machine.Step(in).Persist(p.storage)
	p.mu.Unlock()
	if err != nil {
		p.cfg.Log.Error("cannot persist round state; not acting on this step", "input", fmt.Sprintf("%T", in), "err", err)
		return
	}
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
		p.submit(ctx, o.RoundID, "commit", func(ctx context.Context) error { return p.cfg.Ledger.CommitUpdate(ctx, o.RoundID, o.Commitment) })
	case round.SubmitAggregate:
		p.submit(ctx, o.RoundID, "aggregate", func(ctx context.Context) error { return p.cfg.Ledger.SubmitAggregate(ctx, o.RoundID, o.Claim) })
	case round.SubmitClose:
		p.submit(ctx, o.RoundID, "close", func(ctx context.Context) error { return p.cfg.Ledger.CloseRound(ctx, o.RoundID) })
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

// submit runs one of the round's transactions off the machine's loop and
// feeds its outcome back.
func (p *Participant) submit(ctx context.Context, roundID, kind string, tx func(context.Context) error) {
	p.async(func() {
		p.step(ctx, round.TxDone{RoundID: roundID, Kind: kind, Err: tx(ctx)})
	})
}

// fetch asks the committing organization's peers first, then everyone
// connected, for each missing update.
func (p *Participant) fetch(ctx context.Context, f round.Fetch) {
	connected := p.cfg.Gossip.h.Network().Peers()
	for _, w := range f.Want {
		candidates := append(p.peersOf(w.MSPID), connected...)
		payload, err := p.cfg.Gossip.FetchFromAny(ctx, w.Digest, candidates...)
		if err != nil {
			p.cfg.Log.Info("missing update not fetched yet", "round", f.RoundID, "org", w.MSPID, "err", err)
			continue
		}
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
