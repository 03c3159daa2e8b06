package nft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"
)

// Canonical returns the canonical JSON form of v, following RFC 8785 (JSON
// Canonicalization Scheme): object keys sorted by UTF-16 code units, no
// insignificant whitespace, numbers in ECMAScript's shortest round-trip
// form, strings with minimal escaping. Any JCS implementation in another
// language reproduces the same bytes, so auditors outside Go can recompute
// digests.
//
// encoding/json renders v and github.com/gowebpki/jcs canonicalizes the
// rendering: one encoder and one canonicalizer, both maintained elsewhere
// and tested against RFC 8785's vectors (TestCanonicalizeJSONFollowsRFC8785).
// NaN and infinities have no JSON form and are refused.
func Canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // JCS writes <, > and & literally
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	return CanonicalizeJSON(buf.Bytes())
}

// CanonicalizeJSON rewrites a JSON document into its RFC 8785 canonical
// form. It refuses what I-JSON (RFC 7493), on which RFC 8785 rests, does
// not allow: duplicate object keys, invalid UTF-8, lone surrogate escapes,
// numbers beyond IEEE-754 doubles.
func CanonicalizeJSON(raw []byte) ([]byte, error) {
	if len(raw) > MaxDocumentSize {
		return nil, fmt.Errorf("canonical encoding: document of %d bytes exceeds the %d-byte limit", len(raw), MaxDocumentSize)
	}
	if raw == nil {
		raw = []byte{}
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	return out, nil
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

// canonicalString is Canonical of a string, which cannot fail: encoding/json
// writes any Go string, invalid UTF-8 as U+FFFD.
func canonicalString(s string) []byte {
	out, err := Canonical(s)
	if err != nil {
		panic(fmt.Sprintf("nft: canonical encoding of a string: %v", err)) // unreachable
	}
	return out
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
	buf.Write(canonicalString(t.Digest))
	buf.WriteString(`,"id":`)
	buf.Write(canonicalString(t.ID))
	buf.WriteString(`,"mint":`)
	buf.Write(parts.mint)
	buf.WriteString(`,"standard":`)
	buf.Write(canonicalString(t.Standard))
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
