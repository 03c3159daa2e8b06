package contracts_test

import (
	"encoding/json"
	"testing"
)

// TestStringsCarryNoSchemaConstraints: the chaincode's serializer passes
// strings through without the contract API's schema validation (other types
// still get it). That is only equivalent while the schema of every string
// parameter and result is a plain {"type": "string"} with no constraint to
// check. The contract API's own metadata says whether that still holds.
func TestStringsCarryNoSchemaConstraints(t *testing.T) {
	w := newWorld(t)
	raw := w.evaluate(w.org1.Client, "org.hyperledger.fabric:GetMetadata")
	var meta struct {
		Contracts map[string]struct {
			Transactions []struct {
				Name       string `json:"name"`
				Parameters []struct {
					Name   string          `json:"name"`
					Schema json.RawMessage `json:"schema"`
				} `json:"parameters"`
				Returns json.RawMessage `json:"returns"` // the result's schema`
			} `json:"transactions"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	// plainUnlessString is false for a string schema with constraints.
	plainUnlessString := func(schema json.RawMessage) bool {
		var s map[string]any
		if err := json.Unmarshal(schema, &s); err != nil {
			return false
		}
		return s["type"] != "string" || len(s) == 1
	}
	checked := 0
	for name, c := range meta.Contracts {
		if name == "org.hyperledger.fabric" {
			continue // the contract API's own system contract
		}
		for _, tx := range c.Transactions {
			checked++
			for _, p := range tx.Parameters {
				if !plainUnlessString(p.Schema) {
					t.Errorf("%s:%s parameter %s has schema %s; want no constraint on a string", name, tx.Name, p.Name, p.Schema)
				}
			}
			if !plainUnlessString(tx.Returns) {
				t.Errorf("%s:%s returns %s; want no constraint on a string", name, tx.Name, tx.Returns)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("metadata lists %d transactions; want every contract's", checked)
	}
}
