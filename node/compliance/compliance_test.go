package compliance_test

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/compliance"
)

func att(start, msp string, b float64, nodata bool) records.Attestation {
	return records.Attestation{PeriodStart: start, PeriodEnd: start, MSPID: msp, BudgetConsumed: b, NoData: nodata,
		Incidents: 2, IncidentsDetected: 2, IncidentsPaged: 1}
}

func TestPeriodsAndChart(t *testing.T) {
	atts := []records.Attestation{
		att("2026-11-02T00:00:00Z", "A", 0.4, false),
		att("2026-11-01T00:00:00Z", "A", 2.5, false),
		att("2026-11-01T00:00:00Z", "B", 1.5, false),
		att("2026-11-01T00:00:00Z", "C", 0, true),
		att("2026-11-03T00:00:00Z", "A", 0, true),
		att("2026-11-04T00:00:00Z", "A", 40, false),
	}
	ps := compliance.Periods(atts)
	if len(ps) != 4 || ps[0].Start != "2026-11-01T00:00:00Z" || ps[0].Members != 3 || ps[0].WithData != 2 ||
		ps[0].WorstBudget != 2.5 || ps[0].MeanBudget != 2 || !ps[0].Breached || ps[0].Incidents != 4 || ps[0].Paged != 2 {
		t.Fatalf("periods %+v", ps)
	}
	if ps[1].Breached || ps[2].WithData != 0 {
		t.Fatalf("periods %+v", ps[1:])
	}
	chart := compliance.Chart(ps, 20)
	lines := strings.Split(strings.TrimSpace(chart), "\n")
	want := []string{
		"budget consumed per period (worst member; '|' is the SLO's pace, 1.0; scale 0..10)",
		"2026-11-01  ##|###                 2.5  breached",
		"2026-11-02  # |                    0.4",
		"2026-11-03                         no data",
		"2026-11-04  ##|#################>  40  breached",
	}
	if len(lines) != len(want) {
		t.Fatalf("chart:\n%s", chart)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
}
