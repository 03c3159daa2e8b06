package records_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

const tokenID = "4f1c0e6d3b2a19080706050403020100ffeeddccbbaa99887766554433221100"

// att is one member's attestation of period day (0, 1, ...) with budget
// consumed b; inc and paged count incidents; nodata marks a period without
// events.
type att struct {
	day        int
	msp        string
	b          float64
	inc, paged int
	nodata     bool
}

// d is a period with data, none one without.
func d(day int, msp string, b float64, inc, paged int) att {
	return att{day, msp, b, inc, paged, false}
}
func none(day int, msp string) att { return att{day: day, msp: msp, nodata: true} }

func attestations(as ...att) []records.Attestation {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []records.Attestation
	for _, a := range as {
		s := start.Add(time.Duration(a.day) * 24 * time.Hour)
		out = append(out, records.Attestation{
			TokenID: tokenID, Service: "amf", Name: "amf-registration", Version: 1,
			PeriodStart: records.FormatTime(s), PeriodEnd: records.FormatTime(s.Add(24 * time.Hour)),
			NoData: a.nodata, BudgetConsumed: a.b, Incidents: a.inc, IncidentsDetected: a.paged, IncidentsPaged: a.paged,
			MSPID: a.msp, TxID: fmt.Sprintf("tx-%d-%s", a.day, a.msp),
		})
	}
	return out
}

func TestAssess(t *testing.T) {
	p := records.DefaultEvidencePolicy()
	cases := []struct {
		name    string
		atts    []records.Attestation
		trigger string // "" for no evidence
	}{
		{"no attestations are evidence of nothing", nil, ""},
		{"an SLO within budget everywhere is kept", attestations(
			d(0, "A", 0.5, 1, 1), d(1, "A", 0.6, 0, 0), d(2, "A", 0.4, 2, 2)), ""},
		{"breached: a majority over budget in two of the last three periods", attestations(
			d(0, "A", 1.5, 1, 1), d(0, "B", 1.2, 0, 0), d(0, "C", 0.3, 0, 0),
			d(1, "A", 0.2, 0, 0),
			d(2, "A", 2.0, 1, 1), d(2, "B", 3.0, 1, 1)), records.TriggerBreached},
		{"one member over budget of three is no majority", attestations(
			d(0, "A", 1.5, 0, 0), d(0, "B", 0.5, 0, 0), d(0, "C", 0.5, 0, 0),
			d(1, "A", 1.5, 0, 0), d(1, "B", 0.5, 0, 0), d(1, "C", 0.5, 0, 0)), ""},
		{"a budget consumed of exactly 1 met the objective", attestations(
			d(0, "A", 1, 0, 0), d(1, "A", 1, 0, 0)), ""},
		{"members without data do not count toward the majority", attestations(
			d(0, "A", 1.5, 0, 0), none(0, "B"),
			d(1, "A", 1.5, 0, 0), none(1, "B")), records.TriggerBreached},
		{"only the last three periods count: old breaches are forgiven", attestations(
			d(0, "A", 5, 0, 0), d(1, "A", 5, 0, 0), d(2, "A", 0.5, 0, 0), d(3, "A", 0.5, 0, 0), d(4, "A", 0.5, 0, 0)), ""},
		{"silent: no budget spent while an incident went unpaged", attestations(
			d(0, "A", 0.05, 2, 1), d(1, "A", 0, 0, 0), d(2, "B", 0.1, 1, 1)), records.TriggerSilent},
		{"quiet and every incident paged is a good SLO", attestations(
			d(0, "A", 0.05, 2, 2), d(1, "A", 0, 0, 0)), ""},
		{"unpaged incidents while budget was spent are not silence", attestations(
			d(0, "A", 0.5, 2, 0), d(1, "A", 0, 0, 0)), ""},
		{"gone: every attesting member saw nothing for three periods", attestations(
			d(0, "A", 0.5, 0, 0),
			none(1, "A"), none(1, "B"),
			none(2, "A"), none(3, "B")), records.TriggerGone},
		{"one member with data in the last three periods: not gone", attestations(
			none(1, "A"), none(2, "A"), none(3, "A"), d(3, "B", 0.2, 0, 0)), ""},
		{"two periods without data are too few to call it gone", attestations(
			none(1, "A"), none(2, "A")), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := records.Assess(c.atts, p)
			switch {
			case c.trigger == "" && ev != nil:
				t.Fatalf("evidence %s (%s), want none", ev.Trigger, ev.Reason)
			case c.trigger == "":
				if s := records.Summary(c.atts, p); s == "" {
					t.Fatal("empty summary")
				}
				return
			case ev == nil:
				t.Fatalf("no evidence, want %s", c.trigger)
			case ev.Trigger != c.trigger || !strings.HasPrefix(ev.Reason, c.trigger+":"):
				t.Fatalf("evidence %s (%s), want %s", ev.Trigger, ev.Reason, c.trigger)
			case len(ev.Attestations) == 0 || len(ev.Figures) == 0:
				t.Fatalf("evidence without the attestations or figures it rests on: %+v", ev)
			}
			for name, v := range ev.Figures {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("figure %s = %v", name, v)
				}
			}
		})
	}
}

// Assess reads the same evidence whatever order the attestations come in.
func TestAssessIsOrderFree(t *testing.T) {
	atts := attestations(d(0, "A", 1.5, 1, 1), d(0, "B", 1.2, 0, 0), d(1, "A", 0.2, 0, 0), d(2, "A", 2.0, 1, 1), d(2, "B", 3.0, 1, 1))
	want := records.Assess(atts, records.DefaultEvidencePolicy())
	for i := range atts {
		rotated := append(append([]records.Attestation(nil), atts[i:]...), atts[:i]...)
		got := records.Assess(rotated, records.DefaultEvidencePolicy())
		if got.Reason != want.Reason || strings.Join(got.Attestations, ",") != strings.Join(want.Attestations, ",") {
			t.Fatalf("rotation %d: %+v, want %+v", i, got, want)
		}
	}
}

func TestParseAttestation(t *testing.T) {
	good := `{"token_id":"` + tokenID + `","service":"amf","name":"amf-registration","version":1,` +
		`"period_start":"2026-11-01T00:00:00Z","period_end":"2026-11-02T00:00:00+00:00","events":1000,"achieved":0.998,` +
		`"objective":0.999,"budget_consumed":2,"page_alerts":2,"ticket_alerts":1,"false_pages":1,` +
		`"incidents":3,"incidents_detected":2,"incidents_paged":1,"msp_id":"","at":"","tx_id":""}`
	a, err := records.ParseAttestation(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.PeriodEnd != "2026-11-02T00:00:00Z" {
		t.Errorf("period end %q not normalized", a.PeriodEnd)
	}
	edit := func(from, to string) string { return strings.Replace(good, from, to, 1) }
	for _, c := range []struct{ raw, want string }{
		{edit(`"events":1000`, `"events":1000,"extra":1`), "unknown field"},
		{edit(`"msp_id":""`, `"msp_id":"Org1MSP"`), "set by the ledger"},
		{edit(`"tx_id":""`, `"tx_id":"abc"`), "set by the ledger"},
		{edit(tokenID, "abc"), "token ID"},
		{edit(`"version":1`, `"version":0`), "must name the token's SLO"},
		{edit(`"2026-11-01T00:00:00Z"`, `"yesterday"`), "period_start"},
		{edit(`"2026-11-01T00:00:00Z"`, `"2026-11-01T00:00:00.5Z"`), "whole second"},
		{edit(`"2026-11-02T00:00:00+00:00"`, `"2026-11-01T00:00:30Z"`), "lasts 30s"},
		{edit(`"2026-11-02T00:00:00+00:00"`, `"2026-12-31T00:00:00Z"`), "a period lasts"},
		{edit(`"2026-11-02T00:00:00+00:00"`, `"2026-10-31T00:00:00Z"`), "a period lasts"},
		{edit(`"achieved":0.998`, `"achieved":1.5`), "a ratio lies in [0,1]"},
		{edit(`"objective":0.999`, `"objective":1`), "strictly between 0 and 1"},
		{edit(`"budget_consumed":2`, `"budget_consumed":-1`), "non-negative"},
		{edit(`"budget_consumed":2`, `"budget_consumed":1e999`), "budget_consumed"},
		{edit(`"incidents_paged":1`, `"incidents_paged":3`), "incidents_paged (3)"},
		{edit(`"incidents":3`, `"incidents":1`), "does not hold"},
		{edit(`"false_pages":1`, `"false_pages":3`), "exceeds page_alerts"},
		{edit(`"ticket_alerts":1`, `"ticket_alerts":-1`), "a count is non-negative"},
		{edit(`"events":1000`, `"events":1000,"no_data":true`), "zero figures"},
		{edit(`"events":1000`, `"events":0`), "is no_data"},
	} {
		if _, err := records.ParseAttestation(c.raw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.want, err, c.want)
		}
	}
	nodata := `{"token_id":"` + tokenID + `","service":"amf","name":"amf-registration","version":1,` +
		`"period_start":"2026-11-01T00:00:00Z","period_end":"2026-11-02T00:00:00Z","no_data":true,"events":0,"achieved":0,` +
		`"objective":0.999,"budget_consumed":0,"page_alerts":0,"ticket_alerts":0,"false_pages":0,` +
		`"incidents":0,"incidents_detected":0,"incidents_paged":0,"msp_id":"","at":"","tx_id":""}`
	if _, err := records.ParseAttestation(nodata); err != nil {
		t.Errorf("a period without data: %v", err)
	}
}

// The token schema's revision triggers are the evidence's.
func TestRevisionTriggersMatchTheSchema(t *testing.T) {
	want := []string{records.TriggerBreached, records.TriggerSilent, records.TriggerRanking, records.TriggerGone}
	if !slices.Equal(nft.RevisionTriggers, want) {
		t.Fatalf("nft.RevisionTriggers %v, records' triggers %v", nft.RevisionTriggers, want)
	}
}
