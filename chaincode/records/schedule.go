package records

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/nft"
)

// Bounds on a schedule.
const (
	// MinCadence and MaxCadence bound the time between two scheduled
	// rounds: a round a minute is the most a consortium can learn from;
	// one a quarter, the least that still keeps SLOs fresh.
	MinCadence = time.Minute
	MaxCadence = 90 * 24 * time.Hour
	// MaxScheduleIDLen leaves room in a round ID (a name of at most
	// nft.MaxNameLen bytes) for the period suffix ".<k>".
	MaxScheduleIDLen = nft.MaxNameLen - 20
	// DefaultTask is the learning task a schedule's rounds run when the
	// spec names none.
	DefaultTask = "sli-relevance"
)

// ParseScheduleSpec decodes and checks a schedule: an ID that leaves room
// for the period suffix, services sorted and without duplicates, a known
// strategy, a cadence of MinCadence..MaxCadence, a commit phase shorter
// than the round and a round no longer than the cadence, and an RFC 3339
// start. An empty task is DefaultTask. Whether members run the services is
// the chaincode's to check.
func ParseScheduleSpec(raw string) (ScheduleSpec, error) {
	var s ScheduleSpec
	if err := nft.DecodeStrict([]byte(raw), &s); err != nil {
		return ScheduleSpec{}, fmt.Errorf("schedule: %w", err)
	}
	if err := CheckScheduleSpec(&s); err != nil {
		return ScheduleSpec{}, fmt.Errorf("schedule: %w", err)
	}
	return s, nil
}

// CheckScheduleSpec checks a schedule spec as ParseScheduleSpec does,
// filling the default task, for callers that hold the struct (the CLI
// checks before it dials the ledger).
func CheckScheduleSpec(s *ScheduleSpec) error {
	if !nft.IsValidName(s.ID) || len(s.ID) > MaxScheduleIDLen {
		return fmt.Errorf("id %q must be a name (a-z, 0-9, '_', '.', '-') of at most %d bytes", s.ID, MaxScheduleIDLen)
	}
	if s.Task == "" {
		s.Task = DefaultTask
	}
	if !taskPattern.MatchString(s.Task) {
		return fmt.Errorf("task %q must be a name (a-z, 0-9, '_', '.', '-')", s.Task)
	}
	if err := checkServices(s.Services); err != nil {
		return err
	}
	if !nft.IsDigest(s.FeatureSetDigest) {
		return fmt.Errorf("feature_set_digest %q must be sha256:<64 hex>", s.FeatureSetDigest)
	}
	if !slices.Contains(Strategies, s.Strategy) {
		return fmt.Errorf("strategy %q is not one of %s", s.Strategy, strings.Join(Strategies, ", "))
	}
	if s.MinParticipants < 1 || s.MinParticipants > nft.MaxContributors {
		return fmt.Errorf("min_participants must be in 1..%d, got %d", nft.MaxContributors, s.MinParticipants)
	}
	if s.Quorum < 0 || s.Quorum > nft.MaxContributors {
		return fmt.Errorf("quorum must be in 0..%d, got %d", nft.MaxContributors, s.Quorum)
	}
	if s.MinBackedApprovals < 0 || s.MinBackedApprovals > nft.MaxContributors {
		return fmt.Errorf("min_backed_approvals must be in 0..%d, got %d", nft.MaxContributors, s.MinBackedApprovals)
	}
	if _, err := ParseTime(s.Start); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	cadence := time.Duration(s.CadenceSeconds) * time.Second
	if s.CadenceSeconds < int64(MinCadence/time.Second) || s.CadenceSeconds > int64(MaxCadence/time.Second) {
		return fmt.Errorf("cadence_seconds must be in %d..%d (1 minute to 90 days), got %d", int64(MinCadence/time.Second), int64(MaxCadence/time.Second), s.CadenceSeconds)
	}
	if s.CommitSeconds < 1 || s.RoundSeconds <= s.CommitSeconds || time.Duration(s.RoundSeconds)*time.Second > cadence {
		return fmt.Errorf("want 0 < commit_seconds < round_seconds <= cadence_seconds (members aggregate between commit and round end, and a round ends before the next opens), got %d, %d and %d",
			s.CommitSeconds, s.RoundSeconds, s.CadenceSeconds)
	}
	return nil
}

// ScheduledRoundID is the ID of the round a schedule opens for period k:
// the schedule's ID and k, so every node computes the same one, and two
// nodes opening it at once conflict on one key. Schedule IDs never end in
// ".<digits>" ambiguously: the suffix after the last dot is the period.
func ScheduledRoundID(scheduleID string, k int64) string {
	return scheduleID + "." + strconv.FormatInt(k, 10)
}

// PeriodAt returns the period containing t: the k with
// Start + k·Cadence <= t < Start + (k+1)·Cadence. ok is false before
// Start (or for a spec whose start does not parse). The arithmetic is in
// whole seconds from the Unix epoch, which cannot overflow for any time an
// RFC 3339 string can name.
func (s ScheduleSpec) PeriodAt(t time.Time) (k int64, ok bool) {
	start, err := ParseTime(s.Start)
	if err != nil || s.CadenceSeconds <= 0 || t.Before(start) {
		return 0, false
	}
	secs := t.Unix() - start.Unix()
	if t.Nanosecond() < start.Nanosecond() {
		secs-- // floor: t is less than a whole second past start's second
	}
	return secs / s.CadenceSeconds, true
}

// PeriodStart is the start of period k.
func (s ScheduleSpec) PeriodStart(k int64) time.Time {
	start, _ := ParseTime(s.Start)
	return time.Unix(start.Unix()+k*s.CadenceSeconds, int64(start.Nanosecond())).UTC()
}

// RoundSpec is the spec of the round period k opens at now: deadlines
// counted from now, the rest copied from the schedule.
func (s ScheduleSpec) RoundSpec(k int64, now time.Time) RoundSpec {
	return RoundSpec{
		ID:                 ScheduledRoundID(s.ID, k),
		Protocol:           Protocol,
		Task:               s.Task,
		Services:           slices.Clone(s.Services),
		FeatureSetDigest:   s.FeatureSetDigest,
		Strategy:           s.Strategy,
		MinParticipants:    s.MinParticipants,
		Quorum:             s.Quorum,
		MinBackedApprovals: s.MinBackedApprovals,
		CommitDeadline:     FormatTime(now.Add(time.Duration(s.CommitSeconds) * time.Second)),
		Deadline:           FormatTime(now.Add(time.Duration(s.RoundSeconds) * time.Second)),
	}
}

// ParseServiceList decodes the services an organization declares: a JSON
// array of service names, returned sorted and without duplicates. An
// empty list withdraws the declaration.
func ParseServiceList(raw string) ([]string, error) {
	var services []string
	if err := nft.DecodeStrict([]byte(raw), &services); err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	if len(services) > MaxServices {
		return nil, fmt.Errorf("services: at most %d, got %d", MaxServices, len(services))
	}
	for i, svc := range services {
		if !nft.IsValidName(svc) {
			return nil, fmt.Errorf("services[%d]: %q is not a service name", i, svc)
		}
	}
	services = slices.Clone(services)
	slices.Sort(services)
	return slices.Compact(services), nil
}

// UndeclaredServices returns the services that no member declares, given
// the members' declarations, and every declared service (sorted) for the
// error message. Until any member declares services, none is undeclared:
// ledgers written before declarations existed keep working.
func UndeclaredServices(services []string, orgs []Organization) (missing, declared []string) {
	for _, o := range orgs {
		declared = append(declared, o.Services...)
	}
	if len(declared) == 0 {
		return nil, nil
	}
	slices.Sort(declared)
	declared = slices.Compact(declared)
	for _, svc := range services {
		if _, found := slices.BinarySearch(declared, svc); !found {
			missing = append(missing, svc)
		}
	}
	return missing, declared
}
