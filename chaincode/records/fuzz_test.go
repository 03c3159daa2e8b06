package records_test

import (
	"encoding/json"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Each transaction's argument parser is fuzzed for the same property: it
// never panics, and whatever it accepts survives a re-encoding unchanged
// (so what the chaincode stores is what it checked).

func roundTrip[T any](t *testing.T, v T, parse func(string) (T, error)) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("accepted value does not encode: %v", err)
	}
	again, err := parse(string(raw))
	if err != nil {
		t.Fatalf("accepted value refused after re-encoding: %v\n%s", err, raw)
	}
	a, _ := nft.Canonical(v)
	b, _ := nft.Canonical(again)
	if string(a) != string(b) {
		t.Fatalf("re-encoding changed the value:\n%s\n%s", a, b)
	}
}

func FuzzParseRoundSpec(f *testing.F) {
	f.Add(`{"id":"r1","task":"sli-relevance","services":["amf"],"feature_set_digest":"` + nft.DigestBytes(nil) + `","strategy":"median","min_participants":2,"commit_deadline":"2026-11-22T10:00:00Z","deadline":"2026-11-22T11:00:00Z"}`)
	f.Add(`{"id":"","quorum":-1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		if s, err := records.ParseRoundSpec(raw); err == nil {
			roundTrip(t, s, records.ParseRoundSpec)
		}
	})
}

func FuzzParseUpdateCommitment(f *testing.F) {
	f.Add(`{"digest":"` + nft.DigestBytes(nil) + `","samples":10,"metrics":{"auc":0.9,"f1":0.5,"loss":0.1},"epsilon":0.1,"epsilon_total":0.2}`)
	f.Add(`{"samples":-1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		if u, err := records.ParseUpdateCommitment(raw); err == nil {
			roundTrip(t, u, records.ParseUpdateCommitment)
		}
	})
}

func FuzzParseAggregateClaim(f *testing.F) {
	f.Add(`{"digest":"` + nft.DigestBytes(nil) + `","contributors":["Org1MSP"],"ranking":[{"service":"amf","metrics":[{"name":"up","relevance":1,"stability":1}]}]}`)
	f.Add(`{"ranking":[{"service":"b"},{"service":"a"}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		if c, err := records.ParseAggregateClaim(raw); err == nil {
			roundTrip(t, c, records.ParseAggregateClaim)
		}
	})
}

func FuzzParseRequestSpec(f *testing.F) {
	f.Add(`{"service":"upf","slis":[{"name":"up","relevance":1,"stability":1}],"ttl_seconds":60}`)
	f.Add(`{"service":"UPF","ttl_seconds":-5}`)
	f.Fuzz(func(t *testing.T, raw string) {
		if r, err := records.ParseRequestSpec(raw); err == nil {
			roundTrip(t, r, records.ParseRequestSpec)
		}
	})
}

func FuzzParseNode(f *testing.F) {
	f.Add("12D3KooWAbcdefghijkmnopqrstuvwxyzABCDEFGH", `["/ip4/127.0.0.1/tcp/1"]`)
	f.Add("Qm", `[]`)
	f.Fuzz(func(t *testing.T, peerID, addrs string) {
		id, list, err := records.ParseNode(peerID, addrs)
		if err != nil {
			return
		}
		if id != peerID || len(list) == 0 || len(list) > records.MaxAddrs {
			t.Fatalf("accepted %q %v", id, list)
		}
	})
}

func FuzzParseScalars(f *testing.F) {
	f.Add("Org1 Telecom", "rejected: too strict", "50", "bookmark", "Org1MSP")
	f.Fuzz(func(t *testing.T, name, reason, size, bookmark, msp string) {
		if n, err := records.ParseOrganizationName(name); err == nil && (n == "" || len(n) > records.MaxOrgNameLen) {
			t.Fatalf("accepted organization name %q", n)
		}
		if r, err := records.ParseReason(reason); err == nil && (r == "" || len(r) > records.MaxReasonLen) {
			t.Fatalf("accepted reason %q", r)
		}
		if n, _, err := records.ParsePage(size, bookmark); err == nil && (n < 1 || n > records.MaxPageSize) {
			t.Fatalf("accepted page size %d", n)
		}
		if id, err := records.ParseMSPID("msp", msp); err == nil && !nft.IsValidMSPID(id) {
			t.Fatalf("accepted MSP ID %q", id)
		}
	})
}

func FuzzParseAttestation(f *testing.F) {
	f.Add(`{"token_id":"` + tokenID + `","service":"amf","name":"amf-registration","version":1,"period_start":"2026-11-01T00:00:00+02:00","period_end":"2026-11-02T00:00:00Z","events":10,"achieved":0.99,"objective":0.999,"budget_consumed":10,"page_alerts":1,"ticket_alerts":0,"false_pages":0,"incidents":1,"incidents_detected":1,"incidents_paged":1,"msp_id":"","at":"","tx_id":""}`)
	f.Add(`{"no_data":true,"events":-0}`)
	f.Fuzz(func(t *testing.T, raw string) {
		if a, err := records.ParseAttestation(raw); err == nil {
			roundTrip(t, a, records.ParseAttestation)
		}
	})
}
