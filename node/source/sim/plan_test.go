package sim

import (
	"strings"
	"testing"
	"time"
)

// The densest plan a node may ask for (96 a day over 98 days) is made quickly and keeps faults on one service
// apart; past the bound, Plan refuses instead of spinning.
func TestPlanIsBoundedAndFast(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(98 * 24 * time.Hour)
	began := time.Now()
	cfg, err := Plan("Org1MSP", 1, start, end, 96)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Fatalf("planning %d faults took %v", len(cfg.Faults), took)
	}
	last := map[string]time.Time{}
	for _, f := range cfg.Faults { // sorted by start
		if f.Start.Before(last[f.Service]) {
			t.Fatalf("fault on %s at %v overlaps the one before", f.Service, f.Start)
		}
		last[f.Service] = f.End()
	}
	if len(cfg.Faults) < 1000 {
		t.Fatalf("only %d faults planned", len(cfg.Faults))
	}
	for _, perDay := range []float64{maxFaultsPerDay + 1, 100000, -1} {
		if _, err := Plan("Org1MSP", 1, start, end, perDay); err == nil || !strings.Contains(err.Error(), "faults per day") {
			t.Fatalf("%v faults a day: %v", perDay, err)
		}
	}
}
