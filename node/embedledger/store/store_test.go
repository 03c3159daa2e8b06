package store

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tricky keys: composite keys (0x00 separators), prefixes of each other,
// bytes just around the escape and the markers.
var trickyKeys = []string{
	"a", "ab", "a\x00", "a\x00b", "a\x00\x00", "a\x01", "a\x02", "a\x03", "a\xff", "a\xff\x00",
	"\x00", "\x00idx\x00a\x00", "\x00idx\x00ab\x00", "\x00idx\x00a\x00\x00", "b", "\xff", "\xff\xff",
}

// TestRangeMatchesSortedKeys: whatever was written and deleted, and however
// long each key's history, Range returns exactly the live keys of [start,
// end) in byte order, with their latest value and version.
func TestRangeMatchesSortedKeys(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(3, 4))
	live := map[string]Height{}
	for block := uint64(1); block <= 40; block++ {
		err := s.Commit(func(u *Update) error {
			for i := range 6 {
				key := trickyKeys[r.IntN(len(trickyKeys))]
				h := Height{Block: block, Tx: uint64(i)}
				del := r.IntN(4) == 0
				if del {
					delete(live, key)
					if err := u.Delete("cc", key); err != nil {
						return err
					}
				} else {
					live[key] = h
					if err := u.Put("cc", key, []byte(fmt.Sprint(h)), h); err != nil {
						return err
					}
				}
				if err := u.AddHistory("cc", key, h, &queryresult.KeyModification{TxId: fmt.Sprint(h), IsDelete: del}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bounds := append([]string{""}, trickyKeys...)
	err := s.View(func(snap *Snapshot) error {
		for _, start := range bounds {
			for _, end := range bounds {
				var want []string
				for _, k := range slices.Sorted(maps.Keys(live)) {
					if k >= start && (end == "" || k < end) {
						want = append(want, k)
					}
				}
				var got []string
				it := snap.Range("cc", start, end)
				for e, ok := it.Next(); ok; e, ok = it.Next() {
					got = append(got, e.Key)
					if e.Version != live[e.Key] || string(e.Value) != fmt.Sprint(live[e.Key]) {
						t.Errorf("Range entry %q = %+v %q, want version %+v", e.Key, e.Version, e.Value, live[e.Key])
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("Range(%q, %q) = %q, want %q", start, end, got, want)
				}
			}
		}
		for _, k := range trickyKeys {
			_, ver, ok := snap.Get("cc", k)
			if want, live := live[k]; ok != live || ver != want {
				t.Errorf("Get(%q) = %+v, %v; want %+v, %v", k, ver, ok, want, live)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHistoryIsPerKeyNewestFirst: a key's history holds its own
// modifications only, even for keys that are prefixes of others or contain
// 0x00, newest first, deletes included.
func TestHistoryIsPerKeyNewestFirst(t *testing.T) {
	s := openTemp(t)
	want := map[string][]string{}
	for block := uint64(1); block <= 5; block++ {
		err := s.Commit(func(u *Update) error {
			for i, key := range trickyKeys {
				h := Height{Block: block, Tx: uint64(i)}
				id := fmt.Sprintf("%q@%d.%d", key, h.Block, h.Tx)
				want[key] = append([]string{id}, want[key]...)
				if err := u.Put("cc", key, []byte(id), h); err != nil {
					return err
				}
				if err := u.AddHistory("cc", key, h, &queryresult.KeyModification{TxId: id}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(func(snap *Snapshot) error {
		for _, key := range append(trickyKeys, "never-written") {
			mods, err := snap.History("cc", key)
			if err != nil {
				return err
			}
			var got []string
			for _, m := range mods {
				got = append(got, m.GetTxId())
			}
			if !slices.Equal(got, want[key]) {
				t.Errorf("History(%q) = %q, want %q", key, got, want[key])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenMigratesFormat1: a store written in the first layout (unescaped
// state keys, history in its own bucket) opens with the same state, ranges
// and history.
func TestOpenMigratesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 16 * 1024})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "a\x00b", "b", "\x00idx\x00a\x00"}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"state", "history", "blocks", "txindex", "meta"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		st, err := tx.Bucket([]byte("state")).CreateBucket([]byte("cc"))
		if err != nil {
			return err
		}
		hist, err := tx.Bucket([]byte("history")).CreateBucket([]byte("cc"))
		if err != nil {
			return err
		}
		blocks := tx.Bucket([]byte("blocks"))
		for num := range uint64(3) {
			if err := blocks.Put(u64(num), []byte(fmt.Sprint("block ", num))); err != nil {
				return err
			}
		}
		for i, k := range keys {
			h := Height{Block: 1, Tx: uint64(i)}
			if err := st.Put([]byte(k), encodeVersioned(h, []byte("v-"+k))); err != nil {
				return err
			}
			for block := uint64(1); block <= 2; block++ {
				hk := binary.AppendUvarint(nil, uint64(len(k)))
				hk = append(hk, k...)
				hk = binary.BigEndian.AppendUint64(hk, block)
				hk = binary.BigEndian.AppendUint64(hk, uint64(i))
				raw, err := proto.Marshal(&queryresult.KeyModification{TxId: fmt.Sprintf("%d/%s", block, k)})
				if err != nil {
					return err
				}
				if err := hist.Put(hk, raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("open format-1 store: %v", err)
	}
	defer s.Close()
	err = s.View(func(snap *Snapshot) error {
		for _, b := range [][]byte{bucketHistory, bucketBlocksFormat1} {
			if snap.tx.Bucket(b) != nil {
				t.Errorf("the format-1 bucket %s is still there", b)
			}
		}
		for num := range uint64(4) {
			raw, ok := snap.BlockBytes(num)
			if want := fmt.Sprint("block ", num); (num < 3) != ok || (ok && string(raw) != want) {
				t.Errorf("BlockBytes(%d) after migration = %q, %v; want %q", num, raw, ok, want)
			}
		}
		var got []string
		it := snap.Range("cc", "", "")
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			got = append(got, e.Key)
			if string(e.Value) != "v-"+e.Key {
				t.Errorf("%q = %q after migration", e.Key, e.Value)
			}
		}
		if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
			t.Errorf("keys after migration = %q, want %q", got, want)
		}
		for _, k := range keys {
			mods, err := snap.History("cc", k)
			if err != nil {
				return err
			}
			if len(mods) != 2 || mods[0].GetTxId() != "2/"+k || mods[1].GetTxId() != "1/"+k {
				t.Errorf("History(%q) after migration = %v", k, mods)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, u64(99)) })
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path); err == nil || !strings.Contains(err.Error(), "format") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a format-99 store: err = %v, want a format error", err)
	}
}
