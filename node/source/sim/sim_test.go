package sim

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

var origin = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func newSim(t testing.TB, cfg Config) *Simulator {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func fullConfig(faults ...Fault) Config {
	return Config{Org: "org-a", Seed: 7, Start: origin, Services: AllServices(), UEs: 6000, PeakHour: 19, Faults: faults}
}

func allIDs(t testing.TB, s *Simulator) []string {
	t.Helper()
	var ids []string
	for _, svc := range s.Config().Services {
		list, err := s.ListSeries(context.Background(), svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range list {
			ids = append(ids, info.ID)
		}
	}
	return ids
}

func fetch(t testing.TB, s *Simulator, ids []string, r source.Range) []source.Series {
	t.Helper()
	out, err := s.Fetch(context.Background(), ids, r)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return out
}

func sameValues(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) })
}

func TestSameConfigGivesSameSamples(t *testing.T) {
	cfg := fullConfig(Fault{Kind: CPUStress, Service: SMF, Start: origin.Add(2 * time.Hour), Duration: 20 * time.Minute, Intensity: 0.8})
	r := source.Range{Start: origin, End: origin.Add(6 * time.Hour), Step: time.Minute}
	a, b := newSim(t, cfg), newSim(t, cfg)
	ids := allIDs(t, a)
	sa, sb := fetch(t, a, ids, r), fetch(t, b, ids, r)
	for i := range sa {
		if !sameValues(sa[i].Values, sb[i].Values) {
			t.Fatalf("%s differs between two runs of the same config", ids[i])
		}
	}
	// A sub-range sampled alone equals the same points of the longer fetch.
	sub := source.Range{Start: origin.Add(3 * time.Hour), End: origin.Add(4 * time.Hour), Step: time.Minute}
	ss := fetch(t, a, ids[:5], sub)
	for i := range ss {
		if !sameValues(ss[i].Values, sa[i].Values[180:241]) {
			t.Fatalf("%s: sub-range differs from the same points of the full range", ids[i])
		}
	}
	cfg.Seed++
	sc := fetch(t, newSim(t, cfg), ids[:1], r)
	if sameValues(sc[0].Values, sa[0].Values) {
		t.Fatalf("another seed gave identical %s", ids[0])
	}
}

func TestPlanGivesEachOrganizationItsOwnMix(t *testing.T) {
	end := origin.Add(7 * 24 * time.Hour)
	plans := map[string]Config{}
	for _, org := range []string{"org-1", "org-2", "org-3", "org-4", "org-5", "org-6"} {
		cfg, err := Plan(org, 42, origin, end, 3)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Plan(org, 42, origin, end, 3)
		if !slices.Equal(cfg.Services, again.Services) || !slices.Equal(cfg.Faults, again.Faults) {
			t.Fatalf("%s: two plans with the same arguments differ", org)
		}
		if _, err := New(cfg); err != nil {
			t.Fatalf("%s: planned config is invalid: %v", org, err)
		}
		if len(cfg.Faults) < 15 || len(cfg.Faults) > 21 {
			t.Errorf("%s: %d faults in 7 days at 3 a day", org, len(cfg.Faults))
		}
		for i, f := range cfg.Faults {
			for _, g := range cfg.Faults[i+1:] {
				if f.Service == g.Service && g.Start.Before(f.End()) {
					t.Errorf("%s: overlapping faults on %s", org, f.Service)
				}
			}
		}
		plans[org] = cfg
	}
	mixes := map[string]bool{}
	for _, cfg := range plans {
		counts := map[FaultKind]int{}
		for _, f := range cfg.Faults {
			counts[f.Kind]++
		}
		key := strings.Join(cfg.Services, ",")
		for _, k := range FaultKinds() {
			key += "|" + strings.Repeat("x", counts[k])
		}
		mixes[key] = true
	}
	if len(mixes) < len(plans) {
		t.Fatalf("only %d distinct service/fault mixes among %d organizations", len(mixes), len(plans))
	}
}

// TestGroundTruthMatchesEngine runs each fault against a fault-free twin:
// while the fault lasts, every series whose metric the incidents do not name
// must be identical, and the fault's key metric must move.
func TestGroundTruthMatchesEngine(t *testing.T) {
	at := origin.Add(19 * time.Hour) // the traffic peak
	cases := []struct {
		fault   Fault
		service string // where the key metric lives
		key     string
	}{
		{Fault{Kind: PodFailure, Service: UDM, Duration: 10 * time.Minute, Intensity: 1}, AMF, "fivegs_amffunction_rm_reginitsucc"},
		{Fault{Kind: PodFailure, Service: SMF, Duration: 10 * time.Minute, Intensity: 1}, UPF, "fivegs_ep_n3_gtp_indatapktn3upf"},
		{Fault{Kind: CPUStress, Service: PCF, Duration: 20 * time.Minute, Intensity: 0.9}, PCF, metricCPU},
		{Fault{Kind: MemoryLeak, Service: AMF, Duration: 40 * time.Minute, Intensity: 0.7}, AMF, metricMemory},
		{Fault{Kind: RisingTraffic, Service: AMF, Duration: 40 * time.Minute, Intensity: 1}, SMF, "fivegs_smffunction_sm_pdusessioncreationreq"},
		{Fault{Kind: NetworkLatency, Service: UDM, Duration: 20 * time.Minute, Intensity: 0.6}, AUSF, "sbi_server_request_duration_seconds_sum"},
		{Fault{Kind: DependencyFailure, Service: SMF, Dependency: UPF, Duration: 15 * time.Minute, Intensity: 0.8}, SMF, "fivegs_smffunction_sm_pdusessioncreationsucc"},
	}
	r := source.Range{Start: origin, End: at.Add(2 * time.Hour), Step: DefaultTick}
	base := newSim(t, fullConfig())
	ids := allIDs(t, base)
	baseline := fetch(t, base, ids, r)
	for _, tc := range cases {
		t.Run(string(tc.fault.Kind)+"/"+tc.fault.Service, func(t *testing.T) {
			tc.fault.Start = at
			s := newSim(t, fullConfig(tc.fault))
			faulty := fetch(t, s, ids, r)
			named := map[string]map[string]bool{}
			for _, svc := range s.Config().Services {
				incs, err := s.Incidents(context.Background(), svc, at, at.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				named[svc] = map[string]bool{}
				for _, inc := range incs {
					for _, m := range inc.Metrics {
						named[svc][m] = true
					}
				}
			}
			from := int(at.Sub(r.Start) / r.Step)
			to := int(tc.fault.End().Sub(r.Start) / r.Step)
			keyMoved := false
			for i, ser := range faulty {
				svc := ser.Info.Labels["service"]
				moved := !sameValues(ser.Values[from:to], baseline[i].Values[from:to])
				if moved && !named[svc][ser.Info.Metric] {
					t.Errorf("%s moved but no incident of %s names %s", ser.Info.ID, svc, ser.Info.Metric)
				}
				if svc == tc.service && ser.Info.Metric == tc.key && moved {
					keyMoved = true
				}
				if !sameValues(ser.Values[:from], baseline[i].Values[:from]) {
					t.Errorf("%s differs before the fault started", ser.Info.ID)
				}
			}
			if !keyMoved {
				t.Errorf("key metric %s of %s did not move", tc.key, tc.service)
			}
		})
	}
}

func TestPodFailureLeavesGapsAndResetsCounters(t *testing.T) {
	at := origin.Add(12 * time.Hour)
	s := newSim(t, fullConfig(Fault{Kind: PodFailure, Service: AMF, Start: at, Duration: 5 * time.Minute, Intensity: 1}))
	ids := []string{`up{service="amf"}`, `fivegs_amffunction_rm_reginitreq{service="amf"}`}
	r := source.Range{Start: at.Add(-time.Minute), End: at.Add(7 * time.Minute), Step: time.Minute}
	got := fetch(t, s, ids, r)
	up, reqs := got[0].Values, got[1].Values
	if !slices.Equal(up, []float64{1, 0, 0, 0, 0, 0, 1, 1, 1}) {
		t.Errorf("up = %v, want 0 for the five minutes of the failure", up)
	}
	for i := 1; i <= 5; i++ {
		if !math.IsNaN(reqs[i]) {
			t.Errorf("reginitreq at minute %d of the failure = %v, want NaN (no sample)", i-1, reqs[i])
		}
	}
	if !(reqs[6] < reqs[0]) || reqs[6] < 0 {
		t.Errorf("counter after restart = %v, before = %v: want a reset to a small value", reqs[6], reqs[0])
	}
	if reqs[7] <= reqs[6] {
		t.Errorf("counter does not grow after the restart: %v then %v", reqs[6], reqs[7])
	}
}

func TestTrafficLooksLikeACore(t *testing.T) {
	s := newSim(t, fullConfig())
	r := source.Range{Start: origin, End: origin.Add(24 * time.Hour), Step: time.Hour}
	got := fetch(t, s, []string{
		`fivegs_amffunction_rm_reginitreq{service="amf"}`,
		`fivegs_amffunction_rm_reginitsucc{service="amf"}`,
		`fivegs_smffunction_sm_sessionnbr{service="smf"}`,
		`sbi_server_request_duration_seconds_bucket{le="0.025",service="udm"}`,
		`sbi_server_request_duration_seconds_count{service="udm"}`,
	}, r)
	req, succ := got[0].Values, got[1].Values
	ratio := succ[24] / req[24]
	if ratio < 0.99 || ratio > 0.999 {
		t.Errorf("registration success ratio over a healthy day = %.4f, want about 0.996", ratio)
	}
	sessions := got[2].Values
	if peak, trough := sessions[19], sessions[7]; peak < 3*trough {
		t.Errorf("sessions at 19h = %v, at 7h = %v: want a clear daily cycle", peak, trough)
	}
	fast := got[3].Values[24] / got[4].Values[24]
	if fast < 0.95 || fast >= 1 {
		t.Errorf("share of UDM requests under 25ms = %.3f, want most but not all", fast)
	}
}

func TestBadInputIsRefused(t *testing.T) {
	s := newSim(t, Config{Org: "o", Start: origin, Services: []string{AMF, SMF}})
	ctx := context.Background()
	if _, err := s.ListSeries(ctx, UPF); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("ListSeries(upf) on an org without a UPF: err = %v, want ErrUnknownService", err)
	}
	if _, err := s.Incidents(ctx, "hss", origin, origin.Add(time.Hour)); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("Incidents(hss): err = %v, want ErrUnknownService", err)
	}
	good := source.Range{Start: origin, End: origin.Add(time.Hour), Step: time.Minute}
	fetchCases := []struct {
		name string
		ids  []string
		r    source.Range
		want string
	}{
		{"unknown series", []string{`nope{service="amf"}`}, good, "unknown series"},
		{"empty range", []string{`up{service="amf"}`}, source.Range{Start: origin, End: origin, Step: time.Minute}, "empty range"},
		{"zero step", []string{`up{service="amf"}`}, source.Range{Start: origin, End: origin.Add(time.Hour)}, "step"},
		{"absurd range", []string{`up{service="amf"}`}, source.Range{Start: origin, End: origin.Add(5 * 365 * 24 * time.Hour), Step: time.Hour}, "ticks"},
	}
	for _, tc := range fetchCases {
		if _, err := s.Fetch(ctx, tc.ids, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	before := fetch(t, s, []string{`up{service="amf"}`}, source.Range{Start: origin.Add(-time.Hour), End: origin.Add(time.Minute), Step: 30 * time.Minute})
	if v := before[0].Values; !math.IsNaN(v[0]) || !math.IsNaN(v[1]) || v[2] != 1 {
		t.Errorf("up before the origin = %v, want NaN, NaN, then 1", v)
	}

	configCases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no start", Config{Services: []string{AMF}}, "start"},
		{"no services", Config{Start: origin}, "no services"},
		{"unknown service", Config{Start: origin, Services: []string{"mme"}}, "unknown service"},
		{"tiny tick", Config{Start: origin, Services: []string{AMF}, Tick: time.Millisecond}, "tick"},
		{"fault on absent service", Config{Start: origin, Services: []string{AMF}, Faults: []Fault{{Kind: CPUStress, Service: SMF, Start: origin, Duration: time.Minute, Intensity: 1}}}, "does not run"},
		{"bad intensity", Config{Start: origin, Services: []string{AMF}, Faults: []Fault{{Kind: CPUStress, Service: AMF, Start: origin, Duration: time.Minute, Intensity: 2}}}, "intensity"},
		{"dependency not called", Config{Start: origin, Services: []string{AMF, UPF}, Faults: []Fault{{Kind: DependencyFailure, Service: AMF, Dependency: UPF, Start: origin, Duration: time.Minute, Intensity: 1}}}, "does not call"},
		{"unknown kind", Config{Start: origin, Services: []string{AMF}, Faults: []Fault{{Kind: "meteor", Service: AMF, Start: origin, Duration: time.Minute, Intensity: 1}}}, "unknown kind"},
	}
	for _, tc := range configCases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestSeriesInfoTellsCountersGaugesAndHistograms(t *testing.T) {
	s := newSim(t, fullConfig())
	want := map[string]source.MetricType{
		"fivegs_amffunction_rm_reginitreq":           source.TypeCounter,
		"fivegs_amffunction_rm_registeredsubnbr":     source.TypeGauge,
		"sbi_server_request_duration_seconds_bucket": source.TypeHistogram,
		"sbi_server_responses_total":                 source.TypeCounter,
		"process_cpu_seconds_total":                  source.TypeCounter,
		"process_resident_memory_bytes":              source.TypeGauge,
	}
	list, err := s.ListSeries(context.Background(), AMF)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, info := range list {
		if typ, ok := want[info.Metric]; ok {
			seen[info.Metric] = true
			if info.Type != typ {
				t.Errorf("%s: type %s, want %s", info.ID, info.Type, typ)
			}
		}
		if info.Help == "" || info.Labels["service"] != AMF || info.ID != source.SelectorID(info.Metric, info.Labels) {
			t.Errorf("incomplete series info %+v", info)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("AMF lists %d of the %d expected metrics", len(seen), len(want))
	}
}

// BenchmarkHistory7Days6Services generates a week of every series of six
// services, sampled at 30s.
func BenchmarkHistory7Days6Services(b *testing.B) {
	cfg, err := Plan("bench", 1, origin, origin.Add(7*24*time.Hour), 3)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Services = []string{AMF, SMF, UPF, AUSF, UDM, PCF}
	var faults []Fault
	for _, f := range cfg.Faults {
		if f.Service != NRF && f.Dependency != NRF {
			faults = append(faults, f)
		}
	}
	cfg.Faults = faults
	s := newSim(b, cfg)
	ids := allIDs(b, s)
	r := source.Range{Start: origin, End: origin.Add(7 * 24 * time.Hour), Step: 30 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		out := fetch(b, s, ids, r)
		if len(out) != len(ids) {
			b.Fatal("short fetch")
		}
	}
	b.ReportMetric(float64(len(ids)), "series")
	b.ReportMetric(float64(len(ids)*r.Points()), "samples/op")
}

func TestProceduresNameListedCounters(t *testing.T) {
	s := newSim(t, fullConfig())
	for _, svc := range AllServices() {
		list, err := s.ListSeries(context.Background(), svc)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]source.MetricType{}
		for _, info := range list {
			types[info.Metric] = info.Type
		}
		for _, p := range Procedures(svc) {
			for _, name := range []string{p.Requests, p.Successes, p.Failures} {
				if name != "" && types[name] != source.TypeCounter {
					t.Errorf("%s: procedure counter %s is listed as %q", svc, name, types[name])
				}
			}
		}
		if types[HistogramName(svc)+"_bucket"] != source.TypeHistogram || types[ResponsesName(svc)] != source.TypeCounter {
			t.Errorf("%s: histogram %s or responses %s not listed", svc, HistogramName(svc), ResponsesName(svc))
		}
	}
	if len(Procedures(AMF)) != 6 || Procedures("mme") != nil || HistogramName("mme") != "" {
		t.Error("Procedures or HistogramName wrong for amf or an unknown service")
	}
}

// The same seed gives the same past whatever the start: two plans of one
// organization made at different times (a node restarted days later)
// agree sample for sample and fault for fault on the history both cover,
// and Live serves what Fetch gives.
func TestThePastDoesNotDependOnTheStart(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 15, 7, 0, 0, time.UTC) // a Thursday
	window := source.Range{Start: now.Add(-3 * 24 * time.Hour), End: now, Step: 5 * time.Minute}
	var fetched [][]source.Series
	var faults [][]Fault
	for _, started := range []time.Time{now.Add(-4 * 24 * time.Hour), now.Add(-11*24*time.Hour - 5*time.Hour), now.Add(-3*24*time.Hour - 17*time.Minute)} {
		cfg, err := Plan("Org1MSP", 7, started, now.Add(7*24*time.Hour), 4)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, svc := range cfg.Services {
			infos, _ := s.ListSeries(ctx, svc)
			for _, in := range infos {
				ids = append(ids, in.ID)
			}
		}
		got, err := s.Fetch(ctx, ids, window)
		if err != nil {
			t.Fatal(err)
		}
		fetched = append(fetched, got)
		var inWindow []Fault
		for _, f := range cfg.Faults {
			if f.End().After(window.Start) && f.Start.Before(window.End) {
				inWindow = append(inWindow, f)
			}
		}
		faults = append(faults, inWindow)
	}
	for i := 1; i < len(fetched); i++ {
		if len(faults[i]) == 0 || !slices.Equal(faults[i], faults[0]) {
			t.Fatalf("start %d planned other faults in the window: %v vs %v", i, faults[i], faults[0])
		}
		for j := range fetched[0] {
			a, b := fetched[0][j].Values, fetched[i][j].Values
			for k := range a {
				if a[k] != b[k] && !(math.IsNaN(a[k]) && math.IsNaN(b[k])) {
					t.Fatalf("start %d: %s at %v is %v, not %v", i, fetched[0][j].Info.ID, window.Start.Add(time.Duration(k)*window.Step), b[k], a[k])
				}
			}
		}
	}
}
