package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/node/api"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// gatewayLedger fails the way a real Fabric gateway does when the
// chaincode refuses an argument: a generic error whose text the API cannot
// classify, so only checking input first can answer 400.
type gatewayLedger struct {
	ledger.Ledger // queries only
	calls         int
}

func (g *gatewayLedger) Evaluate(context.Context, string, ...string) ([]byte, error) {
	g.calls++
	return nil, errors.New("rpc error: code = Unknown desc = evaluate call to endorser returned error: chaincode response 500")
}

func TestBadInputIsRefusedBeforeTheLedger(t *testing.T) {
	gw := &gatewayLedger{}
	h := (&api.Server{Organization: "Org1MSP", Ledger: chaincode.New(gw)}).Handler()
	for _, path := range []string{
		"/api/v1/rounds?page_size=ten",
		"/api/v1/rounds?page_size=100000000",
		"/api/v1/rounds?bookmark=" + strings.Repeat("b", 2000),
		"/api/v1/rounds/Round%20One",
		"/api/v1/rounds/..%2Fetc/ranking",
		"/api/v1/tokens?service=AMF!",
		"/api/v1/tokens?owner=not%20an%20msp",
		"/api/v1/tokens?round=r1&page_size=-1",
		"/api/v1/tokens/" + strings.Repeat("A", 64),
		"/api/v1/tokens/xyz/history",
		"/api/v1/tokens/xyz/provenance",
		"/api/v1/tokens/xyz/rules",
	} {
		if status, body := get(t, h, path); status != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s, want 400", path, status, truncate(body))
		}
	}
	if gw.calls != 0 {
		t.Errorf("bad input reached the ledger %d times", gw.calls)
	}
	// Well-formed input that the ledger then fails on is the ledger's
	// failure: 502.
	if status, _ := get(t, h, "/api/v1/rounds/round-1"); status != http.StatusBadGateway {
		t.Errorf("a ledger failure answered %d, want 502", status)
	}
}

func TestBearerToken(t *testing.T) {
	ev, _ := ledgerWithToken(t)
	h := (&api.Server{Organization: "Org1MSP", Ledger: ev, Registry: prometheus.NewRegistry(), BearerToken: "s3cret"}).Handler()
	call := func(path, auth string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tt := range []struct {
		path, auth string
		want       int
	}{
		{"/api/v1/rounds", "", http.StatusUnauthorized},
		{"/api/v1/rounds", "Bearer wrong", http.StatusUnauthorized},
		{"/api/v1/rounds", "s3cret", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/api/v1/rounds", "Bearer s3cret", http.StatusOK},
		{"/metrics", "Bearer s3cret", http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		if got := call(tt.path, tt.auth); got != tt.want {
			t.Errorf("GET %s with %q = %d, want %d", tt.path, tt.auth, got, tt.want)
		}
	}
}

func TestMetricsIncludeRuntimeAndProcess(t *testing.T) {
	ev, _ := ledgerWithToken(t)
	h := (&api.Server{Organization: "Org1MSP", Ledger: ev, Registry: prometheus.NewRegistry()}).Handler()
	_, body := get(t, h, "/metrics")
	for _, m := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func TestPprofHandler(t *testing.T) {
	if status, body := get(t, api.PprofHandler(), "/debug/pprof/"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index = %d", status)
	}
}
