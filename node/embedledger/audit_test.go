package embedledger_test

import (
	"context"
	"strings"
	"testing"

	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
)

func TestAuditDetectsStateThatTheChainDoesNotExplain(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(u *store.Update) error
		want   string
	}{
		{"untouched", func(*store.Update) error { return nil }, ""},
		{"key no transaction wrote", func(u *store.Update) error { return u.Put(kvName, "planted", []byte("x"), store.Height{Block: 1}) }, "no valid transaction wrote"},
		{"value rewritten in place", func(u *store.Update) error { return u.Put(kvName, "a", []byte("forged"), store.Height{Block: 1}) }, "the chain says"},
		{"committed key lost", func(u *store.Update) error { return u.Delete(kvName, "b") }, "the state lacks it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLedger(t, dir, nil)
			gw := connect(t, l, "Org1MSP", "client", kvName)
			for _, k := range []string{"a", "b"} {
				if _, _, err := gw.Submit(context.Background(), "put", k, "v"); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.VerifyState(context.Background()); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			l.Close()
			s, err := store.Open(embedledger.StorePath(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Commit(tt.tamper); err != nil {
				t.Fatal(err)
			}
			err = embedledger.VerifyState(context.Background(), s)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("VerifyState = %v, want %q", err, tt.want)
			}
		})
	}
}
