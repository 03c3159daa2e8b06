package network_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network"
	"github.com/srellama/srellama/nft"
)

// testNode is one organization's host and gossip on loopback.
type testNode struct {
	msp       string
	host      host.Host
	admission *network.Admission
	gossip    *network.Gossip

	mu        sync.Mutex
	got       []network.Message
	committed map[string]string // MSP ID -> digest the "ledger" has
	scores    map[peer.ID]float64
}

func (n *testNode) received() []network.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]network.Message(nil), n.got...)
}

func (n *testNode) score(p peer.ID) float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.scores[p]
}

func newTestNode(t *testing.T, ctx context.Context, msp string) *testNode {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	n := &testNode{msp: msp, admission: network.NewAdmission(id), committed: map[string]string{}, scores: map[peer.ID]float64{}}
	n.host, err = network.NewHost(network.HostConfig{Key: key, Admission: n.admission})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.host.Close() })
	n.gossip, err = network.NewGossip(ctx, n.host, n.admission, network.GossipConfig{
		Consortium: "test",
		Store:      network.NewStore(1 << 20),
		// The judge stands in for the round protocol: accept exactly the
		// digest the sender's organization committed.
		Judge: func(m network.Message) network.Verdict {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.committed[m.MSPID] == m.Digest {
				return network.Accept
			}
			return network.Reject
		},
		Deliver: func(m network.Message) {
			n.mu.Lock()
			n.got = append(n.got, m)
			n.mu.Unlock()
		},
		InlineLimit: 1024,
		ScoreInspect: func(s map[peer.ID]float64) {
			n.mu.Lock()
			for p, v := range s {
				n.scores[p] = v
			}
			n.mu.Unlock()
		},
		ScoreInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// consortium starts n registered nodes, admits them to each other as the
// ledger's node registry would, connects them and joins one round.
func consortium(t *testing.T, ctx context.Context, n int) []*testNode {
	t.Helper()
	var nodes []*testNode
	var registry []records.Node
	for i := range n {
		node := newTestNode(t, ctx, fmt.Sprintf("Org%dMSP", i+1))
		nodes = append(nodes, node)
		registry = append(registry, records.Node{MSPID: node.msp, PeerID: node.host.ID().String()})
	}
	for _, node := range nodes {
		node.admission.Set(registry)
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.host.Connect(ctx, peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()}); err != nil {
				t.Fatalf("%s cannot reach %s: %v", a.msp, b.msp, err)
			}
		}
	}
	for _, node := range nodes {
		if err := node.gossip.Join(ctx, "round-1"); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func commitEverywhere(nodes []*testNode, msp, digest string) {
	for _, n := range nodes {
		n.mu.Lock()
		n.committed[msp] = digest
		n.mu.Unlock()
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishUntilDelivered publishes until every other node got the update:
// a fresh gossipsub mesh needs a heartbeat or two before it carries
// messages, and duplicates are filtered by gossipsub itself.
func publishUntilDelivered(t *testing.T, ctx context.Context, from *testNode, nodes []*testNode, payload []byte) {
	t.Helper()
	digest := nft.DigestBytes(payload)
	commitEverywhere(nodes, from.msp, digest)
	eventually(t, "delivery to every member", func() bool {
		for _, n := range nodes {
			if n == from {
				continue
			}
			found := false
			for _, m := range n.received() {
				found = found || (m.Digest == digest && bytes.Equal(m.Payload, payload))
			}
			if !found {
				_ = from.gossip.Publish(ctx, "round-1", from.msp, digest, payload)
				return false
			}
		}
		return true
	})
}

func TestUpdatesReachEveryMember(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := consortium(t, ctx, 3)
	publishUntilDelivered(t, ctx, nodes[0], nodes, []byte("small update, carried inline"))
	// Above the inline limit the topic carries an announcement and peers
	// fetch the payload over the direct stream.
	publishUntilDelivered(t, ctx, nodes[1], nodes, bytes.Repeat([]byte("large "), 1000))
}

func TestUnregisteredPeerCannotConnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := consortium(t, ctx, 2)
	stranger := newTestNode(t, ctx, "Org9MSP")
	stranger.admission.Set([]records.Node{{MSPID: "Org1MSP", PeerID: nodes[0].host.ID().String()}})
	// The stranger may finish its side of the handshake, but the member's
	// gater refuses the secured connection: no connection survives and no
	// stream can be opened.
	_ = stranger.host.Connect(ctx, peer.AddrInfo{ID: nodes[0].host.ID(), Addrs: nodes[0].host.Addrs()})
	eventually(t, "the stranger's connection to be closed", func() bool {
		return len(stranger.host.Network().ConnsToPeer(nodes[0].host.ID())) == 0
	})
	if len(nodes[0].host.Network().ConnsToPeer(stranger.host.ID())) != 0 {
		t.Fatal("a member kept a connection from a peer missing from the registry")
	}
	if _, err := stranger.gossip.Fetch(ctx, nodes[0].host.ID(), nft.DigestBytes(nil)); err == nil {
		t.Fatal("an unregistered peer fetched from a member")
	}
}

// A registered member that publishes an update it did not commit, or
// claims another organization's name, is rejected and scored down; nothing
// reaches the round protocol.
func TestBadPublishersAreRejectedAndScoredDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := consortium(t, ctx, 3)
	publishUntilDelivered(t, ctx, nodes[0], nodes, []byte("honest")) // the mesh is up
	bad := nodes[2]
	forged := []byte("an update Org3 never committed")
	impostor := []byte("pretending to be Org1")
	commitEverywhere(nodes, "Org1MSP", nft.DigestBytes(impostor)) // Org1 did commit it; Org3 sends it
	eventually(t, "the forger to be scored down", func() bool {
		_ = bad.gossip.Publish(ctx, "round-1", "Org3MSP", nft.DigestBytes(forged), forged)
		_ = bad.gossip.Publish(ctx, "round-1", "Org1MSP", nft.DigestBytes(impostor), impostor)
		return nodes[0].score(bad.host.ID()) < 0 && nodes[1].score(bad.host.ID()) < 0
	})
	for _, n := range nodes[:2] {
		for _, m := range n.received() {
			if m.Digest == nft.DigestBytes(forged) || m.Digest == nft.DigestBytes(impostor) {
				t.Errorf("%s delivered a rejected update from %s", n.msp, m.MSPID)
			}
		}
	}
}
