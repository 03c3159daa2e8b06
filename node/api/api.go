// Package api is a node's HTTP API (on loopback unless the operator allows
// more, then behind a bearer token): health, federated rounds
// and their state, the relevance ranking, tokens with their rules, audit
// (history, provenance), the workflow's pending retries, and the node's own
// Prometheus metrics. Everything else it shows comes from the ledger
// through the node's client, so two nodes of a consortium answer the same
// questions alike.
//
// Ledger records are read through the typed chaincode client and encoded
// again, never relayed as the ledger's bytes: what the API serves has
// decoded as the record it claims to be (a result that does not is a 502
// naming the transaction), and one encoder writes every answer. The node
// and the chaincode are built from one module, so the records' fields are
// the same on both sides.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Ledger is what the API reads of the chaincode, typed
// (*chaincode.Client is one).
type Ledger interface {
	GetOrganization(ctx context.Context, mspID string) (records.Organization, error)
	Rounds(ctx context.Context, p chaincode.PageRequest) (records.Page[records.Round], error)
	Round(ctx context.Context, roundID string) (records.Round, error)
	TokensByService(ctx context.Context, service string, p chaincode.PageRequest) (records.Page[nft.Token], error)
	TokensByOwner(ctx context.Context, owner string, p chaincode.PageRequest) (records.Page[nft.Token], error)
	TokensByRound(ctx context.Context, roundID string, p chaincode.PageRequest) (records.Page[nft.Token], error)
	Token(ctx context.Context, tokenID string) (nft.Token, error)
	History(ctx context.Context, tokenID string) ([]records.HistoryEntry, error)
	Provenance(ctx context.Context, tokenID string) (records.Provenance, error)
}

// RoundStates reports this node's own view of rounds (the protocol phase);
// optional.
type RoundStates interface {
	Phase(roundID string) (string, bool)
}

// PhaseReasons, if the RoundStates implement it, says why this node's part
// in a round failed ("failed" phase): local training could not run.
type PhaseReasons interface {
	PhaseReason(roundID string) string
}

// Workflow lists the workflow actions that failed and wait for their next
// try; optional.
type Workflow interface {
	Pending() PendingList
}

// PendingList is the workflow's pending actions, in ledger order.
type PendingList struct {
	Count int `json:"count"`
	// Limit is how many may wait; at the limit the workflow reads no
	// further event until one succeeds.
	Limit   int             `json:"limit"`
	Actions []PendingAction `json:"actions"`
}

// PendingAction is one failed workflow action: the event that called for
// it, what it is about, and its retries.
type PendingAction struct {
	Event       string    `json:"event"`
	Tx          string    `json:"tx"`
	Block       uint64    `json:"block"`
	Requests    []string  `json:"requests,omitempty"`
	Proposal    string    `json:"proposal,omitempty"`
	Tokens      []string  `json:"tokens,omitempty"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	FirstFailed time.Time `json:"first_failed"`
	NextTry     time.Time `json:"next_try"`
}

// Server is the node's API.
type Server struct {
	Organization string
	Ledger       Ledger
	Rounds       RoundStates
	Workflow     Workflow
	Registry     *prometheus.Registry
	Log          *slog.Logger
	// Timeout bounds each ledger query.
	Timeout time.Duration
	// BearerToken, if set, is required (Authorization: Bearer ...) on
	// every route but /healthz.
	BearerToken string
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /api/v1/rounds", s.rounds)
	mux.HandleFunc("GET /api/v1/rounds/{id}", s.round)
	mux.HandleFunc("GET /api/v1/rounds/{id}/ranking", s.ranking)
	mux.HandleFunc("GET /api/v1/tokens", s.tokens)
	mux.HandleFunc("GET /api/v1/tokens/{id}", tokenQuery(s, Ledger.Token))
	mux.HandleFunc("GET /api/v1/tokens/{id}/rules", s.rules)
	mux.HandleFunc("GET /api/v1/tokens/{id}/history", tokenQuery(s, Ledger.History))
	mux.HandleFunc("GET /api/v1/tokens/{id}/provenance", tokenQuery(s, Ledger.Provenance))
	if s.Workflow != nil {
		mux.HandleFunc("GET /api/v1/workflow/pending", s.pending)
	}
	if s.Registry != nil {
		// The node's own metrics, plus the Go runtime's and the
		// process's (memory, goroutines, GC, CPU, open files).
		runtime := prometheus.NewRegistry()
		runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{s.Registry, runtime}, promhttp.HandlerOpts{}))
	}
	if s.BearerToken == "" {
		return mux
	}
	return s.authorize(mux)
}

// authorize requires the bearer token everywhere but /healthz, which
// liveness probes call without credentials and which reveals nothing.
func (s *Server) authorize(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.BearerToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="srellama"`)
			writeJSON(w, http.StatusUnauthorized, errorBody("a bearer token is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// PprofHandler serves net/http/pprof's profiles, for a separate listener
// the operator opts into (api.pprof_listen, loopback only).
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// badRequest answers 400 for input the ledger would refuse, before asking
// it: through a real gateway the refusal comes back as a generic error,
// which would read as the ledger failing (502).
func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, errorBody(msg))
}

// page reads page_size and bookmark, checked as the chaincode does.
func page(w http.ResponseWriter, r *http.Request) (chaincode.PageRequest, bool) {
	q := r.URL.Query()
	size, bookmark, err := records.ParsePage(q.Get("page_size"), q.Get("bookmark"))
	if err != nil {
		badRequest(w, err.Error())
		return chaincode.PageRequest{}, false
	}
	return chaincode.PageRequest{Size: int(size), Bookmark: bookmark}, true
}

// roundIDOK checks the {id} of a round route.
func roundIDOK(w http.ResponseWriter, r *http.Request) bool {
	if id := r.PathValue("id"); !nft.IsValidName(id) {
		badRequest(w, fmt.Sprintf("round id %q is not a name (a-z, 0-9, '_', '.', '-')", truncateID(id)))
		return false
	}
	return true
}

// tokenIDOK checks the {id} of a token route.
func tokenIDOK(w http.ResponseWriter, r *http.Request) bool {
	if id := r.PathValue("id"); !nft.IsTokenID(id) {
		badRequest(w, fmt.Sprintf("token id %q must be 64 lowercase hex characters", truncateID(id)))
		return false
	}
	return true
}

func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ledgerContext bounds one ledger query.
func (s *Server) ledgerContext(r *http.Request) (context.Context, context.CancelFunc) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return context.WithTimeout(r.Context(), timeout)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	_, err := s.Ledger.GetOrganization(ctx, s.Organization)
	body := map[string]string{"status": "ok", "organization": s.Organization, "ledger": "ok"}
	status := http.StatusOK
	if err != nil {
		body["status"], body["ledger"] = "degraded", err.Error()
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

func (s *Server) rounds(w http.ResponseWriter, r *http.Request) {
	p, ok := page(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	rounds, err := s.Ledger.Rounds(ctx, p)
	s.reply(w, rounds, err)
}

// roundView is a round as the ledger holds it plus this node's phase.
type roundView struct {
	records.Round
	LocalPhase string `json:"local_phase,omitempty"`
	// LocalReason says why the local phase is "failed".
	LocalReason string `json:"local_reason,omitempty"`
}

func (s *Server) round(w http.ResponseWriter, r *http.Request) {
	if !roundIDOK(w, r) {
		return
	}
	id := r.PathValue("id")
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	round, err := s.Ledger.Round(ctx, id)
	if err != nil {
		s.fail(w, err)
		return
	}
	v := roundView{Round: round}
	if s.Rounds != nil {
		v.LocalPhase, _ = s.Rounds.Phase(id)
		if pr, ok := s.Rounds.(PhaseReasons); ok {
			v.LocalReason = pr.PhaseReason(id)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) ranking(w http.ResponseWriter, r *http.Request) {
	if !roundIDOK(w, r) {
		return
	}
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	round, err := s.Ledger.Round(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if round.Status != records.RoundFinalized {
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("round %s is %s; its ranking is known once it finalizes", round.ID, round.Status)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"round": round.ID, "global_model_digest": round.GlobalModelDigest, "ranking": round.Ranking})
}

// tokens lists tokens by exactly one of service, owner or round.
func (s *Server) tokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	type list = func(Ledger, context.Context, string, chaincode.PageRequest) (records.Page[nft.Token], error)
	var read list
	var key string
	n := 0
	for _, by := range []struct {
		param string
		read  list
		valid func(string) bool
	}{{"service", Ledger.TokensByService, nft.IsValidName}, {"owner", Ledger.TokensByOwner, nft.IsValidMSPID}, {"round", Ledger.TokensByRound, nft.IsValidName}} {
		if v := q.Get(by.param); v != "" {
			if !by.valid(v) {
				badRequest(w, fmt.Sprintf("%s %q is not a valid %s", by.param, truncateID(v), by.param))
				return
			}
			read, key = by.read, v
			n++
		}
	}
	if n != 1 {
		writeJSON(w, http.StatusBadRequest, errorBody("give exactly one of service, owner or round"))
		return
	}
	p, ok := page(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	tokens, err := read(s.Ledger, ctx, key, p)
	s.reply(w, tokens, err)
}

// tokenQuery serves what read returns for the token of the route.
func tokenQuery[T any](s *Server, read func(Ledger, context.Context, string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !tokenIDOK(w, r) {
			return
		}
		ctx, cancel := s.ledgerContext(r)
		defer cancel()
		v, err := read(s.Ledger, ctx, r.PathValue("id"))
		s.reply(w, v, err)
	}
}

// rules serves a token's Prometheus rule file as YAML, after checking the
// token against its digest.
func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	if !tokenIDOK(w, r) {
		return
	}
	ctx, cancel := s.ledgerContext(r)
	defer cancel()
	tok, err := s.Ledger.Token(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := nft.ValidateToken(tok); err != nil {
		s.fail(w, fmt.Errorf("token from the ledger does not validate: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Rules-Digest", tok.Definition.Rules.Digest)
	_, _ = w.Write([]byte(tok.Definition.Rules.YAML))
}

func (s *Server) pending(w http.ResponseWriter, _ *http.Request) {
	list := s.Workflow.Pending()
	if list.Actions == nil {
		list.Actions = []PendingAction{}
	}
	writeJSON(w, http.StatusOK, list)
}

// reply answers a ledger record, or the ledger's failure.
func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// fail maps ledger errors to HTTP: what the chaincode could not find is
// 404, what it refused as malformed is 400, anything else is 502 (the
// ledger, not this API, failed).
func (s *Server) fail(w http.ResponseWriter, err error) {
	msg := err.Error()
	status := http.StatusBadGateway
	switch {
	case strings.Contains(msg, "not found"):
		status = http.StatusNotFound
	case strings.Contains(msg, "must be"), strings.Contains(msg, "is not a"), strings.Contains(msg, "page size"):
		status = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	}
	if status == http.StatusBadGateway && s.Log != nil {
		s.Log.Warn("ledger query failed", "err", err)
	}
	writeJSON(w, status, errorBody(msg))
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
