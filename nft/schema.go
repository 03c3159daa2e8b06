package nft

import _ "embed"

// JSONSchema is the JSON Schema (draft-07) of a minted s-528 token, for
// auditors and tools outside Go. The Go validation is stricter (it checks
// digests, derived values and cross-field consistency); every token that
// passes ValidateToken also validates against this schema, which tests
// check.
//
//go:embed s528.schema.json
var JSONSchema []byte
