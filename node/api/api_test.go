package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/api"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// evaluator is one identity's read-only view of the in-process chaincode,
// reached through the typed client as a node reaches its ledger.
type evaluator struct {
	ledger.Ledger // queries only
	l             *stubtest.Ledger
	cc            shim.Chaincode
	id            *stubtest.Identity
}

func (e evaluator) Evaluate(_ context.Context, fn string, args ...string) ([]byte, error) {
	return e.l.Evaluate(e.cc, e.id, fn, args...)
}

type phases map[string]string

func (p phases) Phase(id string) (string, bool) { v, ok := p[id]; return v, ok }

// ledgerWithToken registers three organizations, runs a round and mints
// one token for amf through an explicit request.
func ledgerWithToken(t *testing.T) (*chaincode.Client, nft.Token) {
	t.Helper()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	l := stubtest.New("consortium", now)
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	orgs := map[string]*stubtest.Org{}
	submit := func(id *stubtest.Identity, fn string, args ...string) stubtest.Result {
		t.Helper()
		res, err := l.Submit(cc, id, fn, args...)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		return res
	}
	for _, msp := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		orgs[msp], _ = stubtest.NewOrg(msp, now)
		submit(orgs[msp].Admin, "Consortium:RegisterOrganization", msp)
	}
	spec, _ := json.Marshal(records.RoundSpec{ID: "round-1", Task: "sli-relevance", Services: []string{"amf"},
		FeatureSetDigest: nft.DigestBytes(nil), Strategy: "median", MinParticipants: 1,
		CommitDeadline: records.FormatTime(now.Add(time.Hour)), Deadline: records.FormatTime(now.Add(2 * time.Hour))})
	submit(orgs["Org1MSP"].Admin, "Rounds:Open", string(spec))
	reqSpec, _ := json.Marshal(records.RequestSpec{Service: "amf", SLIs: []nft.Metric{{Name: "up", Relevance: 1, Stability: 1}}})
	res := submit(orgs["Org1MSP"].Admin, "Generation:Request", string(reqSpec))
	var e records.Event
	_ = json.Unmarshal(res.Event.Payload, &e)
	def := nfttest.Definition("amf", "Org1MSP")
	def.Provenance.GenerationRequestID = e.Requests[0].ID
	raw, _ := nft.Encode(def)
	res = submit(orgs["Org1MSP"].Client, "Generation:Propose", e.Requests[0].ID, string(raw))
	_ = json.Unmarshal(res.Event.Payload, &e)
	res = submit(orgs["Org2MSP"].Client, "Generation:Approve", e.Proposal.ID)
	_ = json.Unmarshal(res.Event.Payload, &e)
	return chaincode.New(evaluator{l: l, cc: cc, id: orgs["Org3MSP"].Client}), *e.Token
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestAPI(t *testing.T) {
	ev, tok := ledgerWithToken(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "srellama_rounds_total", Help: "Rounds taken part in."}))
	h := (&api.Server{Organization: "Org3MSP", Ledger: ev, Rounds: phases{"round-1": "collecting"}, Registry: reg}).Handler()

	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/healthz", 200, `"status":"ok"`},
		{"/api/v1/rounds", 200, `"id":"round-1"`},
		{"/api/v1/rounds/round-1", 200, `"local_phase":"collecting"`},
		{"/api/v1/rounds/round-9", 404, "not found"},
		{"/api/v1/rounds/round-1/ranking", 409, "once it finalizes"},
		{"/api/v1/tokens?service=amf", 200, tok.ID},
		{"/api/v1/tokens?owner=Org1MSP", 200, tok.ID},
		{"/api/v1/tokens", 400, "exactly one of"},
		{"/api/v1/tokens?service=amf&owner=Org1MSP", 400, "exactly one of"},
		{"/api/v1/tokens/" + tok.ID, 200, `"standard":"s-528"`},
		{"/api/v1/tokens/" + tok.ID + "/rules", 200, "slo:sli_error:ratio_rate5m"},
		{"/api/v1/tokens/" + tok.ID + "/history", 200, tok.Mint.TxID},
		{"/api/v1/tokens/" + tok.ID + "/provenance", 200, `"decisions"`},
		{"/api/v1/tokens/" + strings.Repeat("a", 64), 404, "not found"},
		{"/api/v1/tokens/nope", 400, "64 lowercase hex"},
		{"/metrics", 200, "srellama_rounds_total"},
	}
	for _, tt := range tests {
		status, body := get(t, h, tt.path)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, status, truncate(body), tt.status, tt.contains)
		}
	}
}

func TestHealthReportsALedgerItCannotReach(t *testing.T) {
	ev, _ := ledgerWithToken(t)
	h := (&api.Server{Organization: "Org9MSP", Ledger: ev}).Handler()
	if status, body := get(t, h, "/healthz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "degraded") {
		t.Fatalf("GET /healthz = %d %s", status, body)
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

type workflow api.PendingList

func (w workflow) Pending() api.PendingList { return api.PendingList(w) }

// The workflow's pending retries are listed; a node without any answers
// an empty list, not null.
func TestPendingWorkflowActions(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	list := workflow{Count: 1, Limit: 256, Actions: []api.PendingAction{{Event: "ProposalSubmitted", Tx: "tx-1", Block: 9,
		Proposal: "prop-1", Attempts: 4, LastError: "evidence: connection refused", FirstFailed: at, NextTry: at.Add(8 * time.Second)}}}
	status, body := get(t, (&api.Server{Workflow: list}).Handler(), "/api/v1/workflow/pending")
	var got api.PendingList
	if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Count != 1 || got.Limit != 256 ||
		len(got.Actions) != 1 || got.Actions[0].Proposal != "prop-1" || got.Actions[0].Attempts != 4 || !got.Actions[0].NextTry.Equal(at.Add(8*time.Second)) {
		t.Fatalf("GET pending = %d %s", status, body)
	}
	if !strings.Contains(body, `"last_error":"evidence: connection refused"`) || !strings.Contains(body, `"next_try":"2026-12-03T09:00:08Z"`) {
		t.Fatalf("GET pending body %s", body)
	}
	if status, body := get(t, (&api.Server{Workflow: workflow{Limit: 256}}).Handler(), "/api/v1/workflow/pending"); status != http.StatusOK ||
		!strings.Contains(body, `"actions":[]`) {
		t.Fatalf("GET empty pending = %d %s", status, body)
	}
	if status, _ := get(t, (&api.Server{}).Handler(), "/api/v1/workflow/pending"); status != http.StatusNotFound {
		t.Fatalf("a server without a workflow answers %d", status)
	}
}

// Records are decoded from the ledger and encoded again: what the API
// serves is the ledger's token, whole, still sealed by its digest.
func TestTokenIsServedWhole(t *testing.T) {
	ev, tok := ledgerWithToken(t)
	h := (&api.Server{Organization: "Org3MSP", Ledger: ev}).Handler()
	status, body := get(t, h, "/api/v1/tokens/"+tok.ID)
	got, err := nft.DecodeToken([]byte(body))
	if status != http.StatusOK || err != nil || !reflect.DeepEqual(got, tok) {
		t.Fatalf("GET token = %d, %v; body %s", status, err, truncate(body))
	}
	status, body = get(t, h, "/api/v1/tokens?service=amf&page_size=1")
	var page records.Page[nft.Token]
	if status != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || page.Count != 1 || !reflect.DeepEqual(page.Items, []nft.Token{tok}) {
		t.Fatalf("GET tokens = %d %s", status, truncate(body))
	}
}
