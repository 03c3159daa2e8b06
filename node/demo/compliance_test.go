package demo

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft/nfttest"
)

func TestComplianceMarkdown(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	if got := complianceMarkdown(tok, nil); !strings.Contains(got, "No attestation yet") {
		t.Fatalf("without attestations:\n%s", got)
	}
	var atts []records.Attestation
	for _, day := range []string{"2026-11-01", "2026-11-02", "2026-11-03"} {
		for _, msp := range []string{"Org1MSP", "Org2MSP"} {
			atts = append(atts, records.Attestation{PeriodStart: day + "T00:00:00Z", PeriodEnd: day + "T00:00:00Z", MSPID: msp,
				Events: 100, BudgetConsumed: 1.8, Incidents: 1, IncidentsDetected: 1, IncidentsPaged: 1, TxID: day + msp})
		}
	}
	got := complianceMarkdown(tok, atts)
	for _, want := range []string{"### amf/amf-registration v1", "| 2026-11-01T00:00:00Z | 2 (2) | 1.8 | 1.8 | 2 / 2 / 2 |", "2026-11-03  ", "Evidence: breached"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
