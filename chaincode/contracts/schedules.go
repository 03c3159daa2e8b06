package contracts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// Schedules holds the round schedules the consortium governs. A member
// admin sets, changes or stops a schedule; any member's node opens each
// due period's round with OpenDue. The round's ID follows from schedule
// and period, so nodes racing to open it write one key: one commits, the
// others get a settled refusal (or an MVCC conflict, which their retry
// turns into one).
type Schedules struct {
	contractapi.Contract
}

// Set records a schedule, or changes (and, if stopped, restarts) one.
// Setting a schedule as it already stands is a settled refusal, so a
// retried Set is harmless.
func (c *Schedules) Set(ctx contractapi.TransactionContextInterface, specJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	spec, err := records.ParseScheduleSpec(specJSON)
	if err != nil {
		return "", err
	}
	if err := t.checkServicesRun(spec.Services); err != nil {
		return "", fmt.Errorf("schedule %q: %w", spec.ID, err)
	}
	members, err := t.members()
	if err != nil {
		return "", err
	}
	if spec.Quorum > len(members) || spec.MinParticipants > len(members) {
		return "", fmt.Errorf("schedule %q: quorum %d and min_participants %d cannot exceed the %d registered members", spec.ID, spec.Quorum, spec.MinParticipants, len(members))
	}
	var old records.Schedule
	found, err := t.get(&old, keySchedule, spec.ID)
	if err != nil {
		return "", err
	}
	if found && old.Status == records.ScheduleActive && sameSpec(old.ScheduleSpec, spec) {
		return "", records.Settled(fmt.Errorf("schedule %q is already set as given (by %s at %s)", spec.ID, old.SetBy, old.SetAt))
	}
	s := records.Schedule{ScheduleSpec: spec, Status: records.ScheduleActive, SetBy: t.actor.MSPID, SetAt: t.at, TxID: t.txID}
	if err := t.put(s, keySchedule, s.ID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventScheduleSet, Schedule: &s}); err != nil {
		return "", err
	}
	return encode(s)
}

func sameSpec(a, b records.ScheduleSpec) bool {
	ca, errA := nft.Canonical(a)
	cb, errB := nft.Canonical(b)
	return errA == nil && errB == nil && string(ca) == string(cb)
}

// Stop stops a schedule: no more rounds open on it; rounds already open
// run to their end. Stopping a stopped schedule is a settled refusal.
func (c *Schedules) Stop(ctx contractapi.TransactionContextInterface, scheduleID string, reason string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin(); err != nil {
		return "", err
	}
	reason, err = records.ParseReason(reason)
	if err != nil {
		return "", fmt.Errorf("stopping schedule %q: %w", scheduleID, err)
	}
	s, err := record[records.Schedule](t, "schedule", keySchedule, scheduleID)
	if err != nil {
		return "", err
	}
	if s.Status == records.ScheduleStopped {
		return "", records.Settled(fmt.Errorf("schedule %q is already stopped (by %s at %s)", scheduleID, s.StoppedBy, s.StoppedAt))
	}
	s.Status, s.StoppedBy, s.StoppedAt, s.Reason = records.ScheduleStopped, t.actor.MSPID, t.at, reason
	if err := t.put(s, keySchedule, s.ID); err != nil {
		return "", err
	}
	if err := t.emit(records.Event{Kind: records.EventScheduleStopped, Schedule: &s}); err != nil {
		return "", err
	}
	return encode(s)
}

// OpenDue opens the round of the schedule's period that contains the
// transaction time, its deadlines counted from that time. Any member's
// identity may call it (nodes call it with their own). A period whose
// round is already open is a settled refusal: the racing node that lost
// is done too. The transaction time is the client's, within the peers'
// time window, so a period may open up to records.TimeWindow early; a
// schedule whose start or cadence changed keeps the rounds its old
// numbering opened, and a period whose ID one of them holds is settled.
func (c *Schedules) OpenDue(ctx contractapi.TransactionContextInterface, scheduleID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMember(); err != nil {
		return "", err
	}
	s, err := record[records.Schedule](t, "schedule", keySchedule, scheduleID)
	if err != nil {
		return "", err
	}
	if s.Status != records.ScheduleActive {
		return "", fmt.Errorf("schedule %q is stopped (by %s at %s: %s)", scheduleID, s.StoppedBy, s.StoppedAt, s.Reason)
	}
	k, ok := s.PeriodAt(t.now)
	if !ok {
		return "", fmt.Errorf("schedule %q starts at %s; the transaction time %s is before it", scheduleID, s.Start, t.at)
	}
	spec := s.RoundSpec(k, t.now)
	var existing records.Round
	if found, err := t.get(&existing, keyRound, spec.ID); err != nil {
		return "", err
	} else if found {
		if existing.ScheduleID == scheduleID && existing.Period == k {
			return "", records.Settled(fmt.Errorf("round %q of schedule %q, period %d, is already open (opened by %s at %s)", spec.ID, scheduleID, k, existing.OpenedBy, existing.OpenedAt))
		}
		return "", fmt.Errorf("schedule %q, period %d: round ID %q is taken by a round not opened on this schedule", scheduleID, k, spec.ID)
	}
	return t.startRound(spec, scheduleID, k)
}

// Get returns a schedule.
func (c *Schedules) Get(ctx contractapi.TransactionContextInterface, scheduleID string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return record[records.Schedule](t, "schedule", keySchedule, scheduleID) })
}

// List returns schedules, a page at a time, in ID order.
func (c *Schedules) List(ctx contractapi.TransactionContextInterface, pageSize string, bookmark string) (string, error) {
	return query(ctx, func(t *txn) (any, error) { return pageOf[records.Schedule](t, keySchedule, nil, pageSize, bookmark) })
}

// GetEvaluateTransactions marks the read-only functions for clients.
func (c *Schedules) GetEvaluateTransactions() []string {
	return []string{"Get", "List"}
}

// checkServicesRun refuses services that no member declares it runs, once
// any member has declared services (before that, any service goes, as on
// ledgers written before declarations existed).
func (t *txn) checkServicesRun(services []string) error {
	orgs, err := scanJSON[records.Organization](t, keyOrg)
	if err != nil {
		return err
	}
	missing, declared := records.UndeclaredServices(services, orgs)
	if len(missing) == 0 {
		return nil
	}
	verb := "is"
	noun := "service"
	if len(missing) > 1 {
		verb, noun = "are", "services"
	}
	return errors.New(noun + " " + strings.Join(missing, ", ") + " " + verb + " run by no member; declared: " + strings.Join(declared, ", "))
}
