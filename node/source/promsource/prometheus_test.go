package promsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// These tests run the real Prometheus: the Debian package `prometheus`
// (prometheus and promtool on PATH). Without it they skip, except in CI
// (CI=true), where a missing binary is a failure.

func requireBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found on PATH: install the Debian package `prometheus` (apt-get install -y prometheus) to run the tests against a real Prometheus", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output for failure reports.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// startPrometheus runs Prometheus on a free loopback port with the given
// configuration and data directory, waits until it is ready and stops it
// when the test ends. It returns the base URL.
func startPrometheus(t testing.TB, dir, config string) string {
	t.Helper()
	bin := requireBinary(t, "prometheus")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var logs lockedBuffer
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=60d",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
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
			t.Fatalf("prometheus not ready after 60s:\n%s", logs.String())
		}
	}
}

// TestAgainstRealPrometheus scrapes the live simulator with a real
// Prometheus every second while a dependency failure breaks the AMF's
// registrations for 15 seconds, then reads everything back through the
// source: discovery, a range query checked against the simulator, and the
// alert that fired, from ALERTS.
func TestAgainstRealPrometheus(t *testing.T) {
	requireBinary(t, "prometheus")
	services := []string{sim.AMF, sim.AUSF, sim.UDM}
	// Prometheus starts first, scraping a listener that serves nothing yet,
	// so that a slow start cannot eat into the fault.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules := `groups:
  - name: sim
    interval: 1s
    rules:
      - alert: AMFRegistrationFailures
        expr: rate(fivegs_amffunction_rm_reginitsucc[5s]) / rate(fivegs_amffunction_rm_reginitreq[5s]) < 0.9
        labels:
          severity: page
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	var jobs strings.Builder
	for _, svc := range services {
		fmt.Fprintf(&jobs, `  - job_name: %s
    metrics_path: /metrics/%s
    static_configs:
      - targets: [%q]
        labels:
          service: %s
`, svc, svc, ln.Addr().String(), svc)
	}
	url := startPrometheus(t, dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
%s`, filepath.Join(dir, "rules.yml"), jobs.String()))

	now := time.Now().UTC().Truncate(time.Second)
	faultStart := now.Add(6 * time.Second)
	faultEnd := faultStart.Add(15 * time.Second)
	simCfg := sim.Config{
		Org: "itest", Seed: 3, Start: now.Add(-time.Minute), Tick: time.Second,
		Services: services, UEs: 60000, PeakHour: float64(now.Hour()),
		Faults: []sim.Fault{{Kind: sim.DependencyFailure, Service: sim.AMF, Dependency: sim.AUSF, Start: faultStart, Duration: faultEnd.Sub(faultStart), Intensity: 1}},
	}
	simulator, err := sim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim.NewLive(simulator, time.Now).Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	scrapeStart := time.Now()

	src := newSource(t, Config{URL: url, DiscoveryWindow: time.Hour, IncidentStep: time.Second, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Wait for the fault to end and its alert to resolve.
	for time.Now().Before(faultEnd.Add(8 * time.Second)) {
		select {
		case <-ctx.Done():
			t.Fatal("timed out waiting for the fault")
		case <-time.After(500 * time.Millisecond):
		}
	}

	svcs, err := src.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range simCfg.Services {
		if !slices.Contains(svcs, want) {
			t.Errorf("Services() = %v, missing %s", svcs, want)
		}
	}

	list, err := src.ListSeries(ctx, sim.AMF)
	if err != nil {
		t.Fatal(err)
	}
	byMetric := map[string]source.SeriesInfo{}
	for _, info := range list {
		byMetric[info.Metric] = info
	}
	if info := byMetric["fivegs_amffunction_rm_reginitreq"]; info.Type != source.TypeCounter || info.Help != "Number of initial registration requests received by the AMF" {
		t.Errorf("reginitreq listed as %+v, want a counter with Open5GS's help", info)
	}
	if info := byMetric["sbi_server_request_duration_seconds_bucket"]; info.Type != source.TypeHistogram {
		t.Errorf("latency buckets listed as %+v, want histogram", info)
	}
	if _, ok := byMetric["up"]; !ok {
		t.Error("up is not listed")
	}
	if _, ok := byMetric["ALERTS"]; ok {
		t.Error("ALERTS is listed as a candidate series")
	}
	if _, err := src.ListSeries(ctx, "hss"); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("ListSeries(hss): err = %v, want ErrUnknownService", err)
	}

	// Every sample Prometheus scraped lies between what the simulator had a
	// few seconds before the grid point (the latest scrape may be that old)
	// and what it has at it.
	id := byMetric["fivegs_amffunction_rm_reginitreq"].ID
	r := source.Range{Start: scrapeStart.Truncate(time.Second).Add(2 * time.Second), End: time.Now().Truncate(time.Second), Step: time.Second}
	got, err := src.Fetch(ctx, []string{id}, r)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := simulator.Fetch(ctx, []string{`fivegs_amffunction_rm_reginitreq{service="amf"}`}, source.Range{Start: r.Start.Add(-5 * time.Second), End: r.End, Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	present := 0
	for i, v := range got[0].Values {
		if math.IsNaN(v) {
			continue
		}
		present++
		lo, hi := truth[0].Values[i], truth[0].Values[i+5]
		if v < lo || v > hi {
			t.Errorf("sample at %v = %v, simulator had %v five seconds before and %v then", r.Start.Add(time.Duration(i)*time.Second), v, lo, hi)
		}
	}
	if present < len(got[0].Values)*3/4 {
		t.Errorf("only %d of %d grid points have a sample", present, len(got[0].Values))
	}

	incs, err := src.Incidents(ctx, sim.AMF, scrapeStart, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var fired []source.Incident
	for _, inc := range incs {
		if inc.Name == "AMFRegistrationFailures" {
			fired = append(fired, inc)
		}
	}
	if len(fired) != 1 {
		t.Fatalf("incidents %+v, want one AMFRegistrationFailures", incs)
	}
	inc := fired[0]
	t.Logf("fault %v..%v; alert firing %v..%v; %d of %d grid points sampled", faultStart.Format(time.TimeOnly), faultEnd.Format(time.TimeOnly), inc.Start.Format(time.TimeOnly), inc.End.Format(time.TimeOnly), present, len(got[0].Values))
	if inc.Start.Before(faultStart) || inc.Start.After(faultStart.Add(8*time.Second)) || inc.End.Before(faultEnd) || inc.End.After(faultEnd.Add(10*time.Second)) {
		t.Errorf("alert fired %v..%v for a fault %v..%v", inc.Start, inc.End, faultStart, faultEnd)
	}
	if inc.Labels["severity"] != "page" || inc.Service != sim.AMF {
		t.Errorf("incident %+v", inc)
	}
	// The simulator's ground truth names the metric the alert watches.
	truthIncs, err := simulator.Incidents(ctx, sim.AMF, faultStart, faultEnd)
	if err != nil || len(truthIncs) != 1 || !slices.Contains(truthIncs[0].Metrics, "fivegs_amffunction_rm_reginitsucc") {
		t.Errorf("simulator ground truth %+v (err %v) does not name reginitsucc", truthIncs, err)
	}
	if others, err := src.Incidents(ctx, sim.UDM, scrapeStart, time.Now()); err != nil || len(others) != 0 {
		t.Errorf("UDM incidents %+v (err %v), want none", others, err)
	}
}

// countingTransport counts response body bytes.
type countingTransport struct {
	base  http.RoundTripper
	bytes atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// BenchmarkFetch7Days100Series backfills a real Prometheus with a week of
// simulated history (promtool tsdb create-blocks-from openmetrics), then
// fetches 100 series over those 7 days at a 30s step (20,161 points each,
// two query_range chunks per series). Setup is not timed.
func BenchmarkFetch7Days100Series(b *testing.B) {
	requireBinary(b, "prometheus")
	promtool := requireBinary(b, "promtool")
	end := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	start := end.Add(-7 * 24 * time.Hour)
	cfg, err := sim.Plan("bench", 1, start, end, 3)
	if err != nil {
		b.Fatal(err)
	}
	simulator, err := sim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for _, svc := range cfg.Services {
		list, _ := simulator.ListSeries(ctx, svc)
		for _, info := range list {
			ids = append(ids, info.ID)
		}
	}
	if len(ids) < 100 {
		b.Fatalf("only %d simulated series", len(ids))
	}
	ids = ids[:100]
	r := source.Range{Start: start, End: end, Step: 30 * time.Second}
	phase := time.Now()
	truth, err := simulator.Fetch(ctx, ids, r)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	omPath := filepath.Join(dir, "history.om")
	f, err := os.Create(omPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.WriteOpenMetrics(f, truth); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(omPath); err == nil {
		b.Logf("simulated and wrote %d series (%d MB of OpenMetrics) in %v", len(ids), fi.Size()>>20, time.Since(phase).Round(time.Millisecond))
	}
	phase = time.Now()
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", omPath, filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		b.Fatalf("promtool: %v\n%s", err, out)
	}
	os.Remove(omPath)
	b.Logf("promtool backfill: %v", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	url := startPrometheus(b, dir, "global:\n  scrape_interval: 1m\nscrape_configs: []\n")
	b.Logf("prometheus ready: %v", time.Since(phase).Round(time.Millisecond))

	counter := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	src := newSource(b, Config{URL: url, Transport: counter})
	phase = time.Now()
	got, err := src.Fetch(ctx, ids, r)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first fetch (cold): %v, %d bytes", time.Since(phase).Round(time.Millisecond), counter.bytes.Load())
	for i := range ids {
		for j, want := range truth[i].Values {
			if v := got[i].Values[j]; !math.IsNaN(want) && v != want {
				// A gap in the simulator may be bridged by Prometheus's
				// 5-minute lookback; every sample it has must match.
				b.Fatalf("%s at %d: Prometheus %v, simulator %v", ids[i], j, v, want)
			}
		}
	}
	counter.bytes.Store(0)
	for b.Loop() {
		if _, err := src.Fetch(ctx, ids, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(counter.bytes.Load())/float64(b.N), "bytes/op")
	b.ReportMetric(float64(len(ids)*r.Points()), "points/op")
}
