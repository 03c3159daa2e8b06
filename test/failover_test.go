package test

import (
	"context"
	"fmt"
	"log/slog"
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

// TestFabricOrdererFailover kills the Raft leader of a three-orderer
// network just before an organization registers: the gateway cannot order
// the transaction until the two others elect a new leader, the ledger
// client retries the submit (the same signed transaction) until they have,
// and the organization is registered once.
func TestFabricOrdererFailover(t *testing.T) {
	t.Setenv("ORDERERS", "3")
	n := startNetwork(t, failoverPortBase)
	leader := raftLeader(t, n)
	pid := n.pids(t)[leader]
	t.Logf("killing %s (PID %d), the Raft leader", leader, pid)
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil { // a crash: no goodbye to the followers
		t.Fatal(err)
	}
	waitFor(t, leader+" to stop", 30*time.Second, func() bool { return !alive(pid) })

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
		t.Fatalf("register with the leader down: %v\nclient log:\n%s", err, logs.String())
	}
	retries := strings.Count(logs.String(), "retrying")
	t.Logf("registered in %s after %d retried gateway calls:\n%s", time.Since(start).Round(time.Millisecond), retries, logs.String())
	if retries == 0 {
		t.Error("the submit needed no retry: the leader's loss was not exercised")
	}
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
