package cli_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// The README's measured example of the two period SLIs: udm's SLO over the
// 7 days of Org1MSP's simulated history (seed 1) that 'slo generate' reads,
// evaluated by Prometheus's engine: the default ratio of the period's sums
// against Sloth's mean of 5-minute ratios (period_sli: sloth).
func TestPeriodSLIMeasuredExample(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	r := run(ctx, t, cli.Env{Now: func() time.Time { return end }}, "slo", "generate", "--org", "Org1MSP", "--service", "udm", "--history", "7d", "--output", "json")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	var d nft.Definition
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	const history = 7 * 24 * time.Hour
	cfg, err := sim.Plan("Org1MSP", 1, end.Add(-history), end, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := s.ListSeries(ctx, "udm")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, info := range infos {
		for _, m := range d.SLI.Metrics {
			if strings.HasPrefix(info.Metric, m.Name) {
				ids = append(ids, info.ID)
			}
		}
	}
	series, err := s.Fetch(ctx, ids, source.Range{Start: end.Add(-history), End: end, Step: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mem []backtest.Series
	for _, s := range series {
		l := map[string]string{"__name__": s.Info.Metric}
		for k, v := range s.Info.Labels {
			l[k] = v
		}
		mem = append(mem, backtest.Series{Labels: l, Start: s.Start, Step: s.Step, Values: s.Values})
	}
	m, err := backtest.NewMemory(mem)
	if err != nil {
		t.Fatal(err)
	}
	at := func(expr string) float64 {
		pts, err := m.RangeQuery(ctx, expr, end, end, time.Minute)
		if err != nil || len(pts) != 1 {
			t.Fatalf("%s: %v, %d points", expr, err, len(pts))
		}
		return pts[0].V
	}
	events := at(render.ErrorRatioExpr(d.SLI, "1w"))
	sloth := at("avg_over_time((" + render.ErrorRatioExpr(d.SLI, "5m") + ")[1w:5m])")
	budget := nft.ErrorBudget(d.SLO.Objective)
	t.Logf("udm %s, objective %v: period error ratio %.3f%% (ratio of sums) vs %.3f%% (mean of 5m ratios); budget left %.0f%% vs %.0f%%",
		d.Name, d.SLO.Objective, 100*events, 100*sloth, 100*(1-events/budget), 100*(1-sloth/budget))
	// The README quotes these figures.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"ratio of sums", events, readmeEvents}, {"mean of 5m ratios", sloth, readmeSloth}} {
		if math.Abs(100*c.got-c.want) > 0.0005 {
			t.Errorf("%s: %.4f%%, README says %.4f%%", c.name, 100*c.got, c.want)
		}
	}
}

// Percentages quoted in README.md, "Period SLI".
const (
	readmeEvents = 0.1585
	readmeSloth  = 0.2678
)
