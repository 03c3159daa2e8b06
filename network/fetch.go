package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/srellama/srellama/nft"
)

// FetchProtocol serves update payloads by digest over a direct stream.
//
// Request: uvarint length, digest ("sha256:<hex>").
// Response: one status byte (0 found, 1 not found), then for found a
// uvarint length and the payload.
const FetchProtocol = "/srellama/fetch/1.0.0"

const fetchTimeout = 30 * time.Second

// Fetch asks peer p for the payload with the given digest and checks that
// what arrives hashes to it.
func (g *Gossip) Fetch(ctx context.Context, p peer.ID, digest string) ([]byte, error) {
	if p == g.h.ID() {
		if payload, ok := g.cfg.Store.Get(digest); ok {
			return payload, nil
		}
		return nil, errors.New("not in the local store")
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	s, err := g.h.NewStream(ctx, p, FetchProtocol)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", digest, p, err)
	}
	defer s.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	req := binary.AppendUvarint(nil, uint64(len(digest)))
	if _, err := s.Write(append(req, digest...)); err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", digest, p, err)
	}
	_ = s.CloseWrite()
	r := bufio.NewReader(s)
	status, err := r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", digest, p, err)
	}
	if status != 0 {
		return nil, fmt.Errorf("fetch %s from %s: not found", digest, p)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > MaxPayload {
		return nil, fmt.Errorf("fetch %s from %s: bad length", digest, p)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", digest, p, err)
	}
	if nft.DigestBytes(payload) != digest {
		return nil, fmt.Errorf("fetch %s from %s: payload does not hash to the digest", digest, p)
	}
	return payload, nil
}

func (g *Gossip) serveFetch(s network.Stream) {
	defer s.Close()
	if _, ok := g.admission.OrgOf(s.Conn().RemotePeer()); !ok {
		_ = s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(fetchTimeout))
	r := bufio.NewReader(io.LimitReader(s, 256))
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 128 {
		_ = s.Reset()
		return
	}
	digest := make([]byte, n)
	if _, err := io.ReadFull(r, digest); err != nil {
		_ = s.Reset()
		return
	}
	payload, ok := g.cfg.Store.Get(string(digest))
	if !ok {
		_, _ = s.Write([]byte{1})
		return
	}
	out := append([]byte{0}, binary.AppendUvarint(nil, uint64(len(payload)))...)
	if _, err := s.Write(append(out, payload...)); err != nil {
		_ = s.Reset()
	}
}
