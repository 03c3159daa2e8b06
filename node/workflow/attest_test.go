package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source/sim"
	"github.com/srellama/srellama/node/workflow"
)

// registrations is a ratio SLO on the AMF's initial registrations: 99% of
// them succeed (about 0.5% fail in a healthy simulated core).
func registrations(t *testing.T) nft.Definition {
	t.Helper()
	d, err := slo.Build(slo.Spec{
		Name: "reginit-success", Description: "initial registrations succeed", Service: "amf", Kind: nft.KindRatio,
		GoodQuery:  `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
		TotalQuery: `sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`,
		Objective:  0.99, Period: "30d",
	}, slo.Draft{Metrics: []nft.Metric{{Name: "fivegs_amffunction_rm_reginitsucc"}, {Name: "fivegs_amffunction_rm_reginitreq"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lifecycleCore is an organization whose AMF loses its AUSF for 15
// minutes on day 4 (every initial registration fails meanwhile) and whose
// AMF degrades lastingly on day 6 (ten times the failures: a release, no
// incident).
func lifecycleCore(t *testing.T) (*sim.Simulator, time.Time) {
	t.Helper()
	origin := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday
	day := 24 * time.Hour
	src, err := sim.New(sim.Config{Org: "Org1MSP", Seed: 3, Start: origin, Services: []string{"amf", "ausf", "udm", "pcf", "smf"},
		Faults: []sim.Fault{{Kind: sim.DependencyFailure, Service: "amf", Dependency: "ausf", Start: origin.Add(4*day + 14*time.Hour),
			Duration: 15 * time.Minute, Intensity: 1}},
		Degradations: []sim.Degradation{{Service: "amf", Start: origin.Add(6 * day), ErrorFactor: 10}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return src, origin
}

// An attestation states, per period, what the SLO's own rules would have
// shown on this organization's data.
func TestMeasureAttestsAPeriod(t *testing.T) {
	src, origin := lifecycleCore(t)
	d := registrations(t)
	b := workflow.SourceBacktest{Source: src, Step: time.Minute}
	day := func(n int) time.Time { return origin.Add(time.Duration(n) * 24 * time.Hour) }
	tests := []struct {
		name                        string
		service                     string
		start                       time.Time
		noData                      bool
		budgetBelow, budgetAbove    float64
		incidents, detected, paged  int
		falsePages                  int
		pagesAtLeast, ticketAtLeast int
	}{
		{name: "a quiet day spends little budget and pages nobody", start: day(3), budgetBelow: 1},
		{name: "the day the AUSF failed: one incident, paged", start: day(4), budgetBelow: 1, incidents: 1, detected: 1, paged: 1, pagesAtLeast: 1},
		{name: "after the lasting shift the objective is missed, with no incident", start: day(7), budgetAbove: 1, ticketAtLeast: 1},
		{name: "a service this organization does not run", service: "upf", start: day(3), noData: true},
		{name: "before the core existed", start: origin.Add(-10 * 24 * time.Hour), noData: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := d
			if tt.service != "" {
				def.SLI.Service = tt.service
			}
			att, err := b.Measure(context.Background(), def, tt.start, tt.start.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if att.PeriodStart != tt.start.Format(time.RFC3339) || att.Objective != 0.99 || att.Name != d.Name {
				t.Fatalf("attestation %+v does not name the period and SLO", att)
			}
			if att.NoData != tt.noData {
				t.Fatalf("no_data %v, want %v (%+v)", att.NoData, tt.noData, att)
			}
			if tt.noData {
				if att.Events != 0 || att.BudgetConsumed != 0 || att.PageAlerts != 0 {
					t.Fatalf("a no-data attestation with figures: %+v", att)
				}
				return
			}
			if att.Events < 1000 || att.Achieved <= 0.9 || att.Achieved > 1 {
				t.Fatalf("events %v, achieved %v: not a day of registrations", att.Events, att.Achieved)
			}
			if want := (1 - att.Achieved) / 0.01; att.BudgetConsumed < want*0.999 || att.BudgetConsumed > want*1.001 {
				t.Fatalf("budget consumed %v, want (1-achieved)/(1-objective) = %v", att.BudgetConsumed, want)
			}
			if tt.budgetBelow > 0 && att.BudgetConsumed >= tt.budgetBelow {
				t.Errorf("budget consumed %.2f, want below %v", att.BudgetConsumed, tt.budgetBelow)
			}
			if tt.budgetAbove > 0 && att.BudgetConsumed <= tt.budgetAbove {
				t.Errorf("budget consumed %.2f, want above %v", att.BudgetConsumed, tt.budgetAbove)
			}
			if att.Incidents != tt.incidents || att.IncidentsDetected != tt.detected || att.IncidentsPaged != tt.paged || att.FalsePages != tt.falsePages {
				t.Errorf("incidents %d detected %d paged %d false pages %d; want %d %d %d %d",
					att.Incidents, att.IncidentsDetected, att.IncidentsPaged, att.FalsePages, tt.incidents, tt.detected, tt.paged, tt.falsePages)
			}
			if att.PageAlerts < tt.pagesAtLeast || att.TicketAlerts < tt.ticketAtLeast {
				t.Errorf("page alerts %d, ticket alerts %d; want at least %d, %d", att.PageAlerts, att.TicketAlerts, tt.pagesAtLeast, tt.ticketAtLeast)
			}
			if tt.pagesAtLeast == 0 && att.PageAlerts != 0 {
				t.Errorf("paged %d times on a day without incident", att.PageAlerts)
			}
		})
	}
}

// The SLO fitted before the shift holds every day before it and is missed
// every day after it, whatever day of the week.
func TestAnSLOFittedBeforeTheShiftIsBreachedAfterIt(t *testing.T) {
	src, origin := lifecycleCore(t)
	b := workflow.SourceBacktest{Source: src, Step: 5 * time.Minute}
	d := registrations(t)
	for n := 1; n < 10; n++ {
		if n == 4 {
			continue // the AUSF incident
		}
		start := origin.Add(time.Duration(n) * 24 * time.Hour)
		att, err := b.Measure(context.Background(), d, start, start.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if breached := att.BudgetConsumed > 1; breached != (n >= 6) {
			t.Errorf("day %d: budget consumed %.2f; want breached only from day 6", n, att.BudgetConsumed)
		}
	}
}

// An availability SLO given as an error ratio counts its events as the
// evaluation steps with data.
func TestMeasureAnErrorRatioSLI(t *testing.T) {
	src, origin := lifecycleCore(t)
	d, err := slo.Build(slo.Spec{
		Name: "up-availability", Description: "amf is up", Service: "amf", Kind: nft.KindAvailability,
		ErrorRatioQuery: `1 - avg(avg_over_time(up{service="amf"}[{{.window}}]))`, Objective: 0.999, Period: "30d",
	}, slo.Draft{Metrics: []nft.Metric{{Name: "up"}}})
	if err != nil {
		t.Fatal(err)
	}
	start := origin.Add(2 * 24 * time.Hour)
	att, err := workflow.SourceBacktest{Source: src, Step: time.Minute}.Measure(context.Background(), d, start, start.Add(6*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if att.NoData || att.Events < 350 || att.Events > 361 || att.Achieved != 1 || att.BudgetConsumed != 0 {
		t.Fatalf("six hours of an AMF always up: %+v", att)
	}
}

// An SLI on metrics this organization does not have is not measurable:
// it is not evidence that the service is gone.
func TestMeasureRefusesAnSLIOnOtherMetrics(t *testing.T) {
	src, origin := lifecycleCore(t)
	d := registrations(t)
	d.SLI.GoodQuery = `sum(rate(vendor_amf_registration_ok_total{service="amf"}[{{.window}}]))`
	d.SLI.TotalQuery = `sum(rate(vendor_amf_registration_total{service="amf"}[{{.window}}]))`
	start := origin.Add(3 * 24 * time.Hour)
	_, err := workflow.SourceBacktest{Source: src, Step: time.Minute}.Measure(context.Background(), d, start, start.Add(24*time.Hour))
	if !errors.Is(err, workflow.ErrNotMeasurable) || !strings.Contains(err.Error(), "vendor_amf_registration_total") {
		t.Fatalf("err = %v, want ErrNotMeasurable naming the metrics", err)
	}
}

// Measuring several periods with one read of the source gives each the
// figures it gets alone.
func TestMeasurePeriodsAgreesWithMeasure(t *testing.T) {
	src, origin := lifecycleCore(t)
	d := registrations(t)
	b := workflow.SourceBacktest{Source: src, Step: 5 * time.Minute}
	var periods []workflow.Period
	for n := 4; n < 8; n++ {
		start := origin.Add(time.Duration(n) * 24 * time.Hour)
		periods = append(periods, workflow.Period{Start: start, End: start.Add(24 * time.Hour)})
	}
	together, err := b.MeasurePeriods(context.Background(), d, periods)
	if err != nil || len(together) != len(periods) {
		t.Fatalf("%d attestations, %v", len(together), err)
	}
	for i, p := range periods {
		alone, err := b.Measure(context.Background(), d, p.Start, p.End)
		if err != nil {
			t.Fatal(err)
		}
		if alone != together[i] {
			t.Errorf("period %s: alone %+v, together %+v", alone.PeriodStart, alone, together[i])
		}
	}
	if _, err := b.MeasurePeriods(context.Background(), d, []workflow.Period{periods[1], periods[0]}); err == nil {
		t.Error("periods out of order were measured")
	}
}
