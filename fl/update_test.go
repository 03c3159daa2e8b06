package fl

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/srellama/srellama/nft"
)

func sampleUpdate() Update {
	return Update{
		Org: "org-a", Round: 3,
		Features:  []string{"cpu#level", "cpu#zscore", "latency#delta"},
		Weights:   []float64{0.5, -1.25, 3},
		Intercept: -2, Samples: 1000,
		Metrics: LocalMetrics{Loss: 0.3, AUC: 0.9, F1: 0.5, Positives: 12},
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	u := sampleUpdate()
	b, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeUpdate(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoding a decoded update changed its bytes")
	}
	d, err := u.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if !nft.IsDigest(d) || d != nft.DigestBytes(b) {
		t.Fatalf("digest %q is not sha256 of the encoding", d)
	}
	other := sampleUpdate()
	other.Weights[0] = math.Nextafter(other.Weights[0], 1)
	if d2, _ := other.Digest(); d2 == d {
		t.Fatal("a one-ulp change of a weight kept the digest")
	}
}

func TestUpdateValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Update)
		want   string
	}{
		{"no organization", func(u *Update) { u.Org = "" }, "organization"},
		{"no features", func(u *Update) { u.Features, u.Weights = nil, nil }, "no features"},
		{"wrong dimension", func(u *Update) { u.Weights = u.Weights[:2] }, "2 weights for 3 features"},
		{"unsorted features", func(u *Update) { u.Features[0], u.Features[1] = u.Features[1], u.Features[0] }, "not strictly sorted"},
		{"duplicate feature", func(u *Update) { u.Features[1] = u.Features[0] }, "not strictly sorted"},
		{"NaN weight", func(u *Update) { u.Weights[1] = math.NaN() }, "weight of cpu#zscore is NaN"},
		{"Inf intercept", func(u *Update) { u.Intercept = math.Inf(1) }, "intercept"},
		{"zero samples", func(u *Update) { u.Samples = 0 }, "zero samples"},
		{"NaN local metric", func(u *Update) { u.Metrics.AUC = math.NaN() }, "local metrics"},
		{"overlong feature name", func(u *Update) { u.Features[2] = "z" + strings.Repeat("x", MaxNameLen) }, "name must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := sampleUpdate()
			tt.mutate(&u)
			_, err := u.Encode()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Encode error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeUpdateRefuses(t *testing.T) {
	u := sampleUpdate()
	good, _ := u.Encode()
	nan := bytes.Clone(good)
	// The first weight follows the header, org, names and intercept.
	off := len(updateMagic) + 4 + 8 + 2 + len(u.Org) + 4
	for _, f := range u.Features {
		off += 2 + len(f)
	}
	off += 8
	copy(nan[off:], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // a quiet NaN
	hugeCount := bytes.Clone(good)
	countAt := len(updateMagic) + 4 + 8 + 2 + len(u.Org)
	copy(hugeCount[countAt:], []byte{0xff, 0xff, 0xff, 0x00})
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"bad magic", append([]byte("XXXX\x01"), good[5:]...), "bad magic"},
		{"future version", append([]byte("SLFU\x02"), good[5:]...), "bad magic"},
		{"truncated", good[:len(good)-3], "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0), "trailing"},
		{"NaN weight", nan, "NaN"},
		{"feature count beyond limit", hugeCount, "outside 1.."},
		{"oversize", make([]byte, MaxUpdateBytes+1), "exceed the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeUpdate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeUpdate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzDecodeUpdate checks that the decoder never panics and that whatever
// it accepts is valid and re-encodes to the same bytes.
func FuzzDecodeUpdate(f *testing.F) {
	u := sampleUpdate()
	good, _ := u.Encode()
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte("SLFU\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeUpdate(b)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("decoder accepted an invalid update: %v", err)
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to itself (err %v)", err)
		}
	})
}
