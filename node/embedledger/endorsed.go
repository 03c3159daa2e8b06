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
type endorsedCache struct {
	mu    sync.Mutex
	sums  map[string][sha256.Size]byte // signature -> SHA-256 of the signed message
	order []string                     // insertion order, for eviction
	next  int
}

func newEndorsedCache(capacity int) *endorsedCache {
	return &endorsedCache{sums: make(map[string][sha256.Size]byte, capacity), order: make([]string, capacity)}
}

func (c *endorsedCache) add(sig, msg []byte) {
	sum := sha256.Sum256(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.order[c.next]; old != "" {
		delete(c.sums, old)
	}
	c.order[c.next] = string(sig)
	c.sums[string(sig)] = sum
	c.next = (c.next + 1) % len(c.order)
}

// signedHere reports whether sig is one of ours over exactly msg.
func (c *endorsedCache) signedHere(sig, msg []byte) bool {
	c.mu.Lock()
	want, ok := c.sums[string(sig)]
	c.mu.Unlock()
	return ok && want == sha256.Sum256(msg)
}
