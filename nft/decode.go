package nft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxDocumentSize bounds any s-528 document the decoders accept.
const MaxDocumentSize = 1 << 20

// DecodeStrict decodes one JSON document into v, refusing unknown fields,
// trailing data and oversize input. A misspelt field is an error, not a field
// silently left empty.
func DecodeStrict(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("empty document")
	}
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("document of %d bytes exceeds the %d-byte limit", len(data), MaxDocumentSize)
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
