package fl

// Arithmetic whose bits a quorum compares.
//
// The aggregate a round finalizes is named by its digest, and members
// finalize only when a quorum submits byte-identical digests, so every build
// of every member must compute the same bits: amd64 at any GOAMD64 level,
// arm64, and the next Go release. The Go specification lets a compiler fuse
// x*y+z into one fused multiply-add (one rounding instead of two) "possibly
// across statements", and gc does so on arm64, ppc64, s390x, riscv64 and on
// amd64 from GOAMD64=v3: the same FedAvg once gave sha256:34d8cfc1… under v1
// and sha256:cc0ee12c… under v3 (fl/golden_test.go). An explicit conversion
// rounds to the target precision and so forbids the fusion.
//
// Rules for code on the quorum's path (aggregation, ranking, the claim):
//   - every product that is then added or subtracted goes through mulAdd or
//     mulSub (or is wrapped in float64(...) where it stands);
//   - sums run in a canonical order (updates sorted by digest, coordinates
//     in feature order), never in map or arrival order;
//   - no math functions whose result may differ between architectures
//     (math.Exp, math.Log, math.Pow with non-integer arguments, ...) feed a
//     digest; math.Abs, math.Sqrt, math.Floor and comparisons are exact.
//
// The golden-digest tests pin the results; CI runs them in GOAMD64=v1 and v3
// builds and in an arm64 build under qemu-user, so a new fusible expression
// fails there before it splits a consortium.

// ProtocolVersion names the arithmetic and encodings above. Any change that
// can alter an aggregate's bits (a new reduction order, a different
// summation, another encoding) must bump it, together with the chaincode's
// records.Protocol, so that a round names the version its members compute.
const ProtocolVersion = 1

// mulAdd returns x*y+z with the product rounded before the sum, as IEEE 754
// defines two separate operations; no compiler may fuse it.
func mulAdd(x, y, z float64) float64 { return float64(x*y) + z }

// mulSub returns z-x*y with the product rounded before the difference.
func mulSub(z, x, y float64) float64 { return z - float64(x*y) }
