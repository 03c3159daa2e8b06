package promsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/srellama/srellama/node/source"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// fastConfig retries quickly so that error tests stay short.
func fastConfig(url string) Config {
	return Config{URL: url, Retries: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 2 * time.Second, Seed: 1}
}

func newSource(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func oneHour() source.Range {
	return source.Range{Start: t0, End: t0.Add(time.Hour), Step: time.Minute}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty URL", Config{}, "bad URL"},
		{"no scheme", Config{URL: "prometheus:9090"}, "bad URL"},
		{"ftp", Config{URL: "ftp://prometheus:9090"}, "bad URL"},
		{"no host", Config{URL: "http://"}, "bad URL"},
		{"unparsable", Config{URL: "http://[::1"}, "bad URL"},
		{"two auths", Config{URL: "http://p:9090", BearerToken: "t", Username: "u"}, "choose one"},
		{"max points", Config{URL: "http://p:9090", MaxPoints: 1}, "max points"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestServerErrorsAreClearAndRetriedOnlyWhenUseful(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		wantCalls int
		want      []string
	}{
		{"bad query is not retried", 400, `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`, 1, []string{"bad_data", "parse error at char 3", "query_range"}},
		// client_golang repeats a POST refused with 403 as a GET (proxies that
		// forbid POST); that is a fallback, not a retry.
		{"forbidden is not retried", 403, `forbidden: no tenant`, 2, []string{"client error: 403", "no tenant"}},
		{"not found is not retried", 404, `404 page not found`, 1, []string{"client error: 404"}},
		{"throttling is retried", 429, `slow down`, 3, []string{"client error: 429"}},
		{"server error is retried", 503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`, 3, []string{"overloaded"}},
		{"bad gateway is retried", 502, `<html>bad gateway</html>`, 3, []string{"server error: 502", "bad gateway"}},
		{"malformed answer", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":`, 1, []string{"bad_response"}},
		{"wrong shape", 200, `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`, 1, []string{"not a matrix"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			s := newSource(t, fastConfig(srv.URL))
			_, err := s.Fetch(context.Background(), []string{"up"}, oneHour())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Errorf("%d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestUnreachableServerNamesTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s := newSource(t, fastConfig(url))
	_, err := s.Services(context.Background())
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a connection error naming %s", err, url)
	}
}

func TestRetryRecoversAfterTransientFailures(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		fakeQueryRange(w, r, nil)
	}))
	defer srv.Close()
	s := newSource(t, fastConfig(srv.URL))
	out, err := s.Fetch(context.Background(), []string{`up{job="a"}`}, oneHour())
	if err != nil {
		t.Fatalf("Fetch after two 503s: %v", err)
	}
	if calls.Load() != 3 || out[0].Values[0] != 0 {
		t.Fatalf("%d calls, first value %v", calls.Load(), out[0].Values[0])
	}
}

func TestSlowServerTimesOutEachAttempt(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := fastConfig(srv.URL)
	cfg.Timeout = 50 * time.Millisecond
	s := newSource(t, cfg)
	_, err := s.Fetch(context.Background(), []string{"up"}, oneHour())
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d attempts, want 3 (first + 2 retries)", calls.Load())
	}
}

func TestCancellationStopsRetrying(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.Retries, cfg.BackoffBase, cfg.BackoffMax = 10, time.Hour, time.Hour
	s := newSource(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := s.Fetch(ctx, []string{"up"}, oneHour())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if time.Since(began) > 5*time.Second {
		t.Fatal("Fetch kept waiting after the context ended")
	}
}

func TestCredentialsAndTenantAreSentOnEveryAttempt(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Config)
		auth string
	}{
		{"bearer", func(c *Config) { c.BearerToken = "s3cret" }, "Bearer s3cret"},
		{"basic", func(c *Config) { c.Username, c.Password = "ann", "pw" }, "Basic YW5uOnB3"},
		{"none", func(*Config) {}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Scope-OrgID"))
				if calls.Add(1) == 1 {
					http.Error(w, "once", http.StatusBadGateway)
					return
				}
				fakeQueryRange(w, r, nil)
			}))
			defer srv.Close()
			cfg := fastConfig(srv.URL)
			cfg.OrgID = "tenant-7"
			tc.cfg(&cfg)
			if _, err := newSource(t, cfg).Fetch(context.Background(), []string{"up"}, oneHour()); err != nil {
				t.Fatal(err)
			}
			want := tc.auth + "|tenant-7"
			if len(seen) != 2 || seen[0] != want || seen[1] != want {
				t.Fatalf("headers seen %q, want %q twice", seen, want)
			}
		})
	}
}

// fakeQueryRange answers query_range like Prometheus: value = seconds since
// t0 at every step, except timestamps listed in gaps; more than 11,000
// points per series is refused as Prometheus refuses it.
func fakeQueryRange(w http.ResponseWriter, r *http.Request, gaps map[int64]bool) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	if (end-start)/step > 11000 {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`)
		return
	}
	var values [][2]any
	for ts := start; ts <= end; ts += step {
		if gaps[int64(ts)] {
			continue
		}
		values = append(values, [2]any{ts, strconv.FormatFloat(ts-float64(t0.Unix()), 'f', -1, 64)})
	}
	json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data": map[string]any{"resultType": "matrix", "result": []any{
			map[string]any{"metric": map[string]string{"__name__": "up", "job": "a"}, "values": values},
		}},
	})
}

func TestLongRangesAreChunkedUnderThePointLimit(t *testing.T) {
	gap := t0.Add(25000 * 30 * time.Second).Unix()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fakeQueryRange(w, r, map[int64]bool{gap: true})
	}))
	defer srv.Close()
	s := newSource(t, fastConfig(srv.URL))
	r := source.Range{Start: t0, End: t0.Add(7 * 24 * time.Hour), Step: 30 * time.Second} // 20,161 points
	out, err := s.Fetch(context.Background(), []string{`up{job="a"}`}, r)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d query_range calls for 20,161 points, want 2", calls.Load())
	}
	vals := out[0].Values
	if len(vals) != r.Points() {
		t.Fatalf("%d values, want %d", len(vals), r.Points())
	}
	for i, v := range vals {
		want := float64(i * 30)
		if i == 25000 {
			want = math.NaN()
		}
		if v != want && !(math.IsNaN(v) && math.IsNaN(want)) {
			t.Fatalf("value %d = %v, want %v", i, v, want)
		}
	}
	if info := out[0].Info; info.ID != `up{job="a"}` || info.Metric != "up" || info.Labels["job"] != "a" {
		t.Errorf("series info %+v", info)
	}
}

func TestChunksCoverTheGridExactly(t *testing.T) {
	r := source.Range{Start: t0, End: t0.Add(95 * time.Second), Step: 10 * time.Second} // 10 points
	got := chunks(r, 4)
	if len(got) != 3 {
		t.Fatalf("%d chunks, want 3", len(got))
	}
	wantStarts := []time.Duration{0, 40 * time.Second, 80 * time.Second}
	wantEnds := []time.Duration{30 * time.Second, 70 * time.Second, 90 * time.Second}
	for i, c := range got {
		if c.Start.Sub(t0) != wantStarts[i] || c.End.Sub(t0) != wantEnds[i] || c.Step != r.Step {
			t.Errorf("chunk %d = %v..%v", i, c.Start.Sub(t0), c.End.Sub(t0))
		}
	}
}

func TestFetchRefusesBadInput(t *testing.T) {
	s := newSource(t, fastConfig("http://127.0.0.1:1"))
	cases := []struct {
		name string
		ids  []string
		r    source.Range
		want string
	}{
		{"empty range", []string{"up"}, source.Range{Start: t0, End: t0, Step: time.Second}, "empty range"},
		{"inverted range", []string{"up"}, source.Range{Start: t0, End: t0.Add(-time.Hour), Step: time.Second}, "empty range"},
		{"no step", []string{"up"}, source.Range{Start: t0, End: t0.Add(time.Hour)}, "step"},
		{"blank id", []string{" "}, oneHour(), "empty series id"},
	}
	for _, tc := range cases {
		if _, err := s.Fetch(context.Background(), tc.ids, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := s.Incidents(context.Background(), "amf", t0, t0); err == nil || !strings.Contains(err.Error(), "empty period") {
		t.Errorf("empty incident period: err = %v", err)
	}
}

func TestAmbiguousSelectorIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"__name__":"up","job":"a","instance":"1"},"values":[[1772409600,"1"]]},
			{"metric":{"__name__":"up","job":"a","instance":"2"},"values":[[1772409600,"0"]]}]}}`)
	}))
	defer srv.Close()
	s := newSource(t, fastConfig(srv.URL))
	if _, err := s.Fetch(context.Background(), []string{`up{job="a"}`}, oneHour()); err == nil || !strings.Contains(err.Error(), "matches 2 series") {
		t.Errorf("err = %v, want an ambiguity error", err)
	}
	out, err := s.Fetch(context.Background(), []string{`up{instance="2",job="a"}`}, oneHour())
	if err != nil || out[0].Values[0] != 0 {
		t.Errorf("exact ID: err = %v, values %v", err, out)
	}
}

func TestRunsSplitAtGaps(t *testing.T) {
	step := 30 * time.Second
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * step) }
	times := []time.Time{at(5), at(1), at(2), at(3), at(7), at(6)}
	got := runs(model.Metric{"__name__": "ALERTS", "alertname": "HighErrors", "service": "amf"}, times, step, "amf")
	if len(got) != 2 {
		t.Fatalf("%d incidents, want 2: %+v", len(got), got)
	}
	if !got[0].Start.Equal(at(1)) || !got[0].End.Equal(at(4)) || !got[1].Start.Equal(at(5)) || !got[1].End.Equal(at(8)) {
		t.Errorf("incidents %v-%v and %v-%v", got[0].Start, got[0].End, got[1].Start, got[1].End)
	}
	if got[0].Name != "HighErrors" || got[0].Labels["service"] != "amf" || got[0].Labels["__name__"] != "" {
		t.Errorf("incident %+v", got[0])
	}
}

func TestFetchKeepsCounterResetsRaw(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"__name__":"reqs","job":"a"},"values":[[1772409600,"10"],[1772409660,"20"],[1772409780,"3"],[1772409840,"8"]]}]}}`)
	}))
	defer srv.Close()
	r := source.Range{Start: t0, End: t0.Add(4 * time.Minute), Step: time.Minute}
	out, err := newSource(t, fastConfig(srv.URL)).Fetch(context.Background(), []string{`reqs{job="a"}`}, r)
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].Values
	want := []float64{10, 20, math.NaN(), 3, 8}
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Fatalf("values %v, want %v: raw, the reset kept and the gap NaN", got, want)
		}
	}
}

// TestIncidentsFromACustomExpression evaluates a configured PromQL
// expression instead of ALERTS and keeps only the asked service's runs.
func TestIncidentsFromACustomExpression(t *testing.T) {
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/label/service/values":
			fmt.Fprint(w, `{"status":"success","data":["amf","udm"]}`)
		case "/api/v1/query_range":
			r.ParseForm()
			gotQuery = r.Form.Get("query")
			// amf is down at minutes 1-2 and 5; udm at minute 3; the zero
			// sample is not an incident.
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[
				{"metric":{"service":"amf","job":"amf"},"values":[[1772409660,"1"],[1772409720,"1"],[1772409780,"0"],[1772409900,"1"]]},
				{"metric":{"service":"udm","job":"udm"},"values":[[1772409780,"1"]]}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.IncidentQuery = `up == bool 0`
	cfg.IncidentStep = time.Minute
	s := newSource(t, cfg)
	incs, err := s.Incidents(context.Background(), "amf", t0, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != cfg.IncidentQuery {
		t.Errorf("server got query %q", gotQuery)
	}
	want := []struct{ from, to time.Duration }{{time.Minute, 3 * time.Minute}, {5 * time.Minute, 6 * time.Minute}}
	if len(incs) != len(want) {
		t.Fatalf("incidents %+v, want %d", incs, len(want))
	}
	for i, w := range want {
		if incs[i].Start.Sub(t0) != w.from || incs[i].End.Sub(t0) != w.to || incs[i].Service != "amf" || incs[i].Name != "incident" {
			t.Errorf("incident %d = %+v, want %v..%v", i, incs[i], w.from, w.to)
		}
	}
	if _, err := s.Incidents(context.Background(), "smf", t0, t0.Add(time.Hour)); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("Incidents(smf): err = %v, want ErrUnknownService", err)
	}
}

func TestSeriesAreTypedFromMetadataElseFromNames(t *testing.T) {
	meta := map[string]v1.Metadata{
		"fivegs_amffunction_rm_reginitreq":    {Type: v1.MetricTypeCounter, Help: "Number of initial registration requests received by the AMF"},
		"sbi_server_request_duration_seconds": {Type: v1.MetricTypeHistogram, Help: "Latency", Unit: "seconds"},
		"http_requests":                       {Type: v1.MetricTypeCounter, Help: "OpenMetrics family without _total"},
	}
	cases := []struct {
		set  model.LabelSet
		want source.MetricType
		help string
	}{
		{model.LabelSet{"__name__": "fivegs_amffunction_rm_reginitreq", "service": "amf"}, source.TypeCounter, "Number of initial registration requests received by the AMF"},
		{model.LabelSet{"__name__": "sbi_server_request_duration_seconds_bucket", "le": "0.1"}, source.TypeHistogram, "Latency"},
		{model.LabelSet{"__name__": "sbi_server_request_duration_seconds_count"}, source.TypeHistogram, "Latency"},
		{model.LabelSet{"__name__": "http_requests_total"}, source.TypeCounter, "OpenMetrics family without _total"},
		{model.LabelSet{"__name__": "other_total"}, source.TypeCounter, ""},
		{model.LabelSet{"__name__": "other_bucket", "le": "1"}, source.TypeHistogram, ""},
		{model.LabelSet{"__name__": "rpc_seconds", "quantile": "0.99"}, source.TypeSummary, ""},
		{model.LabelSet{"__name__": "up", "job": "amf"}, source.TypeUnknown, ""},
	}
	for _, tc := range cases {
		info := seriesInfo(tc.set, meta)
		if info.Type != tc.want || info.Help != tc.help {
			t.Errorf("%v: type %q help %q, want %q %q", tc.set, info.Type, info.Help, tc.want, tc.help)
		}
		if _, ok := info.Labels["__name__"]; ok || info.Metric != string(tc.set["__name__"]) {
			t.Errorf("%v: info %+v keeps __name__ as a label or loses the metric", tc.set, info)
		}
	}
}
