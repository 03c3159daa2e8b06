package nft_test

import (
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/nft"
)

func TestDefaultAlertPolicyFollowsTheWorkbook(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		period time.Duration
		want   []nft.AlertWindow
	}{
		{30 * day, []nft.AlertWindow{
			{Name: "page-fast", Severity: nft.SeverityPage, LongWindow: "1h", ShortWindow: "5m", BudgetConsumed: 0.02, BurnRate: 14.4},
			{Name: "page-slow", Severity: nft.SeverityPage, LongWindow: "6h", ShortWindow: "30m", BudgetConsumed: 0.05, BurnRate: 6},
			{Name: "ticket-fast", Severity: nft.SeverityTicket, LongWindow: "1d", ShortWindow: "2h", BudgetConsumed: 0.1, BurnRate: 3},
			{Name: "ticket-slow", Severity: nft.SeverityTicket, LongWindow: "3d", ShortWindow: "6h", BudgetConsumed: 0.1, BurnRate: 1},
		}},
		{28 * day, []nft.AlertWindow{
			{Name: "page-fast", Severity: nft.SeverityPage, LongWindow: "1h", ShortWindow: "5m", BudgetConsumed: 0.02, BurnRate: 13.44},
			{Name: "page-slow", Severity: nft.SeverityPage, LongWindow: "6h", ShortWindow: "30m", BudgetConsumed: 0.05, BurnRate: 5.6},
			{Name: "ticket-fast", Severity: nft.SeverityTicket, LongWindow: "1d", ShortWindow: "2h", BudgetConsumed: 0.1, BurnRate: 2.8},
			{Name: "ticket-slow", Severity: nft.SeverityTicket, LongWindow: "3d", ShortWindow: "6h", BudgetConsumed: 0.107142857143, BurnRate: 1},
		}},
		// On a 7-day period the ticket windows would burn below 1; they
		// alert at the sustainable rate instead.
		{7 * day, []nft.AlertWindow{
			{Name: "page-fast", Severity: nft.SeverityPage, LongWindow: "1h", ShortWindow: "5m", BudgetConsumed: 0.02, BurnRate: 3.36},
			{Name: "page-slow", Severity: nft.SeverityPage, LongWindow: "6h", ShortWindow: "30m", BudgetConsumed: 0.05, BurnRate: 1.4},
			{Name: "ticket-fast", Severity: nft.SeverityTicket, LongWindow: "1d", ShortWindow: "2h", BudgetConsumed: 0.142857142857, BurnRate: 1},
			{Name: "ticket-slow", Severity: nft.SeverityTicket, LongWindow: "3d", ShortWindow: "6h", BudgetConsumed: 0.428571428571, BurnRate: 1},
		}},
	}
	for _, tt := range tests {
		got, err := nft.DefaultAlertPolicy(tt.period)
		if err != nil {
			t.Fatalf("DefaultAlertPolicy(%v): %v", tt.period, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("DefaultAlertPolicy(%v) has %d windows, want %d", tt.period, len(got), len(tt.want))
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("DefaultAlertPolicy(%v)[%d]\n got %+v\nwant %+v", tt.period, i, got[i], tt.want[i])
			}
		}
	}
}

func TestDefaultAlertPolicyRefusesPeriodsShorterThanItsWindows(t *testing.T) {
	if _, err := nft.DefaultAlertPolicy(2 * time.Hour); err == nil {
		t.Fatal("a 2h period cannot hold a 6h paging window")
	}
}

func TestErrorBudgetIsTheShortDecimal(t *testing.T) {
	for objective, want := range map[float64]float64{0.999: 0.001, 0.99: 0.01, 0.9995: 0.0005, 0.95: 0.05} {
		if got := nft.ErrorBudget(objective); got != want {
			t.Errorf("ErrorBudget(%v) = %v, want %v", objective, got, want)
		}
	}
}

func TestAlertPolicyForDropsPairsThatCannotFire(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		objective float64
		want      []string
	}{
		{0.999, []string{"page-fast", "page-slow", "ticket-fast", "ticket-slow"}},
		{0.9, []string{"page-slow", "ticket-fast", "ticket-slow"}}, // 14.4 x 0.1 > 1
		{0.5, []string{"ticket-slow"}},                             // only burn rate 1 fits
	}
	for _, tt := range tests {
		policy, err := nft.AlertPolicyFor(30*day, tt.objective)
		if err != nil {
			t.Fatalf("AlertPolicyFor(30d, %v): %v", tt.objective, err)
		}
		var got []string
		for _, w := range policy {
			got = append(got, w.Name)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("AlertPolicyFor(30d, %v) = %v, want %v", tt.objective, got, tt.want)
		}
	}
	// Burn rate 1 fits any objective in (0,1); only a degenerate one has
	// no alert left.
	if _, err := nft.AlertPolicyFor(30*day, 0); err == nil {
		t.Error("an objective of 0 leaves no alert that can fire; want an error")
	}
}
