package fl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrSingleClass is wrapped when a dataset has no incidents, or nothing but
// incidents: a classifier cannot learn from one class.
var ErrSingleClass = errors.New("dataset has a single class")

// Dataset is a labelled feature table of one site: column-major raw feature
// values (NaN for missing) and a 0/1 label per row.
type Dataset struct {
	Features []string
	Columns  [][]float64
	Labels   []float64
	Quality  Quality
}

// NewDataset labels rows [lo, hi) of a feature table.
func NewDataset(ft *FeatureTable, labels []float64, lo, hi int) (*Dataset, error) {
	if len(labels) != ft.Rows {
		return nil, fmt.Errorf("dataset: %d labels for %d rows", len(labels), ft.Rows)
	}
	if lo < 0 || hi > ft.Rows || hi <= lo {
		return nil, fmt.Errorf("dataset: row range [%d, %d) outside [0, %d) or empty", lo, hi, ft.Rows)
	}
	d := &Dataset{Features: ft.Features, Quality: ft.Quality, Labels: labels[lo:hi]}
	for _, l := range d.Labels {
		if l != 0 && l != 1 {
			return nil, fmt.Errorf("dataset: label %v is not 0 or 1", l)
		}
	}
	for _, c := range ft.Columns {
		d.Columns = append(d.Columns, c[lo:hi])
	}
	return d, nil
}

// Rows is the number of samples.
func (d *Dataset) Rows() int { return len(d.Labels) }

// Positives counts incident rows.
func (d *Dataset) Positives() int {
	n := 0
	for _, l := range d.Labels {
		if l == 1 {
			n++
		}
	}
	return n
}

// CheckClasses returns an error wrapping ErrSingleClass unless both classes
// occur.
func (d *Dataset) CheckClasses() error {
	p := d.Positives()
	if p == 0 || p == d.Rows() {
		return fmt.Errorf("%w: %d rows, %d incident rows", ErrSingleClass, d.Rows(), p)
	}
	return nil
}

// Matrix is a dataset standardized into the global feature space: row-major
// X (NaN replaced by 0, the global mean), labels, and which global features
// the site actually has.
type Matrix struct {
	Features []string
	Rows     int
	Cols     int
	X        []float64
	Y        []float64
	Present  []bool
	// Imputed counts missing values replaced by the global mean.
	Imputed int
}

// Apply standardizes d into the standardizer's feature space. Every feature
// of d must be known to the standardizer (otherwise the feature sets were
// not merged and the sites would not align).
func (st *Standardizer) Apply(d *Dataset) (*Matrix, error) {
	cols := len(st.Features)
	m := &Matrix{Features: st.Features, Rows: d.Rows(), Cols: cols, Y: d.Labels, Present: make([]bool, cols)}
	m.X = make([]float64, m.Rows*cols)
	for j, f := range d.Features {
		g, ok := slices.BinarySearch(st.Features, f)
		if !ok {
			return nil, fmt.Errorf("standardize: feature %s is not in the federated feature set (mismatched feature sets)", f)
		}
		m.Present[g] = true
		mean, sd := st.Mean[g], st.Std[g]
		for i, v := range d.Columns[j] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				m.Imputed++
				continue // stays 0, the global mean
			}
			m.X[i*cols+g] = (v - mean) / sd
		}
	}
	return m, nil
}

// ShuffleRows returns a copy of m with its rows in a random order fixed by
// seed. Training visits contiguous batches, so time-ordered data should be
// shuffled once before the first epoch.
func (m *Matrix) ShuffleRows(seed uint64) *Matrix {
	out := *m
	out.X = make([]float64, len(m.X))
	out.Y = make([]float64, len(m.Y))
	perm := rand.New(rand.NewPCG(seed, 0x5407)).Perm(m.Rows)
	for i, src := range perm {
		copy(out.X[i*m.Cols:(i+1)*m.Cols], m.X[src*m.Cols:(src+1)*m.Cols])
		out.Y[i] = m.Y[src]
	}
	return &out
}

// Row returns the standardized features of sample i.
func (m *Matrix) Row(i int) []float64 { return m.X[i*m.Cols : (i+1)*m.Cols] }

// Concat stacks matrices of the same feature space (the pooled data of a
// centralized baseline). A feature counts as present if any part has it.
func Concat(parts ...*Matrix) (*Matrix, error) {
	if len(parts) == 0 {
		return nil, errors.New("concat: no parts")
	}
	out := &Matrix{Features: parts[0].Features, Cols: parts[0].Cols, Present: make([]bool, parts[0].Cols)}
	for _, p := range parts {
		if !slices.Equal(p.Features, out.Features) {
			return nil, errors.New("concat: matrices have different feature spaces")
		}
		out.Rows += p.Rows
		out.X = append(out.X, p.X...)
		out.Y = append(out.Y, p.Y...)
		out.Imputed += p.Imputed
		for j, ok := range p.Present {
			out.Present[j] = out.Present[j] || ok
		}
	}
	return out, nil
}

// ConcatDatasets stacks datasets with identical feature lists (the
// machines of one site).
func ConcatDatasets(parts ...*Dataset) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, errors.New("concat datasets: no parts")
	}
	out := &Dataset{Features: parts[0].Features, Columns: make([][]float64, len(parts[0].Features))}
	for i, p := range parts {
		if !slices.Equal(p.Features, out.Features) {
			return nil, fmt.Errorf("concat datasets: part %d has different features (mismatched feature sets)", i)
		}
		for j := range out.Columns {
			out.Columns[j] = append(out.Columns[j], p.Columns[j]...)
		}
		out.Labels = append(out.Labels, p.Labels...)
		out.Quality = mergeQuality(out.Quality, p.Quality)
	}
	return out, nil
}

func mergeQuality(a, b Quality) Quality {
	add := func(x, y map[string]int) map[string]int {
		if len(x)+len(y) == 0 {
			return nil
		}
		out := map[string]int{}
		for k, v := range x {
			out[k] += v
		}
		for k, v := range y {
			out[k] += v
		}
		return out
	}
	union := func(x, y []string) []string {
		out := slices.Concat(x, y)
		slices.Sort(out)
		return slices.Compact(out)
	}
	return Quality{
		Missing:       add(a.Missing, b.Missing),
		NonFinite:     add(a.NonFinite, b.NonFinite),
		CounterResets: add(a.CounterResets, b.CounterResets),
		Constant:      union(a.Constant, b.Constant),
		Dropped:       union(a.Dropped, b.Dropped),
	}
}

// StackDatasets stacks datasets over the union of their features; a part
// lacking a feature contributes missing values (NaN, counted in
// Quality.Missing under the feature's name), which standardization later
// imputes with the global mean. Use it within one site, e.g. for pods
// whose exporters publish slightly different metric sets; across sites,
// absent features are masked instead.
func StackDatasets(parts ...*Dataset) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, errors.New("stack datasets: no parts")
	}
	var names []string
	for _, p := range parts {
		names = append(names, p.Features...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := &Dataset{Features: names, Columns: make([][]float64, len(names))}
	for _, p := range parts {
		n := p.Rows()
		for j, f := range names {
			if k, ok := slices.BinarySearch(p.Features, f); ok {
				out.Columns[j] = append(out.Columns[j], p.Columns[k]...)
				continue
			}
			for range n {
				out.Columns[j] = append(out.Columns[j], math.NaN())
			}
			if out.Quality.Missing == nil {
				out.Quality.Missing = map[string]int{}
			}
			out.Quality.Missing[f] += n
		}
		out.Labels = append(out.Labels, p.Labels...)
		out.Quality = mergeQuality(out.Quality, p.Quality)
	}
	return out, nil
}

// PartitionRows deals the rows of d at random into parts datasets of
// near-equal size (an IID split, the usual control in federated-learning
// experiments). The partition depends only on seed.
func PartitionRows(d *Dataset, parts int, seed uint64) ([]*Dataset, error) {
	if parts < 1 || parts > d.Rows() {
		return nil, fmt.Errorf("partition: cannot split %d rows into %d parts", d.Rows(), parts)
	}
	perm := rand.New(rand.NewPCG(seed, 0xfeed)).Perm(d.Rows())
	out := make([]*Dataset, parts)
	for p := range out {
		out[p] = &Dataset{Features: d.Features, Columns: make([][]float64, len(d.Features)), Quality: d.Quality}
	}
	for k, i := range perm {
		p := out[k%parts]
		for j, c := range d.Columns {
			p.Columns[j] = append(p.Columns[j], c[i])
		}
		p.Labels = append(p.Labels, d.Labels[i])
	}
	return out, nil
}
