package fl

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// syntheticSite simulates one organization: metrics m0..m(n-1), of which
// m0, m1 and m2 shift during incidents (m2 drops, the others rise), the
// rest are noise. drop removes metrics the site does not export.
func syntheticSite(t testing.TB, name string, seed uint64, rows, metrics int, drop ...int) Site {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	var incidents []Interval
	for start := 150 + rng.IntN(100); start+40 < rows; start += 150 + rng.IntN(200) {
		incidents = append(incidents, Interval{start, start + 10 + rng.IntN(30)})
	}
	labels, err := LabelsFromIntervals(rows, incidents, 0)
	if err != nil {
		t.Fatal(err)
	}
	var series []MetricSeries
	for m := range metrics {
		if containsInt(drop, m) {
			continue
		}
		v := make([]float64, rows)
		level := 10 + 5*rng.Float64()
		for i := range v {
			v[i] = level + rng.NormFloat64()
			if labels[i] == 1 {
				switch m {
				case 0, 1:
					v[i] += 4
				case 2:
					v[i] -= 4
				}
			}
		}
		series = append(series, MetricSeries{Name: fmt.Sprintf("m%d", m), Values: v})
	}
	spec := FeatureSpec{Transforms: []Transform{Level, ZScore, AbsZScore}, BaselineWindow: 30}
	ft, err := BuildFeatures(series, spec)
	if err != nil {
		t.Fatal(err)
	}
	train, err := NewDataset(ft, labels, 0, rows/2)
	if err != nil {
		t.Fatal(err)
	}
	test, err := NewDataset(ft, labels, rows/2, rows)
	if err != nil {
		t.Fatal(err)
	}
	return Site{Name: name, Train: train, Test: test}
}

func containsInt(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func syntheticSites(t testing.TB, n int) []Site {
	var sites []Site
	for i := range n {
		var drop []int
		if i == 1 {
			drop = []int{5} // one site lacks a metric
		}
		sites = append(sites, syntheticSite(t, fmt.Sprintf("org-%d", i), uint64(i+1), 3000, 8, drop...))
	}
	return sites
}
