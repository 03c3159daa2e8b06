package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// An organization's plan fixes its services and faults; the simulator then
// answers like any other source, ground truth included.
func ExamplePlan() {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	cfg, err := sim.Plan("org-1", 42, start, start.Add(2*24*time.Hour), 2)
	if err != nil {
		panic(err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	fmt.Println("services:", cfg.Services)
	f := cfg.Faults[0]
	fmt.Printf("first fault: %s on %s at %s for %v\n", f.Kind, f.Service, f.Start.Format(time.DateTime), f.Duration)
	incs, _ := s.Incidents(ctx, f.Service, f.Start, f.End())
	fmt.Println("it moves:", incs[0].Metrics)
	series, _ := s.Fetch(ctx, []string{`up{service="amf"}`}, source.Range{Start: start, End: start.Add(time.Hour), Step: 30 * time.Minute})
	fmt.Println("amf up:", series[0].Values)
	// Output:
	// services: [amf smf ausf pcf udm upf nrf]
	// first fault: cpu_stress on upf at 2026-03-02 17:59:00 for 30m0s
	// it moves: [pfcp_server_request_duration_seconds_bucket pfcp_server_request_duration_seconds_sum process_cpu_seconds_total]
	// amf up: [1 1 1]
}

// Serving the simulation live for a Prometheus to scrape, one target per
// network function at /metrics/<service>.
func ExampleNewLive() {
	cfg, _ := sim.Plan("org-1", 42, time.Now(), time.Now().Add(24*time.Hour), 3)
	s, _ := sim.New(cfg)
	srv := &http.Server{Addr: "127.0.0.1:9100", Handler: sim.NewLive(s, time.Now).Handler()}
	_ = srv // srv.ListenAndServe() in a real program
}
