package fl

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func simConfig(strategy string) SimConfig {
	tc := DefaultTrainConfig()
	return SimConfig{Rounds: 8, Train: tc, Strategy: strategy, Seed: 42}
}

func TestSimulateFederatedMatchesCentralized(t *testing.T) {
	sites := syntheticSites(t, 4)
	cfg := simConfig(FedAvg)
	cfg.Baselines = true
	res, err := Simulate(sites, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fed := res.Rounds[len(res.Rounds)-1].Eval.AUC
	if fed < 0.99*res.Centralized.AUC {
		t.Errorf("federated AUC %.4f below 0.99 x centralized %.4f", fed, res.Centralized.AUC)
	}
	if len(res.Local) != 4 || len(res.Rounds) != 8 {
		t.Fatalf("%d local baselines, %d rounds", len(res.Local), len(res.Rounds))
	}
	top := res.Ranking.Top(3)
	slices.Sort(top)
	if !slices.Equal(top, []string{"m0", "m1", "m2"}) {
		t.Errorf("federated ranking starts with %v, want the incident metrics m0, m1, m2", res.Ranking.Top(3))
	}
	if res.Ranking[0].Stability <= 0 || res.Rounds[0].Bytes <= 0 || res.StatsBytes <= 0 {
		t.Errorf("stability %v, bytes %d, stats bytes %d", res.Ranking[0].Stability, res.Rounds[0].Bytes, res.StatsBytes)
	}
	// The site lacking m5 must not have pulled m5's weights towards zero:
	// the feature exists globally and was trained by the others.
	if !slices.Contains(res.Features, "m5#level") {
		t.Error("a feature present at 3 of 4 sites is missing from the global model")
	}
	again, err := Simulate(sites, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Final.Weights, res.Final.Weights) {
		t.Error("simulation is not deterministic for a fixed seed")
	}
}

func TestSimulateRobustAggregationUnderPoisoning(t *testing.T) {
	sites := syntheticSites(t, 10)
	attacks := map[string]Poisoning{
		"label-flip": {FlipLabels: true},
		"scaled":     {Scale: -10},
	}
	for attack, p := range attacks {
		for _, strategy := range []string{FedAvg, Median, TrimmedMean, MultiKrum} {
			clean, err := Simulate(sites, simConfig(strategy))
			if err != nil {
				t.Fatal(err)
			}
			cfg := simConfig(strategy)
			cfg.Poisoned = map[string]Poisoning{"org-0": p, "org-1": p} // 20%
			poisoned, err := Simulate(sites, cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := clean.Rounds[len(clean.Rounds)-1].Eval.AUC
			q := poisoned.Rounds[len(poisoned.Rounds)-1].Eval.AUC
			t.Logf("%-12s %-10s clean %.4f poisoned %.4f", strategy, attack, c, q)
			switch {
			case strategy != FedAvg && c-q > 0.02:
				t.Errorf("%s under %s lost %.4f AUC (%.4f -> %.4f)", strategy, attack, c-q, c, q)
			case strategy == FedAvg && attack == "scaled" && c-q < 0.1:
				t.Errorf("fedavg under boosted updates only lost %.4f AUC; the attack is not biting", c-q)
			}
		}
	}
}

func TestSimulateWithPrivacy(t *testing.T) {
	sites := syntheticSites(t, 3)
	cfg := simConfig(FedAvg)
	cfg.DP = &DPConfig{ClipNorm: 5, NoiseMultiplier: 0.5, Delta: 1e-5, EpsilonBudget: 100}
	res, err := Simulate(sites, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		if e := res.Epsilon[s.Name]; !(e > 0 && e <= 100) {
			t.Errorf("%s spent ε=%v", s.Name, e)
		}
	}
	cfg.DP.EpsilonBudget = 1
	if _, err := Simulate(sites, cfg); err == nil || !strings.Contains(err.Error(), "over its budget") {
		t.Errorf("exceeding the budget: %v", err)
	}
}

func TestSimulateBadInput(t *testing.T) {
	good := syntheticSites(t, 2)
	noIncidents := syntheticSites(t, 1)[0]
	noIncidents.Name = "calm"
	noIncidents.Train = &Dataset{Features: noIncidents.Train.Features, Columns: noIncidents.Train.Columns, Labels: make([]float64, noIncidents.Train.Rows())}
	mismatched := syntheticSites(t, 1)[0]
	mismatched.Name = "odd"
	mismatched.Test = syntheticSite(t, "x", 5, 3000, 4).Test
	tests := []struct {
		name  string
		sites []Site
		cfg   SimConfig
		want  string
	}{
		{"no sites", nil, simConfig(FedAvg), "no sites"},
		{"no incidents", append(slices.Clone(good), noIncidents), simConfig(FedAvg), "single class"},
		{"train and test features differ", append(slices.Clone(good), mismatched), simConfig(FedAvg), "mismatched feature sets"},
		{"duplicate site", []Site{good[0], good[0]}, simConfig(FedAvg), "duplicated"},
		{"unknown strategy", good, simConfig("mean-ish"), "unknown aggregation strategy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Simulate(tt.sites, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRankingIsDeterministic(t *testing.T) {
	m := Model{Features: []string{"b#level", "a#level", "c#zscore", "c#level"}, Weights: []float64{1, -1, 0.5, 0.5}}
	r := Rank(m, nil)
	want := []string{"a", "b", "c"} // all score 1: ties broken by name
	if !slices.Equal(r.Top(3), want) {
		t.Fatalf("ranking %v, want %v", r.Top(3), want)
	}
	for _, s := range r {
		if math.IsNaN(s.Score) || s.Stability < 0 || s.Stability > 1 {
			t.Fatalf("bad score %+v", s)
		}
	}
}
