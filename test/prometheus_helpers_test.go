package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/embedledger"
)

// prometheusInstall is how to get prometheus and promtool on Debian.
const prometheusInstall = "apt-get install -y prometheus"

// requireTool finds a program the test runs; without it the test skips,
// except in CI (CI=true), where it fails.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found on PATH (%s)", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatal("CI needs it: " + msg)
	}
	t.Skip(msg)
	return ""
}

// startPrometheus runs Prometheus with config (a prometheus.yml body) on
// a free loopback port over the TSDB folder tsdb, with its lifecycle
// (reload) API, until the test ends; it returns the URL once Prometheus
// is ready. dir holds the configuration.
func startPrometheus(t *testing.T, bin, dir, tsdb, config string) string {
	t.Helper()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs syncBuffer
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=60d", "--web.listen-address="+addr, "--web.enable-lifecycle", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited before it was ready:\n%s", logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after a minute:\n%s", logs.String())
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ruleGroup is a rule group as Prometheus's /api/v1/rules reports it.
type ruleGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []struct {
		Name      string            `json:"name"`
		Type      string            `json:"type"`
		Health    string            `json:"health"`
		LastError string            `json:"lastError"`
		Labels    map[string]string `json:"labels"`
	} `json:"rules"`
}

// promRules reads Prometheus's rule groups (GET /api/v1/rules).
func promRules(t *testing.T, url string) []ruleGroup {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Groups []ruleGroup `json:"groups"`
		} `json:"data"`
	}
	promGet(t, url+"/api/v1/rules", &body)
	if body.Status != "success" {
		t.Fatalf("GET /api/v1/rules: status %q", body.Status)
	}
	return body.Data.Groups
}

// promGet decodes the JSON answer of a Prometheus API GET into v.
func promGet(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, data)
	}
}

// poll waits until cond holds, failing the test after timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// startConsortium opens the embedded ledger with the chaincode, registers
// the organizations and runs one in-process node each until the test
// ends; configure adjusts each node's configuration (i is the
// organization's index in orgs). Set SRELLAMA_DEBUG to see the nodes' logs.
func startConsortium(t *testing.T, ctx context.Context, dir string, configure func(i int, cfg *config.Config)) []promSite {
	t.Helper()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedledger.Open(embedledger.Config{Dir: filepath.Join(dir, "ledger"), Channel: "consortium", Orgs: orgs,
		Chaincodes: map[string]shim.Chaincode{"srellama": cc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var sites []promSite
	for i, org := range orgs {
		admin, err := l.Connect(ctx, org, "admin", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		client, err := l.Connect(ctx, org, "client", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close(); client.Close() })
		if _, _, err := admin.Submit(ctx, "Consortium:RegisterOrganization", org+" Telecom"); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Organization = org
		cfg.DataDir = filepath.Join(dir, org)
		cfg.Rules.Dir = filepath.Join(dir, org, "rules")
		cfg.Ledger.Connection = "in-process"
		cfg.Network.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		configure(i, &cfg)
		var log *slog.Logger
		if os.Getenv("SRELLAMA_DEBUG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("site", org)
		}
		n, err := daemon.New(ctx, cfg, daemon.Parts{Ledger: client, Admin: admin, Evidence: cli.Evidence, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		nctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- n.Run(nctx) }()
		t.Cleanup(func() {
			stop()
			<-done
			n.Close()
		})
		sites = append(sites, promSite{cfg: cfg, admin: admin})
	}
	return sites
}
