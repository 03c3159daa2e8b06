// Package federation binds the federated learner (fl) to the round protocol
// (network/round): how an update payload is inspected, and how a round's
// updates become the claim every honest member submits — the aggregate's
// digest, the contributors and the per-service ranking — using the
// aggregation strategy the round names on the ledger.
//
// Both functions are pure and deterministic: members that hold the same
// updates compute byte-identical claims, whatever order the updates came in.
//
// Naming convention: a feature's metric is "<service>/<metric>" (fl then
// appends "#<transform>"), so one model covers all of a round's services
// and its ranking splits back into one ranking per service. Organizations
// with different metric sets align on the ones they share; a metric only
// some organizations have is aggregated over those that carry it.
package federation

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
)

// TopMetricsPerService is how many ranked metrics a claim carries per
// service (the chaincode accepts up to 64).
const TopMetricsPerService = 16

// RoundNumber maps a ledger round ID to the round number fl binds updates
// to, so an update made for one round cannot be replayed into another.
func RoundNumber(roundID string) uint32 {
	sum := sha256.Sum256([]byte(roundID))
	return binary.BigEndian.Uint32(sum[:4])
}

// MetricKey names a service's metric the way features name it.
func MetricKey(service, metric string) string { return service + "/" + metric }

// SplitMetricKey undoes MetricKey.
func SplitMetricKey(key string) (service, metric string, ok bool) {
	return strings.Cut(key, "/")
}

// Inspect checks an update payload for a round and returns its digest: it
// decodes (dimensions, finite values, sorted features), belongs to this
// round, and names only the round's services.
func Inspect(r records.Round, payload []byte) (string, error) {
	if err := checkProtocol(r); err != nil {
		return "", err
	}
	u, err := fl.DecodeUpdate(payload)
	if err != nil {
		return "", err
	}
	if u.Round != RoundNumber(r.ID) {
		return "", fmt.Errorf("update is for round number %d, not %q (%d)", u.Round, r.ID, RoundNumber(r.ID))
	}
	for _, f := range u.Features {
		metric, _ := fl.SplitFeatureName(f)
		svc, _, ok := SplitMetricKey(metric)
		if !ok || !slices.Contains(r.Services, svc) {
			return "", fmt.Errorf("feature %q is not a metric of the round's services %v", f, r.Services)
		}
	}
	return u.Digest()
}

// Aggregator makes the round machine's Aggregate function.
type Aggregator struct {
	Options fl.AggregatorOptions
	// Relevance decides whether a service's ranking is the learned one.
	Relevance RelevancePolicy
}

// Relevance modes.
const (
	// RelevanceAuto uses the learned relevance of a service only where the
	// federated weights separate its metrics (MinSpread), else falls back.
	RelevanceAuto = "auto"
	// RelevanceLearned always uses the learned relevance.
	RelevanceLearned = "learned"
	// RelevanceDeviation always falls back to the deviation ranking, e.g.
	// where `srellama dataset eval` showed the learned explanation does
	// not beat plain deviations on the members' kind of data.
	RelevanceDeviation = "deviation"
)

// DefaultMinSpread is the least (top − bottom) / top of a service's
// learned metric scores for RelevanceAuto to use them: below it, learning
// left the metrics (nearly) where the untrained prior put them, and their
// order is noise.
const DefaultMinSpread = 0.1

// RelevancePolicy says when a round's ranking may present learned weights
// as relevance. The zero value is RelevanceAuto with DefaultMinSpread.
type RelevancePolicy struct {
	Mode      string  `json:"mode,omitempty"`
	MinSpread float64 `json:"min_spread,omitempty"`
}

// Aggregate combines the updates with the round's strategy. Updates whose
// organization field is not the member that committed them are left out:
// every honest member leaves out the same ones.
func (a Aggregator) Aggregate(r records.Round, updates []round.Update) (records.AggregateClaim, error) {
	model, contributors, err := a.Model(r, updates)
	if err != nil {
		return records.AggregateClaim{}, err
	}
	digest, err := model.Digest()
	if err != nil {
		return records.AggregateClaim{}, err
	}
	ranking, err := RankingsWith(r, model, a.Relevance)
	if err != nil {
		return records.AggregateClaim{}, err
	}
	return records.AggregateClaim{Digest: digest, Contributors: contributors, Ranking: ranking}, nil
}

// Model returns the round's global model and its contributors, sorted.
func (a Aggregator) Model(r records.Round, updates []round.Update) (fl.Model, []string, error) {
	if err := checkProtocol(r); err != nil {
		return fl.Model{}, nil, err
	}
	agg, err := fl.NewAggregator(r.Strategy, a.Options)
	if err != nil {
		return fl.Model{}, nil, fmt.Errorf("round %q: %w", r.ID, err)
	}
	var us []fl.Update
	var contributors []string
	features := map[string]bool{}
	for _, ru := range updates {
		u, err := fl.DecodeUpdate(ru.Payload)
		if err != nil {
			return fl.Model{}, nil, fmt.Errorf("round %q: update of %s: %w", r.ID, ru.MSPID, err)
		}
		if u.Org != ru.MSPID {
			continue
		}
		us = append(us, *u)
		contributors = append(contributors, ru.MSPID)
		for _, f := range u.Features {
			features[f] = true
		}
	}
	if len(us) == 0 {
		return fl.Model{}, nil, fmt.Errorf("round %q: no usable updates", r.ID)
	}
	// The global space is the union of the contributors' features, so it
	// depends only on the set of updates, not on any member's own data.
	global, err := fl.NewModel(sortedKeys(features))
	if err != nil {
		return fl.Model{}, nil, err
	}
	model, err := agg.Aggregate(global, RoundNumber(r.ID), us)
	if err != nil {
		return fl.Model{}, nil, fmt.Errorf("round %q: %w", r.ID, err)
	}
	slices.Sort(contributors)
	return model, contributors, nil
}

// checkProtocol refuses a round opened under a protocol this build does not
// compute: taking part with other arithmetic would only split the quorum.
func checkProtocol(r records.Round) error {
	if v := r.ProtocolVersion(); v != fl.ProtocolVersion {
		return fmt.Errorf("round %q runs protocol %d; this node computes protocol %d: upgrade the node", r.ID, v, fl.ProtocolVersion)
	}
	return nil
}

// Rankings splits a model's metric ranking into one ranking per service of
// the round, best first, in the form the chaincode stores, under the
// default RelevancePolicy.
func Rankings(r records.Round, model fl.Model) ([]records.ServiceRanking, error) {
	return RankingsWith(r, model, RelevancePolicy{})
}

// RankingsWith is Rankings under a relevance policy. A service whose
// learned relevance does not earn its place gets the deviation fallback:
// its metrics with relevance 0, basis RankingDeviationFallback and the
// reason, so that nobody reads noise as relevance; the SLI generator then
// ranks them by their deviation during incidents on its own data.
func RankingsWith(r records.Round, model fl.Model, policy RelevancePolicy) ([]records.ServiceRanking, error) {
	mode := policy.Mode
	if mode == "" {
		mode = RelevanceAuto
	}
	minSpread := policy.MinSpread
	if minSpread == 0 {
		minSpread = DefaultMinSpread
	}
	if mode != RelevanceAuto && mode != RelevanceLearned && mode != RelevanceDeviation {
		return nil, fmt.Errorf("relevance mode %q: want auto, learned or deviation", mode)
	}
	perService := map[string][]nft.Metric{}
	all := map[string][]fl.MetricScore{}
	for _, s := range fl.Rank(model, nil) {
		svc, metric, ok := SplitMetricKey(s.Metric)
		if !ok || !slices.Contains(r.Services, svc) {
			continue
		}
		all[svc] = append(all[svc], fl.MetricScore{Metric: metric, Score: s.Score, Stability: s.Stability})
		if len(perService[svc]) < TopMetricsPerService {
			perService[svc] = append(perService[svc], nft.Metric{Name: metric, Relevance: s.Score, Stability: s.Stability})
		}
	}
	var out []records.ServiceRanking
	for _, svc := range r.Services { // sorted, as the round spec requires
		ms := perService[svc]
		if len(ms) == 0 {
			continue
		}
		sr := records.ServiceRanking{Service: svc, Metrics: ms, Basis: records.RankingLearned}
		reason := ""
		switch mode {
		case RelevanceDeviation:
			reason = "relevance policy is deviation: learning did not beat the untrained ranking in evaluation"
		case RelevanceAuto:
			reason = separates(all[svc], minSpread)
		}
		if reason != "" {
			sr = deviationFallback(svc, all[svc], reason)
		}
		out = append(out, sr)
	}
	if len(out) == 0 {
		return nil, errors.New("the global model ranks no metric of the round's services")
	}
	return out, nil
}

// separates returns why learned scores do not separate metrics, or "".
func separates(scores []fl.MetricScore, minSpread float64) string {
	if len(scores) < 2 {
		return "a single metric: nothing to rank"
	}
	top, bottom := scores[0].Score, scores[len(scores)-1].Score
	if !(top > 0) {
		return "the federated model gives no weight to this service's metrics"
	}
	if spread := (top - bottom) / top; spread < minSpread {
		return fmt.Sprintf("learned weights do not separate this service's metrics (spread %.3f below %.3f)", spread, minSpread)
	}
	return ""
}

// deviationFallback lists a service's metrics by name with relevance 0.
func deviationFallback(svc string, scores []fl.MetricScore, reason string) records.ServiceRanking {
	names := make([]string, len(scores))
	for i, s := range scores {
		names[i] = s.Metric
	}
	slices.Sort(names)
	sr := records.ServiceRanking{Service: svc, Basis: records.RankingDeviationFallback, Reason: reason}
	for _, n := range names[:min(len(names), TopMetricsPerService)] {
		sr.Metrics = append(sr.Metrics, nft.Metric{Name: n})
	}
	return sr
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
