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

// TestRecordsEncodeCanonicallyAsTheReference holds nft.Canonical, which
// encodes these types directly, to what encoding/json renders once
// canonicalized, and nft.Unmarshal to what encoding/json decodes from it, on
// random records of every type the contracts store.
func TestRecordsEncodeCanonicallyAsTheReference(t *testing.T) {
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
				raw, err := json.Marshal(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				want, err := nft.CanonicalizeJSON(raw)
				if err != nil {
					t.Fatal(err)
				}
				got, err := nft.Canonical(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("Canonical differs from the canonicalized encoding/json output\n got %s\nwant %s", got, want)
				}
				decoded, reference := reflect.New(typ), reflect.New(typ)
				if err := nft.Unmarshal(got, decoded.Interface()); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(got, reference.Interface()); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(decoded.Interface(), reference.Interface()) {
					t.Fatalf("nft.Unmarshal decodes %s as %#v, encoding/json as %#v", got, decoded.Elem(), reference.Elem())
				}
			}
		})
	}
}
