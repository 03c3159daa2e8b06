// Package ollama is the LLM SLO generator: it asks a model served by Ollama
// for an SLO spec, with the answer constrained by the spec's JSON schema,
// validates every answer with Prometheus's own parser, gives an invalid
// answer one repair round carrying the validator's errors, and otherwise
// lets the builtin generator take over, recording why.
package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/prompt"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
)

// Name and Version identify this generator in provenance.
const (
	Name    = "srellama-ollama"
	Version = "1.0.0"
)

// Client is the part of Ollama's API client the generator uses;
// *api.Client satisfies it.
type Client interface {
	Chat(ctx context.Context, req *api.ChatRequest, fn api.ChatResponseFunc) error
	List(ctx context.Context) (*api.ListResponse, error)
}

// ErrModelUnavailable is wrapped when the model is not installed or the
// server does not answer.
var ErrModelUnavailable = errors.New("model unavailable")

// Config tunes the requests.
type Config struct {
	// Model is the Ollama model name, e.g. "srellama-slo:latest".
	Model string
	// Samples is how many answers to ask for; more than one enables a vote
	// on SLI expression and objective. 1 when zero.
	Samples int
	// Timeout bounds each request; 2 minutes when zero.
	Timeout time.Duration
	// Retries is how many times a request that failed in transport is
	// retried (answers that fail validation are repaired, not retried).
	Retries int
	// Backoff is the wait before the first retry, doubled after each.
	// 500ms when zero.
	Backoff time.Duration
	// Temperature of sampling; 0 for one sample, 0.7 for several when zero.
	Temperature float64
	// Seed of the first sample; sample i uses Seed+i.
	Seed int
	// NumCtx and NumPredict bound the context and the answer; 8192 and
	// 1024 tokens when zero.
	NumCtx, NumPredict int
	// Examples are the few-shot examples; prompt.DefaultExamples when nil
	// (an empty slice asks without examples).
	Examples []prompt.Example
	// Limits bound the answer's strings in the schema.
	Limits prompt.Limits
	// Options are passed to Ollama as they are (e.g. num_thread), after
	// the generator's own.
	Options map[string]any
}

// Generator is the Ollama generator.
type Generator struct {
	Client Client
	Config Config
	// Builtin validates answers (its Validator) and takes over when no
	// answer passes.
	Builtin builtin.Generator
	Logger  *slog.Logger
}

// Attempt records one answer and what the validator said about it.
type Attempt struct {
	Sample int    `json:"sample"`
	Repair bool   `json:"repair"`
	Answer string `json:"answer"`
	Error  string `json:"error,omitempty"`
}

// Result is a definition and the answers that led to it.
type Result struct {
	Definition nft.Definition
	Attempts   []Attempt
	// Votes counts the valid answers that agreed with the chosen one.
	Votes int
}

// Generate returns a validated definition for the service: the model's when
// one of its answers passes validation, the builtin generator's otherwise
// (with Provenance.Generator.FallbackReason saying why). It fails, writing
// nothing, when the evidence has no usable metric, when the model is not
// there or does not answer, or when ctx ends.
func (g Generator) Generate(ctx context.Context, in builtin.Input) (Result, error) {
	cfg := g.Config.withDefaults()
	if cfg.Model == "" {
		return Result{}, errors.New("ollama generator: no model configured")
	}
	cands, err := builtin.Candidates(in, g.Builtin.Options)
	if err != nil {
		return Result{}, err
	}
	digest, err := g.modelDigest(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	period := in.Period
	if period == "" {
		period = "30d"
	}
	msgs := prompt.Messages(in, cands, cfg.Examples)
	format := prompt.Schema(in.Service, period, cfg.Limits)
	promptDigest, err := nft.DigestOf(struct {
		Model    string           `json:"model"`
		Messages []prompt.Message `json:"messages"`
		Format   json.RawMessage  `json:"format"`
	}{cfg.Model, msgs, format})
	if err != nil {
		return Result{}, fmt.Errorf("prompt digest: %w", err)
	}
	gen := nft.Generator{Kind: nft.GeneratorLLM, Name: Name, Version: Version,
		Model: cfg.Model, ModelDigest: digest, PromptDigest: promptDigest}
	v := g.Builtin.Validator
	v.KnownMetrics = knownMetrics(in)

	var res Result
	var accepted []nft.Definition
	answered := 0
	var lastTransport error
	for i := range cfg.Samples {
		def, attempts, err := g.sample(ctx, cfg, i, in, cands, msgs, format, gen, v)
		res.Attempts = append(res.Attempts, attempts...)
		switch {
		case ctx.Err() != nil:
			return Result{}, fmt.Errorf("ollama generator: %w", ctx.Err())
		case errors.Is(err, errTransport):
			lastTransport = err
			continue
		}
		answered++
		if err == nil {
			accepted = append(accepted, def)
		}
	}
	if answered == 0 {
		return Result{}, fmt.Errorf("%w: %s did not answer: %v", ErrModelUnavailable, cfg.Model, lastTransport)
	}
	if len(accepted) > 0 {
		res.Definition, res.Votes = vote(accepted)
		return res, nil
	}
	reason := fallbackReason(res.Attempts)
	g.logger().Warn("LLM answers refused, builtin generator takes over", "model", cfg.Model, "service", in.Service, "reason", reason)
	def, err := g.Builtin.Define(ctx, in, cands[0])
	if err != nil {
		return Result{}, fmt.Errorf("builtin fallback after %s: %w", reason, err)
	}
	def.Provenance.Generator = nft.Generator{Kind: nft.GeneratorBuiltin, Name: builtin.Name, Version: builtin.Version,
		Model: cfg.Model, ModelDigest: digest, PromptDigest: promptDigest, FallbackReason: reason}
	if err := nft.ValidateDefinition(def); err != nil {
		return Result{}, fmt.Errorf("builtin fallback: %w", err)
	}
	res.Definition = def
	return res, nil
}

var errTransport = errors.New("request failed")

// sample asks for one answer and, if it is refused, repairs it once.
func (g Generator) sample(ctx context.Context, cfg Config, i int, in builtin.Input, cands []builtin.Candidate, msgs []prompt.Message,
	format json.RawMessage, gen nft.Generator, v validate.Validator) (nft.Definition, []Attempt, error) {
	var attempts []Attempt
	answer, err := g.chat(ctx, cfg, msgs, format, cfg.Seed+i)
	if err != nil {
		return nft.Definition{}, nil, err
	}
	def, verr := g.accept(ctx, in, cands, answer, gen, v)
	attempts = append(attempts, attempt(i, false, answer, verr))
	if verr == nil {
		return def, attempts, nil
	}
	repair := append(slices.Clone(msgs),
		prompt.Message{Role: prompt.RoleAssistant, Content: answer},
		prompt.Message{Role: prompt.RoleUser, Content: "Your answer was refused by the validator:\n" + verr.Error() +
			"\nAnswer again with a corrected JSON object."})
	answer, err = g.chat(ctx, cfg, repair, format, cfg.Seed+i+1000)
	if err != nil {
		if ctx.Err() != nil {
			return nft.Definition{}, attempts, err
		}
		// The model answered once; a failed repair request leaves that
		// answer refused rather than the model unavailable.
		return nft.Definition{}, attempts, fmt.Errorf("%w (repair request failed: %v)", verr, err)
	}
	def, verr = g.accept(ctx, in, cands, answer, gen, v)
	attempts = append(attempts, attempt(i, true, answer, verr))
	return def, attempts, verr
}

func attempt(i int, repair bool, answer string, err error) Attempt {
	a := Attempt{Sample: i, Repair: repair, Answer: answer}
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

// accept turns an answer into a validated definition, or lists everything
// wrong with it.
func (g Generator) accept(ctx context.Context, in builtin.Input, cands []builtin.Candidate, answer string, gen nft.Generator, v validate.Validator) (nft.Definition, error) {
	var spec slo.Spec
	if err := nft.DecodeStrict([]byte(answer), &spec); err != nil {
		return nft.Definition{}, fmt.Errorf("answer does not follow the schema: %w", err)
	}
	var errs []error
	if err := spec.Check(); err != nil {
		errs = append(errs, err)
	}
	if spec.Service != in.Service {
		errs = append(errs, fmt.Errorf("service %q is not %q", spec.Service, in.Service))
	}
	for _, q := range []string{spec.GoodQuery, spec.TotalQuery, spec.ErrorRatioQuery} {
		if q != "" {
			if err := validate.ParseQuery(q); err != nil {
				errs = append(errs, err)
			}
		}
	}
	metrics, err := metricsOf(spec, in)
	if err != nil {
		errs = append(errs, err)
	}
	if err := plausibleObjective(spec, cands); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nft.Definition{}, errors.Join(errs...)
	}
	def, err := slo.Build(spec, slo.Draft{Metrics: metrics, Provenance: in.Provenance(gen), Render: v.Render, Routing: in.Routing, PeriodSLI: in.PeriodSLI})
	if err != nil {
		return nft.Definition{}, err
	}
	return v.Finish(ctx, def)
}

// plausibleObjective refuses an objective the service missed in its
// history, when the answer's SLI is one of the candidates whose history is
// known: such an SLO would be violated from the day it is minted.
func plausibleObjective(spec slo.Spec, cands []builtin.Candidate) error {
	if !(spec.Objective > 0 && spec.Objective < 1) {
		return nil // reported by Check
	}
	for _, c := range cands {
		if !sameQuery(spec.GoodQuery, c.Spec.GoodQuery) || !sameQuery(spec.TotalQuery, c.Spec.TotalQuery) || spec.ErrorRatioQuery != "" {
			continue
		}
		var good, total float64
		for i := range c.Total {
			good += c.Good[i]
			total += c.Total[i]
		}
		if !(total > 0) {
			return nil
		}
		achieved := good / total
		if 1-achieved > nft.ErrorBudget(spec.Objective)*(1+1e-9) {
			return fmt.Errorf("objective %v is above the %.4f%% the SLI achieved over %d days: the SLO would be violated from the start",
				spec.Objective, achieved*100, len(c.Total))
		}
		return nil
	}
	return nil
}

// sameQuery compares queries by their parsed form, so spacing does not
// matter.
func sameQuery(a, b string) bool {
	if a == b {
		return true
	}
	pa, errA := validate.Canonical(a)
	pb, errB := validate.Canonical(b)
	return errA == nil && errB == nil && pa == pb
}

// metricsOf lists the input metrics the spec's queries use, most relevant
// first, refusing any metric the service does not have.
func metricsOf(spec slo.Spec, in builtin.Input) ([]nft.Metric, error) {
	byName := map[string]builtin.Metric{}
	for _, m := range in.Metrics {
		byName[m.Name] = m
	}
	var out []nft.Metric
	var errs []error
	for _, q := range []string{spec.GoodQuery, spec.TotalQuery, spec.ErrorRatioQuery} {
		if q == "" {
			continue
		}
		names, err := validate.MetricNames(q)
		if err != nil {
			continue // reported by ParseQuery
		}
		for _, n := range names {
			m, ok := byName[n]
			if !ok {
				m, ok = byName[validate.HistogramBase(n)]
			}
			if !ok {
				errs = append(errs, fmt.Errorf("metric %q is not one of the service's metrics", n))
				continue
			}
			if !slices.ContainsFunc(out, func(x nft.Metric) bool { return x.Name == m.Name }) {
				out = append(out, nft.Metric{Name: m.Name, Relevance: m.Relevance, Stability: m.Stability})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(out, func(a, b nft.Metric) int {
		switch {
		case a.Relevance > b.Relevance:
			return -1
		case a.Relevance < b.Relevance:
			return 1
		}
		return 0
	})
	return out, nil
}

func knownMetrics(in builtin.Input) []string {
	out := make([]string, 0, len(in.Metrics))
	for _, m := range in.Metrics {
		out = append(out, m.Name)
	}
	return out
}

// vote picks the definition most valid answers agree on (same SLI queries
// and objective); ties go to the earliest sample.
func vote(defs []nft.Definition) (nft.Definition, int) {
	key := func(d nft.Definition) string {
		return strings.Join([]string{d.SLI.GoodQuery, d.SLI.TotalQuery, d.SLI.ErrorRatioQuery,
			fmt.Sprint(d.SLO.Objective)}, "\x00")
	}
	counts := map[string]int{}
	for _, d := range defs {
		counts[key(d)]++
	}
	best, votes := defs[0], 0
	for _, d := range defs {
		if c := counts[key(d)]; c > votes {
			best, votes = d, c
		}
	}
	return best, votes
}

// fallbackReason summarizes why every answer was refused, short enough for
// a token's provenance.
func fallbackReason(attempts []Attempt) string {
	last := attempts[len(attempts)-1].Error
	last = strings.ReplaceAll(last, "\n", "; ")
	if len(last) > 480 {
		last = last[:480] + "..."
	}
	return fmt.Sprintf("%d LLM answers refused by the validator (last: %s)", len(attempts), last)
}

// chat sends one request, retrying transport failures with backoff.
func (g Generator) chat(ctx context.Context, cfg Config, msgs []prompt.Message, format json.RawMessage, seed int) (string, error) {
	temp := cfg.Temperature
	if temp == 0 && cfg.Samples > 1 {
		temp = 0.7
	}
	opts := map[string]any{"temperature": temp, "seed": seed, "num_ctx": cfg.NumCtx, "num_predict": cfg.NumPredict}
	for k, v := range cfg.Options {
		opts[k] = v
	}
	stream := false
	req := &api.ChatRequest{
		Model:    cfg.Model,
		Messages: toAPI(msgs),
		Stream:   &stream,
		Format:   format,
		Options:  opts,
	}
	backoff := cfg.Backoff
	var lastErr error
	for try := 0; try <= cfg.Retries; try++ {
		if try > 0 {
			g.logger().Warn("ollama request failed, retrying", "model", cfg.Model, "try", try, "err", lastErr)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		answer, err := g.chatOnce(ctx, cfg, req)
		if err == nil {
			return answer, nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return "", fmt.Errorf("%w: %w", errTransport, lastErr)
}

func (g Generator) chatOnce(ctx context.Context, cfg Config, req *api.ChatRequest) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var b strings.Builder
	err := g.Client.Chat(ctx, req, func(r api.ChatResponse) error {
		b.WriteString(r.Message.Content)
		return nil
	})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// retryable says whether a failed request may succeed if sent again: not
// when the server refused it (4xx: unknown model, bad request).
func retryable(err error) bool {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= http.StatusInternalServerError
	}
	return true
}

func (g Generator) modelDigest(ctx context.Context, cfg Config) (string, error) {
	var list *api.ListResponse
	var err error
	backoff := cfg.Backoff
	for try := 0; try <= cfg.Retries; try++ {
		lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		list, err = g.Client.List(lctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	if err != nil {
		return "", fmt.Errorf("%w: cannot list models: %w", ErrModelUnavailable, err)
	}
	want := normalize(cfg.Model)
	for _, m := range list.Models {
		if normalize(m.Name) == want || normalize(m.Model) == want {
			d := strings.TrimPrefix(m.Digest, "sha256:")
			if !nft.IsDigest("sha256:" + d) {
				return "", fmt.Errorf("%w: model %s has digest %q", ErrModelUnavailable, cfg.Model, m.Digest)
			}
			return "sha256:" + d, nil
		}
	}
	return "", fmt.Errorf("%w: model %s is not installed on the Ollama server", ErrModelUnavailable, cfg.Model)
}

// normalize adds the implicit ":latest" tag.
func normalize(model string) string {
	if !strings.Contains(model, ":") {
		return model + ":latest"
	}
	return model
}

func toAPI(msgs []prompt.Message) []api.Message {
	out := make([]api.Message, len(msgs))
	for i, m := range msgs {
		out[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.Samples <= 0 {
		c.Samples = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.NumCtx <= 0 {
		c.NumCtx = 8192
	}
	if c.NumPredict <= 0 {
		c.NumPredict = 1024
	}
	if c.Examples == nil {
		c.Examples = prompt.DefaultExamples()
	}
	return c
}

func (g Generator) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.New(slog.DiscardHandler)
}
