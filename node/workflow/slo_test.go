package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/backtest"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/workflow"
)

// evidence is one organization's AMF: registration requests and successes
// over 14 days, succeeding at the given rate.
func evidence(successRate float64) workflow.Evidence {
	return func(_ context.Context, service string) (builtin.Input, error) {
		if service != "amf" {
			return builtin.Input{}, fmt.Errorf("%w: %s", source.ErrUnknownService, service)
		}
		var req, succ []float64
		for range 14 {
			req = append(req, 100000)
			succ = append(succ, 100000*successRate)
		}
		sel := map[string]string{"service": "amf"}
		return builtin.Input{Service: "amf", Metrics: []builtin.Metric{
			{Name: "fivegs_amffunction_rm_reginitreq", Type: builtin.Counter, Selector: sel, Daily: req},
			{Name: "fivegs_amffunction_rm_reginitsucc", Type: builtin.Counter, Selector: sel, Daily: succ},
		}}, nil
	}
}

func request() records.GenerationRequest {
	return records.GenerationRequest{
		ID: "round-1.amf", Service: "amf", RoundID: "round-1", GlobalModelDigest: nft.DigestBytes([]byte("m")),
		Contributors: []string{"Org1MSP", "Org2MSP"}, Status: records.RequestOpen,
		SLIs: []nft.Metric{{Name: `fivegs_amffunction_rm_reginitreq{service="amf"}`, Relevance: 0.9, Stability: 1}},
	}
}

func TestSLOGeneratorAnswersTheRequest(t *testing.T) {
	g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995)}
	gen, err := g.Generate(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	def := gen.Definition
	if gen.Figures["history_days"] != 14 || gen.Figures["achieved"] < 0.9994 {
		t.Fatalf("the proposer's figures %v do not state its history", gen.Figures)
	}
	if err := nft.ValidateDefinition(def); err != nil {
		t.Fatal(err)
	}
	p := def.Provenance
	if p.Proposer != "Org1MSP" || p.GenerationRequestID != "round-1.amf" || p.RoundID != "round-1" || len(p.Contributors) != 2 {
		t.Fatalf("provenance does not answer the request: %+v", p)
	}
	carried := false
	for _, m := range def.SLI.Metrics {
		carried = carried || (m.Name == "fivegs_amffunction_rm_reginitreq" && m.Relevance == 0.9)
	}
	if !carried {
		t.Fatalf("the federated relevance was not carried: %+v", def.SLI.Metrics)
	}
	if _, err := g.Generate(context.Background(), records.GenerationRequest{ID: "x", Service: "upf"}); err == nil {
		t.Fatal("generated for a service this organization does not run")
	}
}

func generated(t *testing.T) nft.Definition {
	t.Helper()
	gen, err := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: evidence(0.9995)}.Generate(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	return gen.Definition
}

func TestOwnDataReviewer(t *testing.T) {
	def := generated(t)
	broken := def
	broken.SLI.GoodQuery = `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}])) by (`
	// Another member's scrape labels and label order: the reviewer maps
	// the SLI by metric name, not by query text.
	foreign := def
	foreign.SLI.GoodQuery = `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf",instance="10.0.0.7:9090",job="amf"}[{{.window}}]))`
	foreign = rerender(t, foreign)
	otherMetric := def
	otherMetric.SLI.GoodQuery = `sum(rate(fivegs_amffunction_rm_regothersucc{service="amf"}[{{.window}}]))`
	otherMetric.SLI.Metrics = []nft.Metric{{Name: "fivegs_amffunction_rm_regothersucc"}, {Name: "fivegs_amffunction_rm_reginitreq"}}
	otherMetric = rerender(t, otherMetric)
	fewDays := func(ctx context.Context, service string) (builtin.Input, error) {
		return builtin.Input{}, &source.NotEnoughHistoryError{What: "evidence for amf", Needed: 24 * time.Hour, Present: 37 * time.Minute}
	}
	tests := []struct {
		name     string
		evidence workflow.Evidence
		def      nft.Definition
		verdict  records.Verdict
		reason   string
		figure   string
	}{
		{"our data meets the objective", evidence(0.9999), def, records.VerdictApprove, "achieved 99.9900%", "achieved"},
		{"scrape labels do not matter", evidence(0.9999), foreign, records.VerdictApprove, "", "history_days"},
		{"our data falls short", evidence(0.99), def, records.VerdictReject, "below the proposed objective", "achieved"},
		{"we do not run the service", runsNothing, def, records.VerdictAbstain, "we do not run amf", ""},
		{"we lack the metric", evidence(0.9999), otherMetric, records.VerdictAbstain, "has no counter fivegs_amffunction_rm_regothersucc", ""},
		{"too little history", fewDays, def, records.VerdictAbstain, "1d needed, 37m present", "needed_hours"},
		{"the definition does not validate", evidence(0.9999), broken, records.VerdictReject, "does not validate here", "validation_failures"},
	}
	for _, tt := range tests {
		v, err := workflow.OwnDataReviewer{Evidence: tt.evidence}.Review(context.Background(), records.Proposal{ID: "p", Definition: tt.def})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if v.Kind != tt.verdict || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("%s: verdict %+v, want %s with reason containing %q", tt.name, v, tt.verdict, tt.reason)
		}
		if _, ok := v.Figures[tt.figure]; tt.figure != "" && !ok {
			t.Errorf("%s: figures %v lack %s", tt.name, v.Figures, tt.figure)
		}
		if v.Kind != records.VerdictAbstain && len(v.Figures) == 0 {
			t.Errorf("%s: a %s without figures", tt.name, v.Kind)
		}
	}
}

func rerender(t *testing.T, d nft.Definition) nft.Definition {
	t.Helper()
	yaml, err := render.Render(d, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Rules = nft.Rules{YAML: yaml, Digest: nft.RulesDigest(yaml)}
	return d
}

func runsNothing(_ context.Context, service string) (builtin.Input, error) {
	return builtin.Input{}, fmt.Errorf("%w: %s", source.ErrUnknownService, service)
}

// A proposal whose pages would have fired falsely on the reviewer's own
// history is rejected with the count; a replay that cannot run here does
// not block approval.
func TestReviewerBacktest(t *testing.T) {
	def := generated(t)
	noisy := func(context.Context, nft.Definition) (workflow.Replay, error) {
		return workflow.Replay{Report: backtest.Report{Pairs: []backtest.PairReport{
			{Name: "page-fast", Severity: nft.SeverityPage, Episodes: 5, FalseEpisodes: 4},
			{Name: "ticket-slow", Severity: nft.SeverityTicket, Episodes: 9, FalseEpisodes: 9},
		}}}, nil
	}
	quiet := func(context.Context, nft.Definition) (workflow.Replay, error) {
		return workflow.Replay{Report: backtest.Report{Pairs: []backtest.PairReport{{Name: "page-fast", Severity: nft.SeverityPage, Episodes: 1}}}}, nil
	}
	broken := func(context.Context, nft.Definition) (workflow.Replay, error) {
		return workflow.Replay{}, errors.New("no series")
	}
	tests := []struct {
		name     string
		backtest func(context.Context, nft.Definition) (workflow.Replay, error)
		approve  bool
		reason   string
	}{
		{"false pages", noisy, false, "would have paged 4 times outside any incident"},
		{"budget blown", func(context.Context, nft.Definition) (workflow.Replay, error) {
			return workflow.Replay{Report: backtest.Report{BudgetSpent: 2.3}}, nil
		}, false, "230% of a period's error budget spent"},
		{"quiet", quiet, true, ""},
		{"replay impossible here", broken, true, ""},
	}
	for _, tt := range tests {
		r := workflow.OwnDataReviewer{Evidence: evidence(0.9999), Backtest: tt.backtest, MaxFalsePages: 2}
		v, err := r.Review(context.Background(), records.Proposal{ID: "p", Definition: def})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (v.Kind == records.VerdictApprove) != tt.approve || !strings.Contains(v.Reason, tt.reason) || len(v.Figures) == 0 {
			t.Errorf("%s: %+v", tt.name, v)
		}
	}
}

// With a backtest, the generator proposes the SLI whose alerts detected the
// most known incidents on its own history, not merely the most relevant.
func TestGeneratorChoosesTheSLIThatDetects(t *testing.T) {
	ev := func(_ context.Context, service string) (builtin.Input, error) {
		in, err := evidence(0.9995)(context.Background(), service)
		if err != nil {
			return in, err
		}
		var up []float64
		for range 14 {
			up = append(up, 0.9999)
		}
		in.Metrics = append(in.Metrics, builtin.Metric{Name: "up", Type: builtin.Gauge, Selector: map[string]string{"service": "amf"}, Daily: up})
		return in, nil
	}
	detectsAvailability := func(_ context.Context, d nft.Definition) (workflow.Replay, error) {
		rep := backtest.Report{Incidents: []backtest.IncidentReport{{Name: "pod-failure", Detected: d.SLI.Kind == nft.KindAvailability}}}
		return workflow.Replay{Report: rep}, nil
	}
	g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: ev}
	plainGen, err := g.Generate(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	g.Backtest = detectsAvailability
	chosenGen, err := g.Generate(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	plain, chosen := plainGen.Definition, chosenGen.Definition
	if plain.SLI.Kind == nft.KindAvailability || chosen.SLI.Kind != nft.KindAvailability {
		t.Fatalf("without a backtest %s, with one %s; want the detecting availability SLI only with the backtest", plain.SLI.Kind, chosen.SLI.Kind)
	}
}
