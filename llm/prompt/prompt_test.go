package prompt_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
	"github.com/srellama/srellama/llm/prompt"
)

func TestSchemaPinsServiceAndPeriod(t *testing.T) {
	var s struct {
		Type       string                    `json:"type"`
		Required   []string                  `json:"required"`
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(prompt.Schema("amf", "30d", prompt.Limits{Query: 99}), &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "object" || len(s.Required) != 8 {
		t.Errorf("schema type %q required %v", s.Type, s.Required)
	}
	if got := s.Properties["service"]["enum"]; len(got.([]any)) != 1 || got.([]any)[0] != "amf" {
		t.Errorf("service enum %v", got)
	}
	if got := s.Properties["period"]["enum"].([]any); got[0] != "30d" {
		t.Errorf("period enum %v", got)
	}
	if s.Properties["good_query"]["maxLength"] != 99.0 || s.Properties["name"]["maxLength"] != float64(prompt.DefaultLimits.Name) {
		t.Errorf("limits not applied: %v %v", s.Properties["good_query"], s.Properties["name"])
	}
}

func TestMessagesCarryEvidenceAndExamples(t *testing.T) {
	in := fixture.AMF()
	cands, err := builtin.Candidates(in, builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := prompt.Messages(in, cands, prompt.DefaultExamples())
	if len(msgs) != 1+2*len(prompt.DefaultExamples())+1 || msgs[0].Role != prompt.RoleSystem {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, ex := range prompt.DefaultExamples() {
		var answer map[string]any
		if err := json.Unmarshal([]byte(msgs[2+2*i].Content), &answer); err != nil || answer["service"] != ex.Input.Service {
			t.Errorf("example %d answer %q: %v", i, msgs[2+2*i].Content, err)
		}
	}
	ev := msgs[len(msgs)-1].Content
	first := strings.Index(ev, "fivegs_amffunction_rm_reginitsucc{")
	second := strings.Index(ev, "fivegs_amffunction_rm_reginitreq{")
	if first < 0 || second < 0 || first > second {
		t.Errorf("metrics not listed by relevance:\n%s", ev)
	}
	for _, want := range []string{"Service: amf", "Period: 30d", `le=0.1,0.5,1`, "achieved 99.9769%", "threshold 0.5s"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
}
