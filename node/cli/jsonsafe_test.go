package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/demo"
)

// The demo's result with the figures an empty history leaves undefined:
// writeJSON encodes it, with null and a note for each, and leaves the rest
// as encoding/json writes it.
func TestWriteJSONEncodesNonFiniteFigures(t *testing.T) {
	sum := demo.Summary{
		Round: records.Round{RoundSpec: records.RoundSpec{ID: "demo-round-1", Services: []string{"amf"}}, Ranking: []records.ServiceRanking{{Service: "amf", Metrics: []nft.Metric{{Name: "x", Relevance: math.NaN()}}}}},
		Backtests: []demo.Backtest{{Service: "amf", Org: "Org1MSP", Report: backtest.Report{
			Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute,
			ErrorRatio: math.NaN(), BudgetSpent: math.Inf(1), PageBurn: 0.02,
		}}},
		Rejections: []records.Decision{{MSPID: "Org2MSP", Reason: "regresses", Figures: map[string]float64{"recall": math.Inf(-1), "precision": 1}}},
		Elapsed:    time.Second,
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, sum); err != nil {
		t.Fatalf("writeJSON: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, buf.String())
	}
	report := got["backtests"].([]any)[0].(map[string]any)["report"].(map[string]any)
	for field, want := range map[string]string{"error_ratio": "NaN", "budget_spent": "+Inf"} {
		if v, ok := report[field]; !ok || v != nil {
			t.Errorf("%s = %v, want null", field, v)
		}
		if note, _ := report[field+"_note"].(string); !strings.HasPrefix(note, want+":") {
			t.Errorf("%s_note = %q, want it to start with %q", field, note, want)
		}
	}
	if report["page_burn"] != 0.02 || report["start"] != "2026-03-01T00:00:00Z" || report["step"] != float64(time.Minute) {
		t.Errorf("finite fields changed: %v", report)
	}
	rejection := got["rejections"].([]any)[0].(map[string]any)
	figures := rejection["figures"].(map[string]any)
	if v, ok := figures["recall"]; !ok || v != nil || figures["precision"] != 1.0 || len(figures) != 2 {
		t.Errorf("figures %v", figures)
	}
	if note, _ := rejection["figures_note"].(string); !strings.HasPrefix(note, "recall: -Inf:") {
		t.Errorf("figures_note = %q", note)
	}
	metric := got["round"].(map[string]any)["ranking"].([]any)[0].(map[string]any)["metrics"].([]any)[0].(map[string]any)
	if metric["relevance"] != nil || !strings.HasPrefix(metric["relevance_note"].(string), "NaN:") {
		t.Errorf("ranking metric %v", metric)
	}
	// The output still decodes into the command's own type.
	var back demo.Summary
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Backtests[0].Report.PageBurn != 0.02 || back.Elapsed != time.Second {
		t.Errorf("decoding back: %v %+v", err, back)
	}
}

// Finite values encode byte for byte as encoding/json encodes them, and the
// walk that replaces non-finite ones follows its rules for names, omitted
// fields, embedded structs, maps and lists.
func TestFiniteCopyMatchesEncodingJSON(t *testing.T) {
	type Inner struct {
		A float64 `json:"a"`
		B string  `json:"b,omitempty"`
	}
	type outer struct {
		Inner
		Named  Inner              `json:"named"`
		Ptr    *Inner             `json:"ptr,omitempty"`
		Skip   int                `json:"-"`
		List   []float64          `json:"list"`
		Map    map[int]float64    `json:"map"`
		Bytes  []byte             `json:"bytes"`
		When   time.Time          `json:"when"`
		Zero   time.Time          `json:"zero,omitzero"`
		Raw    json.RawMessage    `json:"raw"`
		Any    any                `json:"any"`
		Nested map[string][]Inner `json:"nested"`
		hidden int
		Plain  int
		Quoted int `json:"quoted,string"`
	}
	v := outer{Inner: Inner{A: 1}, Named: Inner{A: 2, B: "x"}, List: []float64{1, 2.5}, Map: map[int]float64{2: 1, 10: 3},
		Bytes: []byte("hi"), When: time.Unix(0, 0).UTC(), Raw: json.RawMessage(`{"k":1}`), Any: []string{"s"},
		Nested: map[string][]Inner{"n": {{A: 3}}}, hidden: 1, Plain: 4, Quoted: 5}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	safe, note, err := finite(reflectValue(v))
	if err != nil || note != "" {
		t.Fatal(note, err)
	}
	got, err := json.Marshal(safe)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("finite copy\n got %s\nwant %s", got, want)
	}
	v.List[1], v.Named.A = math.NaN(), math.Inf(1)
	raw, err := marshalFinite(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"list":[1,null]`, `"list_note":"[1] NaN: `, `"named":{"a":null,"a_note":"+Inf: `} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("output lacks %s:\n%s", s, raw)
		}
	}
}

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }
