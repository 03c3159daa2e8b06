package store

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// FuzzUpdatesMatchAModel drives the store with any sequence of puts,
// deletes, reads, range scans and commits, some of them failing, and checks
// every read inside and between updates against a plain map: the overlay,
// the merged iterators, the state cache and the LevelDB snapshots must
// agree with it whatever the order.
//
//	go test -run '^$' -fuzz FuzzUpdatesMatchAModel -fuzztime 60s -fuzzminimizetime 2s ./node/embedledger/store
func FuzzUpdatesMatchAModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			return
		}
		s := openTemp(t)
		committed := map[string]Height{}
		block := uint64(0)
		for len(ops) > 0 {
			// One update: its operations run until a commit byte.
			live := maps.Clone(committed)
			fail := false
			err := s.Commit(func(u *Update) error {
				for len(ops) > 0 {
					op, arg := ops[0]>>4, int(ops[0]&0x0f)
					ops = ops[1:]
					key := trickyKeys[arg%len(trickyKeys)]
					h := Height{Block: block + 1, Tx: uint64(len(ops))}
					switch op % 6 {
					case 0, 1:
						live[key] = h
						if err := u.Put("cc", key, []byte(fmt.Sprint(h)), h); err != nil {
							return err
						}
					case 2:
						delete(live, key)
						if err := u.Delete("cc", key); err != nil {
							return err
						}
					case 3:
						_, ver, ok := u.Get("cc", key)
						if want, has := live[key]; ok != has || ver != want {
							t.Fatalf("in an update, Get(%q) = %v %v, want %v %v", key, ver, ok, want, has)
						}
					case 4:
						checkRange(t, u, live, key)
					case 5:
						fail = arg%3 == 0
						if fail {
							return fmt.Errorf("fuzz: abandoned update")
						}
						return u.AppendBlock(block, []byte(fmt.Sprint("block ", block)), []byte("hash"))
					}
				}
				return u.AppendBlock(block, []byte(fmt.Sprint("block ", block)), []byte("hash"))
			})
			if fail {
				if err == nil {
					t.Fatal("an abandoned update committed")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				committed = live
				block++
			}
			s.View(func(snap *Snapshot) error {
				for _, key := range trickyKeys {
					_, ver, ok := snap.Get("cc", key)
					if want, has := committed[key]; ok != has || ver != want {
						t.Fatalf("after commit, Get(%q) = %v %v, want %v %v", key, ver, ok, want, has)
					}
				}
				checkRange(t, snap, committed, "")
				return nil
			})
		}
	})
}

// checkRange checks the range from start to the end of the namespace.
func checkRange(t *testing.T, rd rangeReader, live map[string]Height, start string) {
	t.Helper()
	var want []string
	for _, k := range slices.Sorted(maps.Keys(live)) {
		if k >= start {
			want = append(want, k)
		}
	}
	var got []string
	it := rd.Range("cc", start, "")
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		got = append(got, e.Key)
		if e.Version != live[e.Key] {
			t.Fatalf("Range entry %q at %v, want %v", e.Key, e.Version, live[e.Key])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Range(%q) = %q, want %q", start, got, want)
	}
}
