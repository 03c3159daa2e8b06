// Package demo runs a whole consortium on one machine with embedded parts:
// the embedded ledger serving the chaincode, three organizations with their
// own identities, each a node on its own simulated 5G core (different
// services and fault mixes) with a libp2p host on loopback. It runs a
// federated round, lets the governed workflow generate, review and mint one
// SLO per service, audits the ledger, and writes the rules and a report.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Options configure a demo run.
type Options struct {
	// OutputDir receives the ledger, the nodes' data, the rules and the
	// report; it is created if missing.
	OutputDir string
	Orgs      []string
	// History and Step are how much simulated data each node learns from
	// (default 3d at 1m: the fastest alert pair's 5m window needs several
	// samples, or its rate is empty and the pair can never fire).
	History, Step string
	Seed          uint64
	Evidence      daemon.EvidenceFunc
	// Progress receives one line per stage (os.Stderr in the CLI).
	Progress io.Writer
	Log      *slog.Logger
	// Timeout bounds the whole run.
	Timeout time.Duration
	// SimulatedAt is the simulated time the run replays (default
	// DefaultSimulatedAt): the nodes read the simulator shifted so that
	// the run starts at SimulatedAt, and attest the simulated periods.
	// The simulator's traffic follows the hour and the weekday and its
	// faults the date, so without it a run's outcome would depend on when
	// it runs.
	SimulatedAt time.Time
	// timeShift is how far the nodes' simulators are shifted, fixed at
	// the start of the run.
	timeShift time.Duration
}

// DefaultSimulatedAt is the simulated time the demo replays by default: a
// Thursday afternoon, half an hour into a 3-hour attestation period.
func DefaultSimulatedAt() time.Time { return time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC) }

// simulatorShift moves the simulated clock, by whole minutes, so that
// now reads simulatedAt.
func simulatorShift(simulatedAt, now time.Time) time.Duration {
	return simulatedAt.Sub(now).Round(time.Minute)
}

// Summary is what a demo run produced.
type Summary struct {
	OutputDir string `json:"output_dir"`
	// Schedule is the round schedule the demo recorded; Round and Round2
	// the rounds the nodes opened on it.
	Schedule records.Schedule `json:"schedule"`
	Round    records.Round    `json:"round"`
	Round2   records.Round    `json:"round2"`
	// Round2Requests are the requests the second round opened: none for
	// a service that kept its SLO.
	Round2Requests []records.GenerationRequest `json:"round2_requests"`
	// Tokens are the SLOs active at the end, one per service: the first
	// round's, revisions in place of what they superseded, and those the
	// second round minted for services that had none.
	Tokens []nft.Token `json:"tokens"`
	// Revision is the degraded service's SLO taken from version 1 to 2
	// on evidence; Compliance the attestations of both versions.
	// Revisions is the service's whole history to its active version
	// (the evidence may revise v2 in turn), oldest first.
	Revision   *Revision          `json:"revision,omitempty"`
	Revisions  []Revision         `json:"revisions,omitempty"`
	Compliance []TokenCompliance  `json:"compliance"`
	Requests   int                `json:"requests"`
	Rejections []records.Decision `json:"rejections,omitempty"`
	Blocks     uint64             `json:"blocks"`
	Backtests  []Backtest         `json:"backtests"`
	AuditOK    bool               `json:"audit_ok"`
	RulesDir   string             `json:"rules_dir"`
	// Promtool says what promtool checked (nothing when it is not on PATH).
	Promtool string        `json:"promtool"`
	Report   string        `json:"report"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

const chaincodeName = "srellama"

// Run runs the demo.
func Run(ctx context.Context, opt Options) (Summary, error) {
	began := time.Now()
	opt = withDefaults(opt)
	opt.timeShift = simulatorShift(opt.SimulatedAt, began)
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	progress := func(format string, args ...any) { fmt.Fprintf(opt.Progress, "demo: "+format+"\n", args...) }

	l, err := openLedger(opt)
	if err != nil {
		return Summary{}, err
	}
	defer l.Close()
	progress("embedded ledger up in %s with organizations %v", filepath.Join(opt.OutputDir, "ledger"), opt.Orgs)

	admin, stop, err := startNodes(ctx, l, opt, progress)
	defer stop()
	if err != nil {
		return Summary{}, err
	}
	if err := waitFor(ctx, "every node registered", func() (bool, error) {
		nodes, err := chaincode.New(admin).ListNodes(ctx, "")
		return len(nodes) == len(opt.Orgs), err
	}); err != nil {
		return Summary{}, err
	}
	progress("%d nodes registered their libp2p peer IDs on the ledger", len(opt.Orgs))

	sched, err := setSchedule(ctx, admin, time.Now())
	if err != nil {
		return Summary{}, err
	}
	k, _ := sched.PeriodAt(time.Now())
	progress("schedule %s recorded: every %s from %s, %s aggregation; the nodes open each period's round themselves",
		sched.ID, cadence, sched.Start, sched.Strategy)
	round, err := waitRound(ctx, admin, records.ScheduledRoundID(sched.ID, k))
	if err != nil {
		return Summary{}, err
	}
	progress("round %s finalized: global model %s from %v; %d generation requests", round.ID, round.GlobalModelDigest[:19], round.Contributors, len(round.Ranking))
	sum := Summary{OutputDir: opt.OutputDir, Schedule: sched, Round: round, Requests: len(round.Ranking)}
	if err := collectTokens(ctx, admin, &sum, progress); err != nil {
		return sum, err
	}
	if err := followLifecycle(ctx, admin, opt, &sum, k, progress); err != nil {
		return sum, err
	}
	if err := audit(ctx, l, &sum); err != nil {
		return sum, err
	}
	progress("audit: %d blocks hash-chained, state replays, every token matches its digest", sum.Blocks)
	for _, t := range sum.Tokens {
		bt, err := backtestToken(ctx, opt, t, time.Now())
		if err != nil {
			return sum, err
		}
		sum.Backtests = append(sum.Backtests, bt)
	}
	progress("backtested %d SLOs' alerts over their proposers' history with Prometheus's engine", len(sum.Backtests))
	if err := writeOutputs(opt, &sum); err != nil {
		return sum, err
	}
	if sum.Promtool, err = checkWithPromtool(ctx, &sum); err != nil {
		return sum, err
	}
	progress("%s", sum.Promtool)
	sum.Elapsed = time.Since(began)
	progress("done in %s: rules in %s, report %s", sum.Elapsed.Round(time.Millisecond), sum.RulesDir, sum.Report)
	return sum, nil
}

func withDefaults(opt Options) Options {
	if len(opt.Orgs) == 0 {
		opt.Orgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	}
	if opt.History == "" {
		opt.History = "3d"
	}
	if opt.Step == "" {
		opt.Step = "1m"
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Minute
	}
	if opt.SimulatedAt.IsZero() {
		opt.SimulatedAt = DefaultSimulatedAt()
	}
	return opt
}

func openLedger(opt Options) (*embedledger.Ledger, error) {
	if opt.Evidence == nil {
		return nil, errors.New("demo: an evidence function is required")
	}
	cc, err := contracts.New()
	if err != nil {
		return nil, err
	}
	return embedledger.Open(embedledger.Config{
		Dir: filepath.Join(opt.OutputDir, "ledger"), Channel: "consortium", Orgs: opt.Orgs,
		Chaincodes: map[string]shim.Chaincode{chaincodeName: cc}, Logger: opt.Log,
	})
}

// startNodes registers each organization and starts its node; it returns
// Org1's admin client, which the demo acts through.
func startNodes(ctx context.Context, l *embedledger.Ledger, opt Options, progress func(string, ...any)) (*ledger.Gateway, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var first *ledger.Gateway
	for i, org := range opt.Orgs {
		admin, err := l.Connect(ctx, org, "admin", chaincodeName)
		if err != nil {
			return nil, stop, err
		}
		client, err := l.Connect(ctx, org, "client", chaincodeName)
		if err != nil {
			admin.Close()
			return nil, stop, err
		}
		stops = append(stops, func() { client.Close(); admin.Close() })
		if first == nil {
			first = admin
		}
		if _, err := chaincode.New(admin).RegisterOrganization(ctx, org+" (demo)"); err != nil {
			return nil, stop, fmt.Errorf("demo: registering %s: %w", org, err)
		}
		cfg := nodeConfig(opt, org, i)
		var log *slog.Logger
		if opt.Log != nil {
			log = opt.Log.With("site", org)
		}
		n, err := daemon.New(ctx, cfg, daemon.Parts{Ledger: client, Admin: admin, Evidence: opt.Evidence, Log: log})
		if err != nil {
			return nil, stop, err
		}
		nctx, ncancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(nctx) }()
		stops = append(stops, func() { ncancel(); <-done; n.Close() })
		progress("%s: node started (peer %s, simulator seed %d)", org, n.PeerID(), cfg.Source.Simulator.Seed)
	}
	return first, stop, nil
}

func nodeConfig(opt Options, org string, i int) config.Config {
	cfg := config.Default()
	cfg.Organization = org
	cfg.DataDir = filepath.Join(opt.OutputDir, "nodes", org)
	cfg.Rules.Dir = filepath.Join(cfg.DataDir, "rules")
	cfg.Ledger.Connection = "in-process"
	cfg.Source.History, cfg.Source.Step = opt.History, opt.Step
	cfg.Source.Simulator.Seed = opt.Seed + uint64(i) + 1
	cfg.Network.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Lifecycle = lifecycleConfig()
	cfg.Source.Simulator.Degrade = degradeConfig()
	cfg.Source.Simulator.TimeShift = opt.timeShift.String()
	return cfg
}

// requestSettled reports whether a request is done with: fulfilled or
// closed, or its proposals all decided without a token (a proposal the
// other members could not back with their data closes, its request stays
// open for another proposal until its deadline).
func requestSettled(ctx context.Context, admin *ledger.Gateway, r records.GenerationRequest) (bool, error) {
	if r.Status != records.RequestOpen {
		return true, nil
	}
	props, err := chaincode.New(admin).ProposalsByRequest(ctx, r.ID)
	if err != nil {
		return false, err
	}
	for _, p := range props {
		if p.Status == records.ProposalOpen {
			return false, nil
		}
	}
	return len(props) > 0, nil
}

// collectTokens waits until every request is fulfilled or closed.
func collectTokens(ctx context.Context, admin *ledger.Gateway, sum *Summary, progress func(string, ...any)) error {
	err := waitFor(ctx, "the generation requests to settle", func() (bool, error) {
		reqs, err := chaincode.New(admin).RequestsByRound(ctx, sum.Round.ID)
		if err != nil {
			return false, err
		}
		for _, r := range reqs {
			if settled, err := requestSettled(ctx, admin, r); err != nil || !settled {
				return false, err
			}
		}
		return len(reqs) == sum.Requests, nil
	})
	if err != nil {
		return err
	}
	page, err := chaincode.New(admin).TokensByRound(ctx, sum.Round.ID, chaincode.PageRequest{})
	if err != nil {
		return err
	}
	sum.Tokens = page.Items
	sort.Slice(sum.Tokens, func(i, j int) bool {
		return sum.Tokens[i].Definition.SLI.Service < sum.Tokens[j].Definition.SLI.Service
	})
	for _, t := range sum.Tokens {
		ds, err := chaincode.New(admin).Decisions(ctx, t.Mint.ProposalID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Kind() != records.VerdictApprove {
				sum.Rejections = append(sum.Rejections, d)
			}
		}
	}
	progress("%d s-528 tokens minted, %d rejections recorded with reasons", len(sum.Tokens), len(sum.Rejections))
	return nil
}

func audit(ctx context.Context, l *embedledger.Ledger, sum *Summary) error {
	blocks, err := l.VerifyChain(ctx)
	if err != nil {
		return fmt.Errorf("demo: audit: %w", err)
	}
	if err := l.VerifyState(ctx); err != nil {
		return fmt.Errorf("demo: audit: %w", err)
	}
	for _, t := range sum.Tokens {
		if err := nft.ValidateToken(t); err != nil {
			return fmt.Errorf("demo: audit: %w", err)
		}
	}
	sum.Blocks, sum.AuditOK = blocks, true
	return nil
}

func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: timed out waiting for %s (last error: %v)", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
