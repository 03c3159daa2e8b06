package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Verdict is the round protocol's judgement of a received message.
type Verdict int

// Verdicts, as gossipsub's validation results.
const (
	// Accept: deliver and forward.
	Accept Verdict = iota
	// Ignore: neither deliver nor penalize (e.g. the sender's commitment
	// is not on our ledger view yet; we fetch the update later).
	Ignore
	// Reject: drop and penalize the sender.
	Reject
)

// Handler is the round protocol as gossip sees it.
type Handler interface {
	// Judge decides on a well-formed message whose sender's organization
	// is known: the round protocol checks the digest against the ledger.
	Judge(msg Message) Verdict
	// Deliver receives accepted updates, payload included (announced ones
	// are fetched before delivery).
	Deliver(ctx context.Context, msg Message)
}

// GossipConfig configures a node's gossip.
type GossipConfig struct {
	Consortium string
	// Handler may be set later with SetHandler, before the first Join.
	Handler Handler
	// InlineLimit is the largest payload carried on the topic itself.
	InlineLimit int
	Store       *Store
	Log         *slog.Logger
	// ScoreInspect, if set, receives the peers' gossip scores every
	// ScoreInterval.
	ScoreInspect  func(map[peer.ID]float64)
	ScoreInterval time.Duration
}

// Gossip is a node's membership in the consortium's round topics.
type Gossip struct {
	h         host.Host
	ps        *pubsub.PubSub
	admission *Admission
	cfg       GossipConfig

	// Locks are never held while calling into pubsub: its event loop calls
	// back into appScore and the validator, which would deadlock.
	joinMu    sync.Mutex // serializes Join and Leave
	mu        sync.Mutex // guards topics
	topics    map[string]*joined
	handler   atomic.Pointer[Handler]
	penaltyMu sync.Mutex
	penalty   map[peer.ID]float64
	flightMu  sync.Mutex
	inFlight  map[string]*fetchCall // digest -> fetch under way
}

// fetchCall is one fetch of a digest that concurrent callers share, so a
// payload is downloaded once however many parts of the node want it.
type fetchCall struct {
	done    chan struct{}
	payload []byte
	err     error
}

type joined struct {
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
}

// penaltyPerRejection is how much each rejection by the round protocol
// lowers a peer's application score.
const penaltyPerRejection = 10

// NewGossip starts gossipsub on h with signed messages, strict signature
// verification, peer scoring that punishes invalid messages, and the
// fetch protocol for announced updates.
func NewGossip(ctx context.Context, h host.Host, admission *Admission, cfg GossipConfig) (*Gossip, error) {
	if cfg.Consortium == "" || cfg.Store == nil {
		return nil, errors.New("network: gossip needs a consortium name and a store")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.InlineLimit <= 0 {
		cfg.InlineLimit = 64 << 10
	}
	g := &Gossip{h: h, admission: admission, cfg: cfg, topics: map[string]*joined{}, penalty: map[peer.ID]float64{}, inFlight: map[string]*fetchCall{}}
	if cfg.Handler != nil {
		g.SetHandler(cfg.Handler)
	}
	opts := []pubsub.Option{
		pubsub.WithMessageSigning(true),
		pubsub.WithStrictSignatureVerification(true),
		pubsub.WithMaxMessageSize(cfg.InlineLimit + 1024),
		pubsub.WithPeerExchange(false),
		pubsub.WithPeerScore(g.scoreParams(), &pubsub.PeerScoreThresholds{
			SkipAtomicValidation: true,
			GossipThreshold:      -50, PublishThreshold: -100, GraylistThreshold: -200,
		}),
	}
	if cfg.ScoreInspect != nil {
		interval := cfg.ScoreInterval
		if interval <= 0 {
			interval = time.Second
		}
		opts = append(opts, pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(cfg.ScoreInspect), interval))
	}
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		return nil, fmt.Errorf("network: starting gossipsub: %w", err)
	}
	g.ps = ps
	h.SetStreamHandler(FetchProtocol, g.serveFetch)
	return g, nil
}

func (g *Gossip) scoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:     g.appScore,
		AppSpecificWeight:    1,
		DecayInterval:        time.Second,
		DecayToZero:          0.01,
		RetainScore:          10 * time.Minute,
	}
}

func (g *Gossip) appScore(p peer.ID) float64 {
	g.penaltyMu.Lock()
	defer g.penaltyMu.Unlock()
	return -g.penalty[p]
}

// Penalize lowers the score of the peers of an organization whose update
// the round protocol rejected after delivery.
func (g *Gossip) Penalize(p peer.ID) {
	g.penaltyMu.Lock()
	g.penalty[p] += penaltyPerRejection
	g.penaltyMu.Unlock()
}

// SetHandler attaches the round protocol.
func (g *Gossip) SetHandler(h Handler) { g.handler.Store(&h) }

func (g *Gossip) currentHandler() Handler {
	if h := g.handler.Load(); h != nil {
		return *h
	}
	return nil
}

// TopicName is the round's topic: one per consortium and round.
func (g *Gossip) TopicName(roundID string) string {
	return "/srellama/" + g.cfg.Consortium + "/round/" + roundID + "/1"
}

// Join subscribes to a round's topic.
func (g *Gossip) Join(ctx context.Context, roundID string) error {
	g.joinMu.Lock()
	defer g.joinMu.Unlock()
	g.mu.Lock()
	_, ok := g.topics[roundID]
	g.mu.Unlock()
	if ok {
		return nil
	}
	if g.currentHandler() == nil {
		return errors.New("network: no round protocol handler attached")
	}
	name := g.TopicName(roundID)
	if err := g.ps.RegisterTopicValidator(name, g.validate); err != nil {
		return fmt.Errorf("network: validator for %s: %w", name, err)
	}
	topic, err := g.ps.Join(name)
	if err != nil {
		_ = g.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("network: joining %s: %w", name, err)
	}
	if err := topic.SetScoreParams(&pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		// Only invalid messages count; time in mesh is not rewarded, but
		// its quantum must be set (gossipsub divides by it).
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -50,
		InvalidMessageDeliveriesDecay:  0.9,
	}); err != nil {
		_ = topic.Close()
		_ = g.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("network: scoring %s: %w", name, err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		_ = g.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("network: subscribing to %s: %w", name, err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.topics[roundID] = &joined{topic: topic, sub: sub, cancel: cancel}
	g.mu.Unlock()
	go g.read(subCtx, sub)
	return nil
}

// Leave unsubscribes from a round's topic.
func (g *Gossip) Leave(roundID string) {
	g.joinMu.Lock()
	defer g.joinMu.Unlock()
	g.mu.Lock()
	j, ok := g.topics[roundID]
	delete(g.topics, roundID)
	g.mu.Unlock()
	if !ok {
		return
	}
	j.cancel()
	j.sub.Cancel()
	_ = g.ps.UnregisterTopicValidator(g.TopicName(roundID))
	_ = j.topic.Close()
}

// Publish sends this node's update to the round's topic: inline when it is
// small, announced by digest otherwise. The payload is kept in the store so
// peers can fetch it.
func (g *Gossip) Publish(ctx context.Context, roundID, mspID, digest string, payload []byte) error {
	g.cfg.Store.Put(digest, payload)
	m := Message{RoundID: roundID, MSPID: mspID, Digest: digest, Size: len(payload)}
	if len(payload) <= g.cfg.InlineLimit {
		m.Payload = payload
	}
	raw, err := EncodeMessage(m)
	if err != nil {
		return err
	}
	g.mu.Lock()
	j, ok := g.topics[roundID]
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("network: not joined to round %q", roundID)
	}
	if err := j.topic.Publish(ctx, raw); err != nil {
		return fmt.Errorf("network: publishing to round %q: %w", roundID, err)
	}
	return nil
}

// validate runs in gossipsub before delivery and forwarding: the message
// must parse, come from a registered peer of the organization it names,
// and be one the round protocol accepts.
func (g *Gossip) validate(_ context.Context, _ peer.ID, pm *pubsub.Message) pubsub.ValidationResult {
	from := pm.GetFrom()
	if from == g.h.ID() {
		return pubsub.ValidationAccept
	}
	m, err := DecodeMessage(pm.GetData())
	if err != nil {
		g.cfg.Log.Warn("rejecting malformed round message", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	org, ok := g.admission.OrgOf(from)
	if !ok || org != m.MSPID {
		g.cfg.Log.Warn("rejecting round message from a peer not registered for its organization", "from", from, "claims", m.MSPID, "registered_for", org)
		return pubsub.ValidationReject
	}
	if g.TopicName(m.RoundID) != pm.GetTopic() {
		return pubsub.ValidationReject
	}
	switch g.currentHandler().Judge(m) {
	case Accept:
		pm.ValidatorData = m
		return pubsub.ValidationAccept
	case Ignore:
		return pubsub.ValidationIgnore
	default:
		return pubsub.ValidationReject
	}
}

func (g *Gossip) read(ctx context.Context, sub *pubsub.Subscription) {
	for {
		pm, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if pm.GetFrom() == g.h.ID() {
			continue
		}
		m, ok := pm.ValidatorData.(Message)
		if !ok {
			continue
		}
		if !m.Inline() {
			payload, err := g.FetchFromAny(ctx, m.Digest, pm.GetFrom(), pm.ReceivedFrom)
			if err != nil {
				g.cfg.Log.Warn("could not fetch announced update", "round", m.RoundID, "org", m.MSPID, "digest", m.Digest, "err", err)
				continue
			}
			m.Payload = payload
		}
		g.cfg.Store.Put(m.Digest, m.Payload)
		g.currentHandler().Deliver(ctx, m)
	}
}

// FetchFromAny returns the payload with the given digest: from the local
// store if it is there, else from the first of peers that has it. Concurrent
// requests for one digest share a single download.
func (g *Gossip) FetchFromAny(ctx context.Context, digest string, peers ...peer.ID) ([]byte, error) {
	if payload, ok := g.cfg.Store.Get(digest); ok {
		return payload, nil
	}
	g.flightMu.Lock()
	if call, ok := g.inFlight[digest]; ok {
		g.flightMu.Unlock()
		select {
		case <-call.done:
			return call.payload, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &fetchCall{done: make(chan struct{})}
	g.inFlight[digest] = call
	g.flightMu.Unlock()

	var errs []error
	for _, p := range peers {
		payload, err := g.Fetch(ctx, p, digest)
		if err == nil {
			g.cfg.Store.Put(digest, payload)
			call.payload = payload
			break
		}
		errs = append(errs, err)
	}
	if call.payload == nil {
		call.err = errors.Join(append(errs, fmt.Errorf("fetch %s: no peer had it", digest))...)
	}
	g.flightMu.Lock()
	delete(g.inFlight, digest)
	g.flightMu.Unlock()
	close(call.done)
	return call.payload, call.err
}
