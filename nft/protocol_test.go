package nft_test

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// A definition names the rendering protocol its rules came from; one from
// a later protocol is refused by name, and naming the protocol changes
// the token ID (it is part of what members compare).
func TestDefinitionNamesItsProtocol(t *testing.T) {
	d := nfttest.Definition("amf", "Org1MSP")
	legacy, err := nft.TokenIDOf(d)
	if err != nil {
		t.Fatal(err)
	}
	d.Protocol = nft.Protocol
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	current, err := nft.TokenIDOf(d)
	if err != nil {
		t.Fatal(err)
	}
	if current == legacy {
		t.Fatal("the protocol is not part of the token ID")
	}
	d.Protocol = nft.Protocol + 1
	if err := nft.ValidateDefinition(d); err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("a future protocol: %v", err)
	}
}
