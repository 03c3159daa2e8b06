package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

func TestDueRounds(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hourly := records.Schedule{ScheduleSpec: records.ScheduleSpec{ID: "hourly", Start: records.FormatTime(start), CadenceSeconds: 3600}, Status: records.ScheduleActive}
	daily := records.Schedule{ScheduleSpec: records.ScheduleSpec{ID: "daily", Start: records.FormatTime(start.Add(24 * time.Hour)), CadenceSeconds: 86400}, Status: records.ScheduleActive}
	stopped := hourly
	stopped.ID, stopped.Status = "stopped", records.ScheduleStopped
	all := []records.Schedule{hourly, daily, stopped}
	tests := []struct {
		name  string
		now   time.Time
		known []string
		want  []string
	}{
		{"before every start", start.Add(-time.Second), nil, nil},
		{"hourly's first period; daily not started; stopped never", start.Add(time.Minute), nil, []string{"hourly.0"}},
		{"hourly's first period already open", start.Add(59 * time.Minute), []string{"hourly.0"}, nil},
		{"the next period is due although the last is open", start.Add(time.Hour), []string{"hourly.0"}, []string{"hourly.1"}},
		{"both due, in round ID order", start.Add(25 * time.Hour), nil, []string{"daily.0", "hourly.25"}},
		{"one of two open", start.Add(25*time.Hour + 30*time.Minute), []string{"daily.0"}, []string{"hourly.25"}},
		{"a missed period is not opened late", start.Add(50 * time.Hour), []string{"hourly.48"}, []string{"daily.1", "hourly.50"}},
	}
	for _, tt := range tests {
		known := map[string]bool{}
		for _, id := range tt.known {
			known[id] = true
		}
		var got []string
		for _, d := range dueRounds(all, known, tt.now) {
			got = append(got, d.RoundID)
			if records.ScheduledRoundID(d.ScheduleID, d.Period) != d.RoundID {
				t.Errorf("%s: %+v: round ID does not follow from schedule and period", tt.name, d)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: due %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Two nodes' schedulers, on two organizations' client identities, race to
// open the same due round on one embedded ledger: one round opens, one
// node counts it opened, the other raced (a settled refusal, or an MVCC
// conflict retried into one); a later check opens nothing; a stopped
// schedule opens nothing.
func TestSchedulersRaceToOneRound(t *testing.T) {
	ctx := context.Background()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	orgs := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	l, err := embedledger.Open(embedledger.Config{Dir: filepath.Join(t.TempDir(), "ledger"), Channel: "consortium", Orgs: orgs,
		Chaincodes: map[string]shim.Chaincode{"srellama": cc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var clients []*chaincode.Client
	var admin1 *chaincode.Client
	for _, org := range orgs {
		admin, err := l.Connect(ctx, org, "admin", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		client, err := l.Connect(ctx, org, "client", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close(); client.Close() })
		if _, err := chaincode.New(admin).RegisterOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		if admin1 == nil {
			admin1 = chaincode.New(admin)
		}
		clients = append(clients, chaincode.New(client))
	}
	spec := records.ScheduleSpec{
		ID: "hourly", Services: []string{"amf"}, FeatureSetDigest: nft.DigestBytes([]byte("features")), Strategy: "fedavg",
		MinParticipants: 2, Start: records.FormatTime(time.Now().Add(-time.Minute)), CadenceSeconds: 3600, CommitSeconds: 600, RoundSeconds: 1800,
	}
	if _, err := admin1.SetSchedule(ctx, spec); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	var scheds []*scheduler
	for _, c := range clients[:2] {
		scheds = append(scheds, newScheduler(c, time.Now, log, prometheus.NewRegistry()))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(scheds))
	for i, s := range scheds {
		wg.Go(func() { errs[i] = s.check(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	count := func(s *scheduler, outcome string) int {
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.metrics)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == outcome {
						return int(m.GetCounter().GetValue())
					}
				}
			}
		}
		t.Fatalf("no %s series", outcome)
		return 0
	}
	// Exactly one node opened the round; the other raced (or, had the
	// first finished before it listed, found the round open and tried
	// nothing).
	opened := count(scheds[0], "opened") + count(scheds[1], "opened")
	failed := count(scheds[0], "failed") + count(scheds[1], "failed")
	if opened != 1 || failed != 0 {
		t.Fatalf("opened %d, raced %d, failed %d: want exactly one node to open the round", opened,
			count(scheds[0], "raced")+count(scheds[1], "raced"), failed)
	}
	page, err := clients[2].Rounds(ctx, chaincode.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Count != 1 || page.Items[0].ID != "hourly.0" || page.Items[0].ScheduleID != "hourly" || page.Items[0].Period != 0 {
		t.Fatalf("rounds after the race: %+v", page.Items)
	}

	// A third node's scheduler finds the round open and submits nothing.
	third := newScheduler(clients[2], time.Now, log, nil)
	if err := third.check(ctx); err != nil {
		t.Fatal(err)
	}
	if count(third, "opened")+count(third, "raced")+count(third, "failed") != 0 || !third.known["hourly.0"] {
		t.Errorf("the third node tried to open an open round: known %v", third.known)
	}
	// Its direct call is the settled refusal the others treat as done.
	if _, err := clients[2].OpenDueRound(ctx, "hourly"); !records.IsSettled(err) {
		t.Errorf("a second OpenDue: %v, want a settled refusal", err)
	}

	// Two bare OpenDue calls at once: one opens the round; the other is a
	// settled refusal, or, when both were endorsed before either
	// committed, an MVCC conflict whose retry is the settled refusal.
	second := spec
	second.ID = "second"
	if _, err := admin1.SetSchedule(ctx, second); err != nil {
		t.Fatal(err)
	}
	results := make([]error, 2)
	for i := range results {
		wg.Go(func() { _, results[i] = clients[i].OpenDueRound(ctx, "second") })
	}
	wg.Wait()
	ok := 0
	for i, err := range results {
		var invalid *ledger.InvalidTxError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &invalid):
			if _, err := clients[i].OpenDueRound(ctx, "second"); !records.IsSettled(err) {
				t.Errorf("node %d's retry after %v: %v, want a settled refusal", i+1, invalid, err)
			}
		case !records.IsSettled(err):
			t.Errorf("node %d: %v, want success or a settled refusal", i+1, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of two racing OpenDue calls opened the round, want 1: %v", ok, results)
	}

	// A stopped schedule opens nothing, even in a new period.
	if _, err := admin1.StopSchedule(ctx, "hourly", "test over"); err != nil {
		t.Fatal(err)
	}
	later := newScheduler(clients[0], func() time.Time { return time.Now().Add(time.Hour) }, log, nil)
	if err := later.check(ctx); err != nil || count(later, "opened")+count(later, "failed") != 0 {
		t.Errorf("a stopped schedule: %v, opened %d", err, count(later, "opened"))
	}
}
