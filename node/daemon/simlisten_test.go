package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/source/sim"
)

// source.simulator.listen serves the node's own simulated core live, so a
// real Prometheus can scrape what the node reads.
func TestSimulatorListenServesTheNodesSimulator(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	now := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Organization = "Org1MSP"
	cfg.Source.History = "2d"
	cfg.Source.Simulator.Listen = addr
	src, err := openSimulator(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: cfg, parts: Parts{Source: src, Now: func() time.Time { return now }}, log: slog.New(slog.DiscardHandler)}
	if err := n.serveSimulator(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range n.closers {
			_ = c()
		}
	}()
	if _, ok := src.(*sim.Simulator); !ok {
		t.Fatalf("the simulator source is a %T", src)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `service="amf"`) {
		t.Fatalf("GET /metrics: %s\n%.500s", resp.Status, body)
	}
}
