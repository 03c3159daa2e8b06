package fl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// DPConfig is the Gaussian mechanism applied to each update before it
// leaves its organization: the change from the global model is clipped to
// L2 norm ClipNorm, then noise N(0, (NoiseMultiplier·ClipNorm)²) is added to
// every coordinate. The protected unit is an organization's whole update.
type DPConfig struct {
	ClipNorm        float64 `json:"clip_norm"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
	// Delta is the δ of the reported (ε, δ) guarantee.
	Delta float64 `json:"delta"`
	// EpsilonBudget is the most ε an organization may spend; a round that
	// would exceed it is refused.
	EpsilonBudget float64 `json:"epsilon_budget"`
}

// Validate refuses settings without a meaningful guarantee.
func (c DPConfig) Validate() error {
	switch {
	case !(c.ClipNorm > 0) || !isFinite(c.ClipNorm):
		return errors.New("dp: clip norm must be positive")
	case !(c.NoiseMultiplier > 0) || !isFinite(c.NoiseMultiplier):
		return errors.New("dp: noise multiplier must be positive")
	case !(c.Delta > 0 && c.Delta < 1):
		return errors.New("dp: δ must be in (0, 1)")
	case !(c.EpsilonBudget > 0):
		return errors.New("dp: ε budget must be positive")
	}
	return nil
}

// Privatize clips u's change from global and adds Gaussian noise, in place.
// The noise is drawn from rng, which the caller seeds per organization and
// round.
func Privatize(u *Update, global Model, cfg DPConfig, rng *rand.Rand) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	base := make([]float64, len(u.Weights)+1)
	for i, f := range u.Features {
		g, ok := slices.BinarySearch(global.Features, f)
		if !ok {
			return fmt.Errorf("dp: feature %s is not in the global model", f)
		}
		base[i] = global.Weights[g]
	}
	base[len(u.Weights)] = global.Intercept
	delta := make([]float64, len(base))
	for i := range u.Weights {
		delta[i] = u.Weights[i] - base[i]
	}
	delta[len(u.Weights)] = u.Intercept - global.Intercept
	var norm float64
	for _, d := range delta {
		norm += d * d
	}
	norm = math.Sqrt(norm)
	scale := 1.0
	if norm > cfg.ClipNorm {
		scale = cfg.ClipNorm / norm
	}
	sigma := cfg.NoiseMultiplier * cfg.ClipNorm
	for i := range delta {
		delta[i] = delta[i]*scale + sigma*rng.NormFloat64()
	}
	for i := range u.Weights {
		u.Weights[i] = base[i] + delta[i]
	}
	u.Intercept = base[len(u.Weights)] + delta[len(u.Weights)]
	return nil
}

// Accountant tracks each organization's privacy spending under DPConfig with
// Rényi-DP composition: a Gaussian mechanism with noise multiplier σ is
// (α, α/(2σ²))-RDP per round, rounds add up, and T rounds convert to
// (ε, δ)-DP with ε = min over α of T·α/(2σ²) + ln(1/δ)/(α−1)
// = T/(2σ²) + 2·sqrt(T·ln(1/δ)/(2σ²)).
type Accountant struct {
	cfg    DPConfig
	rounds map[string]int
}

// NewAccountant starts every organization at zero spending.
func NewAccountant(cfg DPConfig) (*Accountant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Accountant{cfg: cfg, rounds: map[string]int{}}, nil
}

func (a *Accountant) epsilon(rounds int) float64 {
	if rounds == 0 {
		return 0
	}
	rdp := float64(rounds) / (2 * a.cfg.NoiseMultiplier * a.cfg.NoiseMultiplier)
	return rdp + 2*math.Sqrt(rdp*math.Log(1/a.cfg.Delta))
}

// Spend records one more released update by org, refusing (and recording
// nothing) if that would exceed the budget.
func (a *Accountant) Spend(org string) error {
	next := a.epsilon(a.rounds[org] + 1)
	if next > a.cfg.EpsilonBudget {
		return fmt.Errorf("dp: %s would spend ε=%.3f, over its budget %.3f", org, next, a.cfg.EpsilonBudget)
	}
	a.rounds[org]++
	return nil
}

// Epsilon is the ε org has spent so far (at the configured δ).
func (a *Accountant) Epsilon(org string) float64 { return a.epsilon(a.rounds[org]) }
