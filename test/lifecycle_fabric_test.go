package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/rulesync"
)

// The lifecycle on real Fabric peers: the consortium end-to-end test opens
// its round through a schedule and watches one SLO revised on evidence.

// e2eSchedule is the schedule the test sets: a daily cadence that started
// an hour ago, so period 0 is due at once and no second period falls due
// while the test runs.
func e2eSchedule(now time.Time) records.ScheduleSpec {
	return records.ScheduleSpec{
		ID: "e2e", Services: []string{"amf", "smf"}, Strategy: "median", MinParticipants: 2,
		CadenceSeconds: 86400, CommitSeconds: 45, RoundSeconds: 180,
		Start: records.FormatTime(now.Add(-time.Hour).Truncate(time.Second)),
	}
}

// degradedService is the service the nodes' simulators shift lastingly.
const degradedService = "amf"

// lifecycleEnv is what the nodes run with besides the base settings: a
// scheduler that checks often, attestation periods short enough that
// several completed ones lie in the 3 days of history, a lifecycle loop
// that checks every few seconds, and a lasting degradation of
// degradedService that covers every attested period.
//
// The shift is moderate on purpose. An SLO fitted to the whole history
// (a third of it degraded) is then missed in every attested period, so the
// ledger finds it breached; the revision, fitted to the degraded recent
// window, loosens the objective only so far that its alerts still catch
// the incidents the current SLO caught, and the reviewers' no-regression
// replay approves it. A severe shift would loosen the objective so much
// that the revision misses incidents, and the reviewers would rightly
// reject it.
func lifecycleEnv() []string {
	return []string{
		"SRELLAMA_SCHEDULE_CHECK=2s",
		"SRELLAMA_ATTEST_PERIOD=4h",
		"SRELLAMA_ATTEST_LOOKBACK=3",
		// Replay the periods before the mint: the test cannot wait hours.
		"SRELLAMA_ATTEST_BEFORE_MINT=true",
		"SRELLAMA_REVISION_HISTORY=3",
		"SRELLAMA_LIFECYCLE_CHECK_INTERVAL=5s",
		"SRELLAMA_SIM_DEGRADE_SERVICE=" + degradedService,
		"SRELLAMA_SIM_DEGRADE_START=16h",
		"SRELLAMA_SIM_DEGRADE_ERROR_FACTOR=15",
		// Every run replays the same simulated days: the simulator's
		// traffic follows the hour and its faults the date.
		"SRELLAMA_SIM_TIME_SHIFT=" + time.Until(lifecycleSimulatedAt()).Round(time.Minute).String(),
	}
}

// lifecycleSimulatedAt is the simulated time the lifecycle test starts at.
func lifecycleSimulatedAt() time.Time { return time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC) }

// requireOneScheduledRound checks that the round is the schedule's
// period-k round and that no other round exists for that period, though
// every node raced to open it.
func requireOneScheduledRound(ctx context.Context, t *testing.T, cc *chaincode.Client, spec records.ScheduleSpec, k int64, round records.Round) {
	t.Helper()
	if round.ID != records.ScheduledRoundID(spec.ID, k) || round.ScheduleID != spec.ID || round.Period != k {
		t.Fatalf("round %s of schedule %q period %d; want %s of %s period %d",
			round.ID, round.ScheduleID, round.Period, records.ScheduledRoundID(spec.ID, k), spec.ID, k)
	}
	var ofPeriod []string
	page := chaincode.PageRequest{Size: 100}
	for {
		rounds, err := cc.Rounds(ctx, page)
		if err != nil {
			t.Fatalf("listing rounds: %v", err)
		}
		for _, r := range rounds.Items {
			if r.ScheduleID == spec.ID && r.Period == k {
				ofPeriod = append(ofPeriod, r.ID)
			}
		}
		if rounds.Bookmark == "" || len(rounds.Items) == 0 {
			break
		}
		page.Bookmark = rounds.Bookmark
	}
	if len(ofPeriod) != 1 {
		t.Fatalf("rounds of schedule %s period %d: %v, want exactly one", spec.ID, k, ofPeriod)
	}
}

// waitForRevision waits until token v1 is superseded by an active v2 and
// returns v2. A revision proposal that is rejected or expires ends the
// wait at once, with the reviewers' figures.
func waitForRevision(ctx context.Context, t *testing.T, cc *chaincode.Client, v1 nft.Token, timeout time.Duration, running func()) nft.Token {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		running()
		if cur, err := cc.Token(ctx, v1.ID); err == nil && cur.State.SupersededBy != "" {
			if v2, err := cc.Token(ctx, cur.State.SupersededBy); err == nil {
				return v2
			}
		}
		if time.Now().After(deadline) {
			// Why not: the revision proposals of v1 and the members' verdicts.
			var why strings.Builder
			ps, err := revisionProposals(ctx, cc, v1.ID)
			for _, p := range ps {
				fmt.Fprintf(&why, "proposal %s %s (%s)\n%s", p.ID, p.Status, p.Reason, describeDecisions(ctx, cc, p.ID))
			}
			if err != nil {
				fmt.Fprintf(&why, "listing proposals: %v\n", err)
			}
			t.Fatalf("timed out after %s waiting for a revision of %s (%s) on evidence; its revision proposals:\n%s",
				timeout, v1.ID[:12], v1.Definition.SLI.Service, why.String())
		}
		time.Sleep(time.Second)
	}
}

// revisionProposals are the proposals to revise token.
func revisionProposals(ctx context.Context, cc *chaincode.Client, token string) ([]records.Proposal, error) {
	var out []records.Proposal
	// Small pages: a proposal carries its definition's rules.
	page := chaincode.PageRequest{Size: 10}
	for {
		ps, err := cc.Proposals(ctx, page)
		if err != nil {
			return out, err
		}
		for _, p := range ps.Items {
			if p.Definition.Supersedes == token {
				out = append(out, p)
			}
		}
		if ps.Bookmark == "" || len(ps.Items) == 0 {
			return out, nil
		}
		page.Bookmark = ps.Bookmark
	}
}

func describeDecisions(ctx context.Context, cc *chaincode.Client, proposal string) string {
	ds, err := cc.Decisions(ctx, proposal)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s %s: %s %v\n", d.MSPID, d.Kind(), d.Reason, d.Figures)
	}
	return b.String()
}

// noRegressionFigures are what a reviewer of a revision measured on its own
// history: the current token and the revision replayed side by side.
var noRegressionFigures = []string{"detected_current", "detected_revision", "false_pages_current", "false_pages_revision"}

// requireRevision checks v2 against v1: it supersedes v1 for the breach
// the attestations showed, and the members other than the proposer that
// approved it did so on the no-regression figures of their own replay.
func requireRevision(ctx context.Context, t *testing.T, cc *chaincode.Client, v1, v2 nft.Token) {
	t.Helper()
	if err := nft.ValidateToken(v2); err != nil {
		t.Fatalf("revision invalid: %v", err)
	}
	def := v2.Definition
	rev := def.Provenance.Revision
	switch {
	case def.Supersedes != v1.ID || def.Version != v1.Definition.Version+1 || def.SLI.Service != v1.Definition.SLI.Service:
		t.Fatalf("token %s (%s v%d) supersedes %q, want %s (v%d)", v2.ID, def.SLI.Service, def.Version, def.Supersedes, v1.ID, v1.Definition.Version)
	case rev == nil || rev.Trigger != records.TriggerBreached || rev.Reason == "":
		t.Fatalf("revision %s provenance %+v, want trigger %s with a reason", v2.ID, rev, records.TriggerBreached)
	case v2.State.Status != nft.StatusActive:
		t.Fatalf("revision %s is %s", v2.ID, v2.State.Status)
	}
	if old, err := cc.Token(ctx, v1.ID); err != nil || old.State.Status != nft.StatusSuperseded || old.State.SupersededBy != v2.ID {
		t.Fatalf("token %s after its revision: %+v (%v)", v1.ID, old.State, err)
	}
	ds, err := cc.Decisions(ctx, v2.Mint.ProposalID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("revision %s of %s: %s -> %s (objective %.4f -> %.4f); %s\n%s", def.Provenance.Revision.Trigger, def.SLI.Service,
		v1.ID[:12], v2.ID[:12], v1.Definition.SLO.Objective, def.SLO.Objective, rev.Reason, describeDecisions(ctx, cc, v2.Mint.ProposalID))
	reviewers := 0
	for _, d := range ds {
		if d.MSPID == def.Provenance.Proposer || d.Kind() != records.VerdictApprove {
			continue
		}
		reviewers++
		for _, k := range noRegressionFigures {
			if _, ok := d.Figures[k]; !ok {
				t.Fatalf("%s approved revision %s without figure %s: %v", d.MSPID, v2.ID, k, d.Figures)
			}
		}
		if d.Figures["detected_revision"] < d.Figures["detected_current"] || d.Figures["false_pages_revision"] > d.Figures["false_pages_current"] {
			t.Fatalf("%s approved a revision that regresses on its figures: %v", d.MSPID, d.Figures)
		}
	}
	if reviewers == 0 {
		t.Fatalf("no member other than the proposer %s approved revision %s:\n%s", def.Provenance.Proposer, v2.ID, describeDecisions(ctx, cc, v2.Mint.ProposalID))
	}
}

// rulesSwapped says what keeps a node's rules folder from holding v2's
// rule file and nothing of v1's; empty when nothing does.
func rulesSwapped(dir string, v1, v2 nft.Token) string {
	var why []string
	raw, err := os.ReadFile(filepath.Join(dir, rulesync.FileName(v2)))
	want, _ := rulesync.Content(v2)
	switch {
	case err != nil:
		why = append(why, err.Error())
	case string(raw) != string(want):
		why = append(why, fmt.Sprintf("%s does not hold v2's rules (v1's: %v)", rulesync.FileName(v2), strings.Contains(string(raw), v1.ID)))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(raw), v1.ID) {
			why = append(why, filepath.Base(f)+" names v1")
		}
	}
	return strings.Join(why, "; ")
}

// attestingOrgs are the organizations with an attestation of the token in
// `srellama token compliance --output json`.
func attestingOrgs(t *testing.T, raw []byte, token string) []string {
	t.Helper()
	var v struct {
		TokenID      string                `json:"token_id"`
		Attestations []records.Attestation `json:"attestations"`
	}
	decode(t, raw, &v)
	if v.TokenID != token {
		t.Fatalf("compliance of %s, want %s", v.TokenID, token)
	}
	var orgs []string
	for _, a := range v.Attestations {
		if a.TokenID != token {
			t.Fatalf("compliance of %s lists an attestation of %s", token, a.TokenID)
		}
		orgs = append(orgs, a.MSPID)
	}
	slices.Sort(orgs)
	return slices.Compact(orgs)
}

// tokensOf lists every version of every token of service.
func tokensOf(ctx context.Context, t *testing.T, cc *chaincode.Client, service string) []nft.Token {
	t.Helper()
	var out []nft.Token
	page := chaincode.PageRequest{Size: 20}
	for {
		ts, err := cc.TokensByService(ctx, service, page)
		if err != nil {
			t.Fatalf("tokens of %s: %v", service, err)
		}
		out = append(out, ts.Items...)
		if ts.Bookmark == "" || len(ts.Items) == 0 {
			return out
		}
		page.Bookmark = ts.Bookmark
	}
}

// requireRevisionAnswersEvidence checks that a revision asked for because
// incidents went unpaged was approved only by reviewers whose replay found
// it detecting more of them: one that changes nothing the evidence showed
// would be asked to be revised again at once (a version pile-up).
func requireRevisionAnswersEvidence(ctx context.Context, t *testing.T, cc *chaincode.Client, v nft.Token) {
	t.Helper()
	rev := v.Definition.Provenance.Revision
	if rev == nil || rev.Trigger != records.TriggerSilent {
		return
	}
	ds, err := cc.Decisions(ctx, v.Mint.ProposalID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s v%d revised on silence: %s\n%s", v.Definition.SLI.Service, v.Definition.Version, rev.Reason, describeDecisions(ctx, cc, v.Mint.ProposalID))
	for _, d := range ds {
		if d.MSPID != v.Definition.Provenance.Proposer && d.Kind() == records.VerdictApprove &&
			!(d.Figures["detected_revision"] > d.Figures["detected_current"]) {
			t.Errorf("%s approved %s v%d, asked for unpaged incidents, detecting no more of them: %v",
				d.MSPID, v.Definition.SLI.Service, v.Definition.Version, d.Figures)
		}
	}
}
