package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// ComplianceLedger is what the SLO lifecycle needs from the ledger: the
// typed chaincode client fits it through a thin adapter. A refusal that
// the action is already done is an error for which records.IsSettled is
// true.
type ComplianceLedger interface {
	// Attest records this organization's attestation of one token and
	// period (Compliance:Attest).
	Attest(ctx context.Context, a records.Attestation) error
	// Compliance lists every member's attestations of a token's latest
	// periods, those the ledger's evidence rule reads
	// (Audit:RecentCompliance).
	Compliance(ctx context.Context, tokenID string) ([]records.Attestation, error)
	// RequestRevision asks for a revision of a token on the evidence of
	// its attestations (Generation:RequestRevision).
	RequestRevision(ctx context.Context, tokenID string) error
	// ProposeRetirement proposes to retire a token whose service is gone
	// (Generation:ProposeRetirement).
	ProposeRetirement(ctx context.Context, tokenID string) error
	// ActiveTokens lists a service's active tokens (Tokens:Active).
	ActiveTokens(ctx context.Context, service string) ([]nft.Token, error)
}

// Period is the half-open span [Start, End).
type Period struct{ Start, End time.Time }

// CompletedPeriods lists the last n periods of length p completed at now,
// oldest first. Periods are aligned to the Unix epoch, so every member
// attests the same periods whatever its clock started from.
func CompletedPeriods(now time.Time, p time.Duration, n int) []Period {
	if p < time.Second || n <= 0 {
		return nil
	}
	secs := int64(p / time.Second)
	current := now.Unix() / secs // the period now is in
	if now.Unix() < 0 && now.Unix()%secs != 0 {
		current--
	}
	out := make([]Period, 0, n)
	for k := current - int64(n); k < current; k++ {
		start := time.Unix(k*secs, 0).UTC()
		out = append(out, Period{Start: start, End: start.Add(time.Duration(secs) * time.Second)})
	}
	return out
}

// CompletedPeriodsOn is CompletedPeriods aligned on a clock that reads
// now+ahead (a shifted simulator's, source.Shifted), given on the node's
// own clock: the periods are the data's own periods, so a replay of fixed
// simulated days attests the same spans of data whenever it runs.
func CompletedPeriodsOn(now time.Time, ahead, p time.Duration, n int) []Period {
	out := CompletedPeriods(now.Add(ahead), p, n)
	for i := range out {
		out[i].Start, out[i].End = out[i].Start.Add(-ahead), out[i].End.Add(-ahead)
	}
	return out
}

// Attestation outcomes, as LifecycleCounters counts them.
const (
	AttestCommitted = "committed"
	AttestNoData    = "no_data"
	AttestAlready   = "already"
	AttestFailed    = "failed"
	// AttestNotHere: the SLI reads none of this organization's metrics.
	AttestNotHere = "not_measurable"
)

// Outcomes of asking for a revision or retirement.
const (
	AskRequested = "requested"
	AskRefused   = "refused"
	AskFailed    = "failed"
)

// LifecycleCounters counts what the lifecycle did (the daemon's metrics).
type LifecycleCounters interface {
	Attested(outcome string)
	// Asked counts a revision request (kind "revision") or retirement
	// proposal (kind "retirement").
	Asked(kind, outcome string)
}

// Lifecycle keeps the consortium's SLOs right over time on this
// organization's side: each completed period it attests how every active
// SLO of the services it runs did on its own data, and when the
// attestations (every member's) show an SLO breached, silent or its
// service gone, it asks the ledger for a revision or a retirement, which
// the ledger grants only on the same evidence.
//
// By default only periods that end after a token was minted are attested:
// the evidence is how the SLO did while it was in force. With BeforeMint,
// the lookback's earlier periods are attested too: the token's own rules
// replayed over them say at once whether the SLO just minted still fits
// the service (one fitted on a history a lasting shift has since made
// stale is breached in the recent periods), which a demonstration or a
// test that cannot wait days needs.
type Lifecycle struct {
	Self   string
	Ledger ComplianceLedger
	// Runs lists the services this organization runs (its source's).
	Runs func(ctx context.Context) ([]string, error)
	// Measure measures a definition over each period, in time order
	// (SourceBacktest.MeasurePeriods: one read of the source).
	Measure func(ctx context.Context, d nft.Definition, periods []Period) ([]records.Attestation, error)
	// Period is the attestation period; Lookback how many completed
	// periods back are attested (a node that was down catches up).
	Period   time.Duration
	Lookback int
	// Align aligns the periods on a clock Align ahead of the node's
	// (CompletedPeriodsOn): the shift of a shifted simulator, else 0.
	Align time.Duration
	// BeforeMint attests periods that ended before the token was minted.
	BeforeMint bool
	// Assess previews the ledger's verdict on a token's attestations: the
	// evidence, or nil when they call for nothing. The ledger's own rule
	// (records.Assess under records.DefaultEvidencePolicy) when nil, so a
	// node asks only when the ledger will agree.
	Assess   func([]records.Attestation) *records.Evidence
	Counters LifecycleCounters
	Log      *slog.Logger

	mu       sync.Mutex
	attested map[attestKey]bool   // what this organization attested (or found attested)
	asked    map[string]askedMark // token -> the evidence last acted on
}

type attestKey struct {
	token string
	start int64 // the period's start, Unix seconds
}

// askedMark identifies the attestations an ask rested on: a new
// attestation (this member's or another's) is new evidence, worth asking
// again if it still calls for action.
type askedMark struct {
	count  int
	latest string
}

// Check attests every completed period in the lookback not yet attested,
// for every active token of every service this organization runs, then
// acts on the evidence. It returns the failures worth a retry at the next
// check; a refusal that the action is done is success.
func (l *Lifecycle) Check(ctx context.Context, now time.Time) error {
	periods := CompletedPeriodsOn(now, l.Align, l.Period, l.Lookback)
	if len(periods) == 0 {
		return nil
	}
	services, err := l.Runs(ctx)
	if err != nil {
		return fmt.Errorf("lifecycle: services this organization runs: %w", err)
	}
	services = slices.Sorted(slices.Values(services))
	l.forgetBefore(periods[0].Start)
	var errs []error
	seen, listed := map[string]bool{}, true
	for _, service := range slices.Compact(services) {
		tokens, err := l.Ledger.ActiveTokens(ctx, service)
		if err != nil {
			errs = append(errs, fmt.Errorf("lifecycle: active SLOs of %s: %w", service, err))
			listed = false
			continue
		}
		for _, t := range tokens {
			if t.State.Status != nft.StatusActive || t.Definition.SLI.Service != service {
				continue
			}
			seen[t.ID] = true
			if err := l.attest(ctx, t, l.inForce(t, periods)); err != nil {
				errs = append(errs, err)
			}
			if err := l.act(ctx, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if listed {
		l.forgetTokens(seen)
	}
	return errors.Join(errs...)
}

// inForce keeps the periods that end after t was minted, unless
// BeforeMint; a token whose mint time does not parse keeps them all.
func (l *Lifecycle) inForce(t nft.Token, periods []Period) []Period {
	if l.BeforeMint {
		return periods
	}
	minted, err := time.Parse(time.RFC3339Nano, t.Mint.MintedAt)
	if err != nil {
		return periods
	}
	return slices.DeleteFunc(slices.Clone(periods), func(p Period) bool { return !p.End.After(minted) })
}

// attest commits this organization's attestation of each period not yet
// attested, oldest first, measured together.
func (l *Lifecycle) attest(ctx context.Context, t nft.Token, periods []Period) error {
	var todo []Period
	var keys []attestKey
	for _, p := range periods {
		key := attestKey{t.ID, p.Start.Unix()}
		if !l.done(key) {
			todo, keys = append(todo, p), append(keys, key)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	measured, err := l.Measure(ctx, t.Definition, todo)
	if errors.Is(err, ErrNotMeasurable) {
		// Nothing to attest here, now or on a retry: another member's
		// metric names. Seeing no event is not what happened.
		for _, k := range keys {
			l.count(AttestNotHere)
			l.remember(k)
		}
		l.logger().Debug("not attesting an SLO that reads none of our metrics", "token", t.ID, "err", err)
		return nil
	}
	if err == nil && len(measured) != len(todo) {
		err = fmt.Errorf("%d measurements for %d periods", len(measured), len(todo))
	}
	if err != nil {
		for range todo {
			l.count(AttestFailed)
		}
		return fmt.Errorf("lifecycle: measuring %s over %d periods from %s: %w", t.ID, len(todo), records.FormatTime(todo[0].Start), err)
	}
	var errs []error
	for i, m := range measured {
		a := Attestation(t, m)
		err := l.Ledger.Attest(ctx, a)
		switch {
		case records.IsSettled(err):
			l.count(AttestAlready)
			l.logger().Debug("period already attested", "token", t.ID, "period", a.PeriodStart)
		case err != nil:
			l.count(AttestFailed)
			errs = append(errs, fmt.Errorf("lifecycle: attesting %s over %s: %w", t.ID, a.PeriodStart, err))
			continue
		case a.NoData:
			l.count(AttestNoData)
			l.logger().Info("attested a period without data", "token", t.ID, "service", a.Service, "period", a.PeriodStart)
		default:
			l.count(AttestCommitted)
			l.logger().Info("attested a period", "token", t.ID, "service", a.Service, "slo", a.Name, "period", a.PeriodStart,
				"achieved", a.Achieved, "objective", a.Objective, "budget_consumed", a.BudgetConsumed,
				"page_alerts", a.PageAlerts, "incidents", a.Incidents, "incidents_paged", a.IncidentsPaged)
		}
		l.remember(keys[i])
	}
	return errors.Join(errs...)
}

// act previews the evidence in the token's attestations and asks the
// ledger for the revision or retirement it calls for, once per new
// evidence.
func (l *Lifecycle) act(ctx context.Context, t nft.Token) error {
	atts, err := l.Ledger.Compliance(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("lifecycle: attestations of %s: %w", t.ID, err)
	}
	assess := l.Assess
	if assess == nil {
		assess = func(atts []records.Attestation) *records.Evidence {
			return records.Assess(atts, records.DefaultEvidencePolicy())
		}
	}
	ev := assess(atts)
	if ev == nil {
		return nil
	}
	mark := markOf(atts)
	if l.alreadyAsked(t.ID, mark) {
		return nil
	}
	kind, ask := "revision", l.Ledger.RequestRevision
	switch ev.Trigger {
	case records.TriggerBreached, records.TriggerSilent:
	case records.TriggerGone:
		kind, ask = "retirement", l.Ledger.ProposeRetirement
	default:
		return nil
	}
	err = ask(ctx, t.ID)
	switch {
	case err == nil:
		l.countAsk(kind, AskRequested)
		l.logger().Info("asked for a "+kind+" on evidence", "token", t.ID, "service", t.Definition.SLI.Service,
			"trigger", ev.Trigger, "reason", ev.Reason)
	case refusedAsDone(err):
		// Another member asked first, or the ledger reads the evidence
		// differently: either way nothing to retry until new evidence.
		l.countAsk(kind, AskRefused)
		l.logger().Debug("the ledger refused a "+kind, "token", t.ID, "trigger", ev.Trigger, "err", err)
	default:
		l.countAsk(kind, AskFailed)
		return fmt.Errorf("lifecycle: asking for a %s of %s: %w", kind, t.ID, err)
	}
	l.markAsked(t.ID, mark)
	return nil
}

// refusedAsDone recognizes the refusals that end an ask: an open request
// or proposal exists (settled), or the ledger finds no evidence.
func refusedAsDone(err error) bool {
	return records.IsSettled(err) || strings.Contains(err.Error(), "no evidence")
}

func markOf(atts []records.Attestation) askedMark {
	m := askedMark{count: len(atts)}
	for _, a := range atts {
		m.latest = max(m.latest, a.PeriodEnd)
	}
	return m
}

func (l *Lifecycle) done(k attestKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attested[k]
}

func (l *Lifecycle) remember(k attestKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.attested == nil {
		l.attested = map[attestKey]bool{}
	}
	l.attested[k] = true
}

// forgetBefore drops what was attested before the lookback: it is never
// asked about again, so memory stays bounded by tokens × lookback.
func (l *Lifecycle) forgetBefore(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.attested {
		if k.start < t.Unix() {
			delete(l.attested, k)
		}
	}
}

// forgetTokens drops the marks of tokens no longer active.
func (l *Lifecycle) forgetTokens(active map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.asked {
		if !active[id] {
			delete(l.asked, id)
		}
	}
	for k := range l.attested {
		if !active[k.token] {
			delete(l.attested, k)
		}
	}
}

func (l *Lifecycle) alreadyAsked(token string, m askedMark) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, ok := l.asked[token]
	return ok && prev == m
}

func (l *Lifecycle) markAsked(token string, m askedMark) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.asked == nil {
		l.asked = map[string]askedMark{}
	}
	l.asked[token] = m
}

func (l *Lifecycle) count(outcome string) {
	if l.Counters != nil {
		l.Counters.Attested(outcome)
	}
}

func (l *Lifecycle) countAsk(kind, outcome string) {
	if l.Counters != nil {
		l.Counters.Asked(kind, outcome)
	}
}

func (l *Lifecycle) logger() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}
