package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/compliance"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// The SLO lifecycle from the command line: a token's compliance history,
// revisions and retirements on evidence or by its owner, and decisions on
// proposals by hand.

// tokenArg checks a token ID argument.
func tokenArg(cmd, id string) error {
	if !nft.IsTokenID(id) {
		return usagef("%s: %q is not a token ID (64 lowercase hex digits)", cmd, id)
	}
	return nil
}

// complianceView is the JSON output of 'token compliance'.
type complianceView struct {
	TokenID      string                `json:"token_id"`
	Service      string                `json:"service"`
	Name         string                `json:"name"`
	Version      int                   `json:"version"`
	Objective    float64               `json:"objective"`
	Status       nft.Status            `json:"status"`
	Attestations []records.Attestation `json:"attestations"`
	Periods      []compliance.Period   `json:"periods"`
	// Evidence is what the ledger would find in the attestations now
	// (records.Assess with the chaincode's policy): null when none.
	Evidence *records.Evidence `json:"evidence"`
}

func runTokenCompliance(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "token compliance", "TOKEN-ID", `
Show how a token's SLO did on each member's data, period by period, as the
members attested it (Audit:Compliance, every page): the error budget each
consumed (1 is the pace the SLO allows; above it the period missed the
objective), the share of good events achieved, the alerts that fired, and
the incidents each knew of, detected and paged on. A chart of the worst
budget consumed per period follows, and the evidence the ledger would find
now: breached or silent (a revision may be requested: 'token revise'), or
gone (its retirement may be proposed: 'token retire --on-evidence').`, `
  srellama token compliance --connection ./ledger/orgs/Org1MSP/connection.json 4f1c0e...
  srellama token compliance --connection connection.json 4f1c0e... --output json`)
	conn := connectionFlag(f, env, "")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if err := tokenArg("token compliance", pos[0]); err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	tok, err := cc.Token(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("token compliance: %w", err)
	}
	atts, err := cc.AllCompliance(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("token compliance: %w", err)
	}
	d := tok.Definition
	v := complianceView{
		TokenID: tok.ID, Service: d.SLI.Service, Name: d.Name, Version: d.Version, Objective: d.SLO.Objective,
		Status: tok.State.Status, Attestations: atts, Periods: compliance.Periods(atts),
		Evidence: records.Assess(atts, records.DefaultEvidencePolicy()),
	}
	if v.Periods == nil {
		v.Periods = []compliance.Period{}
	}
	if f.json() {
		return writeJSON(env.Stdout, v)
	}
	printCompliance(env.Stdout, v)
	return nil
}

func printCompliance(w io.Writer, v complianceView) {
	evidence := "none: " + records.Summary(v.Attestations, records.DefaultEvidencePolicy())
	if v.Evidence != nil {
		evidence = v.Evidence.Reason
	}
	fields(w, "token", v.TokenID, "slo", v.Service+"/"+v.Name+" v"+fmt.Sprint(v.Version),
		"objective", formatObjective(v.Objective), "status", string(v.Status),
		"attestations", fmt.Sprintf("%d over %d period(s)", len(v.Attestations), len(v.Periods)), "evidence", evidence)
	if len(v.Attestations) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := newTable(w, "PERIOD", "ORGANIZATION", "BUDGET CONSUMED", "ACHIEVED", "OBJECTIVE", "ALERTS PAGE/TICKET", "INCIDENTS/DETECTED/PAGED", "NO DATA")
	for _, a := range v.Attestations {
		if a.NoData {
			t.row(a.PeriodStart, a.MSPID, "", "", formatObjective(a.Objective), "", "", "no data")
			continue
		}
		t.row(a.PeriodStart, a.MSPID, fmt.Sprintf("%.3g", a.BudgetConsumed), formatObjective(a.Achieved), formatObjective(a.Objective),
			fmt.Sprintf("%d/%d", a.PageAlerts, a.TicketAlerts), fmt.Sprintf("%d/%d/%d", a.Incidents, a.IncidentsDetected, a.IncidentsPaged), "")
	}
	t.flush()
	fmt.Fprintln(w)
	fmt.Fprint(w, compliance.Chart(v.Periods, 40))
}

func runTokenRevise(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "token revise", "TOKEN-ID", `
Ask the consortium for a revision of an active token on the evidence of its
attestations (Generation:RequestRevision): the ledger assesses them and
refuses unless they show the SLO breached (a majority of the members with
data over budget in 2 of the last 3 periods) or silent (no budget spent
while incidents went unpaged). The request is assigned to this organization;
its node generates the revision, and the members review it on their own
history. A token with an open revision request gets no second one.

With --definition, the token's owner instead revises it directly, without a
vote (Tokens:Revise, an admin's connection): the file holds the next
version's s-528 definition, superseding this token, for corrections such as
a runbook link.`, `
  srellama token revise --connection ./ledger/orgs/Org2MSP/connection.json 4f1c0e...
  srellama token revise --connection ./ledger/orgs/Org1MSP/connection-admin.json 4f1c0e... --definition amf-v2.json --output json`)
	conn := connectionFlag(f, env, " (an admin's with --definition)")
	defFile := f.String("definition", "", "the owner's direct revision: a file holding the next version's s-528 definition (JSON)")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if err := tokenArg("token revise", pos[0]); err != nil {
		return err
	}
	var def *nft.Definition
	if *defFile != "" {
		raw, err := os.ReadFile(*defFile)
		if err != nil {
			return usagef("token revise: --definition: %v", err)
		}
		d, err := nft.DecodeDefinition(raw)
		if err != nil {
			return usagef("token revise: --definition %s: %v", *defFile, err)
		}
		if d.Supersedes != pos[0] {
			return usagef("token revise: the definition in %s supersedes %q, not %s", *defFile, d.Supersedes, pos[0])
		}
		def = &d
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	if def != nil {
		revised, err := cc.Revise(ctx, pos[0], *def)
		if err != nil {
			return fmt.Errorf("token revise: %w", err)
		}
		if f.json() {
			return writeJSON(env.Stdout, revised.Result)
		}
		printToken(env.Stdout, revised.Result)
		return nil
	}
	requested, err := cc.RequestRevision(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("token revise: %w", err)
	}
	if f.json() {
		return writeJSON(env.Stdout, requested.Result)
	}
	printRevisionRequest(env.Stdout, requested.Result)
	return nil
}

func printRevisionRequest(w io.Writer, req records.GenerationRequest) {
	kv := []string{"request", req.ID, "kind", string(req.Kind), "supersedes", req.Supersedes, "service", req.Service}
	if ev := req.Evidence; ev != nil {
		kv = append(kv, "trigger", ev.Trigger, "evidence", ev.Reason, "figures", formatFigures(ev.Figures))
	}
	kv = append(kv, "assignee", req.Assignee, "runners", join(req.Runners), "deadline", req.Deadline,
		"min backed approvals", fmt.Sprint(req.MinBackedApprovals), "transaction", req.TxID)
	fields(w, kv...)
}

func runTokenRetire(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "token retire", "TOKEN-ID", `
Retire an active token. With --reason, its owner retires it directly
(Tokens:Retire, an admin's connection of the owning organization); it stays
on the ledger for audit. With --on-evidence, any member proposes its
retirement to the consortium (Generation:ProposeRetirement): the ledger
accepts only if every member that attested saw no event of the service in
the last 3 periods; the members then decide like on any proposal ('proposal
approve|reject'), and at quorum the deciding transaction retires the token.`, `
  srellama token retire --connection ./ledger/orgs/Org1MSP/connection-admin.json 4f1c0e... --reason "service decommissioned"
  srellama token retire --connection ./ledger/orgs/Org2MSP/connection.json 4f1c0e... --on-evidence --output json`)
	conn := connectionFlag(f, env, " (an admin's of the owner with --reason)")
	reason := f.String("reason", "", "the owner's direct retirement, with this reason")
	onEvidence := f.Bool("on-evidence", false, "propose the retirement to the consortium on the evidence of the attestations")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if err := tokenArg("token retire", pos[0]); err != nil {
		return err
	}
	if (*reason != "") == *onEvidence {
		return usagef("token retire: give either --reason (the owner retires) or --on-evidence (propose it to the consortium)")
	}
	if *reason != "" {
		if _, err := records.ParseReason(*reason); err != nil {
			return usagef("token retire: --reason: %v", err)
		}
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	if *onEvidence {
		proposed, err := cc.ProposeRetirement(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("token retire: %w", err)
		}
		if f.json() {
			return writeJSON(env.Stdout, proposed.Result)
		}
		printDecided(env.Stdout, proposed.Result)
		return nil
	}
	retired, err := cc.Retire(ctx, pos[0], *reason)
	if err != nil {
		return fmt.Errorf("token retire: %w", err)
	}
	if f.json() {
		return writeJSON(env.Stdout, retired.Result)
	}
	printToken(env.Stdout, retired.Result)
	return nil
}

// printDecided prints a proposal as a decision or a proposal left it.
func printDecided(w io.Writer, p records.Proposal) {
	d := p.Definition
	what := "mint " + d.SLI.Service + "/" + d.Name + " v" + fmt.Sprint(d.Version)
	if p.Kind == records.ProposalRetirement {
		what = "retire token " + p.Target
	}
	kv := []string{"proposal", p.ID, "to", what, "status", string(p.Status), "reason", p.Reason}
	if ev := p.Evidence; ev != nil {
		kv = append(kv, "evidence", ev.Reason)
	}
	kv = append(kv, "proposer", p.Proposer, "deadline", p.Deadline, "quorum", fmt.Sprint(p.Quorum),
		"min backed approvals", fmt.Sprint(p.MinBackedApprovals), "token", p.TokenID)
	fields(w, kv...)
}

// decisionHelp says what a decision by hand is and is not.
const decisionHelp = "\n" + `
A decision by hand carries no figures measured on this organization's data:
it counts toward the quorum, but not toward the approvals a proposal needs
backed by data (its min backed approvals), which only a node's review
gives. It needs a member's connection; each member decides once.`

func runProposalApprove(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "proposal approve", "PROPOSAL-ID", `
Approve a proposal by hand (Generation:Decide with verdict approve and the
reason; Generation:Approve without one).`+decisionHelp, `
  srellama proposal approve --connection ./ledger/orgs/Org2MSP/connection.json 4f1c0e...
  srellama proposal approve --connection connection.json 4f1c0e... --reason "checked against our dashboards" --output json`)
	conn := connectionFlag(f, env, "")
	reason := f.String("reason", "", "why this organization approves (optional)")
	return decideByHand(ctx, f, conn, args, env, records.VerdictApprove, reason)
}

func runProposalReject(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "proposal reject", "PROPOSAL-ID", `
Reject a proposal by hand, with the reason (Generation:Decide with verdict
reject). Once approval can no longer reach quorum the proposal closes as
rejected.`+decisionHelp, `
  srellama proposal reject --connection ./ledger/orgs/Org3MSP/connection.json 4f1c0e... --reason "objective above what our amf achieves"`)
	conn := connectionFlag(f, env, "")
	reason := f.String("reason", "", "why this organization rejects; required")
	return decideByHand(ctx, f, conn, args, env, records.VerdictReject, reason)
}

func decideByHand(ctx context.Context, f *flags, conn *string, args []string, env Env, verdict records.Verdict, reason *string) error {
	cmd := "proposal " + string(verdict)
	id, err := f.parseID(args, proposalIDArg)
	if err != nil {
		return err
	}
	if verdict == records.VerdictReject || *reason != "" {
		if _, err := records.ParseReason(*reason); err != nil {
			return usagef("%s: --reason: %v", cmd, err)
		}
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	var decided chaincode.Committed[records.Proposal]
	if verdict == records.VerdictApprove && *reason == "" {
		decided, err = cc.Approve(ctx, id)
	} else {
		decided, err = cc.Decide(ctx, id, records.DecisionSpec{Verdict: verdict, Reason: *reason})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if f.json() {
		return writeJSON(env.Stdout, decided.Result)
	}
	printDecided(env.Stdout, decided.Result)
	return nil
}
