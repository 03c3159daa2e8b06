package records

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPeriodAt(t *testing.T) {
	s := ScheduleSpec{Start: "2026-01-01T00:00:00.5Z", CadenceSeconds: 3600}
	start, _ := ParseTime(s.Start)
	tests := []struct {
		name string
		at   time.Time
		k    int64
		ok   bool
	}{
		{"before the start", start.Add(-time.Nanosecond), 0, false},
		{"at the start", start, 0, true},
		{"a nanosecond before period 1", start.Add(time.Hour - time.Nanosecond), 0, true},
		{"at period 1", start.Add(time.Hour), 1, true},
		{"half a second into period 1 from a whole second", time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC), 0, true},
		{"a year on", start.Add(365 * 24 * time.Hour), 365 * 24, true},
		{"in another zone", start.Add(90 * time.Minute).In(time.FixedZone("x", 5*3600)), 1, true},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), (253402300799 - 1767225600 - 1) / 3600, true},
	}
	for _, tt := range tests {
		k, ok := s.PeriodAt(tt.at)
		if k != tt.k || ok != tt.ok {
			t.Errorf("%s: PeriodAt = %d, %v; want %d, %v", tt.name, k, ok, tt.k, tt.ok)
		}
		if ok && (s.PeriodStart(k).After(tt.at) || !s.PeriodStart(k+1).After(tt.at)) {
			t.Errorf("%s: %v is not in [%v, %v)", tt.name, tt.at, s.PeriodStart(k), s.PeriodStart(k+1))
		}
	}
	if _, ok := (ScheduleSpec{Start: "soon", CadenceSeconds: 60}).PeriodAt(start); ok {
		t.Error("a start that does not parse has a period")
	}
}

func TestScheduledRoundID(t *testing.T) {
	if got := ScheduledRoundID("daily.amf", 12); got != "daily.amf.12" {
		t.Errorf("got %q", got)
	}
	// The longest schedule ID with the largest period is still a round ID.
	long := strings.Repeat("a", MaxScheduleIDLen)
	spec := ScheduleSpec{ID: long}.RoundSpec(1<<63-1, time.Unix(0, 0))
	if len(spec.ID) > 128 {
		t.Errorf("round ID %q longer than a name", spec.ID)
	}
}

func TestUndeclaredServices(t *testing.T) {
	orgs := []Organization{{MSPID: "A", Services: []string{"smf", "amf"}}, {MSPID: "B"}, {MSPID: "C", Services: []string{"upf"}}}
	missing, declared := UndeclaredServices([]string{"amf", "nrf", "upf", "xyz"}, orgs)
	if !slices.Equal(missing, []string{"nrf", "xyz"}) || !slices.Equal(declared, []string{"amf", "smf", "upf"}) {
		t.Errorf("missing %v declared %v", missing, declared)
	}
	if missing, _ := UndeclaredServices([]string{"xyz"}, []Organization{{MSPID: "A"}}); missing != nil {
		t.Errorf("with nobody declaring, %v refused", missing)
	}
}

func TestParseServiceList(t *testing.T) {
	got, err := ParseServiceList(`["smf","amf","smf"]`)
	if err != nil || !slices.Equal(got, []string{"amf", "smf"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{`"amf"`, `["AMF"]`, `[""]`, `null x`} {
		if _, err := ParseServiceList(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
