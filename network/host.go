package network

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// HostConfig says how to build a node's host.
type HostConfig struct {
	Key         crypto.PrivKey
	ListenAddrs []string // e.g. /ip4/127.0.0.1/tcp/0 and /ip4/127.0.0.1/udp/0/quic-v1
	Admission   *Admission
	// Bandwidth, if set, counts bytes sent and received.
	Bandwidth *metrics.BandwidthCounter
}

// DefaultListenAddrs listens on loopback, TCP and QUIC, on free ports.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// NewHost builds a libp2p host: TCP and QUIC transports, Noise security,
// no relay, and the admission gater in front of every connection.
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Key == nil || cfg.Admission == nil {
		return nil, fmt.Errorf("network: a host needs an identity key and an admission list")
	}
	addrs := cfg.ListenAddrs
	if len(addrs) == 0 {
		addrs = DefaultListenAddrs
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(addrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionGater(cfg.Admission),
		libp2p.DisableRelay(),
	}
	if cfg.Bandwidth != nil {
		opts = append(opts, libp2p.BandwidthReporter(cfg.Bandwidth))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("network: starting libp2p host: %w", err)
	}
	return h, nil
}
