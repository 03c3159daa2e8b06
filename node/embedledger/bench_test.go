package embedledger_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/loadgen"
)

// benchClients is the number of concurrent clients, each with its own
// connection and fabric-gateway client.
const benchClients = 16

// transports are the two ways a node reaches the embedded ledger.
var transports = []string{"in-process", "tls-loopback"}

// BenchmarkTokenMint measures s-528 token mints through the Fabric Gateway
// API with 16 concurrent clients, and reports throughput, latency
// percentiles, block size and CPU per transaction.
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
//	go test -run '^$' -bench TokenMint -benchtime 3000x ./node/embedledger/
func BenchmarkTokenMint(b *testing.B) {
	for _, transport := range transports {
		b.Run(transport, func(b *testing.B) {
			l := openConsortium(b, b.TempDir())
			defer l.Close()
			ms := members(b, l)
			for _, m := range ms {
				submitJSON(b, m.admin, nil, "Consortium:RegisterOrganization", m.msp[:4])
			}
			proposals := prepareProposals(b, ms[0], b.N, benchClients)
			approvers := benchConnect(b, l, transport, srellamaCC, func(i int) string { return testOrgs[1+i%2] }) // Org2 and Org3
			runClients(b, l, approvers, proposals, func(ctx context.Context, gw ledger.Ledger, id string) error {
				_, _, err := gw.Submit(ctx, "Generation:Approve", id)
				return err
			})
		})
	}
}

// BenchmarkKVPut is the ledger's own cost: the same 16-client Submit loop
// on a chaincode that writes one small key.
//
//	go test -run '^$' -bench KVPut -benchtime 5000x ./node/embedledger/
func BenchmarkKVPut(b *testing.B) {
	for _, transport := range transports {
		b.Run(transport, func(b *testing.B) {
			l := openLedger(b, b.TempDir(), nil)
			defer l.Close()
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = serviceName(i)
			}
			gws := benchConnect(b, l, transport, kvName, func(i int) string { return testOrgs[i%3] })
			runClients(b, l, gws, keys, func(ctx context.Context, gw ledger.Ledger, key string) error {
				_, _, err := gw.Submit(ctx, "put", key, "v")
				return err
			})
		})
	}
}

// benchConnect opens benchClients client connections, in-process or over
// TLS to the ledger served on a loopback port.
func benchConnect(b *testing.B, l *embedledger.Ledger, transport, chaincode string, org func(i int) string) []ledger.Ledger {
	b.Helper()
	out := make([]ledger.Ledger, benchClients)
	if transport == "in-process" {
		for i := range out {
			out[i] = connect(b, l, org(i), "client", chaincode)
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- l.ServeGateway(ctx, "127.0.0.1:0", chaincode, func(addr string) { ready <- addr }) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	for i := range out {
		gw, err := ledger.Dial(l.ConnectionConfig(org(i), "client", addr, chaincode))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = gw
	}
	b.Cleanup(func() {
		for _, gw := range out {
			gw.Close()
		}
		cancel()
		<-done
	})
	return out
}

// runClients has the clients work through items in a closed loop and
// reports the figures.
func runClients(b *testing.B, l *embedledger.Ledger, clients []ledger.Ledger, items []string, call func(context.Context, ledger.Ledger, string) error) {
	heightBefore := l.Height()
	statsBefore := l.Stats()
	cpuBefore := processCPU()
	b.ResetTimer()
	r, err := loadgen.ClosedLoop(context.Background(), clients, items, call)
	b.StopTimer()
	if err != nil {
		b.Error(err)
	}
	// CPU time of the whole process (clients, gateway, chaincode, commit):
	// what bounds throughput on a machine with few cores.
	cpu := processCPU() - cpuBefore
	blocks := l.Height() - heightBefore
	if !r.Report(b, blocks, cpu) {
		return
	}
	// The committer is serial: its busy share says whether it is the
	// bottleneck.
	commit := l.Stats().CommitTime - statsBefore.CommitTime
	b.ReportMetric(float64(commit.Microseconds())/1000/float64(blocks), "commit-ms/block")
	b.ReportMetric(100*commit.Seconds()/r.Elapsed.Seconds(), "committer-busy-%")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
