package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
	"github.com/srellama/srellama/node/workflow"
)

// The SLO lifecycle on the node: attestations each period, revisions and
// retirements on evidence, and the recent window revisions are fitted to
// and judged on.

// buildLifecycle sets up the attestation loop (none when
// lifecycle.attest_lookback is 0).
func (n *Node) buildLifecycle() {
	lc := n.cfg.Lifecycle
	if lc.AttestLookback <= 0 {
		return
	}
	m := newLifecycleMetrics(n.registry)
	step := config.Duration(n.cfg.Source.Step)
	measure := workflow.SourceBacktest{Source: n.parts.Source, Step: step}.MeasurePeriods
	n.life = &workflow.Lifecycle{
		Self:       n.cfg.Organization,
		Ledger:     complianceLedger{n.chain},
		Runs:       n.parts.Source.Services,
		Measure:    measure,
		Period:     config.Duration(lc.AttestPeriod),
		Lookback:   lc.AttestLookback,
		Align:      n.sourceAhead(),
		BeforeMint: lc.AttestBeforeMint,
		Counters:   m,
		Log:        n.log,
	}
	// A token minted (or revised) is checked at once, not at the next
	// interval: its recent periods may already call for a revision.
	n.lifePoke = make(chan struct{}, 1)
	n.exec.Installer = pokingInstaller{n.exec.Installer, n.lifePoke}
}

// pokingInstaller wakes the lifecycle loop when a token becomes active.
type pokingInstaller struct {
	workflow.Installer
	poke chan<- struct{}
}

func (p pokingInstaller) Apply(ctx context.Context, t nft.Token) (bool, error) {
	changed, err := p.Installer.Apply(ctx, t)
	if err == nil && t.State.Status == nft.StatusActive {
		select {
		case p.poke <- struct{}{}:
		default: // a check is already due
		}
	}
	return changed, err
}

// runLifecycle checks for periods to attest at once, then every
// lifecycle.check_interval and whenever a token becomes active, until ctx
// ends.
func (n *Node) runLifecycle(ctx context.Context) {
	if n.life == nil {
		return
	}
	every := config.Duration(n.cfg.Lifecycle.CheckInterval)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := n.life.Check(ctx, n.parts.Now()); err != nil && ctx.Err() == nil {
			n.log.Warn("lifecycle check incomplete; retrying at the next", "err", err, "next_in", every)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.lifePoke:
		}
	}
}

// recentWindow is the span revisions are fitted to and judged on: the
// last lifecycle.revision_history completed attestation periods, and at
// least the last day before their end, since the evidence a revision is
// fitted to counts whole days: generator and reviewers must read one span.
func (n *Node) recentWindow() (start, end time.Time) {
	lc := n.cfg.Lifecycle
	periods := workflow.CompletedPeriodsOn(n.parts.Now(), n.sourceAhead(), config.Duration(lc.AttestPeriod), lc.RevisionHistory)
	start, end = periods[0].Start, periods[len(periods)-1].End
	if day := end.Add(-24 * time.Hour); day.Before(start) {
		start = day
	}
	return start, end
}

// recentEvidence reads a service's evidence over the recent window.
func (n *Node) recentEvidence(src source.Source) workflow.Evidence {
	step := config.Duration(n.cfg.Source.Step)
	return func(ctx context.Context, service string) (builtin.Input, error) {
		start, end := n.recentWindow()
		return n.parts.Evidence(ctx, src, service, source.Range{Start: start, End: end, Step: step})
	}
}

// recentBacktest replays a definition over the recent window alone.
func (n *Node) recentBacktest(src source.Source) func(context.Context, nft.Definition) (workflow.Replay, error) {
	b := workflow.SourceBacktest{Source: src, Step: config.Duration(n.cfg.Source.Step)}
	return func(ctx context.Context, d nft.Definition) (workflow.Replay, error) {
		start, end := n.recentWindow()
		return b.RunRange(ctx, d, start, end)
	}
}

// recentMeasure measures a definition over the recent window.
func (n *Node) recentMeasure(src source.Source) func(context.Context, nft.Definition) (records.Attestation, error) {
	b := workflow.SourceBacktest{Source: src, Step: config.Duration(n.cfg.Source.Step)}
	return func(ctx context.Context, d nft.Definition) (records.Attestation, error) {
		start, end := n.recentWindow()
		return b.Measure(ctx, d, start, end)
	}
}

// complianceLedger is workflow.ComplianceLedger on the typed chaincode
// client.
type complianceLedger struct{ c *chaincode.Client }

func (l complianceLedger) Attest(ctx context.Context, a records.Attestation) error {
	_, err := l.c.Attest(ctx, a)
	return err
}

func (l complianceLedger) Compliance(ctx context.Context, tokenID string) ([]records.Attestation, error) {
	return l.c.RecentCompliance(ctx, tokenID)
}

func (l complianceLedger) RequestRevision(ctx context.Context, tokenID string) error {
	_, err := l.c.RequestRevision(ctx, tokenID)
	return err
}

func (l complianceLedger) ProposeRetirement(ctx context.Context, tokenID string) error {
	_, err := l.c.ProposeRetirement(ctx, tokenID)
	return err
}

func (l complianceLedger) ActiveTokens(ctx context.Context, service string) ([]nft.Token, error) {
	return l.c.ActiveTokens(ctx, service)
}

// degradations is the simulator's lasting shift the configuration asks
// for, where this organization runs the service.
func degradations(cfg config.Config, services []string, now time.Time) []sim.Degradation {
	d := cfg.Source.Simulator.Degrade
	if d.Service == "" || !slices.Contains(services, d.Service) {
		return nil
	}
	return []sim.Degradation{{Service: d.Service, Start: d.StartAt(now, config.Duration(cfg.Source.History)),
		ErrorFactor: d.ErrorFactor, AddedLatency: d.Latency()}}
}

// lifecycleMetrics count attestations and asks.
type lifecycleMetrics struct {
	attestations *prometheus.CounterVec
	asks         *prometheus.CounterVec
}

func newLifecycleMetrics(reg *prometheus.Registry) *lifecycleMetrics {
	m := &lifecycleMetrics{
		attestations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "srellama_attestations_total",
			Help: "Attestations of active SLOs per period, by outcome (committed, no_data, already, failed, not_measurable).",
		}, []string{"outcome"}),
		asks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "srellama_lifecycle_asks_total",
			Help: "Revision requests and retirement proposals this node asked the ledger for on evidence, by kind and outcome (requested, refused, failed).",
		}, []string{"kind", "outcome"}),
	}
	for _, o := range []string{workflow.AttestCommitted, workflow.AttestNoData, workflow.AttestAlready, workflow.AttestFailed, workflow.AttestNotHere} {
		m.attestations.WithLabelValues(o)
	}
	reg.MustRegister(m.attestations, m.asks)
	return m
}

func (m *lifecycleMetrics) Attested(outcome string)    { m.attestations.WithLabelValues(outcome).Inc() }
func (m *lifecycleMetrics) Asked(kind, outcome string) { m.asks.WithLabelValues(kind, outcome).Inc() }

// sourceAhead is how far the source's clock is ahead of the node's: a
// shifted simulator's shift (source.simulator.time_shift), else 0.
// Attestation periods align on the source's clock, so a replay of fixed
// simulated days attests the same spans of data whenever it runs.
func (n *Node) sourceAhead() time.Duration {
	if sh, ok := n.parts.Source.(source.Shifted); ok {
		return sh.By
	}
	return 0
}
