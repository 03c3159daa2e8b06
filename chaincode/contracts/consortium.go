package contracts

import (
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
)

// Consortium holds the member organizations and their libp2p nodes. An
// organization's entries are written only by that organization's admins:
// the MSP ID always comes from the caller's certificate, never from an
// argument. Which MSPs may transact at all is the channel's configuration.
type Consortium struct {
	contractapi.Contract
}

// RegisterOrganization registers the caller's organization, or renames it.
func (c *Consortium) RegisterOrganization(ctx contractapi.TransactionContextInterface, name string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if !t.actor.isAdmin() {
		return "", fmt.Errorf("access denied: only an admin of %s may register it (caller role %q)", t.actor.MSPID, t.actor.Role)
	}
	name, err = records.ParseOrganizationName(name)
	if err != nil {
		return "", err
	}
	var org records.Organization
	found, err := t.get(&org, keyOrg, t.actor.MSPID)
	if err != nil {
		return "", err
	}
	if !found {
		org = records.Organization{MSPID: t.actor.MSPID, RegisteredAt: t.at}
	}
	org.Name, org.UpdatedAt = name, t.at
	if err := t.put(org, keyOrg, org.MSPID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventOrganizationRegistered, Organization: &org}); err != nil {
		return "", err
	}
	return encode(org)
}

// DeclareServices records the services the caller's organization runs
// (a JSON array; stored sorted, without duplicates; an empty array
// withdraws the declaration). Once any member has declared services, a
// round, schedule or generation request naming a service no member
// declares is refused at once.
func (c *Consortium) DeclareServices(ctx contractapi.TransactionContextInterface, servicesJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	services, err := records.ParseServiceList(servicesJSON)
	if err != nil {
		return "", err
	}
	org, err := record[records.Organization](t, "organization", keyOrg, t.actor.MSPID)
	if err != nil {
		return "", err
	}
	org.Services = nil
	if len(services) > 0 {
		org.Services = services
	}
	org.UpdatedAt = t.at
	if err := t.put(org, keyOrg, org.MSPID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventOrganizationRegistered, Organization: &org}); err != nil {
		return "", err
	}
	return encode(org)
}

// RegisterNode registers (or updates the addresses of) one of the caller's
// organization's libp2p nodes. A peer ID belongs to one organization only.
func (c *Consortium) RegisterNode(ctx contractapi.TransactionContextInterface, peerID string, addrsJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	peerID, addrs, err := records.ParseNode(peerID, addrsJSON)
	if err != nil {
		return "", err
	}
	var owner string
	found, err := t.get(&owner, keyPeer, peerID)
	if err != nil {
		return "", err
	}
	if found && owner != t.actor.MSPID {
		return "", fmt.Errorf("peer ID %s is already registered by %s", peerID, owner)
	}
	node := records.Node{MSPID: t.actor.MSPID, PeerID: peerID, Addrs: addrs, RegisteredAt: t.at}
	if err := t.put(node, keyNode, node.MSPID, peerID); err != nil {
		return "", err
	}
	if err := t.put(node.MSPID, keyPeer, peerID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventNodeRegistered, Node: &node}); err != nil {
		return "", err
	}
	return encode(node)
}

// RemoveNode deregisters one of the caller's organization's nodes; peers
// stop admitting it when they see the event.
func (c *Consortium) RemoveNode(ctx contractapi.TransactionContextInterface, peerID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	var node records.Node
	found, err := t.get(&node, keyNode, t.actor.MSPID, peerID)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("node %q is not registered by %s", peerID, t.actor.MSPID)
	}
	if err := t.del(keyNode, t.actor.MSPID, peerID); err != nil {
		return "", err
	}
	if err := t.del(keyPeer, peerID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventNodeRemoved, Node: &node}); err != nil {
		return "", err
	}
	return encode(node)
}

// GetOrganization returns one member.
func (c *Consortium) GetOrganization(ctx contractapi.TransactionContextInterface, mspID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return record[records.Organization](t, "organization", keyOrg, mspID) })
}

// ListOrganizations returns every member, sorted by MSP ID.
func (c *Consortium) ListOrganizations(ctx contractapi.TransactionContextInterface) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return list[records.Organization](t, keyOrg) })
}

// ListNodes returns the nodes of one member, or of all members when mspID
// is empty, sorted by MSP ID and peer ID.
func (c *Consortium) ListNodes(ctx contractapi.TransactionContextInterface, mspID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		if mspID == "" {
			return list[records.Node](t, keyNode)
		}
		return list[records.Node](t, keyNode, mspID)
	})
}

// ResolvePeer returns the node registered under a peer ID.
func (c *Consortium) ResolvePeer(ctx contractapi.TransactionContextInterface, peerID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) {
		owner, err := record[string](t, "peer", keyPeer, peerID)
		if err != nil {
			return nil, err
		}
		return record[records.Node](t, "node", keyNode, owner, peerID)
	})
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Consortium) GetEvaluateTransactions() []string {
	return []string{"GetOrganization", "ListOrganizations", "ListNodes", "ResolvePeer"}
}

// nonNil makes an empty result encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
