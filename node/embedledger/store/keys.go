package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Keys of a namespace bucket. A ledger key k is escaped (each 0x00 byte
// becomes 0x00 0xFF) and followed by a kind marker:
//
//	esc(k) 0x00 0x01                    state entry: version and value
//	esc(k) 0x00 0x02 <block> <tx>       history entry (big-endian uint64s)
//
// The escape keeps byte order: k1 < k2 exactly when esc(k1)+marker <
// esc(k2)+marker, so ranges of ledger keys are ranges of bucket keys, and a
// key's history follows its state entry, oldest first, on the same or the
// next B+tree page.
const (
	kindState   byte = 0x01
	kindHistory byte = 0x02
	// kindAfter is greater than every marker: esc(k) 0x00 kindAfter is the
	// first bucket key past everything of k.
	kindAfter   byte = 0x03
	escapedZero byte = 0xFF
)

func escapeKey(dst []byte, key string) []byte {
	dst = slices.Grow(dst, len(key)+2+16)
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			dst = append(dst, 0, escapedZero)
			continue
		}
		dst = append(dst, key[i])
	}
	return dst
}

func stateKey(key string) []byte { return append(escapeKey(nil, key), 0, kindState) }

func historyPrefix(key string) []byte { return append(escapeKey(nil, key), 0, kindHistory) }

func historyKey(key string, ver Height) []byte {
	k := historyPrefix(key)
	k = binary.BigEndian.AppendUint64(k, ver.Block)
	return binary.BigEndian.AppendUint64(k, ver.Tx)
}

func afterHistory(key string) []byte { return append(escapeKey(nil, key), 0, kindAfter) }

// splitKey decodes a bucket key into the ledger key and its kind.
func splitKey(k []byte) (key string, kind byte, ok bool) {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		if k[i] != 0 {
			out = append(out, k[i])
			continue
		}
		if i+1 >= len(k) {
			return "", 0, false
		}
		switch rest := len(k) - (i + 2); k[i+1] {
		case escapedZero:
			out = append(out, 0)
			i++
		case kindState:
			return string(out), kindState, rest == 0
		case kindHistory:
			return string(out), kindHistory, rest == 16
		default:
			return "", 0, false
		}
	}
	return "", 0, false
}

// migrate brings a store to the current format inside the opening
// transaction, so a crash leaves it wholly old or wholly new. Format 1 (no
// format key) kept state keys unescaped, history in its own bucket under
// uvarint(len(key)) key <block> <tx>, and blocks as plain values. The
// migration holds the moved data in memory until it commits, which is fine
// for the development ledgers that format 1 was used for.
func migrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keyFormat); v != nil {
		if len(v) != 8 || binary.BigEndian.Uint64(v) != format {
			return fmt.Errorf("ledger store format %x is not supported (this version reads format %d)", v, format)
		}
		return nil
	}
	state := tx.Bucket(bucketState)
	var namespaces [][]byte
	if err := state.ForEachBucket(func(ns []byte) error {
		namespaces = append(namespaces, slices.Clone(ns))
		return nil
	}); err != nil {
		return err
	}
	for _, ns := range namespaces {
		type kv struct{ k, v []byte }
		var entries []kv
		if err := state.Bucket(ns).ForEach(func(k, v []byte) error {
			entries = append(entries, kv{slices.Clone(k), slices.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		if err := state.DeleteBucket(ns); err != nil {
			return fmt.Errorf("migrate state of %s: %w", ns, err)
		}
		b, err := state.CreateBucket(ns)
		if err != nil {
			return fmt.Errorf("migrate state of %s: %w", ns, err)
		}
		for _, e := range entries {
			if err := b.Put(stateKey(string(e.k)), e.v); err != nil {
				return fmt.Errorf("migrate state of %s: %w", ns, err)
			}
		}
	}
	if hist := tx.Bucket(bucketHistory); hist != nil {
		err := hist.ForEachBucket(func(ns []byte) error {
			b, err := state.CreateBucketIfNotExists(ns)
			if err != nil {
				return err
			}
			return hist.Bucket(ns).ForEach(func(k, v []byte) error {
				key, ver, err := splitFormat1History(k)
				if err != nil {
					return fmt.Errorf("migrate history of %s: %w", ns, err)
				}
				return b.Put(historyKey(key, ver), slices.Clone(v))
			})
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketHistory); err != nil {
			return fmt.Errorf("migrate history: %w", err)
		}
	}
	if old := tx.Bucket(bucketBlocksFormat1); old != nil {
		blocks := tx.Bucket(bucketBlocks)
		err := old.ForEach(func(num, raw []byte) error {
			b, err := blocks.CreateBucket(slices.Clone(num))
			if err != nil {
				return err
			}
			return b.Put(keyBlock, slices.Clone(raw))
		})
		if err != nil {
			return fmt.Errorf("migrate blocks: %w", err)
		}
		if err := tx.DeleteBucket(bucketBlocksFormat1); err != nil {
			return fmt.Errorf("migrate blocks: %w", err)
		}
	}
	return meta.Put(keyFormat, u64(format))
}

func splitFormat1History(k []byte) (string, Height, error) {
	n, size := binary.Uvarint(k)
	if size <= 0 || uint64(len(k)-size) != n+16 {
		return "", Height{}, errors.New("malformed format-1 history key")
	}
	key := string(k[size : size+int(n)])
	rest := k[size+int(n):]
	return key, Height{Block: binary.BigEndian.Uint64(rest[:8]), Tx: binary.BigEndian.Uint64(rest[8:])}, nil
}
