package sim

import (
	"slices"
	"strconv"
	"time"

	"github.com/srellama/srellama/node/source"
)

// Roles of a service in a fault, given as the incident label "role".
const (
	RoleTarget     = "target"     // the fault was injected into this service
	RoleCaller     = "caller"     // the service calls the faulty one and suffers
	RoleDownstream = "downstream" // the faulty service's traffic reaches this one
)

// impact is what one fault does to one service while it is active: the role
// the service plays and the metrics (by name) the fault moves there. It
// mirrors the engine's rules; TestGroundTruthMatchesEngine holds them
// together.
func impact(f Fault, svc string, present []string) (role string, metrics []string) {
	set := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			set[n] = true
		}
	}
	switch {
	case f.Service == svc:
		role = RoleTarget
		switch f.Kind {
		case PodFailure:
			add(allMetrics(svc)...)
		case CPUStress:
			add(metricCPU)
			add(latencyMetrics(svc)...)
		case MemoryLeak:
			add(metricMemory)
		case RisingTraffic:
			add(loadMetrics(svc)...)
		case NetworkLatency:
			add(latencyMetrics(svc)...)
		case DependencyFailure:
			add(failureMetrics(svc, f.Dependency)...)
		}
	default:
		calls := slices.Contains(callers[f.Service], svc)
		if calls && f.Kind == PodFailure {
			role = RoleCaller
			add(failureMetrics(svc, f.Service)...)
		}
		if calls && f.Kind == NetworkLatency && slices.Contains(specs[svc].protoDeps, f.Service) {
			role = RoleCaller
			add(latencyMetrics(svc)...)
		}
		if (f.Kind == PodFailure || f.Kind == RisingTraffic) && downstreamOf(f.Service, svc, present) {
			if role == "" {
				role = RoleDownstream
			}
			add(loadMetrics(svc)...)
		}
	}
	if len(set) == 0 {
		return "", nil
	}
	metrics = make([]string, 0, len(set))
	for n := range set {
		metrics = append(metrics, n)
	}
	slices.Sort(metrics)
	return role, metrics
}

// downstreamOf reports whether traffic from src reaches dst through running
// services.
func downstreamOf(src, dst string, present []string) bool {
	seen := map[string]bool{src: true}
	frontier := []string{src}
	for len(frontier) > 0 {
		cur := frontier[0]
		frontier = frontier[1:]
		for _, callee := range present {
			if seen[callee] || !slices.Contains(callers[callee], cur) {
				continue
			}
			if callee == dst {
				return true
			}
			seen[callee] = true
			frontier = append(frontier, callee)
		}
	}
	return false
}

func allMetrics(svc string) []string {
	var names []string
	for _, d := range catalogue(svc) {
		names = append(names, d.info.Metric)
	}
	return names
}

// loadMetrics move with the number of UEs the service handles.
func loadMetrics(svc string) []string {
	var names []string
	for _, d := range catalogue(svc) {
		switch d.kind {
		case kindUp, kindStartTime:
			continue
		case kindGauge:
			if specs[svc].gauges[d.arg].perUE == 0 {
				continue
			}
		}
		names = append(names, d.info.Metric)
	}
	return names
}

func latencyMetrics(svc string) []string {
	h := histogramName(specs[svc].proto)
	return []string{h + "_bucket", h + "_sum"}
}

// failureMetrics move when the service's calls to callee fail: the outcome
// counters of the procedures that need the callee, and the server-side
// responses and latencies when serving requests needs it.
func failureMetrics(svc, callee string) []string {
	spec := specs[svc]
	var names []string
	for _, p := range spec.procs {
		if !slices.Contains(p.deps, callee) {
			continue
		}
		if p.ok != "" {
			names = append(names, p.ok)
		}
		if p.fail != "" {
			names = append(names, p.fail)
		}
	}
	if slices.Contains(spec.protoDeps, callee) {
		names = append(names, responsesName(spec.proto))
		names = append(names, latencyMetrics(svc)...)
	}
	return names
}

// incidentsFor lists the faults that touch svc and overlap [start, end).
func incidentsFor(cfg Config, svc string, start, end time.Time) []source.Incident {
	var out []source.Incident
	for _, f := range cfg.Faults {
		if !f.Start.Before(end) || !f.End().After(start) {
			continue
		}
		role, metrics := impact(f, svc, cfg.Services)
		if role == "" {
			continue
		}
		labels := map[string]string{
			"fault":         string(f.Kind),
			"fault_service": f.Service,
			"role":          role,
			"intensity":     strconv.FormatFloat(f.Intensity, 'f', 2, 64),
		}
		if f.Dependency != "" {
			labels["dependency"] = f.Dependency
		}
		out = append(out, source.Incident{
			Service: svc, Name: string(f.Kind), Start: f.Start, End: f.End(),
			Metrics: metrics, Labels: labels,
		})
	}
	return out
}
