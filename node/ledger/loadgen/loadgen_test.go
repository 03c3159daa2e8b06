package loadgen_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srellama/srellama/node/ledger/loadgen"
)

// TestClosedLoop: every item is called once, never more calls in flight
// than clients, latencies sorted and counted; a failing client stops and
// its error comes back while the others finish the work.
func TestClosedLoop(t *testing.T) {
	var inFlight, most, calls atomic.Int32
	clients := []int{0, 1, 2}
	items := make([]string, 30)
	for i := range items {
		items[i] = string(rune('a' + i))
	}
	r, err := loadgen.ClosedLoop(context.Background(), clients, items, func(_ context.Context, c int, _ string) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		time.Sleep(time.Millisecond)
		if c == 1 {
			return errors.New("refused")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "client 1") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want client 1's refusal", err)
	}
	if most.Load() > int32(len(clients)) {
		t.Fatalf("%d calls in flight with %d clients", most.Load(), len(clients))
	}
	if int(calls.Load()) != len(items) || len(r.Latencies) != len(items)-1 {
		t.Fatalf("%d calls, %d latencies, for %d items and one failure", calls.Load(), len(r.Latencies), len(items))
	}
	for i := 1; i < len(r.Latencies); i++ {
		if r.Latencies[i] < r.Latencies[i-1] {
			t.Fatal("latencies are not sorted")
		}
	}
	if r.PercentileMS(0) < 1 || r.PercentileMS(1) < r.PercentileMS(0.5) || r.PerSecond() <= 0 {
		t.Fatalf("p0 %v p50 %v p100 %v, %v/s", r.PercentileMS(0), r.PercentileMS(0.5), r.PercentileMS(1), r.PerSecond())
	}
}

func TestEmptyResult(t *testing.T) {
	var r loadgen.Result
	if r.PercentileMS(0.99) != 0 || r.PerSecond() != 0 {
		t.Fatal("an empty result reports figures")
	}
}

type metrics map[string]float64

func (m metrics) ReportMetric(n float64, unit string) { m[unit] = n }

// TestReport: the shared figures come from the result, the blocks and the
// CPU time; nothing is reported for a run that completed nothing.
func TestReport(t *testing.T) {
	r := loadgen.Result{Elapsed: 2 * time.Second}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	got := metrics{}
	if !r.Report(got, 10, 500*time.Millisecond) {
		t.Fatal("a run with calls and blocks reported nothing")
	}
	want := metrics{"tx/s": 50, "p50-ms": 50, "p99-ms": 99, "tx/block": 10, "cpu-ms/tx": 5}
	for unit, v := range want {
		if got[unit] != v {
			t.Errorf("%s = %v, want %v", unit, got[unit], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("reported %v, want only %v", got, want)
	}
	for name, run := range map[string]struct {
		r      loadgen.Result
		blocks uint64
	}{"no calls": {loadgen.Result{Elapsed: time.Second}, 3}, "no blocks": {r, 0}} {
		empty := metrics{}
		if run.r.Report(empty, run.blocks, time.Second) || len(empty) > 0 {
			t.Errorf("%s: reported %v", name, empty)
		}
	}
}
