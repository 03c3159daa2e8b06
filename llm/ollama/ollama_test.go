package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/ollama"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

const digest = "359d4f2495316c03f3ff569a497cf457c9d651c560e73fbeeb39ec78149d21f0"

// fakeClient answers chats from a script, one entry per request; an entry
// that is an error is returned as the request's failure.
type fakeClient struct {
	mu       sync.Mutex
	script   []any
	requests []*api.ChatRequest
	models   []string
}

func (f *fakeClient) Chat(ctx context.Context, req *api.ChatRequest, fn api.ChatResponseFunc) error {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	if len(f.script) == 0 {
		f.mu.Unlock()
		return errors.New("script exhausted")
	}
	next := f.script[0]
	f.script = f.script[1:]
	f.mu.Unlock()
	switch v := next.(type) {
	case error:
		return v
	case time.Duration:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(v):
			return errors.New("slow answer arrived too late")
		}
	default:
		return fn(api.ChatResponse{Message: api.Message{Role: "assistant", Content: v.(string)}, Done: true})
	}
}

func (f *fakeClient) List(context.Context) (*api.ListResponse, error) {
	var out api.ListResponse
	for _, m := range f.models {
		out.Models = append(out.Models, api.ListModelResponse{Name: m, Model: m, Digest: digest})
	}
	return &out, nil
}

func answer(t *testing.T, mutate func(*slo.Spec)) string {
	t.Helper()
	s := slo.Spec{
		Name: "reginit-success", Description: "Initial registrations that succeed.", Service: "amf", Kind: nft.KindRatio,
		GoodQuery:  `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
		TotalQuery: `sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`,
		Objective:  0.999, Period: "30d",
	}
	if mutate != nil {
		mutate(&s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func generator(c *fakeClient, cfg ollama.Config) ollama.Generator {
	if cfg.Model == "" {
		cfg.Model = "slo"
	}
	cfg.Backoff = time.Millisecond
	return ollama.Generator{Client: c, Config: cfg}
}

func TestValidAnswerIsAccepted(t *testing.T) {
	c := &fakeClient{models: []string{"slo:latest"}, script: []any{answer(t, nil)}}
	res, err := generator(c, ollama.Config{}).Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	d := res.Definition
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	g := d.Provenance.Generator
	if g.Kind != nft.GeneratorLLM || g.Model != "slo" || g.ModelDigest != "sha256:"+digest || !nft.IsDigest(g.PromptDigest) || g.FallbackReason != "" {
		t.Errorf("generator provenance = %+v", g)
	}
	if d.SLO.Objective != 0.999 || d.Name != "reginit-success" || len(d.SLI.Metrics) != 2 || d.SLI.Metrics[0].Name != "fivegs_amffunction_rm_reginitsucc" {
		t.Errorf("definition = %s %v metrics %+v", d.Name, d.SLO.Objective, d.SLI.Metrics)
	}
	req := c.requests[0]
	if !strings.Contains(string(req.Format), `"enum":["amf"]`) || req.Messages[0].Role != "system" {
		t.Errorf("request lacks the schema or the system prompt: format %s", req.Format)
	}
	if last := req.Messages[len(req.Messages)-1].Content; !strings.Contains(last, "fivegs_amffunction_rm_reginitsucc") || !strings.Contains(last, "achieved") {
		t.Errorf("prompt lacks the evidence:\n%s", last)
	}
}

func TestInvalidAnswerIsRepairedOnce(t *testing.T) {
	bad := answer(t, func(s *slo.Spec) { s.GoodQuery = `sum(rate(fivegs_amffunction_rm_reginitsucc[{{.window}}])` })
	c := &fakeClient{models: []string{"slo:latest"}, script: []any{bad, answer(t, nil)}}
	res, err := generator(c, ollama.Config{}).Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	if res.Definition.Provenance.Generator.Kind != nft.GeneratorLLM {
		t.Errorf("repaired answer not accepted: %+v", res.Definition.Provenance.Generator)
	}
	if len(res.Attempts) != 2 || !strings.Contains(res.Attempts[0].Error, "invalid PromQL") || !res.Attempts[1].Repair {
		t.Errorf("attempts = %+v", res.Attempts)
	}
	repair := c.requests[1].Messages
	if got := repair[len(repair)-1].Content; !strings.Contains(got, "invalid PromQL") {
		t.Errorf("repair round does not carry the validator's errors: %q", got)
	}
}

func TestRefusedAnswersFallBackToBuiltin(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		want   string
	}{
		{"invalid PromQL", answer(t, func(s *slo.Spec) { s.TotalQuery = "sum(rate(x[{{.window}}]" }), "invalid PromQL"},
		{"invented metric", answer(t, func(s *slo.Spec) {
			s.GoodQuery = `sum(rate(amf_magic_total[{{.window}}]))`
		}), "not one of the service's metrics"},
		{"objective outside (0,1)", answer(t, func(s *slo.Spec) { s.Objective = 99.9 }), "outside (0,1)"},
		{"objective the history missed", answer(t, func(s *slo.Spec) {
			s.Objective = 0.99999
			s.GoodQuery = "sum(rate(fivegs_amffunction_rm_reginitsucc{service=\"amf\"}[ {{.window}} ]))"
		}), "above the 99.9769% the SLI achieved"},
		{"unknown period", answer(t, func(s *slo.Spec) { s.Period = "1month" }), "unknown period"},
		{"query ignores the window", answer(t, func(s *slo.Spec) {
			s.GoodQuery = `sum(rate(fivegs_amffunction_rm_reginitsucc[5m]))`
		}), "sli-window"},
		{"not JSON", `{"name": "x"`, "does not follow the schema"},
		{"unknown field", `{"name":"x","colour":"red"}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClient{models: []string{"slo:latest"}, script: []any{tt.answer, tt.answer}}
			res, err := generator(c, ollama.Config{}).Generate(context.Background(), fixture.AMF())
			if err != nil {
				t.Fatal(err)
			}
			g := res.Definition.Provenance.Generator
			if g.Kind != nft.GeneratorBuiltin || !strings.Contains(g.FallbackReason, tt.want) || g.Model != "slo" {
				t.Errorf("generator = %+v, want a builtin fallback whose reason mentions %q", g, tt.want)
			}
			if err := nft.ValidateDefinition(res.Definition); err != nil {
				t.Error(err)
			}
			if len(res.Attempts) != 2 {
				t.Errorf("%d attempts, want the answer and one repair", len(res.Attempts))
			}
		})
	}
}

func TestVoteOnSamples(t *testing.T) {
	other := answer(t, func(s *slo.Spec) { s.Objective = 0.99 })
	c := &fakeClient{models: []string{"slo:latest"}, script: []any{other, answer(t, nil), answer(t, nil)}}
	res, err := generator(c, ollama.Config{Samples: 3}).Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	if res.Definition.SLO.Objective != 0.999 || res.Votes != 2 {
		t.Errorf("objective %v with %d votes, want 0.999 with 2", res.Definition.SLO.Objective, res.Votes)
	}
	if temp := c.requests[0].Options["temperature"]; temp != 0.7 {
		t.Errorf("sampling temperature = %v, want 0.7 for several samples", temp)
	}
	if c.requests[0].Options["seed"] == c.requests[1].Options["seed"] {
		t.Error("samples share a seed")
	}
}

func TestUnavailableModel(t *testing.T) {
	tests := []struct {
		name   string
		client *fakeClient
		cfg    ollama.Config
		want   string
	}{
		{"not installed", &fakeClient{models: []string{"other:latest"}}, ollama.Config{}, "not installed"},
		{"refuses requests", &fakeClient{models: []string{"slo:latest"},
			script: []any{api.StatusError{StatusCode: http.StatusNotFound, ErrorMessage: "model not found"}}}, ollama.Config{}, "did not answer"},
		{"times out", &fakeClient{models: []string{"slo:latest"}, script: []any{time.Minute, time.Minute}},
			ollama.Config{Timeout: 20 * time.Millisecond, Retries: 1}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := generator(tt.client, tt.cfg).Generate(context.Background(), fixture.AMF())
			if !errors.Is(err, ollama.ErrModelUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrModelUnavailable mentioning %q", err, tt.want)
			}
			if res.Definition.Name != "" {
				t.Error("a failed generation returned a definition")
			}
		})
	}
}

func TestRetriesTransportFailures(t *testing.T) {
	c := &fakeClient{models: []string{"slo:latest"}, script: []any{errors.New("connection reset"), answer(t, nil)}}
	res, err := generator(c, ollama.Config{Retries: 2}).Generate(context.Background(), fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	if res.Definition.Provenance.Generator.Kind != nft.GeneratorLLM || len(c.requests) != 2 {
		t.Errorf("kind %s after %d requests", res.Definition.Provenance.Generator.Kind, len(c.requests))
	}
}

func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &fakeClient{models: []string{"slo:latest"}, script: []any{time.Minute}}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := generator(c, ollama.Config{Retries: 3}).Generate(ctx, fixture.AMF())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNoUsableMetric(t *testing.T) {
	in := fixture.AMF()
	in.Metrics = in.Metrics[4:]
	c := &fakeClient{models: []string{"slo:latest"}}
	_, err := generator(c, ollama.Config{}).Generate(context.Background(), in)
	if !errors.Is(err, builtin.ErrNoUsableMetric) || len(c.requests) != 0 {
		t.Fatalf("err = %v after %d requests, want ErrNoUsableMetric before asking the model", err, len(c.requests))
	}
}
