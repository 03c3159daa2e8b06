package contracts_test

import (
	"testing"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft/nfttest"
)

// TestAccessRules: every write checks who calls. Each row is one caller
// that must be refused, with the reason it must give.
func TestAccessRules(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-a") // owned by Org1MSP
	w.submit(w.org1.Admin, "Consortium:RegisterNode", peerIDOf(1), `["/ip4/127.0.0.1/tcp/4001"]`)
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-b")))

	outsider, err := stubtest.NewOrg("Org4MSP", genesis) // a valid CA, never registered
	if err != nil {
		t.Fatal(err)
	}
	org1Peer, err := w.org1.Issue(devca.RolePeer, "peer0.org1", genesis)
	if err != nil {
		t.Fatal(err)
	}
	noRole, err := w.org1.Issue("", "nobody", genesis)
	if err != nil {
		t.Fatal(err)
	}
	revision := nfttest.Definition("amf", "Org2MSP")
	revision.Version, revision.Supersedes = 2, tok.ID

	tests := []struct {
		name   string
		caller *stubtest.Identity
		want   string
		fn     string
		args   []string
	}{
		{"a client registers its organization", w.org1.Client, "only an admin", "Consortium:RegisterOrganization", []string{"Org1"}},
		{"a peer identity registers its organization", org1Peer, "only an admin", "Consortium:RegisterOrganization", []string{"Org1"}},
		{"a client registers a node", w.org2.Client, "needs an organization admin", "Consortium:RegisterNode", []string{peerIDOf(2), `["/ip4/127.0.0.1/tcp/1"]`}},
		{"an unknown MSP registers a node", outsider.Admin, "not a registered consortium member", "Consortium:RegisterNode", []string{peerIDOf(4), `["/ip4/127.0.0.1/tcp/1"]`}},
		{"another organization takes a peer ID", w.org2.Admin, "already registered by Org1MSP", "Consortium:RegisterNode", []string{peerIDOf(1), `["/ip4/127.0.0.1/tcp/1"]`}},
		{"another organization removes a node", w.org2.Admin, "not registered by Org2MSP", "Consortium:RemoveNode", []string{peerIDOf(1)}},
		{"a client opens a round", w.org2.Client, "needs an organization admin", "Rounds:Open", []string{mustJSON(t, w.roundSpec("round-c"))}},
		{"an unknown MSP opens a round", outsider.Admin, "not a registered consortium member", "Rounds:Open", []string{mustJSON(t, w.roundSpec("round-c"))}},
		{"an unknown MSP commits", outsider.Client, "not a registered consortium member", "Rounds:CommitUpdate", []string{"round-b", mustJSON(t, commitment("x"))}},
		{"a peer identity commits", org1Peer, "needs an admin or client", "Rounds:CommitUpdate", []string{"round-b", mustJSON(t, commitment("x"))}},
		{"an identity without role commits", noRole, "needs an admin or client", "Rounds:CommitUpdate", []string{"round-b", mustJSON(t, commitment("x"))}},
		{"a client requests a generation", w.org2.Client, "needs an organization admin", "Generation:Request", []string{`{}`}},
		{"an unknown MSP approves", outsider.Client, "not a registered consortium member", "Generation:Approve", []string{tok.ID}},
		{"another organization transfers a token", w.org2.Admin, "neither the owner", "Tokens:TransferFrom", []string{"Org1MSP", "Org2MSP", tok.ID}},
		{"the owner's client transfers", w.org1.Client, "needs an organization admin", "Tokens:TransferFrom", []string{"Org1MSP", "Org2MSP", tok.ID}},
		{"another organization approves an operator", w.org2.Admin, "owned by Org1MSP, not Org2MSP", "Tokens:Approve", []string{"Org2MSP", tok.ID}},
		{"another organization revises", w.org2.Admin, "owned by Org1MSP, not Org2MSP", "Tokens:Revise", []string{tok.ID, mustJSON(t, revision)}},
		{"another organization retires", w.org3.Admin, "owned by Org1MSP, not Org3MSP", "Tokens:Retire", []string{tok.ID, "no longer needed"}},
		{"the owner's client retires", w.org1.Client, "needs an organization admin", "Tokens:Retire", []string{tok.ID, "no longer needed"}},
		{"transfer to a non-member", w.org1.Admin, "not a registered member", "Tokens:TransferFrom", []string{"Org1MSP", "Org4MSP", tok.ID}},
		{"approve oneself as operator", w.org1.Admin, "cannot approve itself", "Tokens:SetApprovalForAll", []string{"Org1MSP", "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			w.refused(tt.caller, tt.want, tt.fn, tt.args...)
		})
	}
}

// Members who joined after a round opened are not its electorate.
func TestLateMemberIsNotInTheRound(t *testing.T) {
	w := newWorld(t)
	w.submit(w.org1.Admin, "Consortium:RegisterOrganization", "Org1")
	w.submit(w.org2.Admin, "Consortium:RegisterOrganization", "Org2")
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-1")))
	w.submit(w.org3.Admin, "Consortium:RegisterOrganization", "Org3")
	w.refused(w.org3.Client, "was not a member when round", "Rounds:CommitUpdate", "round-1", mustJSON(t, commitment("x")))
}

// Operators approved for all of an owner's tokens may transfer them, until
// the approval is withdrawn.
func TestApprovalForAll(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-op")
	w.submit(w.org1.Admin, "Tokens:SetApprovalForAll", "Org3MSP", "true")
	if got := string(w.evaluate(w.org2.Client, "Tokens:IsApprovedForAll", "Org1MSP", "Org3MSP")); got != "true" {
		t.Fatalf("IsApprovedForAll = %s", got)
	}
	w.submit(w.org1.Admin, "Tokens:SetApprovalForAll", "Org3MSP", "false")
	w.refused(w.org3.Admin, "neither the owner", "Tokens:TransferFrom", "Org1MSP", "Org2MSP", tok.ID)
	w.submit(w.org1.Admin, "Tokens:SetApprovalForAll", "Org3MSP", "true")
	w.submit(w.org3.Admin, "Tokens:TransferFrom", "Org1MSP", "Org2MSP", tok.ID)
	if got := string(w.evaluate(w.org2.Client, "Tokens:OwnerOf", tok.ID)); got != "Org2MSP" {
		t.Fatalf("OwnerOf = %s", got)
	}
}

// A creator that is not a serialized X.509 identity is refused with a
// clear error: the contract API parses it first and drops the failure, and
// the chaincode must not then use its nil identity.
func TestMalformedCreatorIsRefused(t *testing.T) {
	w := registered(t)
	bad := &stubtest.Identity{Identity: w.org1.Admin.Identity, Creator: []byte("not a serialized identity")}
	w.refused(bad, "reading the caller's identity", "Consortium:RegisterOrganization", "Org1MSP Telecom")
}
