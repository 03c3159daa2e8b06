package builtin_test

import (
	"context"
	"testing"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/internal/fixture"
)

// BenchmarkGenerate measures one SLO end to end without promtool: SLI
// choice, objective suggestion, rendering, PromQL and rulefmt validation,
// the re-rendering check and nft validation.
func BenchmarkGenerate(b *testing.B) {
	in := fixture.AMF()
	g := builtin.Generator{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Generate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
