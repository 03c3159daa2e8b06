package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/rulesync"
	"github.com/srellama/srellama/node/source/sim"
)

// The SLO lifecycle in the demo: rounds on a schedule the consortium
// records, one service degraded for good partway through the history, and
// the nodes' own loop (attest, ask, revise, review, mint, swap) taking the
// service's first SLO to a second version.

// ScheduleID is the demo's round schedule.
const ScheduleID = "demo"

// Schedule timing: the ledger's shortest cadence, with period 1 starting
// firstPeriodLead after the schedule is set, time enough for the first
// round to finalize on a loaded machine before the second opens.
const (
	cadence         = 60 * time.Second
	firstPeriodLead = 25 * time.Second
	commitPhase     = 40 * time.Second
)

// The degradation: the UDM (every demo organization runs one) answers
// degradeLatency slower for the last degradeStart of the history. The
// size is chosen so that the latency SLO fitted over the whole history
// keeps its threshold and is breached in the periods after the shift,
// while the revision fitted to them still pages for the faults the current
// SLO pages for: the reviewers' no-regression rule then passes on the
// figures, not because the rule was bent.
const (
	degradeService = sim.UDM
	degradeStart   = "14h"
	degradeLatency = "83ms"
)

// lifecycleConfig is the nodes' lifecycle: three-hour attestation
// periods over the last 36 hours of the three-day history, replayed from
// before each mint (the demo cannot wait for periods to pass), checked
// every second; revisions are fitted to (and judged on) the last day, whole days
// being what the evidence reads.
func lifecycleConfig() config.Lifecycle {
	return config.Lifecycle{ScheduleCheck: "1s", AttestPeriod: "3h", AttestLookback: 12, AttestBeforeMint: true, CheckInterval: "1s", RevisionHistory: 8}
}

func degradeConfig() config.Degrade {
	return config.Degrade{Service: degradeService, Start: degradeStart, AddedLatency: degradeLatency}
}

// degradeText says what the degradation is.
func degradeText() string {
	return fmt.Sprintf("%s answers %s slower for the last %s of the history on every organization running it", degradeService, degradeLatency, degradeStart)
}

// Revision is one version superseding another, with the reasons the
// ledger holds for it.
type Revision struct {
	Service string `json:"service"`
	// From and To are the superseded and the superseding token.
	From nft.Token `json:"from"`
	To   nft.Token `json:"to"`
	// Request is the revision request the evidence opened.
	Request records.GenerationRequest `json:"request"`
	// Decisions are the reviewers' verdicts with their no-regression
	// figures.
	Decisions []records.Decision `json:"decisions"`
}

// TokenCompliance is a token's attestations across the members.
type TokenCompliance struct {
	Token        nft.Token             `json:"token"`
	Attestations []records.Attestation `json:"attestations"`
}

// setSchedule records the demo's schedule: every service, period 0 now,
// period 1 firstPeriodLead from now.
func setSchedule(ctx context.Context, admin *ledger.Gateway, now time.Time) (records.Schedule, error) {
	services := sim.AllServices()
	slices.Sort(services)
	features, err := federation.FeatureSetDigest(fl.DefaultFeatureSpec()) // what the nodes extract
	if err != nil {
		return records.Schedule{}, err
	}
	spec := records.ScheduleSpec{
		ID: ScheduleID, Task: "sli-relevance", Services: services, FeatureSetDigest: features,
		Strategy: "median", MinParticipants: 2,
		Start:          records.FormatTime(now.Add(firstPeriodLead - cadence).Truncate(time.Second)),
		CadenceSeconds: int64(cadence / time.Second), CommitSeconds: int64(commitPhase / time.Second),
		RoundSeconds: int64(cadence / time.Second),
	}
	c, err := chaincode.New(admin).SetSchedule(ctx, spec)
	if err != nil {
		return records.Schedule{}, fmt.Errorf("demo: recording the schedule: %w", err)
	}
	return c.Result, nil
}

// waitRound waits for the nodes to open and finalize a scheduled round.
func waitRound(ctx context.Context, admin *ledger.Gateway, id string) (records.Round, error) {
	var r records.Round
	err := waitFor(ctx, "round "+id+" to close", func() (bool, error) {
		var err error
		r, err = chaincode.New(admin).Round(ctx, id)
		if err != nil {
			return false, nil // not opened yet
		}
		return r.Status != records.RoundOpen, nil
	})
	if err != nil {
		return r, err
	}
	if r.Status != records.RoundFinalized {
		return r, fmt.Errorf("demo: round %s failed: %s", id, r.FailureReason)
	}
	return r, nil
}

// waitRevision waits for the nodes to revise the token on evidence and
// gathers the revision's reasons.
func waitRevision(ctx context.Context, admin *ledger.Gateway, v1 nft.Token) (Revision, error) {
	c := chaincode.New(admin)
	rev := Revision{Service: v1.Definition.SLI.Service, From: v1}
	err := waitFor(ctx, "the revision of "+v1.Definition.Name, func() (bool, error) {
		active, err := c.ActiveTokens(ctx, rev.Service)
		if err != nil {
			return false, err
		}
		for _, t := range active {
			if t.Definition.Supersedes == v1.ID {
				rev.To = t
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return rev, err
	}
	if rev.From, err = c.Token(ctx, v1.ID); err != nil {
		return rev, err
	}
	if r := rev.To.Definition.Provenance.Revision; r != nil && r.RequestID != "" {
		if rev.Request, err = c.Request(ctx, r.RequestID); err != nil {
			return rev, err
		}
	}
	rev.Decisions, err = c.Decisions(ctx, rev.To.Mint.ProposalID)
	return rev, err
}

// tokenCompliance reads the attestations of tokens.
func tokenCompliance(ctx context.Context, admin *ledger.Gateway, toks ...nft.Token) ([]TokenCompliance, error) {
	var out []TokenCompliance
	for _, t := range toks {
		atts, err := chaincode.New(admin).AllCompliance(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, TokenCompliance{Token: t, Attestations: atts})
	}
	return out, nil
}

// waitRulesSwapped waits until every node's rules directory alerts with
// the revision's token and no longer with the one it superseded.
func waitRulesSwapped(ctx context.Context, opt Options, rev Revision) error {
	return waitFor(ctx, "every node to swap the rules of "+rev.Service, func() (bool, error) {
		for _, org := range opt.Orgs {
			ok, err := RulesHold(filepath.Join(opt.OutputDir, "nodes", org, "rules"), rev.To.ID, rev.From.ID)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	})
}

// RulesHold reports whether the rule files in dir carry token want (as
// their srellama_token label) and none carries token gone.
func RulesHold(dir, want, gone string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.rules.yml"))
	if err != nil {
		return false, err
	}
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		s := string(b)
		if strings.Contains(s, gone) {
			return false, nil
		}
		found = found || strings.Contains(s, rulesync.LabelToken+`: "`+want+`"`)
	}
	return found, nil
}

// tokensOf lists the tokens a round minted, by service.
func tokensOf(ctx context.Context, admin *ledger.Gateway, roundID string) ([]nft.Token, error) {
	page, err := chaincode.New(admin).TokensByRound(ctx, roundID, chaincode.PageRequest{})
	if err != nil {
		return nil, err
	}
	toks := page.Items
	sort.Slice(toks, func(i, j int) bool { return toks[i].Definition.SLI.Service < toks[j].Definition.SLI.Service })
	return toks, nil
}

// settleRequests waits until every request of a round is done with.
func settleRequests(ctx context.Context, admin *ledger.Gateway, r records.Round) ([]records.GenerationRequest, error) {
	var reqs []records.GenerationRequest
	err := waitFor(ctx, "the requests of "+r.ID+" to settle", func() (bool, error) {
		var err error
		reqs, err = chaincode.New(admin).RequestsByRound(ctx, r.ID)
		if err != nil {
			return false, err
		}
		for _, q := range reqs {
			if settled, err := requestSettled(ctx, admin, q); err != nil || !settled {
				return false, err
			}
		}
		return true, nil
	})
	return reqs, err
}

// followLifecycle follows the nodes' loop after the first round: the
// degraded service's SLO revised on evidence and swapped on every node,
// then the second scheduled round, which keeps the SLOs it has no reason
// to change.
func followLifecycle(ctx context.Context, admin *ledger.Gateway, opt Options, sum *Summary, k int64, progress func(string, ...any)) error {
	i := slices.IndexFunc(sum.Tokens, func(t nft.Token) bool { return t.Definition.SLI.Service == degradeService })
	if i < 0 {
		return fmt.Errorf("demo: the first round minted no SLO for %s, the degraded service", degradeService)
	}
	v1 := sum.Tokens[i]
	progress("%s (a lasting shift); the nodes attest %s v%d each %s period",
		degradeText(), v1.Definition.Name, v1.Definition.Version, lifecycleConfig().AttestPeriod)
	rev, err := waitRevision(ctx, admin, v1)
	if err != nil {
		return err
	}
	sum.Revision = &rev
	why := "no reason recorded"
	if r := rev.To.Definition.Provenance.Revision; r != nil {
		why = reasonOf(*r)
	}
	progress("%s v%d (objective %.4g%%) superseded by v%d (objective %.4g%%) on evidence (%s), %d reviewers' decisions with their no-regression figures",
		v1.Definition.Name, v1.Definition.Version, v1.Definition.SLO.Objective*100, rev.To.Definition.Version,
		rev.To.Definition.SLO.Objective*100, why, len(rev.Decisions))
	if err := waitRulesSwapped(ctx, opt, rev); err != nil {
		return err
	}
	progress("every node swapped the rules of %s: v%d's installed, v%d's removed", rev.Service, rev.To.Definition.Version, v1.Definition.Version)

	if sum.Round2, err = waitRound(ctx, admin, records.ScheduledRoundID(sum.Schedule.ID, k+1)); err != nil {
		return err
	}
	if sum.Round2Requests, err = settleRequests(ctx, admin, sum.Round2); err != nil {
		return err
	}
	minted, err := tokensOf(ctx, admin, sum.Round2.ID)
	if err != nil {
		return err
	}
	if sum.Tokens, err = activeTokens(ctx, admin, sum.Schedule.Services); err != nil {
		return err
	}
	progress("round %s finalized: %d requests (services without an SLO only), %d tokens minted; the other SLOs are kept unchanged",
		sum.Round2.ID, len(sum.Round2Requests), len(minted))
	// The service's history to its active version: the evidence may have
	// revised v2 in turn (a silent SLO is revised too).
	if sum.Revisions, err = revisionChain(ctx, admin, sum.Tokens, v1); err != nil {
		return err
	}
	if len(sum.Revisions) > 1 {
		progress("%s was revised %d times in all on the evidence: %s", rev.Service, len(sum.Revisions), versions(sum.Revisions))
	}
	toks := []nft.Token{sum.Revisions[0].From}
	for _, r := range sum.Revisions {
		toks = append(toks, r.To)
	}
	sum.Compliance, err = tokenCompliance(ctx, admin, toks...)
	return err
}

// revisionChain walks back from the service's active token to v1: one
// Revision per version that superseded another, oldest first.
func revisionChain(ctx context.Context, admin *ledger.Gateway, active []nft.Token, v1 nft.Token) ([]Revision, error) {
	c := chaincode.New(admin)
	i := slices.IndexFunc(active, func(t nft.Token) bool { return t.Definition.SLI.Service == v1.Definition.SLI.Service })
	if i < 0 {
		return nil, fmt.Errorf("demo: %s has no active SLO at the end", v1.Definition.SLI.Service)
	}
	var chain []Revision
	for t := active[i]; t.ID != v1.ID; {
		if t.Definition.Supersedes == "" || len(chain) > 16 {
			return nil, fmt.Errorf("demo: the active SLO of %s does not descend from %s", v1.Definition.SLI.Service, v1.ID)
		}
		from, err := c.Token(ctx, t.Definition.Supersedes)
		if err != nil {
			return nil, err
		}
		rev := Revision{Service: t.Definition.SLI.Service, From: from, To: t}
		if r := t.Definition.Provenance.Revision; r != nil && r.RequestID != "" {
			if rev.Request, err = c.Request(ctx, r.RequestID); err != nil {
				return nil, err
			}
		}
		if rev.Decisions, err = c.Decisions(ctx, t.Mint.ProposalID); err != nil {
			return nil, err
		}
		if rev.To, err = c.Token(ctx, t.ID); err != nil { // its status now
			return nil, err
		}
		chain = append([]Revision{rev}, chain...)
		t = from
	}
	return chain, nil
}

// versions lists a chain's versions with their objectives.
func versions(chain []Revision) string {
	parts := []string{fmt.Sprintf("v%d %.4g%%", chain[0].From.Definition.Version, chain[0].From.Definition.SLO.Objective*100)}
	for _, r := range chain {
		parts = append(parts, fmt.Sprintf("v%d %.4g%% (%s)", r.To.Definition.Version, r.To.Definition.SLO.Objective*100, trigger(r.To)))
	}
	return strings.Join(parts, " → ")
}

func trigger(t nft.Token) string {
	if r := t.Definition.Provenance.Revision; r != nil {
		return r.Trigger
	}
	return "no reason recorded"
}

// writeLifecycle writes the report's lifecycle section: the token history
// with the reasons and the reviewers' figures, then each version's
// compliance.
func writeLifecycle(b *strings.Builder, sum *Summary) {
	if len(sum.Revisions) == 0 {
		return
	}
	first := sum.Revisions[0]
	fmt.Fprintf(b, "\n## SLO lifecycle: %s\n\n", first.Service)
	fmt.Fprintf(b, "The simulator's %s: a lasting shift, not a fault. The nodes attested each %s period, the evidence called for a revision, the revision was generated, reviewed on each reviewer's own history and minted; every node swapped the rules.\n\n",
		degradeText(), lifecycleConfig().AttestPeriod)
	b.WriteString("| version | token | SLI threshold | objective | status | from | why |\n|---|---|---|---|---|---|---|\n")
	v1 := first.From
	fmt.Fprintf(b, "| v%d | `%s` | %s | %.4g%% | %s | round `%s` | first version |\n", v1.Definition.Version, shortID(v1.ID), threshold(v1),
		v1.Definition.SLO.Objective*100, v1.State.Status, v1.Definition.Provenance.RoundID)
	for _, r := range sum.Revisions {
		why := "(no reason recorded)"
		if w := r.To.Definition.Provenance.Revision; w != nil {
			why = reasonOf(*w)
		}
		fmt.Fprintf(b, "| v%d | `%s` | %s | %.4g%% | %s | request `%s` | %s |\n", r.To.Definition.Version, shortID(r.To.ID), threshold(r.To),
			r.To.Definition.SLO.Objective*100, r.To.State.Status, shortID(r.Request.ID), why)
	}
	b.WriteString("\nReviews (each reviewer replays the current version and the revision on its own history with Prometheus's engine; a revision that detects fewer incidents or pages falsely more is rejected; the proposer's own approval carries no replay):\n\n")
	b.WriteString("| revision | member | verdict | incidents | detected current / revision | false pages current / revision | reason |\n|---|---|---|---|---|---|---|\n")
	for _, r := range sum.Revisions {
		for _, d := range r.Decisions {
			f := d.Figures
			fmt.Fprintf(b, "| v%d → v%d | %s | %s | %s | %s / %s | %s / %s | %s |\n", r.From.Definition.Version, r.To.Definition.Version,
				d.MSPID, d.Kind(), figure(f, "incidents"), figure(f, "detected_current"), figure(f, "detected_revision"),
				figure(f, "false_pages_current"), figure(f, "false_pages_revision"), strings.ReplaceAll(d.Reason, "|", "/"))
		}
	}
	b.WriteString("\n### Compliance\n\n")
	for _, c := range sum.Compliance {
		b.WriteString(complianceMarkdown(c.Token, c.Attestations))
	}
}

// threshold is a latency SLI's threshold, "-" for other kinds.
func threshold(t nft.Token) string {
	if th := t.Definition.SLI.LatencyThreshold; th > 0 {
		return fmt.Sprintf("%gs", th)
	}
	return "-"
}

// figure formats a decision's figure, "-" when the reviewer gave none.
func figure(f map[string]float64, name string) string {
	v, ok := f[name]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.4g", v)
}

func shortID(id string) string { return id[:min(16, len(id))] }

// activeTokens lists the active SLOs of the services, by service: what
// the nodes' rules hold at the end.
func activeTokens(ctx context.Context, admin *ledger.Gateway, services []string) ([]nft.Token, error) {
	var out []nft.Token
	for _, svc := range services {
		toks, err := chaincode.New(admin).ActiveTokens(ctx, svc)
		if err != nil {
			return nil, err
		}
		out = append(out, toks...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Definition.SLI.Service < out[j].Definition.SLI.Service })
	return out, nil
}

// reasonOf is a revision's reason, led by its trigger (the ledger's
// evidence sentences already start with it).
func reasonOf(r nft.RevisionReason) string {
	if strings.HasPrefix(r.Reason, r.Trigger) {
		return r.Reason
	}
	return r.Trigger + ": " + r.Reason
}
