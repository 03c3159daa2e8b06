package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Schedules: rounds the consortium opens on a cadence. An admin sets a
// schedule; every node opens the round of each due period itself
// (Schedules:OpenDue), so no one has to.

func runScheduleSet(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "schedule set", "", `
Record a round schedule on the ledger, or change one (Schedules:Set). It
needs an organization admin's connection. Period k of a schedule starts at
--start + k x --cadence; every node opens the period's round itself, with
the ID <id>.<k>, a commit phase of --commit and a length of --round-length
counted from when it opens. Services may be given in any order (they are
sorted); a service no member declares it runs is refused at once. Without
--start, a schedule keeps the start it has, and a new one starts now.
Setting a schedule as it already stands changes nothing and succeeds; a
stopped schedule set again restarts.`, `
  srellama schedule set --connection ./ledger/orgs/Org1MSP/connection-admin.json --id daily --services smf,amf --cadence 24h
  srellama schedule set --connection admin.json --id hourly --services upf --cadence 1h --start 2026-12-01T00:00:00Z --commit 5m --round-length 20m --strategy median --min-participants 3 --output json`)
	defaultFeatures, err := DefaultFeatureSetDigest()
	if err != nil {
		return err
	}
	conn := connectionFlag(f, env, ", an admin's")
	id := f.String("id", "", fmt.Sprintf("schedule ID (a-z, 0-9, '_', '.', '-'; at most %d bytes); required", records.MaxScheduleIDLen))
	services := f.String("services", "", "services the rounds learn, comma-separated, in any order; required")
	strategy := f.String("strategy", "fedavg", "aggregation strategy: "+strings.Join(records.Strategies, ", "))
	cadence := f.String("cadence", "", "time between two rounds (Go or Prometheus duration: 90m, 1h, 1d; 1m to 90d); required")
	start := f.String("start", "", "RFC 3339 start of period 0 (default: the schedule's current start, or now for a new one)")
	commit := f.String("commit", "10m", "each round's commit phase, from when it opens")
	roundLength := f.String("round-length", "30m", "each round's length, from when it opens (after the commit phase, at most the cadence)")
	minParticipants := f.Int("min-participants", 2, "fewest members whose updates a round's aggregate needs")
	quorum := f.Int("quorum", 0, "members that must submit the same aggregate (0: a majority of the members when the round opens)")
	minBacked := f.Int("min-backed-approvals", 0, fmt.Sprintf("organizations that must approve a round's proposals with figures from their own data (0: the ledger's default, %d)", records.DefaultMinBackedApprovals))
	task := f.String("task", records.DefaultTask, "learning task")
	features := f.String("feature-set-digest", defaultFeatures, "digest of the feature set members train on (default: fl's default feature spec)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *id == "" || *services == "" || *cadence == "" {
		return usagef("schedule set: --id, --services and --cadence are required")
	}
	spec := records.ScheduleSpec{
		ID: *id, Task: *task, Services: sortedSet(splitList(*services)), FeatureSetDigest: *features,
		Strategy: *strategy, MinParticipants: *minParticipants, Quorum: *quorum, MinBackedApprovals: *minBacked,
		Start: *start,
	}
	for _, d := range []struct {
		flag  string
		value string
		into  *int64
	}{{"--cadence", *cadence, &spec.CadenceSeconds}, {"--commit", *commit, &spec.CommitSeconds}, {"--round-length", *roundLength, &spec.RoundSeconds}} {
		if *d.into, err = wholeSeconds(d.flag, d.value); err != nil {
			return usagef("schedule set: %v", err)
		}
	}
	if spec.Start != "" {
		t, err := time.Parse(time.RFC3339Nano, spec.Start)
		if err != nil {
			return usagef("schedule set: --start %q is not an RFC 3339 time (2026-12-01T00:00:00Z)", spec.Start)
		}
		spec.Start = records.FormatTime(t)
	} else {
		// Checked with a placeholder: the start comes from the ledger.
		spec.Start = records.FormatTime(env.Now().UTC().Truncate(time.Second))
	}
	if err := records.CheckScheduleSpec(&spec); err != nil { // refuse before dialing
		return usagef("schedule set: %v", err)
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	if *start == "" {
		if old, err := cc.Schedule(ctx, spec.ID); err == nil {
			spec.Start = old.Start
		}
	}
	set, err := cc.SetSchedule(ctx, spec)
	if records.IsSettled(err) {
		return printUnchangedSchedule(ctx, env, f, cc, "schedule set", spec.ID, "already set as given")
	}
	if err != nil {
		return fmt.Errorf("schedule set: %w", err)
	}
	return printScheduleView(env.Stdout, f.json(), viewSchedule(set.Result, nil, env.Now()))
}

// printUnchangedSchedule answers a change the ledger refused as settled
// (the schedule is already as asked): success, saying so, with the
// schedule as the ledger holds it.
func printUnchangedSchedule(ctx context.Context, env Env, f *flags, cc *chaincode.Client, cmd, id, state string) error {
	fmt.Fprintf(env.Stderr, "srellama: schedule %s is %s; nothing changed\n", id, state)
	current, err := cc.Schedule(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return printScheduleView(env.Stdout, f.json(), viewSchedule(current, nil, env.Now()))
}

// sortedSet sorts a list and drops its duplicates: services are a set.
func sortedSet(items []string) []string {
	slices.Sort(items)
	return slices.Compact(items)
}

// wholeSeconds parses a Go (90m, 1h30m) or Prometheus (1d, 1w) duration
// that is a positive whole number of seconds.
func wholeSeconds(flag, s string) (int64, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if d, err = nft.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%s %q is not a duration (90m, 1h, 1d)", flag, s)
		}
	}
	if d <= 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%s %q must be a positive whole number of seconds", flag, s)
	}
	return int64(d / time.Second), nil
}

// scheduleView is what 'schedule show ID' and 'schedule set' print: the
// schedule, the period now and its round, and the next period.
type scheduleView struct {
	Schedule records.Schedule `json:"schedule"`
	// Cadence, Commit and RoundLength are the schedule's durations as an
	// operator writes them.
	Cadence     string `json:"cadence"`
	Commit      string `json:"commit"`
	RoundLength string `json:"round_length"`
	// Period is the period now (absent before the start) and RoundID its
	// round's ID; RoundStatus is the round's status on the ledger, or
	// "not opened" (the nodes open it at their next check).
	Period      *int64 `json:"period,omitempty"`
	PeriodStart string `json:"period_start,omitempty"`
	RoundID     string `json:"round_id,omitempty"`
	RoundStatus string `json:"round_status,omitempty"`
	// NextPeriod is the next period to open, its start and round ID; absent
	// for a stopped schedule.
	NextPeriod      *int64 `json:"next_period,omitempty"`
	NextPeriodStart string `json:"next_period_start,omitempty"`
	NextRoundID     string `json:"next_round_id,omitempty"`
}

// viewSchedule places a schedule at now; round, if known, is the current
// period's round.
func viewSchedule(s records.Schedule, round *records.Round, now time.Time) scheduleView {
	v := scheduleView{
		Schedule:    s,
		Cadence:     nft.FormatDuration(time.Duration(s.CadenceSeconds) * time.Second),
		Commit:      nft.FormatDuration(time.Duration(s.CommitSeconds) * time.Second),
		RoundLength: nft.FormatDuration(time.Duration(s.RoundSeconds) * time.Second),
	}
	next := int64(0)
	if k, ok := s.PeriodAt(now); ok {
		v.Period = &k
		v.PeriodStart = records.FormatTime(s.PeriodStart(k))
		v.RoundID = records.ScheduledRoundID(s.ID, k)
		v.RoundStatus = "not opened"
		if round != nil {
			v.RoundStatus = string(round.Status)
		}
		next = k + 1
	}
	if s.Status == records.ScheduleActive {
		v.NextPeriod = &next
		v.NextPeriodStart = records.FormatTime(s.PeriodStart(next))
		v.NextRoundID = records.ScheduledRoundID(s.ID, next)
	}
	return v
}

func printScheduleView(w io.Writer, asJSON bool, v scheduleView) error {
	if asJSON {
		return writeJSON(w, v)
	}
	s := v.Schedule
	kv := []string{
		"schedule", s.ID, "status", string(s.Status), "services", join(s.Services), "task", s.Task,
		"strategy", s.Strategy, "min participants", fmt.Sprint(s.MinParticipants), "quorum", quorumText(s.Quorum),
		"min backed approvals", backedText(s.MinBackedApprovals),
		"start", s.Start, "cadence", v.Cadence, "commit phase", v.Commit, "round length", v.RoundLength,
		"set by", s.SetBy, "set at", s.SetAt, "transaction", s.TxID,
	}
	if s.Status == records.ScheduleStopped {
		kv = append(kv, "stopped by", s.StoppedBy, "stopped at", s.StoppedAt, "reason", s.Reason)
	}
	if v.Period != nil {
		kv = append(kv, "current period", fmt.Sprintf("%d, from %s", *v.Period, v.PeriodStart), "current round", v.RoundID+" ("+v.RoundStatus+")")
	} else {
		kv = append(kv, "current period", "none: the schedule has not started")
	}
	if v.NextPeriod != nil {
		kv = append(kv, "next period", fmt.Sprintf("%d, from %s", *v.NextPeriod, v.NextPeriodStart), "next round", v.NextRoundID)
	}
	fields(w, kv...)
	return nil
}

func quorumText(q int) string {
	if q == 0 {
		return "majority of the members"
	}
	return fmt.Sprint(q)
}

func backedText(n int) string {
	if n == 0 {
		return fmt.Sprintf("default (%d)", records.DefaultMinBackedApprovals)
	}
	return fmt.Sprint(n)
}

func runScheduleShow(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "schedule show", "[SCHEDULE-ID]", `
Show the round schedules on the ledger. Without an ID, list them in ID order
with each one's next round; with an ID, show that schedule, its current
period and that period's round (open, finalized, failed or not opened yet),
and its next period and round ID.`+paginationHelp, `
  srellama schedule show --connection ./ledger/orgs/Org2MSP/connection.json
  srellama schedule show --connection connection.json daily --output json`)
	conn := connectionFlag(f, env, "")
	size, bookmark := pageFlags(f)
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if err := checkPageSize("schedule show", *size); err != nil {
		return err
	}
	if len(pos) == 1 && !nft.IsValidName(pos[0]) {
		return usagef("schedule show: %q is not a schedule ID (a-z, 0-9, '_', '.', '-')", pos[0])
	}
	c, err := decodeCursor("schedule show", "schedules", *bookmark)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	now := env.Now()
	if len(pos) == 1 {
		s, err := cc.Schedule(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("schedule show: %w", err)
		}
		var round *records.Round
		if k, ok := s.PeriodAt(now); ok {
			if r, err := cc.Round(ctx, records.ScheduledRoundID(s.ID, k)); err == nil && r.ScheduleID == s.ID {
				round = &r
			}
		}
		return printScheduleView(env.Stdout, f.json(), viewSchedule(s, round, now))
	}
	all, err := readAll(ctx, cc.Schedules)
	if err != nil {
		return fmt.Errorf("schedule show: %w", err)
	}
	page := sortedPage(all, func(s records.Schedule) []string { return []string{s.ID} }, c, *size)
	if f.json() {
		return writeJSON(env.Stdout, page)
	}
	t := newTable(env.Stdout, "SCHEDULE", "STATUS", "SERVICES", "CADENCE", "STRATEGY", "NEXT ROUND", "NEXT START")
	for _, s := range page.Items {
		v := viewSchedule(s, nil, now)
		t.row(s.ID, string(s.Status), join(s.Services), v.Cadence, s.Strategy, v.NextRoundID, v.NextPeriodStart)
	}
	t.flush()
	printNext(env.Stdout, page.NextBookmark)
	return nil
}

func runScheduleStop(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "schedule stop", "SCHEDULE-ID", `
Stop a round schedule (Schedules:Stop): no node opens its rounds any more;
rounds already open run to their end. It needs an organization admin's
connection and a reason, which the ledger keeps. Stopping a stopped schedule
changes nothing and succeeds; 'schedule set' restarts it.`, `
  srellama schedule stop --connection ./ledger/orgs/Org1MSP/connection-admin.json daily --reason "moving to hourly rounds"
  srellama schedule stop --connection admin.json hourly --reason "maintenance window" --output json`)
	conn := connectionFlag(f, env, ", an admin's")
	reason := f.String("reason", "", "why the schedule stops; required")
	id, err := f.parseID(args, scheduleIDArg)
	if err != nil {
		return err
	}
	if _, err := records.ParseReason(*reason); err != nil {
		return usagef("schedule stop: --reason: %v", err)
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	stopped, err := cc.StopSchedule(ctx, id, *reason)
	if records.IsSettled(err) {
		return printUnchangedSchedule(ctx, env, f, cc, "schedule stop", id, "already stopped")
	}
	if err != nil {
		return fmt.Errorf("schedule stop: %w", err)
	}
	return printScheduleView(env.Stdout, f.json(), viewSchedule(stopped.Result, nil, env.Now()))
}

func runRoundClose(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "round close", "ROUND-ID", `
Close a round whose deadline passed without a quorum agreeing on its
aggregate (Rounds:Close): it fails, with the reason, and members stop
waiting for it. Any member's connection may close it, from the deadline plus
the ledger's time window (15 minutes) on; before that the ledger refuses and
says when.`, `
  srellama round close --connection ./ledger/orgs/Org1MSP/connection.json r1
  srellama round close --connection connection.json daily.12 --output json`)
	conn := connectionFlag(f, env, "")
	id, err := f.parseID(args, roundIDArg)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	closed, err := cc.CloseRound(ctx, id)
	if err != nil {
		return fmt.Errorf("round close: %w", err)
	}
	r := closed.Result
	if f.json() {
		return writeJSON(env.Stdout, r)
	}
	fields(env.Stdout, "round", r.ID, "status", string(r.Status), "reason", r.FailureReason,
		"closed at", r.ClosedAt, "transaction", r.CloseTxID)
	return nil
}

// transferView is what 'token transfer' prints.
type transferView struct {
	Token nft.Token `json:"token"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	TxID  string    `json:"tx_id"`
}

func runTokenTransfer(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "token transfer", "TOKEN-ID", `
Transfer an s-528 token to another member organization (Tokens:TransferFrom):
the new owner answers for the SLO from then on. It needs an admin's
connection of the owner, or of an operator the owner approved; client
identities cannot transfer.`, `
  srellama token transfer --connection ./ledger/orgs/Org1MSP/connection-admin.json 4f1c0e... --to Org2MSP
  srellama token transfer --connection admin.json 4f1c0e... --to Org3MSP --output json`)
	conn := connectionFlag(f, env, ", an admin's")
	to := f.String("to", "", "MSP ID of the member receiving the token; required")
	id, err := f.parseID(args, tokenIDArg)
	if err != nil {
		return err
	}
	if !nft.IsValidMSPID(*to) {
		return usagef("token transfer: --to %q is not an MSP ID (e.g. Org2MSP)", *to)
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	from, err := cc.OwnerOf(ctx, id)
	if err != nil {
		return fmt.Errorf("token transfer: %w", err)
	}
	moved, err := cc.TransferFrom(ctx, from, *to, id)
	if err != nil {
		return fmt.Errorf("token transfer: %w", err)
	}
	v := transferView{Token: moved.Result, From: from, To: *to, TxID: moved.TxID}
	if f.json() {
		return writeJSON(env.Stdout, v)
	}
	fields(env.Stdout, "token", v.Token.ID, "service", v.Token.Definition.SLI.Service, "from", v.From, "to", v.To, "transaction", v.TxID)
	return nil
}
