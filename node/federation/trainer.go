package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
)

// Trainer turns an organization's metrics into its update for a round:
// for each of the round's services it has, every candidate series becomes
// features (named MetricKey(service, metric)), the service's incidents
// become labels, and a class-weighted logistic regression is trained on the
// older part of the history and scored on the newer part. Only the model's
// weights leave the node.
//
// Standardization here uses the organization's own statistics; fl supports
// federated statistics (fl.MergeStats), which need a statistics exchange
// before the round that the round protocol does not carry yet.
type Trainer struct {
	MSPID   string
	Source  source.Source
	History time.Duration
	Step    time.Duration
	// Now is the clock; the history ends at Now().
	Now     func() time.Time
	Spec    fl.FeatureSpec
	Config  fl.TrainConfig
	Horizon int // rows ahead an incident counts as "about to happen"
	// HoldOut is the fraction of the newest rows kept for scoring.
	HoldOut float64
	Log     *slog.Logger
}

// FeatureSetDigest names a feature specification in a round spec: the
// digest of its canonical JSON.
func FeatureSetDigest(spec fl.FeatureSpec) (string, error) {
	d, err := nft.DigestOf(spec)
	if err != nil {
		return "", fmt.Errorf("digest of the feature spec: %w", err)
	}
	return d, nil
}

// Train implements network.Trainer. A round names the feature set its
// members extract (FeatureSetDigest); a node whose specification differs
// does not take part, since its model's features would not line up with
// the others' and its update would skew or spoil the aggregate.
func (tr Trainer) Train(ctx context.Context, r records.Round) ([]byte, records.UpdateCommitment, error) {
	own, err := FeatureSetDigest(tr.Spec)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	if r.FeatureSetDigest != own {
		return nil, records.UpdateCommitment{}, fmt.Errorf("round %s trains on feature set %s; this node extracts %s: not taking part", r.ID, r.FeatureSetDigest, own)
	}
	ds, services, err := tr.dataset(ctx, r.Services)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	split := int(float64(ds.Rows()) * (1 - tr.holdOut()))
	train, err := slice(ds, 0, split)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	test, err := slice(ds, split, ds.Rows())
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	if err := train.CheckClasses(); err != nil {
		return nil, records.UpdateCommitment{}, fmt.Errorf("round %s: %w", r.ID, err)
	}
	st, err := fl.NewStandardizer(fl.ComputeStats(train))
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	xTrain, err := st.Apply(train)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	xTest, err := st.Apply(test)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	init, err := fl.NewModel(ds.Features)
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	cfg := tr.Config
	if r.Strategy == fl.FedProx && cfg.ProxMu == 0 {
		cfg.ProxMu = 0.01
	}
	res, err := fl.Train(xTrain, init, cfg)
	if err != nil {
		return nil, records.UpdateCommitment{}, fmt.Errorf("round %s: training: %w", r.ID, err)
	}
	metrics := score(res, xTest)
	u := res.Model.ToUpdate(tr.MSPID, RoundNumber(r.ID), xTrain, metrics)
	payload, err := u.Encode()
	if err != nil {
		return nil, records.UpdateCommitment{}, err
	}
	tr.logger().Info("trained a local model", "round", r.ID, "rows", xTrain.Rows, "features", len(u.Features), "held_out_auc", metrics.AUC)
	return payload, records.UpdateCommitment{
		Samples:  int64(u.Samples),
		Metrics:  records.LocalMetrics{AUC: metrics.AUC, F1: metrics.F1, Loss: metrics.Loss},
		Services: services,
	}, nil
}

// score measures the model on the held-out rows; AUC and F1 are 0 when
// they hold a single class.
func score(res fl.TrainResult, x *fl.Matrix) fl.LocalMetrics {
	m := fl.LocalMetrics{Loss: res.Loss}
	scores, err := res.Model.Scores(x)
	if err != nil {
		return m
	}
	if auc, err := fl.AUC(scores, x.Y); err == nil && !math.IsNaN(auc) {
		m.AUC = auc
	}
	m.F1 = fl.F1(scores, x.Y, 0.5)
	if math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		m.Loss = 0
	}
	return m
}

// Dataset builds the labelled feature table of the services over the
// history window.
func (tr Trainer) Dataset(ctx context.Context, services []string) (*fl.Dataset, error) {
	ds, _, err := tr.dataset(ctx, services)
	return ds, err
}

// dataset also returns the services this organization had data for.
func (tr Trainer) dataset(ctx context.Context, services []string) (*fl.Dataset, []string, error) {
	if tr.History <= 0 || tr.Step <= 0 || tr.Now == nil {
		return nil, nil, errors.New("trainer: History, Step and Now are required")
	}
	end := tr.Now().Truncate(tr.Step)
	rng := source.Range{Start: end.Add(-tr.History), End: end, Step: tr.Step}
	have, err := tr.Source.Services(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: listing services: %w", err)
	}
	var series []fl.MetricSeries
	var incidents []fl.Interval
	var ran []string
	var churn seriesChurn
	split := int(float64(rng.Points()) * (1 - tr.holdOut()))
	first := -1
	for _, svc := range services {
		if !slices.Contains(have, svc) {
			continue // another organization's service
		}
		s, err := tr.serviceSeries(ctx, svc, rng)
		if err != nil {
			return nil, nil, err
		}
		s, c := usableSeries(s, split)
		churn.add(c)
		if c.first >= 0 && (first < 0 || c.first < first) {
			first = c.first
		}
		series = append(series, s...)
		ran = append(ran, svc)
		in, err := tr.Source.Incidents(ctx, svc, rng.Start, rng.End)
		if err != nil {
			return nil, nil, fmt.Errorf("trainer: incidents of %s: %w", svc, err)
		}
		for _, i := range in {
			lo, hi := rowOf(rng, i.Start), rowOf(rng, i.End)+1
			lo, hi = max(lo, 0), min(hi, rng.Points())
			if hi > lo {
				incidents = append(incidents, fl.Interval{Start: lo, End: hi})
			}
		}
	}
	if churn.empty+churn.young > 0 {
		tr.logger().Info("left series out of training", "without_samples", churn.empty, "younger_than_split", churn.young, "kept", len(series))
	}
	if len(series) == 0 && len(ran) > 0 {
		present := time.Duration(0)
		if first >= 0 {
			present = time.Duration(rng.Points()-1-first) * rng.Step
		}
		return nil, nil, &source.NotEnoughHistoryError{What: "training", Needed: time.Duration(rng.Points()-split) * rng.Step, Present: present}
	}
	if len(series) == 0 {
		return nil, nil, fmt.Errorf("trainer: this organization has none of the services %v", services)
	}
	spec := tr.Spec
	spec.SkipEmpty = true
	ft, err := fl.BuildFeatures(series, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: %w", err)
	}
	labels, err := fl.LabelsFromIntervals(ft.Rows, incidents, tr.Horizon)
	if err != nil {
		return nil, nil, err
	}
	ds, err := fl.NewDataset(ft, labels, 0, ft.Rows)
	slices.Sort(ran)
	return ds, ran, err
}

// serviceSeries fetches a service's candidate series. Histogram buckets are
// left out (their _sum and _count carry the signal without one feature per
// bucket); a metric with several series keeps each under its selector.
func (tr Trainer) serviceSeries(ctx context.Context, svc string, rng source.Range) ([]fl.MetricSeries, error) {
	infos, err := tr.Source.ListSeries(ctx, svc)
	if err != nil {
		return nil, fmt.Errorf("trainer: series of %s: %w", svc, err)
	}
	perMetric := map[string]int{}
	var ids []string
	byID := map[string]source.SeriesInfo{}
	for _, in := range infos {
		if strings.HasSuffix(in.Metric, "_bucket") {
			continue
		}
		perMetric[in.Metric]++
		ids = append(ids, in.ID)
		byID[in.ID] = in
	}
	fetched, err := tr.Source.Fetch(ctx, ids, rng)
	if err != nil {
		return nil, fmt.Errorf("trainer: fetching %s: %w", svc, err)
	}
	out := make([]fl.MetricSeries, 0, len(fetched))
	for _, s := range fetched {
		// The listing names every series; a fetch may not (a series
		// without a sample on the grid comes back unnamed).
		listed := byID[s.Info.ID]
		name := listed.Metric
		if name == "" {
			name = s.Info.Metric
		}
		if name == "" || perMetric[name] > 1 {
			name = s.Info.ID
		}
		out = append(out, fl.MetricSeries{Name: MetricKey(svc, name), Counter: listed.Type == source.TypeCounter, Values: s.Values})
	}
	slices.SortFunc(out, func(a, b fl.MetricSeries) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// seriesChurn counts the series left out of training, and the first row
// any series has a sample at (-1: none has).
type seriesChurn struct {
	empty, young, first int
}

func (c *seriesChurn) add(o seriesChurn) { c.empty += o.empty; c.young += o.young }

// usableSeries drops the series training cannot use: those without any
// sample in the window (a series listed but not scraped lately) and those
// younger than the training split (no sample before it, so nothing to
// learn from and nothing to standardize with). Ordinary churn (a new pod,
// a renamed metric) costs those features, not the round.
func usableSeries(in []fl.MetricSeries, split int) ([]fl.MetricSeries, seriesChurn) {
	c := seriesChurn{first: -1}
	out := in[:0]
	for _, s := range in {
		first := slices.IndexFunc(s.Values, func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) })
		switch {
		case first < 0:
			c.empty++
			continue
		case first >= split:
			c.young++
		default:
			out = append(out, s)
		}
		if c.first < 0 || first < c.first {
			c.first = first
		}
	}
	return out, c
}

func rowOf(r source.Range, t time.Time) int { return int(t.Sub(r.Start) / r.Step) }

func (tr Trainer) holdOut() float64 {
	if tr.HoldOut <= 0 || tr.HoldOut >= 1 {
		return 0.3
	}
	return tr.HoldOut
}

func slice(d *fl.Dataset, lo, hi int) (*fl.Dataset, error) {
	if hi <= lo {
		return nil, fmt.Errorf("trainer: history too short to split (%d rows)", d.Rows())
	}
	out := &fl.Dataset{Features: d.Features, Quality: d.Quality, Labels: d.Labels[lo:hi]}
	for _, c := range d.Columns {
		out.Columns = append(out.Columns, c[lo:hi])
	}
	return out, nil
}

func (tr Trainer) logger() *slog.Logger {
	if tr.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return tr.Log
}
