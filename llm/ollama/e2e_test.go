package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/internal/ollamatest"
	"github.com/srellama/srellama/llm/ollama"
	"github.com/srellama/srellama/llm/prompt"
	"github.com/srellama/srellama/nft"
)

// chatTemplate renders a conversation for the tiny model, which has no
// template of its own.
const chatTemplate = "{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant: "

// TestEndToEndWithRealOllama runs the generator against a real Ollama
// server on loopback serving a random-weight model. Constrained by the
// schema, the model answers schema-valid JSON whose content is nonsense; the
// validator must refuse it, and the builtin generator must take over and
// say so in the provenance.
func TestEndToEndWithRealOllama(t *testing.T) {
	srv := ollamatest.Start(t)
	srv.CreateTinyModel(t, "srellama-tiny", chatTemplate, "")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	g := ollama.Generator{Client: srv.Client, Config: ollama.Config{
		Model: "srellama-tiny", Timeout: 2 * time.Minute, Retries: 1, Seed: 7, NumCtx: 4096, NumPredict: 600,
		// A random model fills every string to its bound at about ten
		// tokens a second on a busy 2-core machine: short bounds and no
		// few-shot examples keep the test under a minute.
		Examples: []prompt.Example{},
		Limits:   prompt.Limits{Name: 16, Description: 16, Query: 40},
		Options:  map[string]any{"num_thread": 2},
	}}
	start := time.Now()
	res, err := g.Generate(ctx, fixture.AMF())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generation with a repair round took %v", time.Since(start))
	if len(res.Attempts) != 2 {
		t.Fatalf("%d attempts, want an answer and a repair: %+v", len(res.Attempts), res.Attempts)
	}
	required := []string{"name", "description", "service", "kind", "good_query", "total_query", "objective", "period"}
	for _, a := range res.Attempts {
		var obj map[string]any
		if err := json.Unmarshal([]byte(a.Answer), &obj); err != nil {
			t.Fatalf("answer is not JSON despite the schema: %v\n%s", err, a.Answer)
		}
		for _, k := range required {
			if _, ok := obj[k]; !ok {
				t.Errorf("schema-constrained answer lacks %q: %s", k, a.Answer)
			}
		}
		if obj["service"] != "amf" || obj["period"] != "30d" {
			t.Errorf("enum-pinned fields: service %v period %v", obj["service"], obj["period"])
		}
		if _, ok := obj["objective"].(float64); !ok {
			t.Errorf("objective is not a number: %v", obj["objective"])
		}
		if a.Error == "" {
			t.Errorf("the validator accepted a random model's answer: %s", a.Answer)
		}
		t.Logf("answer (repair=%v): %q\n  refused: %q", a.Repair, a.Answer, a.Error)
	}
	// The random queries are not PromQL: the parser must have said so.
	if !strings.Contains(res.Attempts[0].Error, "invalid PromQL") {
		t.Errorf("the refusal does not report the invalid PromQL: %s", res.Attempts[0].Error)
	}
	d := res.Definition
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	gen := d.Provenance.Generator
	if gen.Kind != nft.GeneratorBuiltin || !strings.Contains(gen.FallbackReason, "refused by the validator") {
		t.Errorf("fallback not recorded: %+v", gen)
	}
	if gen.Model != "srellama-tiny" || !nft.IsDigest(gen.ModelDigest) || !nft.IsDigest(gen.PromptDigest) {
		t.Errorf("model provenance = %+v", gen)
	}

	// A model that is not installed is a clear error, with nothing generated.
	missing := g
	missing.Config.Model = "no-such-model"
	res, err = missing.Generate(ctx, fixture.AMF())
	if !errors.Is(err, ollama.ErrModelUnavailable) || res.Definition.Name != "" {
		t.Errorf("missing model: err = %v, definition %q", err, res.Definition.Name)
	}
}
