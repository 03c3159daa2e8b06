package evaluate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/source/csvsource"
)

// NezhaIndicators maps the indicators of Nezha's root_cause_*.json and the
// code-level fault kinds, whose indicators are log or trace patterns, to
// the pod metrics that show them: a network delay shows in the pod's
// latency percentiles, an injected exception or error return in its
// success rate.
var NezhaIndicators = map[string][]string{
	"CpuUsageRate(%)": {"CpuUsageRate(%)", "CpuUsage(m)"},
	"NetworkP90(ms)":  {"PodClientLatencyP90(s)", "PodServerLatencyP90(s)"},
	"kind:exception":  {"PodSuccessRate(%)"},
	"kind:return":     {"PodSuccessRate(%)"},
}

// indicatorMetrics returns the metrics a fault's indicator maps to.
func indicatorMetrics(kind, indicator string) []string {
	if ms, ok := NezhaIndicators[indicator]; ok {
		return ms
	}
	return NezhaIndicators["kind:"+kind]
}

// NezhaDayConfig configures EvaluateNezhaDays.
type NezhaDayConfig struct {
	SMD           SMDConfig     `json:"learner"`
	FaultDuration time.Duration `json:"fault_duration"`
	Seed          uint64        `json:"seed"`
}

// DefaultNezhaDayConfig is the SMD learner on one-minute pod metrics with
// a one-hour trailing baseline (Nezha has no normal period), faults taken
// to last five minutes.
func DefaultNezhaDayConfig() NezhaDayConfig {
	smd := DefaultSMDConfig()
	smd.Features = fl.FeatureSpec{Transforms: []fl.Transform{fl.AbsZScore, fl.AbsDelta}, BaselineWindow: 60, Compress: true, Smooth: 3, SkipEmpty: true}
	smd.Patience, smd.Rounds = 0, 10
	return NezhaDayConfig{SMD: smd, FaultDuration: 5 * time.Minute, Seed: 1}
}

// NezhaFaultKind scores the explanations of one fault kind on the scored
// day: the share of faults whose indicator metric is among the top three.
type NezhaFaultKind struct {
	Day       string   `json:"day"`
	FaultType string   `json:"fault_type"`
	Faults    int      `json:"faults"`
	Indicator []string `json:"indicator_metrics"`
	// HitAt3 is the federated model's explanation, HitAt3PlainZ ranks
	// metrics by their mean |z| over the fault (no model).
	HitAt3       float64 `json:"hit_at_3"`
	HitAt3PlainZ float64 `json:"hit_at_3_plain_z"`
}

// NezhaDay is one fold: trained on the other days, scored on Day.
type NezhaDay struct {
	Day          string  `json:"day"`
	TrainedOn    string  `json:"trained_on"`
	AUC          float64 `json:"auc"`
	AUCUntrained float64 `json:"auc_untrained"`
}

// NezhaDayReport is the outcome of EvaluateNezhaDays.
type NezhaDayReport struct {
	Dir        string              `json:"dir"`
	Protocol   string              `json:"protocol"`
	Days       []NezhaDay          `json:"days"`
	FaultKinds []NezhaFaultKind    `json:"fault_kinds"`
	Mapping    map[string][]string `json:"indicator_mapping"`
}

// EvaluateNezhaDays trains on every day but one and scores the day left
// out, for every day: fault detection AUC of the model against the
// untrained largest |z|, and per fault kind whether the explanation names
// the indicator's metrics in its top three, against a no-model |z|
// ranking. Days are different applications in the shared data (Online
// Boutique, Train Ticket): the model must carry over what a fault looks
// like, not which pod had it.
func EvaluateNezhaDays(ctx context.Context, dir string, cfg NezhaDayConfig) (*NezhaDayReport, error) {
	dates, err := nezhaDates(dir)
	if err != nil {
		return nil, err
	}
	if len(dates) < 2 {
		return nil, fmt.Errorf("evaluate nezha: need at least two days, %s has %v", dir, dates)
	}
	rootCauses, err := nezhaRootCauses(dir)
	if err != nil {
		return nil, err
	}
	days := make([]*fl.Dataset, len(dates))
	pods := make([][]podData, len(dates))
	for i, d := range dates {
		src, err := csvsource.OpenNezha(ctx, filepath.Join(dir, d), csvsource.NezhaOptions{FaultDuration: cfg.FaultDuration, RootCauses: rootCauses})
		if err != nil {
			return nil, err
		}
		if pods[i], err = loadPods(ctx, src, cfg.SMD.Features); err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", d, err)
		}
		var parts []*fl.Dataset
		for k := range pods[i] {
			p := &pods[i][k]
			if cfg.SMD.Summaries {
				fl.AddDeviationSummaries(p.table)
				if p.data, err = fl.NewDataset(p.table, p.data.Labels, 0, p.table.Rows); err != nil {
					return nil, fmt.Errorf("evaluate nezha: %s: %w", p.pod, err)
				}
			}
			parts = append(parts, p.data)
		}
		if days[i], err = fl.StackDatasets(parts...); err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", d, err)
		}
	}
	rep := &NezhaDayReport{Dir: dir, Protocol: "leave-one-day-out", Mapping: NezhaIndicators}
	for h, day := range dates {
		var members []member
		var names []string
		for i, d := range dates {
			if i != h {
				members = append(members, member{name: d, train: days[i]})
				names = append(names, d)
			}
		}
		f := fold{members: members, scored: []scored{{name: day, test: days[h]}}}
		out, err := runFold(f, cfg.SMD, cfg.Seed, false)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: scoring %s: %w", day, err)
		}
		auc, err := fl.AUC(out.fed[day], days[h].Labels)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", day, err)
		}
		mx, _ := deviationScores(days[h], fl.AbsZScore)
		untr, err := fl.AUC(mx, days[h].Labels)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: %s: %w", day, err)
		}
		rep.Days = append(rep.Days, NezhaDay{Day: day, TrainedOn: fmt.Sprint(names), AUC: auc, AUCUntrained: untr})
		kinds, err := explainNezhaFaults(out, day, pods[h])
		if err != nil {
			return nil, err
		}
		rep.FaultKinds = append(rep.FaultKinds, kinds...)
	}
	return rep, nil
}

func explainNezhaFaults(out *foldResult, day string, pods []podData) ([]NezhaFaultKind, error) {
	type acc struct {
		n, hits, plain int
		indicator      []string
	}
	byKind := map[string]*acc{}
	for _, p := range pods {
		if len(p.faults) == 0 {
			continue
		}
		x, err := out.std.Apply(p.data)
		if err != nil {
			return nil, fmt.Errorf("evaluate nezha: pod %s: %w", p.pod, err)
		}
		metrics, cols := plainDeviation(p.data, fl.AbsZScore)
		for _, f := range p.faults {
			ind := indicatorMetrics(f.kind, f.indicatorName)
			if len(ind) == 0 {
				continue
			}
			e, err := fl.Explain(out.model, x, f.rows, out.explainMode)
			if err != nil {
				return nil, fmt.Errorf("evaluate nezha: pod %s: %w", p.pod, err)
			}
			a := byKind[f.kind]
			if a == nil {
				a = &acc{indicator: ind}
				byKind[f.kind] = a
			}
			a.n++
			if inTop(e.Ranked(), ind, 3) {
				a.hits++
			}
			if inTop(plainRanking(metrics, cols, f.rows), ind, 3) {
				a.plain++
			}
		}
	}
	var outKinds []NezhaFaultKind
	for _, k := range sortedKeys(byKind) {
		a := byKind[k]
		outKinds = append(outKinds, NezhaFaultKind{Day: day, FaultType: k, Faults: a.n, Indicator: a.indicator,
			HitAt3: float64(a.hits) / float64(a.n), HitAt3PlainZ: float64(a.plain) / float64(a.n)})
	}
	if len(outKinds) == 0 {
		return nil, errors.New("evaluate nezha: no fault with a mapped indicator on " + day)
	}
	return outKinds, nil
}

// inTop reports whether any of want is among the first k of ranked.
func inTop(ranked, want []string, k int) bool {
	for _, m := range ranked[:min(k, len(ranked))] {
		if slices.Contains(want, m) {
			return true
		}
	}
	return false
}
