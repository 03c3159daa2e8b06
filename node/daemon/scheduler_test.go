package daemon_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// The nodes declare their sources' services at start-up, and their
// scheduler loops open a schedule's due round: one round, opened by one
// node, the others counting a race; a service no node runs is refused.
func TestNodesOpenScheduledRounds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, sites := startConsortium(t, ctx, func(s *site) { s.cfg.Lifecycle.ScheduleCheck = "1s" })
	waitRegistered(t, ctx, sites[0].admin)
	cc := chaincode.New(sites[0].admin)

	// Every node declared what its simulator runs.
	var union []string
	for _, s := range sites {
		org, err := cc.GetOrganization(ctx, s.cfg.Organization)
		if err != nil {
			t.Fatal(err)
		}
		served := s.served(t, ctx)
		slices.Sort(served)
		if !slices.Equal(org.Services, served) {
			t.Errorf("%s declared %v, runs %v", s.cfg.Organization, org.Services, served)
		}
		union = append(union, served...)
	}
	slices.Sort(union)
	union = slices.Compact(union)

	spec := records.ScheduleSpec{
		ID: "every-hour", Services: union[:1], FeatureSetDigest: featureSet(t), Strategy: "median",
		MinParticipants: 2, Start: records.FormatTime(time.Now().Add(-time.Minute)), CadenceSeconds: 3600,
		CommitSeconds: 600, RoundSeconds: 1800,
	}
	bad := spec
	bad.ID, bad.Services = "nowhere", []string{"no-such-service"}
	if _, err := cc.SetSchedule(ctx, bad); err == nil {
		t.Fatal("a schedule on a service no node runs was accepted")
	}
	if _, err := cc.SetSchedule(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var round records.Round
	waitFor(t, "the scheduled round to open", 30*time.Second, func() bool {
		r, err := cc.Round(ctx, "every-hour.0")
		round = r
		return err == nil
	})
	if round.ScheduleID != "every-hour" || round.Period != 0 || round.Status == "" {
		t.Errorf("round %+v", round)
	}
	// Give every node a check after the round opened, then count.
	time.Sleep(2500 * time.Millisecond)
	opened, failed := 0, 0
	counter := regexp.MustCompile(`srellama_scheduled_rounds_total\{outcome="(opened|raced|failed)"\} (\d+)`)
	for _, s := range sites {
		for _, m := range counter.FindAllStringSubmatch(metricsOf(t, s), -1) {
			n, _ := strconv.Atoi(m[2])
			switch m[1] {
			case "opened":
				opened += n
			case "failed":
				failed += n
			}
		}
	}
	if opened != 1 || failed != 0 {
		t.Errorf("opened %d, failed %d across the nodes; want one opening and no failure", opened, failed)
	}
	page, err := cc.Rounds(ctx, chaincode.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Count != 1 {
		t.Errorf("%d rounds on the ledger, want the one scheduled", page.Count)
	}
}
