package nft

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// canonicalizeFast rewrites a JSON document into its canonical form in one
// pass over the bytes, without decoding into a tree of interfaces, which
// made canonical encoding a sixth of a token mint's CPU time.
//
// It handles what encoding/json produces and anything else it is sure to
// render exactly as the tree-based canonicalizeTree does. Whenever it meets
// something it does not settle itself (malformed input, invalid UTF-8, a
// surrogate escape, a duplicate key, a number that does not parse), it
// reports false and the caller falls back to canonicalizeTree, which is
// the specification of the output and produces the errors.
func canonicalizeFast(raw []byte) ([]byte, bool) {
	c := fastCanonicalizer{in: raw, out: make([]byte, 0, len(raw))}
	if !c.value(0) {
		return nil, false
	}
	c.skipSpace()
	if c.pos != len(c.in) {
		return nil, false
	}
	return c.out, true
}

// maxFastDepth bounds recursion; deeper documents take the tree path.
const maxFastDepth = 512

type fastCanonicalizer struct {
	in      []byte
	pos     int
	out     []byte
	members []fastMember // a stack shared by nested objects
	scratch []byte
}

// fastMember is an object member already written to out: its decoded key
// and the span of `"key":value` in out.
type fastMember struct {
	key        []byte
	start, end int
}

func (c *fastCanonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *fastCanonicalizer) value(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	c.skipSpace()
	if c.pos >= len(c.in) {
		return false
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		return c.stringValue()
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	default:
		return c.literal("true") || c.literal("false") || c.literal("null")
	}
}

func (c *fastCanonicalizer) literal(lit string) bool {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
		return false
	}
	c.pos += len(lit)
	c.out = append(c.out, lit...)
	return true
}

func (c *fastCanonicalizer) array(depth int) bool {
	c.pos++ // [
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return false
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return true
		default:
			return false
		}
	}
}

// object writes the members in input order, then reorders their spans in
// out by key.
func (c *fastCanonicalizer) object(depth int) bool {
	c.pos++ // {
	c.out = append(c.out, '{')
	body := len(c.out)
	base := len(c.members)
	defer func() { c.members = c.members[:base] }()
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return true
	}
	for {
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return false
		}
		key, ok := c.str()
		if !ok {
			return false
		}
		start := len(c.out)
		c.writeString(key)
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return false
		}
		c.pos++
		c.out = append(c.out, ':')
		if !c.value(depth + 1) {
			return false
		}
		c.members = append(c.members, fastMember{key: key, start: start, end: len(c.out)})
		c.skipSpace()
		if c.pos >= len(c.in) {
			return false
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] != ',' {
			return false
		}
		c.pos++
		c.out = append(c.out, ',')
	}
	ms := c.members[base:]
	if !slices.IsSortedFunc(ms, compareMembers) {
		slices.SortFunc(ms, compareMembers)
		c.scratch = append(c.scratch[:0], c.out[body:]...)
		c.out = c.out[:body]
		for i, m := range ms {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.out = append(c.out, c.scratch[m.start-body:m.end-body]...)
		}
	}
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key, ms[i].key) {
			return false // the tree keeps the last duplicate: leave it to it
		}
	}
	c.out = append(c.out, '}')
	return true
}

func compareMembers(a, b fastMember) int { return compareKeyBytes(a.key, b.key) }

// compareKeyBytes orders keys by UTF-16 code units as JCS requires; for
// ASCII keys that is byte order.
func compareKeyBytes(a, b []byte) int {
	if isASCII(a) && isASCII(b) {
		return bytes.Compare(a, b)
	}
	return compareUTF16(string(a), string(b))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// str reads a string token and returns its decoded content.
func (c *fastCanonicalizer) str() ([]byte, bool) {
	content, next, ok := readString(c.in, c.pos)
	c.pos = next
	return content, ok
}

// readString reads the string token that starts with the quote at in[pos]
// and returns its decoded content, and where the token ends. Content
// without escapes is a slice of in. It refuses what it does not decode
// exactly as encoding/json does: invalid UTF-8 (encoding/json substitutes
// U+FFFD), surrogate escapes (and their pairing rules), raw control
// characters (invalid JSON).
func readString(in []byte, pos int) (content []byte, next int, ok bool) {
	pos++ // opening quote
	start := pos
	escaped := false
	for pos < len(in) {
		switch b := in[pos]; {
		case b == '"':
			raw := in[start:pos]
			if !utf8.Valid(raw) {
				return nil, pos + 1, false
			}
			if !escaped {
				return raw, pos + 1, true
			}
			content, ok := unescapeJSON(raw)
			return content, pos + 1, ok
		case b == '\\':
			escaped = true
			pos += 2
		case b < 0x20:
			return nil, pos, false
		default:
			pos++
		}
	}
	return nil, pos, false
}

// stringValue copies a string token. One already in canonical form, the
// common case once encoding/json leaves HTML characters alone, is copied as
// it stands; rule text full of escaped newlines would otherwise be decoded
// and encoded again byte by byte.
func (c *fastCanonicalizer) stringValue() bool {
	start := c.pos
	if end, ok := canonicalStringEnd(c.in, start); ok {
		c.out = append(c.out, c.in[start:end]...)
		c.pos = end
		return true
	}
	s, ok := c.str()
	if !ok {
		return false
	}
	c.writeString(s)
	return true
}

// canonicalStringEnd reports where the string token at in[start] ends if
// the token is exactly what writeString would produce for its content:
// valid UTF-8, no raw control characters, and only the escapes JCS uses
// (\" \\ \b \f \n \r \t, and \u00xx in lower-case hex for the other
// control characters).
func canonicalStringEnd(in []byte, start int) (int, bool) {
	const shortEscapes = "\"\\bfnrt"
	for i := start + 1; i < len(in); {
		switch b := in[i]; {
		case b == '"':
			return i + 1, utf8.Valid(in[start+1 : i])
		case b < 0x20:
			return 0, false
		case b != '\\':
			i++
		case i+1 < len(in) && strings.IndexByte(shortEscapes, in[i+1]) >= 0:
			i += 2
		case i+5 < len(in) && in[i+1] == 'u' && in[i+2] == '0' && in[i+3] == '0' && in[i+4] <= '1' && in[i+4] >= '0' &&
			isLowerHexDigit(in[i+5]) && !hasShortEscape(rune(in[i+4]-'0')<<4|hexValue(in[i+5])):
			i += 6
		default:
			return 0, false
		}
	}
	return 0, false
}

func isLowerHexDigit(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }

func hexValue(b byte) rune {
	if b <= '9' {
		return rune(b - '0')
	}
	return rune(b-'a') + 10
}

// hasShortEscape: the control characters JCS writes as \b \t \n \f \r.
func hasShortEscape(r rune) bool {
	return r == '\b' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
}

// unescapeJSON decodes the escapes of a string's content. Surrogate escapes
// (paired or not) are left to the tree path.
func unescapeJSON(raw []byte) ([]byte, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		b := raw[i]
		if b != '\\' {
			out = append(out, b)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return nil, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
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
			if i+6 > len(raw) {
				return nil, false
			}
			r, ok := hex4(raw[i+2 : i+6])
			if !ok || utf16.IsSurrogate(r) {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return out, true
}

func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// writeString appends s in canonical form. s is valid UTF-8 (str checks),
// so bytes that need no escape are copied in runs.
func (c *fastCanonicalizer) writeString(s []byte) {
	plain := true
	for _, b := range s {
		if b < 0x20 || b == '"' || b == '\\' {
			plain = false
			break
		}
	}
	if plain {
		c.out = append(c.out, '"')
		c.out = append(c.out, s...)
		c.out = append(c.out, '"')
		return
	}
	var buf bytes.Buffer
	writeString(&buf, string(s))
	c.out = append(c.out, buf.Bytes()...)
}

// number copies a short integer as it is (ECMAScript prints integers below
// 2^53 in plain digits) and reformats anything else as the tree path does.
func (c *fastCanonicalizer) number() bool {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	digits := c.pos
	for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
		c.pos++
	}
	intLen := c.pos - digits
	simple := intLen > 0 && intLen <= 15 && (c.in[digits] != '0' || intLen == 1)
	for c.pos < len(c.in) && strings.IndexByte("0123456789+-.eE", c.in[c.pos]) >= 0 {
		simple = false
		c.pos++
	}
	lit := c.in[start:c.pos]
	if simple && string(lit) != "-0" {
		c.out = append(c.out, lit...)
		return true
	}
	if !isJSONNumber(lit) {
		return false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return false
	}
	c.out = appendECMAScriptNumber(c.out, f)
	return true
}

// appendECMAScriptNumber formats f as encoding/json does for a float64,
// which is ECMAScript's Number.prototype.toString (what writeNumber relies
// on), without going through json.Marshal. -0 prints as 0.
func appendECMAScriptNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as ECMAScript writes exponents.
		b := dst[start:]
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// isJSONNumber checks the JSON number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func isJSONNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
