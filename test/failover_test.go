package test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/ledger"
)

// failoverPortBase keeps this test's network clear of the others'.
const failoverPortBase = 28500

// TestFabricFailover runs the node's ledger client through the two
// restarts a consortium sees most, on a network of three Raft orderers:
//   - a peer restarts, and a client submits through its gateway as soon as
//     its health check passes: the gateway first refuses connections, then
//     refuses to endorse until gossip has told it the other organizations'
//     peers ("no combination of peers can be derived which satisfy the
//     endorsement policy");
//   - the orderer that leads the channel crashes just before a submit: no
//     orderer takes the transaction until the other two elect a leader.
//
// One Submit call commits in both cases, retrying the failed step with the
// same signed message.
func TestFabricFailover(t *testing.T) {
	t.Setenv("ORDERERS", "3")
	n := startNetwork(t, failoverPortBase)

	t.Run("peer restart", func(t *testing.T) {
		kill(t, n, "peer1")
		// up starts what is not running; meanwhile the client submits as
		// soon as the restarted peer says it is healthy.
		upDone := make(chan error, 1)
		go func() { _, err := n.run("up"); upDone <- err }()
		ops := fmt.Sprintf("http://127.0.0.1:%d/healthz", failoverPortBase+100+3)
		waitFor(t, "peer1 to restart", time.Minute, func() bool {
			resp, err := http.Get(ops)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		registerThroughRetries(t, n)
		if err := <-upDone; err != nil {
			t.Fatalf("up after the restart: %v", err)
		}
	})

	t.Run("orderer leader killed", func(t *testing.T) {
		kill(t, n, raftLeader(t, n))
		registerThroughRetries(t, n)
	})
}

// kill ends one of the network's processes with SIGKILL (a crash: no
// goodbye to its peers) and waits until it is gone.
func kill(t *testing.T, n *network, name string) {
	t.Helper()
	pid := n.pids(t)[name]
	t.Logf("killing %s (PID %d)", name, pid)
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, name+" to end", 30*time.Second, func() bool { return !alive(pid) })
}

// registerThroughRetries registers Org1 through its own peer's gateway with
// the node's ledger client, and fails unless that one call commits.
func registerThroughRetries(t *testing.T, n *network) {
	t.Helper()
	cfg, err := ledger.LoadConfig(n.connection("Org1MSP", true))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	gw, err := ledger.Dial(cfg, ledger.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ctx := context.Background()
	start := time.Now()
	if _, _, err := gw.Submit(ctx, "Consortium:RegisterOrganization", "Org1 Telecom"); err != nil {
		t.Fatalf("register: %v\nclient log:\n%s", err, logs.String())
	}
	t.Logf("registered in %s after %d retried gateway calls:\n%s", time.Since(start).Round(time.Millisecond),
		strings.Count(logs.String(), "retrying"), logs.String())
	if _, err := gw.Evaluate(ctx, "Consortium:GetOrganization", "Org1MSP"); err != nil {
		t.Fatalf("organization not registered: %v", err)
	}
}

// raftLeader names the orderer that leads the channel, from the orderers'
// logs ("Raft leader changed: 0 -> 2"); Raft numbers the consenters in the
// channel configuration's order, which is the script's.
func raftLeader(t *testing.T, n *network) string {
	t.Helper()
	re := regexp.MustCompile(`Raft leader changed: \d+ -> (\d+)`)
	var id int
	waitFor(t, "a Raft leader", time.Minute, func() bool {
		raw, err := os.ReadFile(filepath.Join(n.dir, "logs", "orderer.log"))
		if err != nil {
			return false
		}
		m := re.FindAllSubmatch(raw, -1)
		if len(m) == 0 {
			return false
		}
		id, _ = strconv.Atoi(string(m[len(m)-1][1]))
		return id > 0
	})
	if id == 1 {
		return "orderer"
	}
	return fmt.Sprintf("orderer%d", id)
}
