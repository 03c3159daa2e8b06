package embedledger_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/ledger"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Flood parameters: what took the unbounded ledger from 114 MB to 2.6 GB.
const (
	floodStreams  = 192
	floodBytes    = 3_900_000
	floodDuration = 10 * time.Second
	honestClients = 4
)

// BenchmarkFloodUnauthenticated floods a standalone ledger (a child
// process, so that its memory is its own) with 192 concurrent Endorse
// requests of 3.9 MB of garbage, over TLS, from no identity, each stream on
// its own connection and sending again as soon as it is refused, for 10 s,
// while four honest clients submit transactions (after 3 s alone, whose
// p99 is quiet-p99-ms). It reports the ledger's peak resident memory
// (VmHWM), its resident memory 5 s after the flood, the honest clients'
// latency and errors during the flood, and how the flood's requests were
// answered. "unbounded" serves with gRPC's defaults, as before
// Limits; "default-limits" with DefaultLimits. Run it once:
//
//	go test -run '^$' -bench FloodUnauthenticated -benchtime 1x ./node/embedledger/
func BenchmarkFloodUnauthenticated(b *testing.B) {
	for _, mode := range []string{"unbounded", "default-limits"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			srv := startFloodServer(b, dir, mode)
			honest := make([]ledger.Ledger, honestClients)
			for i := range honest {
				gw, err := ledger.Dial(ledgerConfigFor(dir, testOrgs[i%3], srv.addr))
				if err != nil {
					b.Fatal(err)
				}
				defer gw.Close()
				honest[i] = gw
			}
			// The honest clients work for 3 s alone (their connections are
			// then established, as a node's are), then during the flood.
			quiet, cancelQuiet := context.WithTimeout(context.Background(), 3*time.Second)
			quietLat, _ := honestLoad(quiet, honest)
			cancelQuiet()
			idle := srv.rssMB(b, "VmRSS")

			ctx, stop := context.WithTimeout(context.Background(), floodDuration)
			defer stop()
			var outcome floodOutcome
			var wg sync.WaitGroup
			for range floodStreams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					flood(ctx, b, srv.addr, dir, &outcome)
				}()
			}
			lat, errs := honestLoad(ctx, honest)
			wg.Wait()
			peak := srv.rssMB(b, "VmHWM")
			time.Sleep(5 * time.Second)
			after := srv.rssMB(b, "VmRSS")

			b.ReportMetric(idle, "idle-rss-MB")
			b.ReportMetric(peak, "peak-rss-MB")
			b.ReportMetric(after, "rss-5s-after-MB")
			b.ReportMetric(float64(errs), "honest-errors")
			if len(quietLat) > 0 {
				b.ReportMetric(ms(quietLat[len(quietLat)*99/100]), "quiet-p99-ms")
				b.ReportMetric(float64(len(quietLat))/3, "quiet-tx/s")
			}
			b.ReportMetric(float64(len(lat))/floodDuration.Seconds(), "flood-tx/s")
			if len(lat) > 0 {
				b.ReportMetric(ms(lat[len(lat)/2]), "honest-p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "honest-p99-ms")
			}
			b.ReportMetric(float64(outcome.refusedUnread.Load()), "flood-refused-unread")
			b.ReportMetric(float64(outcome.refusedRead.Load()), "flood-refused-after-reading")
			b.ReportMetric(float64(outcome.unconnected.Load()), "flood-unconnected")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ledgerConfigFor(dir, org, addr string) ledger.Config {
	return ledger.Config{
		Endpoint: addr, ServerName: "localhost", TLSRootCert: dir + "/tls/ca-cert.pem", MSPID: org,
		Cert: dir + "/orgs/" + org + "/client/cert.pem", Key: dir + "/orgs/" + org + "/client/key.pem",
		Channel: testChannel, Chaincode: kvName,
	}
}

// honestLoad submits puts in closed loops until ctx ends.
func honestLoad(ctx context.Context, clients []ledger.Ledger) ([]time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				start := time.Now()
				_, _, err := c.Submit(context.Background(), "put", fmt.Sprintf("k%d-%d", i, n), "v")
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, errs
}

// floodOutcome counts the flood's requests by how the ledger answered:
// refused before reading (ResourceExhausted), refused after reading the
// request (its identity or content), or not reached (the connection was
// refused).
type floodOutcome struct{ refusedUnread, refusedRead, unconnected atomic.Uint64 }

// flood sends garbage Endorse requests on a connection of its own until
// ctx ends.
func flood(ctx context.Context, b *testing.B, addr, dir string, outcome *floodOutcome) {
	creds, err := credentials.NewClientTLSFromFile(dir+"/tls/ca-cert.pem", "localhost")
	if err != nil {
		b.Error(err)
		return
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		b.Error(err)
		return
	}
	defer conn.Close()
	garbage := make([]byte, floodBytes)
	rand.Read(garbage)
	req := &gwproto.EndorseRequest{TransactionId: "flood", ChannelId: testChannel,
		ProposedTransaction: &peer.SignedProposal{ProposalBytes: garbage, Signature: garbage[:72]}}
	client := gwproto.NewGatewayClient(conn)
	for ctx.Err() == nil {
		_, err := client.Endorse(ctx, req)
		if ctx.Err() != nil {
			return
		}
		switch status.Code(err) {
		case codes.OK:
			b.Error("a garbage endorsement was accepted")
			return
		case codes.ResourceExhausted:
			outcome.refusedUnread.Add(1)
		case codes.Unavailable:
			outcome.unconnected.Add(1)
			time.Sleep(10 * time.Millisecond) // as a client's reconnection backoff would
		default:
			outcome.refusedRead.Add(1)
		}
	}
}

type floodServer struct {
	pid  int
	addr string
}

// startFloodServer runs TestFloodServer in a child process.
func startFloodServer(b *testing.B, dir, mode string) floodServer {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFloodServer$")
	cmd.Env = append(os.Environ(), "SRELLAMA_FLOOD_SERVER="+mode, "SRELLAMA_FLOOD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return floodServer{pid: cmd.Process.Pid, addr: addr}
		}
	}
	b.Fatal("the flood server did not start")
	return floodServer{}
}

// rssMB reads a memory figure of the server from /proc.
func (s floodServer) rssMB(b *testing.B, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, s.pid)
	return 0
}

// TestFloodServer is the flood benchmark's ledger, run in a child process;
// it is skipped otherwise.
func TestFloodServer(t *testing.T) {
	mode := os.Getenv("SRELLAMA_FLOOD_SERVER")
	if mode == "" {
		t.Skip("the flood benchmark's server process")
	}
	l := openLedger(t, os.Getenv("SRELLAMA_FLOOD_DIR"), nil)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { bufio.NewReader(os.Stdin).ReadByte(); cancel() }()
	ready := func(addr string) { fmt.Printf("serving %s\n", addr) }
	var err error
	if mode == "unbounded" {
		err = l.ServeUnbounded(ctx, ready)
	} else {
		err = l.ServeGateway(ctx, "127.0.0.1:0", kvName, ready)
	}
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}
