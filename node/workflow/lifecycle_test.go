package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/workflow"
)

// complianceLedger is a ledger's lifecycle transactions in memory, with
// the chaincode's refusals: one attestation per token, period and member.
type complianceLedger struct {
	mu      sync.Mutex
	self    string
	tokens  map[string][]nft.Token
	atts    []records.Attestation
	asks    []string // "revision token" or "retirement token"
	askErr  error
	failing map[string]bool // tokens whose attestations the ledger refuses
}

func (l *complianceLedger) Attest(_ context.Context, a records.Attestation) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing[a.TokenID] {
		return errors.New("endorsement failed")
	}
	for _, b := range l.atts {
		if b.TokenID == a.TokenID && b.PeriodStart == a.PeriodStart && b.MSPID == l.self {
			return records.Settled(fmt.Errorf("%s already attested %s", l.self, a.PeriodStart))
		}
	}
	a.MSPID, a.TxID = l.self, fmt.Sprintf("tx%d", len(l.atts))
	l.atts = append(l.atts, a)
	return nil
}

func (l *complianceLedger) Compliance(_ context.Context, token string) ([]records.Attestation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []records.Attestation
	for _, a := range l.atts {
		if a.TokenID == token {
			out = append(out, a)
		}
	}
	return out, nil
}

func (l *complianceLedger) ask(kind, token string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asks = append(l.asks, kind+" "+token)
	return l.askErr
}

func (l *complianceLedger) RequestRevision(_ context.Context, token string) error {
	return l.ask("revision", token)
}

func (l *complianceLedger) ProposeRetirement(_ context.Context, token string) error {
	return l.ask("retirement", token)
}

func (l *complianceLedger) ActiveTokens(_ context.Context, service string) ([]nft.Token, error) {
	return l.tokens[service], nil
}

func (l *complianceLedger) attested() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.atts {
		out = append(out, a.TokenID+"@"+a.PeriodStart[:10])
	}
	return out
}

func token(id, service string) nft.Token {
	return nft.Token{ID: id, Definition: nft.Definition{Name: id + "-slo", Version: 1, SLI: nft.SLI{Service: service},
		SLO: nft.SLO{Objective: 0.99}}, State: nft.State{Status: nft.StatusActive}}
}

// measured counts the measurements made and answers with a fixed budget.
type measured struct {
	mu     sync.Mutex
	calls  int
	budget float64
	noData bool
	fail   bool
	other  bool // the SLI reads none of our metrics
}

func (m *measured) measure(_ context.Context, d nft.Definition, periods []workflow.Period) ([]records.Attestation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls += len(periods)
	if m.fail {
		return nil, errors.New("source down")
	}
	if m.other {
		return nil, fmt.Errorf("measuring %s: %w", d.Name, workflow.ErrNotMeasurable)
	}
	var out []records.Attestation
	for _, p := range periods {
		a := records.Attestation{PeriodStart: p.Start.Format(time.RFC3339), PeriodEnd: p.End.Format(time.RFC3339), NoData: m.noData}
		if !m.noData {
			a.Events, a.Achieved, a.BudgetConsumed = 1000, 1-0.01*m.budget, m.budget
		}
		out = append(out, a)
	}
	return out, nil
}

type counted struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counted) Attested(o string) { c.add("attest " + o) }
func (c *counted) Asked(k, o string) { c.add(k + " " + o) }
func (c *counted) add(k string)      { c.mu.Lock(); defer c.mu.Unlock(); c.seen[k]++ }
func (c *counted) get(k string) int  { c.mu.Lock(); defer c.mu.Unlock(); return c.seen[k] }
func newCounted() *counted           { return &counted{seen: map[string]int{}} }
func runs(s ...string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) { return s, nil }
}

var day0 = time.Date(2026, 12, 3, 5, 30, 0, 0, time.UTC)

func TestCompletedPeriodsAreAlignedToTheSourcesEpoch(t *testing.T) {
	tests := []struct {
		name   string
		now    time.Time
		ahead  time.Duration
		period time.Duration
		n      int
		want   []string
	}{
		{"three days back from a morning", day0, 0, 24 * time.Hour, 3, []string{"2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"}},
		{"right at a boundary, the period just ended counts", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), 0, 24 * time.Hour, 1, []string{"2026-12-02T00:00:00Z"}},
		{"7h periods follow the epoch, not midnight", day0, 0, 7 * time.Hour, 1, []string{"2026-12-02T17:00:00Z"}},
		{"no lookback, nothing", day0, 0, 24 * time.Hour, 0, nil},
		{"a source clock 90 minutes ahead: its midnights, on the node's clock", day0, 90 * time.Minute, 24 * time.Hour, 2, []string{"2026-11-30T22:30:00Z", "2026-12-01T22:30:00Z"}},
		{"a source clock months behind: its 3-hour periods, on the node's clock", day0, -(7849*time.Hour + 20*time.Minute), 3 * time.Hour, 1, []string{"2026-12-03T01:20:00Z"}},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range workflow.CompletedPeriodsOn(tt.now, tt.ahead, tt.period, tt.n) {
			got = append(got, p.Start.Format(time.RFC3339))
			if p.End.Sub(p.Start) != tt.period || p.End.After(tt.now) {
				t.Errorf("%s: period %v..%v", tt.name, p.Start, p.End)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Each completed period in the lookback is attested once per token of a
// service this organization runs: a second check measures nothing again,
// a restarted node finds its attestations on the ledger, and the next day
// adds one period.
func TestLifecycleAttestsEachPeriodOnce(t *testing.T) {
	ctx := context.Background()
	led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{
		"amf": {token("t-amf", "amf")}, "upf": {token("t-upf", "upf")},
	}}
	m := &measured{budget: 0.3}
	c := newCounted()
	l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: m.measure,
		Period: 24 * time.Hour, Lookback: 3, Counters: c}
	if err := l.Check(ctx, day0); err != nil {
		t.Fatal(err)
	}
	want := []string{"t-amf@2026-11-30", "t-amf@2026-12-01", "t-amf@2026-12-02"}
	if got := led.attested(); !slices.Equal(got, want) {
		t.Fatalf("attested %v, want %v (only the service it runs, oldest first)", got, want)
	}
	if err := l.Check(ctx, day0.Add(time.Hour)); err != nil || m.calls != 3 {
		t.Fatalf("a second check within the day measured %d times (want 3), err %v", m.calls, err)
	}
	restarted := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: m.measure,
		Period: 24 * time.Hour, Lookback: 3, Counters: c}
	if err := restarted.Check(ctx, day0.Add(2*time.Hour)); err != nil {
		t.Fatalf("a restarted node's duplicates are settled, not errors: %v", err)
	}
	if len(led.attested()) != 3 || c.get("attest already") != 3 {
		t.Fatalf("after a restart: %v attested, %d found already there", led.attested(), c.get("attest already"))
	}
	if err := restarted.Check(ctx, day0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := led.attested(); len(got) != 4 || got[3] != "t-amf@2026-12-03" {
		t.Fatalf("the next day: %v", got)
	}
	if c.get("attest committed") != 4 {
		t.Fatalf("counters %v", c.seen)
	}
}

// The evidence is how an SLO did while in force: periods that ended
// before its mint are attested only when the node is told to replay them.
func TestLifecycleAttestsPeriodsInForce(t *testing.T) {
	minted := token("t", "amf")
	minted.Mint.MintedAt = "2026-12-01T18:00:00Z"
	tests := []struct {
		name       string
		beforeMint bool
		want       []string
	}{
		{"periods ending after the mint", false, []string{"t@2026-12-01", "t@2026-12-02"}},
		{"the whole lookback, replayed", true, []string{"t@2026-11-30", "t@2026-12-01", "t@2026-12-02"}},
	}
	for _, tt := range tests {
		led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{"amf": {minted}}}
		l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: (&measured{budget: 0.3}).measure,
			Period: 24 * time.Hour, Lookback: 3, BeforeMint: tt.beforeMint}
		if err := l.Check(context.Background(), day0); err != nil {
			t.Fatal(err)
		}
		if got := led.attested(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: attested %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A failed measurement or refused attestation is retried at the next
// check; other periods and tokens go on.
func TestLifecycleRetriesFailures(t *testing.T) {
	ctx := context.Background()
	led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{"amf": {token("a", "amf"), token("b", "amf")}},
		failing: map[string]bool{"b": true}}
	m := &measured{fail: true}
	l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: m.measure, Period: 24 * time.Hour, Lookback: 2}
	if err := l.Check(ctx, day0); err == nil || !strings.Contains(err.Error(), "source down") {
		t.Fatalf("err = %v, want the measurement failure", err)
	}
	m.fail = false
	err := l.Check(ctx, day0)
	if err == nil || !strings.Contains(err.Error(), "endorsement failed") {
		t.Fatalf("err = %v, want the ledger's refusal of b", err)
	}
	if got := led.attested(); !slices.Equal(got, []string{"a@2026-12-01", "a@2026-12-02"}) {
		t.Fatalf("attested %v", got)
	}
	led.failing = nil
	if err := l.Check(ctx, day0); err != nil || len(led.attested()) != 4 {
		t.Fatalf("after the ledger recovered: %v, %v", led.attested(), err)
	}
}

// An SLO on metrics this organization lacks is neither attested nor
// retried: nothing is wrong, and no data would falsely say the service is
// gone.
func TestLifecycleSkipsWhatItCannotMeasure(t *testing.T) {
	ctx := context.Background()
	led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{"amf": {token("t", "amf")}}}
	m := &measured{other: true}
	c := newCounted()
	l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: m.measure, Period: 24 * time.Hour, Lookback: 3, Counters: c}
	for range 2 {
		if err := l.Check(ctx, day0); err != nil {
			t.Fatal(err)
		}
	}
	if len(led.atts) != 0 || m.calls != 3 || c.get("attest not_measurable") != 3 || len(led.asks) != 0 {
		t.Fatalf("attested %v after %d measurements, counters %v, asked %v", led.atts, m.calls, c.seen, led.asks)
	}
}

// The evidence decides what the node asks for, once per new evidence; a
// refusal that the ask is moot (already open, no evidence on the ledger's
// reading) is no failure.
func TestLifecycleAsksOnEvidence(t *testing.T) {
	tests := []struct {
		name    string
		budget  float64
		noData  bool
		askErr  error
		wantAsk string
		wantErr bool
	}{
		{name: "within budget: nothing to ask", budget: 0.3},
		{name: "breached: a revision", budget: 3, wantAsk: "revision t"},
		{name: "gone: a retirement", noData: true, wantAsk: "retirement t"},
		{name: "an open request already", budget: 3, askErr: records.Settled(errors.New("a revision request of t is open")), wantAsk: "revision t"},
		{name: "the ledger sees no evidence", budget: 3, askErr: errors.New("no evidence for a revision of t"), wantAsk: "revision t"},
		{name: "the ledger is down", budget: 3, askErr: errors.New("connection refused"), wantAsk: "revision t", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{"amf": {token("t", "amf")}}, askErr: tt.askErr}
			m := &measured{budget: tt.budget, noData: tt.noData}
			l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: runs("amf"), Measure: m.measure, Period: 24 * time.Hour, Lookback: 3}
			err := l.Check(ctx, day0)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var want []string
			if tt.wantAsk != "" {
				want = []string{tt.wantAsk}
			}
			if !slices.Equal(led.asks, want) {
				t.Fatalf("asked %v, want %v", led.asks, want)
			}
			// Nothing new on the ledger: no second ask, unless the
			// first one failed.
			_ = l.Check(ctx, day0.Add(time.Hour))
			if n := len(led.asks); (tt.wantErr && n != 2) || (!tt.wantErr && n != len(want)) {
				t.Fatalf("after a second check asked %v", led.asks)
			}
			if tt.wantAsk == "" || tt.wantErr {
				return
			}
			// A new period attested is new evidence.
			_ = l.Check(ctx, day0.Add(24*time.Hour))
			if len(led.asks) != 2 {
				t.Fatalf("after a new period asked %v", led.asks)
			}
		})
	}
}

func att(period int, msp string, budget float64, incidents, paged int) records.Attestation {
	start := time.Date(2026, 12, period, 0, 0, 0, 0, time.UTC)
	return records.Attestation{TokenID: "t", PeriodStart: start.Format(time.RFC3339), PeriodEnd: start.Add(24 * time.Hour).Format(time.RFC3339),
		MSPID: msp, Events: 1000, Achieved: 1 - 0.01*budget, Objective: 0.99, BudgetConsumed: budget,
		Incidents: incidents, IncidentsDetected: paged, IncidentsPaged: paged, TxID: fmt.Sprintf("tx-%d-%s", period, msp)}
}

func noData(period int, msp string) records.Attestation {
	a := att(period, msp, 0, 0, 0)
	a.NoData, a.Events, a.Achieved = true, 0, 0
	return a
}

// The node acts on the ledger's own rule: these are the cases a node's
// evidence preview was first written against.
func TestNodeActsOnTheLedgersEvidenceRule(t *testing.T) {
	tests := []struct {
		name    string
		atts    []records.Attestation
		trigger string // "" for no evidence
	}{
		{"no attestations", nil, ""},
		{"within budget everywhere", []records.Attestation{att(1, "A", 0.5, 0, 0), att(2, "A", 0.8, 1, 1), att(3, "A", 0.4, 0, 0)}, ""},
		{"missed in two of three periods", []records.Attestation{att(1, "A", 1.5, 0, 0), att(2, "A", 0.5, 0, 0), att(3, "A", 2.5, 0, 0)}, records.TriggerBreached},
		{"missed once only", []records.Attestation{att(1, "A", 0.5, 0, 0), att(2, "A", 0.5, 0, 0), att(3, "A", 2.5, 0, 0)}, ""},
		{"missed by a minority of members", []records.Attestation{
			att(1, "A", 1.5, 0, 0), att(1, "B", 0.5, 0, 0), att(1, "C", 0.5, 0, 0),
			att(2, "A", 1.5, 0, 0), att(2, "B", 0.5, 0, 0), att(2, "C", 0.5, 0, 0)}, ""},
		{"missed by a majority of members with data", []records.Attestation{
			att(1, "A", 1.5, 0, 0), att(1, "B", 1.2, 0, 0), noData(1, "C"),
			att(2, "A", 1.5, 0, 0), att(2, "B", 3, 0, 0), att(2, "C", 0.5, 0, 0)}, records.TriggerBreached},
		{"only the last three periods count", []records.Attestation{
			att(1, "A", 5, 0, 0), att(2, "A", 5, 0, 0), att(3, "A", 0.5, 0, 0), att(4, "A", 0.5, 0, 0), att(5, "A", 0.5, 0, 0)}, ""},
		{"no budget spent while an incident went unpaged", []records.Attestation{att(1, "A", 0.02, 0, 0), att(2, "A", 0.05, 2, 1), att(3, "B", 0, 0, 0)}, records.TriggerSilent},
		{"an unpaged incident in a period that spent budget", []records.Attestation{att(1, "A", 0.02, 0, 0), att(2, "A", 0.5, 2, 1)}, ""},
		{"quiet and every incident paged", []records.Attestation{att(1, "A", 0.02, 1, 1), att(2, "A", 0.05, 2, 2)}, ""},
		{"nobody saw it for three periods", []records.Attestation{noData(1, "A"), noData(1, "B"), noData(2, "A"), noData(3, "B")}, records.TriggerGone},
		{"gone for two periods only", []records.Attestation{att(1, "A", 0.5, 0, 0), noData(2, "A"), noData(3, "A")}, ""},
		{"one member still sees it", []records.Attestation{noData(1, "A"), noData(2, "A"), noData(3, "A"), att(3, "B", 0.5, 0, 0)}, ""},
	}
	for _, tt := range tests {
		ev := records.Assess(tt.atts, records.DefaultEvidencePolicy())
		got := ""
		if ev != nil {
			got = ev.Trigger
			if ev.Reason == "" || len(ev.Figures) == 0 || len(ev.Attestations) == 0 {
				t.Errorf("%s: evidence without reason, figures or attestations: %+v", tt.name, ev)
			}
		}
		if got != tt.trigger {
			t.Errorf("%s: trigger %q, want %q (%+v)", tt.name, got, tt.trigger, ev)
		}
	}
}

// A node on a core that degraded lastingly attests, with Prometheus's
// engine, the SLO fitted before the shift as breached in each period after
// it, and asks the ledger for a revision once; on the days before the
// shift it asks for nothing.
func TestLifecycleOnADegradedCoreAsksForARevision(t *testing.T) {
	src, origin := lifecycleCore(t) // degrades on day 6
	tok := nft.Token{ID: "t", Definition: registrations(t), State: nft.State{Status: nft.StatusActive}}
	b := workflow.SourceBacktest{Source: src, Step: 5 * time.Minute}
	for _, tt := range []struct {
		name string
		now  time.Time
		want []string
	}{
		{"before the shift", origin.Add(6*24*time.Hour + time.Hour), nil},
		{"three days after it", origin.Add(9*24*time.Hour + time.Hour), []string{"revision t"}},
	} {
		led := &complianceLedger{self: "Org1MSP", tokens: map[string][]nft.Token{"amf": {tok}}}
		l := &workflow.Lifecycle{Self: "Org1MSP", Ledger: led, Runs: src.Services, Measure: b.MeasurePeriods, Period: 24 * time.Hour, Lookback: 3}
		if err := l.Check(context.Background(), tt.now); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(led.asks, tt.want) {
			var budgets []float64
			for _, a := range led.atts {
				budgets = append(budgets, a.BudgetConsumed)
			}
			t.Errorf("%s: asked %v, want %v (budgets consumed %v)", tt.name, led.asks, tt.want, budgets)
		}
		if len(led.atts) != 3 {
			t.Errorf("%s: %d attestations, want 3", tt.name, len(led.atts))
		}
	}
}
