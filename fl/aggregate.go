package fl

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Aggregator combines the updates of one round into the next global model.
// Implementations sort the updates canonically (by digest) before reducing,
// so the result is bit-for-bit identical whatever order updates arrived in,
// and every honest node computes the same model and digest. A malformed
// update (wrong dimension, unknown feature, NaN, duplicate organization,
// another round) makes Aggregate fail; it is never averaged in.
type Aggregator interface {
	Name() string
	// ProximalMu is the FedProx μ local solvers must use (0 for others).
	ProximalMu() float64
	Aggregate(global Model, round uint32, updates []Update) (Model, error)
}

// Aggregation strategy names accepted by NewAggregator.
const (
	FedAvg      = "fedavg"
	FedProx     = "fedprox"
	Median      = "median"
	TrimmedMean = "trimmed-mean"
	MultiKrum   = "multi-krum"
)

// Strategies lists the aggregation strategies.
func Strategies() []string { return []string{FedAvg, FedProx, Median, TrimmedMean, MultiKrum} }

// AggregatorOptions tune the strategies; zero values mean the defaults.
type AggregatorOptions struct {
	// ProxMu is FedProx's μ (default 0.01).
	ProxMu float64 `json:"prox_mu,omitempty"`
	// TrimFraction is the fraction removed at each end by the trimmed mean
	// (must be below 0.5). Default: TrimCount(n) values at each end.
	TrimFraction float64 `json:"trim_fraction,omitempty"`
	// Byzantine is the number of faulty updates Multi-Krum tolerates
	// (default: KrumFaults(n)).
	Byzantine int `json:"byzantine,omitempty"`
	// Select is how many updates Multi-Krum averages (default n - f).
	Select int `json:"select,omitempty"`
}

// NewAggregator returns the strategy called name.
func NewAggregator(name string, opt AggregatorOptions) (Aggregator, error) {
	switch name {
	case FedAvg:
		return meanAggregator{name: FedAvg}, nil
	case FedProx:
		mu := opt.ProxMu
		if mu == 0 {
			mu = 0.01
		}
		if !(mu > 0) || !isFinite(mu) {
			return nil, fmt.Errorf("aggregator %s: μ must be positive", name)
		}
		return meanAggregator{name: FedProx, mu: mu}, nil
	case Median:
		return coordinateAggregator{name: Median, reduce: median}, nil
	case TrimmedMean:
		beta := opt.TrimFraction
		if beta == 0 {
			return coordinateAggregator{name: TrimmedMean, reduce: func(v []float64) float64 { return trimmedMeanK(v, TrimCount(len(v))) }}, nil
		}
		if !(beta > 0 && beta < 0.5) {
			return nil, fmt.Errorf("aggregator %s: trim fraction %v outside (0, 0.5)", name, beta)
		}
		return coordinateAggregator{name: TrimmedMean, reduce: func(v []float64) float64 { return trimmedMean(v, beta) }}, nil
	case MultiKrum:
		if opt.Byzantine < 0 || opt.Select < 0 {
			return nil, fmt.Errorf("aggregator %s: negative parameters", name)
		}
		return krumAggregator{f: opt.Byzantine, m: opt.Select}, nil
	}
	return nil, fmt.Errorf("unknown aggregation strategy %q (want one of %s)", name, strings.Join(Strategies(), ", "))
}

// prepared is a validated round: updates in canonical order and, per
// update, the global coordinate of each of its features (the intercept is
// coordinate len(features)).
type prepared struct {
	updates []Update
	coords  [][]int
	dim     int
}

func prepare(global Model, round uint32, updates []Update) (*prepared, error) {
	if len(updates) == 0 {
		return nil, errors.New("aggregate: no updates")
	}
	if len(global.Weights) != len(global.Features) {
		return nil, errors.New("aggregate: global model is malformed")
	}
	type keyed struct {
		digest string
		u      Update
	}
	ks := make([]keyed, len(updates))
	orgs := map[string]bool{}
	for i, u := range updates {
		d, err := u.Digest() // validates
		if err != nil {
			return nil, fmt.Errorf("aggregate: refusing update %d: %w", i, err)
		}
		if u.Round != round {
			return nil, fmt.Errorf("aggregate: refusing update from %s: round %d, want %d", u.Org, u.Round, round)
		}
		if orgs[u.Org] {
			return nil, fmt.Errorf("aggregate: refusing second update from %s in round %d", u.Org, round)
		}
		orgs[u.Org] = true
		ks[i] = keyed{d, u}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.digest, b.digest) })
	p := &prepared{dim: len(global.Features) + 1}
	for _, k := range ks {
		idx := make([]int, len(k.u.Features)+1)
		for i, f := range k.u.Features {
			g, ok := slices.BinarySearch(global.Features, f)
			if !ok {
				return nil, fmt.Errorf("aggregate: refusing update from %s: feature %s is not in the global model", k.u.Org, f)
			}
			idx[i] = g
		}
		idx[len(k.u.Features)] = len(global.Features)
		p.updates = append(p.updates, k.u)
		p.coords = append(p.coords, idx)
	}
	return p, nil
}

// value returns coordinate i of update k's vector (weights then intercept).
func (p *prepared) value(k, i int) float64 {
	u := p.updates[k]
	if i < len(u.Weights) {
		return u.Weights[i]
	}
	return u.Intercept
}

// columns gathers, per global coordinate, the values and sample counts of
// the updates that carry it, in canonical update order.
func (p *prepared) columns(selected []int) (vals, counts [][]float64) {
	vals = make([][]float64, p.dim)
	counts = make([][]float64, p.dim)
	for _, k := range selected {
		for i, g := range p.coords[k] {
			vals[g] = append(vals[g], p.value(k, i))
			counts[g] = append(counts[g], float64(p.updates[k].Samples))
		}
	}
	return vals, counts
}

func (p *prepared) all() []int {
	s := make([]int, len(p.updates))
	for i := range s {
		s[i] = i
	}
	return s
}

// assemble builds the next model; coordinates no update carries keep the
// global value.
func assemble(global Model, vals [][]float64, reduce func(i int) float64) (Model, error) {
	out := global.Clone()
	for i, v := range vals {
		if len(v) == 0 {
			continue
		}
		x := reduce(i)
		if !isFinite(x) {
			return Model{}, fmt.Errorf("aggregate: coordinate %d is not finite", i)
		}
		if i == len(out.Weights) {
			out.Intercept = x
		} else {
			out.Weights[i] = x
		}
	}
	return out, nil
}

// meanAggregator is FedAvg (and FedProx, which differs only in the local
// objective): the sample-weighted mean of each coordinate over the updates
// that carry it.
type meanAggregator struct {
	name string
	mu   float64
}

func (a meanAggregator) Name() string        { return a.name }
func (a meanAggregator) ProximalMu() float64 { return a.mu }

func (a meanAggregator) Aggregate(global Model, round uint32, updates []Update) (Model, error) {
	p, err := prepare(global, round, updates)
	if err != nil {
		return Model{}, err
	}
	vals, counts := p.columns(p.all())
	return assemble(global, vals, func(i int) float64 { return weightedMean(vals[i], counts[i]) })
}

func weightedMean(v, w []float64) float64 {
	var s, n float64
	for i := range v {
		s = mulAdd(v[i], w[i], s) // never fused: see exact.go
		n += w[i]
	}
	return s / n
}

// coordinateAggregator reduces each coordinate independently with a robust
// statistic that sorts its values, so order cannot matter.
type coordinateAggregator struct {
	name   string
	reduce func([]float64) float64
}

func (a coordinateAggregator) Name() string      { return a.name }
func (coordinateAggregator) ProximalMu() float64 { return 0 }

func (a coordinateAggregator) Aggregate(global Model, round uint32, updates []Update) (Model, error) {
	p, err := prepare(global, round, updates)
	if err != nil {
		return Model{}, err
	}
	vals, _ := p.columns(p.all())
	return assemble(global, vals, func(i int) float64 { return a.reduce(vals[i]) })
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// trimmedMean drops floor(beta·n) values at each end (never all of them).
// TrimCount is how many values the default trimmed mean removes at each
// end of n: a fifth of them rounded up (one at 3 to 5 sites, two at 6 to
// 10), so that 20 % of poisoned sites on one side are always cut, never
// leaving fewer than one value. Zero only below 3 sites.
func TrimCount(n int) int {
	if n < 3 {
		return 0
	}
	return min((n+4)/5, (n-1)/2)
}

// KrumFaults is the default number of faulty updates Multi-Krum tolerates
// among n: a quarter rounded up (one at 3 and 4 sites, two at 5 to 8,
// three at 9 and 10), so that it selects n − f updates and drops the
// outliers even in small federations. Below 3 sites it is 0 (FedAvg).
func KrumFaults(n int) int {
	if n < 3 {
		return 0
	}
	return (n + 3) / 4
}

func trimmedMean(v []float64, beta float64) float64 {
	return trimmedMeanK(v, int(math.Floor(beta*float64(len(v)))))
}

func trimmedMeanK(v []float64, k int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if 2*k >= len(s) {
		k = (len(s) - 1) / 2
	}
	s = s[k : len(s)-k]
	var sum float64
	for _, x := range s {
		sum += x
	}
	return sum / float64(len(s))
}

// krumAggregator is Multi-Krum (Blanchard et al., 2017): score each update
// by the summed squared distance to its n−f−2 nearest neighbours, keep the
// m best-scored and average them by sample count.
type krumAggregator struct{ f, m int }

func (krumAggregator) Name() string        { return MultiKrum }
func (krumAggregator) ProximalMu() float64 { return 0 }

func (a krumAggregator) Aggregate(global Model, round uint32, updates []Update) (Model, error) {
	p, err := prepare(global, round, updates)
	if err != nil {
		return Model{}, err
	}
	n := len(p.updates)
	f := a.f
	if f == 0 {
		f = KrumFaults(n)
	} else if n < 2*f+3 {
		return Model{}, fmt.Errorf("aggregate %s: %d updates cannot tolerate %d faulty ones (need n ≥ 2f+3)", MultiKrum, n, f)
	}
	m := a.m
	if m == 0 {
		m = n - f
	}
	if m > n {
		return Model{}, fmt.Errorf("aggregate %s: cannot select %d of %d updates", MultiKrum, m, n)
	}
	// Dense vectors with absent features at the global value: a site that
	// lacks a feature has, in effect, left it unchanged.
	dense := make([][]float64, n)
	for k := range p.updates {
		v := append(slices.Clone(global.Weights), global.Intercept)
		for i, g := range p.coords[k] {
			v[g] = p.value(k, i)
		}
		dense[k] = v
	}
	scores := make([]float64, n)
	// Blanchard et al. score against n−f−2 neighbours; the default f of
	// small federations leaves fewer, so at least one is always used.
	neighbours := min(max(n-f-2, 1), n-1)
	for k := range dense {
		d := make([]float64, 0, n-1)
		for j := range dense {
			if j != k {
				d = append(d, sqDist(dense[k], dense[j]))
			}
		}
		slices.Sort(d)
		for _, x := range d[:neighbours] {
			scores[k] += x
		}
	}
	order := p.all()
	// Stable on canonical (digest) order: equal scores keep digest order.
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	chosen := slices.Clone(order[:m])
	slices.Sort(chosen) // back to canonical order for the summation
	vals, counts := p.columns(chosen)
	return assemble(global, vals, func(i int) float64 { return weightedMean(vals[i], counts[i]) })
}

func sqDist(a, b []float64) float64 {
	var s float64
	for i := range a {
		d := a[i] - b[i]
		s = mulAdd(d, d, s) // never fused: see exact.go
	}
	return s
}
