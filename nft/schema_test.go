package nft_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

func loadSchema(t *testing.T) *gojsonschema.Schema {
	t.Helper()
	s, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(nft.JSONSchema))
	if err != nil {
		t.Fatalf("published schema does not compile: %v", err)
	}
	return s
}

func TestValidTokensValidateAgainstTheSchema(t *testing.T) {
	schema := loadSchema(t)
	round := nfttest.FromRound(nfttest.Definition("smf", "Org2MSP"), "round-7", nft.DigestBytes([]byte("m")), "round-7.smf", "Org1MSP", "Org2MSP")
	for name, tok := range map[string]nft.Token{
		"hand-written": nfttest.Token(nfttest.Definition("amf", "Org1MSP")),
		"from a round": nfttest.Token(round),
	} {
		raw, err := nft.Encode(tok)
		if err != nil {
			t.Fatal(err)
		}
		res, err := schema.Validate(gojsonschema.NewBytesLoader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid() {
			t.Errorf("%s token fails the schema: %v", name, res.Errors())
		}
	}
}

func TestSchemaRefusesBrokenTokens(t *testing.T) {
	schema := loadSchema(t)
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Encode(tok)
	for name, edit := range map[string][2]string{
		"objective of 1":  {`"objective":0.999`, `"objective":1`},
		"unknown status":  {`"status":"active"`, `"status":"burnt"`},
		"malformed id":    {`"id":"`, `"id":"X`},
		"extra property":  {`"standard":"s-528"`, `"standard":"s-528","extra":1`},
		"failed check":    {`"passed":true`, `"passed":false`},
		"window template": {`[{{.window}}]))","kind"`, `[5m]))","kind"`},
	} {
		broken := strings.Replace(string(raw), edit[0], edit[1], 1)
		if broken == string(raw) {
			t.Fatalf("%s: edit did not apply", name)
		}
		res, err := schema.Validate(gojsonschema.NewStringLoader(broken))
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid() {
			t.Errorf("%s: schema accepted it", name)
		}
	}
}

// The schema and the Go types must describe the same fields: every JSON
// field of every type is a schema property, every schema property is a
// field, and the schema requires exactly the fields Go always writes.
func TestSchemaMatchesGoTypes(t *testing.T) {
	var doc struct {
		Properties  map[string]json.RawMessage `json:"properties"`
		Required    []string                   `json:"required"`
		Definitions map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(nft.JSONSchema, &doc); err != nil {
		t.Fatal(err)
	}
	types := map[string]reflect.Type{
		"definition": reflect.TypeFor[nft.Definition](), "sli": reflect.TypeFor[nft.SLI](),
		"metric": reflect.TypeFor[nft.Metric](), "slo": reflect.TypeFor[nft.SLO](),
		"alertWindow": reflect.TypeFor[nft.AlertWindow](), "rules": reflect.TypeFor[nft.Rules](),
		"provenance": reflect.TypeFor[nft.Provenance](), "generator": reflect.TypeFor[nft.Generator](),
		"validationCheck": reflect.TypeFor[nft.ValidationCheck](), "mint": reflect.TypeFor[nft.Mint](),
		"approval": reflect.TypeFor[nft.Approval](), "state": reflect.TypeFor[nft.State](),
	}
	check := func(name string, typ reflect.Type, props map[string]json.RawMessage, required []string) {
		var fields, always []string
		for i := range typ.NumField() {
			tag := typ.Field(i).Tag.Get("json")
			field, opts, _ := strings.Cut(tag, ",")
			fields = append(fields, field)
			if opts != "omitempty" {
				always = append(always, field)
			}
		}
		var keys []string
		for k := range props {
			keys = append(keys, k)
		}
		slices.Sort(fields)
		slices.Sort(keys)
		slices.Sort(always)
		req := slices.Sorted(slices.Values(required))
		if !slices.Equal(fields, keys) {
			t.Errorf("%s: Go fields %v, schema properties %v", name, fields, keys)
		}
		if !slices.Equal(always, req) {
			t.Errorf("%s: Go always writes %v, schema requires %v", name, always, req)
		}
	}
	check("token", reflect.TypeFor[nft.Token](), doc.Properties, doc.Required)
	for name, typ := range types {
		def, ok := doc.Definitions[name]
		if !ok {
			t.Errorf("schema has no definition %q", name)
			continue
		}
		check(name, typ, def.Properties, def.Required)
	}
}
