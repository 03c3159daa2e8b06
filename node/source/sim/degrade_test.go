package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

// failureRatio is 1 − succ/req of the AMF's initial registrations over
// the samples [from, to) of a fetch of both counters.
func failureRatio(req, succ []float64, from, to int) float64 {
	dr, ds := req[to-1]-req[from], succ[to-1]-succ[from]
	return 1 - ds/dr
}

// A degradation is a lasting shift, not a fault: before it the samples are
// those of its twin without it, after it the AMF fails several times as
// often for as long as one looks, other services are untouched, and no
// incident names it.
func TestDegradationIsALastingShiftNotAnIncident(t *testing.T) {
	shift := origin.Add(30 * time.Hour)
	plain := fullConfig()
	degraded := fullConfig()
	degraded.Degradations = []Degradation{{Service: AMF, Start: shift, ErrorFactor: 10}}
	r := source.Range{Start: origin, End: origin.Add(72 * time.Hour), Step: time.Minute}
	base, deg := newSim(t, plain), newSim(t, degraded)
	ids := allIDs(t, base)
	a, b := fetch(t, base, ids, r), fetch(t, deg, ids, r)
	at := int(shift.Sub(r.Start) / r.Step)
	for i := range a {
		svc := a[i].Info.Labels["service"]
		if !sameValues(a[i].Values[:at], b[i].Values[:at]) {
			t.Errorf("%s differs before the degradation", ids[i])
		}
		if svc != AMF && !sameValues(a[i].Values, b[i].Values) {
			t.Errorf("%s of %s moved: an error factor on the AMF moves only the AMF", ids[i], svc)
		}
	}
	counters := fetch(t, deg, []string{`fivegs_amffunction_rm_reginitreq{service="amf"}`, `fivegs_amffunction_rm_reginitsucc{service="amf"}`}, r)
	req, succ := counters[0].Values, counters[1].Values
	before := failureRatio(req, succ, 60, at)
	for _, day := range []int{at + 60, at + 24*60, at + 36*60} { // right after, a day after, later still
		after := failureRatio(req, succ, day, min(day+12*60, len(req)))
		if after < 5*before {
			t.Errorf("failure ratio %.4f at +%dm after the shift, %.4f before: want the shift to last", after, day-at, before)
		}
	}
	for _, svc := range deg.Config().Services {
		incs, err := deg.Incidents(context.Background(), svc, origin, r.End)
		if err != nil || len(incs) != 0 {
			t.Errorf("incidents of %s: %v, %v; a degradation is no incident", svc, incs, err)
		}
	}
	// Stable across calls: a later sub-range sampled alone is the same.
	sub := source.Range{Start: shift.Add(10 * time.Hour), End: shift.Add(11 * time.Hour), Step: time.Minute}
	again := fetch(t, deg, ids[:3], sub)
	from := int(sub.Start.Sub(r.Start) / r.Step)
	for i := range again {
		if !sameValues(again[i].Values, b[i].Values[from:from+61]) {
			t.Errorf("%s: a later fetch of the degraded core differs", ids[i])
		}
	}
}

// Added latency slows the service's answers from the shift on.
func TestDegradationAddsLatency(t *testing.T) {
	shift := origin.Add(12 * time.Hour)
	cfg := fullConfig()
	cfg.Degradations = []Degradation{{Service: AMF, Start: shift, AddedLatency: 200 * time.Millisecond}}
	r := source.Range{Start: origin, End: origin.Add(24 * time.Hour), Step: time.Minute}
	s := newSim(t, cfg)
	out := fetch(t, s, []string{`sbi_server_request_duration_seconds_sum{service="amf"}`, `sbi_server_request_duration_seconds_count{service="amf"}`}, r)
	sum, count := out[0].Values, out[1].Values
	at := int(shift.Sub(r.Start) / r.Step)
	mean := func(from, to int) float64 { return (sum[to-1] - sum[from]) / (count[to-1] - count[from]) }
	before, after := mean(60, at), mean(at+1, len(sum))
	if after < before+0.15 {
		t.Errorf("mean latency %.3fs before, %.3fs after 200ms were added", before, after)
	}
}

func TestBadDegradationIsRefused(t *testing.T) {
	cases := []struct {
		name string
		d    Degradation
		want string
	}{
		{"absent service", Degradation{Service: SMF, Start: origin, ErrorFactor: 2}, "does not run"},
		{"no start", Degradation{Service: AMF, ErrorFactor: 2}, "start"},
		{"factor below one", Degradation{Service: AMF, Start: origin, ErrorFactor: 0.5}, "error factor"},
		{"absurd factor", Degradation{Service: AMF, Start: origin, ErrorFactor: 1e6}, "error factor"},
		{"negative latency", Degradation{Service: AMF, Start: origin, AddedLatency: -time.Second}, "latency"},
		{"no change", Degradation{Service: AMF, Start: origin, ErrorFactor: 1}, "changes nothing"},
	}
	for _, tc := range cases {
		_, err := New(Config{Start: origin, Services: []string{AMF}, Degradations: []Degradation{tc.d}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
