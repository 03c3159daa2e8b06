package nft_test

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/nft"
)

func TestCanonicalizeJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"keys are sorted", `{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{"nested keys are sorted", `{"z":{"y":1,"x":[{"d":1,"c":2}]}}`, `{"z":{"x":[{"c":2,"d":1}],"y":1}}`},
		{"whitespace is dropped", "{ \"a\" :\n [ 1 , 2 ] }", `{"a":[1,2]}`},
		{"integers print without fraction", `{"a":1.0}`, `{"a":1}`},
		{"shortest round-trip decimal", `{"a":0.1000}`, `{"a":0.1}`},
		{"large numbers use exponent from 1e21", `{"a":1e21,"b":1e20}`, `{"a":1e+21,"b":100000000000000000000}`},
		{"small numbers use exponent below 1e-6", `{"a":0.0000001,"b":0.000001}`, `{"a":1e-7,"b":0.000001}`},
		{"negative zero is zero", `{"a":-0}`, `{"a":0}`},
		{"html characters stay literal", `{"q":"a<b && c>d"}`, `{"q":"a<b && c>d"}`},
		{"control characters are escaped", `{"s":"a\u0001b\n"}`, `{"s":"a\u0001b\n"}`},
		{"unicode stays literal", `{"s":"\u00e9\u2028"}`, "{\"s\":\"\u00e9\u2028\"}"},
		{"keys sort by UTF-16 code units", `{"\ud83d\ude00":1,"\uffff":2}`, "{\"\U0001F600\":1,\"\uffff\":2}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nft.CanonicalizeJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("CanonicalizeJSON(%s): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("CanonicalizeJSON(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			again, err := nft.CanonicalizeJSON(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("canonical form is not a fixed point: %s -> %s (%v)", got, again, err)
			}
		})
	}
}

func TestCanonicalizeJSONRefuses(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":1} {"b":2}`, `{"a":1e400}`, `nul`} {
		if _, err := nft.CanonicalizeJSON([]byte(in)); err == nil {
			t.Errorf("CanonicalizeJSON(%q) accepted malformed input", in)
		}
	}
}

func TestDigestFormats(t *testing.T) {
	d := nft.DigestBytes([]byte("abc"))
	if d != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("DigestBytes(abc) = %s", d)
	}
	if !nft.IsDigest(d) {
		t.Errorf("IsDigest(%s) = false", d)
	}
	for _, bad := range []string{"", "sha256:", strings.ToUpper(d), d[:len(d)-1], "md5:" + d[7:]} {
		if nft.IsDigest(bad) {
			t.Errorf("IsDigest(%q) = true", bad)
		}
	}
	if !nft.IsTokenID(d[7:]) || nft.IsTokenID(d) {
		t.Error("IsTokenID accepts only 64 lowercase hex characters")
	}
}
