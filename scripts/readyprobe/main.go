// Command readyprobe tells when a Fabric network can take the consortium's
// transactions: through each organization's gateway in turn, it submits a
// transaction that the chaincode's endorsement policy (a majority of the
// organizations) must endorse, and waits for it to commit as valid. It
// retries until every gateway has succeeded once, or the timeout passes.
//
// scripts/network.sh runs it as the last step of up. A peer's gateway plans
// endorsements from what gossip has told it about the other
// organizations' peers; for some seconds after the peers join the channel
// that is not enough, and the gateway refuses with "no combination of peers
// can be derived which satisfy the endorsement policy". The peers' health
// checks and a query on each peer pass long before.
//
// The transaction calls contract-api's GetMetadata, which every contract
// has and which writes nothing: it is ordered and committed like any
// other, and changes no state.
//
//	readyprobe [-timeout 2m] [-interval 500ms] CONNECTION.json...
//
// Each CONNECTION is a node ledger connection file (see node/ledger.Config).
// Exit status 0 when every gateway committed one, 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/srellama/srellama/node/ledger"
)

// probeFn writes nothing and exists in every contract-api chaincode.
const probeFn = "org.hyperledger.fabric:GetMetadata"

func main() {
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long, for all gateways together")
	interval := flag.Duration("interval", 500*time.Millisecond, "wait between attempts")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: readyprobe [-timeout 2m] [-interval 500ms] CONNECTION.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *timeout <= 0 || *interval <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	for _, path := range flag.Args() {
		if err := probe(ctx, path, *interval, start); err != nil {
			fmt.Fprintf(os.Stderr, "readyprobe: %v\n", err)
			os.Exit(1)
		}
	}
}

// probe submits through the gateway of one connection until a submit
// commits as valid. The probe's own loop retries, so each attempt is a
// single try and every failure shows here.
func probe(ctx context.Context, path string, interval time.Duration, start time.Time) error {
	cfg, err := ledger.LoadConfig(path)
	if err != nil {
		return err
	}
	gw, err := ledger.Dial(cfg, ledger.WithRetryPolicy(ledger.RetryPolicy{Attempts: 1, Budget: time.Minute}))
	if err != nil {
		return err
	}
	defer gw.Close()
	var last string
	for attempt := 1; ; attempt++ {
		_, txID, err := submitOnce(ctx, gw)
		if err == nil {
			fmt.Printf("%s: transaction %s endorsed and committed through %s after %d attempt(s), %.1fs since the probe began\n",
				cfg.MSPID, short(txID), cfg.Endpoint, attempt, time.Since(start).Seconds())
			return nil
		}
		if msg := err.Error(); msg != last { // say each new reason once
			fmt.Printf("%s: attempt %d through %s failed: %s\n", cfg.MSPID, attempt, cfg.Endpoint, firstLine(msg))
			last = msg
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no transaction committed through %s after %d attempts: %w", cfg.MSPID, cfg.Endpoint, attempt, err)
		case <-time.After(interval):
		}
	}
}

// submitOnce bounds one attempt, so a hung call cannot use the whole budget.
func submitOnce(ctx context.Context, gw *ledger.Gateway) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, txID, err := gw.Submit(ctx, probeFn)
	var invalid *ledger.InvalidTxError
	if errors.As(err, &invalid) {
		return nil, txID, fmt.Errorf("committed as invalid (%s)", invalid.Code)
	}
	return res, txID, err
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
