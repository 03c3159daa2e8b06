package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/slo"
	"github.com/srellama/srellama/llm/validate"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/sim"
	"github.com/srellama/srellama/node/workflow"
)

// registrationsSLO is an AMF SLO on initial registrations at objective.
func registrationsSLO(t *testing.T, objective float64, proposer string) nft.Definition {
	t.Helper()
	d, err := slo.Build(slo.Spec{
		Name: "reginit-success", Description: "initial registrations succeed", Service: sim.AMF, Kind: nft.KindRatio,
		GoodQuery:  `sum(rate(fivegs_amffunction_rm_reginitsucc{service="amf"}[{{.window}}]))`,
		TotalQuery: `sum(rate(fivegs_amffunction_rm_reginitreq{service="amf"}[{{.window}}]))`,
		Objective:  objective, Period: "30d",
	}, slo.Draft{Metrics: []nft.Metric{{Name: "fivegs_amffunction_rm_reginitsucc"}, {Name: "fivegs_amffunction_rm_reginitreq"}},
		Provenance: nft.Provenance{Proposer: proposer, Generator: nft.Generator{Kind: nft.GeneratorBuiltin, Name: "builtin", Version: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestARegressingRevisionIsRejectedOnTheLedger is the issue's "one
// rejected for regressing", end to end on the embedded ledger with the
// real chaincode and the real reviewer: each organization's AMF loses its
// AUSF for 15 minutes on day 4 of nine (an incident the 99% SLO pages
// for) and fails ten times as often from day 6 on (a lasting shift). The
// members attest the breach, the ledger opens a revision request on that
// evidence, and the revision the degraded service supports (95%, what
// the builtin generator fits to the recent days) is replayed by each
// reviewer beside the current SLO on its own history: it would have
// missed the outage, so each rejects it, and the figures are on the ledger.
func TestARegressingRevisionIsRejectedOnTheLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("replays nine simulated days per organization")
	}
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC()
	origin := now.Truncate(day).Add(-9 * day) // day 9 ends at today's midnight
	end := origin.Add(9 * day)

	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedledger.Open(embedledger.Config{Dir: filepath.Join(t.TempDir(), "ledger"), Channel: "consortium", Orgs: orgs,
		Chaincodes: map[string]shim.Chaincode{"srellama": cc}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admins := map[string]*chaincode.Client{}
	cores := map[string]*sim.Simulator{}
	for i, org := range orgs {
		g, err := l.Connect(ctx, org, "admin", "srellama")
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		admins[org] = chaincode.New(g)
		if _, err := admins[org].RegisterOrganization(ctx, org+" Telecom"); err != nil {
			t.Fatal(err)
		}
		cores[org], err = sim.New(sim.Config{Org: org, Seed: uint64(i + 1), Start: origin, Services: []string{sim.AMF, sim.AUSF, sim.UDM},
			Faults: []sim.Fault{{Kind: sim.DependencyFailure, Service: sim.AMF, Dependency: sim.AUSF, Start: origin.Add(4*day + 14*time.Hour),
				Duration: 15 * time.Minute, Intensity: 1}},
			Degradations: []sim.Degradation{{Service: sim.AMF, Start: origin.Add(6 * day), ErrorFactor: 10}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	backtest := func(org string) workflow.SourceBacktest {
		return workflow.SourceBacktest{Source: cores[org], History: 9 * day, Step: time.Minute, Now: func() time.Time { return end }}
	}

	// Version 1 at 99%, proposed by Org1 and approved by Org2: minted.
	v1def := registrationsSLO(t, 0.99, "Org1MSP")
	req, err := admins["Org1MSP"].RequestGeneration(ctx, records.RequestSpec{Service: sim.AMF, SLIs: v1def.SLI.Metrics})
	if err != nil {
		t.Fatal(err)
	}
	v1def.Provenance.GenerationRequestID = req.Result.ID
	v1def = finish(t, v1def)
	prop, err := admins["Org1MSP"].Propose(ctx, req.Result.ID, v1def)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := admins["Org2MSP"].Approve(ctx, prop.Result.ID)
	if err != nil || minted.Result.TokenID == "" {
		t.Fatalf("minting v1: %+v, %v", minted.Result, err)
	}
	v1, err := admins["Org3MSP"].Token(ctx, minted.Result.TokenID)
	if err != nil {
		t.Fatal(err)
	}

	// Every member attests days 6 to 8, after the shift: breached.
	var periods []workflow.Period
	for d := 6; d < 9; d++ {
		periods = append(periods, workflow.Period{Start: origin.Add(time.Duration(d) * day), End: origin.Add(time.Duration(d+1) * day)})
	}
	for _, org := range orgs {
		atts, err := backtest(org).MeasurePeriods(ctx, v1.Definition, periods)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			a.TokenID = v1.ID
			if a.NoData || a.BudgetConsumed <= 1 {
				t.Fatalf("%s, period %s: budget consumed %v, want the breach the shift causes", org, a.PeriodStart, a.BudgetConsumed)
			}
			if _, err := admins[org].Attest(ctx, a); err != nil {
				t.Fatalf("%s attesting %s: %v", org, a.PeriodStart, err)
			}
		}
	}
	rev, err := admins["Org2MSP"].RequestRevision(ctx, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Result.Kind != records.RequestRevision || rev.Result.Evidence == nil || rev.Result.Evidence.Trigger != records.TriggerBreached {
		t.Fatalf("revision request %+v", rev.Result)
	}

	// The revision the degraded service supports: the builtin generator's
	// objective fitted to the recent days of the requester's history.
	objective := fittedObjective(t, ctx, cores["Org2MSP"], end)
	if objective >= v1def.SLO.Objective {
		t.Fatalf("the fitted objective %v does not loosen %v: the shift is too small for this test", objective, v1def.SLO.Objective)
	}
	v2def := registrationsSLO(t, objective, "Org2MSP")
	v2def.Supersedes, v2def.Version = v1.ID, 2
	v2def.Provenance.GenerationRequestID = rev.Result.ID
	v2def.Provenance.Revision = &nft.RevisionReason{Trigger: rev.Result.Evidence.Trigger, Reason: rev.Result.Evidence.Reason, RequestID: rev.Result.ID}
	proposal, err := admins["Org2MSP"].Propose(ctx, rev.Result.ID, finish(t, v2def))
	if err != nil {
		t.Fatal(err)
	}

	// Org1 and Org3 review it on their own data and decide on the ledger.
	for _, org := range []string{"Org1MSP", "Org3MSP"} {
		b := backtest(org)
		reviewer := workflow.OwnDataReviewer{
			Evidence: func(ctx context.Context, service string) (builtin.Input, error) {
				return cli.Evidence(ctx, cores[org], service, source.Range{Start: end.Add(-3 * day), End: end, Step: time.Minute})
			},
			Token:   admins[org].Token,
			Compare: b.Compare,
			Recent: func(ctx context.Context, d nft.Definition) (records.Attestation, error) {
				return b.Measure(ctx, d, end.Add(-3*day), end)
			},
		}
		v, err := reviewer.Review(ctx, proposal.Result)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admins[org].Decide(ctx, proposal.Result.ID, records.DecisionSpec{Verdict: v.Kind, Reason: v.Reason, Figures: v.Figures}); err != nil {
			t.Fatalf("%s deciding: %v", org, err)
		}
	}

	// The ledger holds both rejections with their figures; v1 stays.
	decisions, err := admins["Org1MSP"].Decisions(ctx, proposal.Result.ID)
	if err != nil {
		t.Fatal(err)
	}
	rejections := 0
	for _, d := range decisions {
		if d.MSPID == "Org2MSP" {
			continue // the proposer's own approval
		}
		f := d.Figures
		if d.Kind() != records.VerdictReject || f["detected_revision"] >= f["detected_current"] || f["incidents"] < 1 {
			t.Fatalf("%s: %s %q with figures %v; want a rejection for detecting fewer incidents", d.MSPID, d.Kind(), d.Reason, f)
		}
		for _, name := range []string{"false_pages_current", "false_pages_revision"} {
			if _, ok := f[name]; !ok {
				t.Fatalf("%s's figures lack %s: %v", d.MSPID, name, f)
			}
		}
		rejections++
		t.Logf("%s rejects: %s %v", d.MSPID, d.Reason, f)
	}
	if rejections != 2 {
		t.Fatalf("%d rejections on the ledger, want 2: %+v", rejections, decisions)
	}
	p, err := admins["Org1MSP"].Proposal(ctx, proposal.Result.ID)
	if err != nil || p.Status == records.ProposalOpen || p.Status == records.ProposalMinted || p.TokenID != "" {
		t.Fatalf("the proposal after two rejections: %+v, %v", p, err)
	}
	active, err := admins["Org1MSP"].ActiveTokens(ctx, sim.AMF)
	if err != nil || len(active) != 1 || active[0].ID != v1.ID {
		t.Fatalf("active AMF SLOs %+v, %v; want v1 alone", active, err)
	}
}

// finish validates a definition as a generator does before proposing it.
func finish(t *testing.T, d nft.Definition) nft.Definition {
	t.Helper()
	d, err := validate.Validator{}.Finish(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fittedObjective is the objective the builtin generator suggests for the
// registrations SLI over the last three days of a core's history.
func fittedObjective(t *testing.T, ctx context.Context, core *sim.Simulator, end time.Time) float64 {
	t.Helper()
	in, err := cli.Evidence(ctx, core, sim.AMF, source.Range{Start: end.Add(-3 * 24 * time.Hour), End: end, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var good, total []float64
	for _, m := range in.Metrics {
		switch m.Name {
		case "fivegs_amffunction_rm_reginitsucc":
			good = m.Daily
		case "fivegs_amffunction_rm_reginitreq":
			total = m.Daily
		}
	}
	obj, _, err := builtin.SuggestObjective(good, total, "30d", builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}
