package nft

import (
	"fmt"
	"math"
	"time"
)

// WorkbookWindow is one row of the Google SRE workbook's multi-window,
// multi-burn-rate alerting table, expressed for a 30-day period. Windows for
// other periods are scaled from it.
type WorkbookWindow struct {
	Name           string
	Severity       Severity
	LongWindow     time.Duration
	ShortWindow    time.Duration
	BudgetConsumed float64
}

// WorkbookWindows are the SRE workbook's parameters: page on 2% of the budget
// spent in 1h (checked over 5m too) or 5% in 6h (30m); ticket on 10% in 1d
// (2h) or 10% in 3d (6h).
var workbookWindows = [...]WorkbookWindow{
	{"page-fast", SeverityPage, time.Hour, 5 * time.Minute, 0.02},
	{"page-slow", SeverityPage, 6 * time.Hour, 30 * time.Minute, 0.05},
	{"ticket-fast", SeverityTicket, 24 * time.Hour, 2 * time.Hour, 0.10},
	{"ticket-slow", SeverityTicket, 72 * time.Hour, 6 * time.Hour, 0.10},
}

const referencePeriod = 30 * 24 * time.Hour

// DefaultAlertPolicy returns the workbook policy for a period. The windows
// are those of the workbook (they describe how fast a human must react and
// do not grow with the period); the burn rates follow from the period, so a
// 7d SLO pages at a burn rate of 0.02*168h/1h = 3.36 instead of 14.4.
func DefaultAlertPolicy(period time.Duration) ([]AlertWindow, error) {
	if period < 6*time.Hour {
		return nil, fmt.Errorf("period %s is shorter than the longest paging window (6h)", FormatDuration(period))
	}
	out := make([]AlertWindow, 0, len(workbookWindows))
	for _, w := range workbookWindows {
		long := w.LongWindow
		if long > period {
			// A window longer than the period makes no sense; the slow
			// ticket of a short SLO watches the whole period instead.
			long = period
		}
		consumed := w.BudgetConsumed
		if BurnRate(consumed, period, long) < 1 {
			// On a short period the workbook's ticket budget would give a
			// burn rate below 1, which fires while the SLO is on track.
			// Alert at the sustainable rate instead.
			consumed = roundDecimals(float64(long)/float64(period), 12)
		}
		out = append(out, AlertWindow{
			Name:           w.Name,
			Severity:       w.Severity,
			LongWindow:     FormatDuration(long),
			ShortWindow:    FormatDuration(w.ShortWindow),
			BudgetConsumed: consumed,
			BurnRate:       BurnRate(consumed, period, long),
		})
	}
	return out, nil
}

// AlertPolicyFor returns the workbook policy for an objective and period,
// without the window pairs that could never fire: a pair whose threshold,
// burn rate x error budget, is 1 or more would need more than every event to
// fail. A 90% objective over 30 days thus keeps the slow page and the
// tickets but not the 1h page (14.4 x 0.1 > 1).
func AlertPolicyFor(period time.Duration, objective float64) ([]AlertWindow, error) {
	all, err := DefaultAlertPolicy(period)
	if err != nil {
		return nil, err
	}
	budget := ErrorBudget(objective)
	var out []AlertWindow
	for _, w := range all {
		if w.BurnRate*budget < 1 {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("objective %v over %s leaves no alert that could fire", objective, FormatDuration(period))
	}
	return out, nil
}

// BurnRate is the rate of budget consumption at which `consumed` of the
// budget is spent within `window`: consumed * period / window.
func BurnRate(consumed float64, period, window time.Duration) float64 {
	return roundDecimals(consumed*float64(period)/float64(window), 9)
}

// Protocol is the version of how a definition becomes bytes members
// compare: the rendering of its rules (llm/render), the error budget and
// burn-rate arithmetic, the canonical encoding. Changing any of them bumps
// it, so that tokens say which rendering they carry.
const Protocol = 1

// ErrorBudget is the fraction of events allowed to fail: 1 - objective,
// rounded to 12 decimals so that 1-0.999 is 0.001 and not 0.0010000000000000009.
func ErrorBudget(objective float64) float64 {
	return roundDecimals(1-objective, 12)
}

// roundDecimals rounds x to n decimals. Dividing the rounded integer by an
// exact power of ten yields the double nearest to the decimal value, so the
// result prints as the short decimal a human expects.
func roundDecimals(x float64, n int) float64 {
	scale := math.Pow10(n)
	return math.Round(x*scale) / scale
}
