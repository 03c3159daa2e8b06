package sim

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/srellama/srellama/node/source"
)

// Live serves the simulation as it unfolds in wall-clock time, for a real
// Prometheus to scrape. Each scrape advances the simulation to the current
// tick, so a scrape at time t shows exactly what Fetch gives for t.
//
// Routes:
//
//	/metrics/<service>  one network function, as Open5GS exposes it; answers
//	                    503 while the service is down, so Prometheus's own up
//	                    series drops to 0 (scrape each as its own target)
//	/metrics            every running service, each series labelled service
//
// The simulator's synthetic "up" series is not exported: Prometheus makes
// its own.
type Live struct {
	sim *Simulator
	now func() time.Time

	mu  sync.Mutex
	eng *engine
}

// NewLive serves sim; now is the clock (nil for time.Now).
func NewLive(sim *Simulator, now func() time.Time) *Live {
	if now == nil {
		now = time.Now
	}
	return &Live{sim: sim, now: now, eng: newEngine(sim.cfg)}
}

// Handler returns the HTTP routes. Each route has its own registry; nothing
// is registered globally.
func (l *Live) Handler() http.Handler {
	mux := http.NewServeMux()
	all := prometheus.NewRegistry()
	all.MustRegister(&collector{live: l, services: l.sim.cfg.Services, labelled: true})
	mux.Handle("/metrics", promhttp.HandlerFor(all, promhttp.HandlerOpts{}))
	for _, svc := range l.sim.cfg.Services {
		reg := prometheus.NewRegistry()
		reg.MustRegister(&collector{live: l, services: []string{svc}})
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		mux.Handle("/metrics/"+svc, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if l.isDown(svc) {
				http.Error(w, fmt.Sprintf("%s is down (injected pod failure)", svc), http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		}))
	}
	return mux
}

// advance steps the engine to the tick at now; the caller holds l.mu.
func (l *Live) advance() {
	target := int(l.now().Sub(l.sim.cfg.Start) / l.sim.cfg.Tick)
	if target < 0 {
		target = 0
	}
	for l.eng.tick < target {
		l.eng.step()
	}
}

func (l *Live) isDown(svc string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance()
	return l.eng.byName[svc].down
}

// snapshot copies the values of the services at the current tick; ok is
// false for a service that is down.
func (l *Live) snapshot(svcs []string) map[string][]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance()
	out := map[string][]float64{}
	for _, name := range svcs {
		s := l.eng.byName[name]
		if !s.down {
			out[name] = slices.Clone(s.values)
		}
	}
	return out
}

// collector exposes services' current values as constant metrics.
type collector struct {
	live     *Live
	services []string
	labelled bool // add a service label (the combined route)
}

// family is one exported metric family: a histogram groups its _bucket,
// _sum and _count series.
type family struct {
	name string
	desc *prometheus.Desc
	typ  prometheus.ValueType
	hist bool
	defs []int // indices into the service's series
}

func (c *collector) families(svc string) []family {
	var labels []string
	if c.labelled {
		labels = append(labels, "service")
	}
	defs := c.live.eng.byName[svc].defs
	var fams []family
	byName := map[string]int{}
	for i, d := range defs {
		name, hist := d.info.Metric, false
		switch d.kind {
		case kindUp:
			continue
		case kindBucket, kindHistSum, kindHistCount:
			name, hist = histogramName(specs[svc].proto), true
		}
		if j, ok := byName[name]; ok {
			fams[j].defs = append(fams[j].defs, i)
			continue
		}
		vl := slices.Clone(labels)
		if d.kind == kindResponses {
			vl = append(vl, "status")
		}
		typ := prometheus.GaugeValue
		if d.info.Type == source.TypeCounter {
			typ = prometheus.CounterValue
		}
		byName[name] = len(fams)
		fams = append(fams, family{name: name, desc: prometheus.NewDesc(name, d.info.Help, vl, nil), typ: typ, hist: hist, defs: []int{i}})
	}
	return fams
}

// Describe sends each family once, even when several services share it.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[string]bool{}
	for _, svc := range c.services {
		for _, f := range c.families(svc) {
			if !seen[f.desc.String()] {
				seen[f.desc.String()] = true
				ch <- f.desc
			}
		}
	}
}

// Collect advances the simulation to now and sends the running services'
// values.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.live.snapshot(c.services)
	for _, svc := range c.services {
		vals, ok := snap[svc]
		if !ok {
			continue
		}
		var base []string
		if c.labelled {
			base = []string{svc}
		}
		defs := c.live.eng.byName[svc].defs
		for _, f := range c.families(svc) {
			if f.hist {
				ch <- histogram(f, defs, vals, base)
				continue
			}
			for _, i := range f.defs {
				lv := slices.Clone(base)
				if defs[i].kind == kindResponses {
					lv = append(lv, defs[i].info.Labels["status"])
				}
				ch <- prometheus.MustNewConstMetric(f.desc, f.typ, vals[i], lv...)
			}
		}
	}
}

func histogram(f family, defs []seriesDef, vals []float64, labels []string) prometheus.Metric {
	buckets := map[float64]uint64{}
	var count uint64
	var sum float64
	for _, i := range f.defs {
		switch defs[i].kind {
		case kindBucket:
			if defs[i].arg < len(latencyBuckets) {
				buckets[latencyBuckets[defs[i].arg]] = uint64(vals[i])
			}
		case kindHistSum:
			sum = vals[i]
		case kindHistCount:
			count = uint64(math.Max(0, vals[i]))
		}
	}
	return prometheus.MustNewConstHistogram(f.desc, count, sum, buckets, labels...)
}
