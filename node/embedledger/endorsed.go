package embedledger

import (
	"crypto/sha256"
	"sync"
)

// endorsedCache remembers the endorsements this ledger's peers signed
// recently, so that the commit path need not re-verify, at the cost of an
// ECDSA verification, a signature it produced itself over the very same
// bytes. An endorsement not found here (evicted, or made elsewhere) is
// verified in full; a hit is exact: same signature, same signed message.
//
// It also remembers the simulation behind each: the height of the state it
// ran on (the signed message holds the read-write set, so a hit says which
// state that set was read from; see mvcc.RecentWrites) and the transaction
// ID, which Endorse found absent from that state's index.
type endorsedCache struct {
	mu      sync.Mutex
	entries map[string]endorsement // by signature
	order   []string               // insertion order, for eviction
	next    int
}

type endorsement struct {
	digest [sha256.Size]byte // of the signed message
	sim    simulation
}

// simulation is a transaction ID and the height of the state it was
// simulated on.
type simulation struct {
	height uint64
	txID   string
}

func newEndorsedCache(capacity int) *endorsedCache {
	return &endorsedCache{entries: make(map[string]endorsement, capacity), order: make([]string, capacity)}
}

func (c *endorsedCache) add(sig []byte, digest [sha256.Size]byte, sim simulation) {
	e := endorsement{digest: digest, sim: sim}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.order[c.next]; old != "" {
		delete(c.entries, old)
	}
	c.order[c.next] = string(sig)
	c.entries[string(sig)] = e
	c.next = (c.next + 1) % len(c.order)
}

// signedHere reports whether sig is one of ours over exactly the message
// with this digest, and the simulation the endorsement came from.
func (c *endorsedCache) signedHere(sig []byte, digest [sha256.Size]byte) (simulation, bool) {
	c.mu.Lock()
	e, ok := c.entries[string(sig)]
	c.mu.Unlock()
	if !ok || e.digest != digest {
		return simulation{}, false
	}
	return e.sim, true
}
