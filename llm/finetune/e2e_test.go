package finetune_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/srellama/srellama/llm/finetune"
	"github.com/srellama/srellama/llm/internal/ollamatest"
	"github.com/srellama/srellama/llm/internal/tinygguf"
	"github.com/srellama/srellama/llm/prompt"
)

// TestModelfileCreatesAModelWithTheAdapter feeds the generated Modelfile to
// a real `ollama create`, with a random base model and a random LoRA
// adapter, and checks the model serves schema-constrained answers with the
// system prompt set.
func TestModelfileCreatesAModelWithTheAdapter(t *testing.T) {
	srv := ollamatest.Start(t)
	dir := t.TempDir()
	if err := tinygguf.Write(filepath.Join(dir, "base.gguf"), 3); err != nil {
		t.Fatal(err)
	}
	if err := tinygguf.WriteAdapter(filepath.Join(dir, "adapter.gguf"), 4); err != nil {
		t.Fatal(err)
	}
	mf, err := finetune.Modelfile(finetune.ModelfileParams{Base: "./base.gguf", Adapter: "./adapter.gguf", NumCtx: 4096})
	if err != nil {
		t.Fatal(err)
	}
	// The tiny model has no chat template of its own.
	mf += "TEMPLATE \"\"\"{{ if .System }}system: {{ .System }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant: \"\"\"\n"
	if err := os.WriteFile(filepath.Join(dir, "Modelfile"), []byte(mf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := srv.CLI(ctx, dir, "create", "srellama-slo", "-f", "Modelfile"); err != nil {
		t.Fatalf("ollama create: %v\n%s", err, out)
	}
	show, err := srv.Client.Show(ctx, &api.ShowRequest{Model: "srellama-slo"})
	if err != nil {
		t.Fatal(err)
	}
	if show.System != prompt.System || !strings.Contains(show.Modelfile, "ADAPTER") {
		t.Errorf("created model lacks the system prompt or the adapter:\n%s", show.Modelfile)
	}
	stream := false
	var answer string
	err = srv.Client.Chat(ctx, &api.ChatRequest{
		Model: "srellama-slo", Stream: &stream,
		Format:   json.RawMessage(`{"type":"object","properties":{"objective":{"type":"number"}},"required":["objective"]}`),
		Messages: []api.Message{{Role: "user", Content: "objective?"}},
		Options:  map[string]any{"seed": 1, "num_predict": 64, "num_thread": 2},
	}, func(r api.ChatResponse) error { answer += r.Message.Content; return nil })
	if err != nil {
		t.Fatalf("the model with the adapter does not answer: %v", err)
	}
	t.Logf("answer: %q", answer)
	var obj map[string]any
	if err := json.Unmarshal([]byte(answer), &obj); err != nil {
		t.Errorf("answer %q is not JSON: %v", answer, err)
	}
}
