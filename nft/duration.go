package nft

import (
	"fmt"
	"time"
)

// ParseDuration parses a Prometheus-style duration: one or more
// <integer><unit> terms in decreasing unit order, units y (365d), w, d, h, m,
// s and ms, e.g. "30d", "1h30m", "5m". It refuses zero, negative and
// overflowing durations: an SLO period or alert window must be positive.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	units := []struct {
		name string
		size time.Duration
	}{
		{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
		{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond},
	}
	var total time.Duration
	next := 0 // index of the smallest unit not yet used: units must decrease
	rest := s
	for rest != "" {
		n, digits := leadingInt(rest)
		if digits == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		if n < 0 {
			return 0, fmt.Errorf("duration %q: number too large", s)
		}
		rest = rest[digits:]
		unit := -1
		for i := next; i < len(units); i++ {
			u := units[i].name
			if len(rest) >= len(u) && rest[:len(u)] == u && !(u == "m" && len(rest) > 1 && rest[1] == 's') {
				unit = i
				break
			}
		}
		if unit < 0 {
			return 0, fmt.Errorf("duration %q: unknown or out-of-order unit at %q (use y, w, d, h, m, s, ms in that order)", s, rest)
		}
		rest = rest[len(units[unit].name):]
		next = unit + 1
		step := units[unit].size
		if n > int64((1<<63-1)/step) {
			return 0, fmt.Errorf("duration %q: too large", s)
		}
		add := time.Duration(n) * step
		if total > (1<<63-1)-add {
			return 0, fmt.Errorf("duration %q: too large", s)
		}
		total += add
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q: must be positive", s)
	}
	return total, nil
}

func leadingInt(s string) (n int64, digits int) {
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		if n > (1<<63-1)/10 {
			return -1, digits + 1
		}
		n = n*10 + int64(s[digits]-'0')
		digits++
	}
	return n, digits
}

// FormatDuration prints d in days, hours, minutes, seconds and milliseconds,
// the inverse of ParseDuration for whole milliseconds (720h prints as "30d").
// It never prints weeks: rule names carry windows and periods, and "28d" is
// what operators and Sloth dashboards expect, not "4w".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	units := []struct {
		name string
		size time.Duration
	}{
		{"d", 24 * time.Hour}, {"h", time.Hour},
		{"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond},
	}
	out := ""
	for _, u := range units {
		if d >= u.size {
			out += fmt.Sprintf("%d%s", d/u.size, u.name)
			d %= u.size
		}
	}
	return out
}
