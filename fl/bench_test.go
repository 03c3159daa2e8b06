package fl

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

const (
	benchRows = 1_000_000
	benchCols = 64
)

// benchMatrix is 10⁶ standardized rows of 64 features (512 MB) with 5%
// incidents that depend on the first features.
func benchMatrix(b *testing.B) *Matrix {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, benchCols)
	for j := range names {
		names[j] = fmt.Sprintf("m%02d#level", j)
	}
	m := &Matrix{Features: names, Rows: benchRows, Cols: benchCols, X: make([]float64, benchRows*benchCols), Y: make([]float64, benchRows), Present: make([]bool, benchCols)}
	for j := range m.Present {
		m.Present[j] = true
	}
	for i := range benchRows {
		row := m.X[i*benchCols : (i+1)*benchCols]
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		if row[0]+row[1]+rng.NormFloat64() > 2.8 {
			m.Y[i] = 1
		}
	}
	return m
}

// BenchmarkTrainEpoch is one epoch of local training over 10⁶ x 64, with
// the default batch size (64) and larger ones.
func BenchmarkTrainEpoch(b *testing.B) {
	x := benchMatrix(b)
	init, _ := NewModel(x.Features)
	for _, bs := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", bs), func(b *testing.B) {
			cfg := DefaultTrainConfig()
			cfg.BatchSize = bs
			b.SetBytes(int64(len(x.X)) * 8)
			for range b.N {
				if _, err := Train(x, init, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkDataPass is the memory-bandwidth reference for the epoch: one
// sequential read of the same 512 MB, summing it. No epoch can beat it.
func BenchmarkDataPass(b *testing.B) {
	x := benchMatrix(b)
	b.SetBytes(int64(len(x.X)) * 8)
	b.ResetTimer()
	var sink float64
	for range b.N {
		var s0, s1, s2, s3 float64
		d := x.X
		for i := 0; i+3 < len(d); i += 4 {
			s0 += d[i]
			s1 += d[i+1]
			s2 += d[i+2]
			s3 += d[i+3]
		}
		sink += s0 + s1 + s2 + s3
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	if sink == 0.5 {
		b.Log(sink)
	}
}

// BenchmarkAggregate is one round of each strategy over 20 updates of
// 1,000 features.
func BenchmarkAggregate(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := make([]string, 1000)
	for j := range names {
		names[j] = fmt.Sprintf("m%04d#level", j)
	}
	global, _ := NewModel(names)
	var updates []Update
	for i := range 20 {
		w := make([]float64, len(names))
		for j := range w {
			w[j] = rng.NormFloat64()
		}
		updates = append(updates, Update{Org: fmt.Sprintf("org-%02d", i), Round: 1, Features: names, Weights: w, Samples: 1000})
	}
	for _, s := range Strategies() {
		b.Run(s, func(b *testing.B) {
			a, _ := NewAggregator(s, AggregatorOptions{})
			for range b.N {
				if _, err := a.Aggregate(global, 1, updates); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
