package backtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// history is days of per-minute counters at 60 requests a minute, with
// errRatio of them failing during [from, to).
func history(days int, from, to time.Time, errRatio float64) []backtest.Series {
	n := days*1440 + 1
	req, succ := make([]float64, n), make([]float64, n)
	for i := 1; i < n; i++ {
		t := t0.Add(time.Duration(i) * time.Minute)
		bad := 0.0
		if !t.Before(from) && t.Before(to) {
			bad = 60 * errRatio
		}
		req[i] = req[i-1] + 60
		succ[i] = succ[i-1] + 60 - bad
	}
	lbl := func(name string) map[string]string { return map[string]string{"__name__": name, "service": "amf"} }
	return []backtest.Series{
		{Labels: lbl("fivegs_amffunction_rm_reginitreq"), Start: t0, Step: time.Minute, Values: req},
		{Labels: lbl("fivegs_amffunction_rm_reginitsucc"), Start: t0, Step: time.Minute, Values: succ},
	}
}

func definition(t *testing.T) nft.Definition {
	t.Helper()
	d, err := slo.Build(slo.Spec{
		Name: "reginit-success", Description: "x", Service: "amf", Kind: nft.KindRatio,
		GoodQuery:  `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
		TotalQuery: `sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`,
		Objective:  0.999, Period: "30d",
	}, slo.Draft{Metrics: []nft.Metric{{Name: "fivegs_amffunction_rm_reginitsucc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOutageIsPagedWithTheExpectedDelay(t *testing.T) {
	from := t0.Add(3*24*time.Hour + 2*time.Hour)
	to := from.Add(30 * time.Minute)
	mem, err := backtest.NewMemory(history(4, from, to, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backtest.Run(context.Background(), mem, definition(t), backtest.Options{
		Start: t0.Add(3 * 24 * time.Hour), End: t0.Add(4 * 24 * time.Hour), Step: time.Minute,
		Incidents: []backtest.Incident{{Name: "amf outage", Start: from, End: to}},
	})
	if err != nil {
		t.Fatal(err)
	}
	inc := rep.Incidents[0]
	// At 10% errors the 1h window crosses 14.4 x 0.1% after 0.0144/0.1 h
	// = 8.64 minutes; the 5m window long before.
	if !inc.Detected || inc.By != "page-fast" || inc.PageDelay < 8*time.Minute || inc.PageDelay > 11*time.Minute {
		t.Errorf("incident report %+v, want page-fast after about 9 minutes", inc)
	}
	for _, p := range rep.Pairs {
		if p.FalseEpisodes != 0 {
			t.Errorf("%s fired %d times outside the incident", p.Name, p.FalseEpisodes)
		}
	}
	if rep.Pairs[0].Episodes != 1 {
		t.Errorf("page-fast fired %d episodes, want 1", rep.Pairs[0].Episodes)
	}
	// 10% of 30 minutes of traffic over one day of history.
	wantRatio := 0.1 * 30 / 1440
	if math.Abs(rep.ErrorRatio-wantRatio) > 0.05*wantRatio {
		t.Errorf("history error ratio %v, want %v", rep.ErrorRatio, wantRatio)
	}
	wantSpent := wantRatio / 0.001 / 30
	if math.Abs(rep.BudgetSpent-wantSpent) > 0.05*wantSpent {
		t.Errorf("budget spent %v, want %v", rep.BudgetSpent, wantSpent)
	}
	// The incident: 10% errors for 30 minutes of a 30-day period at a 0.1%
	// budget burned 0.1 x 30 / 43,200 / 0.001 = 6.9% of the budget; the
	// page pairs page on 14.4 x 1h / 30d = 2%.
	if want := 0.1 * 30 / 43200 / 0.001; math.Abs(inc.BudgetBurned-want) > 0.05*want {
		t.Errorf("incident burned %v of the budget, want %v", inc.BudgetBurned, want)
	}
	if want := 14.4 / 720; math.Abs(rep.PageBurn-want) > 1e-9 {
		t.Errorf("page burn %v, want %v", rep.PageBurn, want)
	}
}

func TestHealthyHistoryFiresNothing(t *testing.T) {
	mem, err := backtest.NewMemory(history(2, t0, t0, 0))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backtest.Run(context.Background(), mem, definition(t), backtest.Options{Start: t0.Add(24 * time.Hour), End: t0.Add(2 * 24 * time.Hour), Step: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Pairs {
		if p.Episodes != 0 || p.FiringFraction != 0 {
			t.Errorf("%s fired on a healthy history: %+v", p.Name, p)
		}
	}
	if rep.ErrorRatio != 0 || rep.BudgetSpent != 0 {
		t.Errorf("error ratio %v, budget spent %v, want 0", rep.ErrorRatio, rep.BudgetSpent)
	}
}

// TestHTTPEvaluatorMatchesTheEngine serves the in-memory engine through
// the Prometheus query API and checks the HTTP evaluator reads the same.
func TestHTTPEvaluatorMatchesTheEngine(t *testing.T) {
	from := t0.Add(26 * time.Hour)
	mem, err := backtest.NewMemory(history(2, from, from.Add(time.Hour), 0.05))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sec := func(k string) time.Time {
			f, _ := strconv.ParseFloat(r.FormValue(k), 64)
			return time.UnixMilli(int64(f * 1000))
		}
		step, _ := strconv.ParseFloat(r.FormValue("step"), 64)
		pts, err := mem.RangeQuery(r.Context(), r.FormValue("query"), sec("start"), sec("end"), time.Duration(step*float64(time.Second)))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","error":%q}`, err.Error())
			return
		}
		values := make([][2]any, len(pts))
		for i, p := range pts {
			values[i] = [2]any{float64(p.T.UnixMilli()) / 1000, strconv.FormatFloat(p.V, 'g', -1, 64)}
		}
		result := []map[string]any{}
		if len(values) > 0 {
			result = append(result, map[string]any{"metric": map[string]string{}, "values": values})
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": result}})
	}))
	defer srv.Close()
	opts := backtest.Options{Start: t0.Add(24 * time.Hour), End: t0.Add(2 * 24 * time.Hour), Step: 5 * time.Minute,
		Incidents: []backtest.Incident{{Name: "burst", Start: from, End: from.Add(time.Hour)}}}
	want, err := backtest.Run(context.Background(), mem, definition(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := backtest.Run(context.Background(), backtest.HTTP{Address: srv.URL}, definition(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("HTTP backtest differs from the engine's:\n%s\n%s", b, a)
	}
	if !want.Incidents[0].Detected {
		t.Errorf("a 5%% burst for an hour went undetected: %+v", want.Incidents[0])
	}
	_, err = backtest.HTTP{Address: srv.URL}.RangeQuery(context.Background(), "sum(", t0, t0, time.Minute)
	if err == nil {
		t.Error("HTTP evaluator accepted a server error")
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	mem, _ := backtest.NewMemory(nil)
	if _, err := backtest.Run(context.Background(), mem, definition(t), backtest.Options{Start: t0, End: t0}); err == nil {
		t.Error("empty range accepted")
	}
	if _, err := backtest.NewMemory([]backtest.Series{{Labels: map[string]string{"a": "b"}, Step: time.Minute}}); err == nil {
		t.Error("series without a name accepted")
	}
}

func TestCheckSummarizesTheReplay(t *testing.T) {
	from := t0.Add(26 * time.Hour)
	mem, err := backtest.NewMemory(history(2, from, from.Add(time.Hour), 0.05))
	if err != nil {
		t.Fatal(err)
	}
	opts := backtest.Options{Start: t0.Add(24 * time.Hour), End: t0.Add(2 * 24 * time.Hour), Step: 5 * time.Minute}
	unexplained, err := backtest.Run(context.Background(), mem, definition(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := backtest.Check(unexplained, 0); c.Passed || c.Name != backtest.CheckName {
		t.Errorf("a page with no incident passed: %+v", c)
	}
	opts.Incidents = []backtest.Incident{{Name: "burst", Start: from, End: from.Add(time.Hour)}}
	explained, err := backtest.Run(context.Background(), mem, definition(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c := backtest.Check(explained, 0)
	if !c.Passed || !strings.Contains(c.Detail, "1/1 incidents detected") {
		t.Errorf("check %+v", c)
	}
}
