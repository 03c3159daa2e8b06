// Package embedledger is a single-process Fabric ledger for running a whole
// consortium on one machine: it serves the Fabric Gateway API (Evaluate,
// Endorse, Submit, CommitStatus, ChaincodeEvents) with Fabric's message
// structures, so that an unmodified fabric-gateway client works against it,
// and runs chaincode (any shim.Chaincode, hosted by name) in-process.
//
// Inside, one endorsing peer per organization signs proposal responses; an
// orderer cuts submitted transactions into hash-chained blocks; a committer
// validates them in order (endorsement signatures, duplicate IDs, MVCC and
// phantom reads) and writes each block to the block file, then its state
// changes, history and index in one fsynced LevelDB batch.
package embedledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/embedledger/fabmsg"
	"github.com/srellama/srellama/node/embedledger/msp"
	"github.com/srellama/srellama/node/embedledger/mvcc"
	"github.com/srellama/srellama/node/embedledger/sim"
	"github.com/srellama/srellama/node/embedledger/store"
)

// Config configures an embedded ledger.
type Config struct {
	// Dir holds the database and the crypto material; created if missing.
	Dir string
	// Channel is the channel name clients must use.
	Channel string
	// Orgs are the member organizations' MSP IDs.
	Orgs []string
	// Chaincodes are the chaincodes hosted, by name.
	Chaincodes map[string]shim.Chaincode
	// MaxBlockTxs caps the transactions per block (default 500).
	MaxBlockTxs int
	// BatchTimeout is how long the orderer waits for more transactions
	// after the first one of a block (default 2ms), unless a full block
	// is queued sooner. Transactions queue while the committer is busy, so
	// under load blocks fill up by themselves; the short wait trades 2ms
	// of latency for fewer, larger fsynced commits, which measurably
	// lowers CPU per transaction and tail latency on a small machine.
	// Negative: cut as soon as the committer is free.
	BatchTimeout time.Duration
	// Logger receives operational logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TimeWindow is how far a proposal's timestamp may be from the
	// ledger's clock, either way (default 15 minutes, as Fabric's
	// peer.authentication.timewindow). Chaincode takes "now" from that
	// timestamp; the window is what bounds a client's choice of it.
	// Negative: no check.
	TimeWindow time.Duration
	// VerifyBlocks is how many of the last blocks have their checksums
	// verified when the ledger opens: 0 (the default), every block; a
	// negative number, none. `srellama audit verify` checks them all.
	VerifyBlocks int64
	// Limits bound what clients of ServeGateway can make the ledger hold
	// (zero fields: DefaultLimits).
	Limits Limits
}

// DefaultTimeWindow is Fabric's default peer.authentication.timewindow.
const DefaultTimeWindow = 15 * time.Minute

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Dir == "" || out.Channel == "" {
		return out, errors.New("embedded ledger: Dir and Channel are required")
	}
	if len(out.Orgs) == 0 {
		return out, errors.New("embedded ledger: at least one organization is required")
	}
	if len(out.Chaincodes) == 0 {
		return out, errors.New("embedded ledger: at least one chaincode is required")
	}
	if out.MaxBlockTxs <= 0 {
		out.MaxBlockTxs = 500
	}
	if out.BatchTimeout == 0 {
		out.BatchTimeout = 2 * time.Millisecond
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.TimeWindow == 0 {
		out.TimeWindow = DefaultTimeWindow
	}
	var err error
	out.Limits, err = out.Limits.withDefaults()
	return out, err
}

// chaincodeVersion is reported in chaincode actions; the embedded ledger has
// no lifecycle, so every hosted chaincode is at its one definition.
const chaincodeVersion = "1.0"

// Ledger is an open embedded ledger.
type Ledger struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	verifier *msp.Verifier
	orgs     []*orgMaterial
	peers    map[string]*msp.Signer // MSP ID -> endorsing peer
	tls      *tlsMaterial
	endorsed *endorsedCache
	// recent are the write sets of the last blocks, for validating
	// transactions simulated here without reading state. Only the
	// committer goroutine uses it.
	recent *mvcc.RecentWrites

	queue chan *pendingTx
	// blockFull tells the committer, asleep in a batch window, that a
	// full block is queued.
	blockFull chan struct{}
	closing   chan struct{}
	done      chan struct{}
	closeMu   sync.Once

	mu      sync.Mutex
	waiters map[string][]chan commitResult
	// queued counts the submitted transactions of each ID not yet in a
	// block: a commit status request for one waits without looking for it
	// in the transaction index, where it cannot be yet (unless it is a
	// resubmission, whose waiters published answers from the index).
	queued  map[string]int
	height  uint64
	newTip  chan struct{} // closed and replaced at every commit
	failure error         // set when a commit failed; the ledger stops
	stats   Stats

	// healthMu guards damage and onUnhealthy; it is taken under mu.
	healthMu sync.Mutex
	// damage is the first failed read of the store: the ledger goes on
	// serving what it can read, but is unhealthy.
	damage      error
	onUnhealthy []func(error)
}

// Health reports whether the ledger is sound: nil, or what is wrong. A
// read that found the store damaged (or failed otherwise) makes the ledger
// unhealthy for good: the transaction it served failed, and others may read
// the same damage. A failed commit stops the committer.
func (l *Ledger) Health() error {
	l.mu.Lock()
	failure := l.failure
	l.mu.Unlock()
	l.healthMu.Lock()
	defer l.healthMu.Unlock()
	return errors.Join(l.damage, failure)
}

// readFailed records a failed read of the store and returns the error for
// the request that made it, never "not found": ErrDamaged (gRPC DataLoss,
// which clients do not retry: the damage stays until an operator repairs
// it) when the store is damaged, else ErrUnavailable.
func (l *Ledger) readFailed(err error) error {
	l.unhealthy(err, true)
	if errors.Is(err, store.ErrDamaged) {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// unhealthy logs the first error that makes the ledger unhealthy and tells
// the watchers (the served health service).
func (l *Ledger) unhealthy(err error, damage bool) {
	l.healthMu.Lock()
	first := l.damage == nil
	if damage && first {
		l.damage = err
	}
	watchers := slices.Clone(l.onUnhealthy)
	l.healthMu.Unlock()
	if damage && !first {
		return
	}
	l.log.Error("embedded ledger is unhealthy", "err", err)
	for _, w := range watchers {
		w(err)
	}
}

// watchHealth calls fn when the ledger becomes unhealthy (at once if it
// is).
func (l *Ledger) watchHealth(fn func(error)) {
	if err := l.Health(); err != nil {
		fn(err)
	}
	l.healthMu.Lock()
	defer l.healthMu.Unlock()
	l.onUnhealthy = append(l.onUnhealthy, fn)
}

// endorsementsKept is how many of its recent endorsements the ledger
// remembers (see endorsedCache): at 2,000 a second, those of the last eight
// seconds. Clients submit within milliseconds of an endorsement; an older
// one is verified in full. Each garbage collection scans every entry, so
// the cache is kept to what it is for (about 4 MB).
const endorsementsKept = 16 << 10

// recentBlocks is how many blocks' write sets the committer remembers: a
// transaction simulated further back than that is validated by reading
// the state. At the embedded ledger's block rates that is well over a
// second.
const recentBlocks = 256

// recentKeys bounds the keys remembered over those blocks (a few MB), for
// blocks of hundreds of transactions.
const recentKeys = 64 << 10

// Stats are the committer's counters.
type Stats struct {
	Blocks     uint64        // blocks committed since Open
	Txs        uint64        // transactions in them, valid or not
	CommitTime time.Duration // time spent writing them, fsync included
}

// Stats returns the committer's counters.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Open opens the ledger in cfg.Dir, creating the organizations' CAs,
// identities and the genesis block on first start.
func Open(cfg Config) (*Ledger, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := refuseBoltLedger(c.Dir); err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	now := c.Now()
	l := &Ledger{
		cfg: c, log: c.Logger, peers: map[string]*msp.Signer{},
		queue: make(chan *pendingTx, 4*c.MaxBlockTxs), blockFull: make(chan struct{}, 1),
		closing: make(chan struct{}), done: make(chan struct{}),
		waiters: map[string][]chan commitResult{}, queued: map[string]int{}, newTip: make(chan struct{}),
		endorsed: newEndorsedCache(endorsementsKept),
	}
	for _, id := range c.Orgs {
		org, err := loadOrCreateOrg(c.Dir, id, now)
		if err != nil {
			return nil, fmt.Errorf("embedded ledger: %w", err)
		}
		signer, err := signerFor(org.Peer)
		if err != nil {
			return nil, fmt.Errorf("embedded ledger: %w", err)
		}
		l.orgs = append(l.orgs, org)
		l.peers[id] = signer
	}
	if l.tls, err = loadOrCreateTLS(c.Dir, now); err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	l.verifier = msp.NewVerifier(roots(l.orgs), c.Now)
	if l.store, err = store.OpenWith(StorePath(c.Dir), store.Options{VerifyBlocks: c.VerifyBlocks}); err != nil {
		return nil, err
	}
	if err := l.replayUnindexed(); err != nil {
		l.store.Close()
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	if err := l.ensureGenesis(); err != nil {
		l.store.Close()
		return nil, err
	}
	l.recent = mvcc.NewRecentWrites(l.height, recentBlocks, recentKeys)
	go l.runCommitter()
	return l, nil
}

// Close stops the ledger. Transactions submitted but not yet in a block are
// dropped (none of them was reported committed); the block being written
// completes first.
func (l *Ledger) Close() error {
	l.beginClose()
	<-l.done
	return l.store.Close()
}

// Channel returns the channel name.
func (l *Ledger) Channel() string { return l.cfg.Channel }

// Orgs returns the member MSP IDs.
func (l *Ledger) Orgs() []string { return slices.Clone(l.cfg.Orgs) }

// ChaincodeError is a chaincode's error response.
type ChaincodeError struct {
	Status  int32
	Message string
	MSPID   string // the endorsing organization
}

func (e *ChaincodeError) Error() string {
	return fmt.Sprintf("chaincode response %d, %s", e.Status, e.Message)
}

// Refusal classes, mapped to gRPC codes by the gateway service.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrUnauthorized = errors.New("unauthorized")
	ErrNotFound     = errors.New("not found")
	ErrDuplicate    = errors.New("duplicate transaction")
	ErrUnavailable  = errors.New("ledger unavailable")
	ErrDamaged      = errors.New("ledger damaged")
)

// checkProposal decodes a signed proposal and authenticates its creator,
// which must be a client or admin of a member organization.
func (l *Ledger) checkProposal(sp *peer.SignedProposal) (*fabmsg.Proposal, *msp.Identity, shim.Chaincode, error) {
	p, err := fabmsg.ParseProposal(sp)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if ch := p.ChannelHeader.GetChannelId(); ch != l.cfg.Channel {
		return nil, nil, nil, fmt.Errorf("%w: channel %q (this ledger serves %q)", ErrNotFound, ch, l.cfg.Channel)
	}
	creator, err := l.verifier.Identify(p.SignatureHeader.GetCreator(), devca.RoleClient, devca.RoleAdmin)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if err := creator.Verify(sp.GetProposalBytes(), sp.GetSignature()); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: proposal from %s: %v", ErrUnauthorized, creator.MSPID, err)
	}
	if err := l.checkTimestamp(p); err != nil {
		return nil, nil, nil, err
	}
	cc, ok := l.cfg.Chaincodes[p.Chaincode]
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: chaincode %q is not installed on channel %q", ErrNotFound, p.Chaincode, l.cfg.Channel)
	}
	return p, creator, cc, nil
}

// checkTimestamp refuses a proposal whose timestamp is further than the
// time window from the ledger's clock, as a Fabric peer's TimeWindowCheck
// does: the chaincode reads the time from the proposal, so a client could
// otherwise move a deadline by choosing it.
func (l *Ledger) checkTimestamp(p *fabmsg.Proposal) error {
	window := l.cfg.TimeWindow
	if window < 0 {
		return nil
	}
	ts := p.Timestamp()
	if ts == nil || ts.CheckValid() != nil {
		return fmt.Errorf("%w: proposal %s has no valid timestamp", ErrBadRequest, p.TxID())
	}
	at, now := ts.AsTime(), l.cfg.Now()
	if skew := at.Sub(now); skew > window || skew < -window {
		return fmt.Errorf("%w: proposal %s: timestamp %s is %s from the ledger's clock (%s), beyond the %s time window (peer.authentication.timewindow); check the client's clock",
			ErrBadRequest, p.TxID(), at.UTC().Format(time.RFC3339), skew.Round(time.Second), now.UTC().Format(time.RFC3339), window)
	}
	return nil
}

// simulate runs the chaincode against a snapshot of committed state, and
// also returns the height of that state. For an endorsement it first
// refuses a transaction ID that state's index holds: checked on the same
// snapshot, so that the committer knows the ID was absent at that height.
func (l *Ledger) simulate(p *fabmsg.Proposal, cc shim.Chaincode, endorsing bool) (*peer.Response, *sim.Result, uint64, error) {
	snap, err := l.store.Snapshot()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer snap.Close()
	height := snap.BlockCount()
	if endorsing {
		if st, ok := snap.TxStatus(p.TxID()); ok {
			return nil, nil, height, fmt.Errorf("%w: transaction %s already committed in block %d", ErrDuplicate, p.TxID(), st.Block)
		}
	}
	stub := sim.NewStub(p.Chaincode, &sim.Invocation{
		TxID: p.TxID(), ChannelID: l.cfg.Channel, Timestamp: p.Timestamp(),
		Creator: p.SignatureHeader.GetCreator(), Nonce: p.SignatureHeader.GetNonce(), Epoch: p.ChannelHeader.GetEpoch(),
		Args: p.Args, Transient: p.Transient, Signed: p.Signed,
	}, snap)
	resp := invoke(cc, stub)
	if err := snap.Err(); err != nil {
		// The chaincode read through a failed read: its answer, error or
		// not, may be wrong (a key it found "absent" may be there).
		return nil, nil, height, l.readFailed(err)
	}
	if resp.GetStatus() >= shim.ERRORTHRESHOLD {
		return resp, nil, height, &ChaincodeError{Status: resp.GetStatus(), Message: resp.GetMessage()}
	}
	res, err := stub.Result()
	if err != nil {
		return resp, nil, height, &ChaincodeError{Status: shim.ERROR, Message: err.Error()}
	}
	return resp, res, height, nil
}

// invoke shields the ledger from a panicking chaincode, as a separate
// chaincode process would.
func invoke(cc shim.Chaincode, stub *sim.Stub) (resp *peer.Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = shim.Error(fmt.Sprintf("chaincode panicked: %v", r))
		}
	}()
	resp = cc.Invoke(stub)
	if resp == nil {
		resp = shim.Error("chaincode returned no response")
	}
	return resp
}

// Evaluate runs a query: the chaincode's response, nothing recorded.
func (l *Ledger) Evaluate(ctx context.Context, sp *peer.SignedProposal) (*peer.Response, error) {
	p, creator, cc, err := l.checkProposal(sp)
	if err != nil {
		return nil, err
	}
	resp, _, _, err := l.simulate(p, cc, false)
	var ccErr *ChaincodeError
	if errors.As(err, &ccErr) {
		ccErr.MSPID = creator.MSPID
	}
	return resp, err
}

// Endorse simulates a proposal and returns the transaction envelope,
// endorsed by the peers of orgs (by default the creator's organization's
// peer), for the client to sign and submit.
func (l *Ledger) Endorse(ctx context.Context, sp *peer.SignedProposal, orgs []string) (*common.Envelope, error) {
	p, creator, cc, err := l.checkProposal(sp)
	if err != nil {
		return nil, err
	}
	if len(orgs) == 0 {
		orgs = []string{creator.MSPID}
	}
	endorsers := make([]*msp.Signer, 0, len(orgs))
	for _, o := range orgs {
		s, ok := l.peers[o]
		if !ok {
			return nil, fmt.Errorf("%w: no endorsing peer for organization %q", ErrNotFound, o)
		}
		endorsers = append(endorsers, s)
	}
	resp, res, simHeight, err := l.simulate(p, cc, true)
	if err != nil {
		var ccErr *ChaincodeError
		if errors.As(err, &ccErr) {
			ccErr.MSPID = orgs[0]
		}
		return nil, err
	}
	prp, err := p.ResponsePayload(res.RWBytes, res.Event, resp, chaincodeVersion)
	if err != nil {
		return nil, err
	}
	endorsements := make([]*peer.Endorsement, 0, len(endorsers))
	for _, s := range endorsers {
		digest := fabmsg.EndorsedDigest(prp, s.Identity.Serialized)
		sig, err := s.SignDigest(digest)
		if err != nil {
			return nil, fmt.Errorf("endorse as %s: %w", s.Identity.MSPID, err)
		}
		l.endorsed.add(sig, digest, simulation{height: simHeight, txID: p.TxID()})
		endorsements = append(endorsements, &peer.Endorsement{Endorser: s.Identity.Serialized, Signature: sig})
	}
	return p.Envelope(prp, endorsements)
}

func (l *Ledger) txStatus(txID string) (store.TxStatus, bool, error) {
	st, ok, err := l.store.TxStatus(txID)
	if err != nil {
		return st, false, l.readFailed(err)
	}
	return st, ok, nil
}

func (l *Ledger) beginClose() { l.closeMu.Do(func() { close(l.closing) }) }
