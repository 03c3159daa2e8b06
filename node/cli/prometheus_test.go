package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
)

// fakePrometheus answers the Prometheus HTTP API calls promsource makes
// (series, metadata, query_range by series selector) from a simulator, and
// records the credentials it was sent.
func fakePrometheus(t *testing.T, s *sim.Simulator) (*httptest.Server, func() (auth, tenant string)) {
	t.Helper()
	var mu sync.Mutex
	var auth, tenant string
	ok := func(w http.ResponseWriter, data any) {
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
	}
	infos := func() []source.SeriesInfo {
		var all []source.SeriesInfo
		services, _ := s.Services(context.Background())
		for _, svc := range services {
			list, _ := s.ListSeries(context.Background(), svc)
			all = append(all, list...)
		}
		return all
	}
	// The simulator simulates from its origin on every Fetch: fetch every
	// series of a range at once, on its first query.
	cache := map[source.Range]map[string]source.Series{}
	fetchCached := func(rg source.Range, id string) ([]source.Series, error) {
		mu.Lock()
		defer mu.Unlock()
		if cache[rg] == nil {
			var ids []string
			for _, in := range infos() {
				ids = append(ids, in.ID)
			}
			all, err := s.Fetch(context.Background(), ids, rg)
			if err != nil {
				return nil, err
			}
			cache[rg] = map[string]source.Series{}
			for _, ser := range all {
				cache[rg][ser.Info.ID] = ser
			}
		}
		ser, found := cache[rg][id]
		if !found {
			return nil, fmt.Errorf("unknown series %s", id)
		}
		return []source.Series{ser}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/series", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		auth, tenant = r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID")
		mu.Unlock()
		var sets []map[string]string
		for _, in := range infos() {
			if fmt.Sprintf("{service=%q}", in.Labels["service"]) != r.Form.Get("match[]") {
				continue
			}
			set := map[string]string{"__name__": in.Metric}
			for k, v := range in.Labels {
				set[k] = v
			}
			sets = append(sets, set)
		}
		ok(w, sets)
	})
	mux.HandleFunc("/api/v1/metadata", func(w http.ResponseWriter, r *http.Request) {
		meta := map[string][]map[string]string{}
		for _, in := range infos() {
			family := in.Metric
			if in.Type == source.TypeHistogram {
				family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_count"), "_sum")
			}
			meta[family] = []map[string]string{{"type": string(in.Type), "help": in.Help, "unit": in.Unit}}
		}
		ok(w, meta)
	})
	mux.HandleFunc("/api/v1/query_range", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		at := func(k string) time.Time {
			f, _ := strconv.ParseFloat(r.Form.Get(k), 64)
			return time.Unix(0, int64(f*1e9)).UTC()
		}
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		rg := source.Range{Start: at("start"), End: at("end"), Step: time.Duration(step * float64(time.Second))}
		series, err := fetchCached(rg, r.Form.Get("query"))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "bad_data", "error": err.Error()})
			return
		}
		var result []map[string]any
		for _, ser := range series {
			metric := map[string]string{"__name__": ser.Info.Metric}
			for k, v := range ser.Info.Labels {
				metric[k] = v
			}
			var values [][2]any
			for i, v := range ser.Values {
				if v == v { // not NaN: Prometheus has no sample there
					ts := rg.Start.Add(time.Duration(i) * rg.Step)
					values = append(values, [2]any{float64(ts.UnixMilli()) / 1000, strconv.FormatFloat(v, 'g', -1, 64)})
				}
			}
			result = append(result, map[string]any{"metric": metric, "values": values})
		}
		ok(w, map[string]any{"resultType": "matrix", "result": result})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return auth, tenant
	}
}

func TestSLOGenerateFromPrometheus(t *testing.T) {
	end := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	cfg, err := sim.Plan("Org1MSP", 1, end.Add(-3*24*time.Hour), end, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, credentials := fakePrometheus(t, s)
	env := cli.Env{Getenv: func(k string) string {
		if k == "SRELLAMA_PROMETHEUS_TOKEN" {
			return "s3cret"
		}
		return ""
	}}
	r := run(context.Background(), t, env, "slo", "generate", "--source", "prometheus", "--prometheus-url", srv.URL,
		"--prometheus-org-id", "tenant-1", "--service", "nrf", "--history", "3d", "--end", end.Format(time.RFC3339), "--output", "json")
	var def nft.Definition
	if err := json.Unmarshal([]byte(r.stdout), &def); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if err := nft.ValidateDefinition(def); err != nil || def.SLI.Service != "nrf" {
		t.Errorf("definition for %s: %v", def.SLI.Service, err)
	}
	checkRules(t, def.Rules.YAML)
	if auth, tenant := credentials(); auth != "Bearer s3cret" || tenant != "tenant-1" {
		t.Errorf("the server saw Authorization %q and X-Scope-OrgID %q", auth, tenant)
	}
}
