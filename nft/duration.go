package nft

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// ParseDuration parses a Prometheus duration with prometheus/common/model,
// the grammar of Prometheus, promtool and Sloth: <integer><unit> terms in
// decreasing unit order, units y (365d), w, d, h, m, s and ms, e.g. "30d",
// "4w", "1h30m". It refuses zero: an SLO period or alert window must be
// positive.
func ParseDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q: must be positive", s)
	}
	return time.Duration(d), nil
}

// FormatDuration prints d as Prometheus does (model.Duration.String), so
// rule names carry the windows Sloth and Prometheus print: 28 days is "4w",
// 7 days "1w", 30 days "30d" (weeks and years only when exact).
//
// Definitions minted before this grammar was adopted may spell a period
// "28d" or "7d"; both still parse to the same duration and their tokens
// still validate (the token ID hashes the string as written). Only a new
// rendering of such a definition names its period rule "4w" or "1w".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return model.Duration(d).String()
}
