package fl

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"testing"
)

// goldenUpdates are seven updates whose values come from integer
// arithmetic and one division each, so they are the same bits on every
// build: only the aggregation under test can make digests differ. Some
// updates lack some features, so masked coordinates are covered too.
func goldenUpdates() (Model, []Update) {
	features := make([]string, 12)
	for i := range features {
		features[i] = fmt.Sprintf("svc/m%02d#level", i)
	}
	global, _ := NewModel(features)
	var updates []Update
	for k := range 7 {
		u := Update{Org: fmt.Sprintf("Org%dMSP", k+1), Round: 42, Samples: uint64(97 + 131*k)}
		for i, f := range features {
			if (i+k)%5 == 4 {
				continue // this site lacks the feature
			}
			num := int64((k+3)*(i+7)*7919%2003) - 1001
			u.Features = append(u.Features, f)
			u.Weights = append(u.Weights, float64(num)/float64(173+k*i))
		}
		u.Intercept = float64(int64(k*k*31%97)-48) / 29
		updates = append(updates, u)
	}
	return global, updates
}

// goldenDigests aggregates goldenUpdates with every strategy and hashes the
// model and its ranking: the bytes a quorum compares.
func goldenDigests(t *testing.T) map[string]string {
	t.Helper()
	global, updates := goldenUpdates()
	out := map[string]string{}
	for _, name := range Strategies() {
		a, err := NewAggregator(name, AggregatorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := a.Aggregate(global, 42, updates)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d, err := m.Digest()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(Rank(m, []Model{global, m}))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = d
		out[name+"/ranking"] = fmt.Sprintf("sha256:%x", sha256.Sum256(raw))
	}
	return out
}

// goldenWant are the digests every build must compute: amd64 with
// GOAMD64=v1 and v3 and arm64 (.ci/run runs this test in all three). Before
// exact.go, a v3 or arm64 build gave sha256:cc0ee12c… for FedAvg and
// sha256:321106b7… for Multi-Krum. Changing a value here changes the
// protocol: bump ProtocolVersion with it.
var goldenWant = map[string]string{
	"fedavg":               "sha256:34d8cfc1811d888f1acaa350c4b8af25cfbea40e8a7f1a857dff07b1df24d220",
	"fedavg/ranking":       "sha256:40ca860643192366c58e62451eb77b37a45871c52a96b23536390a9da3d2e9d5",
	"fedprox":              "sha256:34d8cfc1811d888f1acaa350c4b8af25cfbea40e8a7f1a857dff07b1df24d220",
	"fedprox/ranking":      "sha256:40ca860643192366c58e62451eb77b37a45871c52a96b23536390a9da3d2e9d5",
	"median":               "sha256:a0fba354a7ec7913b95468c782b57adf2de6de9a927312fd2b8778893e0fef5c",
	"median/ranking":       "sha256:c684b6f9a1464682b31ff09413710a3a7ec451672b7c0ecb35e596261fe8dde7",
	"multi-krum":           "sha256:7c54200d74944ff7a8a2eb470a9389ef85e30272efed1fa466f692f6e31fd0bf",
	"multi-krum/ranking":   "sha256:0da93aeb07bb7debcd8177425c0942d54422a33e059102f039ebf4c9d91dd6cb",
	"trimmed-mean":         "sha256:e0f518c63b3463d78ccc985d4922fc97a8d797d939a928bd9841f63b6b4aedfc",
	"trimmed-mean/ranking": "sha256:f210ef60fa2a0843c2daa12576b83a330ff73977b5de85992dc5b8d7d65fb274",
}

func TestGoldenDigests(t *testing.T) {
	got := goldenDigests(t)
	for _, k := range slices.Sorted(maps.Keys(goldenWant)) {
		if got[k] != goldenWant[k] {
			t.Errorf("%s: %s, want %s (GOARCH=%s)", k, got[k], goldenWant[k], runtime.GOARCH)
		}
	}
	if len(got) != len(goldenWant) {
		t.Errorf("%d digests, %d golden ones: add the new strategy's digest", len(got), len(goldenWant))
	}
}

// The helpers round the product before the sum, whatever the build: with
// x = 1+2⁻³⁰, x·x−1 is 2⁻²⁹+2⁻⁶⁰ exactly (what a fused multiply-add gives)
// and 2⁻²⁹ once the product is rounded to float64 first.
func TestMulAddRoundsTheProduct(t *testing.T) {
	x := 1 + math.Ldexp(1, -30)
	if got, want := mulAdd(x, x, -1), math.Ldexp(1, -29); got != want {
		t.Fatalf("mulAdd fused: %g, want %g", got, want)
	}
	if got, want := mulSub(1, x, x), -math.Ldexp(1, -29); got != want {
		t.Fatalf("mulSub fused: %g, want %g", got, want)
	}
	if fused := math.FMA(x, x, -1); fused == math.Ldexp(1, -29) {
		t.Fatal("the test values do not tell fused from unfused arithmetic")
	}
}
