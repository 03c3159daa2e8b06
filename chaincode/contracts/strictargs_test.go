package contracts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
)

// TestStrictArguments: what the contract API or encoding/json would take
// altered (invalid UTF-8), take half of (duplicate keys: the last wins),
// ignore (surplus arguments) or keep for ever (a deadline in year 9999) is
// refused with an error that names it, and nothing is written.
func TestStrictArguments(t *testing.T) {
	w := registered(t)
	spec := func(edit func(*records.RoundSpec)) string {
		s := w.roundSpec("round-strict")
		edit(&s)
		return mustJSON(t, s)
	}
	good := spec(func(*records.RoundSpec) {})
	now := w.ledger.Now()
	tests := []struct {
		name string
		want string
		fn   string
		args []string
	}{
		{"organization name not UTF-8", "argument 1 is not valid UTF-8 (at byte 3)", "Consortium:RegisterOrganization", []string{"Org\xff Telecom"}},
		{"function name not UTF-8", "not valid UTF-8", "Consortium:Register\xc3", []string{"x"}},
		{"round spec not UTF-8", "argument 1 is not valid UTF-8", "Rounds:Open", []string{strings.Replace(good, `"sli-relevance"`, "\"sli-\xe2\x82\"", 1)}},
		{"reason not UTF-8", "argument 2 is not valid UTF-8", "Tokens:Retire", []string{strings.Repeat("c", 64), "gone \xff"}},
		{"duplicate key in a round spec", `duplicate key "id"`, "Rounds:Open", []string{strings.Replace(good, `{`, `{"id":"round-other",`, 1)}},
		{"duplicate key differing in case", `duplicate key "id"`, "Rounds:Open", []string{strings.Replace(good, `{`, `{"ID":"round-other",`, 1)}},
		{"duplicate key in a generation request", `duplicate key "service"`, "Generation:Request", []string{`{"service":"amf","service":"smf"}`}},
		{"surplus argument", "Consortium:RegisterOrganization takes 1 argument(s), got 2", "Consortium:RegisterOrganization", []string{"Org1MSP Telecom", "extra"}},
		{"surplus argument, default contract", "RegisterOrganization takes 1 argument(s), got 2", "RegisterOrganization", []string{"Org1MSP Telecom", "extra"}},
		{"surplus argument to a round", "Rounds:Open takes 1 argument(s), got 2", "Rounds:Open", []string{good, good}},
		{"surplus argument to a query", "Audit:ByService takes 3 argument(s), got 4", "Audit:ByService", []string{"amf", "10", "", "z"}},
		{"deadline in year 9999", "more than 90 days after the transaction time", "Rounds:Open", []string{spec(func(s *records.RoundSpec) {
			s.Deadline = "9999-12-31T23:59:59Z"
		})}},
		{"both deadlines in year 9999", "more than 90 days after", "Rounds:Open", []string{spec(func(s *records.RoundSpec) {
			s.CommitDeadline, s.Deadline = "9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z"
		})}},
		{"deadline just beyond the bound", "more than 90 days after", "Rounds:Open", []string{spec(func(s *records.RoundSpec) {
			s.Deadline = records.FormatTime(now.Add(records.MaxRoundAhead + time.Second))
		})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			w.refused(w.org1.Admin, tt.want, tt.fn, tt.args...)
		})
	}
	t.Run("deadline at the bound is accepted", func(t *testing.T) {
		w.t = t
		w.submit(w.org1.Admin, "Rounds:Open", spec(func(s *records.RoundSpec) {
			s.Deadline = records.FormatTime(w.ledger.Now().Add(records.MaxRoundAhead))
		}))
	})
}
