package csvsource

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/node/source"
)

// Nezha layout (one folder per date): metric/<pod>_metric.csv with a text
// "Time" column in UTC, a "TimeStamp" column, "PodName" and one column per
// metric; metric/front_service.csv with the front end's SLI series; and
// <date>-fault_list.json listing injected faults by hour.
const (
	NezhaStep = time.Minute
	// nezhaTimeLayout reads the leading "2022-08-22 03:51:19" of "Time".
	nezhaTimeLayout = "2006-01-02 15:04:05"
	// NezhaFrontService names the service of front_service.csv.
	NezhaFrontService = "front_service"
)

// NezhaOptions tune OpenNezha.
type NezhaOptions struct {
	// FaultDuration is how long an injected fault is taken to last; the
	// fault lists give only the injection time (default 5 minutes).
	FaultDuration time.Duration
	// RootCauses maps service -> fault type -> indicator, as in Nezha's
	// construct_data/root_cause_*.json; an indicator naming one of the
	// service's metrics becomes the incident's ground-truth Metrics.
	RootCauses map[string]map[string]string
}

type nezhaFault struct {
	InjectTime      string `json:"inject_time"`
	InjectTimestamp string `json:"inject_timestamp"`
	InjectPod       string `json:"inject_pod"`
	InjectType      string `json:"inject_type"`
}

// NezhaService returns the service of a pod name: the name without its
// replica-set hash and pod suffix ("cartservice-579f59597d-wc2lz" ->
// "cartservice").
func NezhaService(pod string) string { return trimSuffixes(pod, 2) }

// OpenNezha reads one date folder of the Nezha dataset. Times come from the
// text "Time" column, read as UTC, because "TimeStamp" is offset by 2·10⁸ s
// in some files; faults are placed at "inject_time" read as UTC, which
// agrees with the metrics, whereas "inject_timestamp" is off by a minute or
// by eight hours in some entries.
func OpenNezha(ctx context.Context, dir string, opt NezhaOptions) (*Source, error) {
	if opt.FaultDuration == 0 {
		opt.FaultDuration = 5 * time.Minute
	}
	if opt.FaultDuration < 0 {
		return nil, fmt.Errorf("nezha: negative fault duration")
	}
	fsys := os.DirFS(dir)
	entries, err := fs.ReadDir(fsys, "metric")
	if err != nil {
		return nil, fmt.Errorf("nezha: %w", err)
	}
	services := map[string]*Service{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := e.Name()
		var svcName string
		switch {
		case strings.HasSuffix(name, "_metric.csv") || strings.HasSuffix(name, "_metric.csv.gz"):
			svcName = NezhaService(name[:strings.Index(name, "_metric.csv")])
		case name == "front_service.csv" || name == "front_service.csv.gz":
			svcName = NezhaFrontService
		default:
			continue // call graphs and per-edge latencies have other shapes
		}
		t, err := readTableFile(fsys, path.Join("metric", name), TableOptions{
			TimeColumn: "Time", TimeLayout: nezhaTimeLayout,
			EntityColumn: "PodName", Ignore: []string{"TimeStamp", "ServiceName"},
		})
		if err != nil {
			return nil, fmt.Errorf("nezha: %w", err)
		}
		t = dedupeTimes(t)
		pod := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".csv")
		pod = strings.TrimSuffix(pod, "_metric")
		svc := services[svcName]
		if svc == nil {
			svc = &Service{Name: svcName}
			services[svcName] = svc
		}
		for _, s := range seriesFromTable(pod, t, source.TypeGauge, map[string]string{"pod": pod}) {
			svc.Series = append(svc.Series, s)
		}
	}
	faults, err := readFaults(fsys)
	if err != nil {
		return nil, fmt.Errorf("nezha: %w", err)
	}
	for _, f := range faults {
		svcName := NezhaService(f.InjectPod)
		svc := services[svcName]
		if svc == nil {
			return nil, fmt.Errorf("nezha: fault on pod %s of unknown service %s", f.InjectPod, svcName)
		}
		start, err := time.ParseInLocation(nezhaTimeLayout, f.InjectTime, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("nezha: fault on %s: inject_time %q: %w", f.InjectPod, f.InjectTime, err)
		}
		in := source.Incident{
			Service: svcName, Name: f.InjectType, Start: start, End: start.Add(opt.FaultDuration),
			Labels: map[string]string{"pod": f.InjectPod, "inject_timestamp": f.InjectTimestamp},
		}
		if ind := opt.RootCauses[svcName][f.InjectType]; ind != "" {
			in.Labels["indicator"] = ind
			if slices.ContainsFunc(svc.Series, func(s Series) bool { return s.Info.Metric == ind }) {
				in.Metrics = []string{ind}
			}
		}
		svc.Incidents = append(svc.Incidents, in)
	}
	list := make([]*Service, 0, len(services))
	for _, svc := range services {
		slices.SortStableFunc(svc.Incidents, func(a, b source.Incident) int { return a.Start.Compare(b.Start) })
		list = append(list, svc)
	}
	slices.SortFunc(list, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	src, err := New(list...)
	if err != nil {
		return nil, fmt.Errorf("nezha: %w", err)
	}
	return src, nil
}

func readFaults(fsys fs.FS) ([]nezhaFault, error) {
	matches, err := fs.Glob(fsys, "*-fault_list.json")
	if err != nil {
		return nil, err
	}
	if len(matches) != 1 {
		return nil, fmt.Errorf("want exactly one *-fault_list.json, found %d", len(matches))
	}
	b, err := fs.ReadFile(fsys, matches[0])
	if err != nil {
		return nil, err
	}
	var byHour map[string][]nezhaFault
	if err := json.Unmarshal(b, &byHour); err != nil {
		return nil, fmt.Errorf("%s: %w", matches[0], err)
	}
	hours := make([]string, 0, len(byHour))
	for h := range byHour {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	var out []nezhaFault
	for _, h := range hours {
		for i, f := range byHour[h] {
			if f.InjectPod == "" || f.InjectType == "" || f.InjectTime == "" {
				return nil, fmt.Errorf("%s: hour %s, fault %d: missing inject_pod, inject_type or inject_time", matches[0], h, i)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// ReadRootCauses parses a Nezha root_cause_*.json file.
func ReadRootCauses(file string) (map[string]map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var rc map[string]map[string]string
	if err := json.Unmarshal(b, &rc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return rc, nil
}

// dedupeTimes keeps the last row of each timestamp (a scraper that wrote a
// row twice in one second) so that times strictly increase.
func dedupeTimes(t *Table) *Table {
	keep := make([]int, 0, len(t.Times))
	for i := range t.Times {
		if len(keep) > 0 && t.Times[keep[len(keep)-1]] == t.Times[i] {
			keep[len(keep)-1] = i
			continue
		}
		keep = append(keep, i)
	}
	if len(keep) == len(t.Times) {
		return t
	}
	out := &Table{Metrics: t.Metrics, Values: make([][]float64, len(t.Metrics))}
	for _, i := range keep {
		out.Times = append(out.Times, t.Times[i])
		for j := range t.Metrics {
			out.Values[j] = append(out.Values[j], t.Values[j][i])
		}
	}
	return out
}
