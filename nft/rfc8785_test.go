package nft_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/srellama/srellama/nft"
)

// The vectors of RFC 8785: the sample of section 3.2.2 (string escaping and
// number serialization together), the property sorting example of section
// 3.2.3 (UTF-16 code units, not UTF-8 bytes nor code points), and the
// number serialization table of Appendix B, given as IEEE-754 bit patterns.

func TestCanonicalizeJSONFollowsRFC8785(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			"section 3.2.2",
			`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			"section 3.2.3",
			`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
				"\"€\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nft.CanonicalizeJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCanonicalNumbersFollowRFC8785AppendixB(t *testing.T) {
	vectors := []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"}, // minus zero
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	}
	for _, v := range vectors {
		bits, err := strconv.ParseUint(v.bits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		f := math.Float64frombits(bits)
		got, err := nft.Canonical(f)
		if err != nil {
			t.Fatalf("%s: %v", v.bits, err)
		}
		if string(got) != v.want {
			t.Errorf("%s (%v): Canonical = %s, want %s", v.bits, f, got, v.want)
		}
		// The same number written in another form canonicalizes alike.
		again, err := nft.CanonicalizeJSON([]byte(strconv.FormatFloat(f, 'E', 25, 64)))
		if err != nil || string(again) != v.want {
			t.Errorf("%s: CanonicalizeJSON of its long form = %s (%v), want %s", v.bits, again, err, v.want)
		}
	}
	for _, bits := range []string{"7fffffffffffffff", "7ff0000000000000", "fff0000000000000"} { // NaN, ±Infinity
		b, _ := strconv.ParseUint(bits, 16, 64)
		if got, err := nft.Canonical(math.Float64frombits(b)); err == nil {
			t.Errorf("%s: Canonical = %s, want an error (no JSON form)", bits, got)
		}
	}
}

// TestCanonicalizeJSONRefusesWhatIJSONForbids: RFC 8785 canonicalizes
// I-JSON (RFC 7493), which has no duplicate keys, no invalid UTF-8 and no
// lone surrogates; a canonicalizer that let one through would hash a
// document two readers read differently.
func TestCanonicalizeJSONRefusesWhatIJSONForbids(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate key":        `{"a":1,"a":2}`,
		"nested duplicate key": `{"x":{"b":1,"b":1}}`,
		"invalid UTF-8":        "{\"a\":\"\xff\"}",
		"lone high surrogate":  `{"a":"\ud800"}`,
		"lone low surrogate":   `{"a":"\udc00x"}`,
		"number out of range":  `1e400`,
	} {
		if got, err := nft.CanonicalizeJSON([]byte(in)); err == nil {
			t.Errorf("%s: CanonicalizeJSON(%q) = %s, want an error", name, in, got)
		}
	}
}
