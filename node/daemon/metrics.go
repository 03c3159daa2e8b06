package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/api"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/workflow"
)

// nodeMetrics are the node's own Prometheus metrics.
type nodeMetrics struct {
	rounds     *prometheus.CounterVec
	events     *prometheus.CounterVec
	generation prometheus.Histogram
	ledger     *prometheus.HistogramVec
	training   *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	skipped    *prometheus.CounterVec

	workflowFailures  *prometheus.CounterVec
	workflowRetries   *prometheus.CounterVec
	workflowRecovered *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *nodeMetrics {
	m := &nodeMetrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "srellama_rounds_total", Help: "Federated rounds this node took part in, by outcome.",
		}, []string{"status", "agrees"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "srellama_ledger_events_total", Help: "Chaincode events handled, by consumer (rounds, workflow) and kind.",
		}, []string{"consumer", "kind"}),
		generation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "srellama_slo_generation_seconds", Help: "Time to generate and validate one SLO definition.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		ledger: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "srellama_ledger_request_seconds", Help: "Ledger calls through the Fabric Gateway: submits wait for the commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}, []string{"op", "outcome"}),
	}
	m.training = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_training_failures_total", Help: "Rounds in which local training could not produce an update, by cause.",
	}, []string{"cause"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_decisions_total", Help: "Decisions this node recorded on other members' proposals, by verdict.",
	}, []string{"verdict"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_rules_skipped_total", Help: "Token rule installs skipped because this node does not serve the service.",
	}, []string{"service"})
	m.workflowFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_workflow_failures_total", Help: "Failed attempts at workflow actions (first tries and retries), by event kind.",
	}, []string{"kind"})
	m.workflowRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_workflow_retries_total", Help: "Retries of pending workflow actions, by event kind.",
	}, []string{"kind"})
	m.workflowRecovered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_workflow_recovered_total", Help: "Pending workflow actions that succeeded on a retry, by event kind.",
	}, []string{"kind"})
	reg.MustRegister(m.rounds, m.events, m.generation, m.ledger, m.training, m.decisions, m.skipped,
		m.workflowFailures, m.workflowRetries, m.workflowRecovered)
	return m
}

// watchPending exposes the workflow's pending actions as they stand at
// each scrape.
func (m *nodeMetrics) watchPending(reg *prometheus.Registry, s *pendingSet) {
	reg.MustRegister(pendingCollector{s})
}

var (
	pendingDesc = prometheus.NewDesc("srellama_workflow_pending_actions",
		"Failed workflow actions waiting for a retry, by event kind.", []string{"kind"}, nil)
	pendingLimitDesc = prometheus.NewDesc("srellama_workflow_pending_limit",
		"How many workflow actions may wait; at the limit the workflow reads no further event.", nil, nil)
	pendingOldestDesc = prometheus.NewDesc("srellama_workflow_pending_oldest_seconds",
		"Age of the oldest pending workflow action's first failure; 0 when none waits.", nil, nil)
)

type pendingCollector struct{ s *pendingSet }

func (c pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- pendingLimitDesc
	ch <- pendingOldestDesc
}

func (c pendingCollector) Collect(ch chan<- prometheus.Metric) {
	byKind := map[records.EventKind]int{}
	oldest := 0.0
	for _, a := range c.s.list() {
		byKind[a.Kind]++
		oldest = max(oldest, time.Since(a.FirstFailed).Seconds())
	}
	// The kinds that call for actions always have a series, so a
	// drained set reads 0 rather than vanishing.
	for _, k := range []records.EventKind{records.EventRoundFinalized, records.EventGenerationRequested,
		records.EventRequestReassigned, records.EventProposalSubmitted, records.EventTokenMinted, records.EventTokenRetired} {
		byKind[k] += 0
	}
	for k, v := range byKind {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(v), string(k))
	}
	ch <- prometheus.MustNewConstMetric(pendingLimitDesc, prometheus.GaugeValue, float64(c.s.limit))
	ch <- prometheus.MustNewConstMetric(pendingOldestDesc, prometheus.GaugeValue, oldest)
}

// pendingView shows the pending set in the API.
type pendingView struct{ s *pendingSet }

func (v pendingView) Pending() api.PendingList {
	list := v.s.list()
	out := api.PendingList{Count: len(list), Limit: v.s.limit}
	for _, a := range list {
		p := api.PendingAction{Event: string(a.Kind), Tx: a.Event.TxID, Block: a.Event.BlockNumber, Attempts: a.Attempts,
			LastError: a.LastError, FirstFailed: a.FirstFailed.UTC(), NextTry: a.NextTry.UTC()}
		var e records.Event
		if json.Unmarshal(a.Event.Payload, &e) == nil {
			for _, r := range e.Requests {
				p.Requests = append(p.Requests, r.ID)
			}
			if e.Proposal != nil {
				p.Proposal = e.Proposal.ID
			}
			for _, t := range []*nft.Token{e.Token, e.Superseded} {
				if t != nil {
					p.Tokens = append(p.Tokens, t.ID)
				}
			}
		}
		out.Actions = append(out.Actions, p)
	}
	return out
}

// timedLedger records the latency of every submit and evaluation.
type timedLedger struct {
	ledger.Ledger
	m *nodeMetrics
}

func (l timedLedger) Submit(ctx context.Context, fn string, args ...string) ([]byte, string, error) {
	start := time.Now()
	out, tx, err := l.Ledger.Submit(ctx, fn, args...)
	l.m.ledger.WithLabelValues("submit", outcome(err)).Observe(time.Since(start).Seconds())
	return out, tx, err
}

func (l timedLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	start := time.Now()
	out, err := l.Ledger.Evaluate(ctx, fn, args...)
	l.m.ledger.WithLabelValues("evaluate", outcome(err)).Observe(time.Since(start).Seconds())
	return out, err
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *nodeMetrics) roundFinished(f round.Finished) {
	agrees := "false"
	if f.AgreesWithUs {
		agrees = "true"
	}
	m.rounds.WithLabelValues(string(f.Round.Status), agrees).Inc()
}

// watchBandwidth exposes the libp2p host's traffic.
func (m *nodeMetrics) watchBandwidth(reg *prometheus.Registry, bw *metrics.BandwidthCounter) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "srellama_p2p_received_bytes_total", Help: "Bytes received from peers."},
			func() float64 { return float64(bw.GetBandwidthTotals().TotalIn) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "srellama_p2p_sent_bytes_total", Help: "Bytes sent to peers."},
			func() float64 { return float64(bw.GetBandwidthTotals().TotalOut) }),
	)
}

// timedGenerator records generation latency.
type timedGenerator struct {
	workflow.SLOGenerator
	m *nodeMetrics
}

func (g timedGenerator) Generate(ctx context.Context, req records.GenerationRequest) (workflow.Generated, error) {
	start := time.Now()
	defer func() { g.m.generation.Observe(time.Since(start).Seconds()) }()
	return g.SLOGenerator.Generate(ctx, req)
}

// countedReviewer counts decisions by verdict.
type countedReviewer struct {
	workflow.Reviewer
	m *nodeMetrics
}

func (r countedReviewer) Review(ctx context.Context, p records.Proposal) (workflow.Verdict, error) {
	v, err := r.Reviewer.Review(ctx, p)
	if err == nil {
		r.m.decisions.WithLabelValues(string(v.Kind)).Inc()
	}
	return v, err
}
