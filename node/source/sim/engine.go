package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// engine steps an organization's services tick by tick from the origin. Every
// tick draws the same number of random numbers from each stream whatever the
// faults do, so that a run with a fault and a run without it differ only in
// the series the fault moves (the ground truth is checked that way).
type engine struct {
	cfg     Config
	svcs    []*svcState
	byName  map[string]*svcState
	traffic *rand.Rand // organization-wide traffic noise
	noise   float64    // AR(1) state of the traffic noise
	tick    int        // the state holds the values at cfg.Start + tick*cfg.Tick
	conds   map[string]*conditions
}

// svcState is one service's process: its series values and what the faults
// have done to it.
type svcState struct {
	spec   serviceSpec
	defs   []seriesDef
	idx    seriesIndex
	values []float64
	rng    *rand.Rand
	down   bool
	leak   float64 // bytes leaked since the last restart
	memAR  float64 // AR(1) state of the memory noise
}

// seriesIndex locates series in a service's value vector.
type seriesIndex struct {
	procReq, procOK, procFail []int // -1 where the procedure lacks the counter
	gauges                    []int
	responses                 []int
	buckets                   []int // finite bounds, then +Inf
	sum, count                int
	up, cpu, memory, start    int
	counters                  []int // every series that restarts from zero
}

// Segment is the simulated deployment cycle: every process restarts at
// each Segment boundary (Mondays 00:00 UTC, a weekly deploy), counters
// count from zero again and the random streams start afresh from a seed
// of the boundary. So the value of a series at t depends only on t, not on
// where a simulation started: a restarted node, a node started elsewhere
// and a live endpoint all see the same past once they are past one
// boundary, and a fetch skips to the last boundary before its range.
const Segment = 7 * 24 * time.Hour

// segmentOf is the boundary at or before t.
func segmentOf(t time.Time) time.Time { return t.Truncate(Segment) }

func newEngine(cfg Config) *engine { return newEngineAt(cfg, 0) }

// newEngineAt is the engine's state just before tick k0 (the tick before
// the first one stepped), as if every process started at tick k0.
func newEngineAt(cfg Config, k0 int) *engine {
	start := cfg.Start.Add(time.Duration(k0) * cfg.Tick)
	orgSeed := cfg.Seed ^ hashString("org/"+cfg.Org)
	segment := uint64(segmentOf(start).Unix())
	e := &engine{
		cfg:     cfg,
		byName:  map[string]*svcState{},
		conds:   map[string]*conditions{},
		traffic: rand.New(rand.NewPCG(orgSeed, hashString("traffic")^segment)),
		tick:    k0 - 1,
	}
	for _, name := range cfg.Services {
		s := &svcState{spec: specs[name], defs: catalogue(name), rng: rand.New(rand.NewPCG(orgSeed, hashString("service/"+name)^segment))}
		s.idx = indexSeries(s.defs, len(s.spec.procs))
		s.values = make([]float64, len(s.defs))
		s.values[s.idx.start] = float64(start.Add(-cfg.Tick).Unix())
		e.svcs = append(e.svcs, s)
		e.byName[name] = s
		e.conds[name] = &conditions{failFrac: map[string]float64{}}
	}
	return e
}

// segmentTick is the first tick at or after the boundary at or before
// tick k's time, never before tick 0.
func (e *engine) segmentTick(k int) int {
	b := segmentOf(e.timeAt(k))
	if !b.After(e.cfg.Start) {
		return 0
	}
	d := b.Sub(e.cfg.Start)
	first := int(d / e.cfg.Tick)
	if d%e.cfg.Tick != 0 {
		first++
	}
	return first
}

func indexSeries(defs []seriesDef, procs int) seriesIndex {
	x := seriesIndex{procReq: fill(procs), procOK: fill(procs), procFail: fill(procs)}
	for i, d := range defs {
		switch d.kind {
		case kindProcReq:
			x.procReq[d.arg] = i
		case kindProcOK:
			x.procOK[d.arg] = i
		case kindProcFail:
			x.procFail[d.arg] = i
		case kindGauge:
			x.gauges = append(x.gauges, i)
		case kindResponses:
			x.responses = append(x.responses, i)
		case kindBucket:
			x.buckets = append(x.buckets, i)
		case kindHistSum:
			x.sum = i
		case kindHistCount:
			x.count = i
		case kindUp:
			x.up = i
		case kindCPU:
			x.cpu = i
		case kindMemory:
			x.memory = i
		case kindStartTime:
			x.start = i
		}
		switch d.kind {
		case kindProcReq, kindProcOK, kindProcFail, kindResponses, kindBucket, kindHistSum, kindHistCount, kindCPU:
			x.counters = append(x.counters, i)
		}
	}
	return x
}

func fill(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = -1
	}
	return s
}

// timeAt is the time of tick k.
func (e *engine) timeAt(k int) time.Time { return e.cfg.Start.Add(time.Duration(k) * e.cfg.Tick) }

// value is what a scrape of the service would show for series i: NaN (no
// sample) while the service is down, except up, which is 0.
func (s *svcState) value(i int) float64 {
	if s.down && i != s.idx.up {
		return math.NaN()
	}
	return s.values[i]
}

// conditions are the fault effects on one service at one tick.
type conditions struct {
	down     bool
	traffic  float64            // load multiplier from rising traffic, own or callers'
	rise     float64            // load multiplier from rising traffic on this service
	ownDelay float64            // delay injected into this service alone
	failFrac map[string]float64 // fraction of calls to each callee that fail
	delay    float64            // seconds added to each served request
	stress   float64            // cores burnt by a CPU stress
	leakRate float64            // bytes per second leaked
	restart  bool               // the process restarts at this tick
	// errFactor multiplies the service's own failure probabilities (a
	// lasting degradation); 1 when none.
	errFactor float64
}

// step advances every service by one tick.
func (e *engine) step() {
	if next := e.tick + 1; next > 0 && e.segmentTick(next) == next {
		// A deploy boundary: every process restarts.
		*e = *newEngineAt(e.cfg, next)
	}
	e.tick++
	t := e.timeAt(e.tick)
	dt := e.cfg.Tick.Seconds()
	ues := e.activeUEs(t)
	conds := e.conditionsAt(t)
	for _, s := range e.svcs {
		s.step(t, dt, ues/e.cfg.UEs, ues, conds[s.spec.name])
	}
}

// activeUEs follows a daily cycle peaking at cfg.PeakHour (UTC), quieter
// weekends, and slow random drift.
func (e *engine) activeUEs(t time.Time) float64 {
	e.noise = 0.98*e.noise + 0.2*normal(e.traffic.Float64())
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	daily := math.Pow((1+math.Cos(2*math.Pi*(h-e.cfg.PeakHour)/24))/2, 1.5)
	level := 0.2 + 0.8*daily
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		level *= 0.85
	}
	return e.cfg.UEs * level * (1 + 0.04*e.noise)
}

// conditionsAt derives each service's conditions from the faults active at
// t. It reuses the engine's conditions from the previous tick.
func (e *engine) conditionsAt(t time.Time) map[string]*conditions {
	conds := e.conds
	for _, s := range e.svcs {
		c := conds[s.spec.name]
		failFrac := c.failFrac
		clear(failFrac)
		*c = conditions{traffic: 1, rise: 1, errFactor: 1, failFrac: failFrac}
	}
	prev := t.Add(-e.cfg.Tick)
	for _, f := range e.cfg.Faults {
		c := conds[f.Service]
		if f.Kind == MemoryLeak && f.End().After(prev) && !f.End().After(t) {
			c.restart = true
		}
		if !f.activeAt(t) {
			continue
		}
		switch f.Kind {
		case PodFailure:
			c.down = true
		case CPUStress:
			c.stress += 1.5 * f.Intensity
		case MemoryLeak:
			c.leakRate += f.Intensity * 8e6 / 60
		case RisingTraffic:
			ramp := float64(t.Sub(f.Start)) / float64(f.Duration)
			c.rise *= 1 + 3*f.Intensity*ramp
		case NetworkLatency:
			c.delay += 0.3 * f.Intensity
		case DependencyFailure:
			c.failFrac[f.Dependency] = 1 - (1-c.failFrac[f.Dependency])*(1-f.Intensity)
		}
	}
	applyDegradations(e.cfg.Degradations, t, conds)
	// A service's load follows its callers' (services come after their
	// callers); a callee that is down fails every call made to it.
	for _, name := range e.cfg.Services {
		c := conds[name]
		sum, n := 0.0, 0
		for _, caller := range callers[name] {
			if cc, ok := conds[caller]; ok {
				if !cc.down {
					sum += cc.traffic
				}
				n++
			}
		}
		c.traffic = c.rise
		if n > 0 {
			c.traffic *= sum / float64(n)
		}
		for _, caller := range callers[name] {
			if cc, ok := conds[caller]; ok && c.down {
				cc.failFrac[name] = 1
			}
		}
	}
	// Delays add up along one call: a caller's requests wait for half the
	// delay of each callee it uses while serving.
	for _, c := range conds {
		c.ownDelay = c.delay
	}
	for name, c := range conds {
		for _, d := range specs[name].protoDeps {
			if cd, ok := conds[d]; ok {
				c.delay += 0.5 * cd.ownDelay
			}
		}
	}
	return conds
}

// step computes one tick of a service. It draws the same random numbers
// whatever the conditions.
func (s *svcState) step(t time.Time, dt, load, ues float64, c *conditions) {
	wasDown := s.down
	s.down = c.down
	if (wasDown && !s.down) || c.restart {
		for _, i := range s.idx.counters {
			s.values[i] = 0
		}
		s.leak = 0
		s.values[s.idx.start] = float64(t.Unix())
	}
	apply := !s.down
	users := ues * c.traffic

	for i, p := range s.spec.procs {
		n := poisson(p.perUE*users*dt, s.rng.Float64())
		base := math.Min(1, p.baseFail*c.errFactor)
		pFail := base + (1-base)*failFraction(c.failFrac, p.deps)
		fails := binomial(n, pFail, s.rng.Float64())
		if !apply {
			continue
		}
		s.values[s.idx.procReq[i]] += n
		if j := s.idx.procOK[i]; j >= 0 {
			s.values[j] += n - fails
		}
		if j := s.idx.procFail[i]; j >= 0 {
			s.values[j] += fails
		}
	}
	for i, g := range s.spec.gauges {
		v := math.Round((g.perUE*users + g.constant) * (1 + 0.01*normal(s.rng.Float64())))
		if apply {
			s.values[s.idx.gauges[i]] = v
		}
	}

	// Server-side requests: some time out on a failing callee, the rest are
	// answered after a log-normal latency that grows with utilisation.
	n := poisson(s.spec.protoPerUE*users*dt, s.rng.Float64())
	timeouts := binomial(n, failFraction(c.failFrac, s.spec.protoDeps), s.rng.Float64())
	answered := n - timeouts
	clientErr := binomial(answered, 0.002, s.rng.Float64())
	serverErr := binomial(answered-clientErr, math.Min(1, 0.0005*c.errFactor), s.rng.Float64())
	util := math.Min(0.9, 0.35*load*c.traffic+0.3*c.stress)
	median := s.spec.medianLat / (1 - util)
	const sigma = 0.6
	u := s.rng.Float64()
	sumNoise := 1 + 0.05*normal(s.rng.Float64())
	cpu := (s.spec.baseCPU + s.spec.cpuPerUE*users + c.stress) * dt * (1 + 0.05*normal(s.rng.Float64()))
	s.memAR = 0.95*s.memAR + 0.3*normal(s.rng.Float64())
	if !apply {
		s.values[s.idx.up] = 0
		return
	}
	s.values[s.idx.responses[0]] += answered - clientErr - serverErr
	s.values[s.idx.responses[1]] += clientErr
	s.values[s.idx.responses[2]] += serverErr + timeouts
	for j, le := range latencyBuckets {
		inc := math.Floor(answered*logNormalCDF(le-c.delay, median, sigma) + u)
		if le >= requestTimeout {
			inc += timeouts
		}
		s.values[s.idx.buckets[j]] += inc
	}
	s.values[s.idx.buckets[len(latencyBuckets)]] += n
	s.values[s.idx.sum] += answered*(c.delay+median*math.Exp(sigma*sigma/2))*sumNoise + timeouts*requestTimeout
	s.values[s.idx.count] += n
	s.values[s.idx.cpu] += cpu
	s.leak += c.leakRate * dt
	s.values[s.idx.memory] = math.Round(s.spec.baseMemory + s.spec.memPerUE*users + s.leak + 2e6*s.memAR)
	s.values[s.idx.up] = 1
}

// failFraction is the fraction of a procedure's attempts that fail because
// one of its callees fails.
func failFraction(failFrac map[string]float64, deps []string) float64 {
	ok := 1.0
	for _, d := range deps {
		ok *= 1 - dependencyWeight(d)*failFrac[d]
	}
	return 1 - ok
}

// dependencyWeight is the share of calls that reach a callee: NF profiles
// are cached after discovery, so only one call in ten needs the NRF.
func dependencyWeight(callee string) float64 {
	if callee == NRF {
		return 0.1
	}
	return 1
}

// normal turns a uniform draw into a standard normal one by inversion, so
// that it always consumes exactly one random number.
func normal(u float64) float64 {
	u = math.Min(math.Max(u, 1e-12), 1-1e-12)
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// poisson draws a Poisson count with mean lambda from one uniform: by
// inverting the CDF for small means, by a rounded normal for large ones.
func poisson(lambda, u float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 40 {
		return math.Max(0, math.Round(lambda+math.Sqrt(lambda)*normal(u)))
	}
	p := math.Exp(-lambda)
	cdf := p
	k := 0.0
	for u > cdf && k < 200 {
		k++
		p *= lambda / k
		cdf += p
	}
	return k
}

// binomial draws how many of n trials with probability p fail, through the
// Poisson approximation of the rarer outcome.
func binomial(n, p, u float64) float64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p <= 0.5:
		return math.Min(n, poisson(n*p, u))
	default:
		return n - math.Min(n, poisson(n*(1-p), u))
	}
}

// logNormalCDF is P(X <= x) for a log-normal X with the given median and
// shape.
func logNormalCDF(x, median, sigma float64) float64 {
	if x <= 0 {
		return 0
	}
	return 0.5 * math.Erfc(-(math.Log(x)-math.Log(median))/(sigma*math.Sqrt2))
}
