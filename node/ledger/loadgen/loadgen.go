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
