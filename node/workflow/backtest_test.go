package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source/sim"
	"github.com/srellama/srellama/node/workflow"
)

// TestSourceBacktestJudgesOnlyIncidentsAfterTheWarmup: the first day of the
// history only fills the alert windows, so an incident over by then cannot
// be detected and is not counted; a ten-minute outage after it is, and the
// availability SLO pages for it.
func TestSourceBacktestJudgesOnlyIncidentsAfterTheWarmup(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(3 * 24 * time.Hour)
	src, err := sim.New(sim.Config{Org: "Org1MSP", Seed: 1, Start: start, Services: []string{"amf"}, Faults: []sim.Fault{
		{Kind: sim.PodFailure, Service: "amf", Start: start.Add(6 * time.Hour), Duration: 10 * time.Minute, Intensity: 1},
		{Kind: sim.PodFailure, Service: "amf", Start: start.Add(50 * time.Hour), Duration: 10 * time.Minute, Intensity: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := slo.Build(slo.Spec{
		Name: "up-availability", Description: "amf is up", Service: "amf", Kind: nft.KindAvailability,
		ErrorRatioQuery: `1 - avg(avg_over_time(up{service="amf"}[{{.window}}]))`,
		Objective:       0.999, Period: "30d",
	}, slo.Draft{Metrics: []nft.Metric{{Name: "up"}}})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := workflow.SourceBacktest{Source: src, History: 3 * 24 * time.Hour, Step: time.Minute, Now: func() time.Time { return now }}.Run(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	incs := replay.Report.Incidents
	if len(incs) != 1 || len(replay.Incidents) != 1 || !incs[0].Start.Equal(start.Add(50*time.Hour)) {
		t.Fatalf("judged incidents %+v; want only the outage after the first day", incs)
	}
	if !incs[0].Detected || incs[0].PageDelay < 0 {
		t.Fatalf("the outage after the warmup: %+v; want it paged", incs[0])
	}
	if incs[0].BudgetBurned < replay.Report.PageBurn {
		t.Fatalf("a ten-minute outage burned %v of the budget, under the page pairs' %v", incs[0].BudgetBurned, replay.Report.PageBurn)
	}
}
