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

// PoisoningConfig configures EvaluatePoisoning.
type PoisoningConfig struct {
	// SMD is the learner and protocol (loso by default); every machine is
	// one organization, so that leave-one-out folds keep five honest
	// members on the six SMD machines.
	SMD SMDConfig `json:"smd"`
	// Fraction is the least share of all organizations that are attackers:
	// ceil(f·h/(1−f)) attackers join the h honest members of a fold.
	// Attacker k holds a copy of honest member k's training rows and
	// misbehaves on it; it is not scored, so clean and poisoned runs are
	// scored on the same rows.
	Fraction   float64  `json:"fraction"`
	Attacks    []Attack `json:"attacks"`
	Strategies []string `json:"strategies"`
}

// DefaultPoisoningConfig is the robustness benchmark: 20 % attackers, every
// strategy with its defaults derived from the number of updates, both
// attacks, leave-one-machine-out on the first seed.
func DefaultPoisoningConfig() PoisoningConfig {
	smd := DefaultSMDConfig()
	smd.Seeds = smd.Seeds[:1]
	smd.SiteOf = func(m string) string { return m }
	return PoisoningConfig{SMD: smd, Fraction: 0.2, Attacks: DefaultAttacks(), Strategies: fl.Strategies()}
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
	Protocol      string   `json:"protocol"`
	Organizations []string `json:"organizations"`
	// Attackers is how many join every fold's honest members.
	Attackers int                  `json:"attackers"`
	Members   int                  `json:"members"`
	Rounds    int                  `json:"rounds"`
	Results   []StrategyRobustness `json:"results"`
}

// Result returns the entry for a strategy and attack.
func (r *PoisoningReport) Result(strategy, attack string) (StrategyRobustness, bool) {
	i := slices.IndexFunc(r.Results, func(x StrategyRobustness) bool { return x.Strategy == strategy && x.Attack == attack })
	if i < 0 {
		return StrategyRobustness{}, false
	}
	return r.Results[i], true
}

// EvaluatePoisoning runs the federated evaluation of an SMD-format folder
// under cfg.SMD.Protocol once clean and once per attack with attackers
// added, for every strategy, and reports the pooled AUC of each run on the
// scored rows.
func EvaluatePoisoning(ctx context.Context, dir string, cfg PoisoningConfig) (*PoisoningReport, error) {
	if !(cfg.Fraction > 0 && cfg.Fraction < 0.5) {
		return nil, fmt.Errorf("evaluate poisoning: fraction %v outside (0, 0.5)", cfg.Fraction)
	}
	if len(cfg.Attacks) == 0 || len(cfg.Strategies) == 0 {
		return nil, errors.New("evaluate poisoning: no attacks or no strategies")
	}
	if err := cfg.SMD.validate(); err != nil {
		return nil, err
	}
	machines, err := loadSMD(ctx, dir, cfg.SMD.loadOptions())
	if err != nil {
		return nil, err
	}
	sites := groupSites(machines, cfg.SMD.SiteOf)
	fs, skipped, err := folds(sites, cfg.SMD)
	if err != nil {
		return nil, fmt.Errorf("evaluate poisoning: %w", err)
	}
	if len(fs) == 0 || len(skipped) > 0 {
		return nil, fmt.Errorf("evaluate poisoning: sites without anomalies: %v", skipped)
	}
	cfg.SMD.Calibrate = cfg.SMD.Calibrate && calibratable(fs)
	rep := &PoisoningReport{Protocol: cfg.SMD.Protocol, Rounds: cfg.SMD.Rounds}
	for _, s := range sites {
		rep.Organizations = append(rep.Organizations, s.name)
	}
	h := len(fs[0].members)
	rep.Members = h
	bad := int(math.Ceil(cfg.Fraction*float64(h)/(1-cfg.Fraction) - 1e-9))
	if bad > h || h < 2 {
		return nil, fmt.Errorf("evaluate poisoning: %d attackers need more than %d members to copy", bad, h)
	}
	rep.Attackers = bad
	seed := cfg.SMD.Seeds[0]
	run := func(strategy string, poisoned map[string]fl.Poisoning) (float64, error) {
		p := newPool()
		for _, f := range fs {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			c := cfg.SMD
			c.Strategy, c.Poisoned = strategy, poisoned
			if poisoned != nil {
				for k := range bad {
					m := f.members[k]
					f.members = append(slices.Clone(f.members), member{name: fmt.Sprintf("attacker-%d", k+1), train: m.train})
				}
			}
			out, err := runFold(f, c, seed, false)
			if err != nil {
				return 0, err
			}
			for _, sc := range f.scored {
				p.add(sc.name, out.fed[sc.name], sc.test.Labels)
			}
		}
		a, _, err := p.auc()
		return a, err
	}
	for _, strategy := range cfg.Strategies {
		clean, err := run(strategy, nil)
		if err != nil {
			return nil, fmt.Errorf("evaluate poisoning: %s clean: %w", strategy, err)
		}
		for _, a := range cfg.Attacks {
			poisoned := map[string]fl.Poisoning{}
			for k := range bad {
				poisoned[fmt.Sprintf("attacker-%d", k+1)] = a.Poisoning
			}
			auc, err := run(strategy, poisoned)
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
