package store

import (
	"slices"
	"sync"
)

// stateCache holds the latest committed encoding (version and value) of
// recently read or written state keys, so that simulations and validation
// read them without walking LevelDB's tables: a token mint reads half a
// dozen keys, most of them written a block or two before.
//
// An entry records since, the height from which its value has been the
// key's value. A view of the ledger at height h may use an entry with
// since <= h while the cache has seen every commit up to h; anything else
// reads LevelDB. Commits update the entries of the keys they write.
type stateCache struct {
	mu      sync.Mutex
	height  uint64 // the height of the last commit the entries reflect
	entries map[string]cacheEntry
	bytes   int
	limit   int // bytes of values held at most
}

type cacheEntry struct {
	raw   []byte // the stored encoding; nil when the key has no state
	since uint64
}

func newStateCache(height uint64, limit int) *stateCache {
	return &stateCache{height: height, entries: map[string]cacheEntry{}, limit: limit}
}

// get returns the key's encoding as of height h, if the cache knows it.
func (c *stateCache) get(key []byte, h uint64) (raw []byte, present, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[string(key)]
	if !ok || c.height < h || e.since > h {
		return nil, false, false
	}
	return slices.Clone(e.raw), e.raw != nil, true
}

// remember records what a view at height h read from LevelDB (nil: no
// state), if no commit has landed since, so that it is still the latest.
func (c *stateCache) remember(key, raw []byte, h uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.height != h {
		return
	}
	if _, ok := c.entries[string(key)]; ok {
		return
	}
	c.set(string(key), cacheEntry{raw: slices.Clone(raw), since: h})
}

// committed records the state entries (keys) written by the commit that
// brought the ledger to height h; deleted keys are recorded as having no
// state.
func (c *stateCache) committed(keys []string, writes map[string]overlayValue, h uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		w := writes[k]
		var raw []byte
		if !w.deleted {
			raw = w.value
		}
		c.set(k, cacheEntry{raw: raw, since: h})
	}
	c.height = h
}

// forget drops keys written by a commit that did not change the height
// (there are none but the genesis block's), which views at that same
// height must not see.
func (c *stateCache) forget(writes map[string]overlayValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range writes {
		if e, ok := c.entries[k]; ok {
			c.bytes -= entrySize(k, e.raw)
			delete(c.entries, k)
		}
	}
}

func (c *stateCache) set(k string, e cacheEntry) {
	if old, ok := c.entries[k]; ok {
		c.bytes -= entrySize(k, old.raw)
	}
	c.entries[k] = e
	c.bytes += entrySize(k, e.raw)
	if c.bytes <= c.limit {
		return
	}
	// Drop entries in map order, random enough, until a quarter of the
	// room is free again.
	for k, old := range c.entries {
		if c.bytes <= c.limit*3/4 {
			break
		}
		c.bytes -= entrySize(k, old.raw)
		delete(c.entries, k)
	}
}

// entrySize counts an entry's bytes with a rough allowance for the map.
func entrySize(k string, raw []byte) int { return len(k) + len(raw) + 64 }

// cachedView reads state keys through the cache at the view's height.
type cachedView struct {
	view
	cache  *stateCache
	height uint64
}

func (v cachedView) get(key []byte) ([]byte, bool, error) {
	if len(key) == 0 || key[0] != tagState {
		return v.view.get(key)
	}
	if raw, present, known := v.cache.get(key, v.height); known {
		return raw, present, nil
	}
	raw, present, err := v.view.get(key)
	if err != nil {
		return nil, false, err // nothing learnt: the next read tries again
	}
	v.cache.remember(key, raw, v.height) // absence too: new token IDs are looked up
	return raw, present, nil
}
