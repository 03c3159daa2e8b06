package nft_test

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// sameDecoding requires nft.Unmarshal to leave the same value and the same
// success or failure as encoding/json, decoding data into a new T.
func sameDecoding[T any](t *testing.T, data []byte) {
	t.Helper()
	var got, want T
	gotErr := nft.Unmarshal(data, &got)
	wantErr := json.Unmarshal(data, &want)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("decoding %s: error %v, encoding/json's %v", data, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoding %s:\n got %#v\nwant %#v", data, got, want)
	}
}

type decodeKinds struct {
	S     string            `json:"s"`
	I     int8              `json:"i"`
	U     uint16            `json:"u"`
	F     float64           `json:"f"`
	B     bool              `json:"b"`
	P     *string           `json:"p"`
	PP    **int             `json:"pp"`
	L     []string          `json:"l"`
	LL    [][]int           `json:"ll"`
	M     map[string]int    `json:"m"`
	N     *kinds2           `json:"n,omitempty"`
	E     embedsUnexported  `json:"e"`
	T     embedsTagged      `json:"t"`
	Opt   map[string]string `json:"opt,omitempty"`
	NoTag string
	Skip  string `json:"-"`
}

// decodeCases are documents for decodeKinds, valid and not.
var decodeCases = map[string]string{
	"every kind":            `{"s":"x","i":-128,"u":65535,"f":1.5e-7,"b":true,"p":"p","pp":7,"l":["a",""],"ll":[[1],[],null],"m":{"b":2,"a":1},"n":{"z":"z","a":"a"},"e":{"x":"x","y":3,"b":"b"},"t":{"k":{"z":"1"},"b":"2"},"opt":{},"NoTag":"n"}`,
	"empty object":          `{}`,
	"nulls everywhere":      `{"s":null,"i":null,"u":null,"f":null,"b":null,"p":null,"pp":null,"l":null,"ll":null,"m":null,"n":null,"e":null,"t":null,"opt":null}`,
	"empty array and map":   `{"l":[],"m":{}}`,
	"white space":           " \t\n{ \"s\" : \"x\" , \"l\" : [ \"a\" , \"b\" ] }\r\n",
	"escapes":               `{"s":"q\" b\\ s\/ \b\f\n\r\t \u00e9 \u2028 \u003c é"}`,
	"surrogate pair":        `{"s":"\ud83d\ude00"}`,
	"lone surrogate":        `{"s":"\ud83d"}`,
	"invalid UTF-8":         "{\"s\":\"a\xffb\"}",
	"control character":     "{\"s\":\"a\x01b\"}",
	"case-insensitive key":  `{"S":"upper"}`,
	"unknown key":           `{"s":"x","unknown":[1,{"a":null}]}`,
	"repeated key":          `{"s":"first","s":"second","l":["a"],"l":["b","c"]}`,
	"skipped field's key":   `{"-":"dash","Skip":"skip"}`,
	"int out of range":      `{"i":128}`,
	"uint negative":         `{"u":-1}`,
	"int with a fraction":   `{"i":1.0}`,
	"float out of range":    `{"f":1e400}`,
	"number with a plus":    `{"f":+1}`,
	"leading zero":          `{"i":01}`,
	"string for a number":   `{"i":"1"}`,
	"number for a string":   `{"s":1}`,
	"object for a list":     `{"l":{}}`,
	"trailing data":         `{"s":"x"} {}`,
	"trailing comma":        `{"s":"x",}`,
	"truncated":             `{"s":"x"`,
	"empty input":           ``,
	"top-level null":        `null`,
	"literal with garbage":  `{"b":truex}`,
	"map with escaped keys": `{"m":{"\u00e9":1,"a\"b":2}}`,
	"deeply nested lists":   `{"ll":[[1,2,3],[4],[5,6]]}`,
	"map key invalid UTF-8": "{\"m\":{\"a\xff\":1}}",
	"duplicate map keys":    `{"m":{"a":1,"a":2}}`,
}

func TestUnmarshalDecodesAsEncodingJSON(t *testing.T) {
	for name, data := range decodeCases {
		t.Run(name, func(t *testing.T) { sameDecoding[decodeKinds](t, []byte(data)) })
	}
}

func TestUnmarshalIntoANonZeroValueMergesAsEncodingJSON(t *testing.T) {
	got := decodeKinds{S: "kept", L: []string{"old"}, M: map[string]int{"old": 1}}
	want := got
	want.M = map[string]int{"old": 1}
	data := []byte(`{"l":["new"],"m":{"new":2}}`)
	if err := nft.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

// TestUnmarshalDecodesRandomTokensAsEncodingJSON decodes the canonical and
// the encoding/json form (which escapes <, > and &) of random tokens.
func TestUnmarshalDecodesRandomTokensAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for range 300 {
		v, _ := quick.Value(reflect.TypeFor[nft.Token](), rng)
		canonical, err := nft.Canonical(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		marshalled, _ := json.Marshal(v.Interface())
		sameDecoding[nft.Token](t, canonical)
		sameDecoding[nft.Token](t, marshalled)
	}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Canonical(tok)
	sameDecoding[nft.Token](t, raw)
}

func FuzzUnmarshalDecodesAsEncodingJSON(f *testing.F) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Canonical(tok)
	f.Add(raw)
	for _, data := range decodeCases {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecoding[decodeKinds](t, data)
		sameDecoding[nft.Token](t, data)
	})
}

func BenchmarkUnmarshalToken(b *testing.B) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Canonical(tok)
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var t nft.Token
			if err := json.Unmarshal(raw, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			var t nft.Token
			if err := nft.Unmarshal(raw, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
