package tinygguf_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ollama/ollama/fs/ggml"

	"github.com/srellama/srellama/llm/internal/tinygguf"
)

func TestModelReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := tinygguf.Write(path, 1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := ggml.Decode(f, -1)
	if err != nil {
		t.Fatal(err)
	}
	kv := g.KV()
	if kv.Architecture() != "llama" || kv.BlockCount() != 1 || len(kv.Strings("tokenizer.ggml.tokens")) != 259 {
		t.Errorf("kv: arch %s blocks %d tokens %d", kv.Architecture(), kv.BlockCount(), len(kv.Strings("tokenizer.ggml.tokens")))
	}
	if n := len(g.Tensors().Items()); n != 12 {
		t.Errorf("%d tensors, want 12", n)
	}
	tokens := kv.Strings("tokenizer.ggml.tokens")
	if tokens[' '] != "Ġ" || tokens['a'] != "a" || tokens['\n'] != "Ċ" {
		t.Errorf("byte tokens: space %q a %q newline %q", tokens[' '], tokens['a'], tokens['\n'])
	}
}
