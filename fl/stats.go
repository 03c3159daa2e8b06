package fl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Stats are one site's standardization statistics: per feature the count of
// finite observations, their sum and their sum of squares. Sites exchange
// Stats in a first round instead of rows; MergeStats turns them into the
// global mean and standard deviation.
type Stats struct {
	Features []string  `json:"features"`
	Count    []float64 `json:"count"`
	Sum      []float64 `json:"sum"`
	SumSq    []float64 `json:"sum_sq"`
}

// ComputeStats summarizes the finite values of each column of d.
func ComputeStats(d *Dataset) Stats {
	s := Stats{
		Features: slices.Clone(d.Features),
		Count:    make([]float64, len(d.Features)),
		Sum:      make([]float64, len(d.Features)),
		SumSq:    make([]float64, len(d.Features)),
	}
	for j, col := range d.Columns {
		for _, v := range col {
			if isFinite(v) {
				s.Count[j]++
				s.Sum[j] += v
				s.SumSq[j] = mulAdd(v, v, s.SumSq[j])
			}
		}
	}
	return s
}

// Validate checks shapes, ordering and finiteness.
func (s Stats) Validate() error {
	n := len(s.Features)
	if len(s.Count) != n || len(s.Sum) != n || len(s.SumSq) != n {
		return fmt.Errorf("stats: %d features but %d counts, %d sums, %d sums of squares", n, len(s.Count), len(s.Sum), len(s.SumSq))
	}
	if !sortedUnique(s.Features) {
		return errors.New("stats: features not strictly sorted")
	}
	for j := range n {
		if !isFinite(s.Sum[j]) || !isFinite(s.SumSq[j]) || !isFinite(s.Count[j]) || s.Count[j] < 0 || s.SumSq[j] < 0 {
			return fmt.Errorf("stats: invalid values for %s", s.Features[j])
		}
	}
	return nil
}

// encode is the canonical byte form used to order Stats before merging.
func (s Stats) encode() []byte {
	var b []byte
	for j, f := range s.Features {
		b = appendString(b, f)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Count[j]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Sum[j]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.SumSq[j]))
	}
	return b
}

// Size is the number of bytes a site sends to share s.
func (s Stats) Size() int { return len(s.encode()) }

// MergeStats sums the statistics of all sites over the union of their
// features. Floating-point addition is not associative, so the parts are
// first sorted by their canonical encoding: every node merging the same set
// gets the same bits whatever order the parts arrived in.
func MergeStats(parts ...Stats) (Stats, error) {
	if len(parts) == 0 {
		return Stats{}, errors.New("merge stats: no parts")
	}
	type keyed struct {
		key []byte
		s   Stats
	}
	ordered := make([]keyed, len(parts))
	var names []string
	for i, p := range parts {
		if err := p.Validate(); err != nil {
			return Stats{}, fmt.Errorf("merge stats: part %d: %w", i, err)
		}
		ordered[i] = keyed{p.encode(), p}
		names = append(names, p.Features...)
	}
	slices.SortFunc(ordered, func(a, b keyed) int { return bytes.Compare(a.key, b.key) })
	slices.Sort(names)
	names = slices.Compact(names)
	out := Stats{
		Features: names,
		Count:    make([]float64, len(names)),
		Sum:      make([]float64, len(names)),
		SumSq:    make([]float64, len(names)),
	}
	for _, k := range ordered {
		for j, f := range k.s.Features {
			g, _ := slices.BinarySearch(names, f)
			out.Count[g] += k.s.Count[j]
			out.Sum[g] += k.s.Sum[j]
			out.SumSq[g] += k.s.SumSq[j]
		}
	}
	return out, nil
}

// Standardizer maps raw feature values to z-scores with federated means and
// standard deviations. Constant features get scale 1 and so contribute 0.
type Standardizer struct {
	Features []string  `json:"features"`
	Mean     []float64 `json:"mean"`
	Std      []float64 `json:"std"`
	// Constant lists the features with zero variance (or a single
	// observation) across all sites; they carry no signal.
	Constant []string `json:"constant,omitempty"`
}

// NewStandardizer derives means and deviations from merged stats. A feature
// no site observed is an error: it would have no defined scale.
func NewStandardizer(s Stats) (*Standardizer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	st := &Standardizer{
		Features: slices.Clone(s.Features),
		Mean:     make([]float64, len(s.Features)),
		Std:      make([]float64, len(s.Features)),
	}
	for j, f := range s.Features {
		n := s.Count[j]
		if n == 0 {
			return nil, fmt.Errorf("standardizer: feature %s has no finite observation at any site", f)
		}
		mean := s.Sum[j] / n
		variance := mulSub(s.SumSq[j]/n, mean, mean)
		// Relative tolerance: sums of squares lose digits when the mean is
		// large compared with the spread.
		if n < 2 || variance <= 1e-12*math.Max(1, mean*mean) {
			st.Std[j] = 1
			st.Constant = append(st.Constant, f)
		} else {
			st.Std[j] = math.Sqrt(variance)
		}
		st.Mean[j] = mean
	}
	return st, nil
}
