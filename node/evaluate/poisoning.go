package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/srellama/srellama/fl"
)

// Attack is a named misbehaviour of poisoned organizations.
type Attack struct {
	Name      string       `json:"name"`
	Poisoning fl.Poisoning `json:"poisoning"`
}

// DefaultAttacks are the two attacks of the robustness benchmark: training
// on flipped labels, and sending the local change sign-flipped and boosted
// tenfold.
func DefaultAttacks() []Attack {
	return []Attack{
		{Name: "label-flip", Poisoning: fl.Poisoning{FlipLabels: true}},
		{Name: "scaled", Poisoning: fl.Poisoning{Scale: -10}},
	}
}

// Partitions of the SMD rows into honest organizations.
const (
	// PartitionMachine makes every machine an organization: realistic and
	// strongly heterogeneous (non-IID).
	PartitionMachine = "machine"
	// PartitionIID deals all training rows at random to Organizations
	// organizations and evaluates on all held-out rows pooled.
	PartitionIID = "iid"
)

// PoisoningConfig configures EvaluatePoisoning.
type PoisoningConfig struct {
	SMD       SMDConfig `json:"smd"`
	Partition string    `json:"partition"`
	// Organizations is the number of honest organizations of an IID
	// partition.
	Organizations int `json:"organizations"`
	// Fraction is the least share of all organizations that are attackers:
	// ceil(f·h/(1−f)) attackers join the h honest ones. Attacker k holds a
	// copy of honest organization k's training rows and misbehaves on it;
	// it is not evaluated, so clean and poisoned runs are scored on the
	// same held-out rows.
	Fraction   float64  `json:"fraction"`
	Attacks    []Attack `json:"attacks"`
	Strategies []string `json:"strategies"`
}

// DefaultPoisoningConfig is the robustness benchmark: 8 IID organizations
// plus 2 attackers (20%), every strategy, both attacks.
func DefaultPoisoningConfig() PoisoningConfig {
	smd := DefaultSMDConfig()
	smd.Options.TrimFraction = 0.25 // trims 2 of 10 at each end
	return PoisoningConfig{
		SMD: smd, Partition: PartitionIID, Organizations: 8, Fraction: 0.2,
		Attacks: DefaultAttacks(), Strategies: fl.Strategies(),
	}
}

// StrategyRobustness compares one aggregation strategy with and without
// poisoned organizations.
type StrategyRobustness struct {
	Strategy    string  `json:"strategy"`
	Attack      string  `json:"attack"`
	AUCClean    float64 `json:"auc_clean"`
	AUCPoisoned float64 `json:"auc_poisoned"`
	// Drop is AUCClean − AUCPoisoned.
	Drop float64 `json:"drop"`
}

// PoisoningReport is the outcome of EvaluatePoisoning.
type PoisoningReport struct {
	Partition     string               `json:"partition"`
	Organizations []string             `json:"organizations"`
	Attackers     []string             `json:"attackers"`
	Rounds        int                  `json:"rounds"`
	Results       []StrategyRobustness `json:"results"`
}

// Result returns the entry for a strategy and attack.
func (r *PoisoningReport) Result(strategy, attack string) (StrategyRobustness, bool) {
	i := slices.IndexFunc(r.Results, func(x StrategyRobustness) bool { return x.Strategy == strategy && x.Attack == attack })
	if i < 0 {
		return StrategyRobustness{}, false
	}
	return r.Results[i], true
}

// EvaluatePoisoning runs federated training on an SMD-format folder once
// clean and once per attack with attackers added, for every strategy, and
// reports the pooled held-out AUC of each run.
func EvaluatePoisoning(ctx context.Context, dir string, cfg PoisoningConfig) (*PoisoningReport, error) {
	if !(cfg.Fraction > 0 && cfg.Fraction < 0.5) {
		return nil, fmt.Errorf("evaluate poisoning: fraction %v outside (0, 0.5)", cfg.Fraction)
	}
	if len(cfg.Attacks) == 0 || len(cfg.Strategies) == 0 {
		return nil, errors.New("evaluate poisoning: no attacks or no strategies")
	}
	machines, err := loadSMD(ctx, dir, cfg.SMD.Features, cfg.SMD.Horizon, cfg.SMD.TrainFileReference)
	if err != nil {
		return nil, err
	}
	honest, err := honestSites(machines, cfg)
	if err != nil {
		return nil, err
	}
	rep := &PoisoningReport{Partition: cfg.Partition, Rounds: cfg.SMD.Rounds}
	for _, s := range honest {
		rep.Organizations = append(rep.Organizations, s.Name)
	}
	h := float64(len(honest))
	bad := int(math.Ceil(cfg.Fraction*h/(1-cfg.Fraction) - 1e-9))
	if bad > len(honest) {
		return nil, fmt.Errorf("evaluate poisoning: %d attackers need more than %d organizations to copy", bad, len(honest))
	}
	var attackers []fl.Site
	for k := range bad {
		name := fmt.Sprintf("attacker-%d", k+1)
		attackers = append(attackers, fl.Site{Name: name, Train: honest[k].Train})
		rep.Attackers = append(rep.Attackers, name)
	}
	run := func(strategy string, sites []fl.Site, poisoned map[string]fl.Poisoning) (float64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		res, err := fl.Simulate(sites, fl.SimConfig{
			Rounds: cfg.SMD.Rounds, Train: cfg.SMD.Train, Strategy: strategy, Options: cfg.SMD.Options,
			Poisoned: poisoned, Seed: cfg.SMD.Seed,
		})
		if err != nil {
			return 0, err
		}
		return res.Rounds[len(res.Rounds)-1].Eval.AUC, nil
	}
	for _, strategy := range cfg.Strategies {
		clean, err := run(strategy, honest, nil)
		if err != nil {
			return nil, fmt.Errorf("evaluate poisoning: %s clean: %w", strategy, err)
		}
		for _, a := range cfg.Attacks {
			poisoned := map[string]fl.Poisoning{}
			for _, org := range rep.Attackers {
				poisoned[org] = a.Poisoning
			}
			auc, err := run(strategy, slices.Concat(honest, attackers), poisoned)
			if err != nil {
				return nil, fmt.Errorf("evaluate poisoning: %s under %s: %w", strategy, a.Name, err)
			}
			rep.Results = append(rep.Results, StrategyRobustness{
				Strategy: strategy, Attack: a.Name, AUCClean: clean, AUCPoisoned: auc, Drop: clean - auc,
			})
		}
	}
	return rep, nil
}

// honestSites partitions the machines' rows into organizations. With an
// IID partition, the pooled held-out rows go to the first organization so
// that the harness scores every run on exactly them.
func honestSites(machines []machineData, cfg PoisoningConfig) ([]fl.Site, error) {
	switch cfg.Partition {
	case PartitionMachine, "":
		var sites []fl.Site
		for _, m := range machines {
			sites = append(sites, fl.Site{Name: m.name, Train: m.train, Test: m.test})
		}
		if len(sites) < 3 {
			return nil, fmt.Errorf("evaluate poisoning: need at least 3 machines, have %d", len(sites))
		}
		return sites, nil
	case PartitionIID:
		if cfg.Organizations < 3 {
			return nil, fmt.Errorf("evaluate poisoning: need at least 3 organizations, asked for %d", cfg.Organizations)
		}
		var trains, tests []*fl.Dataset
		for _, m := range machines {
			trains = append(trains, m.train)
			tests = append(tests, m.test)
		}
		pooled, err := fl.ConcatDatasets(trains...)
		if err != nil {
			return nil, fmt.Errorf("evaluate poisoning: %w", err)
		}
		heldOut, err := fl.ConcatDatasets(tests...)
		if err != nil {
			return nil, fmt.Errorf("evaluate poisoning: %w", err)
		}
		parts, err := fl.PartitionRows(pooled, cfg.Organizations, cfg.SMD.Seed)
		if err != nil {
			return nil, fmt.Errorf("evaluate poisoning: %w", err)
		}
		var sites []fl.Site
		for i, p := range parts {
			s := fl.Site{Name: fmt.Sprintf("org-%02d", i+1), Train: p}
			if i == 0 {
				s.Test = heldOut
			}
			sites = append(sites, s)
		}
		return sites, nil
	}
	return nil, fmt.Errorf("evaluate poisoning: unknown partition %q", cfg.Partition)
}
