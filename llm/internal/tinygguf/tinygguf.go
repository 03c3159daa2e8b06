// Package tinygguf writes a tiny llama model with random weights as a GGUF
// file, with Ollama's own GGUF writer. Its vocabulary is the 256 bytes (GPT-2
// byte-level tokens) plus BOS and EOS, so a grammar can make it spell any
// JSON: the end-to-end tests use it to exercise a real Ollama server, with
// schema-constrained output, without downloading weights.
package tinygguf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/ollama/ollama/fs/ggml"
)

// Shape of the model: big enough to run, small enough to write in
// milliseconds.
const (
	embedding   = 32
	heads       = 4
	feedForward = 64
	blocks      = 1
	ContextLen  = 16384
)

// Write writes the model to path, with weights drawn from seed.
func Write(path string, seed uint64) error {
	tokens, types := vocabulary()
	kv := ggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "srellama-tiny-random",
		"general.file_type":                      uint32(0), // all F32
		"general.alignment":                      uint32(32),
		"llama.context_length":                   uint32(ContextLen),
		"llama.embedding_length":                 uint32(embedding),
		"llama.block_count":                      uint32(blocks),
		"llama.feed_forward_length":              uint32(feedForward),
		"llama.attention.head_count":             uint32(heads),
		"llama.attention.head_count_kv":          uint32(heads),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.dimension_count":             uint32(embedding / heads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.vocab_size":                       uint32(len(tokens)),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "default",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.merges":                  []string{"Ġ t"},
		"tokenizer.ggml.bos_token_id":            uint32(len(tokens) - 2),
		"tokenizer.ggml.eos_token_id":            uint32(len(tokens) - 1),
		"tokenizer.ggml.add_bos_token":           true,
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := uint64(len(tokens))
	var ts []*ggml.Tensor
	add := func(name string, fill func() float32, shape ...uint64) {
		count := uint64(1)
		for _, s := range shape {
			count *= s
		}
		values := make([]float32, count)
		for i := range values {
			values[i] = fill()
		}
		ts = append(ts, &ggml.Tensor{Name: name, Kind: 0, Shape: shape, WriterTo: f32s(values)})
	}
	random := func() float32 { return float32(rng.NormFloat64() * 0.05) }
	one := func() float32 { return 1 }
	add("token_embd.weight", random, embedding, n)
	add("output_norm.weight", one, embedding)
	add("output.weight", random, embedding, n)
	for b := range blocks {
		p := fmt.Sprintf("blk.%d.", b)
		add(p+"attn_norm.weight", one, embedding)
		add(p+"attn_q.weight", random, embedding, embedding)
		add(p+"attn_k.weight", random, embedding, embedding)
		add(p+"attn_v.weight", random, embedding, embedding)
		add(p+"attn_output.weight", random, embedding, embedding)
		add(p+"ffn_norm.weight", one, embedding)
		add(p+"ffn_gate.weight", random, embedding, feedForward)
		add(p+"ffn_up.weight", random, embedding, feedForward)
		add(p+"ffn_down.weight", random, feedForward, embedding)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("tiny model: %w", err)
	}
	if err := ggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return fmt.Errorf("tiny model: %w", err)
	}
	return f.Close()
}

// vocabulary returns GPT-2's byte-level tokens for all 256 bytes, one merge
// product, and BOS/EOS.
func vocabulary() ([]string, []int32) {
	var tokens []string
	var types []int32
	for b := range 256 {
		tokens = append(tokens, string(byteRune(byte(b))))
		types = append(types, 1) // normal
	}
	tokens = append(tokens, "Ġt", "<|begin|>", "<|end|>")
	types = append(types, 1, 3, 3) // normal, control, control
	return tokens, types
}

// byteRune is GPT-2's reversible byte-to-character mapping: printable
// Latin-1 bytes stand for themselves, the others are shifted past 255.
func byteRune(b byte) rune {
	printable := func(c byte) bool {
		return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE)
	}
	if printable(b) {
		return rune(b)
	}
	shift := 0
	for c := 0; c < int(b); c++ {
		if !printable(byte(c)) {
			shift++
		}
	}
	return rune(256 + shift)
}

type f32s []float32

func (v f32s) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	n, err := w.Write(buf)
	return int64(n), err
}

// Rank of the LoRA adapter WriteAdapter writes.
const Rank = 4

// WriteAdapter writes a LoRA adapter for the model Write writes: random
// low-rank updates of every attention projection, as a GGUF adapter file
// (the form Ollama's ADAPTER takes).
func WriteAdapter(path string, seed uint64) error {
	kv := ggml.KV{
		"general.architecture": "llama",
		"general.type":         "adapter",
		"general.name":         "srellama-tiny-adapter",
		"general.file_type":    uint32(0),
		"general.alignment":    uint32(32),
		"adapter.type":         "lora",
		"adapter.lora.alpha":   float32(2 * Rank),
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var ts []*ggml.Tensor
	for b := range blocks {
		for _, proj := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
			for _, part := range []struct {
				suffix string
				shape  []uint64
			}{{"lora_a", []uint64{embedding, Rank}}, {"lora_b", []uint64{Rank, embedding}}} {
				values := make([]float32, part.shape[0]*part.shape[1])
				for i := range values {
					values[i] = float32(rng.NormFloat64() * 0.01)
				}
				ts = append(ts, &ggml.Tensor{Name: fmt.Sprintf("blk.%d.%s.weight.%s", b, proj, part.suffix),
					Kind: 0, Shape: part.shape, WriterTo: f32s(values)})
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("tiny adapter: %w", err)
	}
	if err := ggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return fmt.Errorf("tiny adapter: %w", err)
	}
	return f.Close()
}
