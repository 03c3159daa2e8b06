package nft

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkFastMatchesTree fails unless the fast path either declines raw or
// produces exactly the bytes of the reference tree canonicalization (and
// declines whatever the reference refuses).
func checkFastMatchesTree(t *testing.T, raw []byte) (handled bool) {
	t.Helper()
	want, wantErr := canonicalizeTree(raw)
	got, ok := canonicalizeFast(raw)
	if !ok {
		return false
	}
	if wantErr != nil {
		t.Fatalf("fast path accepted %q, which the reference refuses: %v", raw, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fast path differs on %q\n got %q\nwant %q", raw, got, want)
	}
	return true
}

func TestCanonicalizeFastMatchesTree(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		handled bool // whether the fast path settles it itself
	}{
		{"sorted keys", `{"a":1,"b":2}`, true},
		{"unsorted nested keys", `{"z":{"y":1,"x":[{"d":1,"c":2}]},"a":[]}`, true},
		{"whitespace", " { \"b\" :\n [ 1 , 2 ] ,\t\"a\":{} } \r\n", true},
		{"empty containers", `[{},[],{"a":{}}]`, true},
		{"literals", `[true,false,null]`, true},
		{"short integers", `[0,-1,7,123456789012345,-123456789012345]`, true},
		{"long integers", `[1234567890123456,12345678901234567890,-99999999999999999999]`, true},
		{"fractions and exponents", `[1.0,0.1000,1e21,1e20,1E-7,0.000001,-0.0,2.5e+3]`, true},
		{"negative zero", `[-0]`, true},
		{"html escapes", `{"q":"a\u003cb \u0026\u0026 c\u003ed"}`, true},
		{"escapes", `{"s":"\"\\\/\b\f\n\r\t\u0001\u001f\u00e9\u2028\u2029"}`, true},
		{"canonical escapes", `{"s":"a\"b\\c\b\f\n\r\t\u0001\u001f"}`, true},
		{"short escape spelt long", `{"s":"\u000a\u0008"}`, true},
		{"upper-case hex escape", `{"s":"\u001F"}`, true},
		{"raw unicode", "{\"s\":\"é\u2028\U0001F600\uFFFD\x7f\"}", true},
		{"keys sort by UTF-16", "{\"\U0001F600\":1,\"\uffff\":2,\"a\":3,\"é\":4}", true},
		{"escaped keys", `{"\u0062":1,"a\n":2,"a":3}`, true},
		{"surrogate pair escape", `{"\ud83d\ude00":1,"\uffff":2}`, false},
		{"lone surrogate", `["\ud800"]`, false},
		{"invalid UTF-8", "[\"a\xffb\"]", false},
		{"duplicate keys", `{"a":1,"a":2}`, false},
		{"duplicate keys after unescaping", `{"a":1,"\u0061":2}`, false},
		{"number out of range", `[1e400]`, false},
		{"trailing data", `{"a":1} {"b":2}`, false},
		{"truncated", `{"a":[1,2`, false},
		{"leading zero", `[01]`, false},
		{"bad literal", `[nul]`, false},
		{"control character in string", "[\"a\x01\"]", false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if handled := checkFastMatchesTree(t, []byte(tt.in)); handled != tt.handled {
				t.Errorf("fast path handled %q = %v, want %v", tt.in, handled, tt.handled)
			}
		})
	}
}

// TestCanonicalStringsAreCopiedWhole: a string token already in the form
// writeString produces is copied as it stands; any other spelling is
// decoded and written again.
func TestCanonicalStringsAreCopiedWhole(t *testing.T) {
	tests := []struct {
		token     string
		copyWhole bool
	}{
		{`"plain"`, true},
		{`""`, true},
		{`"a\"b\\c"`, true},
		{`"line\nbreak\ttab\rreturn\bback\fform"`, true},
		{`"\u0000\u0001\u001f\u000b"`, true},
		{"\"é \u2028 \U0001F600 <&>\"", true},
		{`"\u000a"`, false},  // \n has a short form
		{`"\u001F"`, false},  // hex is lower-case
		{`"\u0020"`, false},  // not a control character
		{`"\u00e9"`, false},  // written raw
		{`"\u2028"`, false},  // written raw
		{`"\/"`, false},      // the solidus is not escaped
		{"\"a\x01\"", false}, // a raw control character is malformed
		{"\"a\xff\"", false}, // invalid UTF-8
		{`"unterminated`, false},
		{`"\u00`, false},
	}
	for _, tt := range tests {
		end, ok := canonicalStringEnd([]byte(tt.token), 0)
		if ok != tt.copyWhole || (ok && end != len(tt.token)) {
			t.Errorf("canonicalStringEnd(%s) = %d, %v; want whole token copied = %v", tt.token, end, ok, tt.copyWhole)
		}
		if ok {
			var buf bytes.Buffer
			var decoded string
			if err := json.Unmarshal([]byte(tt.token), &decoded); err != nil {
				t.Fatal(err)
			}
			writeString(&buf, decoded)
			if buf.String() != tt.token {
				t.Errorf("%s is copied whole but writeString gives %s", tt.token, buf.String())
			}
		}
	}
}

// TestCanonicalFastMatchesTreeOnRandomValues marshals random trees of maps,
// slices, strings and numbers with encoding/json, as Canonical does, and
// checks both paths agree on every one.
func TestCanonicalFastMatchesTreeOnRandomValues(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	handled := 0
	const n = 3000
	for range n {
		v := randomValue(r, 0)
		// Canonical encodes without HTML escaping; other callers hand in
		// encoding/json's default output.
		for _, escapeHTML := range []bool{true, false} {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(escapeHTML)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			if checkFastMatchesTree(t, buf.Bytes()) && !escapeHTML {
				handled++
			}
		}
	}
	if handled < n*9/10 {
		t.Errorf("fast path handled only %d of %d encoding/json documents", handled, n)
	}
}

var randomRunes = []rune("aAzZ09 _-.:/\"\\<>&\n\t\x00\x01\x1f\x7fé\u2028\u2029\uD7FF\uE000\uFFFD\uFFFF\U0001F600\U00010000")

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(8) {
		b.WriteRune(randomRunes[r.IntN(len(randomRunes))])
	}
	return b.String()
}

func randomNumber(r *rand.Rand) any {
	switch r.IntN(6) {
	case 0:
		return r.IntN(1000) - 500
	case 1:
		return r.Int64() - math.MaxInt64/2
	case 2:
		return r.Uint64()
	case 3:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	case 4:
		return math.Copysign(0, -1)
	default:
		return float64(r.IntN(1<<20)) / 8
	}
}

func randomValue(r *rand.Rand, depth int) any {
	kind := r.IntN(7)
	if depth > 4 {
		kind = r.IntN(3)
	}
	switch kind {
	case 0:
		return randomString(r)
	case 1:
		return randomNumber(r)
	case 2:
		return []any{nil, true, false}[r.IntN(3)]
	case 3, 4:
		m := map[string]any{}
		for range r.IntN(6) {
			m[randomString(r)] = randomValue(r, depth+1)
		}
		return m
	default:
		s := make([]any, r.IntN(5))
		for i := range s {
			s[i] = randomValue(r, depth+1)
		}
		return s
	}
}

// FuzzCanonicalizeFastMatchesTree: on any input, the fast path either
// declines or agrees with the reference exactly.
func FuzzCanonicalizeFastMatchesTree(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2.5,"x"]}`, `1e21`, `"\u2028"`, `{"a":{"b":null}}`, `{"\u00e9":1,"e":"\u003c"}`, `[-0,01,1.5e3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastMatchesTree(t, data)
	})
}

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
