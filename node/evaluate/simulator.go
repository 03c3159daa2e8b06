package evaluate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// SimEvalConfig configures EvaluateSimulator.
type SimEvalConfig struct {
	Learner SMDConfig `json:"learner"`
	// Orgs organizations, each with its own simulator plan per seed.
	Orgs int `json:"orgs"`
	// Seeds are simulator seeds; the defaults were never used to choose
	// any setting.
	Seeds        []uint64      `json:"seeds"`
	Days         int           `json:"days"`
	FaultsPerDay float64       `json:"faults_per_day"`
	Step         time.Duration `json:"step"`
}

// DefaultSimEvalConfig: three organizations, two days of one-minute data
// (the first trains, the faults of the second are explained), six faults a
// day, simulator seeds 101 to 103.
func DefaultSimEvalConfig() SimEvalConfig {
	l := DefaultSMDConfig()
	l.Features = fl.FeatureSpec{Transforms: []fl.Transform{fl.AbsZScore, fl.AbsDelta}, BaselineWindow: 60, Compress: true, Smooth: 3, SkipEmpty: true}
	l.Summaries, l.Rounds, l.Patience = false, 10, 0
	return SimEvalConfig{Learner: l, Orgs: 3, Seeds: []uint64{101, 102, 103}, Days: 2, FaultsPerDay: 6, Step: time.Minute}
}

// SimFaultKind is precision@3 of the explanations of one fault kind: the
// share of the three metrics ranked first for the faulty service that are
// among the metrics the fault moves (the simulator's ground truth).
type SimFaultKind struct {
	Kind          string  `json:"kind"`
	Faults        int     `json:"faults"`
	PrecisionAt3  float64 `json:"precision_at_3"`
	PrecisionAt3Z float64 `json:"precision_at_3_untrained"`
}

// SimReport is the outcome of EvaluateSimulator.
type SimReport struct {
	Seeds []uint64       `json:"seeds"`
	Kinds []SimFaultKind `json:"kinds"`
}

// EvaluateSimulator federates the organizations of every seed on their
// first day and explains every fault injected on the second day: the
// federated model's explanation (learned weights) against the untrained
// ranking by |z|, each restricted to the faulty service's metrics.
func EvaluateSimulator(ctx context.Context, cfg SimEvalConfig) (*SimReport, error) {
	if cfg.Orgs < 2 || cfg.Days < 2 || len(cfg.Seeds) == 0 || cfg.Step <= 0 {
		return nil, errors.New("evaluate simulator: need 2 organizations, 2 days, a seed and a step")
	}
	type acc struct {
		n          int
		fed, plain float64
	}
	byKind := map[string]*acc{}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	trainEnd := int((end.Sub(start) / cfg.Step) / 2)
	for _, seed := range cfg.Seeds {
		var members []member
		type orgData struct {
			data      *fl.Dataset
			incidents []source.Incident
		}
		var orgs []orgData
		for o := range cfg.Orgs {
			name := fmt.Sprintf("Org%dMSP", o+1)
			plan, err := sim.Plan(name, seed, start, end, cfg.FaultsPerDay)
			if err != nil {
				return nil, fmt.Errorf("evaluate simulator: %w", err)
			}
			s, err := sim.New(plan)
			if err != nil {
				return nil, fmt.Errorf("evaluate simulator: %w", err)
			}
			tr := federation.Trainer{MSPID: name, Source: s, History: end.Sub(start), Step: cfg.Step, Now: func() time.Time { return end }, Spec: cfg.Learner.Features}
			ds, err := tr.Dataset(ctx, plan.Services)
			if err != nil {
				return nil, fmt.Errorf("evaluate simulator: %s: %w", name, err)
			}
			train := sliceDataset(ds, 0, trainEnd)
			if train.CheckClasses() == nil {
				members = append(members, member{name: name, train: train})
			}
			var incidents []source.Incident
			for _, svc := range plan.Services {
				in, err := s.Incidents(ctx, svc, start, end)
				if err != nil {
					return nil, err
				}
				for _, i := range in {
					if i.Labels["role"] == sim.RoleTarget {
						incidents = append(incidents, i)
					}
				}
			}
			orgs = append(orgs, orgData{data: ds, incidents: incidents})
		}
		if len(members) == 0 {
			return nil, fmt.Errorf("evaluate simulator: seed %d: no organization had a fault on its first day", seed)
		}
		out, err := runFold(fold{members: members}, cfg.Learner, seed, false)
		if err != nil {
			return nil, fmt.Errorf("evaluate simulator: seed %d: %w", seed, err)
		}
		for _, o := range orgs {
			x, err := out.std.Apply(o.data)
			if err != nil {
				return nil, err
			}
			metrics, cols := plainDeviation(o.data, fl.AbsZScore)
			for _, in := range o.incidents {
				lo := int(in.Start.Sub(start) / cfg.Step)
				hi := min(int(in.End.Sub(start)/cfg.Step)+1, o.data.Rows())
				if lo < trainEnd || hi <= lo || len(in.Metrics) == 0 {
					continue // training day, or nothing to find
				}
				w := fl.Interval{Start: lo, End: hi}
				e, err := fl.Explain(out.model, x, w, out.explainMode)
				if err != nil {
					return nil, err
				}
				a := byKind[in.Name]
				if a == nil {
					a = &acc{}
					byKind[in.Name] = a
				}
				a.n++
				a.fed += precisionAt3(e.Ranked(), in.Service, in.Metrics)
				a.plain += precisionAt3(plainRanking(metrics, cols, w), in.Service, in.Metrics)
			}
		}
	}
	rep := &SimReport{Seeds: cfg.Seeds}
	for _, k := range sortedKeys(byKind) {
		a := byKind[k]
		rep.Kinds = append(rep.Kinds, SimFaultKind{Kind: k, Faults: a.n, PrecisionAt3: a.fed / float64(a.n), PrecisionAt3Z: a.plain / float64(a.n)})
	}
	if len(rep.Kinds) == 0 {
		return nil, errors.New("evaluate simulator: no fault on the second day")
	}
	return rep, nil
}

// precisionAt3 is the share of the first three of ranked (restricted to
// the service's metrics, named service/metric) that the fault moves.
func precisionAt3(ranked []string, service string, truth []string) float64 {
	hits, k := 0, 0
	for _, key := range ranked {
		svc, metric, ok := federation.SplitMetricKey(key)
		if !ok || svc != service {
			continue
		}
		for _, t := range truth {
			if metric == t || strings.HasPrefix(metric, t) {
				hits++
				break
			}
		}
		if k++; k == 3 {
			break
		}
	}
	return float64(hits) / 3
}
