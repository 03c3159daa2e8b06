package evaluate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/csvsource"
)

// NezhaConfig configures EvaluateNezha.
type NezhaConfig struct {
	Rounds   int                  `json:"rounds"`
	Train    fl.TrainConfig       `json:"train"`
	Strategy string               `json:"strategy"`
	Options  fl.AggregatorOptions `json:"options"`
	Features fl.FeatureSpec       `json:"features"`
	// FaultDuration is how long each injected fault is taken to last.
	FaultDuration time.Duration  `json:"fault_duration"`
	Explain       fl.ExplainMode `json:"explain"`
	// TopK is how many metrics are reported per fault type.
	TopK int    `json:"top_k"`
	Seed uint64 `json:"seed"`
}

// DefaultNezhaConfig: one-minute data, a one-hour trailing baseline, faults
// taken to last five minutes.
func DefaultNezhaConfig() NezhaConfig {
	spec := fl.DefaultFeatureSpec()
	spec.BaselineWindow = 60
	spec.Compress = true
	spec.SkipEmpty = true
	return NezhaConfig{
		Rounds: 20, Train: fl.DefaultTrainConfig(), Strategy: fl.FedAvg,
		Features: spec, FaultDuration: 5 * time.Minute, Explain: fl.ExplainSigned, TopK: 5, Seed: 1,
	}
}

// FaultTypeReport lists the metrics that explain one fault type best.
type FaultTypeReport struct {
	FaultType string `json:"fault_type"`
	Incidents int    `json:"incidents"`
	// TopMetrics are the metrics with the highest mean contribution over
	// this type's incidents.
	TopMetrics []fl.Contribution `json:"top_metrics"`
	// IndicatorIncidents counts incidents whose ground-truth indicator
	// (root_cause_*.json) is one of the pod's metrics; IndicatorHitAt3 is
	// the share of them whose explanation ranks it in the top three.
	IndicatorIncidents int     `json:"indicator_incidents"`
	IndicatorHitAt3    float64 `json:"indicator_hit_at_3"`
}

// NezhaReport is the outcome of EvaluateNezha. The fault-injection periods
// are short and clustered in a few hours, so there is no clean held-out
// split: AUCs are in-sample and say how separable fault windows are, not
// how well the model generalizes.
type NezhaReport struct {
	Dir         string            `json:"dir"`
	Sites       []string          `json:"sites"`
	Rounds      int               `json:"rounds"`
	Features    int               `json:"features"`
	AUCInSample float64           `json:"auc_in_sample"`
	SiteAUC     []SiteAUC         `json:"site_auc_in_sample"`
	Ranking     fl.Ranking        `json:"ranking"`
	FaultTypes  []FaultTypeReport `json:"fault_types"`
	Bytes       int64             `json:"bytes"`
}

// podData is one pod's rows and the faults injected into it.
type podData struct {
	pod    string
	data   *fl.Dataset
	table  *fl.FeatureTable
	faults []podFault
}

type podFault struct {
	kind      string
	rows      fl.Interval
	indicator []string
	// indicatorName is the root cause's indicator as published (a metric
	// name, or a log or trace pattern for code-level faults).
	indicatorName string
}

// EvaluateNezha treats every date folder under dir (a folder holding
// metric/ and a *-fault_list.json) as one organization, trains the
// federated model on pod metrics labelled by the injected faults, and
// reports which metrics explain each fault type. Root causes are read from
// dir/construct_data/root_cause_*.json when present.
func EvaluateNezha(ctx context.Context, dir string, cfg NezhaConfig) (*NezhaReport, error) {
	dates, err := nezhaDates(dir)
	if err != nil {
		return nil, err
	}
	rootCauses, err := nezhaRootCauses(dir)
	if err != nil {
		return nil, err
	}
	rep := &NezhaReport{Dir: dir, Rounds: cfg.Rounds}
	var sites []fl.Site
	var pods [][]podData
	for _, d := range dates {
		src, err := csvsource.OpenNezha(ctx, filepath.Join(dir, d), csvsource.NezhaOptions{FaultDuration: cfg.FaultDuration, RootCauses: rootCauses})
		if err != nil {
			return nil, err
		}
		ps, err := loadPods(ctx, src, cfg.Features)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", d, err)
		}
		var parts []*fl.Dataset
		for _, p := range ps {
			parts = append(parts, p.data)
		}
		all, err := fl.StackDatasets(parts...)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", d, err)
		}
		sites = append(sites, fl.Site{Name: d, Train: all, Test: all})
		pods = append(pods, ps)
		rep.Sites = append(rep.Sites, d)
	}
	res, err := fl.Simulate(sites, fl.SimConfig{Rounds: cfg.Rounds, Train: cfg.Train, Strategy: cfg.Strategy, Options: cfg.Options, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("evaluate nezha: %w", err)
	}
	last := res.Rounds[len(res.Rounds)-1]
	rep.Features, rep.AUCInSample, rep.Ranking = len(res.Features), last.Eval.AUC, res.Ranking
	for _, s := range last.Eval.Sites {
		rep.SiteAUC = append(rep.SiteAUC, SiteAUC{s.Site, s.AUC})
	}
	for _, r := range res.Rounds {
		rep.Bytes += r.Bytes
	}
	rep.FaultTypes, err = explainFaults(res, pods, cfg)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func nezhaDates(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("evaluate nezha: %w", err)
	}
	var dates []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*-fault_list.json"))
		if len(m) > 0 {
			dates = append(dates, e.Name())
		}
	}
	if len(dates) == 0 {
		return nil, fmt.Errorf("evaluate nezha: no <date>/ folder with a fault list in %s", dir)
	}
	slices.Sort(dates)
	return dates, nil
}

func nezhaRootCauses(dir string) (map[string]map[string]string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "construct_data", "root_cause_*.json"))
	out := map[string]map[string]string{}
	for _, f := range files {
		rc, err := csvsource.ReadRootCauses(f)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: %w", err)
		}
		for svc, m := range rc {
			out[svc] = m
		}
	}
	return out, nil
}

// loadPods builds one dataset per pod: every row of the pod's series,
// labelled 1 while a fault injected into that pod is under way.
func loadPods(ctx context.Context, src *csvsource.Source, spec fl.FeatureSpec) ([]podData, error) {
	services, err := src.Services(ctx)
	if err != nil {
		return nil, err
	}
	var out []podData
	for _, svc := range services {
		if svc == csvsource.NezhaFrontService {
			continue // front-end SLIs are the symptom, not a pod's metrics
		}
		infos, err := src.ListSeries(ctx, svc)
		if err != nil {
			return nil, err
		}
		byPod := map[string][]source.SeriesInfo{}
		var podNames []string
		for _, in := range infos {
			p := in.Labels["pod"]
			if byPod[p] == nil {
				podNames = append(podNames, p)
			}
			byPod[p] = append(byPod[p], in)
		}
		first, last, err := src.Span(svc)
		if err != nil {
			return nil, err
		}
		r := source.Range{Start: first, End: last, Step: csvsource.NezhaStep}
		incidents, err := src.Incidents(ctx, svc, first, last.Add(r.Step))
		if err != nil {
			return nil, err
		}
		for _, pod := range podNames {
			pd, err := loadPod(ctx, src, pod, byPod[pod], r, incidents, spec)
			if err != nil {
				return nil, fmt.Errorf("pod %s: %w", pod, err)
			}
			out = append(out, pd)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no pod metrics")
	}
	return out, nil
}

func loadPod(ctx context.Context, src *csvsource.Source, pod string, infos []source.SeriesInfo, r source.Range, incidents []source.Incident, spec fl.FeatureSpec) (podData, error) {
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	series, err := src.Fetch(ctx, ids, r)
	if err != nil {
		return podData{}, err
	}
	ms := make([]fl.MetricSeries, len(series))
	for i, s := range series {
		ms[i] = fl.MetricSeries{Name: s.Info.Metric, Counter: s.Info.Type == source.TypeCounter, Values: s.Values}
	}
	ft, err := fl.BuildFeatures(ms, spec)
	if err != nil {
		return podData{}, err
	}
	pd := podData{pod: pod}
	var windows []fl.Interval
	for _, in := range incidents {
		if in.Labels["pod"] != pod {
			continue
		}
		// Round the start down to the grid so the injection minute counts.
		rows := fl.Interval{Start: rowOf(r, in.Start), End: rowOf(r, in.End.Add(r.Step-time.Nanosecond))}
		rows.Start, rows.End = max(rows.Start, 0), min(rows.End, ft.Rows)
		if rows.End <= rows.Start {
			continue
		}
		windows = append(windows, rows)
		pd.faults = append(pd.faults, podFault{kind: in.Name, rows: rows, indicator: in.Metrics, indicatorName: in.Labels["indicator"]})
	}
	labels, err := fl.LabelsFromIntervals(ft.Rows, windows, 0)
	if err != nil {
		return podData{}, err
	}
	if pd.data, err = fl.NewDataset(ft, labels, 0, ft.Rows); err != nil {
		return podData{}, err
	}
	pd.table = ft
	return pd, nil
}

// explainFaults explains every fault with the final model and averages the
// contributions per fault type.
func explainFaults(res *fl.SimResult, pods [][]podData, cfg NezhaConfig) ([]FaultTypeReport, error) {
	type acc struct {
		n, indicatorN, indicatorHits int
		sum                          map[string]float64
	}
	byType := map[string]*acc{}
	for _, site := range pods {
		for _, p := range site {
			if len(p.faults) == 0 {
				continue
			}
			x, err := res.Standardizer.Apply(p.data)
			if err != nil {
				return nil, fmt.Errorf("evaluate nezha: pod %s: %w", p.pod, err)
			}
			for _, f := range p.faults {
				e, err := fl.Explain(res.Final, x, f.rows, cfg.Explain)
				if err != nil {
					return nil, fmt.Errorf("evaluate nezha: pod %s: %w", p.pod, err)
				}
				a := byType[f.kind]
				if a == nil {
					a = &acc{sum: map[string]float64{}}
					byType[f.kind] = a
				}
				a.n++
				for _, c := range e.Contributions {
					a.sum[c.Metric] += c.Score
				}
				if len(f.indicator) > 0 {
					a.indicatorN++
					if fl.HitRate(e.Ranked(), f.indicator, 3) > 0 {
						a.indicatorHits++
					}
				}
			}
		}
	}
	kinds := make([]string, 0, len(byType))
	for k := range byType {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var out []FaultTypeReport
	for _, k := range kinds {
		a := byType[k]
		var cs []fl.Contribution
		for m, s := range a.sum {
			cs = append(cs, fl.Contribution{Metric: m, Score: s / float64(a.n)})
		}
		slices.SortFunc(cs, func(x, y fl.Contribution) int {
			switch {
			case x.Score > y.Score:
				return -1
			case x.Score < y.Score:
				return 1
			}
			return strings.Compare(x.Metric, y.Metric)
		})
		r := FaultTypeReport{FaultType: k, Incidents: a.n, TopMetrics: cs[:min(cfg.TopK, len(cs))], IndicatorIncidents: a.indicatorN}
		if a.indicatorN > 0 {
			r.IndicatorHitAt3 = float64(a.indicatorHits) / float64(a.indicatorN)
		}
		out = append(out, r)
	}
	return out, nil
}
