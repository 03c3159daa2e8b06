package nft

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
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

func decoderOf(t reflect.Type) decodeFunc {
	if cached, ok := typeDecoders.Load(t); ok {
		return cached.(decodeFunc)
	}
	dec := buildDecoder(t, map[reflect.Type]bool{})
	typeDecoders.Store(t, dec)
	return dec
}

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
		return decodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return decodeUint
	case reflect.Float64:
		return decodeFloat
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

// str returns the next string's content, unescaped. Content without
// escapes is a slice of the input.
func (d *decodeState) str() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	d.pos++
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			raw := d.data[start:d.pos]
			d.pos++
			return raw, utf8.Valid(raw)
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			return nil, false
		default:
			d.pos++
		}
	}
	return nil, false
}

// escapedStr finishes a string from start that has an escape at d.pos.
func (d *decodeState) escapedStr(start int) ([]byte, bool) {
	out := append([]byte(nil), d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return out, utf8.Valid(out)
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			return nil, false
		}
		switch e := d.data[d.pos+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.pos+6 > len(d.data) {
				return nil, false
			}
			r, ok := hex4(d.data[d.pos+2 : d.pos+6])
			if !ok || utf16.IsSurrogate(r) {
				return nil, false // surrogates: encoding/json's pairing rules
			}
			out = utf8.AppendRune(out, r)
			d.pos += 6
			continue
		default:
			return nil, false
		}
		d.pos += 2
	}
	return nil, false
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

func decodeInt(d *decodeState, v reflect.Value) bool {
	if d.null() {
		return true
	}
	tok, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || v.OverflowInt(n) {
		return false
	}
	v.SetInt(n)
	return true
}

func decodeUint(d *decodeState, v reflect.Value) bool {
	if d.null() {
		return true
	}
	tok, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(string(tok), 10, 64)
	if err != nil || v.OverflowUint(n) {
		return false
	}
	v.SetUint(n)
	return true
}

func decodeFloat(d *decodeState, v reflect.Value) bool {
	if d.null() {
		return true
	}
	tok, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
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

func sliceDecoder(elem decodeFunc) decodeFunc {
	if elem == nil {
		return nil
	}
	return func(d *decodeState, v reflect.Value) bool {
		if d.null() {
			return true
		}
		if !d.consume("[") {
			return false
		}
		// An empty array is an empty slice, not nil, as in encoding/json.
		s := reflect.MakeSlice(v.Type(), 0, 4)
		if d.consume("]") {
			v.Set(s)
			return true
		}
		for {
			if s.Len() == s.Cap() {
				grown := reflect.MakeSlice(v.Type(), s.Len(), 2*s.Cap())
				reflect.Copy(grown, s)
				s = grown
			}
			s = s.Slice(0, s.Len()+1)
			if !elem(d, s.Index(s.Len()-1)) {
				return false
			}
			if d.consume("]") {
				v.Set(s)
				return true
			}
			if !d.consume(",") {
				return false
			}
		}
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
		if !d.consume("{") {
			return false
		}
		m := reflect.MakeMap(v.Type())
		if !d.consume("}") {
			for {
				key, ok := d.str()
				if !ok || !d.consume(":") {
					return false
				}
				val := reflect.New(v.Type().Elem()).Elem()
				if !elem(d, val) {
					return false
				}
				m.SetMapIndex(reflect.ValueOf(string(key)).Convert(v.Type().Key()), val)
				if d.consume("}") {
					break
				}
				if !d.consume(",") {
					return false
				}
			}
		}
		v.Set(m)
		return true
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
		if !d.consume("{") {
			return false
		}
		if d.consume("}") {
			return true
		}
		var seen uint64
		for {
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
			if !fv.CanSet() || !decoded[i].decode(d, fv) {
				return false
			}
			if d.consume("}") {
				return true
			}
			if !d.consume(",") {
				return false
			}
		}
	}
}
