package nft

import (
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The direct encoder writes a Go value in its RFC 8785 form in one pass,
// with each struct's fields in canonical key order, worked out once per
// type. Canonical used to marshal with encoding/json and canonicalize the
// output, which parsed every document again and sorted every object's
// members, three quarters of the cost of minting's four canonical
// encodings. The encoder renders what encoding/json would render and the
// canonicalizer would then rewrite, kind by kind; for what it does not
// handle (types with their own MarshalJSON or MarshalText, interface
// fields, embedded pointers, fields whose names clash, byte slices,
// float32, the ",string" and ",omitzero" options, non-string map keys)
// Canonical takes the marshal-and-canonicalize path, which stays the
// specification the encoder is tested against. Declining interfaces and recursive types keeps cyclic
// values, which only the reference path detects, away from the encoder.

// encodeFunc appends v's canonical encoding to dst.
type encodeFunc func(dst []byte, v reflect.Value) ([]byte, error)

// errNotDirect sends a value the encoder does not render, NaN or an
// infinity, to the reference path, which reports it.
var errNotDirect = errors.New("not directly encodable")

// typeEncoders caches an encodeFunc, or nil for "unsupported", per type.
// It is a memo of pure functions of the type, like encoding/json's own.
var typeEncoders sync.Map // reflect.Type -> encodeFunc

// encodeDirect returns v's canonical encoding, or false when the reference
// path must produce it.
func encodeDirect(v any) ([]byte, bool) {
	if v == nil {
		return []byte("null"), true
	}
	rv := reflect.ValueOf(v)
	enc := encoderOf(rv.Type())
	if enc == nil {
		return nil, false
	}
	buf := encodeBuffers.Get().(*[]byte)
	out, err := enc((*buf)[:0], rv)
	if err != nil {
		encodeBuffers.Put(buf)
		return nil, false
	}
	doc := slices.Clone(out)
	if cap(out) <= maxPooledBuffer {
		*buf = out[:0]
		encodeBuffers.Put(buf)
	}
	return doc, true
}

// encodeBuffers hold the buffers documents are written into before they
// are copied out at their exact size: growing a fresh buffer by doubling
// allocated twice a document's size. One grown past maxPooledBuffer by a
// large document is left to the collector.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuffer = 64 << 10

func encoderOf(t reflect.Type) encodeFunc { return memo(&typeEncoders, t, buildEncoder) }

// memo returns what build makes of t, built once and cached.
func memo[F any](cache *sync.Map, t reflect.Type, build func(reflect.Type, map[reflect.Type]bool) F) F {
	if cached, ok := cache.Load(t); ok {
		return cached.(F)
	}
	f := build(t, map[reflect.Type]bool{})
	cache.Store(t, f)
	return f
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// buildEncoder returns t's encoder, or nil if any part of t is outside
// what the encoder renders. building holds the types being built, so that
// a recursive type is declined instead of looping.
func buildEncoder(t reflect.Type, building map[reflect.Type]bool) encodeFunc {
	if building[t] || t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return nil
	}
	building[t] = true
	defer delete(building, t)
	switch t.Kind() {
	case reflect.Bool:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return strconv.AppendBool(dst, v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return appendInt(dst, v.Int()), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return appendUint(dst, v.Uint()), nil }
	case reflect.Float64:
		return encodeFloat
	case reflect.String:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return appendString(dst, v.String()), nil }
	case reflect.Pointer:
		return pointerEncoder(buildEncoder(t.Elem(), building))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64 in encoding/json
		}
		return listEncoder(buildEncoder(t.Elem(), building), true)
	case reflect.Array:
		return listEncoder(buildEncoder(t.Elem(), building), false)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Key().Implements(textMarshaler) {
			return nil
		}
		return mapEncoder(buildEncoder(t.Elem(), building))
	case reflect.Struct:
		return structEncoder(t, building)
	default:
		return nil // interfaces, float32, complex, channels, functions
	}
}

// appendInt writes an integer as the reference does, which reads every
// number as an IEEE double: up to 15 digits, exact in one, as they are;
// longer ones as the double they round to, as ECMAScript prints it.
func appendInt(dst []byte, n int64) []byte {
	if n > -1e15 && n < 1e15 {
		return strconv.AppendInt(dst, n, 10)
	}
	return appendECMAScriptNumber(dst, float64(n))
}

func appendUint(dst []byte, n uint64) []byte {
	if n < 1e15 {
		return strconv.AppendUint(dst, n, 10)
	}
	return appendECMAScriptNumber(dst, float64(n))
}

func encodeFloat(dst []byte, v reflect.Value) ([]byte, error) {
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errNotDirect
	}
	return appendECMAScriptNumber(dst, f), nil
}

func pointerEncoder(elem encodeFunc) encodeFunc {
	if elem == nil {
		return nil
	}
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return elem(dst, v.Elem())
	}
}

func listEncoder(elem encodeFunc, nilIsNull bool) encodeFunc {
	if elem == nil {
		return nil
	}
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		if nilIsNull && v.IsNil() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = elem(dst, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
}

func mapEncoder(elem encodeFunc) encodeFunc {
	if elem == nil {
		return nil
	}
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		keys := v.MapKeys()
		for _, k := range keys {
			if !utf8.ValidString(k.String()) {
				// Keys that differ only in invalid bytes become one key
				// once those turn into U+FFFD: the reference path decides.
				return nil, errNotDirect
			}
		}
		slices.SortFunc(keys, func(a, b reflect.Value) int { return compareKeys(a.String(), b.String()) })
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k.String())
			dst = append(dst, ':')
			var err error
			if dst, err = elem(dst, v.MapIndex(k)); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
}

// field is a struct field as encoding/json names and omits it; index
// leads to it through the embedded structs that promote it.
type field struct {
	index     []int
	name      string
	key       []byte // the name in canonical form, with the colon
	omitEmpty bool
	encode    encodeFunc
}

func structEncoder(t reflect.Type, building map[reflect.Type]bool) encodeFunc {
	fields, ok := structFields(t, nil, building)
	if !ok {
		return nil
	}
	slices.SortFunc(fields, func(a, b field) int { return compareKeys(a.name, b.name) })
	for i := 1; i < len(fields); i++ {
		if fields[i-1].name == fields[i].name {
			// encoding/json settles such clashes by depth and tags; the
			// records have none, so leave the rules to it.
			return nil
		}
	}
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		dst = append(dst, '{')
		first := true
		for _, f := range fields {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, f.key...)
			var err error
			if dst, err = f.encode(dst, fv); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
}

// structFields lists the fields encoding/json writes for struct type t,
// with the fields of untagged embedded structs promoted into it.
func structFields(t reflect.Type, prefix []int, building map[reflect.Type]bool) ([]field, bool) {
	var fields []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(slices.Clone(prefix), i)
		if sf.Anonymous && !validTagName(name) {
			if sf.Type.Kind() != reflect.Struct || building[sf.Type] {
				return nil, false // embedded pointers and non-structs
			}
			building[sf.Type] = true
			promoted, ok := structFields(sf.Type, index, building)
			delete(building, sf.Type)
			if !ok {
				return nil, false
			}
			fields = append(fields, promoted...)
			continue
		}
		// A tagged embedded struct is a plain field, even of an unexported
		// type, as in encoding/json.
		if !sf.IsExported() && !(sf.Anonymous && isStructOrPointerToOne(sf.Type)) {
			continue
		}
		if !validTagName(name) {
			name = sf.Name
		}
		if hasOption(opts, "string") || hasOption(opts, "omitzero") {
			return nil, false
		}
		f := field{index: index, name: name, omitEmpty: hasOption(opts, "omitempty")}
		if f.encode = buildEncoder(sf.Type, building); f.encode == nil {
			return nil, false
		}
		f.key = append(appendString(nil, name), ':')
		fields = append(fields, f)
	}
	return fields, true
}

func isStructOrPointerToOne(t reflect.Type) bool {
	return t.Kind() == reflect.Struct || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
}

func hasOption(opts, name string) bool {
	for opts != "" {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		if opt == name {
			return true
		}
	}
	return false
}

// validTagName is encoding/json's rule for a tag name it uses (else the
// field's Go name applies).
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c) && !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return false
		}
	}
	return true
}

// isEmptyValue is encoding/json's omitempty test.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// compareKeys orders object keys by UTF-16 code units, as JCS requires;
// for ASCII keys that is byte order.
func compareKeys(a, b string) int {
	if isASCIIString(a) && isASCIIString(b) {
		return strings.Compare(a, b)
	}
	return compareUTF16(a, b)
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendString writes s as a JCS string: the escapes writeString uses, and
// U+FFFD for each byte of invalid UTF-8, as encoding/json substitutes it.
// Runs of bytes that need nothing are copied whole.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	plain := 0 // start of the run not yet copied
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[plain:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			plain = i
			continue
		}
		dst = append(dst, s[plain:i]...)
		dst = appendEscape(dst, b)
		i++
		plain = i
	}
	dst = append(dst, s[plain:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, b byte) []byte {
	const hexDigits = "0123456789abcdef"
	switch b {
	case '"':
		return append(dst, `\"`...)
	case '\\':
		return append(dst, `\\`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
}
