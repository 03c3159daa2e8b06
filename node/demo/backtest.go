package demo

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/daemon"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/workflow"
)

// Backtest is one token's alerts replayed over its proposer's history.
type Backtest struct {
	Service string          `json:"service"`
	Org     string          `json:"org"`
	Report  backtest.Report `json:"report"`
	// ErrorRatio is the SLI's 1h error ratio over the history, for the
	// chart; Threshold the fastest page's firing level.
	ErrorRatio []backtest.Point  `json:"-"`
	Threshold  float64           `json:"-"`
	Incidents  []source.Incident `json:"-"`
}

// backtestToken evaluates a token's alerts with Prometheus's engine over
// the proposing organization's own simulated series.
func backtestToken(ctx context.Context, opt Options, tok nft.Token, now time.Time) (Backtest, error) {
	d := tok.Definition
	org := d.Provenance.Proposer
	idx := 0
	for i, o := range opt.Orgs {
		if o == org {
			idx = i
		}
	}
	cfg := nodeConfig(opt, org, idx)
	src, err := daemon.OpenSource(ctx, cfg, now)
	if err != nil {
		return Backtest{}, err
	}
	history, step := config.Duration(opt.History), config.Duration(opt.Step)
	replay, err := workflow.SourceBacktest{Source: src, History: history, Step: step, Now: func() time.Time { return now }}.Run(ctx, d)
	if err != nil {
		return Backtest{}, err
	}
	rep, mem, incidents, r := replay.Report, replay.Memory, replay.Incidents, replay.Range
	bt := Backtest{Service: d.SLI.Service, Org: org, Report: rep, Incidents: incidents}
	bt.ErrorRatio, err = mem.RangeQuery(ctx, errorRatioExpr(d.SLI, "1h"), r.Start.Add(time.Hour), r.End, step)
	if err != nil {
		return Backtest{}, err
	}
	for _, w := range d.SLO.AlertPolicy {
		if w.Severity == nft.SeverityPage {
			bt.Threshold = max(bt.Threshold, w.BurnRate*d.SLO.ErrorBudget)
		}
	}
	return bt, nil
}

// errorRatioExpr is the SLI's error ratio at one window.
func errorRatioExpr(s nft.SLI, window string) string {
	at := func(q string) string { return strings.ReplaceAll(q, nft.WindowPlaceholder, window) }
	if s.ErrorRatioQuery != "" {
		return "max(" + at(s.ErrorRatioQuery) + ")"
	}
	return fmt.Sprintf("max(1 - ((%s) / (%s)))", at(s.GoodQuery), at(s.TotalQuery))
}

// backtestSVG draws the SLI's 1h error ratio over the history against the
// page threshold, with the known incidents shaded.
func backtestSVG(bt Backtest) []byte {
	const w, h, left, top, bottom = 760, 220, 60, 28, 30
	pts := bt.ErrorRatio
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="4" y="16" font-weight="bold">%s: 1h error ratio on %s's history (red: incidents, dashed: page threshold)</text>`+"\n", bt.Service, bt.Org)
	if len(pts) < 2 {
		b.WriteString("</svg>\n")
		return []byte(b.String())
	}
	t0, t1 := pts[0].T, pts[len(pts)-1].T
	ymax := bt.Threshold * 1.5
	for _, p := range pts {
		if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
			ymax = max(ymax, p.V)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	plotW, plotH := float64(w-left-10), float64(h-top-bottom)
	x := func(t time.Time) float64 { return float64(left) + plotW*t.Sub(t0).Seconds()/t1.Sub(t0).Seconds() }
	y := func(v float64) float64 { return float64(top) + plotH*(1-v/ymax) }
	for _, in := range bt.Incidents {
		if in.End.Before(t0) || in.Start.After(t1) {
			continue
		}
		s, e := x(maxTime(in.Start, t0)), x(minTime(in.End, t1))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%.0f" fill="#e45756" opacity="0.25"/>`+"\n", s, top, max(e-s, 1), plotH)
	}
	var path strings.Builder
	pen := "M"
	for _, p := range pts {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			pen = "M"
			continue
		}
		fmt.Fprintf(&path, "%s%.1f,%.1f ", pen, x(p.T), y(p.V))
		pen = "L"
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#4c78a8" stroke-width="1.2"/>`+"\n", path.String())
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`+"\n", left, w-10, y(bt.Threshold), y(bt.Threshold))
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.3g</text>`+"\n", left-4, y(bt.Threshold)+4, bt.Threshold)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.3g</text>`+"\n", left-4, top+4, ymax)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
		left, h-10, t0.Format("Jan 2 15:04"), w-10, h-10, t1.Format("Jan 2 15:04"))
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
