// Package daemon is the site node: it wires one organization's metric
// source, ledger client, libp2p host, federated participant, governed
// workflow and HTTP API from its configuration, and runs them from the
// ledger's events: rounds and workflow each with their own durable
// checkpoint, so a failing workflow action never holds up a round.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/network"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/api"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/datadir"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/workflow"
)

// EvidenceFunc reads a service's evidence from a source over a range (the
// CLI's cli.Evidence).
type EvidenceFunc func(ctx context.Context, src source.Source, service string, r source.Range) (builtin.Input, error)

// Parts are what New takes besides the configuration. Anything left nil is
// built from the configuration; the demo and tests inject in-process parts.
type Parts struct {
	Ledger ledger.Ledger
	// Admin, if set, is an admin identity's client, used to register this
	// node's peer ID (Ledger may be a client identity).
	Admin    ledger.Ledger
	Source   source.Source
	Evidence EvidenceFunc
	Now      func() time.Time
	Log      *slog.Logger
	// WorkflowRetry is the longest wait between two tries of a failed
	// workflow action; 0 means a minute.
	WorkflowRetry time.Duration
}

// Node is a running organization node.
type Node struct {
	cfg      config.Config
	parts    Parts
	log      *slog.Logger
	host     host.Host
	adm      *network.Admission
	gossip   *network.Gossip
	part     *network.Participant
	exec     workflow.Executor
	trainer  *failingTrainer
	pending  *pendingSet
	registry *prometheus.Registry
	metrics  *nodeMetrics
	life     *workflow.Lifecycle
	lifePoke chan struct{}

	// chain calls the chaincode through the timed ledger; registrar
	// through the admin identity where one is given, else the same.
	chain, registrar *chaincode.Client

	mu      sync.Mutex
	apiAddr string
	closers []func() error
}

// New builds a node. It starts the libp2p host (so the peer ID is known)
// but takes part in nothing until Run.
func New(ctx context.Context, cfg config.Config, parts Parts) (*Node, error) {
	if parts.Evidence == nil {
		return nil, errors.New("daemon: an evidence function is required")
	}
	if parts.Now == nil {
		parts.Now = time.Now
	}
	if parts.Log == nil {
		parts.Log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, parts: parts, log: parts.Log.With("org", cfg.Organization), registry: prometheus.NewRegistry()}
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	n.closers = append(n.closers, lock.Release)
	if n.parts.Ledger == nil {
		lc, err := ledger.LoadConfig(cfg.Ledger.Connection)
		if err != nil {
			n.Close()
			return nil, err
		}
		if lc.MSPID != cfg.Organization {
			n.Close()
			return nil, fmt.Errorf("daemon: organization %s does not match the ledger identity's MSP %s (%s): the node would act for one organization with another's identity", cfg.Organization, lc.MSPID, cfg.Ledger.Connection)
		}
		gw, err := ledger.Dial(lc, ledger.WithLogger(n.log))
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("daemon: %w", err)
		}
		n.parts.Ledger = gw
		n.closers = append(n.closers, gw.Close)
	}
	if n.parts.Source == nil {
		src, err := OpenSource(ctx, cfg, parts.Now())
		if err != nil {
			n.Close()
			return nil, err
		}
		n.parts.Source = src
	}
	if err := n.serveSimulator(); err != nil {
		n.Close()
		return nil, err
	}
	n.metrics = newMetrics(n.registry)
	n.parts.Ledger = timedLedger{n.parts.Ledger, n.metrics}
	n.chain, n.registrar = chaincode.New(n.parts.Ledger), chaincode.New(n.parts.Ledger)
	if n.parts.Admin != nil {
		n.parts.Admin = timedLedger{n.parts.Admin, n.metrics}
		n.registrar = chaincode.New(n.parts.Admin)
	}
	if err := n.buildNetwork(ctx); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.buildWorkflow(); err != nil {
		n.Close()
		return nil, err
	}
	n.buildLifecycle()
	return n, nil
}

func (n *Node) buildNetwork(ctx context.Context) error {
	key, id, err := network.LoadOrCreateKey(filepath.Join(n.cfg.DataDir, "p2p.key"))
	if err != nil {
		return err
	}
	n.adm = network.NewAdmission(id)
	bw := metrics.NewBandwidthCounter()
	n.metrics.watchBandwidth(n.registry, bw)
	if n.host, err = network.NewHost(network.HostConfig{Key: key, ListenAddrs: n.cfg.Network.Listen, Admission: n.adm, Bandwidth: bw}); err != nil {
		return err
	}
	n.closers = append(n.closers, n.host.Close)
	n.gossip, err = network.NewGossip(ctx, n.host, n.adm, network.GossipConfig{
		Consortium: n.cfg.Network.Consortium, InlineLimit: n.cfg.Network.InlineLimit,
		Store: network.NewStore(256 << 20), Log: n.log,
	})
	if err != nil {
		return err
	}
	history, step := config.Duration(n.cfg.Source.History), config.Duration(n.cfg.Source.Step)
	// The evaluated learner's constraints: no member's update outweighs
	// the others through a rare incident class or a large norm, and a
	// larger deviation can only raise risk (README, learning section).
	train := fl.GeneralizingTrainConfig()
	train.Epochs = n.cfg.Learning.Epochs
	n.trainer = &failingTrainer{m: n.metrics, Trainer: federation.Trainer{MSPID: n.cfg.Organization, Source: n.parts.Source, History: history, Step: step,
		Now: n.parts.Now, Spec: fl.DefaultFeatureSpec(), Config: train, Horizon: 5, Log: n.log}}
	n.part, err = network.NewParticipant(network.ParticipantConfig{
		Machine: round.Config{Self: n.cfg.Organization, Inspect: federation.Inspect,
			Aggregate: federation.Aggregator{Relevance: federation.RelevancePolicy{Mode: n.cfg.Learning.Relevance}}.Aggregate,
			Grace:     30 * time.Second, RetryEvery: 5 * time.Second, Retain: config.Duration(n.cfg.Network.RoundRetention)},
		Gossip: n.gossip, Admission: n.adm, Ledger: participantLedger{n.chain},
		Trainer:    n.trainer,
		StateDir:   filepath.Join(n.cfg.DataDir, "rounds"),
		OnFinished: n.metrics.roundFinished,
		Nodes:      n.registeredNodes,
		Log:        n.log,
		Now:        n.parts.Now,
	})
	if err != nil {
		return err
	}
	n.gossip.SetHandler(n.part)
	return nil
}

func (n *Node) buildWorkflow() error {
	history, step := config.Duration(n.cfg.Source.History), config.Duration(n.cfg.Source.Step)
	// One generation reads a service's history for its evidence and again
	// for each candidate's backtest: remember the latest fetches.
	src := source.NewMemo(n.parts.Source, 4)
	evidence := func(ctx context.Context, service string) (builtin.Input, error) {
		// Evidence runs up to now: 24-hour days counted back from the
		// latest step, so today's data counts.
		end := n.parts.Now().UTC().Truncate(step)
		r := source.Range{Start: end.Add(-history), End: end, Step: step}
		return n.parts.Evidence(ctx, src, service, r)
	}
	replay := workflow.SourceBacktest{Source: src, History: history, Step: step, Now: n.parts.Now}.Run
	gen := workflow.SLOGenerator{Self: n.cfg.Organization, Period: n.cfg.Generate.Period, Evidence: evidence, Backtest: replay,
		Active: n.chain.ActiveTokens, Routing: n.cfg.Generate.Routing.NFT(), PeriodSLI: nft.PeriodSLI(n.cfg.Generate.PeriodSLI),
		Deviation: deviationRanking(federation.Trainer{MSPID: n.cfg.Organization, Source: src,
			History: history, Step: step, Now: n.parts.Now, Spec: fl.DefaultFeatureSpec(), Log: n.log}),
		Recent: n.recentEvidence(src), RecentBacktest: n.recentBacktest(src)}
	if n.cfg.Generate.Kind == config.GeneratorOllama {
		llm, err := newOllama(n.cfg.Generate, n.log)
		if err != nil {
			return err
		}
		gen.LLM = llm
	}
	n.exec = workflow.Executor{
		Policy:    workflow.Policy{Self: n.cfg.Organization},
		Ledger:    n.chain,
		Generator: timedGenerator{gen, n.metrics},
		Reviewer: countedReviewer{workflow.OwnDataReviewer{Evidence: evidence, Log: n.log, MaxFalsePages: 2,
			Backtest: replay, Token: n.chain.Token, Recent: n.recentMeasure(src),
			Compare: workflow.SourceBacktest{Source: src, History: history, Step: step, Now: n.parts.Now}.Compare}, n.metrics},
		Installer: installer(n.cfg, rulesync.Served{Installs: n.installs, Skipped: n.skipped}),
		Turns:     workflow.NewTurns(),
		Log:       n.log,
	}
	maxBackoff := n.parts.WorkflowRetry
	if maxBackoff <= 0 {
		maxBackoff = defaultMaxBackoff
	}
	pending, err := openPending(filepath.Join(n.cfg.DataDir, pendingDir), defaultPendingLimit,
		min(defaultMinBackoff, maxBackoff), maxBackoff, n.log)
	if err != nil {
		return err
	}
	n.pending = pending
	n.metrics.watchPending(n.registry, pending)
	return nil
}

// deviationRanking ranks a service's metrics by their deviation during
// this organization's incidents, for rounds whose ranking fell back.
func deviationRanking(tr federation.Trainer) func(context.Context, string) ([]nft.Metric, error) {
	return func(ctx context.Context, service string) ([]nft.Metric, error) {
		scores, err := tr.DeviationRanking(ctx, service)
		if err != nil {
			return nil, err
		}
		return fl.Ranking(scores).NFTMetrics(len(scores)), nil
	}
}

// installs says whether this node installs the rules of a service's
// tokens: every service, those its source serves, or those listed.
func (n *Node) installs(ctx context.Context, service string) (bool, error) {
	switch mode := n.cfg.Rules.Install; {
	case len(mode) == 1 && mode[0] == config.InstallAll:
		return true, nil
	case len(mode) == 0 || (len(mode) == 1 && mode[0] == config.InstallServed):
		served, err := n.parts.Source.Services(ctx)
		if err != nil {
			return false, fmt.Errorf("daemon: services this node serves: %w", err)
		}
		return slices.Contains(served, service), nil
	default:
		return slices.Contains(mode, service), nil
	}
}

func (n *Node) skipped(t nft.Token) {
	n.metrics.skipped.WithLabelValues(t.Definition.SLI.Service).Inc()
	n.log.Info("not installing the rules of a service this node does not serve", "token", t.ID,
		"service", t.Definition.SLI.Service, "slo", t.Definition.Name, "install", n.cfg.Rules.Install)
}

// PeerID is the node's libp2p identity, as registered on the ledger.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// APIAddr is the address the HTTP API listens on, once Run started it.
func (n *Node) APIAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apiAddr
}

// Run registers the node, joins the consortium's network, serves the API
// and handles ledger events until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return err
	}
	if err := n.runScheduler(ctx); err != nil {
		return err
	}
	n.connectRegistered(ctx)
	if err := n.part.Resume(ctx); err != nil {
		return err
	}
	go n.part.Run(ctx)
	go n.runLifecycle(ctx)
	stopAPI, err := n.serveAPI()
	if err != nil {
		return err
	}
	defer stopAPI()
	return n.handleEvents(ctx)
}

// Close releases the node's connections.
func (n *Node) Close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		_ = n.closers[i]()
	}
	n.closers = nil
}

// register records this node's peer ID and addresses on the ledger unless
// they are already there.
func (n *Node) register(ctx context.Context) error {
	if _, err := n.chain.GetOrganization(ctx, n.cfg.Organization); err != nil {
		if _, err := n.registrar.RegisterOrganization(ctx, n.cfg.Organization); err != nil {
			return fmt.Errorf("daemon: registering organization %s (needs an admin identity): %w", n.cfg.Organization, err)
		}
		n.log.Info("registered the organization on the ledger")
	}
	// Before the node registers, so that whoever waits for the nodes to
	// register finds their services declared too. Not fatal: a node
	// without an admin identity still takes part, but the consortium then
	// refuses rounds on services only it would run.
	if err := n.declareServices(ctx); err != nil {
		n.log.Warn("services not declared", "err", err)
	}
	var addrs []string
	for _, a := range n.host.Addrs() {
		addrs = append(addrs, a.String())
	}
	slices.Sort(addrs)
	// A restarted node on new ports updates its addresses; otherwise the
	// registration stands.
	if known, err := n.chain.ResolvePeer(ctx, n.host.ID().String()); err == nil && slices.Equal(known.Addrs, addrs) {
		return nil
	}
	if _, err := n.registrar.RegisterNode(ctx, n.host.ID().String(), addrs); err != nil {
		return fmt.Errorf("daemon: registering peer %s (needs an admin identity): %w", n.host.ID(), err)
	}
	n.log.Info("registered this node on the ledger", "peer", n.host.ID(), "addrs", addrs)
	return nil
}

func (n *Node) registeredNodes(ctx context.Context) ([]records.Node, error) {
	return n.chain.ListNodes(ctx, "")
}

// connectRegistered admits the registered nodes and dials those it is not
// connected to.
func (n *Node) connectRegistered(ctx context.Context) {
	nodes, err := n.registeredNodes(ctx)
	if err != nil {
		n.log.Warn("cannot read the node registry", "err", err)
		return
	}
	n.adm.Set(nodes)
	for _, node := range nodes {
		n.dial(ctx, node)
	}
}

func (n *Node) dial(ctx context.Context, node records.Node) {
	id, err := peer.Decode(node.PeerID)
	if err != nil || id == n.host.ID() || len(n.host.Network().ConnsToPeer(id)) > 0 {
		return
	}
	var addrs []ma.Multiaddr
	for _, a := range node.Addrs {
		if m, err := ma.NewMultiaddr(a); err == nil {
			addrs = append(addrs, m)
		}
	}
	n.host.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(dctx, peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
		n.log.Info("peer not reachable yet", "peer", id, "org", node.MSPID, "err", err)
	}
}

func (n *Node) serveAPI() (func(), error) {
	token, err := readSecret(n.cfg.API.BearerTokenFile)
	if err != nil {
		return nil, err
	}
	if n.cfg.API.BearerTokenFile != "" && len(token) < 16 {
		return nil, fmt.Errorf("daemon: API: the bearer token in %s is shorter than 16 characters", n.cfg.API.BearerTokenFile)
	}
	stopPprof, err := servePprof(n.cfg.API.PprofListen, n.log)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		stopPprof()
		return nil, fmt.Errorf("daemon: API: %w", err)
	}
	n.mu.Lock()
	n.apiAddr = l.Addr().String()
	n.mu.Unlock()
	srv := &http.Server{
		Handler: (&api.Server{Organization: n.cfg.Organization, Ledger: n.chain, Rounds: phases{n.part, n.trainer},
			Workflow: pendingView{n.pending}, Registry: n.registry, Log: n.log, BearerToken: token}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API server stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		stopPprof()
	}, nil
}

// servePprof serves profiles on the opt-in loopback listener (config
// checks it is loopback); with none configured it does nothing.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("daemon: pprof: %w", err)
	}
	srv := &http.Server{Handler: api.PprofHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	log.Info("serving pprof", "addr", l.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// OpenSource builds the metric source the configuration names.
func OpenSource(ctx context.Context, cfg config.Config, now time.Time) (source.Source, error) {
	switch cfg.Source.Kind {
	case config.SourceSimulator:
		return openSimulator(cfg, now)
	case config.SourcePrometheus:
		return openPrometheus(cfg)
	case config.SourceCSV:
		return openCSV(ctx, cfg)
	}
	return nil, fmt.Errorf("daemon: unknown source kind %q", cfg.Source.Kind)
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("daemon: reading secret: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// installer is where the configuration sends minted rules.
func installer(cfg config.Config, served rulesync.Served) workflow.Installer {
	switch cfg.Rules.Target {
	case config.RulesPrometheusRule:
		return rulesync.Manifests{Dir: cfg.Rules.Dir, Namespace: cfg.Rules.Namespace, Served: served}
	case config.RulesRuler:
		return rulesync.Ruler{URL: cfg.Rules.RulerURL, Namespace: cfg.Rules.Namespace, TenantID: cfg.Source.Prometheus.TenantID,
			Served: served}
	}
	return rulesync.Syncer{Dir: cfg.Rules.Dir, ReloadURL: cfg.Source.Prometheus.ReloadURL, Served: served}
}

// participantLedger is the typed chaincode client as the participant asks for
// it: the round's transactions, their outcome only.
type participantLedger struct{ c *chaincode.Client }

func (l participantLedger) CommitUpdate(ctx context.Context, roundID string, u records.UpdateCommitment) error {
	_, err := l.c.CommitUpdate(ctx, roundID, u)
	return err
}

func (l participantLedger) SubmitAggregate(ctx context.Context, roundID string, claim records.AggregateClaim) error {
	_, err := l.c.SubmitAggregate(ctx, roundID, claim)
	return err
}

func (l participantLedger) CloseRound(ctx context.Context, roundID string) error {
	_, err := l.c.CloseRound(ctx, roundID)
	return err
}
