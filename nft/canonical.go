package nft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Canonical returns the canonical JSON form of v, following RFC 8785 (JSON
// Canonicalization Scheme): object keys sorted, no insignificant whitespace,
// numbers in their shortest round-trip form, strings with minimal escaping.
// Any JCS implementation in another language reproduces the same bytes, so
// auditors outside Go can recompute digests.
//
// NaN and infinities have no JSON form and are refused.
func Canonical(v any) ([]byte, error) {
	if out, ok := encodeDirect(v); ok {
		return out, nil
	}
	return canonicalViaJSON(v)
}

// canonicalViaJSON is the reference encoding: encoding/json's rendering of
// v, canonicalized. The direct encoder (encode.go) must match it.
func canonicalViaJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	return CanonicalizeJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// CanonicalizeJSON rewrites a JSON document into its canonical form: it
// decodes it into a tree and writes the tree canonically. It is the
// reference the direct encoder is held to, and it serves what that encoder
// declines, which no ledger record is; it is not on any hot path.
func CanonicalizeJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("canonical encoding: trailing data after JSON value")
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, tree); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case json.Number:
		return writeNumber(buf, t)
	case string:
		writeString(buf, t)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// JCS sorts by UTF-16 code units; for the ASCII keys of our schema
		// this is byte order, and for others it differs only above U+FFFF.
		slices.SortFunc(keys, compareUTF16)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, t[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical encoding: unexpected %T", v)
	}
	return nil
}

// writeNumber prints a number the way ECMAScript's Number.prototype.toString
// does, which is what JCS requires. Go's encoding/json float formatting
// already follows that algorithm, so we parse and re-marshal.
func writeNumber(buf *bytes.Buffer, n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("canonical encoding: number %q is not a finite IEEE-754 double", n)
	}
	if f == 0 {
		f = 0 // -0 prints as 0 in JCS
	}
	out, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("canonical encoding: %w", err)
	}
	buf.Write(out)
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	buf.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if r < 0x20 {
				buf.WriteString(`\u00`)
				buf.WriteByte(hexDigits[r>>4])
				buf.WriteByte(hexDigits[r&0xf])
				continue
			}
			if r == utf8.RuneError {
				// Invalid UTF-8 was already replaced by the decoder; keep
				// the replacement character so the output stays valid.
				buf.WriteRune(utf8.RuneError)
				continue
			}
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
}

func compareUTF16(a, b string) int {
	ua, ub := utf16Units(a), utf16Units(b)
	return slices.Compare(ua, ub)
}

func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// DigestPrefix is the algorithm prefix of every digest the platform writes.
const DigestPrefix = "sha256:"

// DigestBytes returns "sha256:<hex>" of b.
func DigestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return DigestPrefix + hex.EncodeToString(sum[:])
}

// DigestOf returns the digest of v's canonical encoding.
func DigestOf(v any) (string, error) {
	c, err := Canonical(v)
	if err != nil {
		return "", err
	}
	return DigestBytes(c), nil
}

// IsDigest reports whether s is a well-formed "sha256:<64 lowercase hex>".
func IsDigest(s string) bool {
	if len(s) != len(DigestPrefix)+64 || s[:len(DigestPrefix)] != DigestPrefix {
		return false
	}
	return isLowerHex(s[len(DigestPrefix):])
}

// IsTokenID reports whether s is a well-formed token ID (64 lowercase hex
// characters: a uint256, as ERC-721 token IDs are).
func IsTokenID(s string) bool {
	return len(s) == 64 && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// TokenIDOf derives the token ID from a definition: the hex SHA-256 of its
// canonical encoding. Equal definitions get equal IDs, so a definition can be
// minted once only.
func TokenIDOf(d Definition) (string, error) {
	c, err := Canonical(d)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// ContentDigest returns the digest of the token's immutable content: the
// canonical encoding of {"definition", "id", "mint", "standard"}. State is
// excluded because transfers, revisions and retirement change it by design.
func ContentDigest(t Token) (string, error) {
	def, err := Canonical(t.Definition)
	if err != nil {
		return "", err
	}
	mint, err := Canonical(t.Mint)
	if err != nil {
		return "", err
	}
	return contentDigest(t, def, mint), nil
}

// contentDigest hashes the content object from the canonical encodings of
// the definition and the mint record, which a seal has at hand: the
// definition is most of a token, and encoding it once per seal instead of
// twice is a tenth of a mint. The members are written in their canonical
// (sorted) order; the test against a canonicalized struct holds this to
// RFC 8785.
func contentDigest(t Token, canonicalDef, mint []byte) string {
	h := sha256.New()
	h.Write([]byte(`{"definition":`))
	h.Write(canonicalDef)
	h.Write([]byte(`,"id":`))
	h.Write(canonicalString(t.ID))
	h.Write([]byte(`,"mint":`))
	h.Write(mint)
	h.Write([]byte(`,"standard":`))
	h.Write(canonicalString(t.Standard))
	h.Write([]byte(`}`))
	return DigestPrefix + hex.EncodeToString(h.Sum(nil))
}

func canonicalString(s string) []byte {
	var buf bytes.Buffer
	writeString(&buf, s)
	return buf.Bytes()
}

// sealParts are the canonical encodings a seal is computed from.
type sealParts struct{ definition, mint []byte }

// seal derives the token ID and content digest, canonicalizing the
// definition once.
func seal(t Token) (id, digest string, parts sealParts, err error) {
	if parts.definition, err = Canonical(t.Definition); err != nil {
		return "", "", parts, err
	}
	if parts.mint, err = Canonical(t.Mint); err != nil {
		return "", "", parts, err
	}
	sum := sha256.Sum256(parts.definition)
	t.ID = hex.EncodeToString(sum[:])
	return t.ID, contentDigest(t, parts.definition, parts.mint), parts, nil
}

// Seal fills in the token's standard, ID and digest from its content.
func Seal(t *Token) error {
	_, err := sealToken(t)
	return err
}

func sealToken(t *Token) (sealParts, error) {
	t.Standard = Standard
	id, digest, parts, err := seal(*t)
	if err != nil {
		return parts, err
	}
	t.ID, t.Digest = id, digest
	return parts, nil
}

// SealValid seals the token after checking everything else ValidateToken
// checks; the seal it has just computed is not derived a second time. The
// token is unchanged when it is refused.
func SealValid(t *Token) error {
	_, err := sealValid(t)
	return err
}

// SealValidEncoded is SealValid that also returns the sealed token's
// canonical encoding, the form a ledger stores. It is composed from the
// canonical definition and mint record the seal was computed from, which
// are most of a token, instead of encoding them once more.
func SealValidEncoded(t *Token) ([]byte, error) {
	parts, err := sealValid(t)
	if err != nil {
		return nil, err
	}
	state, err := Canonical(t.State)
	if err != nil {
		return nil, err
	}
	// The members in canonical (sorted) order; the test against Canonical
	// holds this to RFC 8785.
	var buf bytes.Buffer
	buf.Grow(len(parts.definition) + len(parts.mint) + len(state) + 256)
	buf.WriteString(`{"definition":`)
	buf.Write(parts.definition)
	buf.WriteString(`,"digest":`)
	writeString(&buf, t.Digest)
	buf.WriteString(`,"id":`)
	writeString(&buf, t.ID)
	buf.WriteString(`,"mint":`)
	buf.Write(parts.mint)
	buf.WriteString(`,"standard":`)
	writeString(&buf, t.Standard)
	buf.WriteString(`,"state":`)
	buf.Write(state)
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func sealValid(t *Token) (sealParts, error) {
	sealed := *t
	sealed.Standard = Standard
	var c checker
	checkContent(&c, sealed)
	if err := c.err(); err != nil {
		return sealParts{}, err
	}
	parts, err := sealToken(&sealed)
	if err != nil {
		return parts, err
	}
	*t = sealed
	return parts, nil
}

// RulesDigest returns the digest of a rule file's bytes.
func RulesDigest(yaml string) string { return DigestBytes([]byte(yaml)) }
