package records

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/nft"
)

// Argument parsing for every transaction. Each parser decodes strictly
// (unknown fields and trailing data refused), checks structure and bounds,
// and returns a clear error; the contracts then check what needs the ledger
// (membership, deadlines against the transaction time, existing records).

// Bounds on argument sizes.
const (
	MaxOrgNameLen   = 128
	MaxAddrs        = 16
	MaxAddrLen      = 256
	MaxServices     = 64
	MaxRankedSLIs   = 64
	MaxReasonLen    = 1024
	MaxTaskLen      = 128
	MaxPageSize     = 200
	DefaultPageSize = 50
	// DefaultRequestTTL bounds how long a generation request stays open.
	DefaultRequestTTL = 24 * time.Hour
	// MaxRequestTTL keeps requests from lingering for ever.
	MaxRequestTTL = 30 * 24 * time.Hour
	// MaxRoundAhead bounds how far after the transaction that opens a
	// round its deadlines may lie. A federated round runs for minutes to
	// days; a deadline months away (or in year 9999) is a client's error,
	// and would keep the round, and its members' commitments, open for
	// ever.
	MaxRoundAhead = 90 * 24 * time.Hour
)

var (
	// libp2p peer IDs are base58btc multihashes ("Qm..." or "12D3KooW...").
	peerIDPattern = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{32,128}$`)
	taskPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,127}$`)
)

// IsPeerID reports whether s has the shape of a libp2p peer ID.
func IsPeerID(s string) bool { return peerIDPattern.MatchString(s) }

// ParseOrganizationName checks an organization's display name.
func ParseOrganizationName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errors.New("organization name must not be empty")
	case len(name) > MaxOrgNameLen:
		return "", fmt.Errorf("organization name longer than %d bytes", MaxOrgNameLen)
	case strings.ContainsFunc(name, isControl):
		return "", errors.New("organization name contains control characters")
	}
	return name, nil
}

// ParseNode checks a node registration: a peer ID and a JSON array of
// multiaddrs.
func ParseNode(peerID, addrsJSON string) (string, []string, error) {
	if !IsPeerID(peerID) {
		return "", nil, fmt.Errorf("peer ID %q is not a libp2p peer ID (base58, 32-128 characters)", peerID)
	}
	var addrs []string
	if err := nft.DecodeStrict([]byte(addrsJSON), &addrs); err != nil {
		return "", nil, fmt.Errorf("node addresses: %w", err)
	}
	if len(addrs) == 0 || len(addrs) > MaxAddrs {
		return "", nil, fmt.Errorf("node addresses: need 1 to %d multiaddrs, got %d", MaxAddrs, len(addrs))
	}
	for i, a := range addrs {
		if !strings.HasPrefix(a, "/") || len(a) > MaxAddrLen || strings.ContainsFunc(a, isSpaceOrControl) {
			return "", nil, fmt.Errorf("node addresses[%d]: %q is not a multiaddr", i, a)
		}
	}
	sorted := slices.Clone(addrs)
	slices.Sort(sorted)
	return peerID, slices.Compact(sorted), nil
}

// ParseRoundSpec decodes and checks a round specification.
func ParseRoundSpec(raw string) (RoundSpec, error) {
	var s RoundSpec
	if err := nft.DecodeStrict([]byte(raw), &s); err != nil {
		return RoundSpec{}, fmt.Errorf("round spec: %w", err)
	}
	if !nft.IsValidName(s.ID) {
		return RoundSpec{}, fmt.Errorf("round spec: id %q must be a name (a-z, 0-9, '_', '.', '-')", s.ID)
	}
	s.Protocol = s.ProtocolVersion()
	if s.Protocol != Protocol {
		return RoundSpec{}, fmt.Errorf("round spec: protocol %d is not the one this chaincode runs (%d); a new protocol comes with a chaincode upgrade", s.Protocol, Protocol)
	}
	if !taskPattern.MatchString(s.Task) {
		return RoundSpec{}, fmt.Errorf("round spec: task %q must be a name (a-z, 0-9, '_', '.', '-')", s.Task)
	}
	if err := checkServices(s.Services); err != nil {
		return RoundSpec{}, fmt.Errorf("round spec: %w", err)
	}
	if !nft.IsDigest(s.FeatureSetDigest) {
		return RoundSpec{}, fmt.Errorf("round spec: feature_set_digest %q must be sha256:<64 hex>", s.FeatureSetDigest)
	}
	if !slices.Contains(Strategies, s.Strategy) {
		return RoundSpec{}, fmt.Errorf("round spec: strategy %q is not one of %s", s.Strategy, strings.Join(Strategies, ", "))
	}
	if s.MinParticipants < 1 || s.MinParticipants > nft.MaxContributors {
		return RoundSpec{}, fmt.Errorf("round spec: min_participants must be in 1..%d, got %d", nft.MaxContributors, s.MinParticipants)
	}
	if s.Quorum < 0 || s.Quorum > nft.MaxContributors {
		return RoundSpec{}, fmt.Errorf("round spec: quorum must be in 0..%d, got %d", nft.MaxContributors, s.Quorum)
	}
	if s.MinBackedApprovals < 0 || s.MinBackedApprovals > nft.MaxContributors {
		return RoundSpec{}, fmt.Errorf("round spec: min_backed_approvals must be in 0..%d, got %d", nft.MaxContributors, s.MinBackedApprovals)
	}
	commit, err := ParseTime(s.CommitDeadline)
	if err != nil {
		return RoundSpec{}, fmt.Errorf("round spec: commit_deadline: %w", err)
	}
	end, err := ParseTime(s.Deadline)
	if err != nil {
		return RoundSpec{}, fmt.Errorf("round spec: deadline: %w", err)
	}
	if !end.After(commit) {
		return RoundSpec{}, errors.New("round spec: deadline must be after commit_deadline (members aggregate in between)")
	}
	return s, nil
}

func checkServices(services []string) error {
	if len(services) == 0 || len(services) > MaxServices {
		return fmt.Errorf("services: need 1 to %d services, got %d", MaxServices, len(services))
	}
	for i, svc := range services {
		if !nft.IsValidName(svc) {
			return fmt.Errorf("services[%d]: %q is not a service name", i, svc)
		}
	}
	if !isSortedUnique(services) {
		return errors.New("services: must be sorted and without duplicates")
	}
	return nil
}

// ParseUpdateCommitment decodes and checks an update commitment.
func ParseUpdateCommitment(raw string) (UpdateCommitment, error) {
	var u UpdateCommitment
	if err := nft.DecodeStrict([]byte(raw), &u); err != nil {
		return UpdateCommitment{}, fmt.Errorf("update commitment: %w", err)
	}
	if !nft.IsDigest(u.Digest) {
		return UpdateCommitment{}, fmt.Errorf("update commitment: digest %q must be sha256:<64 hex>", u.Digest)
	}
	if u.Samples < 1 {
		return UpdateCommitment{}, fmt.Errorf("update commitment: samples must be positive, got %d", u.Samples)
	}
	m := u.Metrics
	for _, f := range []struct {
		name  string
		value float64
	}{{"auc", m.AUC}, {"f1", m.F1}} {
		if !finite(f.value) || f.value < 0 || f.value > 1 {
			return UpdateCommitment{}, fmt.Errorf("update commitment: metrics.%s must be in [0,1], got %v", f.name, f.value)
		}
	}
	if !finite(m.Loss) || m.Loss < 0 {
		return UpdateCommitment{}, fmt.Errorf("update commitment: metrics.loss must be finite and non-negative, got %v", m.Loss)
	}
	if !finite(u.Epsilon) || u.Epsilon < 0 || !finite(u.EpsilonTotal) || u.EpsilonTotal < u.Epsilon {
		return UpdateCommitment{}, fmt.Errorf("update commitment: epsilon (%v) and epsilon_total (%v) must be finite, non-negative, total >= this update", u.Epsilon, u.EpsilonTotal)
	}
	if len(u.Services) > 0 {
		if err := checkServices(u.Services); err != nil {
			return UpdateCommitment{}, fmt.Errorf("update commitment: %w", err)
		}
	}
	return u, nil
}

// ParseAggregateClaim decodes and checks an aggregate claim.
func ParseAggregateClaim(raw string) (AggregateClaim, error) {
	var c AggregateClaim
	if err := nft.DecodeStrict([]byte(raw), &c); err != nil {
		return AggregateClaim{}, fmt.Errorf("aggregate claim: %w", err)
	}
	if !nft.IsDigest(c.Digest) {
		return AggregateClaim{}, fmt.Errorf("aggregate claim: digest %q must be sha256:<64 hex>", c.Digest)
	}
	if err := checkMSPs("contributors", c.Contributors); err != nil {
		return AggregateClaim{}, fmt.Errorf("aggregate claim: %w", err)
	}
	if len(c.Ranking) == 0 || len(c.Ranking) > MaxServices {
		return AggregateClaim{}, fmt.Errorf("aggregate claim: ranking needs 1 to %d services, got %d", MaxServices, len(c.Ranking))
	}
	for i, r := range c.Ranking {
		if i > 0 && c.Ranking[i-1].Service >= r.Service {
			return AggregateClaim{}, errors.New("aggregate claim: ranking must be sorted by service without duplicates")
		}
		if !nft.IsValidName(r.Service) {
			return AggregateClaim{}, fmt.Errorf("aggregate claim: ranking[%d].service %q is not a service name", i, r.Service)
		}
		if err := CheckRankedMetrics(r.Metrics); err != nil {
			return AggregateClaim{}, fmt.Errorf("aggregate claim: ranking[%d] (%s): %w", i, r.Service, err)
		}
		if r.Basis != "" && r.Basis != RankingLearned && r.Basis != RankingDeviationFallback {
			return AggregateClaim{}, fmt.Errorf("aggregate claim: ranking[%d] (%s): basis %q must be %s or %s", i, r.Service, r.Basis, RankingLearned, RankingDeviationFallback)
		}
		if len(r.Reason) > 512 || strings.ContainsFunc(r.Reason, isControl) {
			return AggregateClaim{}, fmt.Errorf("aggregate claim: ranking[%d] (%s): reason must be at most 512 bytes without control characters", i, r.Service)
		}
	}
	return c, nil
}

// CheckRankedMetrics checks a ranked metric list: names valid and unique,
// scores finite, best first.
func CheckRankedMetrics(ms []nft.Metric) error {
	if len(ms) == 0 || len(ms) > MaxRankedSLIs {
		return fmt.Errorf("need 1 to %d ranked metrics, got %d", MaxRankedSLIs, len(ms))
	}
	seen := map[string]bool{}
	for i, m := range ms {
		if m.Name == "" || len(m.Name) > 256 || strings.ContainsFunc(m.Name, isSpaceOrControl) {
			return fmt.Errorf("metrics[%d]: %q is not a metric name", i, m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("metrics[%d]: %q listed twice", i, m.Name)
		}
		seen[m.Name] = true
		if !finite(m.Relevance) || m.Relevance < 0 || !finite(m.Stability) || m.Stability < 0 || m.Stability > 1 {
			return fmt.Errorf("metrics[%d] (%s): relevance must be finite and non-negative, stability in [0,1]", i, m.Name)
		}
		if i > 0 && m.Relevance > ms[i-1].Relevance {
			return fmt.Errorf("metrics[%d] (%s): ranking must be sorted best first", i, m.Name)
		}
	}
	return nil
}

// ParseRequestSpec decodes and checks an explicit generation request.
func ParseRequestSpec(raw string) (RequestSpec, error) {
	var r RequestSpec
	if err := nft.DecodeStrict([]byte(raw), &r); err != nil {
		return RequestSpec{}, fmt.Errorf("generation request: %w", err)
	}
	if !nft.IsValidName(r.Service) {
		return RequestSpec{}, fmt.Errorf("generation request: service %q is not a service name", r.Service)
	}
	if err := CheckRankedMetrics(r.SLIs); err != nil {
		return RequestSpec{}, fmt.Errorf("generation request: slis: %w", err)
	}
	if r.RoundID != "" && !nft.IsValidName(r.RoundID) {
		return RequestSpec{}, fmt.Errorf("generation request: round_id %q is not a round ID", r.RoundID)
	}
	if r.Assignee != "" && !nft.IsValidMSPID(r.Assignee) {
		return RequestSpec{}, fmt.Errorf("generation request: assignee %q is not an MSP ID", r.Assignee)
	}
	if r.TTLSeconds < 0 || time.Duration(r.TTLSeconds)*time.Second > MaxRequestTTL {
		return RequestSpec{}, fmt.Errorf("generation request: ttl_seconds must be in 0..%d", int64(MaxRequestTTL/time.Second))
	}
	if r.AssignTTLSeconds < 0 || time.Duration(r.AssignTTLSeconds)*time.Second > MaxRequestTTL {
		return RequestSpec{}, fmt.Errorf("generation request: assign_ttl_seconds must be in 0..%d", int64(MaxRequestTTL/time.Second))
	}
	if r.MinBackedApprovals < 0 || r.MinBackedApprovals > nft.MaxContributors {
		return RequestSpec{}, fmt.Errorf("generation request: min_backed_approvals must be in 0..%d, got %d", nft.MaxContributors, r.MinBackedApprovals)
	}
	return r, nil
}

// Bounds on a decision's figures.
const (
	MaxFigures = 32
)

var figureNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ParseDecisionSpec decodes and checks a member's decision: approve and
// reject carry the figures they rest on, reject and abstain a reason.
func ParseDecisionSpec(raw string) (DecisionSpec, error) {
	var d DecisionSpec
	if err := nft.DecodeStrict([]byte(raw), &d); err != nil {
		return DecisionSpec{}, fmt.Errorf("decision: %w", err)
	}
	switch d.Verdict {
	case VerdictApprove, VerdictReject, VerdictAbstain:
	default:
		return DecisionSpec{}, fmt.Errorf("decision: verdict %q is not approve, reject or abstain", d.Verdict)
	}
	if d.Verdict != VerdictApprove || d.Reason != "" {
		reason, err := ParseReason(d.Reason)
		if err != nil {
			return DecisionSpec{}, fmt.Errorf("decision: %w", err)
		}
		d.Reason = reason
	}
	// An approval or rejection rests on figures from the member's data;
	// one by hand (an operator's, with a reason and no figures) is what
	// Generation:Approve and Reject record, and counts toward quorum but
	// not toward the approvals backed by data.
	if d.Verdict == VerdictApprove && len(d.Figures) == 0 && d.Reason == "" {
		return DecisionSpec{}, errors.New("decision: to approve, give the figures it rests on, or a reason for an approval by hand (which is not backed by data)")
	}
	if len(d.Figures) > MaxFigures {
		return DecisionSpec{}, fmt.Errorf("decision: %d figures, at most %d", len(d.Figures), MaxFigures)
	}
	for name, v := range d.Figures {
		if !figureNamePattern.MatchString(name) {
			return DecisionSpec{}, fmt.Errorf("decision: figure name %q must match %s", name, figureNamePattern)
		}
		if !finite(v) {
			return DecisionSpec{}, fmt.Errorf("decision: figure %s is %v, not a finite number", name, v)
		}
	}
	if len(d.Figures) == 0 {
		d.Figures = nil
	}
	return d, nil
}

// ParseReason checks a rejection or retirement reason.
func ParseReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", errors.New("a reason is required")
	case len(reason) > MaxReasonLen:
		return "", fmt.Errorf("reason longer than %d bytes", MaxReasonLen)
	case strings.ContainsFunc(reason, func(r rune) bool { return isControl(r) && r != '\n' }):
		return "", errors.New("reason contains control characters")
	}
	return reason, nil
}

// ParseMSPID checks an MSP ID argument.
func ParseMSPID(what, id string) (string, error) {
	if !nft.IsValidMSPID(id) {
		return "", fmt.Errorf("%s %q is not an MSP ID", what, id)
	}
	return id, nil
}

// ParseTokenID checks a token ID argument.
func ParseTokenID(id string) (string, error) {
	if !nft.IsTokenID(id) {
		return "", fmt.Errorf("token ID %q must be 64 lowercase hex characters", id)
	}
	return id, nil
}

// ParsePage checks pagination arguments: a page size (decimal, 0 means the
// default) and an opaque bookmark from a previous page.
func ParsePage(pageSize string, bookmark string) (int32, string, error) {
	n := int64(0)
	if pageSize != "" {
		for _, c := range pageSize {
			if c < '0' || c > '9' {
				return 0, "", fmt.Errorf("page size %q is not a number", pageSize)
			}
			n = n*10 + int64(c-'0')
			if n > MaxPageSize {
				return 0, "", fmt.Errorf("page size must be at most %d", MaxPageSize)
			}
		}
	}
	if n == 0 {
		n = DefaultPageSize
	}
	if len(bookmark) > 1024 {
		return 0, "", errors.New("bookmark too long")
	}
	return int32(n), bookmark, nil
}

// CheckRoundDeadlines checks a round's deadlines against the time of the
// transaction that opens it: the commit deadline after it, the deadline no
// more than MaxRoundAhead after it.
func CheckRoundDeadlines(s RoundSpec, now time.Time) error {
	commit, err := ParseTime(s.CommitDeadline)
	if err != nil {
		return fmt.Errorf("commit_deadline: %w", err)
	}
	end, err := ParseTime(s.Deadline)
	if err != nil {
		return fmt.Errorf("deadline: %w", err)
	}
	if !commit.After(now) {
		return fmt.Errorf("commit_deadline %s is not after the transaction time %s", s.CommitDeadline, FormatTime(now))
	}
	if end.Sub(now) > MaxRoundAhead {
		return fmt.Errorf("deadline %s is more than %d days after the transaction time %s", s.Deadline, int(MaxRoundAhead/(24*time.Hour)), FormatTime(now))
	}
	return nil
}

// ParseTime parses an RFC 3339 time.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// FormatTime prints a time the way every record stores it.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func checkMSPs(what string, ids []string) error {
	if len(ids) == 0 || len(ids) > nft.MaxContributors {
		return fmt.Errorf("%s: need 1 to %d MSP IDs, got %d", what, nft.MaxContributors, len(ids))
	}
	for i, id := range ids {
		if !nft.IsValidMSPID(id) {
			return fmt.Errorf("%s[%d]: %q is not an MSP ID", what, i, id)
		}
	}
	if !isSortedUnique(ids) {
		return fmt.Errorf("%s: must be sorted and without duplicates", what)
	}
	return nil
}

func isSortedUnique(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

func isControl(r rune) bool        { return r < 0x20 || r == 0x7f }
func isSpaceOrControl(r rune) bool { return isControl(r) || r == ' ' }
func finite(f float64) bool        { return !math.IsNaN(f) && !math.IsInf(f, 0) }
