package embedledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/srellama/srellama/node/embedledger"
)

// TestBlocksAreCutByWindowOrWhenFull: a block is cut when its batch window
// ends, and before that as soon as a full block is queued.
func TestBlocksAreCutByWindowOrWhenFull(t *testing.T) {
	const maxTxs = 4
	tests := []struct {
		name       string
		window     time.Duration
		txs        int
		wantBlocks uint64
		within     time.Duration
	}{
		{"a lone transaction waits out a short window", 50 * time.Millisecond, 1, 1, 10 * time.Second},
		{"a full block does not wait for a long window", time.Hour, maxTxs, 1, 10 * time.Second},
		{"what is over a full block waits for the next", time.Second, maxTxs + 1, 2, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := embedledger.Open(embedledger.Config{
				Dir: t.TempDir(), Channel: testChannel, Orgs: testOrgs,
				Chaincodes:  map[string]shim.Chaincode{kvName: kvChaincode{}},
				MaxBlockTxs: maxTxs, BatchTimeout: tt.window,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			gw := connect(t, l, "Org1MSP", "client", kvName)
			before := l.Height()
			ctx, cancel := context.WithTimeout(context.Background(), tt.within)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, tt.txs)
			for i := range tt.txs {
				wg.Go(func() {
					if _, _, err := gw.Submit(ctx, "put", fmt.Sprintf("k%d", i), "v"); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("submit: %v", err)
			}
			if got := l.Height() - before; got != tt.wantBlocks {
				t.Errorf("%d transactions took %d blocks, want %d", tt.txs, got, tt.wantBlocks)
			}
		})
	}
}
