package nft_test

import (
	"testing"
	"time"

	"github.com/srellama/srellama/nft"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * day},
		{"28d", 28 * day},
		{"4w", 28 * day},
		{"1y", 365 * day},
		{"1h30m", 90 * time.Minute},
		{"5m", 5 * time.Minute},
		{"1d12h", 36 * time.Hour},
		{"1500ms", 1500 * time.Millisecond},
		{"2m30s", 150 * time.Second},
	}
	for _, tt := range tests {
		got, err := nft.ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationRefuses(t *testing.T) {
	for _, in := range []string{"", "30", "d", "0d", "1x", "30m1h", "1h1h", "-1d", "1.5h", "99999999999999999999d", "300000y"} {
		if got, err := nft.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := map[time.Duration]string{
		30 * day: "30d", 28 * day: "4w", 7 * day: "1w", 14 * day: "2w", 90 * day: "90d", 365 * day: "1y",
		36 * time.Hour:  "1d12h",
		5 * time.Minute: "5m", 90 * time.Minute: "1h30m",
	}
	for d, want := range tests {
		if got := nft.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := nft.ParseDuration(want); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
