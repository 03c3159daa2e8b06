package embedledger_test

import (
	"context"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/srellama/srellama/node/ledger"
)

// BenchmarkTokenMint measures s-528 token mints through the Fabric Gateway
// API with 16 concurrent clients, each its own gRPC connection and
// fabric-gateway client, and reports throughput and latency percentiles.
//
// The timed operation is the mint transaction itself: the Generation:Approve
// that brings a proposal to quorum (2 of 3 members), which validates the
// proposal, records the decision, seals, validates and stores the token with
// its owner and service indexes, closes the request and emits TokenMinted.
// That is the cheapest honest mint — a token cannot exist without a request,
// a proposal and a quorum — and the one to compare with an ERC-721
// MintWithTokenURI. The requests and proposals are prepared, not timed.
// Each mint is a full Submit: endorse (proposal signature verified,
// chaincode run, response signed), submit (envelope and endorsement
// signatures verified), and commit status (waits for the block's fsync).
//
//	go test -run '^$' -bench TokenMint -benchtime 4000x ./node/embedledger/
func BenchmarkTokenMint(b *testing.B) {
	const clients = 16
	l := openConsortium(b, b.TempDir())
	defer l.Close()
	ms := members(b, l)
	for _, m := range ms {
		submitJSON(b, m.admin, nil, "Consortium:RegisterOrganization", m.msp[:4])
	}
	proposals := prepareProposals(b, ms[0], b.N, clients)

	approvers := make([]ledger.Ledger, clients)
	for i := range approvers {
		approvers[i] = connect(b, l, testOrgs[1+i%2], "client", srellamaCC) // Org2 and Org3
	}
	work := make(chan string, len(proposals))
	for _, id := range proposals {
		work <- id
	}
	close(work)
	latencies := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	heightBefore := l.Height()
	cpuBefore := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i, gw := range approvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				t0 := time.Now()
				if _, _, err := gw.Submit(context.Background(), "Generation:Approve", id); err != nil {
					b.Errorf("mint %s: %v", id, err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	reportLatencies(b, time.Since(start), latencies, l.Height()-heightBefore, processCPU()-cpuBefore)
}

// reportLatencies reports throughput (tx/s), latency percentiles and the
// mean block size.
func reportLatencies(b *testing.B, elapsed time.Duration, latencies [][]time.Duration, blocks uint64, cpu time.Duration) {
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 || blocks == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "tx/s")
	b.ReportMetric(percentileMS(all, 0.50), "p50-ms")
	b.ReportMetric(percentileMS(all, 0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/float64(blocks), "tx/block")
	// CPU time of the whole process (clients, gateway, chaincode, commit)
	// per transaction: what bounds throughput on a machine with few cores.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(all)), "cpu-ms/tx")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func percentileMS(sorted []time.Duration, q float64) float64 {
	return float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1000
}

// prepareProposals opens n requests and proposals by m, concurrently.
func prepareProposals(b *testing.B, m member, n, workers int) []string {
	b.Helper()
	ids := make(chan string, n)
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				prop, err := requestAndPropose(m, serviceName(i))
				if err != nil {
					b.Error(err)
					return
				}
				ids <- prop.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	out := make([]string, 0, n)
	for id := range ids {
		out = append(out, id)
	}
	return out
}

func serviceName(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	name := []byte("svc-")
	for {
		name = append(name, letters[i%26])
		i /= 26
		if i == 0 {
			return string(name)
		}
	}
}

// BenchmarkKVPut is the ledger's own overhead: the same 16-client Submit
// loop on a chaincode that writes one small key.
//
//	go test -run '^$' -bench KVPut -benchtime 4000x ./node/embedledger/
func BenchmarkKVPut(b *testing.B) {
	const clients = 16
	l := openLedger(b, b.TempDir(), nil)
	defer l.Close()
	gws := make([]ledger.Ledger, clients)
	for i := range gws {
		gws[i] = connect(b, l, testOrgs[i%3], "client", kvName)
	}
	work := make(chan int, b.N)
	for i := range b.N {
		work <- i
	}
	close(work)
	latencies := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	heightBefore := l.Height()
	cpuBefore := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i, gw := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				t0 := time.Now()
				if _, _, err := gw.Submit(context.Background(), "put", serviceName(n), "v"); err != nil {
					b.Errorf("put: %v", err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	reportLatencies(b, time.Since(start), latencies, l.Height()-heightBefore, processCPU()-cpuBefore)
}
