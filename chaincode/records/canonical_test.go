package records_test

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// TestRecordsRoundTripCanonically: on random records of every type the
// contracts store, nft.Canonical is a fixed point of canonicalization, and
// what encoding/json decodes from it encodes to the same bytes again, so a
// record read and rewritten unchanged is stored unchanged.
func TestRecordsRoundTripCanonically(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	types := []reflect.Type{
		reflect.TypeFor[records.Event](), reflect.TypeFor[records.HistoryEntry](), reflect.TypeFor[records.Organization](),
		reflect.TypeFor[records.Node](), reflect.TypeFor[records.Round](), reflect.TypeFor[records.UpdateCommit](),
		reflect.TypeFor[records.AggregateVote](), reflect.TypeFor[records.GenerationRequest](), reflect.TypeFor[records.Proposal](),
		reflect.TypeFor[records.Decision](), reflect.TypeFor[records.Transfer](), reflect.TypeFor[records.OperatorApproval](),
		reflect.TypeFor[records.Page[records.Decision]](),
	}
	for _, typ := range types {
		t.Run(typ.Name(), func(t *testing.T) {
			for range 100 {
				v, ok := quick.Value(typ, rng)
				if !ok {
					t.Fatalf("no random %v", typ)
				}
				got, err := nft.Canonical(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if again, err := nft.CanonicalizeJSON(got); err != nil || !bytes.Equal(again, got) {
					t.Fatalf("Canonical's output is not canonical: %s -> %s (%v)", got, again, err)
				}
				decoded := reflect.New(typ)
				if err := json.Unmarshal(got, decoded.Interface()); err != nil {
					t.Fatal(err)
				}
				reencoded, err := nft.Canonical(decoded.Elem().Interface())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(reencoded, got) {
					t.Fatalf("decoded and encoded again as %s, was %s", reencoded, got)
				}
			}
		})
	}
}
