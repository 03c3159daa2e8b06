package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/loadgen"
)

// benchPortBase keeps the benchmark's network clear of the test's.
const benchPortBase = 28000

// benchClients is the number of concurrent clients, each with its own
// connection, as in the embedded ledger's benchmarks
// (node/embedledger/bench_test.go), so the figures compare.
const benchClients = 16

// BenchmarkFabricMint measures s-528 token mints through the Fabric Gateway
// on the three-organization network of scripts/network.sh, and in the same
// run the network's ceiling: a chaincode (test/kvput) whose transaction
// writes one key, served the same way on the same network.
//
// The timed mint is the Generation:Approve that brings a proposal to
// quorum, as in the embedded ledger's BenchmarkTokenMint; requests and
// proposals are prepared untimed. Every transaction is a full Submit:
// endorsed by two organizations' peers (the MAJORITY policy), ordered by
// Raft, validated and committed by every peer, and waited for.
//
//	FABRIC_BIN=... go test -run '^$' -bench FabricMint -benchtime 400x ./test/
func BenchmarkFabricMint(b *testing.B) {
	n := startNetwork(b, benchPortBase)
	if err := n.script("deploy", "kvput", "./test/kvput"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	proposer := member{admin: n.dial(b, "Org1MSP", true, ""), client: n.dial(b, "Org1MSP", false, ""), msp: "Org1MSP"}
	for _, org := range orgs {
		if _, _, err := n.dial(b, org, true, "").Submit(ctx, "Consortium:RegisterOrganization", strings.TrimSuffix(org, "MSP")); err != nil {
			b.Fatal(err)
		}
	}
	chain := n.dial(b, "Org1MSP", false, "qscc")
	run := 0 // distinguishes the keys and services of successive runs

	b.Run("mint", func(b *testing.B) {
		run++
		proposals := prepareProposals(b, proposer, run, b.N)
		approvers := connectClients(b, n, "", func(i int) string { return orgs[1+i%2] }) // Org2 and Org3
		runClients(b, n, chain, approvers, proposals, func(ctx context.Context, gw ledger.Ledger, id string) error {
			_, _, err := gw.Submit(ctx, "Generation:Approve", id)
			return err
		})
	})
	b.Run("kvput", func(b *testing.B) {
		run++
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d-%d", run, i)
		}
		clients := connectClients(b, n, "kvput", func(i int) string { return orgs[i%3] })
		runClients(b, n, chain, clients, keys, func(ctx context.Context, gw ledger.Ledger, key string) error {
			_, _, err := gw.Submit(ctx, "KV:Put", key, "v")
			return err
		})
	})
}

// member is one organization's two identities.
type member struct {
	admin, client ledger.Ledger
	msp           string
}

// prepareProposals opens n generation requests (an admin's transaction)
// and proposes a definition for each (a client's), with benchClients
// workers, and returns the proposal IDs.
func prepareProposals(b *testing.B, m member, run, n int) []string {
	b.Helper()
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for i := range jobs {
				id, err := requestAndPropose(m, fmt.Sprintf("svc-%d-%d", run, i))
				if err != nil {
					b.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	if b.Failed() {
		b.FailNow()
	}
	out := make([]string, 0, n)
	for id := range ids {
		out = append(out, id)
	}
	return out
}

func requestAndPropose(m member, service string) (string, error) {
	ctx := context.Background()
	def := nfttest.Definition(service, m.msp)
	spec, err := json.Marshal(records.RequestSpec{Service: service, SLIs: def.SLI.Metrics})
	if err != nil {
		return "", err
	}
	raw, _, err := m.admin.Submit(ctx, "Generation:Request", string(spec))
	if err != nil {
		return "", fmt.Errorf("request for %s: %w", service, err)
	}
	var req records.GenerationRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return "", err
	}
	def.Provenance.GenerationRequestID = req.ID
	canon, err := nft.Canonical(def)
	if err != nil {
		return "", err
	}
	if raw, _, err = m.client.Submit(ctx, "Generation:Propose", req.ID, string(canon)); err != nil {
		return "", fmt.Errorf("proposal for %s: %w", service, err)
	}
	var prop records.Proposal
	if err := json.Unmarshal(raw, &prop); err != nil {
		return "", err
	}
	return prop.ID, nil
}

// connectClients opens benchClients client connections, client i to the
// peer of org(i).
func connectClients(b *testing.B, n *network, chaincode string, org func(i int) string) []ledger.Ledger {
	b.Helper()
	out := make([]ledger.Ledger, benchClients)
	for i := range out {
		out[i] = n.dial(b, org(i), false, chaincode)
	}
	return out
}

// runClients has the clients work through items in a closed loop and
// reports the figures.
func runClients(b *testing.B, n *network, chain ledger.Ledger, clients []ledger.Ledger, items []string, call func(context.Context, ledger.Ledger, string) error) {
	heightBefore := height(b, chain)
	cpuBefore := networkCPU(b, n)
	b.ResetTimer()
	r, err := loadgen.ClosedLoop(context.Background(), clients, items, call)
	b.StopTimer()
	if err != nil {
		b.Error(err)
	}
	// CPU time of every process on the network (orderer, peers, chaincode
	// servers, and this one with the clients).
	cpu := networkCPU(b, n) - cpuBefore
	r.Report(b, height(b, chain)-heightBefore, cpu)
}

// height is the channel's block count, from the peer's query system
// chaincode.
func height(b *testing.B, chain ledger.Ledger) uint64 {
	b.Helper()
	raw, err := chain.Evaluate(context.Background(), "GetChainInfo", "consortium")
	if err != nil {
		b.Fatalf("chain info: %v", err)
	}
	var info common.BlockchainInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		b.Fatalf("chain info: %v", err)
	}
	return info.GetHeight()
}

// networkCPU is the CPU time used so far by this process and by every
// process the network script started.
func networkCPU(b *testing.B, n *network) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for name, pid := range n.pids(b) {
		t, err := processCPU(pid)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		total += t
	}
	return total
}

// processCPU reads a process's user and system time from /proc. Linux
// reports them in clock ticks of USER_HZ, which is 100 on its common
// platforms (amd64, arm64).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesized command name: state is the first,
	// utime the 12th, stime the 13th.
	i := strings.LastIndexByte(string(raw), ')')
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
