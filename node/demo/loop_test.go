package demo_test

import (
	"path/filepath"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/demo"
)

// checkLoop checks the demo's SLO lifecycle: both scheduled rounds, the
// degraded service's first SLO attested by every organization each period,
// breached, revised on that evidence, the revision reviewed with its
// no-regression figures and minted as version 2, its rules swapped on
// every node, and the second round keeping the SLOs it had no reason to
// change.
func checkLoop(t *testing.T, sum demo.Summary, nodesDir string, orgs []string) {
	t.Helper()
	sched := sum.Schedule
	if sched.ID != demo.ScheduleID || sched.Status != records.ScheduleActive {
		t.Fatalf("schedule %+v", sched)
	}
	k := sum.Round.Period
	if sum.Round.ID != records.ScheduledRoundID(sched.ID, k) || sum.Round2.ID != records.ScheduledRoundID(sched.ID, k+1) {
		t.Fatalf("rounds %q and %q, want periods %d and %d of schedule %s", sum.Round.ID, sum.Round2.ID, k, k+1, sched.ID)
	}
	for _, r := range []records.Round{sum.Round, sum.Round2} {
		if r.Status != records.RoundFinalized || r.ScheduleID != sched.ID {
			t.Fatalf("round %s: status %s, schedule %q", r.ID, r.Status, r.ScheduleID)
		}
	}

	rev := sum.Revision
	if rev == nil {
		t.Fatal("no revision in the summary")
	}
	v1, v2 := rev.From, rev.To
	if v1.Definition.Version != 1 || v1.Definition.Provenance.RoundID != sum.Round.ID || v1.State.Status != nft.StatusSuperseded {
		t.Fatalf("v1: version %d from round %q, status %s", v1.Definition.Version, v1.Definition.Provenance.RoundID, v1.State.Status)
	}
	if v2.Definition.Version != 2 || v2.Definition.Supersedes != v1.ID || v2.State.Status != nft.StatusActive {
		t.Fatalf("v2: version %d supersedes %q (v1 %s), status %s", v2.Definition.Version, v2.Definition.Supersedes, v1.ID, v2.State.Status)
	}
	why := v2.Definition.Provenance.Revision
	if why == nil || why.Trigger != records.TriggerBreached || why.Reason == "" || why.RequestID != rev.Request.ID {
		t.Fatalf("v2's provenance.revision %+v, request %s", why, rev.Request.ID)
	}
	req := rev.Request
	if req.Kind != records.RequestRevision || req.Supersedes != v1.ID || req.Evidence == nil || req.Evidence.Trigger != records.TriggerBreached {
		t.Fatalf("revision request %+v", req)
	}

	// The reviewers replayed both versions on their own history: each
	// approval but the proposer's own carries the figures, and they show
	// no regression.
	approvals := 0
	for _, d := range rev.Decisions {
		if d.Kind() != records.VerdictApprove || d.MSPID == v2.Definition.Provenance.Proposer {
			continue
		}
		approvals++
		f := d.Figures
		for _, name := range []string{"incidents", "detected_current", "detected_revision", "false_pages_current", "false_pages_revision"} {
			if _, ok := f[name]; !ok {
				t.Fatalf("approval by %s lacks the figure %s: %v", d.MSPID, name, f)
			}
		}
		if f["detected_revision"] < f["detected_current"] || f["false_pages_revision"] > f["false_pages_current"] {
			t.Fatalf("approval by %s of a regressing revision: %v", d.MSPID, f)
		}
	}
	if approvals == 0 {
		t.Fatalf("no reviewer's approval among the decisions %+v", rev.Decisions)
	}
	if len(sum.Revisions) == 0 || sum.Revisions[0].To.ID != v2.ID {
		t.Fatalf("the revision chain does not start with v2: %+v", sum.Revisions)
	}
	for _, r := range sum.Revisions[1:] {
		// Later revisions (v2 may be silent in turn) are made on evidence too.
		if r.To.Definition.Provenance.Revision == nil || r.To.Definition.Supersedes != r.From.ID {
			t.Fatalf("revision v%d: provenance %+v", r.To.Definition.Version, r.To.Definition.Provenance.Revision)
		}
	}
	last := sum.Revisions[len(sum.Revisions)-1].To

	// The members attested each period: the ledger's own rule finds v1
	// breached by a majority, and every organization attested each period
	// of the service (v1, or v2 where v1 was revised before it got to it).
	attested := map[string]map[string]bool{} // period -> MSPs
	var v1Atts []records.Attestation
	for _, c := range sum.Compliance {
		for _, a := range c.Attestations {
			if attested[a.PeriodStart] == nil {
				attested[a.PeriodStart] = map[string]bool{}
			}
			attested[a.PeriodStart][a.MSPID] = true
		}
		if c.Token.ID == v1.ID {
			v1Atts = c.Attestations
		}
	}
	if len(attested) < 3 {
		t.Fatalf("attestations over %d periods, want at least the evidence window of 3", len(attested))
	}
	for p, msps := range attested {
		if len(msps) != len(orgs) {
			t.Errorf("period %s attested by %v, want each of %v", p, msps, orgs)
		}
	}
	if ev := records.Assess(v1Atts, records.DefaultEvidencePolicy()); ev == nil || ev.Trigger != records.TriggerBreached {
		t.Fatalf("the ledger's rule on v1's attestations: %+v", ev)
	}

	// Every node swapped the rules: the active version's installed, v1's
	// (and any version since superseded) gone.
	for _, org := range orgs {
		dir := filepath.Join(nodesDir, org, "rules")
		for _, r := range sum.Revisions {
			ok, err := demo.RulesHold(dir, last.ID, r.From.ID)
			if err != nil || !ok {
				t.Fatalf("%s's rules do not hold v%d alone: %v", org, last.Definition.Version, err)
			}
		}
	}

	// Round 2 kept the SLOs: no request for a service with an active
	// token, and what it minted are first versions of the others. (Other
	// services' SLOs may be revised on their own evidence meanwhile: that
	// is the loop, not a pile-up.)
	kept := map[string]bool{}
	for _, tok := range sum.Tokens {
		if tok.Definition.Provenance.RoundID != sum.Round2.ID {
			kept[tok.Definition.SLI.Service] = true
		}
	}
	for _, r := range sum.Round2Requests {
		if kept[r.Service] {
			t.Fatalf("round 2 asked again for %s, which kept its SLO", r.Service)
		}
	}
	for _, tok := range sum.Tokens {
		if tok.Definition.Provenance.RoundID == sum.Round2.ID && (tok.Definition.Version != 1 || kept[tok.Definition.SLI.Service]) {
			t.Fatalf("round 2 minted %s v%d", tok.Definition.Name, tok.Definition.Version)
		}
	}
}
