package cli

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Machine-readable output always encodes. JSON has no NaN or infinity, so
// encoding/json refuses a run's result as soon as one figure is undefined (a
// ratio with no samples) or unbounded. writeJSON then encodes a copy in which
// every such figure is null and says why in one place, by one convention:
//
//   - a struct field "x" that holds NaN, +Inf or -Inf is written as
//     "x": null, and the object gains "x_note" with the value it had and
//     what that means, e.g. "NaN: undefined (no data to compute it from)";
//   - inside a list or a map, the item is null and the field "x" holding
//     the list or map gains "x_note" naming the items:
//     "[2] NaN: undefined ...; [5] +Inf: ..." or "recall: -Inf: ...".
//     (A note inside the map would break decoding it into a map of numbers.)
//
// A reader that ignores unknown fields decodes such output into the same
// types as before (null leaves a float at zero); one that looks for the
// notes learns which figures were missing.

// noteSuffix is appended to a field's name for the note on its value.
const noteSuffix = "_note"

// nonFiniteNote says what a NaN or infinite figure meant.
func nonFiniteNote(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN: undefined (no data to compute it from)"
	case math.IsInf(x, 1):
		return "+Inf: unbounded (a division by zero or an empty range)"
	default:
		return "-Inf: unbounded below (a division by zero or an empty range)"
	}
}

// marshalFinite encodes v as encoding/json would, except that non-finite
// floats become null with notes (above).
func marshalFinite(v any) ([]byte, error) {
	out, err := json.Marshal(v)
	var unsupported *json.UnsupportedValueError
	if err == nil || !errors.As(err, &unsupported) {
		return out, err
	}
	safe, _, err := finite(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return json.Marshal(safe)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// finite returns a JSON-safe copy of v and, when v itself is a non-finite
// float, the note its holder must carry.
func finite(v reflect.Value) (any, string, error) {
	if !v.IsValid() {
		return nil, "", nil
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface || !v.IsNil() {
		if v.Type().Implements(jsonMarshaler) || v.Type().Implements(textMarshaler) {
			raw, err := json.Marshal(v.Interface())
			return json.RawMessage(raw), "", err
		}
		if v.CanAddr() && reflect.PointerTo(v.Type()).Implements(jsonMarshaler) {
			raw, err := json.Marshal(v.Addr().Interface())
			return json.RawMessage(raw), "", err
		}
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nonFiniteNote(x), nil
		}
		return v.Interface(), "", nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, "", nil
		}
		return finite(v.Elem())
	case reflect.Struct:
		obj, err := finiteStruct(v)
		return obj, "", err
	case reflect.Map:
		return finiteMap(v)
	case reflect.Slice:
		if v.IsNil() {
			return nil, "", nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 { // []byte: base64, as encoding/json
			return v.Interface(), "", nil
		}
		fallthrough
	case reflect.Array:
		items := make([]any, v.Len())
		var notes []string
		for i := range v.Len() {
			item, note, err := finite(v.Index(i))
			if err != nil {
				return nil, "", err
			}
			items[i] = item
			if note != "" {
				notes = append(notes, fmt.Sprintf("[%d] %s", i, note))
			}
		}
		return items, strings.Join(notes, "; "), nil
	}
	return v.Interface(), "", nil
}

// object is a JSON object that keeps its keys in order.
type object struct {
	keys   []string
	values map[string]any
}

func (o *object) set(key string, value any) {
	if o.values == nil {
		o.values = map[string]any{}
	}
	if _, dup := o.values[key]; !dup {
		o.keys = append(o.keys, key)
	}
	o.values[key] = value
}

func (o *object) has(key string) bool { _, ok := o.values[key]; return ok }

// add sets key to value and, when the value lost a figure, key_note.
func (o *object) add(key string, value any, note string) {
	o.set(key, value)
	if note != "" {
		o.set(key+noteSuffix, note)
	}
}

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		val, err := json.Marshal(o.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// finiteMap copies a map with its keys in encoding/json's sorted order.
func finiteMap(v reflect.Value) (any, string, error) {
	if v.IsNil() {
		return nil, "", nil
	}
	type entry struct {
		key string
		val reflect.Value
	}
	var entries []entry
	for it := v.MapRange(); it.Next(); {
		k, err := mapKey(it.Key())
		if err != nil {
			return nil, "", err
		}
		entries = append(entries, entry{k, it.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	o := &object{}
	var notes []string
	for _, e := range entries {
		val, note, err := finite(e.val)
		if err != nil {
			return nil, "", err
		}
		o.set(e.key, val)
		if note != "" {
			notes = append(notes, e.key+": "+note)
		}
	}
	return o, strings.Join(notes, "; "), nil
}

func mapKey(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("encode output: unsupported map key type %s", k.Type())
}

// finiteStruct copies a struct's exported fields under their JSON names,
// honouring "-", omitempty, omitzero and ",string" on numbers, and promoting
// the fields of embedded structs that have no name of their own (a field of
// the outer struct wins over a promoted one of the same name).
func finiteStruct(v reflect.Value) (*object, error) {
	t := v.Type()
	own := map[string]bool{} // names of the struct's own fields
	for i := range t.NumField() {
		if name, ok := fieldName(t.Field(i)); ok {
			own[name] = true
		}
	}
	o := &object{}
	for i := range t.NumField() {
		sf := t.Field(i)
		fv := v.Field(i)
		name, ok := fieldName(sf)
		if !ok {
			if inner, err := embedded(sf, fv); err != nil {
				return nil, err
			} else if inner != nil {
				for _, k := range inner.keys {
					if !own[k] && !o.has(k) {
						o.set(k, inner.values[k])
					}
				}
			}
			continue
		}
		_, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if hasOpt(opts, "omitempty") && isEmpty(fv) || hasOpt(opts, "omitzero") && isZero(fv) {
			continue
		}
		val, note, err := finite(fv)
		if err != nil {
			return nil, err
		}
		if hasOpt(opts, "string") && note == "" && quotable(fv.Kind()) {
			raw, err := json.Marshal(val)
			if err != nil {
				return nil, err
			}
			val = string(raw)
		}
		o.add(name, val, note)
	}
	return o, nil
}

// fieldName is the JSON name of a struct field; ok is false for fields
// encoding/json skips and for embedded structs whose fields it promotes.
func fieldName(sf reflect.StructField) (string, bool) {
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if sf.Anonymous && name == "" {
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			return "", false
		}
	}
	if !sf.IsExported() {
		return "", false
	}
	if name == "" {
		name = sf.Name
	}
	return name, true
}

// embedded copies an embedded struct whose fields are promoted (nil for
// any other skipped field).
func embedded(sf reflect.StructField, fv reflect.Value) (*object, error) {
	if !sf.Anonymous || sf.Tag.Get("json") == "-" {
		return nil, nil
	}
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return nil, nil
		}
		fv = fv.Elem()
	}
	if fv.Kind() != reflect.Struct {
		return nil, nil
	}
	return finiteStruct(fv)
}

func quotable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero is encoding/json's omitzero test.
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}
