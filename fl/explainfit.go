package fl

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ExplainStat says how one feature's standardized values over an incident
// window become one number (negative values, calmer than usual, count as 0).
type ExplainStat string

// Window statistics of an explanation channel.
const (
	// StatMeanSquare is the mean of max(x, 0)² over the window, the
	// statistic of ExplainLearned: a deviation held for the whole window.
	StatMeanSquare ExplainStat = "mean_square"
	// StatPeak is the largest max(x, 0) in the window: a short spike in a
	// long window counts in full.
	StatPeak ExplainStat = "peak"
)

// ExplainChannel is one transform under one window statistic.
type ExplainChannel struct {
	Transform Transform   `json:"transform"`
	Stat      ExplainStat `json:"stat"`
}

// DefaultExplainChannels are the deviation transforms of the evaluated
// feature spec under both statistics.
func DefaultExplainChannels() []ExplainChannel {
	var out []ExplainChannel
	for _, s := range []ExplainStat{StatMeanSquare, StatPeak} {
		for _, t := range []Transform{RefAbsZScore, AbsZScore, AbsDelta} {
			out = append(out, ExplainChannel{Transform: t, Stat: s})
		}
	}
	return out
}

// ExplainWeights weigh explanation channels: a metric's score in an
// incident is Σ_c Weights[c]·share_c(metric), where share_c is the metric's
// part of channel c's total over all metrics in that window. Shares make
// channels of different scales (squares, peaks) comparable and every
// incident count alike.
type ExplainWeights struct {
	Channels []ExplainChannel `json:"channels"`
	Weights  []float64        `json:"weights"`
}

// IncidentChannels are the per-metric channel shares of one incident
// window, with the metrics an operator named (Truth; empty when unknown).
type IncidentChannels struct {
	Metrics []string    `json:"metrics"`
	Shares  [][]float64 `json:"shares"` // [metric][channel]
	Truth   []string    `json:"truth,omitempty"`
}

// ChannelShares computes the channel shares of rows [w.Start, w.End) of x
// (standardized, as Explain takes it) for every metric that has a feature
// of some channel's transform.
func ChannelShares(x *Matrix, w Interval, channels []ExplainChannel) (IncidentChannels, error) {
	if w.Start < 0 || w.End > x.Rows || w.End <= w.Start {
		return IncidentChannels{}, errors.New("channel shares: window outside the data or empty")
	}
	idx := map[string]int{}
	var ic IncidentChannels
	for j, f := range x.Features {
		if !x.Present[j] {
			continue
		}
		metric, t := SplitFeatureName(f)
		if t == Summary {
			continue
		}
		for c, ch := range channels {
			if ch.Transform != t {
				continue
			}
			k, ok := idx[metric]
			if !ok {
				k = len(ic.Metrics)
				idx[metric] = k
				ic.Metrics = append(ic.Metrics, metric)
				ic.Shares = append(ic.Shares, make([]float64, len(channels)))
			}
			ic.Shares[k][c] = windowStat(x, j, w, ch.Stat)
		}
	}
	for c := range channels {
		var total float64
		for k := range ic.Shares {
			total += ic.Shares[k][c]
		}
		if total > 0 {
			for k := range ic.Shares {
				ic.Shares[k][c] /= total
			}
		}
	}
	return ic, nil
}

func windowStat(x *Matrix, j int, w Interval, s ExplainStat) float64 {
	var sumSq, peak float64
	for i := w.Start; i < w.End; i++ {
		v := math.Max(x.X[i*x.Cols+j], 0)
		sumSq = mulAdd(v, v, sumSq)
		peak = math.Max(peak, v)
	}
	if s == StatPeak {
		return peak
	}
	return sumSq / float64(w.End-w.Start)
}

// Unit returns the same channels with every weight 1: the explanation with
// nothing learned.
func (ew ExplainWeights) Unit() ExplainWeights {
	out := ExplainWeights{Channels: ew.Channels, Weights: make([]float64, len(ew.Channels))}
	for c := range out.Weights {
		out.Weights[c] = 1
	}
	return out
}

// Rank orders an incident's metrics by weighted share, ties by name.
func (ew ExplainWeights) Rank(ic IncidentChannels) []string {
	cs := make([]Contribution, len(ic.Metrics))
	for k, m := range ic.Metrics {
		var s float64
		for c, wt := range ew.Weights {
			s = mulAdd(wt, ic.Shares[k][c], s)
		}
		cs[k] = Contribution{Metric: m, Score: s}
	}
	sortContributions(cs)
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Metric
	}
	return out
}

// DefaultExplainGrid is the grid FitExplainWeights searches every
// channel's weight in.
func DefaultExplainGrid() []float64 { return []float64{0, 0.5, 1, 2} }

// FitExplainWeights learns channel weights from labelled incidents (the
// members' interpretation labels): the weights on the grid (every channel's weight one of grid's; DefaultExplainGrid) with the best
// mean HitRate@p over the incidents, the first in grid order on ties (so
// the result does not depend on anything but the incidents). Every member
// can score every candidate on its own incidents and share only the sums,
// which add up to the same choice. With no labelled incident it returns
// unit weights.
func FitExplainWeights(incidents []IncidentChannels, channels []ExplainChannel, grid []float64, p float64) (ExplainWeights, float64, error) {
	if len(channels) == 0 || len(channels) > 8 {
		return ExplainWeights{}, 0, fmt.Errorf("fit explain weights: %d channels (want 1 to 8)", len(channels))
	}
	if len(grid) == 0 || len(grid) > 8 || slices.ContainsFunc(grid, func(g float64) bool { return !(g >= 0) || math.IsInf(g, 0) }) {
		return ExplainWeights{}, 0, fmt.Errorf("fit explain weights: grid %v (want 1 to 8 finite non-negative weights)", grid)
	}
	for i, ic := range incidents {
		if len(ic.Shares) != len(ic.Metrics) || slices.ContainsFunc(ic.Shares, func(s []float64) bool { return len(s) != len(channels) }) {
			return ExplainWeights{}, 0, fmt.Errorf("fit explain weights: incident %d does not have %d channels per metric", i, len(channels))
		}
	}
	ones := ExplainWeights{Channels: channels}.Unit()
	labelled := slices.DeleteFunc(slices.Clone(incidents), func(ic IncidentChannels) bool { return len(ic.Truth) == 0 })
	if len(labelled) == 0 {
		return ones, 0, nil
	}
	score := func(ew ExplainWeights) float64 {
		var h float64
		for _, ic := range labelled {
			h += HitRate(ew.Rank(ic), ic.Truth, p)
		}
		return h / float64(len(labelled))
	}
	best, bestScore := ones, -1.0
	cand := ExplainWeights{Channels: channels, Weights: make([]float64, len(channels))}
	var walk func(c int)
	walk = func(c int) {
		if c == len(channels) {
			if slices.ContainsFunc(cand.Weights, func(w float64) bool { return w != 0 }) {
				if s := score(cand); s > bestScore {
					best = ExplainWeights{Channels: channels, Weights: slices.Clone(cand.Weights)}
					bestScore = s
				}
			}
			return
		}
		for _, g := range grid {
			cand.Weights[c] = g
			walk(c + 1)
		}
	}
	walk(0)
	return best, bestScore, nil
}

// ExplainCheck is the held-back test FitExplainWeightsChecked applies: the
// mean HitRate over every group's incidents of weights fitted without that
// group, and of unit weights, on the same incidents.
type ExplainCheck struct {
	Groups    int     `json:"groups"`
	Incidents int     `json:"incidents"`
	Fitted    float64 `json:"fitted"`
	Unit      float64 `json:"unit"`
	// Kept says whether the fitted weights beat unit weights held back
	// and are therefore used.
	Kept bool `json:"kept"`
}

// FitExplainWeightsChecked fits channel weights on all groups' incidents
// (e.g. one group per machine) but uses them only if, fitted without each
// group in turn, they beat unit weights on that group's incidents
// (leave-one-group-out HitRate@p summed over the groups' labelled
// incidents); otherwise it returns unit weights: learned weights are used
// only where they beat the untrained ones on data they were not fitted on.
// With fewer than two groups holding labelled incidents nothing can be
// held back and the unit weights are returned.
func FitExplainWeightsChecked(groups [][]IncidentChannels, channels []ExplainChannel, grid []float64, p float64) (ExplainWeights, ExplainCheck, error) {
	unit := ExplainWeights{Channels: channels}.Unit()
	labelled := func(g []IncidentChannels) []IncidentChannels {
		return slices.DeleteFunc(slices.Clone(g), func(ic IncidentChannels) bool { return len(ic.Truth) == 0 })
	}
	var check ExplainCheck
	var all []IncidentChannels
	for k, g := range groups {
		held := labelled(g)
		all = append(all, held...)
		if len(held) == 0 {
			continue
		}
		var rest []IncidentChannels
		for i, o := range groups {
			if i != k {
				rest = append(rest, labelled(o)...)
			}
		}
		if len(rest) == 0 {
			continue
		}
		ew, _, err := FitExplainWeights(rest, channels, grid, p)
		if err != nil {
			return ExplainWeights{}, ExplainCheck{}, err
		}
		for _, ic := range held {
			check.Fitted += HitRate(ew.Rank(ic), ic.Truth, p)
			check.Unit += HitRate(unit.Rank(ic), ic.Truth, p)
		}
		check.Groups++
		check.Incidents += len(held)
	}
	if check.Groups < 2 {
		if _, _, err := FitExplainWeights(nil, channels, grid, p); err != nil {
			return ExplainWeights{}, ExplainCheck{}, err
		}
		return unit, check, nil
	}
	check.Fitted /= float64(check.Incidents)
	check.Unit /= float64(check.Incidents)
	if check.Fitted <= check.Unit {
		return unit, check, nil
	}
	check.Kept = true
	ew, _, err := FitExplainWeights(all, channels, grid, p)
	return ew, check, err
}
