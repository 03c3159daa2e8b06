package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// FaultKind names a chaos experiment, after Chaos Mesh's fault types.
type FaultKind string

// The faults the simulator injects.
const (
	// PodFailure takes the service down: no samples (up is 0), its callers'
	// procedures that need it fail, the traffic it would have sent on
	// disappears; counters restart from zero when it comes back.
	PodFailure FaultKind = "pod_failure"
	// CPUStress burns CPU in the service's pod, which slows its requests.
	CPUStress FaultKind = "cpu_stress"
	// MemoryLeak grows the resident memory steadily; the pod is restarted
	// (counters reset) when the fault ends.
	MemoryLeak FaultKind = "memory_leak"
	// RisingTraffic ramps the service's load up to 1+3*Intensity times its
	// normal level; services it calls see the extra load too.
	RisingTraffic FaultKind = "rising_traffic"
	// NetworkLatency delays the service's responses; callers wait too.
	NetworkLatency FaultKind = "network_latency"
	// DependencyFailure breaks the service's calls to Dependency: that
	// fraction (Intensity) of them time out.
	DependencyFailure FaultKind = "dependency_failure"
)

// FaultKinds lists every fault kind.
func FaultKinds() []FaultKind {
	return []FaultKind{PodFailure, CPUStress, MemoryLeak, RisingTraffic, NetworkLatency, DependencyFailure}
}

// Fault is one scheduled chaos experiment.
type Fault struct {
	Kind     FaultKind
	Service  string
	Start    time.Time
	Duration time.Duration
	// Intensity in (0, 1] scales the fault: extra cores, leak rate, traffic
	// growth, added delay, fraction of failed calls.
	Intensity float64
	// Dependency is the callee whose calls fail (DependencyFailure only).
	Dependency string
}

// End is when the fault stops.
func (f Fault) End() time.Time { return f.Start.Add(f.Duration) }

func (f Fault) activeAt(t time.Time) bool { return !t.Before(f.Start) && t.Before(f.End()) }

// Config fixes everything the simulator generates: the same Config gives the
// same data, sample for sample.
type Config struct {
	Org  string
	Seed uint64
	// Start is the origin: processes start here and counters count from zero.
	Start time.Time
	// Tick is the simulation resolution (default 15s); a series' value at t is
	// its value at the last tick at or before t.
	Tick time.Duration
	// Services run in this organization; at least one.
	Services []string
	// UEs is the number of subscribers at the daily peak.
	UEs float64
	// PeakHour is the local hour of the daily traffic peak, in [0, 24).
	PeakHour float64
	Faults   []Fault
	// Degradations are lasting shifts (not faults, not incidents).
	Degradations []Degradation
}

// DefaultTick is the simulation resolution when Config.Tick is zero.
const DefaultTick = 15 * time.Second

// Plan draws an organization's configuration: which network functions it
// runs, how many UEs it serves, when its traffic peaks and which faults hit
// it between start and end, about faultsPerDay a day. Organizations differ
// (non-IID): each has its own subset of services and its own preferred fault
// kinds. The result depends only on the arguments, and the past does not
// depend on start: the origin is the deploy boundary (Segment) at or before
// start, and each calendar day's faults are drawn from that day's own
// stream, so two plans of one organization and seed agree on every time
// both cover (but for faults within an hour of end).
func Plan(org string, seed uint64, start, end time.Time, faultsPerDay float64) (Config, error) {
	if !end.After(start) {
		return Config{}, errors.New("sim: plan: end is not after start")
	}
	if !(faultsPerDay >= 0 && faultsPerDay <= maxFaultsPerDay) {
		return Config{}, fmt.Errorf("sim: plan: faults per day %v is not in 0..%d", faultsPerDay, maxFaultsPerDay)
	}
	rng := rand.New(rand.NewPCG(seed, hashString("plan/"+org)))
	start = segmentOf(start)
	cfg := Config{
		Org:      org,
		Seed:     seed,
		Start:    start,
		Tick:     DefaultTick,
		Services: pickServices(rng),
		UEs:      math.Round(3000 * math.Exp(rng.NormFloat64()*0.6)),
		PeakHour: 17 + 4*rng.Float64(),
	}
	cfg.Faults = planFaults(rng, seed, org, cfg.Services, start, end, faultsPerDay)
	return cfg, nil
}

// pickServices keeps the AMF (every 5G core has one) and a random subset of
// four to six of the others.
func pickServices(rng *rand.Rand) []string {
	others := []string{SMF, UPF, NRF, AUSF, UDM, PCF}
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	keep := 3 + rng.IntN(4)
	svcs := append([]string{AMF}, others[:keep]...)
	return sortServices(svcs)
}

// faultDurations bounds each kind's duration.
var faultDurations = map[FaultKind][2]time.Duration{
	PodFailure:        {2 * time.Minute, 10 * time.Minute},
	CPUStress:         {10 * time.Minute, 40 * time.Minute},
	MemoryLeak:        {30 * time.Minute, 2 * time.Hour},
	RisingTraffic:     {30 * time.Minute, 90 * time.Minute},
	NetworkLatency:    {10 * time.Minute, 30 * time.Minute},
	DependencyFailure: {5 * time.Minute, 20 * time.Minute},
}

// maxFaultsPerDay bounds a plan: one fault a minute on average is far past
// anything a core can show apart, and the plan's size is linear in it.
const maxFaultsPerDay = 1440

// planFaults schedules faults with organization-specific kind weights,
// never two at once on the same service, none in the first hour after the
// origin or the last before end. Each calendar day's faults come from a
// stream of that day alone and end within the day, so no day's faults
// depend on another's: any plan covering a day draws it the same.
func planFaults(rng *rand.Rand, seed uint64, org string, svcs []string, start, end time.Time, perDay float64) []Fault {
	kinds := FaultKinds()
	weights := make([]float64, len(kinds))
	total := 0.0
	for i := range weights {
		// Exponential weights make each organization favour a few kinds.
		weights[i] = rng.ExpFloat64()
		total += weights[i]
	}
	lo, hi := start.Add(time.Hour), end.Add(-time.Hour)
	if !hi.After(lo) {
		return nil
	}
	var faults []Fault
	busy := map[string][]Fault{} // per service, sorted by start, never overlapping
	for day := start.Truncate(24 * time.Hour); day.Before(hi); day = day.Add(24 * time.Hour) {
		drng := rand.New(rand.NewPCG(seed^hashString("faults/"+org), uint64(day.Unix())))
		n := int(perDay)
		if drng.Float64() < perDay-float64(n) {
			n++
		}
		placed := 0
		for attempt := 0; placed < n && attempt < 20*n; attempt++ {
			kind := kinds[pickWeighted(drng, weights, total)]
			svc := svcs[drng.IntN(len(svcs))]
			f := Fault{Kind: kind, Service: svc, Intensity: 0.3 + 0.7*drng.Float64()}
			if kind == DependencyFailure {
				deps := presentDeps(svc, svcs)
				if len(deps) == 0 {
					continue
				}
				f.Dependency = deps[drng.IntN(len(deps))]
			}
			bounds := faultDurations[kind]
			f.Duration = (bounds[0] + time.Duration(drng.Int64N(int64(bounds[1]-bounds[0])))).Truncate(time.Minute)
			f.Start = day.Add(time.Duration(drng.Int64N(int64(24*time.Hour - f.Duration)))).Truncate(time.Minute)
			at, free := freeSlot(busy[f.Service], f)
			if !free {
				continue
			}
			placed++
			busy[f.Service] = slices.Insert(busy[f.Service], at, f)
			// Every drawn fault keeps its place in the day's stream;
			// those outside the plan's window are not injected.
			faults = append(faults, f)
		}
	}
	faults = slices.DeleteFunc(faults, func(f Fault) bool { return f.Start.Before(lo) || f.End().After(hi) })
	slices.SortFunc(faults, func(a, b Fault) int { return a.Start.Compare(b.Start) })
	return faults
}

func pickWeighted(rng *rand.Rand, weights []float64, total float64) int {
	x := rng.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// presentDeps lists the services svc calls that also run in svcs.
func presentDeps(svc string, svcs []string) []string {
	var deps []string
	for _, callee := range allServices {
		if slices.Contains(callers[callee], svc) && slices.Contains(svcs, callee) {
			deps = append(deps, callee)
		}
	}
	return deps
}

// freeSlot finds where f goes among a service's faults (sorted by start,
// never overlapping, so also sorted by end) and whether it overlaps none:
// only its neighbours can overlap it, so the check is a binary search
// instead of a scan of every fault planned so far.
func freeSlot(busy []Fault, f Fault) (int, bool) {
	at, _ := slices.BinarySearchFunc(busy, f.Start, func(g Fault, t time.Time) int { return g.Start.Compare(t) })
	if at > 0 && f.Start.Before(busy[at-1].End()) {
		return at, false
	}
	if at < len(busy) && busy[at].Start.Before(f.End()) {
		return at, false
	}
	return at, true
}

// sortServices orders services as allServices does (callers first).
func sortServices(svcs []string) []string {
	out := slices.Clone(svcs)
	slices.SortFunc(out, func(a, b string) int { return slices.Index(allServices, a) - slices.Index(allServices, b) })
	return out
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.UEs == 0 {
		c.UEs = 3000
	}
	c.Services = sortServices(c.Services)
	c.Faults = slices.Clone(c.Faults)
	c.Degradations = slices.Clone(c.Degradations)
	return c
}

// validate refuses a configuration the engine cannot run, naming the field.
func (c Config) validate() error {
	if c.Start.IsZero() {
		return errors.New("sim: config: start is not set")
	}
	if c.Tick < time.Second {
		return fmt.Errorf("sim: config: tick %v is below one second", c.Tick)
	}
	if len(c.Services) == 0 {
		return errors.New("sim: config: no services")
	}
	seen := map[string]bool{}
	for _, s := range c.Services {
		if _, ok := specs[s]; !ok {
			return fmt.Errorf("sim: config: unknown service %q (known: %v)", s, allServices)
		}
		if seen[s] {
			return fmt.Errorf("sim: config: service %q listed twice", s)
		}
		seen[s] = true
	}
	if !(c.UEs > 0) || math.IsInf(c.UEs, 0) {
		return fmt.Errorf("sim: config: UEs %v is not a positive number", c.UEs)
	}
	if c.PeakHour < 0 || c.PeakHour >= 24 || math.IsNaN(c.PeakHour) {
		return fmt.Errorf("sim: config: peak hour %v is outside [0, 24)", c.PeakHour)
	}
	for i, f := range c.Faults {
		if err := f.validate(seen); err != nil {
			return fmt.Errorf("sim: config: fault %d: %w", i, err)
		}
	}
	for i, d := range c.Degradations {
		if err := d.validate(seen); err != nil {
			return fmt.Errorf("sim: config: degradation %d: %w", i, err)
		}
	}
	return nil
}

func (f Fault) validate(services map[string]bool) error {
	if _, ok := faultDurations[f.Kind]; !ok {
		return fmt.Errorf("unknown kind %q", f.Kind)
	}
	if !services[f.Service] {
		return fmt.Errorf("%s on service %q, which does not run", f.Kind, f.Service)
	}
	if f.Duration <= 0 || f.Start.IsZero() {
		return fmt.Errorf("%s on %s: start must be set and duration positive", f.Kind, f.Service)
	}
	if !(f.Intensity > 0 && f.Intensity <= 1) {
		return fmt.Errorf("%s on %s: intensity %v is outside (0, 1]", f.Kind, f.Service, f.Intensity)
	}
	if f.Kind == DependencyFailure {
		if !services[f.Dependency] || !slices.Contains(callers[f.Dependency], f.Service) {
			return fmt.Errorf("dependency failure: %s does not call %q in this organization", f.Service, f.Dependency)
		}
	} else if f.Dependency != "" {
		return fmt.Errorf("%s on %s: dependency is only meaningful for %s", f.Kind, f.Service, DependencyFailure)
	}
	return nil
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func formatLe(le float64) string { return strconv.FormatFloat(le, 'g', -1, 64) }
