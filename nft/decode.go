package nft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxDocumentSize bounds any s-528 document the decoders accept.
const MaxDocumentSize = 1 << 20

// DecodeStrict decodes one JSON document into v, refusing unknown fields,
// trailing data, oversize input, invalid UTF-8 and duplicate keys. A
// misspelt field is an error, not a field silently left empty; a repeated
// one is an error, not a field whose last value wins (encoding/json's
// rule, which another reader of the same bytes need not share); bytes that
// are not UTF-8 are an error, not text encoding/json replaces with U+FFFD.
func DecodeStrict(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("empty document")
	}
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("document of %d bytes exceeds the %d-byte limit", len(data), MaxDocumentSize)
	}
	if !utf8.Valid(data) {
		return errors.New("malformed JSON: the document is not valid UTF-8")
	}
	if err := checkUniqueKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed JSON: trailing data after the document")
	}
	return nil
}

// checkUniqueKeys refuses a document in which an object holds a key twice.
// Keys that differ only in case count as the same, as encoding/json matches
// them to the same field. Syntax errors are left to the decoder, which
// reports them with their position.
func checkUniqueKeys(data []byte) error {
	type level struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []*level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or a syntax error Decode reports
		}
		top := (*level)(nil)
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &level{keys: map[string]bool{}, expectKey: true})
			case '[':
				stack = append(stack, &level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if top != nil && top.keys != nil && top.expectKey {
				folded := strings.ToLower(strings.ToUpper(t))
				if top.keys[folded] {
					return fmt.Errorf("malformed JSON: duplicate key %q in an object", t)
				}
				top.keys[folded] = true
				top.expectKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// DecodeDefinition parses and validates a definition.
func DecodeDefinition(data []byte) (Definition, error) {
	var d Definition
	if err := DecodeStrict(data, &d); err != nil {
		return Definition{}, fmt.Errorf("s-528 definition: %w", err)
	}
	if err := ValidateDefinition(d); err != nil {
		return Definition{}, err
	}
	return d, nil
}

// DecodeToken parses and validates a minted token, including its ID and
// digest.
func DecodeToken(data []byte) (Token, error) {
	var t Token
	if err := DecodeStrict(data, &t); err != nil {
		return Token{}, fmt.Errorf("s-528 token: %w", err)
	}
	if err := ValidateToken(t); err != nil {
		return Token{}, err
	}
	return t, nil
}

// Encode returns the canonical JSON of a token or definition: what the ledger
// stores, so that stored bytes hash to the recorded digest.
func Encode(v any) ([]byte, error) { return Canonical(v) }
