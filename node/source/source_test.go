package source

import (
	"testing"
	"time"
)

func TestSelectorID(t *testing.T) {
	cases := []struct {
		metric string
		labels map[string]string
		want   string
	}{
		{"up", nil, "up"},
		{"up", map[string]string{"service": "amf", "job": "amf"}, `up{job="amf",service="amf"}`},
		{"x_bucket", map[string]string{"le": "+Inf"}, `x_bucket{le="+Inf"}`},
		{"x", map[string]string{"path": `a"b\c`}, `x{path="a\"b\\c"}`},
	}
	for _, tc := range cases {
		if got := SelectorID(tc.metric, tc.labels); got != tc.want {
			t.Errorf("SelectorID(%q, %v) = %s, want %s", tc.metric, tc.labels, got, tc.want)
		}
	}
}

func TestRangeValidateAndPoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		r      Range
		ok     bool
		points int
	}{
		{"hour at minute", Range{Start: t0, End: t0.Add(time.Hour), Step: time.Minute}, true, 61},
		{"end off grid", Range{Start: t0, End: t0.Add(90 * time.Second), Step: time.Minute}, true, 2},
		{"empty", Range{Start: t0, End: t0, Step: time.Minute}, false, 0},
		{"inverted", Range{Start: t0, End: t0.Add(-time.Hour), Step: time.Minute}, false, 0},
		{"no step", Range{Start: t0, End: t0.Add(time.Hour)}, false, 0},
		{"no start", Range{End: t0, Step: time.Minute}, false, 0},
	}
	for _, tc := range cases {
		err := tc.r.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
		if tc.ok && tc.r.Points() != tc.points {
			t.Errorf("%s: Points() = %d, want %d", tc.name, tc.r.Points(), tc.points)
		}
	}
}
