package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/workflow"
)

// threeSLIs is a service whose evidence supports three SLIs, listed by
// name: an availability gauge (aaa_up), a success ratio
// (mmm_requests/mmm_success) and a latency histogram (zzz_duration).
func threeSLIs(_ context.Context, service string) (builtin.Input, error) {
	if service != "smf" {
		return builtin.Input{}, fmt.Errorf("%w: %s", source.ErrUnknownService, service)
	}
	days := func(v float64) []float64 {
		out := make([]float64, 14)
		for i := range out {
			out[i] = v
		}
		return out
	}
	return builtin.Input{Service: "smf", Metrics: []builtin.Metric{
		{Name: "aaa_up", Type: builtin.Gauge, Daily: days(0.9999)},
		{Name: "mmm_requests", Type: builtin.Counter, Daily: days(100000)},
		{Name: "mmm_success", Type: builtin.Counter, Daily: days(99990)},
		{Name: "zzz_duration_seconds", Type: builtin.Histogram, Daily: days(100000),
			Buckets: []builtin.Bucket{{LE: "0.1", Daily: days(99000)}, {LE: "0.5", Daily: days(99995)}}},
	}}, nil
}

func TestSLIOrderFollowsTheRankingBasis(t *testing.T) {
	learnedOrder := []nft.Metric{ // learned: the ratio, then latency
		{Name: "mmm_success", Relevance: 0.8, Stability: 1},
		{Name: "zzz_duration_seconds_count", Relevance: 0.5},
		{Name: "aaa_up", Relevance: 0.1},
	}
	// The local deviation ranking: latency deviated most during the
	// incidents, then availability; the ratio barely moved.
	byDeviation := func(_ context.Context, service string) ([]nft.Metric, error) {
		return []nft.Metric{
			{Name: "zzz_duration_seconds_count", Relevance: 1, Stability: 1},
			{Name: "zzz_duration_seconds_sum", Relevance: 0.9},
			{Name: `aaa_up{instance="a"}`, Relevance: 0.6},
			{Name: "mmm_requests", Relevance: 0.05},
		}, nil
	}
	byName := func(ms []nft.Metric) []nft.Metric { // what a name-ordered fallback would carry
		out := []nft.Metric{}
		for _, m := range ms {
			out = append(out, nft.Metric{Name: m.Name})
		}
		return out
	}
	noIncidents := func(context.Context, string) ([]nft.Metric, error) {
		return nil, fmt.Errorf("deviation ranking of smf: %w", source.ErrNoIncidents)
	}
	tests := []struct {
		name      string
		basis     string
		slis      []nft.Metric
		deviation func(context.Context, string) ([]nft.Metric, error)
		wantSLO   string
		wantBasis string
		wantTop   float64 // relevance of the chosen SLI's first metric
		cannot    bool
	}{
		{name: "learned: the learned order", basis: records.RankingLearned, slis: learnedOrder, deviation: byDeviation,
			wantSLO: "mmm-success", wantBasis: nft.RankingLearned, wantTop: 0.8},
		{name: "explicit request: its order, no basis", basis: "", slis: learnedOrder, deviation: byDeviation,
			wantSLO: "mmm-success", wantBasis: "", wantTop: 0.8},
		{name: "fallback: the local deviation order, not the request's names", basis: records.RankingDeviationFallback,
			slis: byName([]nft.Metric{{Name: "aaa_up"}, {Name: "mmm_requests"}}), deviation: byDeviation,
			wantSLO: "zzz-duration-latency", wantBasis: nft.RankingLocalDeviation, wantTop: 1},
		{name: "fallback without a deviation ranker: declined", basis: records.RankingDeviationFallback,
			slis: byName(learnedOrder), cannot: true},
		{name: "fallback without local incidents: declined", basis: records.RankingDeviationFallback,
			slis: byName(learnedOrder), deviation: noIncidents, cannot: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := workflow.SLOGenerator{Self: "Org1MSP", Period: "30d", Evidence: threeSLIs, Deviation: tc.deviation}
			req := records.GenerationRequest{ID: "round-1.smf", Service: "smf", RoundID: "round-1",
				GlobalModelDigest: nft.DigestBytes([]byte("m")), Contributors: []string{"Org1MSP"},
				SLIs: tc.slis, RankingBasis: tc.basis, Status: records.RequestOpen}
			gen, err := g.Generate(context.Background(), req)
			if tc.cannot {
				if !errors.Is(err, workflow.ErrCannotGenerate) {
					t.Fatalf("want a declined request (ErrCannotGenerate), got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			def := gen.Definition
			if err := nft.ValidateDefinition(def); err != nil {
				t.Fatal(err)
			}
			if def.Name != tc.wantSLO {
				t.Fatalf("SLO %s, want %s (the most relevant SLI under basis %q)", def.Name, tc.wantSLO, tc.basis)
			}
			if def.Provenance.RankingBasis != tc.wantBasis {
				t.Fatalf("provenance says the order came from %q, want %q", def.Provenance.RankingBasis, tc.wantBasis)
			}
			if top := def.SLI.Metrics[0].Relevance; top != tc.wantTop {
				t.Fatalf("the SLI's metric carries relevance %v, want %v", top, tc.wantTop)
			}
		})
	}
}
