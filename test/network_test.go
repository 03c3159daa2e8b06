package test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srellama/srellama/node/ledger"
)

// orgs are the network's organizations, as scripts/network.sh names them.
var orgs = []string{"Org1MSP", "Org2MSP", "Org3MSP"}

// network is a Fabric network brought up by scripts/network.sh in a
// temporary folder, on its own loopback ports.
type network struct {
	repo string // repository root
	dir  string // NETWORK_DIR
	env  []string
}

// startNetwork brings the network up, or skips when Fabric's binaries are
// not installed. The network goes down when the test ends, however it ends.
func startNetwork(tb testing.TB, portBase int) *network {
	tb.Helper()
	if os.Getenv("FABRIC_BIN") == "" {
		tb.Skip("FABRIC_BIN is not set: install Hyperledger Fabric v3.1's release binaries and point FABRIC_BIN at their bin/ folder " +
			"to run this test against a real network (see README, 'Running on Hyperledger Fabric')")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	n := &network{repo: repo, dir: tb.TempDir()}
	n.env = append(os.Environ(), "NETWORK_DIR="+n.dir, "PORT_BASE="+strconv.Itoa(portBase))
	tb.Cleanup(func() {
		if err := n.script("down"); err != nil {
			tb.Errorf("network down: %v", err)
		}
	})
	start := time.Now()
	out, err := n.run("up")
	if err != nil {
		n.dumpLogs(tb)
		tb.Fatalf("network up: %v", err)
	}
	tb.Logf("network up in %s", time.Since(start).Round(time.Millisecond))
	// How long each gateway took to commit a majority-endorsed transaction
	// after the chaincode answered (the readiness probe's report).
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "probe: "); i >= 0 {
			tb.Log(line[i:])
		}
	}
	return n
}

// script runs scripts/network.sh with args; its output is in the error.
func (n *network) script(args ...string) error {
	_, err := n.run(args...)
	return err
}

// run runs scripts/network.sh with args and returns its output.
func (n *network) run(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(n.repo, "scripts", "network.sh")}, args...)...)
	cmd.Dir, cmd.Env = n.repo, n.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("network.sh %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// orderers is how many orderers the script starts (its ORDERERS setting).
func orderers() int {
	if n, err := strconv.Atoi(os.Getenv("ORDERERS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// pids are the processes the script recorded as started.
func (n *network) pids(tb testing.TB) map[string]int {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(n.dir, "pids", "*.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.Fields(string(raw))[0])
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	return out
}

// dumpLogs shows the end of every process's log, for a failed start.
func (n *network) dumpLogs(tb testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(n.dir, "logs", "*.log"))
	for _, l := range logs {
		tb.Logf("--- %s\n%s", filepath.Base(l), tail(l, 2000))
	}
}

// connection is the path of an organization's connection file.
func (n *network) connection(org string, admin bool) string {
	name := "connection.json"
	if admin {
		name = "connection-admin.json"
	}
	return filepath.Join(n.dir, "orgs", org, name)
}

// dial connects to org's peer as its client (or admin) identity, to
// chaincode (the connection file's own when empty).
func (n *network) dial(tb testing.TB, org string, admin bool, chaincode string) *ledger.Gateway {
	tb.Helper()
	cfg, err := ledger.LoadConfig(n.connection(org, admin))
	if err != nil {
		tb.Fatal(err)
	}
	if chaincode != "" {
		cfg.Chaincode = chaincode
	}
	gw, err := ledger.Dial(cfg, ledger.WithLogger(testLogger(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { gw.Close() })
	return gw
}

// testLogger logs through tb (the ledger client's retries, for one).
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// buildSrellama builds the command-line tool into dir.
func buildSrellama(tb testing.TB, repo, dir string) string {
	tb.Helper()
	bin := filepath.Join(dir, "srellama")
	cmd := exec.Command("go", "build", "-o", bin, "./node/cmd/srellama")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building srellama: %v\n%s", err, out)
	}
	return bin
}

// process is a command running in the background with its output in a file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startProcess(tb testing.TB, logPath string, env []string, name string, args ...string) *process {
	tb.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	tb.Cleanup(p.stop)
	return p
}

// stop asks the process to end and kills it after 10 s.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(raw) > n {
		raw = raw[len(raw)-n:]
	}
	return string(raw)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// alive reports whether pid runs; a zombie (ended, not yet reaped by its
// new parent) does not.
func alive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name.
	i := bytes.LastIndexByte(raw, ')')
	return i > 0 && i+2 < len(raw) && raw[i+2] != 'Z'
}
