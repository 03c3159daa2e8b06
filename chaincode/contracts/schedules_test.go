package contracts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft"
)

// scheduleSpec is an hourly schedule starting at the ledger's time.
func (w *world) scheduleSpec(id string) records.ScheduleSpec {
	return records.ScheduleSpec{
		ID: id, Services: []string{"amf", "smf"}, FeatureSetDigest: nft.DigestBytes([]byte("features")),
		Strategy: "median", MinParticipants: 2, Start: records.FormatTime(w.ledger.Now()),
		CadenceSeconds: 3600, CommitSeconds: 600, RoundSeconds: 1800,
	}
}

func (w *world) declare(services ...string) {
	w.t.Helper()
	for _, org := range w.orgs {
		w.submit(org.Admin, "Consortium:DeclareServices", mustJSON(w.t, services))
	}
}

// Set, change, stop and restart a schedule: one event each, the record as
// the ledger holds it, a second identical Set or Stop settled.
func TestScheduleLifecycle(t *testing.T) {
	w := registered(t)
	spec := w.scheduleSpec("hourly")
	res := w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, spec))
	set := event(t, res, records.EventScheduleSet).Schedule
	if set.ID != "hourly" || set.Status != records.ScheduleActive || set.SetBy != "Org1MSP" || set.TxID != res.TxID || set.Task != records.DefaultTask {
		t.Fatalf("set %+v", set)
	}
	got := decode[records.Schedule](t, w.evaluate(w.org3.Client, "Schedules:Get", "hourly"))
	if got.SetAt != set.SetAt || got.CadenceSeconds != 3600 {
		t.Errorf("get %+v", got)
	}
	w.refused(w.org1.Admin, "settled: schedule \"hourly\" is already set as given", "Schedules:Set", mustJSON(t, spec))

	spec.CadenceSeconds = 7200
	res = w.submit(w.org2.Admin, "Schedules:Set", mustJSON(t, spec))
	if changed := event(t, res, records.EventScheduleSet).Schedule; changed.CadenceSeconds != 7200 || changed.SetBy != "Org2MSP" {
		t.Errorf("changed %+v", changed)
	}
	res = w.submit(w.org3.Admin, "Schedules:Stop", "hourly", "moving to daily rounds")
	stopped := event(t, res, records.EventScheduleStopped).Schedule
	if stopped.Status != records.ScheduleStopped || stopped.StoppedBy != "Org3MSP" || stopped.Reason != "moving to daily rounds" {
		t.Errorf("stopped %+v", stopped)
	}
	w.refused(w.org1.Admin, "settled: schedule \"hourly\" is already stopped", "Schedules:Stop", "hourly", "again")
	w.refused(w.org1.Client, "is stopped", "Schedules:OpenDue", "hourly")

	// Setting it again restarts it.
	res = w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, spec))
	if restarted := event(t, res, records.EventScheduleSet).Schedule; restarted.Status != records.ScheduleActive || restarted.StoppedBy != "" || restarted.Reason != "" {
		t.Errorf("restarted %+v", restarted)
	}
	w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, w.scheduleSpec("daily")))
	page := decode[records.Page[records.Schedule]](t, w.evaluate(w.org2.Client, "Schedules:List", "1", ""))
	if page.Count != 1 || page.Items[0].ID != "daily" || page.Bookmark == "" {
		t.Fatalf("first page %+v", page)
	}
	page = decode[records.Page[records.Schedule]](t, w.evaluate(w.org2.Client, "Schedules:List", "1", page.Bookmark))
	if page.Count != 1 || page.Items[0].ID != "hourly" {
		t.Errorf("second page %+v", page)
	}
}

// OpenDue: nothing before the start; the period's round, with the
// deterministic ID, deadlines from the transaction time and the schedule
// named; a second call in the period settled; the next period its own
// round; nothing once stopped.
func TestOpenDue(t *testing.T) {
	w := registered(t)
	spec := w.scheduleSpec("hourly")
	start := w.ledger.Now().Add(2 * time.Hour)
	spec.Start = records.FormatTime(start)
	w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, spec))

	w.refused(w.org2.Client, "the transaction time "+records.FormatTime(w.ledger.Now())+" is before it", "Schedules:OpenDue", "hourly")

	w.ledger.Advance(2*time.Hour + 90*time.Minute) // period 1, half an hour in
	res := w.submit(w.org2.Client, "Schedules:OpenDue", "hourly")
	round := event(t, res, records.EventRoundOpened).Round
	now, _ := records.ParseTime(round.OpenedAt)
	if round.ID != "hourly.1" || round.ID != records.ScheduledRoundID("hourly", 1) || round.ScheduleID != "hourly" || round.Period != 1 ||
		round.OpenedBy != "Org2MSP" || round.Status != records.RoundOpen || round.Quorum != 2 ||
		round.CommitDeadline != records.FormatTime(now.Add(10*time.Minute)) || round.Deadline != records.FormatTime(now.Add(30*time.Minute)) ||
		len(round.Members) != 3 || round.Strategy != "median" || round.Task != records.DefaultTask {
		t.Fatalf("opened %+v", round)
	}
	stored := decode[records.Round](t, w.evaluate(w.org3.Client, "Rounds:Get", "hourly.1"))
	if stored.OpenTxID != res.TxID || stored.ScheduleID != "hourly" {
		t.Errorf("stored %+v", stored)
	}
	// The round is a round like any other: members commit to it.
	w.submit(w.org1.Client, "Rounds:CommitUpdate", "hourly.1", mustJSON(t, commitment("org1")))

	w.ledger.Advance(20 * time.Minute) // still period 1
	w.refused(w.org3.Admin, `settled: round "hourly.1" of schedule "hourly", period 1, is already open (opened by Org2MSP`, "Schedules:OpenDue", "hourly")

	w.ledger.Advance(time.Hour) // period 2
	res = w.submit(w.org3.Client, "Schedules:OpenDue", "hourly")
	if r := event(t, res, records.EventRoundOpened).Round; r.ID != "hourly.2" || r.Period != 2 {
		t.Errorf("period 2 opened %+v", r)
	}

	// A hand-opened round that took the next period's ID is not mistaken
	// for the schedule's.
	taken := w.roundSpec("hourly.3")
	taken.Services = []string{"amf"}
	taken.CommitDeadline = records.FormatTime(w.ledger.Now().Add(2 * time.Hour))
	taken.Deadline = records.FormatTime(w.ledger.Now().Add(3 * time.Hour))
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, taken))
	w.ledger.Advance(time.Hour)
	w.refused(w.org1.Client, `round ID "hourly.3" is taken by a round not opened on this schedule`, "Schedules:OpenDue", "hourly")

	w.submit(w.org1.Admin, "Schedules:Stop", "hourly", "done")
	w.ledger.Advance(time.Hour)
	w.refused(w.org1.Client, `schedule "hourly" is stopped (by Org1MSP`, "Schedules:OpenDue", "hourly")
	w.refused(w.org1.Client, `schedule "nope" not found`, "Schedules:OpenDue", "nope")
}

// Two ledgers given the same transactions hold the same round: ID and
// record follow from the schedule and the transaction alone.
func TestOpenDueIsDeterministic(t *testing.T) {
	var rounds []string
	for range 2 {
		w := registered(t)
		w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, w.scheduleSpec("hourly")))
		w.ledger.Advance(5*time.Hour + time.Minute)
		res := w.submit(w.org1.Client, "Schedules:OpenDue", "hourly")
		r := decode[records.Round](t, res.Payload)
		r.OpenTxID = "" // transaction IDs hash the caller's certificate, from a fresh CA in each world
		rounds = append(rounds, mustJSON(t, r))
	}
	if rounds[0] != rounds[1] || !strings.Contains(rounds[0], `"id":"hourly.5"`) {
		t.Errorf("rounds differ or misnamed:\n%s\n%s", rounds[0], rounds[1])
	}
}

// Schedules refuse what they could never open, and who may not set them.
func TestScheduleRefusals(t *testing.T) {
	w := registered(t)
	outsider, err := stubtest.NewOrg("Org4MSP", genesis)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(edit func(*records.ScheduleSpec)) string {
		s := w.scheduleSpec("s1")
		edit(&s)
		return mustJSON(t, s)
	}
	good := spec(func(*records.ScheduleSpec) {})
	tests := []struct {
		name string
		want string
		args []string
	}{
		{"ID too long for a period suffix", "of at most 108 bytes", []string{spec(func(s *records.ScheduleSpec) { s.ID = strings.Repeat("a", 109) })}},
		{"ID not a name", "must be a name", []string{spec(func(s *records.ScheduleSpec) { s.ID = "Hourly Rounds" })}},
		{"services unsorted", "must be sorted and without duplicates", []string{spec(func(s *records.ScheduleSpec) { s.Services = []string{"smf", "amf"} })}},
		{"no services", "need 1 to 64 services", []string{spec(func(s *records.ScheduleSpec) { s.Services = nil })}},
		{"unknown strategy", `strategy "mean" is not one of`, []string{spec(func(s *records.ScheduleSpec) { s.Strategy = "mean" })}},
		{"cadence under a minute", "cadence_seconds must be in 60..7776000", []string{spec(func(s *records.ScheduleSpec) {
			s.CadenceSeconds, s.CommitSeconds, s.RoundSeconds = 59, 10, 20
		})}},
		{"cadence over 90 days", "cadence_seconds must be in 60..7776000", []string{spec(func(s *records.ScheduleSpec) { s.CadenceSeconds = 7776001 })}},
		{"commit not shorter than round", "want 0 < commit_seconds < round_seconds <= cadence_seconds", []string{spec(func(s *records.ScheduleSpec) { s.CommitSeconds = 1800 })}},
		{"round longer than cadence", "want 0 < commit_seconds < round_seconds", []string{spec(func(s *records.ScheduleSpec) { s.RoundSeconds = 3601 })}},
		{"no commit phase", "want 0 < commit_seconds", []string{spec(func(s *records.ScheduleSpec) { s.CommitSeconds = 0 })}},
		{"start not RFC 3339", "start: \"tomorrow\" is not an RFC 3339 time", []string{spec(func(s *records.ScheduleSpec) { s.Start = "tomorrow" })}},
		{"no feature set", "feature_set_digest", []string{spec(func(s *records.ScheduleSpec) { s.FeatureSetDigest = "" })}},
		{"more participants than members", "cannot exceed the 3 registered members", []string{spec(func(s *records.ScheduleSpec) { s.MinParticipants = 4 })}},
		{"unknown field", "unknown field", []string{strings.Replace(good, "{", `{"cadence":"1h",`, 1)}},
		{"surplus argument", "Schedules:Set takes 1 argument(s), got 2", []string{good, good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			w.refused(w.org1.Admin, tt.want, "Schedules:Set", tt.args...)
		})
	}
	w.t = t
	w.submit(w.org1.Admin, "Schedules:Set", good)
	access := []struct {
		name   string
		caller *stubtest.Identity
		want   string
		fn     string
		args   []string
	}{
		{"a client sets a schedule", w.org2.Client, "needs an organization admin", "Schedules:Set", []string{spec(func(s *records.ScheduleSpec) { s.ID = "s2" })}},
		{"a client stops a schedule", w.org2.Client, "needs an organization admin", "Schedules:Stop", []string{"s1", "no"}},
		{"an outsider sets a schedule", outsider.Admin, "not a registered consortium member", "Schedules:Set", []string{spec(func(s *records.ScheduleSpec) { s.ID = "s2" })}},
		{"an outsider opens a due round", outsider.Client, "not a registered consortium member", "Schedules:OpenDue", []string{"s1"}},
		{"a stop without a reason", w.org2.Admin, "a reason is required", "Schedules:Stop", []string{"s1", " "}},
		{"an unknown schedule stopped", w.org2.Admin, `schedule "s9" not found`, "Schedules:Stop", []string{"s9", "gone"}},
		{"a client declares services", w.org2.Client, "needs an organization admin", "Consortium:DeclareServices", []string{`["amf"]`}},
		{"an outsider declares services", outsider.Admin, "not a registered consortium member", "Consortium:DeclareServices", []string{`["amf"]`}},
		{"a bad service name declared", w.org2.Admin, `services[0]: "AMF" is not a service name`, "Consortium:DeclareServices", []string{`["AMF"]`}},
	}
	for _, tt := range access {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			w.refused(tt.caller, tt.want, tt.fn, tt.args...)
		})
	}
}

// A service no member declares is refused at once by Rounds:Open,
// Schedules:Set and Generation:Request, once any member has declared; until
// then any service goes.
func TestUndeclaredServicesAreRefused(t *testing.T) {
	w := registered(t)
	round := w.roundSpec("r-before")
	round.Services = []string{"xyz"}
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, round)) // nobody declared yet

	res := w.submit(w.org1.Admin, "Consortium:DeclareServices", `["smf","amf","smf"]`)
	if org := event(t, res, records.EventOrganizationRegistered).Organization; strings.Join(org.Services, ",") != "amf,smf" || org.Name != "Org1MSP Telecom" {
		t.Fatalf("declared %+v", org)
	}
	w.submit(w.org2.Admin, "Consortium:DeclareServices", `["upf"]`)
	if org := decode[records.Organization](t, w.evaluate(w.org3.Client, "Consortium:GetOrganization", "Org1MSP")); strings.Join(org.Services, ",") != "amf,smf" {
		t.Errorf("stored %+v", org)
	}
	// Renaming keeps the declaration.
	w.submit(w.org1.Admin, "Consortium:RegisterOrganization", "Org One")
	if org := decode[records.Organization](t, w.evaluate(w.org3.Client, "Consortium:GetOrganization", "Org1MSP")); strings.Join(org.Services, ",") != "amf,smf" {
		t.Errorf("after renaming %+v", org)
	}

	round = w.roundSpec("r-after")
	round.Services = []string{"amf", "xyz"}
	w.refused(w.org1.Admin, `round "r-after": service xyz is run by no member; declared: amf, smf, upf`, "Rounds:Open", mustJSON(t, round))
	sched := w.scheduleSpec("s1")
	sched.Services = []string{"abc", "xyz"}
	w.refused(w.org1.Admin, "services abc, xyz are run by no member; declared: amf, smf, upf", "Schedules:Set", mustJSON(t, sched))
	w.refused(w.org1.Admin, "service xyz is run by no member", "Generation:Request", `{"service":"xyz","slis":[{"name":"m","relevance":1,"stability":1}]}`)

	// Declared services go; a schedule whose service nobody runs any more
	// opens nothing.
	sched.Services = []string{"upf"}
	w.submit(w.org1.Admin, "Schedules:Set", mustJSON(t, sched))
	w.submit(w.org2.Admin, "Consortium:DeclareServices", `[]`)
	w.refused(w.org1.Client, "service upf is run by no member; declared: amf, smf", "Schedules:OpenDue", "s1")
	w.submit(w.org3.Admin, "Consortium:DeclareServices", `["upf"]`)
	w.submit(w.org1.Client, "Schedules:OpenDue", "s1")
}

// Only an admin of the owner (or of an approved operator) transfers a
// token: a client identity, even the owner's, cannot.
func TestTransferNeedsAnAdmin(t *testing.T) {
	w := registered(t)
	tok := w.mintedToken("round-t")
	w.refused(w.org1.Client, "needs an organization admin", "Tokens:TransferFrom", "Org1MSP", "Org2MSP", tok.ID)
	w.refused(w.org2.Admin, "neither the owner", "Tokens:TransferFrom", "Org1MSP", "Org2MSP", tok.ID)
	w.submit(w.org1.Admin, "Tokens:SetApprovalForAll", "Org2MSP", "true")
	w.refused(w.org2.Client, "needs an organization admin", "Tokens:TransferFrom", "Org1MSP", "Org3MSP", tok.ID)
	res := w.submit(w.org2.Admin, "Tokens:TransferFrom", "Org1MSP", "Org3MSP", tok.ID)
	if tr := event(t, res, records.EventTransfer).Transfer; tr.From != "Org1MSP" || tr.To != "Org3MSP" {
		t.Errorf("transfer %+v", tr)
	}
}
