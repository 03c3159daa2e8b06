package embedledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
)

const srellamaCC = "srellama"

func openConsortium(t testing.TB, dir string) *embedledger.Ledger {
	t.Helper()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	return openLedger(t, dir, map[string]shim.Chaincode{srellamaCC: cc})
}

// member is one organization's admin and client connections.
type member struct {
	msp           string
	admin, client ledger.Ledger
}

func members(t testing.TB, l *embedledger.Ledger) []member {
	t.Helper()
	var out []member
	for _, org := range testOrgs {
		out = append(out, member{org, connect(t, l, org, "admin", srellamaCC), connect(t, l, org, "client", srellamaCC)})
	}
	return out
}

func submitJSON(t testing.TB, l ledger.Ledger, out any, fn string, args ...string) {
	t.Helper()
	if err := trySubmitJSON(l, out, fn, args...); err != nil {
		t.Fatal(err)
	}
}

func trySubmitJSON(l ledger.Ledger, out any, fn string, args ...string) error {
	res, _, err := l.Submit(context.Background(), fn, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", fn, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			return fmt.Errorf("%s result %s: %w", fn, res, err)
		}
	}
	return nil
}

// requestAndPropose registers a generation request for service (by the
// admin of m) and proposes a definition answering it (by m's client).
func requestAndPropose(m member, service string) (records.Proposal, error) {
	def := nfttest.Definition(service, m.msp)
	spec, err := json.Marshal(records.RequestSpec{Service: service, SLIs: def.SLI.Metrics})
	if err != nil {
		return records.Proposal{}, err
	}
	var req records.GenerationRequest
	if err := trySubmitJSON(m.admin, &req, "Generation:Request", string(spec)); err != nil {
		return records.Proposal{}, err
	}
	def.Provenance.GenerationRequestID = req.ID
	raw, err := nft.Canonical(def)
	if err != nil {
		return records.Proposal{}, err
	}
	var prop records.Proposal
	err = trySubmitJSON(m.client, &prop, "Generation:Propose", req.ID, string(raw))
	return prop, err
}

func TestConsortiumLifecycleThroughTheGateway(t *testing.T) {
	dir := t.TempDir()
	l := openConsortium(t, dir)
	defer l.Close()
	ms := members(t, l)
	ctx := context.Background()
	cp, err := ledger.OpenCheckpoint(t.TempDir() + "/cp")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()

	// Membership: each organization registers itself with its own admin.
	for _, m := range ms {
		submitJSON(t, m.admin, nil, "Consortium:RegisterOrganization", strings.TrimSuffix(m.msp, "MSP"))
	}
	orgs, err := ms[2].client.Evaluate(ctx, "Consortium:ListOrganizations")
	if err != nil || strings.Count(string(orgs), `"msp_id"`) != 3 {
		t.Fatalf("ListOrganizations = %s, %v", orgs, err)
	}
	// A client may not do an admin's job; the chaincode says why.
	_, _, err = ms[0].client.Submit(ctx, "Generation:Request", `{"service":"amf","slis":[]}`)
	var ccErr *ledger.ChaincodeError
	if !errors.As(err, &ccErr) || !strings.Contains(ccErr.Message, "needs an organization admin") {
		t.Fatalf("client Request: %v", err)
	}

	// Org1 requests and proposes; Org2's approval reaches quorum (2 of 3) and mints.
	prop, err := requestAndPropose(ms[0], "amf")
	if err != nil {
		t.Fatal(err)
	}
	if prop.Status != records.ProposalOpen || prop.Quorum != 2 {
		t.Fatalf("proposal %+v", prop)
	}
	var approved records.Proposal
	submitJSON(t, ms[1].client, &approved, "Generation:Approve", prop.ID)
	if approved.Status != records.ProposalMinted || approved.TokenID == "" {
		t.Fatalf("after the second approval: %+v", approved)
	}
	// Org3 is too late: the proposal is closed.
	_, _, err = ms[2].client.Submit(ctx, "Generation:Approve", prop.ID)
	if !errors.As(err, &ccErr) || !strings.Contains(ccErr.Message, "closed") {
		t.Fatalf("late approval: %v", err)
	}

	raw, err := ms[2].client.Evaluate(ctx, "Tokens:Get", approved.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	var tok nft.Token
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.State.Owner != "Org1MSP" || len(tok.Mint.Approvals) != 2 || nft.ValidateToken(tok) != nil {
		t.Fatalf("minted token %+v", tok)
	}

	// The owner's admin transfers it; the history shows both versions.
	submitJSON(t, ms[0].admin, nil, "Tokens:TransferFrom", "Org1MSP", "Org3MSP", tok.ID)
	owner, err := ms[1].client.Evaluate(ctx, "Tokens:OwnerOf", tok.ID)
	if err != nil || !strings.Contains(string(owner), "Org3MSP") {
		t.Fatalf("OwnerOf = %s, %v", owner, err)
	}
	hist, err := ms[1].client.Evaluate(ctx, "Audit:History", tok.ID)
	if err != nil || strings.Count(string(hist), `"tx_id"`) < 2 {
		t.Fatalf("History = %s, %v", hist, err)
	}

	// The events tell the same story, in order, to any member.
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	events, err := ms[2].client.Events(ectx, cp)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for ev := range events {
		kinds = append(kinds, ev.Name)
		cp.Done(ev)
		if ev.Name == string(records.EventTransfer) {
			break
		}
	}
	want := "OrganizationRegistered,OrganizationRegistered,OrganizationRegistered,GenerationRequested,ProposalSubmitted,TokenMinted,Transfer"
	if got := strings.Join(kinds, ","); got != want {
		t.Errorf("events = %s\nwant %s", got, want)
	}
	if n, err := l.VerifyChain(ctx); err != nil {
		t.Fatal(err)
	} else {
		t.Log(fmt.Sprintf("chain of %d blocks verifies", n))
	}
}
