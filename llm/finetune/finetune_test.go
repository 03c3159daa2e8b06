package finetune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/finetune"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/prompt"
	"github.com/srellama/srellama/llm/slo"
)

func pair(t *testing.T) finetune.Pair {
	t.Helper()
	in := fixture.AMF()
	d, err := builtin.Generator{}.Generate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return finetune.Pair{Input: in, Definition: d}
}

func TestJSONLIsChatFormat(t *testing.T) {
	p := pair(t)
	var buf bytes.Buffer
	if err := finetune.WriteJSONL(&buf, []finetune.Pair{p, p}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var r finetune.Record
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	roles := []string{}
	for _, m := range r.Messages {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,user,assistant" {
		t.Errorf("roles %v, want system,user,assistant", roles)
	}
	if r.Messages[0].Content != prompt.System || !strings.Contains(r.Messages[1].Content, "Service: amf") {
		t.Errorf("prompt differs from the generator's")
	}
	var answer slo.Spec
	if err := json.Unmarshal([]byte(r.Messages[2].Content), &answer); err != nil {
		t.Fatal(err)
	}
	if answer != slo.SpecOf(p.Definition) {
		t.Errorf("answer %+v is not the approved spec", answer)
	}
}

func TestBadPairsWriteNothing(t *testing.T) {
	good := pair(t)
	unvalidated := pair(t)
	unvalidated.Definition.Provenance.Validation = nil
	otherService := pair(t)
	otherService.Input.Service = "smf"
	for name, pairs := range map[string][]finetune.Pair{
		"none": nil, "unvalidated": {good, unvalidated}, "other service": {good, otherService},
	} {
		var buf bytes.Buffer
		if err := finetune.WriteJSONL(&buf, pairs); err == nil || buf.Len() != 0 {
			t.Errorf("%s: err %v, %d bytes written", name, err, buf.Len())
		}
	}
}

func TestModelfile(t *testing.T) {
	got, err := finetune.Modelfile(finetune.ModelfileParams{Base: "llama3:8b", Adapter: "./adapter.gguf"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM llama3:8b\n", "ADAPTER ./adapter.gguf\n", "PARAMETER temperature 0\n",
		"PARAMETER num_ctx 8192\n", `SYSTEM """` + prompt.System + `"""`} {
		if !strings.Contains(got, want) {
			t.Errorf("Modelfile lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []finetune.ModelfileParams{
		{Adapter: "a"}, {Base: "b"}, {Base: "b\nFROM evil", Adapter: "a"}, {Base: "b", Adapter: "a", System: `x"""y`},
	} {
		if _, err := finetune.Modelfile(bad); err == nil {
			t.Errorf("Modelfile accepted %+v", bad)
		}
	}
}
