package sim

import (
	"bytes"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"
)

// TestReadWriteSetIsEncodedAsProtoMarshalDoes holds the one-buffer encoding
// of the read-write set to nested proto.Marshal calls.
func TestReadWriteSetIsEncodedAsProtoMarshalDoes(t *testing.T) {
	value := bytes.Repeat([]byte("v"), 300) // lengths past one varint byte
	tests := map[string]*kvrwset.KVRWSet{
		"empty":  {},
		"reads":  {Reads: []*kvrwset.KVRead{{Key: "k", Version: &kvrwset.Version{BlockNum: 1, TxNum: 2}}}},
		"writes": {Writes: []*kvrwset.KVWrite{{Key: "k", Value: value}, {Key: "d", IsDelete: true}}},
		"ranges": {RangeQueriesInfo: []*kvrwset.RangeQueryInfo{{StartKey: "a", EndKey: "b", ItrExhausted: true}}},
	}
	for name, kv := range tests {
		t.Run(name, func(t *testing.T) {
			kvWant, err := proto.Marshal(kv)
			if err != nil {
				t.Fatal(err)
			}
			want, err := proto.Marshal(&rwset.TxReadWriteSet{
				DataModel: rwset.TxReadWriteSet_KV,
				NsRwset:   []*rwset.NsReadWriteSet{{Namespace: "cc", Rwset: kvWant}},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalRWSet("cc", kv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %x, want %x", got, want)
			}
		})
	}
}
