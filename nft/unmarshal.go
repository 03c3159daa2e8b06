package nft

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
)

// Unmarshal is json.Unmarshal for documents this package encodes: the
// ledger records a chaincode reads back on every transaction. For a pointer
// to a zero value of a type made of the kinds the direct encoder writes, it
// decodes in one pass without encoding/json's validation scan and
// reflection-driven state machine, three to four times faster on a
// proposal. Whatever it does not settle itself (a key that matches no field
// exactly, a repeated key, a value of the wrong kind, a number out of
// range, a surrogate escape, invalid UTF-8, malformed input, a target that
// is not zero) it hands to encoding/json on a zero target, which stays the
// specification and produces the errors: the results are identical, as the
// tests hold them.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !rv.Elem().IsZero() {
		return json.Unmarshal(data, v)
	}
	if dec := decoderOf(rv.Elem().Type()); dec != nil {
		d := decodeState{data: data}
		if dec(&d, rv.Elem()) && d.atEnd() {
			return nil
		}
		rv.Elem().SetZero()
	}
	return json.Unmarshal(data, v)
}

// decodeFunc decodes the next value of d into v, which holds its zero
// value; false means "not settled here".
type decodeFunc func(d *decodeState, v reflect.Value) bool

// typeDecoders caches a decodeFunc, or nil for "unsupported", per type,
// as typeEncoders does for encoding.
var typeDecoders sync.Map // reflect.Type -> decodeFunc

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func decoderOf(t reflect.Type) decodeFunc { return memo(&typeDecoders, t, buildDecoder) }

func buildDecoder(t reflect.Type, building map[reflect.Type]bool) decodeFunc {
	pt := reflect.PointerTo(t)
	if building[t] || t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
		pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return nil
	}
	building[t] = true
	defer delete(building, t)
	switch t.Kind() {
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return numberDecoder(setInt)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return numberDecoder(setUint)
	case reflect.Float64:
		return numberDecoder(setFloat)
	case reflect.String:
		return decodeString
	case reflect.Pointer:
		return pointerDecoder(buildDecoder(t.Elem(), building))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64 in encoding/json
		}
		return sliceDecoder(buildDecoder(t.Elem(), building))
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Key().Implements(textUnmarshaler) || reflect.PointerTo(t.Key()).Implements(textUnmarshaler) {
			return nil
		}
		return mapDecoder(buildDecoder(t.Elem(), building))
	case reflect.Struct:
		return structDecoder(t, building)
	default:
		return nil // interfaces, arrays, float32, complex, channels, functions
	}
}

// decodeState is the input and the position in it.
type decodeState struct {
	data []byte
	pos  int
}

func (d *decodeState) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (d *decodeState) peek() byte {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

func (d *decodeState) atEnd() bool { return d.peek() == 0 && d.pos == len(d.data) }

// consume skips the literal lit if it comes next.
func (d *decodeState) consume(lit string) bool {
	if d.peek() == 0 || len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}

// null consumes a null, which leaves any target as it is in encoding/json
// (pointers, slices and maps are nil already in a zero target).
func (d *decodeState) null() bool { return d.peek() == 'n' && d.consume("null") }

// number returns the next number token, checked against JSON's grammar.
func (d *decodeState) number() ([]byte, bool) {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return nil, false
	}
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			d.pos++
			continue
		}
		break
	}
	tok := d.data[start:d.pos]
	return tok, isJSONNumber(tok)
}

// str returns the next string's content, unescaped (see readString).
func (d *decodeState) str() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	content, next, ok := readString(d.data, d.pos)
	d.pos = next
	return content, ok
}

func decodeBool(d *decodeState, v reflect.Value) bool {
	switch {
	case d.null():
	case d.consume("true"):
		v.SetBool(true)
	case d.consume("false"):
	default:
		return false
	}
	return true
}

// numberDecoder decodes a number token with set, which parses it into v
// and reports whether it fits; a null leaves v as it is.
func numberDecoder(set func(tok string, v reflect.Value) bool) decodeFunc {
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		tok, ok := d.number()
		return ok && set(string(tok), v)
	}
}

func setInt(tok string, v reflect.Value) bool {
	n, err := strconv.ParseInt(tok, 10, 64)
	if err != nil || v.OverflowInt(n) {
		return false
	}
	v.SetInt(n)
	return true
}

func setUint(tok string, v reflect.Value) bool {
	n, err := strconv.ParseUint(tok, 10, 64)
	if err != nil || v.OverflowUint(n) {
		return false
	}
	v.SetUint(n)
	return true
}

func setFloat(tok string, v reflect.Value) bool {
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return false
	}
	v.SetFloat(f)
	return true
}

func decodeString(d *decodeState, v reflect.Value) bool {
	if d.null() {
		return true
	}
	s, ok := d.str()
	if !ok {
		return false
	}
	v.SetString(string(s))
	return true
}

func pointerDecoder(elem decodeFunc) decodeFunc {
	if elem == nil {
		return nil
	}
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		p := reflect.New(v.Type().Elem())
		if !elem(d, p.Elem()) {
			return false
		}
		v.Set(p)
		return true
	}
}

// sequence reads an array (open '[') or object (open '{') whose elements or
// members each reads, up to the close, which may follow at once.
func (d *decodeState) sequence(open, close string, each func() bool) bool {
	if !d.consume(open) {
		return false
	}
	if d.consume(close) {
		return true
	}
	for {
		if !each() {
			return false
		}
		if d.consume(close) {
			return true
		}
		if !d.consume(",") {
			return false
		}
	}
}

func sliceDecoder(elem decodeFunc) decodeFunc {
	if elem == nil {
		return nil
	}
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		// An empty array is an empty slice, not nil, as in encoding/json.
		s := reflect.MakeSlice(v.Type(), 0, 4)
		ok := d.sequence("[", "]", func() bool {
			if s.Len() == s.Cap() {
				grown := reflect.MakeSlice(v.Type(), s.Len(), 2*s.Cap())
				reflect.Copy(grown, s)
				s = grown
			}
			s = s.Slice(0, s.Len()+1)
			return elem(d, s.Index(s.Len()-1))
		})
		if ok {
			v.Set(s)
		}
		return ok
	}
}

func mapDecoder(elem decodeFunc) decodeFunc {
	if elem == nil {
		return nil
	}
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		m := reflect.MakeMap(v.Type())
		ok := d.sequence("{", "}", func() bool {
			key, ok := d.str()
			if !ok || !d.consume(":") {
				return false
			}
			val := reflect.New(v.Type().Elem()).Elem()
			if !elem(d, val) {
				return false
			}
			m.SetMapIndex(reflect.ValueOf(string(key)).Convert(v.Type().Key()), val)
			return true
		})
		if ok {
			v.Set(m)
		}
		return ok
	}
}

// decodedField is a field a struct's JSON object sets, by its exact key.
type decodedField struct {
	index  []int
	decode decodeFunc
}

// maxDecodedFields bounds the fields a struct may have for the decoder,
// which tracks the keys seen in one word.
const maxDecodedFields = 64

func structDecoder(t reflect.Type, building map[reflect.Type]bool) decodeFunc {
	fields, ok := structFields(t, nil, building)
	if !ok || len(fields) > maxDecodedFields {
		return nil
	}
	byKey := make(map[string]int, len(fields))
	decoded := make([]decodedField, len(fields))
	for i, f := range fields {
		if _, dup := byKey[f.name]; dup {
			return nil
		}
		byKey[f.name] = i
		decoded[i] = decodedField{index: f.index, decode: buildDecoder(t.FieldByIndex(f.index).Type, building)}
		if decoded[i].decode == nil {
			return nil
		}
	}
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		var seen uint64
		return d.sequence("{", "}", func() bool {
			key, ok := d.str()
			if !ok || !d.consume(":") {
				return false
			}
			// A key that matches no field exactly may match one without
			// regard to case in encoding/json, or be ignored by it.
			i, known := byKey[string(key)]
			if !known || seen&(1<<i) != 0 {
				return false
			}
			seen |= 1 << i
			// A field promoted through an unexported embedded pointer
			// cannot be set; encoding/json reports it.
			fv := v.FieldByIndex(decoded[i].index)
			return fv.CanSet() && decoded[i].decode(d, fv)
		})
	}
}
