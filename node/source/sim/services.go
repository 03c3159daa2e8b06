package sim

import "github.com/srellama/srellama/node/source"

// The 5G-core network functions the simulator knows, named as Open5GS names
// its daemons (open5gs-amfd, ...), without the suffix.
const (
	AMF  = "amf"
	SMF  = "smf"
	UPF  = "upf"
	NRF  = "nrf"
	AUSF = "ausf"
	UDM  = "udm"
	PCF  = "pcf"
)

// allServices lists every simulated network function in dependency order:
// a service comes after all services that call it (see callers).
var allServices = []string{AMF, SMF, AUSF, PCF, UDM, UPF, NRF}

// AllServices returns the network functions the simulator can run.
func AllServices() []string { return append([]string(nil), allServices...) }

// procSpec is one signalling procedure counted by a pair of Open5GS
// counters: attempts (req) and successes (ok). Some procedures count
// rejections (fail) instead of, or besides, successes.
type procSpec struct {
	req, reqHelp string
	ok, okHelp   string // "" when Open5GS has no success counter
	fail, fHelp  string // "" when Open5GS has no failure counter
	perUE        float64
	baseFail     float64  // failure probability in a healthy core
	deps         []string // services the procedure calls; a failure there fails it
}

// gaugeSpec is a level that follows the number of active UEs.
type gaugeSpec struct {
	name, help string
	perUE      float64
	constant   float64 // added to perUE*UEs (e.g. the number of gNBs)
}

// serviceSpec describes one network function: its Open5GS counters and
// gauges, its server-side request histogram, and the resources its process
// uses.
type serviceSpec struct {
	name   string
	procs  []procSpec
	gauges []gaugeSpec
	// Server-side requests: the SBI (HTTP/2) for control-plane functions,
	// PFCP (N4) for the UPF.
	proto      string
	protoPerUE float64
	protoDeps  []string
	medianLat  float64 // seconds, at zero load
	baseMemory float64 // bytes
	memPerUE   float64
	baseCPU    float64 // cores when idle
	cpuPerUE   float64 // cores per active UE
}

// callers lists, for each service, the services that send it requests: a
// failure of the callee fails their procedures, and their traffic drives the
// callee's.
var callers = map[string][]string{
	SMF:  {AMF},
	AUSF: {AMF},
	PCF:  {AMF, SMF},
	UDM:  {AMF, AUSF, SMF, PCF},
	UPF:  {SMF},
	NRF:  {AMF, SMF, AUSF, PCF, UDM},
}

// specs is the catalogue. Counter and gauge names and help texts follow
// Open5GS's metrics (src/<nf>/metrics.c); Open5GS exports no function
// metrics for the NRF, AUSF and UDM, so those expose only their SBI
// histogram, response counters and process metrics. Rates are per active UE
// per second and are calibrated so that a few thousand UEs give the request
// volumes of a small operator's core.
var specs = map[string]serviceSpec{
	AMF: {
		name: AMF,
		procs: []procSpec{
			{req: "fivegs_amffunction_rm_reginitreq", reqHelp: "Number of initial registration requests received by the AMF",
				ok: "fivegs_amffunction_rm_reginitsucc", okHelp: "Number of successful initial registrations at the AMF",
				perUE: 1.0 / 1800, baseFail: 0.004, deps: []string{AUSF, UDM, PCF}},
			{req: "fivegs_amffunction_rm_regmobreq", reqHelp: "Number of mobility registration update requests received by the AMF",
				ok: "fivegs_amffunction_rm_regmobsucc", okHelp: "Number of successful mobility registration updates at the AMF",
				perUE: 1.0 / 900, baseFail: 0.002, deps: []string{UDM, SMF}},
			{req: "fivegs_amffunction_rm_regperiodreq", reqHelp: "Number of periodic registration update requests received by the AMF",
				ok: "fivegs_amffunction_rm_regperiodsucc", okHelp: "Number of successful periodic registration update requests at the AMF",
				perUE: 1.0 / 3240, baseFail: 0.001},
			{req: "fivegs_amffunction_amf_authreq", reqHelp: "Number of authentication requests sent by the AMF",
				fail: "fivegs_amffunction_amf_authreject", fHelp: "Number of authentication rejections sent by the AMF",
				perUE: 1.0 / 1700, baseFail: 0.003, deps: []string{AUSF}},
			{req: "fivegs_amffunction_mm_paging5greq", reqHelp: "Number of 5G paging procedures initiated at the AMF",
				ok: "fivegs_amffunction_mm_paging5gsucc", okHelp: "Number of successful 5G paging procedures initiated at the AMF",
				perUE: 1.0 / 1200, baseFail: 0.03},
			{req: "fivegs_amffunction_mm_confupdate", reqHelp: "Number of UE Configuration Update commands requested by the AMF",
				ok: "fivegs_amffunction_mm_confupdatesucc", okHelp: "Number of UE Configuration Update complete messages received by the AMF",
				perUE: 1.0 / 7200, baseFail: 0.01},
		},
		gauges: []gaugeSpec{
			{name: "fivegs_amffunction_rm_registeredsubnbr", help: "Number of registered state subscribers per AMF", perUE: 0.97},
			{name: "amf_session", help: "AMF Sessions", perUE: 0.85},
			{name: "ran_ue", help: "RAN UEs", perUE: 0.6},
			{name: "gnb", help: "gNodeBs", constant: 12},
		},
		proto: "sbi", protoPerUE: 1.0 / 600, protoDeps: []string{NRF},
		medianLat: 0.006, baseMemory: 96e6, memPerUE: 6e3, baseCPU: 0.02, cpuPerUE: 4e-5,
	},
	SMF: {
		name: SMF,
		procs: []procSpec{
			{req: "fivegs_smffunction_sm_pdusessioncreationreq", reqHelp: "Number of PDU sessions requested to be created by the SMF",
				ok: "fivegs_smffunction_sm_pdusessioncreationsucc", okHelp: "Number of PDU sessions successfully created by the SMF",
				perUE: 1.0 / 1500, baseFail: 0.003, deps: []string{UDM, PCF, UPF}},
			{req: "fivegs_smffunction_sm_n4sessionestabreq", reqHelp: "Number of requested N4 session establishments evidented by SMF",
				fail: "fivegs_smffunction_sm_n4sessionestabfail", fHelp: "Number of failed N4 session establishments evidented by SMF",
				perUE: 1.0 / 1500, baseFail: 0.001, deps: []string{UPF}},
			{req: "fivegs_smffunction_sm_n4sessionreport", reqHelp: "Number of requested N4 session reports evidented by SMF",
				ok: "fivegs_smffunction_sm_n4sessionreportsucc", okHelp: "Number of successful N4 session reports evidented by SMF",
				perUE: 1.0 / 2400, baseFail: 0.001, deps: []string{UPF}},
		},
		gauges: []gaugeSpec{
			{name: "fivegs_smffunction_sm_sessionnbr", help: "Active Sessions", perUE: 0.8},
			{name: "fivegs_smffunction_sm_qos_flow_nbr", help: "Number of QoS flows at the SMF", perUE: 0.9},
			{name: "ues_active", help: "Active User Equipments", perUE: 0.75},
		},
		proto: "sbi", protoPerUE: 1.0 / 700, protoDeps: []string{UDM, PCF, NRF},
		medianLat: 0.009, baseMemory: 80e6, memPerUE: 9e3, baseCPU: 0.02, cpuPerUE: 3e-5,
	},
	UPF: {
		name: UPF,
		procs: []procSpec{
			{req: "fivegs_upffunction_sm_n4sessionestabreq", reqHelp: "Number of requested N4 session establishments",
				perUE: 1.0 / 1500},
			{req: "fivegs_upffunction_sm_n4sessionreport", reqHelp: "Number of requested N4 session reports",
				ok: "fivegs_upffunction_sm_n4sessionreportsucc", okHelp: "Number of successful N4 session reports",
				perUE: 1.0 / 2400, baseFail: 0.001},
			{req: "fivegs_ep_n3_gtp_indatapktn3upf", reqHelp: "Number of incoming GTP data packets on the N3 interface",
				perUE: 22},
			{req: "fivegs_ep_n3_gtp_outdatapktn3upf", reqHelp: "Number of outgoing GTP data packets on the N3 interface",
				perUE: 31},
		},
		gauges: []gaugeSpec{
			{name: "fivegs_upffunction_upf_sessionnbr", help: "Active Sessions", perUE: 0.8},
			{name: "fivegs_upffunction_upf_qosflows", help: "Number of QoS flows of UPF", perUE: 0.9},
		},
		proto: "pfcp", protoPerUE: 1.0 / 900,
		medianLat: 0.0015, baseMemory: 150e6, memPerUE: 20e3, baseCPU: 0.05, cpuPerUE: 2e-4,
	},
	PCF: {
		name: PCF,
		procs: []procSpec{
			{req: "fivegs_pcffunction_pa_policyamassoreq", reqHelp: "Number of AM policy association requests",
				ok: "fivegs_pcffunction_pa_policyamassosucc", okHelp: "Number of successful AM policy associations",
				perUE: 1.0 / 1800, baseFail: 0.002, deps: []string{UDM}},
			{req: "fivegs_pcffunction_pa_policysmassoreq", reqHelp: "Number of SM policy association requests",
				ok: "fivegs_pcffunction_pa_policysmassosucc", okHelp: "Number of successful SM policy associations",
				perUE: 1.0 / 1500, baseFail: 0.002, deps: []string{UDM}},
		},
		gauges: []gaugeSpec{
			{name: "fivegs_pcffunction_pa_sessionnbr", help: "Active Sessions", perUE: 0.8},
		},
		proto: "sbi", protoPerUE: 1.0 / 800, protoDeps: []string{UDM, NRF},
		medianLat: 0.005, baseMemory: 70e6, memPerUE: 4e3, baseCPU: 0.015, cpuPerUE: 2e-5,
	},
	AUSF: {
		name: AUSF, proto: "sbi", protoPerUE: 1.0 / 1700, protoDeps: []string{UDM, NRF},
		medianLat: 0.004, baseMemory: 45e6, memPerUE: 500, baseCPU: 0.01, cpuPerUE: 1e-5,
	},
	UDM: {
		name: UDM, proto: "sbi", protoPerUE: 1.0 / 500, protoDeps: []string{NRF},
		medianLat: 0.005, baseMemory: 50e6, memPerUE: 800, baseCPU: 0.01, cpuPerUE: 2e-5,
	},
	NRF: {
		name: NRF, proto: "sbi", protoPerUE: 1.0 / 4000,
		medianLat: 0.002, baseMemory: 40e6, memPerUE: 100, baseCPU: 0.01, cpuPerUE: 5e-6,
	},
}

// latencyBuckets are the upper bounds of the request histograms, in seconds.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// requestTimeout is how long a caller waits for a dependency that does not
// answer; requests failed that way are observed at this latency.
const requestTimeout = 3.0

// Names of the metrics every simulated service exports besides its Open5GS
// ones.
const (
	metricUp        = "up"
	metricCPU       = "process_cpu_seconds_total"
	metricMemory    = "process_resident_memory_bytes"
	metricStartTime = "process_start_time_seconds"
)

func histogramName(proto string) string { return proto + "_server_request_duration_seconds" }
func responsesName(proto string) string { return proto + "_server_responses_total" }

// seriesKind tells the engine how to compute a series.
type seriesKind int

const (
	kindProcReq seriesKind = iota
	kindProcOK
	kindProcFail
	kindGauge
	kindResponses
	kindBucket
	kindHistSum
	kindHistCount
	kindUp
	kindCPU
	kindMemory
	kindStartTime
)

// seriesDef is one exported series of a service and how to compute it.
type seriesDef struct {
	info source.SeriesInfo
	kind seriesKind
	arg  int // procedure, gauge, bucket or response-class index
}

// responseClasses are the status classes of the server-side response counter.
var responseClasses = []string{"2xx", "4xx", "5xx"}

// catalogue lists a service's series in a fixed order; the engine's state
// vector follows it.
func catalogue(svc string) []seriesDef {
	spec := specs[svc]
	base := map[string]string{"service": svc}
	var defs []seriesDef
	add := func(metric string, extra map[string]string, typ source.MetricType, help, unit string, kind seriesKind, arg int) {
		labels := map[string]string{}
		for k, v := range base {
			labels[k] = v
		}
		for k, v := range extra {
			labels[k] = v
		}
		defs = append(defs, seriesDef{
			info: source.SeriesInfo{ID: source.SelectorID(metric, labels), Metric: metric, Labels: labels, Type: typ, Help: help, Unit: unit},
			kind: kind, arg: arg,
		})
	}
	for i, p := range spec.procs {
		add(p.req, nil, source.TypeCounter, p.reqHelp, "", kindProcReq, i)
		if p.ok != "" {
			add(p.ok, nil, source.TypeCounter, p.okHelp, "", kindProcOK, i)
		}
		if p.fail != "" {
			add(p.fail, nil, source.TypeCounter, p.fHelp, "", kindProcFail, i)
		}
	}
	for i, g := range spec.gauges {
		add(g.name, nil, source.TypeGauge, g.help, "", kindGauge, i)
	}
	proto := spec.proto
	protoName := map[string]string{"sbi": "SBI (HTTP/2)", "pfcp": "PFCP (N4)"}[proto]
	for i, class := range responseClasses {
		add(responsesName(proto), map[string]string{"status": class}, source.TypeCounter,
			"Number of "+protoName+" responses sent, by status class", "", kindResponses, i)
	}
	hist := histogramName(proto)
	histHelp := "Latency of " + protoName + " requests served"
	for i, le := range latencyBuckets {
		add(hist+"_bucket", map[string]string{"le": formatLe(le)}, source.TypeHistogram, histHelp, "seconds", kindBucket, i)
	}
	add(hist+"_bucket", map[string]string{"le": "+Inf"}, source.TypeHistogram, histHelp, "seconds", kindBucket, len(latencyBuckets))
	add(hist+"_sum", nil, source.TypeHistogram, histHelp, "seconds", kindHistSum, 0)
	add(hist+"_count", nil, source.TypeHistogram, histHelp, "seconds", kindHistCount, 0)
	add(metricUp, nil, source.TypeGauge, "1 if the target was scraped successfully, 0 when it was down", "", kindUp, 0)
	add(metricCPU, nil, source.TypeCounter, "Total user and system CPU time spent in seconds", "seconds", kindCPU, 0)
	add(metricMemory, nil, source.TypeGauge, "Resident memory size in bytes", "bytes", kindMemory, 0)
	add(metricStartTime, nil, source.TypeGauge, "Start time of the process since unix epoch in seconds", "seconds", kindStartTime, 0)
	return defs
}

// Procedure names the Open5GS counters of one signalling procedure: the
// attempts, and the successes or the failures (or both) where Open5GS counts
// them; an empty name means Open5GS has no such counter.
type Procedure struct {
	Requests, Successes, Failures string
}

// Procedures lists a service's request/outcome counter pairs, the natural
// ratio SLIs, for evaluating an SLI selector against what the simulator
// knows; nil for an unknown service. The server-side histogram and response
// counters are not included: they are named by HistogramName and
// ResponsesName.
func Procedures(service string) []Procedure {
	spec, ok := specs[service]
	if !ok {
		return nil
	}
	var out []Procedure
	for _, p := range spec.procs {
		if p.ok != "" || p.fail != "" {
			out = append(out, Procedure{Requests: p.req, Successes: p.ok, Failures: p.fail})
		}
	}
	return out
}

// HistogramName is the family of a service's server-side request-latency
// histogram (series _bucket, _sum, _count); "" for an unknown service.
func HistogramName(service string) string {
	spec, ok := specs[service]
	if !ok {
		return ""
	}
	return histogramName(spec.proto)
}

// ResponsesName is the counter of a service's server-side responses,
// labelled status="2xx", "4xx" or "5xx"; "" for an unknown service.
func ResponsesName(service string) string {
	spec, ok := specs[service]
	if !ok {
		return ""
	}
	return responsesName(spec.proto)
}
