// Package loadgen drives a ledger with a closed loop of clients, the load
// the throughput benchmarks of the embedded ledger and of a real Fabric
// network apply alike, so that their figures compare.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result is what a run measured.
type Result struct {
	// Latencies are the completed calls' durations, sorted.
	Latencies []time.Duration
	Elapsed   time.Duration
}

// ClosedLoop has the clients work through items concurrently: each client
// takes the next item, calls, waits for the answer and takes the next one,
// so that at most one call per client is in flight. A client whose call
// fails stops; the failures are returned together, with what was measured.
func ClosedLoop[C any](ctx context.Context, clients []C, items []string, call func(context.Context, C, string) error) (Result, error) {
	work := make(chan string, len(items))
	for _, it := range items {
		work <- it
	}
	close(work)
	latencies := make([][]time.Duration, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() {
			for it := range work {
				t0 := time.Now()
				if err := call(ctx, c, it); err != nil {
					errs[i] = fmt.Errorf("client %d, %s: %w", i, it, err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := Result{Latencies: slices.Concat(latencies...), Elapsed: time.Since(start)}
	slices.Sort(r.Latencies)
	return r, errors.Join(errs...)
}

// PerSecond is the completed calls per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// PercentileMS is the latency at quantile q in [0, 1], in milliseconds (the
// nearest rank at or below q); 0 when nothing completed.
func (r Result) PercentileMS(q float64) float64 {
	if len(r.Latencies) == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	return float64(r.Latencies[int(q*float64(len(r.Latencies)-1))].Microseconds()) / 1000
}

// MetricReporter receives a benchmark's figures; *testing.B is one.
type MetricReporter interface {
	ReportMetric(n float64, unit string)
}

// Report writes the figures every throughput benchmark of a ledger gives,
// so that they compare: tx/s, p50 and p99 latency, transactions per block
// over the blocks committed during the run, and the CPU time spent per
// transaction. It reports nothing, and returns false, when no call
// completed or no block was committed.
func (r Result) Report(m MetricReporter, blocks uint64, cpu time.Duration) bool {
	if len(r.Latencies) == 0 || blocks == 0 {
		return false
	}
	n := float64(len(r.Latencies))
	m.ReportMetric(r.PerSecond(), "tx/s")
	m.ReportMetric(r.PercentileMS(0.50), "p50-ms")
	m.ReportMetric(r.PercentileMS(0.99), "p99-ms")
	m.ReportMetric(n/float64(blocks), "tx/block")
	m.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu-ms/tx")
	return true
}
