package store

import (
	"encoding/binary"
	"slices"
)

// Keys. Every key starts with a tag byte:
//
//	'm' name                       meta: height, tip hash, format
//	'b' <block>                    a block (big-endian uint64)
//	't' txID                       the transaction index
//	'n' namespace                  a namespace that holds state
//	's' <len(ns)> ns ...           a namespace's state and history:
//
// After the namespace (its length as a uvarint, then its bytes) comes the
// ledger key k, escaped (each 0x00 byte becomes 0x00 0xFF) and followed by
// a kind marker:
//
//	esc(k) 0x00 0x01                    state entry: version and value
//	esc(k) 0x00 0x02 <block> <tx>       history entry (big-endian uint64s)
//
// The escape keeps byte order: k1 < k2 exactly when esc(k1)+marker <
// esc(k2)+marker, so ranges of ledger keys are ranges of store keys, and a
// key's history follows its state entry, oldest first.
const (
	tagMeta      byte = 'm'
	tagBlock     byte = 'b'
	tagTx        byte = 't'
	tagNamespace byte = 'n'
	tagState     byte = 's'

	kindState   byte = 0x01
	kindHistory byte = 0x02
	// kindAfter is greater than every marker: esc(k) 0x00 kindAfter is the
	// first key past everything of k.
	kindAfter   byte = 0x03
	escapedZero byte = 0xFF
)

var (
	keyHeight  = "height"
	keyTipHash = "tiphash"
	keyFormat  = "format"
)

func metaKey(name string) []byte { return append([]byte{tagMeta}, name...) }

func blockKey(num uint64) []byte { return binary.BigEndian.AppendUint64([]byte{tagBlock}, num) }

func txKey(txID string) []byte { return append([]byte{tagTx}, txID...) }

func namespaceKey(ns string) []byte { return append([]byte{tagNamespace}, ns...) }

// nsPrefix starts every state and history key of namespace ns.
func nsPrefix(ns string) []byte {
	p := binary.AppendUvarint([]byte{tagState}, uint64(len(ns)))
	return append(p, ns...)
}

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

func stateKey(ns, key string) []byte { return append(escapeKey(nsPrefix(ns), key), 0, kindState) }

func historyPrefix(ns, key string) []byte {
	return append(escapeKey(nsPrefix(ns), key), 0, kindHistory)
}

func historyKey(ns, key string, ver Height) []byte {
	k := historyPrefix(ns, key)
	k = binary.BigEndian.AppendUint64(k, ver.Block)
	return binary.BigEndian.AppendUint64(k, ver.Tx)
}

// afterHistory is relative to the namespace prefix.
func afterHistory(key string) []byte { return append(escapeKey(nil, key), 0, kindAfter) }

// splitKey decodes a state or history key, without its namespace prefix,
// into the ledger key and its kind.
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
