// Package finetune exports approved SLOs as a chat-format JSONL dataset for
// QLoRA fine-tuning (one conversation per line: system prompt, evidence,
// the approved spec as the assistant's answer) and writes the Ollama
// Modelfile that puts the trained adapter on a base model.
//
// The prompts are package prompt's, exactly those the Ollama generator
// sends, so the model is trained on what it will be asked.
package finetune

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/prompt"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/nft"
)

// Pair is one training example: the evidence an approved definition was
// generated from, and the definition.
type Pair struct {
	Input      builtin.Input
	Definition nft.Definition
}

// Record is one JSONL line.
type Record struct {
	Messages []prompt.Message `json:"messages"`
}

// RecordOf returns the conversation that teaches the model pair's answer.
// The definition must be valid: only approved, validated SLOs become
// training data. The few-shot examples are left out: the fine-tuned model
// learns the task itself, and its prompts are shorter for it.
func RecordOf(p Pair) (Record, error) {
	if err := nft.ValidateDefinition(p.Definition); err != nil {
		return Record{}, fmt.Errorf("pair %s: %w", p.Definition.Name, err)
	}
	if p.Input.Service != p.Definition.SLI.Service {
		return Record{}, fmt.Errorf("pair %s: evidence is for %q, the definition for %q", p.Definition.Name, p.Input.Service, p.Definition.SLI.Service)
	}
	cands, err := builtin.Candidates(p.Input, builtin.Options{})
	if err != nil {
		return Record{}, fmt.Errorf("pair %s: %w", p.Definition.Name, err)
	}
	answer, err := json.Marshal(slo.SpecOf(p.Definition))
	if err != nil {
		return Record{}, fmt.Errorf("pair %s: %w", p.Definition.Name, err)
	}
	msgs := prompt.Messages(p.Input, cands, []prompt.Example{})
	msgs = append(msgs, prompt.Message{Role: prompt.RoleAssistant, Content: string(answer)})
	return Record{Messages: msgs}, nil
}

// WriteJSONL writes the dataset. Every pair is checked before the first
// byte is written, so a bad pair leaves w untouched.
func WriteJSONL(w io.Writer, pairs []Pair) error {
	if len(pairs) == 0 {
		return errors.New("finetune: no pairs")
	}
	lines := make([][]byte, 0, len(pairs))
	for _, p := range pairs {
		r, err := RecordOf(p)
		if err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		lines = append(lines, b)
	}
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		bw.Write(l)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ModelfileParams fill the Modelfile template.
type ModelfileParams struct {
	// Base is the base model, e.g. "llama3:8b" or a GGUF path.
	Base string
	// Adapter is the path of the trained LoRA adapter (GGUF or
	// safetensors directory), relative to the Modelfile.
	Adapter string
	// System is the system prompt; prompt.System when empty.
	System string
	// Temperature for inference; 0 when zero (deterministic answers).
	Temperature float64
	// NumCtx is the context length; 8192 when zero.
	NumCtx int
}

var modelfile = template.Must(template.New("Modelfile").Funcs(template.FuncMap{"quote": quoteTriple}).Parse(
	`# SRE-Llama SLO model: {{.Base}} with a QLoRA adapter trained on approved SLOs.
# Create it with: ollama create srellama-slo -f Modelfile
FROM {{.Base}}
ADAPTER {{.Adapter}}
PARAMETER temperature {{.Temperature}}
PARAMETER num_ctx {{.NumCtx}}
SYSTEM {{quote .System}}
`))

// Modelfile returns an Ollama Modelfile adding the adapter and the system
// prompt to the base model.
func Modelfile(p ModelfileParams) (string, error) {
	switch {
	case strings.TrimSpace(p.Base) == "" || strings.ContainsAny(p.Base, "\n\r"):
		return "", errors.New("modelfile: base model is empty or spans lines")
	case strings.TrimSpace(p.Adapter) == "" || strings.ContainsAny(p.Adapter, "\n\r"):
		return "", errors.New("modelfile: adapter path is empty or spans lines")
	case p.Temperature < 0:
		return "", fmt.Errorf("modelfile: negative temperature %v", p.Temperature)
	}
	if p.System == "" {
		p.System = prompt.System
	}
	if strings.Contains(p.System, `"""`) {
		return "", errors.New(`modelfile: the system prompt cannot contain """`)
	}
	if p.NumCtx == 0 {
		p.NumCtx = 8192
	}
	var b strings.Builder
	if err := modelfile.Execute(&b, struct {
		ModelfileParams
		Temperature string
	}{p, strconv.FormatFloat(p.Temperature, 'g', -1, 64)}); err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	return b.String(), nil
}

func quoteTriple(s string) string { return `"""` + s + `"""` }
