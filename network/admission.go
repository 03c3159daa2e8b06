package network

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/srellama/srellama/chaincode/records"
)

// Admission is the consortium's peer list as the ledger holds it: which
// libp2p peer IDs belong to which member organization. It gates every
// connection (an unregistered peer cannot even finish a handshake) and
// answers the gossip validator's "who sent this". The node refreshes it
// from the ledger's registry events.
type Admission struct {
	self    peer.ID
	members atomic.Pointer[map[peer.ID]string]
}

// NewAdmission returns an admission list that admits nobody but self until
// Set is called.
func NewAdmission(self peer.ID) *Admission {
	a := &Admission{self: self}
	empty := map[peer.ID]string{}
	a.members.Store(&empty)
	return a
}

// Set replaces the admitted peers with the registered nodes. Nodes whose
// peer ID does not parse are skipped: the ledger validates the shape, not
// the multihash.
func (a *Admission) Set(nodes []records.Node) {
	next := make(map[peer.ID]string, len(nodes))
	for _, n := range nodes {
		id, err := peer.Decode(n.PeerID)
		if err != nil {
			continue
		}
		next[id] = n.MSPID
	}
	a.members.Store(&next)
}

// OrgOf returns the member organization a peer belongs to.
func (a *Admission) OrgOf(p peer.ID) (string, bool) {
	msp, ok := (*a.members.Load())[p]
	return msp, ok
}

func (a *Admission) allowed(p peer.ID) bool {
	if p == a.self {
		return true
	}
	_, ok := a.OrgOf(p)
	return ok
}

// InterceptPeerDial refuses to dial unregistered peers.
func (a *Admission) InterceptPeerDial(p peer.ID) bool { return a.allowed(p) }

// InterceptAddrDial refuses to dial unregistered peers.
func (a *Admission) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return a.allowed(p) }

// InterceptAccept lets the handshake start: the peer's identity is known
// only once the connection is secured.
func (a *Admission) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses connections from unregistered peers, both ways,
// as soon as Noise has authenticated them.
func (a *Admission) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return a.allowed(p)
}

// InterceptUpgraded has nothing more to check.
func (a *Admission) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
