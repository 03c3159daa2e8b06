package fl

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
)

// Site is one simulated organization: its training rows and the held-out
// rows every model is evaluated on. A site without Test data takes part in
// training but is not evaluated (e.g. an attacker in a robustness run).
type Site struct {
	Name  string
	Train *Dataset
	Test  *Dataset
	// Val, when set, are held-back rows (another period than Train) on
	// which the global model is scored after every round to stop early.
	Val *Dataset
}

// Poisoning makes a site misbehave, to measure robust aggregation.
type Poisoning struct {
	// FlipLabels trains on inverted labels.
	FlipLabels bool `json:"flip_labels,omitempty"`
	// Scale, when non-zero, sends global + Scale·(local − global): a
	// boosted (Scale > 1) or sign-flipped (Scale < 0) update.
	Scale float64 `json:"scale,omitempty"`
}

// SimConfig configures Simulate.
type SimConfig struct {
	Rounds   int               `json:"rounds"`
	Train    TrainConfig       `json:"train"`
	Strategy string            `json:"strategy"`
	Options  AggregatorOptions `json:"options"`
	// DP, when set, privatizes every update and accounts for it.
	DP *DPConfig `json:"dp,omitempty"`
	// Poisoned maps site names to their misbehaviour.
	Poisoned map[string]Poisoning `json:"poisoned,omitempty"`
	// Baselines also trains a local-only model per site and one
	// centralized model on the pooled data, each for Train.Epochs more
	// epochs every round, and evaluates them after every round.
	Baselines bool   `json:"baselines"`
	Seed      uint64 `json:"seed"`
	// Init, when set, is the model the federation starts from (e.g.
	// DeviationPrior, the untrained deviation score), instead of zeros.
	Init *Model `json:"-"`
	// Patience, with validation rows at some site, stops training after
	// this many rounds without a better pooled validation AUC and keeps the
	// best global model (round 0, Init, included), instead of the last one.
	Patience int `json:"patience,omitempty"`
}

// SiteScore is a model's quality on one site's held-out rows.
type SiteScore struct {
	Site string  `json:"site"`
	AUC  float64 `json:"auc"`
	F1   float64 `json:"f1"`
}

// Evaluation scores a model per site and on all held-out rows pooled.
type Evaluation struct {
	Sites []SiteScore `json:"sites"`
	AUC   float64     `json:"auc"`
	F1    float64     `json:"f1"`
}

// MeanSiteAUC is the unweighted mean of the per-site AUCs.
func (e Evaluation) MeanSiteAUC() float64 {
	var s float64
	for _, x := range e.Sites {
		s += x.AUC
	}
	return s / float64(len(e.Sites))
}

// RoundReport is the state after one federated round.
type RoundReport struct {
	Round int        `json:"round"`
	Eval  Evaluation `json:"eval"`
	// Bytes is what the round's gossip would carry: every update sent to
	// every other organization.
	Bytes int64 `json:"bytes"`
	// Local and Centralized are the baselines after as many epochs (with
	// SimConfig.Baselines).
	Local       []SiteScore `json:"local,omitempty"`
	Centralized *Evaluation `json:"centralized,omitempty"`
	// ModelDigest names the round's global model (Model.Digest).
	ModelDigest string  `json:"model_digest"`
	Ranking     Ranking `json:"ranking"`
}

// SimResult is the outcome of a simulation.
type SimResult struct {
	Features     []string      `json:"features"`
	Standardizer *Standardizer `json:"standardizer"`
	// StatsBytes is what the standardization round carried.
	StatsBytes int64         `json:"stats_bytes"`
	Rounds     []RoundReport `json:"rounds"`
	Final      Model         `json:"final"`
	Ranking    Ranking       `json:"ranking"`
	// BestRound is the round whose global model is Final (0: Init; with
	// early stopping, else the last round).
	BestRound int `json:"best_round"`
	// ValidationAUC is Final's pooled AUC on the validation rows (0 without
	// them).
	ValidationAUC float64 `json:"validation_auc,omitempty"`
	// Local is each site's local-only model on its own held-out rows after
	// the last round.
	Local []SiteScore `json:"local,omitempty"`
	// Centralized is one model trained on the pooled training rows, after
	// the last round.
	Centralized *Evaluation `json:"centralized,omitempty"`
	// Epsilon is the privacy budget each organization spent (with DP).
	Epsilon map[string]float64 `json:"epsilon,omitempty"`
	// TestMatrices are the standardized held-out rows (nil for sites
	// without test data), for explanations.
	TestMatrices []*Matrix `json:"-"`
}

// Simulate runs federated training in process: a standardization round
// (counts, sums, sums of squares), then cfg.Rounds rounds of local training
// and aggregation, evaluating the global model on every site with test rows
// after each (none may have them: a leave-one-site-out fold scores the
// final model on a site that never trained).
func Simulate(sites []Site, cfg SimConfig) (*SimResult, error) {
	if len(sites) == 0 {
		return nil, errors.New("simulate: no sites")
	}
	if cfg.Rounds < 1 {
		return nil, errors.New("simulate: rounds must be at least 1")
	}
	if err := cfg.Train.validate(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	agg, err := NewAggregator(cfg.Strategy, cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	names := map[string]bool{}
	evaluated := 0
	for _, s := range sites {
		if s.Name == "" || names[s.Name] {
			return nil, fmt.Errorf("simulate: site name %q empty or duplicated", s.Name)
		}
		names[s.Name] = true
		if s.Train == nil {
			return nil, fmt.Errorf("simulate: site %s lacks training data", s.Name)
		}
		if err := s.Train.CheckClasses(); err != nil {
			return nil, fmt.Errorf("simulate: site %s training data: %w", s.Name, err)
		}
		if s.Test == nil {
			continue
		}
		evaluated++
		if !slices.Equal(s.Train.Features, s.Test.Features) {
			return nil, fmt.Errorf("simulate: site %s: training and test features differ (mismatched feature sets)", s.Name)
		}
		if err := s.Test.CheckClasses(); err != nil {
			return nil, fmt.Errorf("simulate: site %s test data: %w", s.Name, err)
		}
	}
	var acct *Accountant
	if cfg.DP != nil {
		if acct, err = NewAccountant(*cfg.DP); err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
	}

	// Round 0: federated standardization statistics.
	res := &SimResult{}
	var parts []Stats
	for _, s := range sites {
		st := ComputeStats(s.Train)
		parts = append(parts, st)
		res.StatsBytes += int64(st.Size()) * int64(len(sites)-1)
	}
	merged, err := MergeStats(parts...)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	std, err := NewStandardizer(merged)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	res.Standardizer, res.Features = std, std.Features
	train := make([]*Matrix, len(sites))
	test := make([]*Matrix, len(sites))
	val := make([]*Matrix, len(sites))
	for i, s := range sites {
		if train[i], err = std.Apply(s.Train); err != nil {
			return nil, fmt.Errorf("simulate: site %s: %w", s.Name, err)
		}
		if s.Test != nil {
			if test[i], err = std.Apply(s.Test); err != nil {
				return nil, fmt.Errorf("simulate: site %s: %w", s.Name, err)
			}
		}
		if s.Val != nil {
			if val[i], err = std.Apply(s.Val); err != nil {
				return nil, fmt.Errorf("simulate: site %s: %w", s.Name, err)
			}
		}
		train[i] = train[i].ShuffleRows(mixSeed(cfg.Seed, "shuffle/"+s.Name, 0))
		if p := cfg.Poisoned[s.Name]; p.FlipLabels {
			train[i] = flipped(train[i])
		}
	}
	res.TestMatrices = test

	global, err := NewModel(std.Features)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	if cfg.Init != nil {
		if !slices.Equal(cfg.Init.Features, std.Features) {
			return nil, errors.New("simulate: the initial model's features differ from the federation's")
		}
		global = cfg.Init.Clone()
	}
	stop, err := newEarlyStop(global, val, cfg.Patience)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	var bl *baselines
	if cfg.Baselines {
		if bl, err = newBaselines(sites, train, test, std.Features, cfg.Seed); err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
	}
	var history []Model
	for r := 1; r <= cfg.Rounds; r++ {
		round := uint32(r)
		var updates []Update
		var bytes int64
		for i, s := range sites {
			tc := cfg.Train
			tc.ProxMu = agg.ProximalMu()
			tc.Seed = mixSeed(cfg.Seed, s.Name, r)
			tr, err := Train(train[i], global, tc)
			if err != nil {
				return nil, fmt.Errorf("simulate: round %d, site %s: %w", r, s.Name, err)
			}
			lm := LocalMetrics{Loss: tr.Loss, Positives: uint64(countPositives(train[i].Y))}
			if test[i] != nil {
				ev, err := evaluate(tr.Model, sites[i:i+1], test[i:i+1])
				if err != nil {
					return nil, fmt.Errorf("simulate: round %d, site %s: %w", r, s.Name, err)
				}
				lm.AUC, lm.F1 = ev.Sites[0].AUC, ev.Sites[0].F1
			}
			u := tr.Model.ToUpdate(s.Name, round, train[i], lm)
			if p := cfg.Poisoned[s.Name]; p.Scale != 0 {
				scaleUpdate(&u, global, p.Scale)
			}
			if acct != nil {
				if err := acct.Spend(s.Name); err != nil {
					return nil, fmt.Errorf("simulate: round %d: %w", r, err)
				}
				rng := rand.New(rand.NewPCG(mixSeed(cfg.Seed, "dp/"+s.Name, r), 0xd1ff))
				if err := Privatize(&u, global, *cfg.DP, rng); err != nil {
					return nil, fmt.Errorf("simulate: round %d, site %s: %w", r, s.Name, err)
				}
			}
			enc, err := u.Encode()
			if err != nil {
				return nil, fmt.Errorf("simulate: round %d, site %s: %w", r, s.Name, err)
			}
			bytes += int64(len(enc)) * int64(len(sites)-1)
			updates = append(updates, u)
		}
		if global, err = agg.Aggregate(global, round, updates); err != nil {
			return nil, fmt.Errorf("simulate: round %d: %w", r, err)
		}
		history = append(history, global)
		digest, err := global.Digest()
		if err != nil {
			return nil, fmt.Errorf("simulate: round %d: %w", r, err)
		}
		var ev Evaluation
		if evaluated > 0 {
			if ev, err = evaluate(global, sites, test); err != nil {
				return nil, fmt.Errorf("simulate: round %d: %w", r, err)
			}
		}
		rep := RoundReport{Round: r, Eval: ev, Bytes: bytes, ModelDigest: digest, Ranking: Rank(global, history)}
		if bl != nil {
			if err := bl.round(r, cfg, &rep); err != nil {
				return nil, fmt.Errorf("simulate: round %d: %w", r, err)
			}
			res.Local, res.Centralized = rep.Local, rep.Centralized
		}
		res.Rounds = append(res.Rounds, rep)
		done, err := stop.observe(r, global)
		if err != nil {
			return nil, fmt.Errorf("simulate: round %d: %w", r, err)
		}
		if done {
			break
		}
	}
	res.Final, res.BestRound, res.ValidationAUC = stop.result(global, len(history))
	res.Ranking = Rank(res.Final, history[:max(res.BestRound, 1)])
	if acct != nil {
		res.Epsilon = map[string]float64{}
		for _, s := range sites {
			res.Epsilon[s.Name] = acct.Epsilon(s.Name)
		}
	}
	return res, nil
}

// baselines are what federation is compared with: each site alone, and
// everything pooled, trained round by round with as many epochs as the
// federated run.
type baselines struct {
	sites   []Site
	train   []*Matrix
	test    []*Matrix
	pooled  *Matrix
	local   []Model
	central Model
}

func newBaselines(sites []Site, train, test []*Matrix, features []string, seed uint64) (*baselines, error) {
	pooled, err := Concat(train...)
	if err != nil {
		return nil, err
	}
	bl := &baselines{sites: sites, train: train, test: test, pooled: pooled.ShuffleRows(mixSeed(seed, "pooled", 0))}
	for range sites {
		m, _ := NewModel(features)
		bl.local = append(bl.local, m)
	}
	bl.central, _ = NewModel(features)
	return bl, nil
}

// round trains every baseline for one more round's epochs and evaluates.
func (bl *baselines) round(r int, cfg SimConfig, rep *RoundReport) error {
	tc := cfg.Train
	for i, s := range bl.sites {
		if bl.test[i] == nil {
			continue
		}
		tc.Seed = mixSeed(cfg.Seed, "local/"+s.Name, r)
		tr, err := Train(bl.train[i], bl.local[i], tc)
		if err != nil {
			return fmt.Errorf("local model of %s: %w", s.Name, err)
		}
		bl.local[i] = tr.Model
		ev, err := evaluate(tr.Model, bl.sites[i:i+1], bl.test[i:i+1])
		if err != nil {
			return err
		}
		rep.Local = append(rep.Local, ev.Sites[0])
	}
	tc.Seed = mixSeed(cfg.Seed, "centralized", r)
	tr, err := Train(bl.pooled, bl.central, tc)
	if err != nil {
		return fmt.Errorf("centralized model: %w", err)
	}
	bl.central = tr.Model
	ev, err := evaluate(tr.Model, bl.sites, bl.test)
	if err != nil {
		return err
	}
	rep.Centralized = &ev
	return nil
}

func evaluate(m Model, sites []Site, test []*Matrix) (Evaluation, error) {
	var ev Evaluation
	var all, labels []float64
	for i, s := range sites {
		if test[i] == nil {
			continue
		}
		scores, err := m.Scores(test[i])
		if err != nil {
			return Evaluation{}, err
		}
		auc, err := AUC(scores, test[i].Y)
		if err != nil {
			return Evaluation{}, fmt.Errorf("site %s: %w", s.Name, err)
		}
		ev.Sites = append(ev.Sites, SiteScore{Site: s.Name, AUC: auc, F1: F1(scores, test[i].Y, 0.5)})
		all = append(all, scores...)
		labels = append(labels, test[i].Y...)
	}
	auc, err := AUC(all, labels)
	if err != nil {
		return Evaluation{}, err
	}
	ev.AUC, ev.F1 = auc, F1(all, labels, 0.5)
	return ev, nil
}

func flipped(m *Matrix) *Matrix {
	out := *m
	out.Y = make([]float64, len(m.Y))
	for i, y := range m.Y {
		out.Y[i] = 1 - y
	}
	return &out
}

func scaleUpdate(u *Update, global Model, s float64) {
	for i, f := range u.Features {
		g, _ := slices.BinarySearch(global.Features, f)
		u.Weights[i] = global.Weights[g] + s*(u.Weights[i]-global.Weights[g])
	}
	u.Intercept = global.Intercept + s*(u.Intercept-global.Intercept)
}

func countPositives(y []float64) int {
	n := 0
	for _, v := range y {
		if v == 1 {
			n++
		}
	}
	return n
}

// mixSeed derives a per-site, per-round seed from the run's seed.
func mixSeed(seed uint64, name string, round int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ h.Sum64() ^ uint64(round)*0x9e3779b97f4a7c15
}

// earlyStop keeps the global model with the best pooled validation AUC and
// says when Patience rounds have passed without improvement. Without
// validation rows (or with one class only) it keeps the last model.
type earlyStop struct {
	val      []*Matrix
	patience int
	active   bool
	best     Model
	bestAUC  float64
	bestAt   int
}

func newEarlyStop(init Model, val []*Matrix, patience int) (*earlyStop, error) {
	e := &earlyStop{val: val, patience: patience, best: init}
	var pos, rows int
	for _, m := range val {
		if m != nil {
			pos += countPositives(m.Y)
			rows += m.Rows
		}
	}
	if patience < 1 || pos == 0 || pos == rows {
		return e, nil
	}
	e.active = true
	auc, err := PooledAUC(init, val)
	if err != nil {
		return nil, err
	}
	e.bestAUC = auc
	return e, nil
}

func (e *earlyStop) observe(round int, m Model) (bool, error) {
	if !e.active {
		return false, nil
	}
	auc, err := PooledAUC(m, e.val)
	if err != nil {
		return false, err
	}
	if auc > e.bestAUC {
		e.best, e.bestAUC, e.bestAt = m, auc, round
	}
	return round-e.bestAt >= e.patience, nil
}

func (e *earlyStop) result(last Model, rounds int) (Model, int, float64) {
	if !e.active {
		return last, rounds, 0
	}
	return e.best, e.bestAt, e.bestAUC
}

// PooledAUC scores m on the rows of every non-nil matrix together.
func PooledAUC(m Model, parts []*Matrix) (float64, error) {
	var scores, labels []float64
	for _, x := range parts {
		if x == nil {
			continue
		}
		s, err := m.Scores(x)
		if err != nil {
			return 0, err
		}
		scores = append(scores, s...)
		labels = append(labels, x.Y...)
	}
	return AUC(scores, labels)
}

// FitConfig configures Fit, the non-federated learner the baselines use.
type FitConfig struct {
	Train    TrainConfig
	Rounds   int
	Patience int
	Seed     uint64
}

// Fit trains one model on the given rows pooled (a centralized model, or a
// site's local-only model with one part) from init, Train.Epochs epochs per
// round for up to Rounds rounds, keeping the best model on the pooled
// validation rows (early stopping, as the federation does) or the last one
// without validation rows.
func Fit(train, val []*Matrix, init Model, cfg FitConfig) (Model, error) {
	pooled, err := Concat(train...)
	if err != nil {
		return Model{}, fmt.Errorf("fit: %w", err)
	}
	pooled = pooled.ShuffleRows(mixSeed(cfg.Seed, "fit", 0))
	stop, err := newEarlyStop(init, val, cfg.Patience)
	if err != nil {
		return Model{}, fmt.Errorf("fit: %w", err)
	}
	m := init
	r := 1
	for ; r <= cfg.Rounds; r++ {
		tc := cfg.Train
		tc.Seed = mixSeed(cfg.Seed, "fit", r)
		tr, err := Train(pooled, m, tc)
		if err != nil {
			return Model{}, fmt.Errorf("fit: round %d: %w", r, err)
		}
		m = tr.Model
		done, err := stop.observe(r, m)
		if err != nil {
			return Model{}, fmt.Errorf("fit: round %d: %w", r, err)
		}
		if done {
			break
		}
	}
	best, _, _ := stop.result(m, r)
	return best, nil
}

// DeviationPrior is the untrained deviation score as a model: the same
// weight on every deviation feature (RefAbsZScore, AbsZScore), zero on the
// others. Training from it refines the score instead of replacing it.
//
// summaryWeight is the weight of the summary features
// (AddDeviationSummaries), weight the one of every metric's deviation.
func DeviationPrior(features []string, weight, summaryWeight, intercept float64) (Model, error) {
	m, err := NewModel(features)
	if err != nil {
		return Model{}, err
	}
	for j, f := range features {
		switch _, t := SplitFeatureName(f); {
		case t == Summary:
			m.Weights[j] = summaryWeight
		case t.IsDeviation():
			m.Weights[j] = weight
		}
	}
	m.Intercept = intercept
	return m, nil
}
