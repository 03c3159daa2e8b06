package contracts_test

import (
	"strings"
	"testing"
)

// FuzzTransactions calls any transaction with any arguments against a
// ledger holding a finalized round and a minted token. Whatever the input,
// the chaincode answers with success or a clear error: never a panic (which
// the safety net would report as an internal error).
func FuzzTransactions(f *testing.F) {
	fns := []struct {
		name  string
		arity int
	}{
		{"Consortium:RegisterOrganization", 1}, {"Consortium:RegisterNode", 2}, {"Consortium:RemoveNode", 1},
		{"Consortium:ResolvePeer", 1}, {"Rounds:Open", 1}, {"Rounds:CommitUpdate", 2}, {"Rounds:SubmitAggregate", 2},
		{"Rounds:Close", 1}, {"Rounds:Get", 1}, {"Rounds:List", 2}, {"Generation:Request", 1}, {"Generation:Propose", 2},
		{"Generation:Approve", 1}, {"Generation:Reject", 2}, {"Generation:Close", 1}, {"Tokens:TransferFrom", 3},
		{"Tokens:Approve", 2}, {"Tokens:SetApprovalForAll", 2}, {"Tokens:Revise", 2}, {"Tokens:Retire", 2},
		{"Tokens:BalanceOf", 1}, {"Audit:History", 1}, {"Audit:ByService", 3}, {"Audit:Provenance", 1},
		{"Generation:Decide", 2}, {"Generation:ProposeWith", 3}, {"Generation:Decline", 2}, {"Generation:Reassign", 1},
		{"Tokens:Active", 1},
		{"Schedules:Set", 1}, {"Schedules:Stop", 2}, {"Schedules:OpenDue", 1}, {"Schedules:Get", 1}, {"Schedules:List", 2},
		{"Consortium:DeclareServices", 1},
	}
	w := registered(f)
	tok := w.mintedToken("round-f")
	for i := range fns {
		f.Add(uint8(i), uint8(0), "round-f", tok.ID, `{"id":"x"}`)
	}
	f.Add(uint8(11), uint8(1), "round-f.smf", `{"name":"amf-x","version":1}`, "")
	f.Add(uint8(6), uint8(2), "round-f", `{"digest":"sha256:00","contributors":["Org1MSP"],"ranking":[]}`, "")
	f.Add(uint8(15), uint8(0), "Org1MSP", "Org2MSP", tok.ID)
	w.submit(w.org1.Admin, "Schedules:Set", mustJSON(f, w.scheduleSpec("sched-f")))
	f.Add(uint8(29), uint8(0), mustJSON(f, w.scheduleSpec("sched-g")), "", "")
	f.Add(uint8(31), uint8(1), "sched-f", "", "")
	f.Add(uint8(34), uint8(0), `["amf","smf"]`, "", "")
	f.Fuzz(func(t *testing.T, fn, who uint8, a, b, c string) {
		w.t = t
		ids := []string{"Admin", "Client"}
		org := w.orgs[int(who)%len(w.orgs)]
		id := org.Admin
		if ids[int(who/3)%2] == "Client" {
			id = org.Client
		}
		call := fns[int(fn)%len(fns)]
		name := call.name
		_, err := w.ledger.Submit(w.cc, id, name, []string{a, b, c}[:call.arity]...)
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%s(%q, %q, %q) panicked: %v", name, a, b, c, err)
		}
	})
}
