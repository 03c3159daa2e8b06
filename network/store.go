package network

import "sync"

// Store keeps update payloads by digest so this node can serve them to
// peers that missed them. It holds at most MaxBytes, dropping the oldest
// payloads first.
type Store struct {
	MaxBytes int

	mu    sync.Mutex
	data  map[string][]byte
	order []string
	size  int
}

// NewStore returns a store bounded to maxBytes.
func NewStore(maxBytes int) *Store {
	return &Store{MaxBytes: maxBytes, data: map[string][]byte{}}
}

// Put keeps a payload; the caller must have checked that it hashes to digest.
func (s *Store) Put(digest string, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[digest]; ok || len(payload) > s.MaxBytes {
		return
	}
	for s.size+len(payload) > s.MaxBytes && len(s.order) > 0 {
		oldest := s.order[0]
		s.order = s.order[1:]
		s.size -= len(s.data[oldest])
		delete(s.data, oldest)
	}
	s.data[digest] = payload
	s.order = append(s.order, digest)
	s.size += len(payload)
}

// Get returns a payload by digest.
func (s *Store) Get(digest string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.data[digest]
	return p, ok
}
