package cli_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
)

// scheduleView is what 'schedule show ID' and 'schedule set' print.
type scheduleView struct {
	Schedule        records.Schedule `json:"schedule"`
	Cadence         string           `json:"cadence"`
	Period          *int64           `json:"period"`
	PeriodStart     string           `json:"period_start"`
	RoundID         string           `json:"round_id"`
	RoundStatus     string           `json:"round_status"`
	NextPeriod      *int64           `json:"next_period"`
	NextPeriodStart string           `json:"next_period_start"`
	NextRoundID     string           `json:"next_round_id"`
}

// The schedule, round close and token transfer commands against a running
// 'srellama ledger', with their refusals: the command line's mistakes exit
// 2 before anything is sent, the ledger's refusals exit 1.
func TestScheduleCommands(t *testing.T) {
	ctx := context.Background()
	dir := startConsortiumLedger(t)
	admin1 := embedledger.AdminConnectionConfigPath(dir, "Org1MSP")
	client1 := embedledger.ConnectionConfigPath(dir, "Org1MSP")
	client2 := embedledger.ConnectionConfigPath(dir, "Org2MSP")
	submit(t, dial(t, admin1), nil, "Consortium:DeclareServices", `["smf","amf"]`)
	submit(t, dial(t, embedledger.AdminConnectionConfigPath(dir, "Org2MSP")), nil, "Consortium:DeclareServices", `["upf"]`)
	env := cli.Env{Now: time.Now}

	// set: services sorted; the current period is 0, not opened yet.
	var set scheduleView
	decodeJSON(t, run(ctx, t, env, "schedule", "set", "--connection", admin1, "--id", "daily", "--services", "smf,amf,smf",
		"--cadence", "1d", "--output", "json"), &set, "schedule set")
	s := set.Schedule
	if s.ID != "daily" || !slices.Equal(s.Services, []string{"amf", "smf"}) || s.Status != records.ScheduleActive || s.CadenceSeconds != 86400 ||
		s.CommitSeconds != 600 || s.RoundSeconds != 1800 || s.Strategy != "fedavg" || s.SetBy != "Org1MSP" || set.Cadence != "1d" {
		t.Fatalf("schedule set: %+v", set)
	}
	if set.Period == nil || *set.Period != 0 || set.RoundID != "daily.0" || set.RoundStatus != "not opened" || set.NextRoundID != "daily.1" || *set.NextPeriod != 1 {
		t.Errorf("schedule set periods: %+v", set)
	}
	// Set again as it stands: nothing changes, and that is success.
	if r := run(ctx, t, env, "schedule", "set", "--connection", admin1, "--id", "daily", "--services", "amf,smf", "--cadence", "24h"); r.code != 0 ||
		!strings.Contains(r.stderr, "already set as given") || !strings.Contains(r.stdout, "daily.1") {
		t.Errorf("schedule set unchanged: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A change without --start keeps the start.
	var changed scheduleView
	decodeJSON(t, run(ctx, t, env, "schedule", "set", "--connection", admin1, "--id", "daily", "--services", "amf", "--cadence", "12h",
		"--strategy", "median", "--output", "json"), &changed, "schedule set (change)")
	if changed.Schedule.Start != s.Start || changed.Schedule.CadenceSeconds != 43200 || changed.Schedule.TxID == s.TxID {
		t.Errorf("changed %+v, was %+v", changed.Schedule, s)
	}
	// A node opens the period's round; show says so.
	submit(t, dial(t, client2), nil, "Schedules:OpenDue", "daily")
	var shown scheduleView
	decodeJSON(t, run(ctx, t, env, "schedule", "show", "--connection", client2, "daily", "--output", "json"), &shown, "schedule show")
	if shown.RoundID != "daily.0" || shown.RoundStatus != "open" || shown.NextRoundID != "daily.1" {
		t.Errorf("schedule show: %+v", shown)
	}
	if r := run(ctx, t, env, "schedule", "show", "--connection", client2, "daily"); r.code != 0 || !strings.Contains(r.stdout, "daily.0 (open)") || !strings.Contains(r.stdout, "next round:") {
		t.Errorf("schedule show table:\n%s%s", r.stdout, r.stderr)
	}
	// A schedule starting later: no current period yet.
	var later scheduleView
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	decodeJSON(t, run(ctx, t, env, "schedule", "set", "--connection", admin1, "--id", "alpha", "--services", "upf", "--cadence", "90m",
		"--commit", "5m", "--round-length", "20m", "--start", start.Format(time.RFC3339), "--min-participants", "3", "--output", "json"), &later, "schedule set alpha")
	if later.Period != nil || later.NextRoundID != "alpha.0" || later.NextPeriodStart != records.FormatTime(start) || later.Schedule.MinParticipants != 3 {
		t.Errorf("a later schedule: %+v", later)
	}
	// show without an ID lists them, in ID order, a page at a time.
	pages := walkPages[records.Schedule](t, "schedule", "show", "--connection", client2, "--page-size", "1")
	if len(pages) != 2 || pages[0][0].ID != "alpha" || pages[1][0].ID != "daily" {
		t.Errorf("schedule show pages: %+v", pages)
	}
	if r := run(ctx, t, env, "schedule", "show", "--connection", client2); r.code != 0 || !strings.Contains(r.stdout, "NEXT ROUND") || !strings.Contains(r.stdout, "alpha.0") {
		t.Errorf("schedule show list:\n%s%s", r.stdout, r.stderr)
	}

	// stop, and stop again: success without change.
	var stopped scheduleView
	decodeJSON(t, run(ctx, t, env, "schedule", "stop", "--connection", admin1, "daily", "--reason", "moving to hourly", "--output", "json"), &stopped, "schedule stop")
	if stopped.Schedule.Status != records.ScheduleStopped || stopped.Schedule.Reason != "moving to hourly" || stopped.NextRoundID != "" {
		t.Errorf("schedule stop: %+v", stopped)
	}
	if r := run(ctx, t, env, "schedule", "stop", "--connection", admin1, "daily", "--reason", "again"); r.code != 0 || !strings.Contains(r.stderr, "already stopped") || !strings.Contains(r.stdout, "moving to hourly") {
		t.Errorf("schedule stop again: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// token transfer by the owner's admin; the owner's client may not.
	amf := mint(t, dir, "amf")
	var moved struct {
		Token    nft.Token `json:"token"`
		From, To string
		TxID     string `json:"tx_id"`
	}
	decodeJSON(t, run(ctx, t, env, "token", "transfer", "--connection", admin1, amf, "--to", "Org2MSP", "--output", "json"), &moved, "token transfer")
	if moved.Token.ID != amf || moved.Token.State.Owner != "Org2MSP" || moved.From != "Org1MSP" || moved.To != "Org2MSP" || moved.TxID == "" {
		t.Errorf("token transfer: %+v", moved)
	}

	// round close: before the deadline and time window, the ledger says
	// when it may be closed.
	if r := run(ctx, t, env, "round", "open", "--connection", admin1, "--id", "r1", "--services", "amf"); r.code != 0 {
		t.Fatalf("round open: %s", r.stderr)
	}

	refusals := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"round", "open", "--connection", admin1, "--id", "r2", "--services", "amf,xyz"}, 1, "service xyz is run by no member; declared: amf, smf, upf"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "xyz,nrf", "--cadence", "1h"}, 1, "services nrf, xyz are run by no member"},
		{[]string{"schedule", "set", "--connection", client1, "--id", "s2", "--services", "amf", "--cadence", "1h"}, 1, "needs an organization admin"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf"}, 2, "--cadence are required"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "30s"}, 2, "cadence_seconds must be in 60..7776000"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "90.5s"}, 2, "whole number of seconds"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "often"}, 2, `--cadence "often" is not a duration`},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "1h", "--start", "tomorrow"}, 2, "not an RFC 3339 time"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "1h", "--commit", "40m"}, 2, "commit_seconds < round_seconds"},
		{[]string{"schedule", "set", "--connection", admin1, "--id", "s2", "--services", "amf", "--cadence", "1h", "--strategy", "mean"}, 2, `strategy "mean" is not one of`},
		{[]string{"schedule", "set", "--id", "s2", "--services", "amf", "--cadence", "1h"}, 2, "--connection is required"},
		{[]string{"schedule", "show", "--connection", client2, "Bad ID"}, 2, "not a schedule ID"},
		{[]string{"schedule", "show", "--connection", client2, "nope"}, 1, `schedule "nope" not found`},
		{[]string{"schedule", "show", "--connection", client2, "a", "b"}, 2, "want 0 to 1 argument(s)"},
		{[]string{"schedule", "stop", "--connection", admin1, "alpha"}, 2, "--reason: a reason is required"},
		{[]string{"schedule", "stop", "--connection", client1, "alpha", "--reason", "x"}, 1, "needs an organization admin"},
		{[]string{"schedule", "stop", "--connection", admin1, "nope", "--reason", "x"}, 1, `schedule "nope" not found`},
		{[]string{"round", "close", "--connection", client1, "r1"}, 1, "it can be closed after"},
		{[]string{"round", "close", "--connection", client1, "R 1"}, 2, "not a round ID"},
		{[]string{"round", "close", "--connection", client1, "missing"}, 1, "not found"},
		{[]string{"token", "transfer", "--connection", admin1, "nothex", "--to", "Org3MSP"}, 2, "not a token ID"},
		{[]string{"token", "transfer", "--connection", admin1, amf, "--to", "Org 3"}, 2, "not an MSP ID"},
		{[]string{"token", "transfer", "--connection", admin1, amf, "--to", "Org3MSP"}, 1, "neither the owner"},
		{[]string{"token", "transfer", "--connection", embedledger.ConnectionConfigPath(dir, "Org2MSP"), amf, "--to", "Org3MSP"}, 1, "needs an organization admin"},
		{[]string{"token", "transfer", "--connection", embedledger.AdminConnectionConfigPath(dir, "Org2MSP"), amf, "--to", "Org9MSP"}, 1, "not a registered member"},
	}
	for _, tt := range refusals {
		r := run(ctx, t, env, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
	// Nothing refused was written.
	if r := run(ctx, t, env, "schedule", "show", "--connection", client2, "s2"); r.code != 1 {
		t.Errorf("a refused schedule exists: %s", r.stdout)
	}
}
