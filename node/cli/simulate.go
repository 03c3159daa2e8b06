package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// liveHorizon is how far past now a served simulation is planned (its
// faults included): a simulator left running for a month keeps producing.
const liveHorizon = 30 * 24 * time.Hour

func runSimulate(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "simulate", "", `
Run one organization's simulated 5G core for a real Prometheus: --backfill
writes its history up to now as OpenMetrics, the input of
'promtool tsdb create-blocks-from openmetrics', and --listen serves the same
simulation live at /metrics (every service, labelled service) and
/metrics/<service> (one network function, 503 while it is down), so the
history and the live series continue one another. With both, the history is
written first, then the metrics are served until interrupted.

The simulation is the one 'slo generate --source simulator' and the demo read:
the same --org and --seed give the same services, traffic and faults.`, `
  srellama simulate --backfill 7d --out sim.om && promtool tsdb create-blocks-from openmetrics sim.om ./data
  srellama simulate --backfill 7d --out sim.om --listen 127.0.0.1:9464
  srellama simulate --org Org2MSP --seed 7 --listen :9464`)
	org := f.String("org", "Org1MSP", "organization whose plan (services, faults) is simulated")
	seed := f.Uint64("seed", 1, "seed of the organization's plan")
	faultsPerDay := f.Float64("faults-per-day", 2, "chaos faults a day")
	listen := f.String("listen", "", "serve live /metrics at this address (host:port)")
	backfill := f.String("backfill", "", "write this much history up to now as OpenMetrics (e.g. 7d)")
	out := f.String("out", "", "backfill: file to write (default: standard output)")
	step := f.Duration("step", time.Minute, "backfill: sample spacing (Prometheus's scrape interval)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *listen == "" && *backfill == "" {
		return usagef("simulate: give --listen ADDR, --backfill DURATION, or both")
	}
	if f.json() && *backfill != "" && *out == "" {
		return usagef("simulate: --output json prints a summary on standard output: give the backfill a file with --out")
	}
	var history time.Duration
	if *backfill != "" {
		var err error
		if history, err = nft.ParseDuration(*backfill); err != nil || history > 90*24*time.Hour {
			return usagef("simulate: --backfill %q must be a duration up to 90d (e.g. 7d)", *backfill)
		}
	}
	if *step < sim.DefaultTick || *step > time.Hour {
		return usagef("simulate: --step must be between %s and 1h, got %s", sim.DefaultTick, *step)
	}
	now := env.Now().UTC().Truncate(*step)
	// The simulation starts where the history does, so the live series
	// continue the backfilled ones.
	start := now.Add(-history)
	if history == 0 {
		start = now
	}
	cfg, err := sim.Plan(*org, *seed, start, now.Add(liveHorizon), *faultsPerDay)
	if err != nil {
		return err
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	summary := simulation{Org: *org, Seed: *seed}
	if history > 0 {
		written, err := writeBackfill(ctx, env, s, source.Range{Start: start, End: now, Step: *step}, *out)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		summary.Backfill = &written
	}
	if *listen == "" {
		if f.json() {
			return writeJSON(env.Stdout, summary)
		}
		return nil
	}
	return serveLive(ctx, env, s, *listen, func(addr string, services []string) {
		if f.json() {
			summary.Listen, summary.Services = addr, services
			writeJSON(env.Stdout, summary)
		}
	})
}

// simulation is the JSON output of simulate: what was written and where
// the live metrics are served (printed once they are).
type simulation struct {
	Org      string    `json:"org"`
	Seed     uint64    `json:"seed"`
	Backfill *backfill `json:"backfill,omitempty"`
	Listen   string    `json:"listen,omitempty"`
	Services []string  `json:"services,omitempty"`
}

type backfill struct {
	File     string    `json:"file"`
	Series   int       `json:"series"`
	Services []string  `json:"services"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Step     string    `json:"step"`
}

func writeBackfill(ctx context.Context, env Env, s *sim.Simulator, r source.Range, path string) (backfill, error) {
	b, err := writeBackfillTo(ctx, env, s, r, path)
	b.File, b.Start, b.End, b.Step = path, r.Start, r.End, r.Step.String()
	return b, err
}

func writeBackfillTo(ctx context.Context, env Env, s *sim.Simulator, r source.Range, path string) (backfill, error) {
	var ids []string
	services, _ := s.Services(ctx)
	for _, svc := range services {
		infos, err := s.ListSeries(ctx, svc)
		if err != nil {
			return backfill{}, err
		}
		for _, info := range infos {
			if info.Metric == "up" {
				continue // Prometheus makes its own up series
			}
			ids = append(ids, info.ID)
		}
	}
	series, err := s.Fetch(ctx, ids, r)
	if err != nil {
		return backfill{}, err
	}
	faults, err := faultSeries(ctx, s, services, r)
	if err != nil {
		return backfill{}, err
	}
	series = append(series, faults...)
	w := env.Stdout
	var fh *os.File
	if path != "" {
		if fh, err = os.Create(path); err != nil {
			return backfill{}, err
		}
		defer fh.Close()
		w = fh
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := sim.WriteOpenMetrics(bw, series); err != nil {
		return backfill{}, err
	}
	if err := bw.Flush(); err != nil {
		return backfill{}, err
	}
	if fh != nil {
		if err := fh.Close(); err != nil {
			return backfill{}, err
		}
		fmt.Fprintf(env.Stderr, "wrote %d series of %s (%s to %s, every %s) to %s\n",
			len(series), services, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), r.Step, path)
	}
	return backfill{Series: len(series), Services: services}, nil
}

// The backfill writes the simulator's injected faults as the ALERTS series
// an alert would have left (1 while the fault touches a service, labelled
// alertname, alertstate="firing", service and fault): the ground truth a
// node's default incidents query (ALERTS{alertstate="firing"}) learns from,
// kept out of the candidate SLIs as every ALERTS series is.
const (
	FaultMetric    = "ALERTS"
	FaultAlertName = "SimulatedFault"
)

// faultSeries turns the simulation's ground-truth incidents into one
// series per service and fault kind.
func faultSeries(ctx context.Context, s *sim.Simulator, services []string, r source.Range) ([]source.Series, error) {
	var out []source.Series
	points := r.Points()
	for _, svc := range services {
		incidents, err := s.Incidents(ctx, svc, r.Start, r.End)
		if err != nil {
			return nil, err
		}
		byName := map[string]int{}
		for _, inc := range incidents {
			i, ok := byName[inc.Name]
			if !ok {
				vals := make([]float64, points)
				for j := range vals {
					vals[j] = math.NaN()
				}
				i = len(out)
				byName[inc.Name] = i
				out = append(out, source.Series{
					Info:  source.SeriesInfo{Metric: FaultMetric, Labels: map[string]string{"alertname": FaultAlertName, "alertstate": "firing", "service": svc, "fault": inc.Name}, Type: source.TypeGauge},
					Start: r.Start, Step: r.Step, Values: vals,
				})
			}
			for j := range points {
				t := r.Start.Add(time.Duration(j) * r.Step)
				if !t.Before(inc.Start) && t.Before(inc.End) {
					out[i].Values[j] = 1
				}
			}
		}
	}
	return out, nil
}

func serveLive(ctx context.Context, env Env, s *sim.Simulator, addr string, announce func(addr string, services []string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	srv := &http.Server{Handler: sim.NewLive(s, nil).Handler(), ReadHeaderTimeout: 10 * time.Second}
	services, _ := s.Services(ctx)
	fmt.Fprintf(env.Stderr, "serving %v at http://%s/metrics (and /metrics/<service>)\n", services, ln.Addr())
	announce(ln.Addr().String(), services)
	if env.ListenReady != nil {
		env.ListenReady(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("simulate: %w", err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
