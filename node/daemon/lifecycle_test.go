package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
	"github.com/srellama/srellama/node/workflow"
)

// The configured degradation reaches the simulator of an organization
// that runs the service, at the share of the history it names, and no
// other.
func TestSimulatorDegradesWhereConfigured(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Organization = "Org1MSP"
	cfg.Source.History = "4d"
	cfg.Source.Simulator.Degrade = config.Degrade{Service: "amf", Start: "0.5", ErrorFactor: 10}
	src, err := OpenSource(context.Background(), cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	ds := src.(*sim.Simulator).Config().Degradations
	if len(ds) != 1 || ds[0].Service != "amf" || !ds[0].Start.Equal(now.Add(-48*time.Hour)) || ds[0].ErrorFactor != 10 {
		t.Fatalf("degradations %+v", ds)
	}
	cfg.Source.Simulator.Degrade.Service = "no-such-nf"
	src, err = OpenSource(context.Background(), cfg, now)
	if err != nil || len(src.(*sim.Simulator).Config().Degradations) != 0 {
		t.Fatalf("a service the organization does not run: %v", err)
	}
}

// The recent window is the last revision_history completed periods, and
// at least a day.
func TestRecentWindow(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Lifecycle.AttestPeriod, cfg.Lifecycle.RevisionHistory = "6h", 4
	n := &Node{cfg: cfg, parts: Parts{Now: func() time.Time { return now }}}
	start, end := n.recentWindow()
	if !start.Equal(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)) || !end.Equal(time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("recent window %v..%v", start, end)
	}
	// Under a day, the window is the last day: what the generator fits to.
	cfg.Lifecycle.AttestPeriod, cfg.Lifecycle.RevisionHistory = "2h", 3
	n.cfg = cfg
	start, end = n.recentWindow()
	if !start.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) || !end.Equal(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("recent window under a day %v..%v", start, end)
	}
}

// A shifted simulator is the same simulator read at another time: its
// data at t are the unshifted simulator's at t + shift, its degradation
// lands the same span before its own now, and the node's attestation
// periods follow its clock.
func TestShiftedSimulatorReplaysItsOwnTime(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 20, 0, 0, time.UTC)
	then := time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Organization = "Org1MSP"
	cfg.Source.History = "2d"
	cfg.Source.Simulator.Degrade = config.Degrade{Service: "amf", Start: "6h", ErrorFactor: 10}
	plain, err := OpenSource(ctx, cfg, then)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source.Simulator.TimeShift = then.Sub(now).String()
	shifted, err := OpenSource(ctx, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	series, err := shifted.ListSeries(ctx, "amf")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range series {
		ids = append(ids, s.ID)
	}
	got, err := shifted.Fetch(ctx, ids, source.Range{Start: now.Add(-8 * time.Hour), End: now, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Fetch(ctx, ids, source.Range{Start: then.Add(-8 * time.Hour), End: then, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !got[i].Start.Equal(now.Add(-8*time.Hour)) || !slices.EqualFunc(got[i].Values, want[i].Values, func(a, b float64) bool { return a == b || (a != a && b != b) }) {
			t.Fatalf("%s: the shifted simulator's last 8 hours differ from the plain one's at the shifted time", ids[i])
		}
	}
	n := &Node{cfg: cfg, parts: Parts{Source: shifted, Now: func() time.Time { return now }}}
	cfg.Lifecycle.AttestPeriod, cfg.Lifecycle.RevisionHistory = "2h", 1
	n.cfg = cfg
	start, end := n.recentWindow()
	// 14:00 on the simulated clock is 10:20 on the node's: the last
	// simulated 2-hour period (12:00 to 14:00) ended then.
	if !end.Equal(now) || !start.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("recent window %v..%v, want the day up to %v", start, end, now)
	}
}

func TestLifecycleMetricsCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newLifecycleMetrics(reg)
	var c workflow.LifecycleCounters = m
	c.Attested(workflow.AttestCommitted)
	c.Attested(workflow.AttestCommitted)
	c.Asked("revision", workflow.AskRequested)
	if got := counterValue(reg, "srellama_attestations_total", workflow.AttestCommitted); got != 2 {
		t.Fatalf("committed attestations %v", got)
	}
	if got := counterValue(reg, "srellama_lifecycle_asks_total", "revision", workflow.AskRequested); got != 1 {
		t.Fatalf("revision requests %v", got)
	}
	names, _ := reg.Gather()
	var have []string
	for _, f := range names {
		have = append(have, f.GetName())
	}
	if !slices.Contains(have, "srellama_attestations_total") || !slices.Contains(have, "srellama_lifecycle_asks_total") {
		t.Fatalf("registered %v", have)
	}
}

// counterValue reads the counter of a family whose label values are
// values, in label-name order.
func counterValue(reg *prometheus.Registry, name string, values ...string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

type nopInstaller struct{}

func (nopInstaller) Apply(context.Context, nft.Token) (bool, error) { return true, nil }
func (nopInstaller) Reload(context.Context) error                   { return nil }

// A token that becomes active wakes the lifecycle loop once; a superseded
// one does not, and a burst of mints makes one check.
func TestMintWakesTheLifecycle(t *testing.T) {
	poke := make(chan struct{}, 1)
	in := pokingInstaller{nopInstaller{}, poke}
	ctx := context.Background()
	_, _ = in.Apply(ctx, nft.Token{State: nft.State{Status: nft.StatusSuperseded}})
	if len(poke) != 0 {
		t.Fatal("a superseded token woke the loop")
	}
	for range 3 {
		_, _ = in.Apply(ctx, nft.Token{State: nft.State{Status: nft.StatusActive}})
	}
	if len(poke) != 1 {
		t.Fatalf("%d wake-ups pending, want one", len(poke))
	}
}
