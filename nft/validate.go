package nft

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Problem is one reason a token or definition is refused.
type Problem struct {
	Field   string // JSON path, e.g. "definition.slo.objective"
	Message string
}

// ValidationError lists every problem found, so a proposer fixes them all at
// once instead of one per round trip to the ledger.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid s-528 token: " + strings.Join(parts, "; ")
}

type checker struct{ problems []Problem }

func (c *checker) addf(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems}
}

// Limits that keep a token small enough to live in world state and to be
// read by every peer on every query.
const (
	MaxNameLen        = 128
	MaxDescriptionLen = 4096
	MaxQueryLen       = 4096
	MaxRulesLen       = 256 << 10
	MaxMetrics        = 64
	MaxChecks         = 64
	MaxContributors   = 256
	MaxAlertWindows   = 16
)

var (
	// Service and SLO names become Prometheus label values and rule-group
	// names, so they keep to a conservative alphabet.
	namePattern    = regexp.MustCompile(`^[a-z0-9]([a-z0-9_.-]{0,126}[a-z0-9])?$`)
	metricPattern  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	mspPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	windowTemplate = regexp.MustCompile(`\{\{\s*\.window\s*\}\}`)
)

// IsValidName reports whether s may be a service or SLO name.
func IsValidName(s string) bool { return namePattern.MatchString(s) }

// IsValidMSPID reports whether s has the shape of a Fabric MSP ID.
func IsValidMSPID(s string) bool { return mspPattern.MatchString(s) }

// ValidateDefinition checks a definition on its own: every field present and
// consistent. It does not parse PromQL (the generators' validator does, with
// Prometheus's own parser, and records the result in Provenance.Validation);
// it refuses what no parser could accept.
func ValidateDefinition(d Definition) error {
	var c checker
	checkDefinition(&c, "definition", d)
	return c.err()
}

// ValidateToken checks a minted token: its definition, its mint record, its
// state, and that its ID and digest match its content.
func ValidateToken(t Token) error {
	var c checker
	checkContent(&c, t)
	if len(c.problems) == 0 {
		checkSeal(&c, t)
	}
	return c.err()
}

// checkContent checks everything but the seal.
func checkContent(c *checker, t Token) {
	if t.Standard != Standard {
		c.addf("standard", "must be %q, got %q", Standard, t.Standard)
	}
	checkDefinition(c, "definition", t.Definition)
	checkMint(c, "mint", t.Mint)
	checkState(c, "state", t.State)
}

func checkSeal(c *checker, t Token) {
	id, d, _, err := seal(t)
	if err != nil {
		c.addf("digest", "cannot compute: %v", err)
		return
	}
	if t.ID != id {
		c.addf("id", "does not match the definition (want %s, got %q)", id, t.ID)
	}
	if t.Digest != d {
		c.addf("digest", "digest mismatch: content hashes to %s, token says %q", d, t.Digest)
	}
}

func checkDefinition(c *checker, at string, d Definition) {
	if !IsValidName(d.Name) {
		c.addf(at+".name", "must be 1-128 characters of a-z, 0-9, '_', '.', '-' starting and ending with a letter or digit, got %q", d.Name)
	}
	if strings.TrimSpace(d.Description) == "" {
		c.addf(at+".description", "must not be empty")
	} else if len(d.Description) > MaxDescriptionLen {
		c.addf(at+".description", "longer than %d bytes", MaxDescriptionLen)
	}
	if d.Version < 1 {
		c.addf(at+".version", "must be at least 1, got %d", d.Version)
	}
	if d.Protocol < 0 || d.Protocol > Protocol {
		c.addf(at+".protocol", "rendering protocol %d is not one this build knows (up to %d): upgrade the node", d.Protocol, Protocol)
	}
	switch {
	case d.Version == 1 && d.Supersedes != "":
		c.addf(at+".supersedes", "version 1 cannot supersede a token")
	case d.Version > 1 && !IsTokenID(d.Supersedes):
		c.addf(at+".supersedes", "version %d must name the token it supersedes (64 hex characters), got %q", d.Version, d.Supersedes)
	}
	checkSLI(c, at+".sli", d.SLI)
	checkSLO(c, at+".slo", d.SLO)
	checkRules(c, at+".rules", d.Rules)
	if d.Routing != nil {
		checkRouting(c, at+".routing", *d.Routing)
	}
	checkProvenance(c, at+".provenance", d.Provenance)
	if d.Provenance.Revision != nil {
		checkRevision(c, at+".provenance.revision", *d.Provenance.Revision, d.Supersedes)
	}
}

// RevisionTriggers are the evidence triggers a revision may answer (the
// chaincode's records.Trigger* constants).
var RevisionTriggers = []string{"breached", "silent", "ranking", "gone"}

// MaxRevisionReasonLen bounds a revision's reason, as the chaincode bounds
// every reason.
const MaxRevisionReasonLen = 1024

// checkRevision checks why a revision was asked for: a known trigger, a
// sentence, and a token it supersedes (a first version answers no
// evidence).
func checkRevision(c *checker, at string, r RevisionReason, supersedes string) {
	if supersedes == "" {
		c.addf(at, "only a definition that supersedes a token answers evidence for a revision")
	}
	if !slices.Contains(RevisionTriggers, r.Trigger) {
		c.addf(at+".trigger", "must be one of %s, got %q", strings.Join(RevisionTriggers, ", "), r.Trigger)
	}
	switch {
	case strings.TrimSpace(r.Reason) == "":
		c.addf(at+".reason", "must say why the revision was asked for")
	case len(r.Reason) > MaxRevisionReasonLen:
		c.addf(at+".reason", "longer than %d bytes", MaxRevisionReasonLen)
	case !utf8.ValidString(r.Reason):
		c.addf(at+".reason", "must be valid UTF-8")
	}
	if len(r.RequestID) > MaxNameLen*2 {
		c.addf(at+".request_id", "too long")
	}
}

// Limits of a definition's routing.
const (
	MaxRoutingLabels    = 32
	MaxRoutingValueLen  = 1024
	MaxRunbookURLLen    = 2048
	maxRoutingLabelName = 128
)

var labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)

// reservedAlertLabels are the labels the rendered rules set themselves;
// routing may not replace them, or alerts would stop matching their SLO.
var reservedAlertLabels = map[string]bool{
	"severity": true, "sloth_id": true, "sloth_service": true, "sloth_slo": true,
	"sloth_window": true, "sloth_severity": true, "burn_window": true,
	"long_window": true, "short_window": true, "alertname": true,
}

// ValidateRouting checks routing on its own, as a node's configuration
// gives it, before any definition carries it.
func ValidateRouting(r Routing) error {
	var c checker
	checkRouting(&c, "routing", r)
	return c.err()
}

func checkRouting(c *checker, at string, r Routing) {
	switch r.Severities {
	case "", SeverityNamesPageTicket, SeverityNamesCriticalWarning:
	default:
		c.addf(at+".severities", "must be page-ticket or critical-warning, got %q", r.Severities)
	}
	if r.RunbookURL != "" {
		if len(r.RunbookURL) > MaxRunbookURLLen {
			c.addf(at+".runbook_url", "longer than %d bytes", MaxRunbookURLLen)
		} else if u, err := url.Parse(r.RunbookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.addf(at+".runbook_url", "must be an absolute http(s) URL, got %q", r.RunbookURL)
		}
	}
	checkLabelMap(c, at+".labels", r.Labels, true)
	checkLabelMap(c, at+".annotations", r.Annotations, false)
}

func checkLabelMap(c *checker, at string, m map[string]string, labels bool) {
	if len(m) > MaxRoutingLabels {
		c.addf(at, "more than %d entries", MaxRoutingLabels)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case !labelNamePattern.MatchString(k) || strings.HasPrefix(k, "__"):
			c.addf(at, "%q is not a Prometheus label name", k)
		case labels && reservedAlertLabels[k]:
			c.addf(at, "%q is set by the rules themselves and cannot be routed", k)
		case !labels && (k == "summary" || k == "description" || k == "runbook" || k == "runbook_url"):
			c.addf(at, "%q is written by the rules (use runbook_url for the link)", k)
		case len(m[k]) > MaxRoutingValueLen || !utf8.ValidString(m[k]):
			c.addf(at+"."+k, "must be valid UTF-8 of at most %d bytes", MaxRoutingValueLen)
		case labels && m[k] == "":
			c.addf(at+"."+k, "an empty label value is no label at all")
		}
	}
}

func checkSLI(c *checker, at string, s SLI) {
	if !IsValidName(s.Service) {
		c.addf(at+".service", "must be a service name (a-z, 0-9, '_', '.', '-'), got %q", s.Service)
	}
	switch s.Kind {
	case KindRatio, KindLatency, KindAvailability:
	default:
		c.addf(at+".kind", "must be one of ratio, latency, availability, got %q", s.Kind)
	}
	hasEvents := s.GoodQuery != "" || s.TotalQuery != ""
	switch {
	case hasEvents && s.ErrorRatioQuery != "":
		c.addf(at, "use either good_query with total_query, or error_ratio_query, not both")
	case hasEvents:
		checkQuery(c, at+".good_query", s.GoodQuery)
		checkQuery(c, at+".total_query", s.TotalQuery)
		if s.GoodQuery != "" && s.GoodQuery == s.TotalQuery {
			c.addf(at+".good_query", "is the same query as total_query: the SLI would always be 100%%")
		}
	case s.ErrorRatioQuery != "":
		checkQuery(c, at+".error_ratio_query", s.ErrorRatioQuery)
	default:
		c.addf(at, "empty PromQL: needs good_query and total_query, or error_ratio_query")
	}
	if s.Kind == KindLatency {
		if !(s.LatencyThreshold > 0) || math.IsInf(s.LatencyThreshold, 0) {
			c.addf(at+".latency_threshold_seconds", "a latency SLI needs a positive threshold, got %v", s.LatencyThreshold)
		}
	} else if s.LatencyThreshold != 0 {
		c.addf(at+".latency_threshold_seconds", "only a latency SLI has a threshold")
	}
	checkMetrics(c, at+".metrics", s.Metrics)
}

func checkQuery(c *checker, at, q string) {
	switch {
	case strings.TrimSpace(q) == "":
		c.addf(at, "empty PromQL")
	case len(q) > MaxQueryLen:
		c.addf(at, "longer than %d bytes", MaxQueryLen)
	case !windowTemplate.MatchString(q):
		c.addf(at, "must contain the window placeholder %s so it can be evaluated at every alert window", WindowPlaceholder)
	case !balanced(q):
		c.addf(at, "unbalanced brackets or quotes in %q", q)
	}
}

// balanced is a cheap structural check: parentheses, brackets, braces and
// quotes pair up. The full PromQL parse happens in the generator's validator.
func balanced(q string) bool {
	var stack []byte
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	var quote byte
	for i := 0; i < len(q); i++ {
		ch := q[i]
		if quote != 0 {
			switch ch {
			case '\\':
				i++
			case quote:
				quote = 0
			}
			continue
		}
		switch ch {
		case '"', '\'', '`':
			quote = ch
		case '(', '[', '{':
			stack = append(stack, ch)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[ch] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return quote == 0 && len(stack) == 0
}

func checkMetrics(c *checker, at string, ms []Metric) {
	if len(ms) == 0 {
		c.addf(at, "an SLI must name at least one metric it rests on")
		return
	}
	if len(ms) > MaxMetrics {
		c.addf(at, "more than %d metrics", MaxMetrics)
		return
	}
	seen := map[string]bool{}
	for i, m := range ms {
		p := fmt.Sprintf("%s[%d]", at, i)
		if !metricPattern.MatchString(m.Name) {
			c.addf(p+".name", "%q is not a Prometheus metric name", m.Name)
		}
		if seen[m.Name] {
			c.addf(p+".name", "%q listed twice", m.Name)
		}
		seen[m.Name] = true
		if !finite(m.Relevance) || m.Relevance < 0 {
			c.addf(p+".relevance", "must be a finite non-negative number, got %v", m.Relevance)
		}
		if !finite(m.Stability) || m.Stability < 0 || m.Stability > 1 {
			c.addf(p+".stability", "must be in [0,1], got %v", m.Stability)
		}
	}
}

func checkSLO(c *checker, at string, s SLO) {
	if !finite(s.Objective) || s.Objective <= 0 || s.Objective >= 1 {
		c.addf(at+".objective", "%v is outside (0,1)", s.Objective)
	} else if want := ErrorBudget(s.Objective); math.Abs(s.ErrorBudget-want) > 1e-12 {
		c.addf(at+".error_budget", "must be 1 - objective = %v, got %v", want, s.ErrorBudget)
	}
	period, err := ParseDuration(s.Period)
	if err != nil {
		c.addf(at+".period", "unparseable period: %v", err)
		return
	}
	if period < 24*time.Hour || period > 366*24*time.Hour {
		c.addf(at+".period", "%s is outside 1d..366d", s.Period)
	}
	checkAlertPolicy(c, at+".alert_policy", s, period)
	if s.PeriodSLI != PeriodSLIEvents && s.PeriodSLI != PeriodSLISloth {
		c.addf(at+".period_sli", "must be empty (ratio of the period's sums) or sloth (mean of 5m ratios), got %q", s.PeriodSLI)
	}
}

func checkAlertPolicy(c *checker, at string, s SLO, period time.Duration) {
	if len(s.AlertPolicy) == 0 {
		c.addf(at, "needs at least one alert window pair")
		return
	}
	if len(s.AlertPolicy) > MaxAlertWindows {
		c.addf(at, "more than %d alert windows", MaxAlertWindows)
		return
	}
	names := map[string]bool{}
	for i, w := range s.AlertPolicy {
		p := fmt.Sprintf("%s[%d]", at, i)
		if !IsValidName(w.Name) {
			c.addf(p+".name", "must be a name (a-z, 0-9, '_', '.', '-'), got %q", w.Name)
		}
		if names[w.Name] {
			c.addf(p+".name", "%q used twice", w.Name)
		}
		names[w.Name] = true
		if w.Severity != SeverityPage && w.Severity != SeverityTicket {
			c.addf(p+".severity", "must be page or ticket, got %q", w.Severity)
		}
		long, errL := ParseDuration(w.LongWindow)
		short, errS := ParseDuration(w.ShortWindow)
		if errL != nil {
			c.addf(p+".long_window", "%v", errL)
		}
		if errS != nil {
			c.addf(p+".short_window", "%v", errS)
		}
		if errL != nil || errS != nil {
			continue
		}
		if short >= long {
			c.addf(p+".short_window", "%s must be shorter than the long window %s", w.ShortWindow, w.LongWindow)
		}
		if long > period {
			c.addf(p+".long_window", "%s is longer than the period %s", w.LongWindow, s.Period)
		}
		if !finite(w.BudgetConsumed) || w.BudgetConsumed <= 0 || w.BudgetConsumed > 1 {
			c.addf(p+".budget_consumed", "must be in (0,1], got %v", w.BudgetConsumed)
			continue
		}
		want := BurnRate(w.BudgetConsumed, period, long)
		if math.Abs(w.BurnRate-want) > 1e-9*math.Max(1, want) {
			c.addf(p+".burn_rate", "must be budget_consumed x period / long_window = %v, got %v", want, w.BurnRate)
		}
		if want < 1 {
			c.addf(p+".burn_rate", "burn rate %v is below 1: the alert would fire while the SLO is on track", want)
		}
		if budget := ErrorBudget(s.Objective); budget > 0 && want*budget > 1 {
			c.addf(p+".burn_rate", "burn rate %v x error budget %v exceeds 1: the alert could never fire", want, budget)
		}
	}
}

func checkRules(c *checker, at string, r Rules) {
	switch {
	case strings.TrimSpace(r.YAML) == "":
		c.addf(at+".yaml", "the generated Prometheus rules are empty")
	case len(r.YAML) > MaxRulesLen:
		c.addf(at+".yaml", "longer than %d bytes", MaxRulesLen)
	case r.Digest != RulesDigest(r.YAML):
		c.addf(at+".digest", "digest mismatch: rules hash to %s, definition says %q", RulesDigest(r.YAML), r.Digest)
	}
}

func checkProvenance(c *checker, at string, p Provenance) {
	if (p.RoundID == "") != (p.GlobalModelDigest == "") {
		c.addf(at, "round_id and global_model_digest go together: both set, or both empty for a hand-written definition")
	}
	if p.RoundID != "" && !IsValidName(p.RoundID) {
		c.addf(at+".round_id", "must be a round ID (a-z, 0-9, '_', '.', '-'), got %q", p.RoundID)
	}
	if p.GlobalModelDigest != "" && !IsDigest(p.GlobalModelDigest) {
		c.addf(at+".global_model_digest", "must be sha256:<64 hex>, got %q", p.GlobalModelDigest)
	}
	checkMSPList(c, at+".contributors", p.Contributors, p.RoundID != "")
	if p.GenerationRequestID != "" && len(p.GenerationRequestID) > MaxNameLen*2 {
		c.addf(at+".generation_request_id", "too long")
	}
	if p.RankingBasis != "" && p.RankingBasis != RankingLearned && p.RankingBasis != RankingLocalDeviation {
		c.addf(at+".ranking_basis", "must be %s or %s, got %q", RankingLearned, RankingLocalDeviation, p.RankingBasis)
	}
	checkGenerator(c, at+".generator", p.Generator)
	switch {
	case p.Generator.Kind == GeneratorImport && p.Source == nil:
		c.addf(at+".source", "an imported definition must name the spec it came from")
	case p.Generator.Kind != GeneratorImport && p.Source != nil:
		c.addf(at+".source", "only an imported definition (generator kind import) has a source")
	case p.Source != nil:
		if strings.TrimSpace(p.Source.Format) == "" || len(p.Source.Format) > MaxNameLen {
			c.addf(at+".source.format", "must name the spec format")
		}
		if len(p.Source.Name) > 4*MaxNameLen || !utf8.ValidString(p.Source.Name) {
			c.addf(at+".source.name", "must be valid UTF-8 of at most %d bytes", 4*MaxNameLen)
		}
		if !IsDigest(p.Source.Digest) {
			c.addf(at+".source.digest", "must be sha256:<64 hex>, got %q", p.Source.Digest)
		}
	}
	if len(p.Validation) == 0 {
		c.addf(at+".validation", "a definition must carry the results of its validation")
	} else if len(p.Validation) > MaxChecks {
		c.addf(at+".validation", "more than %d checks", MaxChecks)
	}
	for i, v := range p.Validation {
		q := fmt.Sprintf("%s.validation[%d]", at, i)
		if strings.TrimSpace(v.Name) == "" {
			c.addf(q+".name", "must not be empty")
		}
		if !v.Passed {
			c.addf(q, "check %q failed (%s): a failed definition cannot be proposed", v.Name, v.Detail)
		}
	}
	if !IsValidMSPID(p.Proposer) {
		c.addf(at+".proposer", "must be an MSP ID, got %q", p.Proposer)
	}
}

func checkMSPList(c *checker, at string, ids []string, required bool) {
	if required && len(ids) == 0 {
		c.addf(at, "a definition from a federated round must name its contributors")
	}
	if len(ids) > MaxContributors {
		c.addf(at, "more than %d entries", MaxContributors)
		return
	}
	for i, id := range ids {
		if !IsValidMSPID(id) {
			c.addf(fmt.Sprintf("%s[%d]", at, i), "must be an MSP ID, got %q", id)
		}
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		c.addf(at, "must be sorted and without duplicates, so the digest does not depend on arrival order")
	}
}

func checkGenerator(c *checker, at string, g Generator) {
	if strings.TrimSpace(g.Name) == "" {
		c.addf(at+".name", "must not be empty")
	}
	if strings.TrimSpace(g.Version) == "" {
		c.addf(at+".version", "must not be empty")
	}
	switch g.Kind {
	case GeneratorImport:
		if g.Model != "" || g.ModelDigest != "" || g.PromptDigest != "" || g.FallbackReason != "" {
			c.addf(at, "an import names no model")
		}
	case GeneratorBuiltin:
		if g.Model != "" || g.ModelDigest != "" || g.PromptDigest != "" {
			if g.FallbackReason == "" {
				c.addf(at, "a builtin generator names a model only when it took over from one (fallback_reason)")
			}
			// The model it took over from is recorded as an LLM would be.
			for _, d := range []struct{ field, value string }{{"model_digest", g.ModelDigest}, {"prompt_digest", g.PromptDigest}} {
				if d.value != "" && !IsDigest(d.value) {
					c.addf(at+"."+d.field, "must be sha256:<64 hex>, got %q", d.value)
				}
			}
		}
	case GeneratorLLM:
		if strings.TrimSpace(g.Model) == "" {
			c.addf(at+".model", "an LLM generator must name its model")
		}
		if !IsDigest(g.ModelDigest) {
			c.addf(at+".model_digest", "must be sha256:<64 hex>, got %q", g.ModelDigest)
		}
		if !IsDigest(g.PromptDigest) {
			c.addf(at+".prompt_digest", "must be sha256:<64 hex>, got %q", g.PromptDigest)
		}
		if g.FallbackReason != "" {
			c.addf(at+".fallback_reason", "set only when the builtin generator took over (kind builtin)")
		}
	default:
		c.addf(at+".kind", "must be builtin, llm or import, got %q", g.Kind)
	}
}

func checkMint(c *checker, at string, m Mint) {
	if strings.TrimSpace(m.ProposalID) == "" {
		c.addf(at+".proposal_id", "must not be empty")
	}
	if strings.TrimSpace(m.TxID) == "" {
		c.addf(at+".tx_id", "must not be empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, m.MintedAt); err != nil {
		c.addf(at+".minted_at", "must be an RFC 3339 time, got %q", m.MintedAt)
	}
	if len(m.Approvals) == 0 {
		c.addf(at+".approvals", "a minted token has at least one approval")
	}
	for i, a := range m.Approvals {
		p := fmt.Sprintf("%s.approvals[%d]", at, i)
		if !IsValidMSPID(a.MSPID) {
			c.addf(p+".msp_id", "must be an MSP ID, got %q", a.MSPID)
		}
		if i > 0 && m.Approvals[i-1].MSPID >= a.MSPID {
			c.addf(p+".msp_id", "approvals must be sorted by MSP ID without duplicates")
		}
		if _, err := time.Parse(time.RFC3339Nano, a.At); err != nil {
			c.addf(p+".at", "must be an RFC 3339 time, got %q", a.At)
		}
		if strings.TrimSpace(a.TxID) == "" {
			c.addf(p+".tx_id", "must not be empty")
		}
	}
}

func checkState(c *checker, at string, s State) {
	if !IsValidMSPID(s.Owner) {
		c.addf(at+".owner", "must be an MSP ID, got %q", s.Owner)
	}
	switch s.Status {
	case StatusActive, StatusRetired:
		if s.SupersededBy != "" {
			c.addf(at+".superseded_by", "only a superseded token names its successor")
		}
	case StatusSuperseded:
		if !IsTokenID(s.SupersededBy) {
			c.addf(at+".superseded_by", "a superseded token must name its successor, got %q", s.SupersededBy)
		}
	default:
		c.addf(at+".status", "must be active, superseded or retired, got %q", s.Status)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
