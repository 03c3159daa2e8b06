package nft

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestECMAScriptNumberMatchesWriteNumber: the fast number formatting agrees
// with writeNumber (json.Marshal of the float) on random bit patterns and
// on the edges of the exponent form.
func TestECMAScriptNumberMatchesWriteNumber(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	values := []float64{0, math.Copysign(0, -1), 1, -1, 1e21, 1e20, 999999999999999999999, 1e-6, 1e-7, 9.999999e-7, 5e-324, math.MaxFloat64, -math.MaxFloat64, 0.1, 1.0 / 3}
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			values = append(values, f)
		}
	}
	for _, f := range values {
		lit := strconv.FormatFloat(f, 'g', -1, 64)
		var want bytes.Buffer
		if err := writeNumber(&want, json.Number(lit)); err != nil {
			t.Fatalf("writeNumber(%s): %v", lit, err)
		}
		if got := appendECMAScriptNumber(nil, f); string(got) != want.String() {
			t.Errorf("appendECMAScriptNumber(%s) = %s, want %s", lit, got, want.String())
		}
	}
}

func TestIsJSONNumberMatchesJSONValid(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "10", "01", "-01", "1.", ".5", "-.5", "1.5", "1e5", "1E+5", "1e-5", "1e", "1e+", "-", "", "1.5e3.2", "0.0", "00", "1-2", "+1", "9007199254740993", "1.25E-10"} {
		if got, want := isJSONNumber([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("isJSONNumber(%q) = %v, json.Valid says %v", s, got, want)
		}
	}
}
