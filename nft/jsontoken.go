package nft

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON tokens as the direct encoder (encode.go) and decoder (unmarshal.go)
// write and read them, each exactly as encoding/json and the reference
// canonicalization (canonical.go) do.

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
