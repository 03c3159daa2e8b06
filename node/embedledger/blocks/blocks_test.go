package blocks_test

import (
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger/blocks"
)

func chain(t *testing.T, n int) []*common.Block {
	t.Helper()
	var out []*common.Block
	var prev []byte
	for i := range n {
		b, err := blocks.New(uint64(i), prev, [][]byte{[]byte{byte(i)}, []byte("tx")}, []peer.TxValidationCode{peer.TxValidationCode_VALID, peer.TxValidationCode_MVCC_READ_CONFLICT})
		if err != nil {
			t.Fatal(err)
		}
		prev = blocks.HeaderHash(b.GetHeader())
		out = append(out, b)
	}
	return out
}

func TestVerifierDetectsEveryBreakInTheChain(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(bs []*common.Block)
		want   string
	}{
		{"intact", func([]*common.Block) {}, ""},
		{"transaction altered", func(bs []*common.Block) { bs[2].Data.Data[1] = []byte("forged") }, "block 2: data hash"},
		{"transaction removed", func(bs []*common.Block) { bs[1].Data.Data = bs[1].Data.Data[:1] }, "block 1: data hash"},
		{"header rewritten to match altered data", func(bs []*common.Block) {
			bs[1].Data.Data[0] = []byte("forged")
			bs[1].Header.DataHash = blocks.DataHash(bs[1].Data.Data)
		}, "block 2: previous hash"},
		{"block skipped", func(bs []*common.Block) { bs[2] = bs[3] }, "block 2: header says number 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := chain(t, 4)
			tt.mutate(bs)
			var v blocks.Verifier
			var err error
			for _, b := range bs {
				if _, err = v.Add(b); err != nil {
					break
				}
			}
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidationCodesRoundTrip(t *testing.T) {
	b := chain(t, 1)[0]
	codes := blocks.ValidationCodes(b)
	if len(codes) != 2 || codes[0] != peer.TxValidationCode_VALID || codes[1] != peer.TxValidationCode_MVCC_READ_CONFLICT {
		t.Errorf("codes = %v", codes)
	}
}
