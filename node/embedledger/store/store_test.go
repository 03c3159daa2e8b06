package store

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/srellama/srellama/node/embedledger/fabmsg"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledgerdb"))
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
	err := s.View(func(snap *Snapshot) error {
		checkRanges(t, snap, "cc", live)
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

type rangeReader interface {
	Range(ns, start, end string) *Iterator
	Get(ns, key string) ([]byte, Height, bool)
}

// checkRanges checks every range between tricky keys of namespace ns
// against the live keys: exactly those keys, in order, with their versions
// and the values the tests write (the version printed).
func checkRanges(t *testing.T, rd rangeReader, ns string, live map[string]Height) {
	t.Helper()
	bounds := append([]string{""}, trickyKeys...)
	for _, start := range bounds {
		for _, end := range bounds {
			var want []string
			for _, k := range slices.Sorted(maps.Keys(live)) {
				if k >= start && (end == "" || k < end) {
					want = append(want, k)
				}
			}
			var got []string
			it := rd.Range(ns, start, end)
			for e, ok := it.Next(); ok; e, ok = it.Next() {
				got = append(got, e.Key)
				if e.Version != live[e.Key] || string(e.Value) != fmt.Sprint(live[e.Key]) {
					t.Fatalf("Range(%s) entry %q = %+v %q, want version %+v", ns, e.Key, e.Version, e.Value, live[e.Key])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Range(%s, %q, %q) = %q, want %q", ns, start, end, got, want)
			}
		}
	}
}

// TestHistoryIsPerKeyNewestFirst: a key's history holds its own
// modifications only, even for keys that are prefixes of others or contain
// 0x00, newest first, deletes included, each with the value its transaction
// wrote, read back from the block.
func TestHistoryIsPerKeyNewestFirst(t *testing.T) {
	s := openTemp(t)
	appendBlocks(t, s, "genesis")
	type mod struct {
		id, value string
		deleted   bool
	}
	// Ledger keys are UTF-8 (the simulator refuses others), as the write
	// sets that carry them must be.
	var keys []string
	for _, k := range trickyKeys {
		if utf8.ValidString(k) {
			keys = append(keys, k)
		}
	}
	want := map[string][]mod{}
	for block := uint64(1); block <= 5; block++ {
		err := s.Commit(func(u *Update) error {
			var txs [][]byte
			for i, key := range keys {
				h := Height{Block: block, Tx: uint64(i)}
				id := fmt.Sprintf("%q@%d.%d", key, h.Block, h.Tx)
				deleted := (int(block)+i)%4 == 0
				m := mod{id: id, deleted: deleted}
				if !deleted {
					m.value = "value of " + id
				}
				want[key] = append([]mod{m}, want[key]...)
				txs = append(txs, endorserTx(t, "cc", key, m.value, deleted))
				if deleted {
					u.Delete("cc", key)
				} else if err := u.Put("cc", key, []byte(m.value), h); err != nil {
					return err
				}
				if err := u.AddHistory("cc", key, h, &queryresult.KeyModification{TxId: id, Value: []byte(m.value), IsDelete: deleted}); err != nil {
					return err
				}
			}
			return u.AppendBlock(block, blockOf(t, block, txs), []byte(fmt.Sprint("hash", block)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(func(snap *Snapshot) error {
		for _, key := range append(keys, "never-written") {
			mods, err := snap.History("cc", key)
			if err != nil {
				return err
			}
			var got []mod
			for _, m := range mods {
				got = append(got, mod{id: m.GetTxId(), value: string(m.GetValue()), deleted: m.GetIsDelete()})
			}
			if !slices.Equal(got, want[key]) {
				t.Errorf("History(%q) = %v, want %v", key, got, want[key])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// endorserTx is a transaction envelope whose read-write set writes one key,
// shaped as fabmsg.ParseTransaction reads it.
func endorserTx(t *testing.T, ns, key, value string, deleted bool) []byte {
	t.Helper()
	marshal := func(m proto.Message) []byte {
		raw, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	sh := &common.SignatureHeader{Creator: []byte("creator"), Nonce: []byte(key + value)}
	shRaw := marshal(sh)
	ch := &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), TxId: fabmsg.TxID(sh.Nonce, sh.Creator)}
	kv := &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: key, Value: []byte(value), IsDelete: deleted}}}
	set := &rwset.TxReadWriteSet{NsRwset: []*rwset.NsReadWriteSet{{Namespace: ns, Rwset: marshal(kv)}}}
	prp := &peer.ProposalResponsePayload{Extension: marshal(&peer.ChaincodeAction{Results: marshal(set)})}
	action := &peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: marshal(prp)}}
	tx := &peer.Transaction{Actions: []*peer.TransactionAction{{Header: shRaw, Payload: marshal(action)}}}
	payload := &common.Payload{Header: &common.Header{ChannelHeader: marshal(ch), SignatureHeader: shRaw}, Data: marshal(tx)}
	return marshal(&common.Envelope{Payload: marshal(payload)})
}

func blockOf(t *testing.T, num uint64, txs [][]byte) []byte {
	t.Helper()
	raw, err := proto.Marshal(&common.Block{Header: &common.BlockHeader{Number: num}, Data: &common.BlockData{Data: txs}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestUpdateReadsItsOwnWrites: inside an update, Get and Range see the
// committed state under the update's own writes and deletions (validation
// of a block's later transactions depends on its earlier ones), and other
// namespaces, even ones whose names are prefixes, stay apart.
func TestUpdateReadsItsOwnWrites(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(5, 6))
	live := map[string]map[string]Height{"cc": {}, "c": {}}
	apply := func(u *Update, block uint64, n int) error {
		for i := range n {
			ns := []string{"cc", "c"}[r.IntN(2)]
			key := trickyKeys[r.IntN(len(trickyKeys))]
			h := Height{Block: block, Tx: uint64(i)}
			if r.IntN(3) == 0 {
				delete(live[ns], key)
				if err := u.Delete(ns, key); err != nil {
					return err
				}
				continue
			}
			live[ns][key] = h
			if err := u.Put(ns, key, []byte(fmt.Sprint(h)), h); err != nil {
				return err
			}
		}
		return nil
	}
	for block := uint64(1); block <= 10; block++ {
		if err := s.Commit(func(u *Update) error { return apply(u, block, 8) }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(rd rangeReader) {
		t.Helper()
		for ns, keys := range live {
			for _, key := range trickyKeys {
				_, ver, ok := rd.Get(ns, key)
				want, live := keys[key]
				if ok != live || ver != want {
					t.Fatalf("Get(%s, %q) = %v %v, want %v %v", ns, key, ver, ok, want, live)
				}
			}
			checkRanges(t, rd, ns, keys)
		}
	}
	err := s.Commit(func(u *Update) error {
		for range 5 {
			if err := apply(u, 11, 6); err != nil {
				return err
			}
			check(u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(snap *Snapshot) error { check(snap); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(snap *Snapshot) error {
		if got := snap.Namespaces(); !slices.Equal(got, []string{"c", "cc"}) {
			t.Fatalf("Namespaces() = %q", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestFailedUpdateWritesNothing: an update whose function fails leaves the
// store as it was.
func TestFailedUpdateWritesNothing(t *testing.T) {
	s := openTemp(t)
	err := s.Commit(func(u *Update) error {
		if err := u.Put("cc", "k", []byte("v"), Height{Block: 1}); err != nil {
			return err
		}
		return u.AppendBlock(0, []byte("block"), []byte("hash"))
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.Commit(func(u *Update) error {
		u.Put("cc", "k", []byte("other"), Height{Block: 2})
		u.Put("cc", "k2", []byte("v2"), Height{Block: 2})
		u.AppendBlock(1, []byte("block 1"), []byte("hash 1"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Commit = %v, want boom", err)
	}
	s.View(func(snap *Snapshot) error {
		if v, ver, _ := snap.Get("cc", "k"); string(v) != "v" || ver.Block != 1 {
			t.Errorf("k = %q at %v after a failed update", v, ver)
		}
		if _, _, ok := snap.Get("cc", "k2"); ok {
			t.Error("k2 exists after a failed update")
		}
		if h, tip := snap.Height(); h != 1 || string(tip) != "hash" {
			t.Errorf("height %d tip %q after a failed update", h, tip)
		}
		return nil
	})
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledgerdb")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Put(metaKey(keyFormat), u64(99), nil)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); err == nil || !strings.Contains(err.Error(), "format") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a format-99 store: err = %v, want a format error", err)
	}
}

func TestOpenExistingRefusesToCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if s, err := OpenExisting(dir); err == nil {
		s.Close()
		t.Fatal("OpenExisting created a store")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("OpenExisting left a folder behind")
	}
}

func appendBlocks(t *testing.T, s *Store, blocks ...string) {
	t.Helper()
	for _, b := range blocks {
		err := s.Commit(func(u *Update) error {
			h, _ := u.Height()
			return u.AppendBlock(h, []byte(b), []byte("hash of "+b))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readBlocks(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	s.View(func(snap *Snapshot) error {
		h, _ := snap.Height()
		for n := range h {
			raw, ok := snap.BlockBytes(n)
			if !ok {
				out = append(out, "<missing>")
				continue
			}
			out = append(out, string(raw))
		}
		return nil
	})
	return out
}

// TestBlockFileCrashRecovery: a record torn by a crash during its append
// is cut off on open, and the next block takes its place; a block file
// shorter than its index is refused; a damaged record reads as missing.
func TestBlockFileCrashRecovery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledgerdb")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, s, "block zero", "block one")
	s.Close()
	blocks := filepath.Join(dir, "blocks")
	info, _ := os.Stat(blocks)
	f, _ := os.OpenFile(blocks, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("\x00\x00\x00\x20torn record of a block never indexed"))
	f.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(blocks); after.Size() != info.Size() {
		t.Fatalf("block file is %d bytes after open, want the indexed %d", after.Size(), info.Size())
	}
	appendBlocks(t, s, "block two")
	if got := readBlocks(t, s); !slices.Equal(got, []string{"block zero", "block one", "block two"}) {
		t.Fatalf("blocks after recovery = %q", got)
	}
	s.Close()

	raw, _ := os.ReadFile(blocks)
	raw[recordHeader] ^= 0xFF // the first block's first byte
	os.WriteFile(blocks, raw, 0o600)
	// Open verifies every indexed block's checksum and refuses the damage,
	// naming the block and the remedy.
	if s, err := Open(dir); err == nil || !errors.Is(err, ErrDamaged) ||
		!strings.Contains(err.Error(), "block 0 (record at offset 0) fails its checksum") || !strings.Contains(err.Error(), "restore") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with block 0 damaged = %v, want it refused", err)
	}
	// Verifying only the last two blocks, it opens; block 0 then reads
	// as damaged, not as missing.
	s, err = OpenWith(dir, Options{VerifyBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := readBlocks(t, s); !slices.Equal(got, []string{"<missing>", "block one", "block two"}) {
		t.Fatalf("blocks with the first damaged = %q", got)
	}
	s.View(func(snap *Snapshot) error {
		if _, err := snap.Block(0); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "block 0") {
			t.Errorf("Block(0) = %v, want damage named", err)
		}
		if _, err := snap.Block(3); !errors.Is(err, ErrNoBlock) {
			t.Errorf("Block(3) = %v, want ErrNoBlock", err)
		}
		snap.BlockBytes(0)
		if !errors.Is(snap.Err(), ErrDamaged) {
			t.Errorf("after a damaged block read, the snapshot's Err is %v", snap.Err())
		}
		return nil
	})
	s.Close()

	os.WriteFile(blocks, raw[:len(raw)-1], 0o600)
	if s, err := Open(dir); err == nil || !strings.Contains(err.Error(), "short") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with a block file one byte short = %v, want it refused", err)
	}
}

// TestSnapshotsReadTheirOwnHeightThroughTheCache: the state cache holds the
// latest values, yet a view keeps reading the state as of the height it was
// opened at, whatever commits land meanwhile; absence is cached as well, and
// what a read returns is the caller's to change.
func TestSnapshotsReadTheirOwnHeightThroughTheCache(t *testing.T) {
	s := openTemp(t)
	commit := func(block uint64, writes map[string]string) {
		t.Helper()
		err := s.Commit(func(u *Update) error {
			for k, v := range writes {
				if v == "" {
					u.Delete("cc", k)
				} else if err := u.Put("cc", k, []byte(v), Height{Block: block}); err != nil {
					return err
				}
			}
			return u.AppendBlock(block, []byte(fmt.Sprint("block ", block)), []byte("hash"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() *Snapshot {
		t.Helper()
		snap, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { snap.Close() })
		return snap
	}
	expect := func(name string, snap *Snapshot, key, want string) {
		t.Helper()
		v, _, ok := snap.Get("cc", key)
		if got := map[bool]string{true: string(v), false: "<none>"}[ok]; got != want {
			t.Errorf("%s: %s = %s, want %s", name, key, got, want)
		}
	}

	commit(0, map[string]string{"k": "v0"})
	a := snapshot()
	expect("at height 1", a, "k", "v0")
	expect("at height 1", a, "x", "<none>") // absence now cached
	commit(1, map[string]string{"k": "v1", "j": "new"})
	b := snapshot()
	expect("view opened before block 1", a, "k", "v0")
	expect("view opened before block 1", a, "j", "<none>")
	expect("view opened after block 1", b, "k", "v1")
	expect("view opened after block 1", b, "j", "new")
	commit(2, map[string]string{"k": "", "x": "now"})
	c := snapshot()
	for _, v := range []struct {
		name string
		snap *Snapshot
		want uint64
	}{{"a", a, 1}, {"b", b, 2}, {"c", c, 3}} {
		if n, _ := v.snap.Height(); v.snap.BlockCount() != v.want || n != v.want {
			t.Errorf("view %s: BlockCount %d, Height %d, want %d", v.name, v.snap.BlockCount(), n, v.want)
		}
	}
	expect("view opened after the delete", c, "k", "<none>")
	expect("view opened before the delete", b, "k", "v1")
	expect("view opened before x was written", a, "x", "<none>")
	expect("view opened after x was written", c, "x", "now")

	v, _, _ := c.Get("cc", "x")
	v[0] = 'N'
	expect("after the caller changed a returned value", c, "x", "now")
}

// TestUnindexedBlocksWaitToBeAdopted: a whole block in the block file that
// the index lacks (LevelDB lost its batch) is reported by Unindexed, new
// blocks are refused until it is adopted, and adopting indexes it where it
// lies.
func TestUnindexedBlocksWaitToBeAdopted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledgerdb")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, s, "block zero")
	s.Close()
	index := filepath.Join(dir, "index")
	if out, err := exec.Command("cp", "-a", index, index+".earlier").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, s, "block one")
	s.Close()
	os.RemoveAll(index)
	os.Rename(index+".earlier", index)

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	un := s.Unindexed()
	if len(un) != 1 || un[0].Num != 1 || string(un[0].Bytes) != "block one" {
		t.Fatalf("Unindexed() = %+v, want block 1", un)
	}
	err = s.Commit(func(u *Update) error { return u.AppendBlock(1, []byte("another block one"), nil) })
	if err == nil || !strings.Contains(err.Error(), "applied") {
		t.Fatalf("appending before adopting = %v, want it refused", err)
	}
	if err := s.Commit(func(u *Update) error { return u.AdoptBlock(1, []byte("hash of block one")) }); err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, s, "block two")
	if got := readBlocks(t, s); !slices.Equal(got, []string{"block zero", "block one", "block two"}) {
		t.Fatalf("blocks = %q", got)
	}
	if len(s.Unindexed()) != 0 {
		t.Fatal("a block is still unindexed after adoption")
	}
}

// TestStoreTxStatusReadsTheCommittedIndex: the store's direct lookup finds
// what a committed update indexed, as a snapshot does, and nothing of an
// update that failed.
func TestStoreTxStatusReadsTheCommittedIndex(t *testing.T) {
	s := openTemp(t)
	want := TxStatus{Block: 3, Tx: 7, Code: peer.TxValidationCode_MVCC_READ_CONFLICT}
	if err := s.Commit(func(u *Update) error { return u.IndexTx("committed", want) }); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	if err := s.Commit(func(u *Update) error {
		if err := u.IndexTx("failed", want); err != nil {
			return err
		}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("commit = %v, want the update's error", err)
	}
	if got, ok, err := s.TxStatus("committed"); !ok || err != nil || got != want {
		t.Errorf("TxStatus(committed) = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	s.View(func(snap *Snapshot) error {
		if got, ok := snap.TxStatus("committed"); !ok || got != want {
			t.Errorf("a snapshot reads %+v, %v", got, ok)
		}
		return nil
	})
	for _, id := range []string{"failed", "never submitted"} {
		if got, ok, err := s.TxStatus(id); ok || err != nil {
			t.Errorf("TxStatus(%s) = %+v, %v, want absent", id, got, err)
		}
	}
}
