package nft_test

import (
	"bytes"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
	"time"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// sameAsReference requires the direct encoder to render v, byte for byte
// as the encoding/json-and-canonicalize reference does.
func sameAsReference(t *testing.T, v any) {
	t.Helper()
	want, err := nft.CanonicalViaJSON(v)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	got, ok := nft.EncodeDirect(v)
	if !ok {
		t.Fatalf("the direct encoder declined %#v", v)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("direct encoding differs from the reference\n got %s\nwant %s", got, want)
	}
}

type kinds struct {
	S      string            `json:"s"`
	I      int64             `json:"i"`
	U      uint64            `json:"u"`
	I8     int8              `json:"i8"`
	F      float64           `json:"f"`
	B      bool              `json:"b"`
	P      *string           `json:"p"`
	L      []string          `json:"l"`
	A      [2]uint8          `json:"a"`
	M      map[string]int    `json:"m"`
	N      *kinds2           `json:"n,omitempty"`
	Opt    string            `json:"opt,omitempty"`
	OptI   int               `json:"opt_i,omitempty"`
	OptL   []int             `json:"opt_l,omitempty"`
	OptM   map[string]string `json:"opt_m,omitempty"`
	OptP   *int              `json:"opt_p,omitempty"`
	OptB   bool              `json:"opt_b,omitempty"`
	OptF   float64           `json:"opt_f,omitempty"`
	Skip   string            `json:"-"`
	Dash   string            `json:"-,"`
	Bad    string            `json:"a\"quote"` // not a valid tag name: Go name
	NoTag  string
	hidden string
}

type kinds2 struct {
	Z string `json:"z"`
	A string `json:"a"`
}

// unicodeKeys sort by UTF-16 code units: U+FF61 (one unit, 0xFF61) comes
// after U+1F600 (surrogates 0xD83D 0xDE00), unlike in UTF-8 byte order.
type unicodeKeys struct {
	Halfwidth string `json:"｡"`
	Emoji     string `json:"😀"`
	Accent    string `json:"é"`
	Plain     string `json:"z"`
}

func TestDirectEncoderMatchesReference(t *testing.T) {
	str := "pointer"
	one := 1
	tests := map[string]any{
		"zero kinds": kinds{},
		"full kinds": kinds{S: "s", I: -7, U: 7, I8: -128, F: 0.5, B: true, P: &str, L: []string{"x", ""}, A: [2]uint8{1, 255},
			M: map[string]int{"b": 2, "a": 1, "é": 3, "😀": 4}, N: &kinds2{Z: "z", A: "a"}, Opt: "o", OptI: 1, OptL: []int{0},
			OptM: map[string]string{"": ""}, OptP: &one, OptB: true, OptF: -0.25, Skip: "skipped", Dash: "dash", Bad: "bad", NoTag: "nt", hidden: "h"},
		"empty, not nil":       kinds{L: []string{}, M: map[string]int{}, OptL: []int{}, OptM: map[string]string{}},
		"escapes":              kinds{S: "quote\" backslash\\ \b\f\n\r\t \x00\x01\x1f \x7f <>& \u2028\u2029 é 😀 \ufffd"},
		"invalid UTF-8":        kinds{S: "a\xffb\xc3\x28c\xed\xa0\x80", L: []string{"\xff"}},
		"unicode keys":         unicodeKeys{"h", "e", "a", "z"},
		"integers at 10^15":    []int64{999_999_999_999_999, 1_000_000_000_000_000, -999_999_999_999_999, -1_000_000_000_000_000, math.MaxInt64, math.MinInt64},
		"unsigned at 10^15":    []uint64{999_999_999_999_999, 1_000_000_000_000_000, math.MaxUint64},
		"floats":               []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1 + 0.2, 1e21, 1e20, 123456789012345680, 1e-6, 1e-7, 5e-324, math.MaxFloat64, 99.9, 1.0 / 3},
		"nil slice and map":    map[string][]string{"nil": nil, "empty": {}},
		"pointer at top level": &kinds2{Z: "1", A: "2"},
		"string at top level":  "top",
		"nil at top level":     nil,
		"token":                nfttest.Token(nfttest.Definition("amf", "Org1MSP")),
		"embedded struct":      embeds{kinds2{"z", "a"}, "b"},
		"embedded unexported":  embedsUnexported{inner{"x", 0}, "b"},
		"embedded with a tag":  embedsTagged{kinds2{"z", "a"}, "b"},
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) { sameAsReference(t, v) })
	}
}

// TestDirectEncoderMatchesReferenceOnRandomTokens fills tokens and
// definitions with random strings, numbers, slices and pointers.
func TestDirectEncoderMatchesReferenceOnRandomTokens(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, typ := range []reflect.Type{reflect.TypeFor[nft.Token](), reflect.TypeFor[nft.Definition](), reflect.TypeFor[unicodeKeys](), reflect.TypeFor[map[string][]kinds2]()} {
		for range 300 {
			v, ok := quick.Value(typ, rng)
			if !ok {
				t.Fatalf("no random %v", typ)
			}
			sameAsReference(t, v.Interface())
		}
	}
}

type marshals struct{ X int }

func (marshals) MarshalJSON() ([]byte, error) { return []byte(`{"custom":true}`), nil }

type embeds struct {
	kinds2
	B string `json:"b"`
}

type inner struct {
	X string `json:"x"`
	Y int    `json:"y,omitempty"`
}

// embedsUnexported promotes the exported fields of an unexported type.
type embedsUnexported struct {
	inner
	B string `json:"b"`
}

// embedsTagged names its embedded struct: a field, not promoted ones.
type embedsTagged struct {
	kinds2 `json:"k"`
	B      string `json:"b"`
}

type embedsPointer struct {
	*kinds2
	B string `json:"b"`
}

// clash's own Z hides the promoted one, by encoding/json's depth rule.
type clash struct {
	kinds2
	Z string `json:"z"`
}

// sameName's fields are both named "B": encoding/json drops both.
type sameName struct {
	A string `json:"B"`
	B string
}

type recursive struct {
	Next *recursive `json:"next"`
}

func TestDirectEncoderDeclinesWhatItDoesNotRender(t *testing.T) {
	tests := map[string]any{
		"own MarshalJSON":  marshals{1},
		"time.Time":        struct{ T time.Time }{time.Unix(0, 0).UTC()},
		"embedded pointer": embedsPointer{&kinds2{"z", "a"}, "b"},
		"clashing names":   clash{kinds2{"z", "a"}, "outer"},
		"byte slice":       struct{ B []byte }{[]byte("x")},
		"float32":          struct{ F float32 }{0.1},
		"interface field":  struct{ V any }{1},
		"string option": struct {
			N int `json:"n,string"`
		}{1},
		"omitzero option": struct {
			N int `json:"n,omitzero"`
		}{1},
		"integer map keys":                      map[int]string{1: "a"},
		"recursive type":                        recursive{Next: &recursive{}},
		"NaN":                                   struct{ F float64 }{math.NaN()},
		"same name twice":                       sameName{"a", "b"},
		"map keys that differ in invalid bytes": map[string]int{"\xff": 1, "\xfe": 2},
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			if out, ok := nft.EncodeDirect(v); ok {
				t.Fatalf("the direct encoder rendered %s", out)
			}
			got, gotErr := nft.Canonical(v)
			want, wantErr := nft.CanonicalViaJSON(v)
			if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("Canonical gives %s, %v; the reference %s, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

// FuzzDirectEncoderMatchesReference varies the strings and numbers of a
// record with every kind the encoder renders.
func FuzzDirectEncoderMatchesReference(f *testing.F) {
	f.Add("s", "k", int64(1), uint64(2), 0.5, true)
	f.Add("\x00\"\\\u2028\xff", "😀", int64(math.MinInt64), uint64(math.MaxUint64), 1e21, false)
	f.Fuzz(func(t *testing.T, s, key string, i int64, u uint64, fl float64, b bool) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			return
		}
		v := kinds{S: s, I: i, U: u, F: fl, B: b, P: &s, L: []string{s, key}, M: map[string]int{key: int(i), s: 1},
			N: &kinds2{Z: key}, Opt: s, OptI: int(i), OptF: fl, OptM: map[string]string{key: s}}
		if _, ok := nft.EncodeDirect(v); ok {
			sameAsReference(t, v)
			return
		}
		// Declined (map keys with invalid UTF-8): Canonical falls back.
		got, err := nft.Canonical(v)
		want, _ := nft.CanonicalViaJSON(v)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Canonical gives %s, %v; the reference %s", got, err, want)
		}
	})
}
