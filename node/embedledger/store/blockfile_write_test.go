package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestAdvanceDropsWrittenBytesAcrossBuffers(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want [][]byte
	}{
		{"nothing written", 0, [][]byte{[]byte("head"), []byte("block")}},
		{"inside the first", 2, [][]byte{[]byte("ad"), []byte("block")}},
		{"exactly the first", 4, [][]byte{[]byte("block")}},
		{"into the second", 6, [][]byte{[]byte("ock")}},
		{"all", 9, [][]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := advance([][]byte{[]byte("head"), []byte("block")}, tt.n)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestWriteFullAtWritesTheBuffersInOrderAtTheOffset(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := writeFullAt(int(f.Fd()), 4, []byte("ab"), nil, []byte("cdefgh")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if string(got) != "0123abcdefgh" {
		t.Fatalf("file holds %q", got)
	}
}
