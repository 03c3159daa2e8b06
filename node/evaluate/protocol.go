package evaluate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/source/csvsource"
)

// Evaluation protocols: which rows train and which are scored.
const (
	// ProtocolSplit trains on the first half of every site's labelled rows
	// and scores the second half: the same machines and neighbouring
	// periods, the most optimistic protocol.
	ProtocolSplit = "split"
	// ProtocolSwap trains on the second half and scores the first: the
	// same machines, another period, so defaults tuned on split show
	// whether they were fitted to one period.
	ProtocolSwap = "swap"
	// ProtocolLOSO (leave one site out) trains, for every site, the
	// federation of all the other sites on all their labelled rows and
	// scores the second half of the site it never saw: what a new member
	// gets on day one.
	ProtocolLOSO = "loso"
)

// Protocols lists the evaluation protocols.
func Protocols() []string { return []string{ProtocolSplit, ProtocolSwap, ProtocolLOSO} }

// SMDConfig configures EvaluateSMD. The zero value is not usable; start
// from DefaultSMDConfig.
type SMDConfig struct {
	Protocol string   `json:"protocol"`
	Seeds    []uint64 `json:"seeds"`
	// Rounds is the most federated rounds; training stops earlier when the
	// pooled AUC on the validation rows has not improved for Patience
	// rounds, and keeps the best round's model.
	Rounds   int `json:"rounds"`
	Patience int `json:"patience"`
	// ValidationFraction is the share of every machine's training rows,
	// the last in time, held back for early stopping.
	ValidationFraction float64              `json:"validation_fraction"`
	Train              fl.TrainConfig       `json:"train"`
	Strategy           string               `json:"strategy"`
	Options            fl.AggregatorOptions `json:"options"`
	Features           fl.FeatureSpec       `json:"features"`
	// PriorWeight is the weight of every standardized deviation feature
	// in the model training starts from (fl.DeviationPrior): the untrained
	// deviation score is the backbone that learning refines. 0 starts from
	// zeros.
	PriorWeight float64 `json:"prior_weight"`
	// Summaries adds the untrained deviation scores (the largest and the
	// mean |z| over metrics, fl.AddDeviationSummaries) as features, with
	// SummaryWeight in the starting model.
	Summaries     bool    `json:"summaries"`
	SummaryWeight float64 `json:"summary_weight"`
	// Horizon marks a row positive when an anomaly is under way within this
	// many following rows (0: detection).
	Horizon int `json:"horizon"`
	// TrainFileReference takes every z-score against each machine's
	// unlabelled train file instead of a trailing window (RefAbsZScore
	// always uses it).
	TrainFileReference bool           `json:"train_file_reference"`
	Explain            fl.ExplainMode `json:"explain"`
	// ExplainFit makes the federation's explanation the channel weights
	// (fl.FitExplainWeights over fl.DefaultExplainChannels) learned from
	// the members' interpretation labels of their training rows, instead
	// of the detection model's weights under Explain (reported as
	// hitrate_*_detection_weights either way).
	ExplainFit bool `json:"explain_fit"`
	// ExplainChannels are the channels ExplainFit weighs (nil:
	// fl.DefaultExplainChannels).
	ExplainChannels []fl.ExplainChannel `json:"explain_channels,omitempty"`
	// ExplainMachineStd standardizes the fitted explanation's features on
	// each machine's own rows (no labels) instead of the federation's
	// statistics.
	ExplainMachineStd bool `json:"explain_machine_std,omitempty"`
	// ExplainCheck uses the fitted weights only where, fitted without each
	// member machine in turn, they beat unit channel weights on its
	// incidents (fl.FitExplainWeightsChecked); else unit channel weights.
	ExplainCheck bool `json:"explain_check,omitempty"`
	// ExplainGrid is the weights FitExplainWeights tries for every channel
	// (nil: fl.DefaultExplainGrid).
	ExplainGrid []float64 `json:"explain_grid,omitempty"`
	// Calibrate takes every model's score on a scored machine relative to
	// the same model's scores over the machine's unlabelled period of the
	// same length just before (their median and median absolute
	// deviation), so that machines, and the folds of loso, are scored on
	// one scale: how unusual a row is for its machine lately.
	Calibrate bool `json:"calibrate"`
	// IntervalEnds reads interpretation intervals as exclusive, inclusive
	// or (auto, the default) whichever matches the anomaly column better.
	IntervalEnds string `json:"interval_ends,omitempty"`
	// Poisoned makes some sites misbehave (robustness experiments).
	Poisoned map[string]fl.Poisoning `json:"poisoned,omitempty"`
	// DP privatizes updates when set.
	DP *fl.DPConfig `json:"dp,omitempty"`
	// SkipSingleClassSites leaves out (and reports in Skipped) sites whose
	// rows lack anomalies where the protocol needs them, instead of failing.
	SkipSingleClassSites bool `json:"skip_single_class_sites"`
	// SiteOf maps a machine to its site; nil means the SMD machine group
	// (the X of machine-X-Y).
	SiteOf func(machine string) string `json:"-"`
}

// DefaultSMDConfig is the configuration whose results the README reports.
// Every choice was made by ProtocolLOSO and ProtocolSwap on the six SMD
// machines of ../shared/datasets over several seeds (see the README's
// learning section for what was tried), never by the split protocol.
func DefaultSMDConfig() SMDConfig {
	spec := fl.DeviationFeatureSpec()
	train := fl.GeneralizingTrainConfig()
	return SMDConfig{
		Protocol:           ProtocolLOSO,
		Seeds:              []uint64{1, 2, 3},
		Rounds:             30,
		Patience:           5,
		ValidationFraction: 0.25,
		Train:              train,
		Strategy:           fl.FedAvg,
		Features:           spec,
		PriorWeight:        0.02,
		Summaries:          true,
		SummaryWeight:      1,
		Explain:            fl.ExplainLearned,
		ExplainFit:         true,
		ExplainMachineStd:  true,
		Calibrate:          true,
	}
}

// SiteAUC is one site's detection quality.
type SiteAUC struct {
	Site string  `json:"site"`
	AUC  float64 `json:"auc"`
}

// Verdict says whether learning beat one baseline on one figure.
type Verdict struct {
	Figure   string  `json:"figure"`
	Baseline string  `json:"baseline"`
	Learned  float64 `json:"learned"`
	Value    float64 `json:"baseline_value"`
	Beaten   bool    `json:"beaten"`
}

// SMDReport is the outcome of an SMD-format evaluation under one protocol.
// Every AUC is over exactly the same scored rows; figures are means over
// the seeds (the untrained scores have no seed).
type SMDReport struct {
	Dir      string              `json:"dir"`
	Protocol string              `json:"protocol"`
	Sites    map[string][]string `json:"sites"`
	Seeds    []uint64            `json:"seeds"`
	Strategy string              `json:"strategy"`
	Rounds   int                 `json:"rounds"`
	// Calibrated says whether scores were calibrated (SMDConfig.Calibrate,
	// and every scored machine has a period before its scored rows).
	Calibrated bool `json:"calibrated"`
	Features   int  `json:"features"`
	// BestRounds is the round early stopping kept, per seed and fold.
	BestRounds []int `json:"best_rounds"`

	// AUCFederated is the pooled AUC of the federated models over every
	// scored row, averaged over seeds; AUCFederatedSeeds is per seed.
	AUCFederated      float64   `json:"auc_federated"`
	AUCFederatedSeeds []float64 `json:"auc_federated_seeds"`
	// SeedSpread is max − min of AUCFederatedSeeds.
	SeedSpread        float64   `json:"seed_spread"`
	AUCFederatedSites []SiteAUC `json:"auc_federated_sites"`
	WorstSite         SiteAUC   `json:"worst_site"`
	// SiteSpread is max − min of AUCFederatedSites.
	SiteSpread  float64 `json:"site_spread"`
	F1Federated float64 `json:"f1_federated"`

	// AUCCentralized is one model trained on the federation's rows pooled,
	// with the same learner and early stopping.
	AUCCentralized      float64   `json:"auc_centralized"`
	AUCCentralizedSites []SiteAUC `json:"auc_centralized_sites"`
	// AUCLocal is each scored site's local-only model, trained on that
	// site's own other half (under loso too, where the federation never
	// saw the site); AUCLocalPooled pools their scores.
	AUCLocal       []SiteAUC `json:"auc_local"`
	AUCLocalPooled float64   `json:"auc_local_pooled"`
	// LocalUntrained lists the sites whose local-only rows hold no
	// incident: their local-only model is the untrained starting model.
	LocalUntrained []string `json:"local_untrained,omitempty"`
	// AUCUntrained is the better of the two untrained deviation scores:
	// the largest and the mean |z| over metrics against each machine's
	// normal period (its train file; a trailing window without one).
	AUCUntrained      float64   `json:"auc_untrained"`
	AUCUntrainedMax   float64   `json:"auc_untrained_max"`
	AUCUntrainedMean  float64   `json:"auc_untrained_mean"`
	AUCUntrainedSites []SiteAUC `json:"auc_untrained_sites"`
	// AUCUntrainedTrailing is the better of the largest and the mean |z|
	// against the trailing window (BaselineWindow rows).
	AUCUntrainedTrailing float64 `json:"auc_untrained_trailing"`
	// AUCUntrainedCalibrated and AUCUntrainedTrailingCalibrated are the
	// same untrained scores calibrated as the models' are
	// (SMDConfig.Calibrate), so that what learning adds is measured apart
	// from what the calibration does.
	AUCUntrainedCalibrated         float64 `json:"auc_untrained_calibrated,omitempty"`
	AUCUntrainedTrailingCalibrated float64 `json:"auc_untrained_trailing_calibrated,omitempty"`

	// HitRate100 and HitRate150 score the federated model's explanation
	// (cfg.Explain) of every interpretation interval of the scored rows,
	// averaged over incidents and seeds. The _ones variants replace the
	// learned weights by ones, _plain_z ranks metrics by their mean |z|
	// against the normal period, _random is the expectation of a random
	// order.
	HitRate100       float64 `json:"hitrate_100"`
	HitRate150       float64 `json:"hitrate_150"`
	HitRate100Ones   float64 `json:"hitrate_100_ones"`
	HitRate150Ones   float64 `json:"hitrate_150_ones"`
	HitRate100PlainZ float64 `json:"hitrate_100_plain_z"`
	HitRate150PlainZ float64 `json:"hitrate_150_plain_z"`
	HitRate150Random float64 `json:"hitrate_150_random"`
	HitRateIncidents int     `json:"hitrate_incidents"`
	// HitRate150Detection is the explanation by the detection model's
	// learned weights (cfg.Explain); it equals HitRate150 unless
	// cfg.ExplainFit. ExplainWeights are the fitted channel weights of the
	// last fold of the first seed.
	// HitRate150OnesChannels is the fitted explanation's channels, read
	// the same way, with unit weights (with ExplainFit): what learning the
	// channel weights adds beyond the way the channels are read.
	HitRate100OnesChannels float64 `json:"hitrate_100_ones_channels,omitempty"`
	HitRate150OnesChannels float64 `json:"hitrate_150_ones_channels,omitempty"`
	// HitRate150ChannelsCeiling is the HitRate@150% of the channel
	// weighting on the grid fitted, in each fold, on that fold's scored
	// incidents themselves (in sample, with ExplainFit): not a baseline
	// but the most the fitted explanation, which learns one weighting per
	// fold from the members, could score on these incidents.
	HitRate150ChannelsCeiling float64 `json:"hitrate_150_channels_ceiling,omitempty"`
	// HitRate150ChannelsOracle is the same with the weighting chosen
	// separately for every scored incident: the most any reading of the
	// incident windows through these channels reaches.
	HitRate150ChannelsOracle float64            `json:"hitrate_150_channels_oracle,omitempty"`
	HitRate100Detection      float64            `json:"hitrate_100_detection_weights"`
	HitRate150Detection      float64            `json:"hitrate_150_detection_weights"`
	ExplainWeights           *fl.ExplainWeights `json:"explain_weights,omitempty"`
	// ExplainChecks are the held-back checks of the fitted weights
	// (SMDConfig.ExplainCheck), per seed and fold.
	ExplainChecks []fl.ExplainCheck `json:"explain_checks,omitempty"`

	// Verdicts compare learning with every baseline.
	Verdicts []Verdict `json:"verdicts"`
	// RankingBasis is the relevance policy this evaluation supports for
	// nodes on such data (federation.RelevancePolicy): "learned" when the
	// learned explanation beats both unit weights and plain |z| by
	// RankingMargin in HitRate@150%, else "deviation_fallback", with why.
	RankingBasis  string `json:"ranking_basis"`
	RankingReason string `json:"ranking_reason"`
	// Skipped lists sites left out for lack of anomalies, with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	Bytes   int64             `json:"bytes"`
	// Ranking is the per-metric relevance of the last fold's federated
	// model of the first seed.
	Ranking fl.Ranking         `json:"ranking,omitempty"`
	Epsilon map[string]float64 `json:"epsilon,omitempty"`
}

// EvaluateSMD runs the SMD-format evaluation on dir under cfg.Protocol for
// every seed, with the untrained, local-only and centralized baselines on
// the same rows, and scores the explanations against the interpretation
// labels.
func EvaluateSMD(ctx context.Context, dir string, cfg SMDConfig) (*SMDReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	machines, err := loadSMD(ctx, dir, cfg.loadOptions())
	if err != nil {
		return nil, err
	}
	if len(machines) == 0 {
		return nil, fmt.Errorf("evaluate smd: %s holds no machine", dir)
	}
	return evaluateMachines(ctx, dir, machines, cfg)
}

func (cfg SMDConfig) loadOptions() loadOptions {
	return loadOptions{spec: cfg.Features, horizon: cfg.Horizon, trainReference: cfg.TrainFileReference,
		summaries: cfg.Summaries, intervalEnds: cfg.IntervalEnds}
}

func (cfg SMDConfig) validate() error {
	switch {
	case !slices.Contains(Protocols(), cfg.Protocol):
		return fmt.Errorf("evaluate smd: unknown protocol %q (want split, swap or loso)", cfg.Protocol)
	case len(cfg.Seeds) == 0:
		return errors.New("evaluate smd: no seeds")
	case cfg.Rounds < 1:
		return errors.New("evaluate smd: rounds must be at least 1")
	case !(cfg.ValidationFraction >= 0 && cfg.ValidationFraction < 0.9):
		return fmt.Errorf("evaluate smd: validation fraction %v outside [0, 0.9)", cfg.ValidationFraction)
	case cfg.PriorWeight < 0 || math.IsInf(cfg.PriorWeight, 0) || math.IsNaN(cfg.PriorWeight):
		return errors.New("evaluate smd: prior weight must be non-negative and finite")
	}
	if _, err := fl.NewAggregator(cfg.Strategy, cfg.Options); err != nil {
		return fmt.Errorf("evaluate smd: %w", err)
	}
	return nil
}

// site is one organization's machines.
type site struct {
	name     string
	machines []machineData
}

func groupSites(machines []machineData, siteOf func(string) string) []site {
	if siteOf == nil {
		siteOf = func(m string) string {
			if g, ok := csvsource.SMDGroup(m); ok {
				return "group-" + g
			}
			return m
		}
	}
	idx := map[string]int{}
	var out []site
	for _, m := range machines {
		s := siteOf(m.name)
		if s == "" {
			continue
		}
		i, ok := idx[s]
		if !ok {
			i = len(out)
			idx[s] = i
			out = append(out, site{name: s})
		}
		out[i].machines = append(out[i].machines, m)
	}
	slices.SortFunc(out, func(a, b site) int { return strings.Compare(a.name, b.name) })
	return out
}

// member is a federation member's rows in one fold.
type member struct {
	name       string
	train, val *fl.Dataset
	// machines are the member's training rows per machine with their
	// interpretation intervals (the labels the explanation learns from).
	machines []scoredMachine
}

// scored is a site scored in one fold: its evaluation rows, the rows its
// local-only baseline trains on, and the interpretation intervals of each
// machine within the evaluation rows.
type scored struct {
	name                 string
	test                 *fl.Dataset
	localTrain, localVal *fl.Dataset
	machines             []scoredMachine
}

type scoredMachine struct {
	name   string
	test   *fl.Dataset
	interp []interpretation
	// before is the machine's unlabelled period of the same length just
	// before test, which scores are calibrated on (nil: none).
	before *fl.Dataset
}

type fold struct {
	members []member
	scored  []scored
}

// folds lays out the protocol's training and scored rows.
func folds(sites []site, cfg SMDConfig) ([]fold, map[string]string, error) {
	skipped := map[string]string{}
	type parts struct {
		train, val, test *fl.Dataset
		machines         []scoredMachine
		trainMachines    []scoredMachine
	}
	// split: train on the first half; swap: on the second; loso: members
	// train on everything, the left-out site is scored on its second half
	// and its local baseline trains on its first.
	build := func(s site, trainRows func(machineData) (*fl.Dataset, int), testSecond bool) (parts, error) {
		var trains, vals, tests []*fl.Dataset
		var sm, tm []scoredMachine
		for _, m := range s.machines {
			tr, trOff := trainRows(m)
			tm = append(tm, scoredMachine{name: m.name, test: tr, interp: clip(m.interp, trOff, tr.Rows())})
			t, v := holdBack(tr, cfg.ValidationFraction)
			trains = append(trains, t)
			if v != nil {
				vals = append(vals, v)
			}
			te, off := m.half(testSecond)
			tests = append(tests, te)
			sm = append(sm, scoredMachine{name: m.name, test: te, interp: clip(m.interp, off, te.Rows()), before: m.before(off, te.Rows())})
		}
		var p parts
		var err error
		if p.train, err = fl.ConcatDatasets(trains...); err != nil {
			return p, err
		}
		if len(vals) > 0 {
			if p.val, err = fl.ConcatDatasets(vals...); err != nil {
				return p, err
			}
		}
		if p.test, err = fl.ConcatDatasets(tests...); err != nil {
			return p, err
		}
		p.machines, p.trainMachines = sm, tm
		return p, nil
	}
	firstHalf := func(m machineData) (*fl.Dataset, int) { return m.half(false) }
	secondHalf := func(m machineData) (*fl.Dataset, int) { return m.half(true) }
	allRows := func(m machineData) (*fl.Dataset, int) { return m.rows, 0 }

	usable := func(name string, ds ...*fl.Dataset) bool {
		for _, d := range ds {
			if err := d.CheckClasses(); err != nil {
				skipped[name] = err.Error()
				return false
			}
		}
		return true
	}
	switch cfg.Protocol {
	case ProtocolSplit, ProtocolSwap:
		trainRows, testSecond := firstHalf, true
		if cfg.Protocol == ProtocolSwap {
			trainRows, testSecond = secondHalf, false
		}
		var f fold
		for _, s := range sites {
			p, err := build(s, trainRows, testSecond)
			if err != nil {
				return nil, nil, fmt.Errorf("site %s: %w", s.name, err)
			}
			if !usable(s.name, p.train, p.test) {
				continue
			}
			f.members = append(f.members, member{name: s.name, train: p.train, val: p.val, machines: p.trainMachines})
			f.scored = append(f.scored, scored{name: s.name, test: p.test, localTrain: p.train, localVal: p.val, machines: p.machines})
		}
		if len(f.scored) == 0 {
			return nil, skipped, nil
		}
		return []fold{f}, skipped, nil
	case ProtocolLOSO:
		if len(sites) < 2 {
			return nil, nil, fmt.Errorf("leave-one-site-out needs at least 2 sites, have %d", len(sites))
		}
		all := make([]parts, len(sites))
		local := make([]parts, len(sites))
		ok := make([]bool, len(sites))
		for i, s := range sites {
			var err error
			if all[i], err = build(s, allRows, true); err != nil {
				return nil, nil, fmt.Errorf("site %s: %w", s.name, err)
			}
			if local[i], err = build(s, firstHalf, true); err != nil {
				return nil, nil, fmt.Errorf("site %s: %w", s.name, err)
			}
			// A first half without incidents leaves only the local-only
			// baseline without anything to learn (runFold), not the site.
			ok[i] = usable(s.name, all[i].train, local[i].test)
		}
		var out []fold
		for h, s := range sites {
			if !ok[h] {
				continue
			}
			var f fold
			for i, o := range sites {
				if i != h && ok[i] {
					f.members = append(f.members, member{name: o.name, train: all[i].train, val: all[i].val, machines: all[i].trainMachines})
				}
			}
			if len(f.members) == 0 {
				continue
			}
			f.scored = []scored{{name: s.name, test: local[h].test, localTrain: local[h].train, localVal: local[h].val, machines: local[h].machines}}
			out = append(out, f)
		}
		return out, skipped, nil
	}
	return nil, nil, fmt.Errorf("unknown protocol %q", cfg.Protocol)
}

// holdBack splits off the last fraction of d's rows for validation,
// unless that would leave the training part without an incident (or the
// validation part would be empty).
func holdBack(d *fl.Dataset, fraction float64) (train, val *fl.Dataset) {
	n := d.Rows()
	cut := n - int(float64(n)*fraction)
	if fraction == 0 || cut >= n || cut < 2 {
		return d, nil
	}
	t := sliceDataset(d, 0, cut)
	if t.CheckClasses() != nil {
		return d, nil
	}
	return t, sliceDataset(d, cut, n)
}

// clip returns the intervals within [off, off+n), relative to off.
func clip(in []interpretation, off, n int) []interpretation {
	var out []interpretation
	for _, x := range in {
		s, e := max(x.rows.Start, off)-off, min(x.rows.End, off+n)-off
		if e > s {
			out = append(out, interpretation{rows: fl.Interval{Start: s, End: e}, metrics: x.metrics})
		}
	}
	return out
}

// pool gathers scores and labels, per site and over all sites.
type pool struct {
	scores, labels []float64
	sites          map[string][2][]float64
}

func newPool() *pool { return &pool{sites: map[string][2][]float64{}} }

func (p *pool) add(site string, scores, labels []float64) {
	p.scores = append(p.scores, scores...)
	p.labels = append(p.labels, labels...)
	s := p.sites[site]
	s[0] = append(s[0], scores...)
	s[1] = append(s[1], labels...)
	p.sites[site] = s
}

func (p *pool) auc() (float64, []SiteAUC, error) {
	all, err := fl.AUC(p.scores, p.labels)
	if err != nil {
		return 0, nil, err
	}
	var out []SiteAUC
	for _, name := range sortedKeys(p.sites) {
		s := p.sites[name]
		a, err := fl.AUC(s[0], s[1])
		if err != nil {
			return 0, nil, fmt.Errorf("site %s: %w", name, err)
		}
		out = append(out, SiteAUC{name, a})
	}
	return all, out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// hitRates accumulates explanation scores over incidents.
type hitRates struct {
	h100, h150, o100, o150, z100, z150, r150, d100, d150, c100, c150 float64
	n                                                                int
	// channels are the scored incidents read in the fitted explanation's
	// channels, with their labels, per seed and fold (for the ceiling).
	channels [][]fl.IncidentChannels
}

func evaluateMachines(ctx context.Context, dir string, machines []machineData, cfg SMDConfig) (*SMDReport, error) {
	sites := groupSites(machines, cfg.SiteOf)
	if len(sites) == 0 {
		return nil, errors.New("evaluate smd: no sites")
	}
	fs, skipped, err := folds(sites, cfg)
	if err != nil {
		return nil, fmt.Errorf("evaluate smd: %w", err)
	}
	if len(skipped) > 0 && !cfg.SkipSingleClassSites {
		name := sortedKeys(skipped)[0]
		return nil, fmt.Errorf("evaluate smd: site %s: %s (%w)", name, skipped[name], fl.ErrSingleClass)
	}
	if len(fs) == 0 {
		return nil, errors.New("evaluate smd: every site lacks anomalies")
	}
	cfg.Calibrate = cfg.Calibrate && calibratable(fs)
	rep := &SMDReport{Dir: dir, Protocol: cfg.Protocol, Sites: map[string][]string{}, Seeds: cfg.Seeds,
		Strategy: cfg.Strategy, Rounds: cfg.Rounds, Calibrated: cfg.Calibrate}
	if len(skipped) > 0 {
		rep.Skipped = skipped
	}
	for _, s := range sites {
		if _, skip := skipped[s.name]; skip {
			continue
		}
		for _, m := range s.machines {
			rep.Sites[s.name] = append(rep.Sites[s.name], m.name)
		}
	}
	if err := untrained(rep, fs, false); err != nil {
		return nil, fmt.Errorf("evaluate smd: %w", err)
	}
	if cfg.Calibrate {
		if err := untrained(rep, fs, true); err != nil {
			return nil, fmt.Errorf("evaluate smd: %w", err)
		}
	}
	siteSum := map[string][3]float64{} // federated, centralized, local
	var hr hitRates
	var cent, loc float64
	for si, seed := range cfg.Seeds {
		fed, central, local := newPool(), newPool(), newPool()
		for fi, f := range fs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out, err := runFold(f, cfg, seed, true)
			if err != nil {
				return nil, fmt.Errorf("evaluate smd: seed %d, fold %d: %w", seed, fi+1, err)
			}
			rep.BestRounds = append(rep.BestRounds, out.bestRound)
			for _, name := range out.localUntrained {
				if !slices.Contains(rep.LocalUntrained, name) {
					rep.LocalUntrained = append(rep.LocalUntrained, name)
				}
			}
			if out.explainCheck != nil {
				rep.ExplainChecks = append(rep.ExplainChecks, *out.explainCheck)
			}
			rep.Bytes += out.bytes
			rep.Features = len(out.model.Features)
			if si == 0 {
				rep.Ranking = out.ranking
				rep.Epsilon = out.epsilon
				rep.ExplainWeights = out.explainWeights
			}
			hr.channels = append(hr.channels, nil)
			for _, sc := range f.scored {
				fed.add(sc.name, out.fed[sc.name], sc.test.Labels)
				central.add(sc.name, out.central[sc.name], sc.test.Labels)
				local.add(sc.name, out.local[sc.name], sc.test.Labels)
				if err := out.explain(sc, &hr, seed); err != nil {
					return nil, fmt.Errorf("evaluate smd: site %s: %w", sc.name, err)
				}
			}
		}
		a, sitesFed, err := fed.auc()
		if err != nil {
			return nil, fmt.Errorf("evaluate smd: %w", err)
		}
		rep.AUCFederatedSeeds = append(rep.AUCFederatedSeeds, a)
		rep.F1Federated += fl.F1(fed.scores, fed.labels, 0.5) / float64(len(cfg.Seeds))
		c, sitesCent, err := central.auc()
		if err != nil {
			return nil, fmt.Errorf("evaluate smd: %w", err)
		}
		l, sitesLocal, err := local.auc()
		if err != nil {
			return nil, fmt.Errorf("evaluate smd: %w", err)
		}
		cent += c
		loc += l
		for i := range sitesFed {
			v := siteSum[sitesFed[i].Site]
			v[0] += sitesFed[i].AUC
			v[1] += sitesCent[i].AUC
			v[2] += sitesLocal[i].AUC
			siteSum[sitesFed[i].Site] = v
		}
	}
	n := float64(len(cfg.Seeds))
	rep.AUCFederated = mean(rep.AUCFederatedSeeds)
	rep.SeedSpread = slices.Max(rep.AUCFederatedSeeds) - slices.Min(rep.AUCFederatedSeeds)
	rep.AUCCentralized, rep.AUCLocalPooled = cent/n, loc/n
	for _, name := range sortedKeys(siteSum) {
		v := siteSum[name]
		rep.AUCFederatedSites = append(rep.AUCFederatedSites, SiteAUC{name, v[0] / n})
		rep.AUCCentralizedSites = append(rep.AUCCentralizedSites, SiteAUC{name, v[1] / n})
		rep.AUCLocal = append(rep.AUCLocal, SiteAUC{name, v[2] / n})
	}
	rep.WorstSite = rep.AUCFederatedSites[0]
	best := rep.WorstSite.AUC
	for _, s := range rep.AUCFederatedSites {
		if s.AUC < rep.WorstSite.AUC {
			rep.WorstSite = s
		}
		best = max(best, s.AUC)
	}
	rep.SiteSpread = best - rep.WorstSite.AUC
	if hr.n > 0 {
		k := float64(hr.n)
		rep.HitRate100, rep.HitRate150 = hr.h100/k, hr.h150/k
		rep.HitRate100Ones, rep.HitRate150Ones = hr.o100/k, hr.o150/k
		rep.HitRate100PlainZ, rep.HitRate150PlainZ = hr.z100/k, hr.z150/k
		rep.HitRate150Random = hr.r150 / k
		rep.HitRate100Detection, rep.HitRate150Detection = hr.d100/k, hr.d150/k
		if cfg.ExplainFit {
			rep.HitRate100OnesChannels, rep.HitRate150OnesChannels = hr.c100/k, hr.c150/k
			if rep.HitRate150ChannelsCeiling, rep.HitRate150ChannelsOracle, err = explanationLimits(hr.channels, cfg); err != nil {
				return nil, fmt.Errorf("evaluate smd: %w", err)
			}
		}
		rep.HitRateIncidents = hr.n / len(cfg.Seeds)
	}
	rep.Verdicts = verdicts(rep)
	rep.RankingBasis, rep.RankingReason = rankingBasis(rep)
	slog.DebugContext(ctx, "smd evaluation done", "dir", dir, "protocol", cfg.Protocol, "auc_federated", rep.AUCFederated)
	return rep, nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// verdicts compares the federated model with every baseline: detection
// AUC must beat the untrained score and the local-only models and reach
// 0.99 x centralized; the explanation must beat ones, plain |z| and
// random order.
func verdicts(r *SMDReport) []Verdict {
	v := []Verdict{
		{Figure: "auc", Baseline: "untrained", Learned: r.AUCFederated, Value: r.AUCUntrained, Beaten: r.AUCFederated > r.AUCUntrained},
		{Figure: "auc", Baseline: "untrained trailing", Learned: r.AUCFederated, Value: r.AUCUntrainedTrailing, Beaten: r.AUCFederated > r.AUCUntrainedTrailing},
		{Figure: "auc", Baseline: "local", Learned: r.AUCFederated, Value: r.AUCLocalPooled, Beaten: r.AUCFederated > r.AUCLocalPooled},
		{Figure: "auc", Baseline: "0.99 x centralized", Learned: r.AUCFederated, Value: 0.99 * r.AUCCentralized, Beaten: r.AUCFederated >= 0.99*r.AUCCentralized},
	}
	if r.AUCUntrainedCalibrated > 0 {
		v = append(v,
			Verdict{Figure: "auc", Baseline: "untrained calibrated", Learned: r.AUCFederated, Value: r.AUCUntrainedCalibrated, Beaten: r.AUCFederated > r.AUCUntrainedCalibrated},
			Verdict{Figure: "auc", Baseline: "untrained trailing calibrated", Learned: r.AUCFederated, Value: r.AUCUntrainedTrailingCalibrated, Beaten: r.AUCFederated > r.AUCUntrainedTrailingCalibrated},
		)
	}
	if r.HitRateIncidents > 0 {
		v = append(v,
			Verdict{Figure: "hitrate_150", Baseline: "ones", Learned: r.HitRate150, Value: r.HitRate150Ones, Beaten: r.HitRate150 > r.HitRate150Ones},
			Verdict{Figure: "hitrate_150", Baseline: "plain_z", Learned: r.HitRate150, Value: r.HitRate150PlainZ, Beaten: r.HitRate150 > r.HitRate150PlainZ},
			Verdict{Figure: "hitrate_150", Baseline: "random", Learned: r.HitRate150, Value: r.HitRate150Random, Beaten: r.HitRate150 > r.HitRate150Random},
		)
		if r.ExplainWeights != nil {
			v = append(v, Verdict{Figure: "hitrate_150", Baseline: "ones_channels", Learned: r.HitRate150, Value: r.HitRate150OnesChannels, Beaten: r.HitRate150 > r.HitRate150OnesChannels})
		}
	}
	return v
}

// RankingMargin is how much the learned explanation must beat the
// untrained ones by (HitRate@150%) to be presented as relevance.
const RankingMargin = 0.03

func rankingBasis(r *SMDReport) (string, string) {
	if r.HitRateIncidents == 0 {
		return "deviation_fallback", "no interpretation labels: the learned explanation cannot be checked"
	}
	// Unit weights on the fitted channels (0 without them) is one more
	// untrained explanation to beat.
	ones := max(r.HitRate150Ones, r.HitRate150OnesChannels)
	base := max(ones, r.HitRate150PlainZ)
	if r.HitRate150 >= base+RankingMargin {
		return "learned", fmt.Sprintf("HitRate@150%% %.3f beats unit weights %.3f and plain |z| %.3f by %.2f or more", r.HitRate150, ones, r.HitRate150PlainZ, RankingMargin)
	}
	return "deviation_fallback", fmt.Sprintf("HitRate@150%% %.3f does not beat unit weights %.3f and plain |z| %.3f by %.2f", r.HitRate150, ones, r.HitRate150PlainZ, RankingMargin)
}

// untrained scores every fold's scored rows with the deviation scores
// that need no training: the largest and the mean |z| over metrics against
// each machine's normal period (RefAbsZScore; the trailing window's
// AbsZScore when the features lack it). AUCUntrained is the better of the
// two. The same scores against the trailing window are reported too
// (AUCUntrainedTrailing), as a second, independent untrained baseline.
// With calibrated, it fills in the same two calibrated as the models'
// scores are (AUCUntrainedCalibrated, AUCUntrainedTrailingCalibrated).
func untrained(rep *SMDReport, fs []fold, calibrated bool) error {
	score := func(t fl.Transform) (aMax, aMean float64, maxSites, meanSites []SiteAUC, err error) {
		maxP, meanP := newPool(), newPool()
		for _, f := range fs {
			for _, sc := range f.scored {
				mx, mn := deviationScores(sc.test, t)
				if calibrated {
					calibrateDeviation(sc, t, mx, mn)
				}
				maxP.add(sc.name, mx, sc.test.Labels)
				meanP.add(sc.name, mn, sc.test.Labels)
			}
		}
		if aMax, maxSites, err = maxP.auc(); err != nil {
			return
		}
		aMean, meanSites, err = meanP.auc()
		return
	}
	aMax, aMean, maxSites, meanSites, err := score(fl.RefAbsZScore)
	if err != nil {
		return err
	}
	var trailing float64
	if hasTransform(fs[0].scored[0].test, fl.AbsZScore) {
		tMax, tMean, _, _, err := score(fl.AbsZScore)
		if err != nil {
			return err
		}
		trailing = max(tMax, tMean)
	}
	if calibrated {
		rep.AUCUntrainedCalibrated, rep.AUCUntrainedTrailingCalibrated = max(aMax, aMean), trailing
		return nil
	}
	rep.AUCUntrainedMax, rep.AUCUntrainedMean = aMax, aMean
	rep.AUCUntrained, rep.AUCUntrainedSites = aMax, maxSites
	if aMean > aMax {
		rep.AUCUntrained, rep.AUCUntrainedSites = aMean, meanSites
	}
	rep.AUCUntrainedTrailing = trailing
	return nil
}

// calibrateDeviation calibrates a scored site's untrained scores as
// calibrate does a model's: machine by machine, on the same scores over
// the period just before.
func calibrateDeviation(sc scored, t fl.Transform, maxScore, meanScore []float64) {
	_ = eachBefore(sc, func(before *fl.Dataset, lo, hi int) error {
		refMax, refMean := deviationScores(before, t)
		rescale(maxScore[lo:hi], refMax)
		rescale(meanScore[lo:hi], refMean)
		return nil
	})
}

func hasTransform(d *fl.Dataset, t fl.Transform) bool {
	return slices.ContainsFunc(d.Features, func(f string) bool { _, x := fl.SplitFeatureName(f); return x == t })
}

// plainDeviation returns the columns of the dataset's plain deviation of
// transform t, or of the other |z| when the features lack t.
func plainDeviation(d *fl.Dataset, t fl.Transform) (metrics []string, cols [][]float64) {
	if !hasTransform(d, t) {
		t = fl.AbsZScore
		if !hasTransform(d, t) {
			t = fl.RefAbsZScore
		}
	}
	for j, f := range d.Features {
		if m, x := fl.SplitFeatureName(f); x == t {
			metrics = append(metrics, m)
			cols = append(cols, d.Columns[j])
		}
	}
	return metrics, cols
}

// deviationScores is, per row, the largest and the mean plain deviation
// over metrics (missing values skipped).
func deviationScores(d *fl.Dataset, t fl.Transform) (maxScore, meanScore []float64) {
	_, cols := plainDeviation(d, t)
	maxScore = make([]float64, d.Rows())
	meanScore = make([]float64, d.Rows())
	for i := range maxScore {
		var s, n float64
		mx := 0.0
		for _, c := range cols {
			if v := c[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				s += v
				n++
				mx = max(mx, v)
			}
		}
		maxScore[i] = mx
		if n > 0 {
			meanScore[i] = s / n
		}
	}
	return maxScore, meanScore
}

// foldResult is what one fold's training produced.
type foldResult struct {
	model               fl.Model
	std                 *fl.Standardizer
	bestRound           int
	bytes               int64
	ranking             fl.Ranking
	epsilon             map[string]float64
	fed, central, local map[string][]float64
	explainMode         fl.ExplainMode
	// explainWeights, when set, are the channel weights learned from the
	// members' interpretation labels: the federation's explanation.
	explainWeights    *fl.ExplainWeights
	explainMachineStd bool
	explainCheck      *fl.ExplainCheck
	// localUntrained are scored sites whose local-only rows hold no
	// incident, so their local model is the starting model.
	localUntrained []string
}

// runFold trains the fold's federation and scores its scored sites; with
// baselines also the centralized and local-only models.
func runFold(f fold, cfg SMDConfig, seed uint64, baselines bool) (*foldResult, error) {
	var sites []fl.Site
	var features []string
	for _, m := range f.members {
		sites = append(sites, fl.Site{Name: m.name, Train: m.train, Val: m.val})
		features = append(features, m.train.Features...)
	}
	slices.Sort(features)
	features = slices.Compact(features)
	init, err := fl.DeviationPrior(features, cfg.PriorWeight, 0, 0)
	if err != nil {
		return nil, err
	}
	if backbone := bestSummary(f.members); backbone >= 0 {
		init.Weights[slices.Index(init.Features, f.members[0].train.Features[backbone])] = cfg.SummaryWeight
	}
	res, err := fl.Simulate(sites, fl.SimConfig{
		Rounds: cfg.Rounds, Train: cfg.Train, Strategy: cfg.Strategy, Options: cfg.Options,
		DP: cfg.DP, Poisoned: cfg.Poisoned, Seed: seed, Init: &init, Patience: cfg.Patience,
	})
	if err != nil {
		return nil, err
	}
	out := &foldResult{model: res.Final, std: res.Standardizer, bestRound: res.BestRound, ranking: res.Ranking,
		epsilon: res.Epsilon, explainMode: cfg.Explain,
		fed: map[string][]float64{}, central: map[string][]float64{}, local: map[string][]float64{}}
	for _, r := range res.Rounds {
		out.bytes += r.Bytes
	}
	std := res.Standardizer
	if cfg.ExplainFit {
		ew, check, err := fitExplanation(f.members, std, cfg)
		if err != nil {
			return nil, err
		}
		out.explainCheck = check
		out.explainWeights, out.explainMachineStd = &ew, cfg.ExplainMachineStd
	}
	if !baselines {
		for _, sc := range f.scored {
			x, err := std.Apply(sc.test)
			if err != nil {
				return nil, err
			}
			if out.fed[sc.name], err = res.Final.Scores(x); err != nil {
				return nil, err
			}
			if cfg.Calibrate {
				if err := calibrate(std, sc, []fl.Model{res.Final}, out.fed[sc.name]); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	apply := func(ds ...*fl.Dataset) ([]*fl.Matrix, error) {
		var out []*fl.Matrix
		for _, d := range ds {
			if d == nil {
				continue
			}
			x, err := std.Apply(d)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	var trains, vals []*fl.Dataset
	for _, m := range f.members {
		trains = append(trains, m.train)
		vals = append(vals, m.val)
	}
	tx, err := apply(trains...)
	if err != nil {
		return nil, err
	}
	vx, err := apply(vals...)
	if err != nil {
		return nil, err
	}
	fit := fl.FitConfig{Train: cfg.Train, Rounds: cfg.Rounds, Patience: cfg.Patience, Seed: seed}
	central, err := fl.Fit(tx, vx, init, fit)
	if err != nil {
		return nil, fmt.Errorf("centralized: %w", err)
	}
	for _, sc := range f.scored {
		test, err := apply(sc.test)
		if err != nil {
			return nil, err
		}
		if out.fed[sc.name], err = res.Final.Scores(test[0]); err != nil {
			return nil, err
		}
		if out.central[sc.name], err = central.Scores(test[0]); err != nil {
			return nil, err
		}
		local := init
		if sc.localTrain.CheckClasses() != nil {
			// No incident to learn from: local-only training keeps the
			// model it starts from.
			out.localUntrained = append(out.localUntrained, sc.name)
		} else {
			lt, err := apply(sc.localTrain)
			if err != nil {
				return nil, err
			}
			lv, err := apply(sc.localVal)
			if err != nil {
				return nil, err
			}
			fit.Seed = seed ^ 0x10ca1
			if local, err = fl.Fit(lt, lv, init, fit); err != nil {
				return nil, fmt.Errorf("local model of %s: %w", sc.name, err)
			}
		}
		if out.local[sc.name], err = local.Scores(test[0]); err != nil {
			return nil, err
		}
		if cfg.Calibrate {
			models := []fl.Model{res.Final, central, local}
			if err := calibrate(std, sc, models, out.fed[sc.name], out.central[sc.name], out.local[sc.name]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// calibratable reports whether every scored machine has a period before
// its scored rows to calibrate on: scores calibrated on some machines and
// not on others would not pool.
func calibratable(fs []fold) bool {
	for _, f := range fs {
		for _, sc := range f.scored {
			for _, m := range sc.machines {
				if m.before == nil || m.before.Rows() == 0 {
					return false
				}
			}
		}
	}
	return true
}

// calibrate rewrites a scored site's scores, machine by machine, as
// (score − median) / MAD of the same model's scores over the machine's
// period just before (scoredMachine.before; machines without one are left
// as they are): scores[i] are models[i]'s. No label is read.
func calibrate(std *fl.Standardizer, sc scored, models []fl.Model, scores ...[]float64) error {
	for _, s := range scores {
		if n := sc.test.Rows(); len(s) != n {
			return fmt.Errorf("calibrating %s: %d scores for %d rows", sc.name, len(s), n)
		}
	}
	return eachBefore(sc, func(before *fl.Dataset, lo, hi int) error {
		x, err := std.Apply(before)
		if err != nil {
			return err
		}
		for i, m := range models {
			ref, err := m.Scores(x)
			if err != nil {
				return err
			}
			rescale(scores[i][lo:hi], ref)
		}
		return nil
	})
}

// eachBefore calls f with every scored machine's period before its scored
// rows and those rows' span [lo, hi) in the site's rows, skipping machines
// without such a period.
func eachBefore(sc scored, f func(before *fl.Dataset, lo, hi int) error) error {
	off := 0
	for _, mc := range sc.machines {
		n := mc.test.Rows()
		if mc.before != nil && mc.before.Rows() > 0 {
			if err := f(mc.before, off, off+n); err != nil {
				return fmt.Errorf("calibrating %s: %w", mc.name, err)
			}
		}
		off += n
	}
	return nil
}

// rescale maps v to (v − median(ref)) / MAD(ref) in place; a MAD of 0 (a
// constant reference) keeps the scale and only centres.
func rescale(v, ref []float64) {
	med, mad := medianMAD(ref)
	if !(mad > 0) {
		mad = 1
	}
	for i := range v {
		v[i] = (v[i] - med) / mad
	}
}

// medianMAD is the median of v and the median absolute deviation from it
// (NaN values are left out; both 0 when none is left).
func medianMAD(v []float64) (median, mad float64) {
	s := slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(s) == 0 {
		return 0, 0
	}
	slices.Sort(s)
	median = s[len(s)/2]
	for i, x := range s {
		s[i] = math.Abs(x - median)
	}
	slices.Sort(s)
	return median, s[len(s)/2]
}

// fitExplanation learns the explanation's channel weights from the
// interpretation intervals within the members' training rows, standardized
// as the federation standardizes.
func fitExplanation(members []member, std *fl.Standardizer, cfg SMDConfig) (fl.ExplainWeights, *fl.ExplainCheck, error) {
	channels, grid, machineStd := cfg.ExplainChannels, cfg.ExplainGrid, cfg.ExplainMachineStd
	if channels == nil {
		channels = fl.DefaultExplainChannels()
	}
	if grid == nil {
		grid = fl.DefaultExplainGrid()
	}
	var groups [][]fl.IncidentChannels // one per machine
	for _, mb := range members {
		for _, m := range mb.machines {
			var incidents []fl.IncidentChannels
			std := std
			if machineStd && len(m.interp) > 0 {
				var err error
				if std, err = fl.NewStandardizer(fl.ComputeStats(m.test)); err != nil {
					return fl.ExplainWeights{}, nil, err
				}
			}
			for _, in := range m.interp {
				x, err := std.Apply(sliceDataset(m.test, in.rows.Start, in.rows.End))
				if err != nil {
					return fl.ExplainWeights{}, nil, err
				}
				ic, err := fl.ChannelShares(x, fl.Interval{Start: 0, End: x.Rows}, channels)
				if err != nil {
					return fl.ExplainWeights{}, nil, fmt.Errorf("%s rows %v: %w", m.name, in.rows, err)
				}
				ic.Truth = in.metrics
				incidents = append(incidents, ic)
			}
			groups = append(groups, incidents)
		}
	}
	if cfg.ExplainCheck {
		ew, check, err := fl.FitExplainWeightsChecked(groups, channels, grid, 1.5)
		return ew, &check, err
	}
	ew, _, err := fl.FitExplainWeights(slices.Concat(groups...), channels, grid, 1.5)
	return ew, nil, err
}

// explain scores the explanations of a scored site's interpretation
// intervals: the federation's (the fitted channel weights, or the model's
// weights under explainMode), the model's with unit weights, the channels
// with unit weights, plain |z|, and random.
func (r *foldResult) explain(sc scored, hr *hitRates, seed uint64) error {
	ones := r.model.UnitDeviationWeights()
	rng := rand.New(rand.NewPCG(seed, 0xa11))
	for _, m := range sc.machines {
		if len(m.interp) == 0 {
			continue
		}
		x, err := r.std.Apply(m.test)
		if err != nil {
			return err
		}
		xe, err := r.explainMatrix(m.test, x)
		if err != nil {
			return err
		}
		metrics, cols := plainDeviation(m.test, fl.RefAbsZScore)
		for _, in := range m.interp {
			e, err := fl.Explain(r.model, x, in.rows, r.explainMode)
			if err != nil {
				return fmt.Errorf("%s rows %v: %w", m.name, in.rows, err)
			}
			o, err := fl.Explain(ones, x, in.rows, r.explainMode)
			if err != nil {
				return err
			}
			z := plainRanking(metrics, cols, in.rows)
			learned := e.Ranked()
			hr.d100 += fl.HitRate(learned, in.metrics, 1)
			hr.d150 += fl.HitRate(learned, in.metrics, 1.5)
			if r.explainWeights != nil {
				ic, err := fl.ChannelShares(xe, in.rows, r.explainWeights.Channels)
				if err != nil {
					return fmt.Errorf("%s rows %v: %w", m.name, in.rows, err)
				}
				learned = r.explainWeights.Rank(ic)
				ic.Truth = in.metrics
				if len(hr.channels) == 0 {
					hr.channels = append(hr.channels, nil)
				}
				last := &hr.channels[len(hr.channels)-1]
				*last = append(*last, ic)
				unit := r.explainWeights.Unit().Rank(ic)
				hr.c100 += fl.HitRate(unit, in.metrics, 1)
				hr.c150 += fl.HitRate(unit, in.metrics, 1.5)
			}
			hr.h100 += fl.HitRate(learned, in.metrics, 1)
			hr.h150 += fl.HitRate(learned, in.metrics, 1.5)
			hr.o100 += fl.HitRate(o.Ranked(), in.metrics, 1)
			hr.o150 += fl.HitRate(o.Ranked(), in.metrics, 1.5)
			hr.z100 += fl.HitRate(z, in.metrics, 1)
			hr.z150 += fl.HitRate(z, in.metrics, 1.5)
			const draws = 20
			for range draws {
				perm := slices.Clone(metrics)
				rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				hr.r150 += fl.HitRate(perm, in.metrics, 1.5) / draws
			}
			hr.n++
		}
	}
	return nil
}

// explainMatrix is what the fitted explanation reads: x (the federation's
// standardization) or, with explainMachineStd, d standardized on its own
// rows.
func (r *foldResult) explainMatrix(d *fl.Dataset, x *fl.Matrix) (*fl.Matrix, error) {
	if r.explainWeights == nil || !r.explainMachineStd {
		return x, nil
	}
	st, err := fl.NewStandardizer(fl.ComputeStats(d))
	if err != nil {
		return nil, err
	}
	return st.Apply(d)
}

// explanationLimits is the HitRate@150% of the channel weighting fitted
// on the scored incidents themselves: per fold (the ceiling) and per
// incident (the oracle).
func explanationLimits(folds [][]fl.IncidentChannels, cfg SMDConfig) (ceiling, oracle float64, err error) {
	if ceiling, err = channelsCeiling(folds, cfg); err != nil {
		return 0, 0, err
	}
	var each [][]fl.IncidentChannels
	for _, f := range folds {
		for _, ic := range f {
			each = append(each, []fl.IncidentChannels{ic})
		}
	}
	oracle, err = channelsCeiling(each, cfg)
	return ceiling, oracle, err
}

// channelsCeiling fits the explanation's channel weights, in each fold,
// on the fold's scored incidents themselves: the HitRate@150% that no
// fitted weighting of these channels can exceed on them.
func channelsCeiling(folds [][]fl.IncidentChannels, cfg SMDConfig) (float64, error) {
	channels, grid := cfg.ExplainChannels, cfg.ExplainGrid
	if channels == nil {
		channels = fl.DefaultExplainChannels()
	}
	if grid == nil {
		grid = fl.DefaultExplainGrid()
	}
	var sum float64
	var n int
	for _, incidents := range folds {
		if len(incidents) == 0 {
			continue
		}
		_, best, err := fl.FitExplainWeights(incidents, channels, grid, 1.5)
		if err != nil {
			return 0, fmt.Errorf("ceiling of the channel explanation: %w", err)
		}
		sum += best * float64(len(incidents))
		n += len(incidents)
	}
	if n == 0 {
		return 0, nil
	}
	return sum / float64(n), nil
}

// plainRanking orders metrics by their mean plain deviation over rows.
func plainRanking(metrics []string, cols [][]float64, w fl.Interval) []string {
	cs := make([]fl.Contribution, len(metrics))
	for k, c := range cols {
		var s float64
		for i := w.Start; i < w.End; i++ {
			if v := c[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				s += v
			}
		}
		cs[k] = fl.Contribution{Metric: metrics[k], Score: s / float64(w.End-w.Start)}
	}
	slices.SortFunc(cs, func(a, b fl.Contribution) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.Metric, b.Metric)
	})
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Metric
	}
	return out
}

// bestSummary picks the backbone of the starting model: the summary
// feature (an untrained deviation score) with the best pooled AUC on the
// members' training rows, or -1 without summaries. Members share one
// feature list in this evaluation; in a federation the choice would be
// one more statistic the members exchange.
func bestSummary(members []member) int {
	best, at := 0.0, -1
	for j, f := range members[0].train.Features {
		if !fl.IsSummary(f) {
			continue
		}
		var scores, labels []float64
		for _, m := range members {
			d := m.train
			k := slices.Index(d.Features, f)
			if k < 0 {
				continue
			}
			for i, v := range d.Columns[k] {
				if math.IsNaN(v) {
					v = 0
				}
				scores = append(scores, v)
				labels = append(labels, d.Labels[i])
			}
		}
		if a, err := fl.AUC(scores, labels); err == nil && a > best {
			best, at = a, j
		}
	}
	return at
}
