package evaluate

import (
	"context"
	"testing"
)

// TestExplanationLearnsOnlyFromMembers checks where the explanation's
// labels come from: the interpretation intervals within the members'
// training rows, never the scored rows (loso: never the left-out site;
// swap: only second halves).
func TestExplanationLearnsOnlyFromMembers(t *testing.T) {
	machines, err := loadSMD(context.Background(), syntheticFolder(t, 3, 2), quickConfig(ProtocolLOSO).loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	sites := groupSites(machines, nil)
	for _, protocol := range []string{ProtocolLOSO, ProtocolSwap} {
		fs, _, err := folds(sites, quickConfig(protocol))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			scoredMachines := map[string]bool{}
			for _, sc := range f.scored {
				for _, m := range sc.machines {
					scoredMachines[m.name] = true
				}
			}
			n := 0
			for _, mb := range f.members {
				for _, m := range mb.machines {
					if protocol == ProtocolLOSO && scoredMachines[m.name] {
						t.Errorf("loso: scored machine %s labels the explanation", m.name)
					}
					if m.test.Rows() != map[string]int{ProtocolLOSO: 600, ProtocolSwap: 300}[protocol] {
						t.Errorf("%s: machine %s teaches on %d rows", protocol, m.name, m.test.Rows())
					}
					for _, in := range m.interp {
						if in.rows.Start < 0 || in.rows.End > m.test.Rows() {
							t.Errorf("%s: interval %v outside %s's %d training rows", protocol, in.rows, m.name, m.test.Rows())
						}
						n++
					}
				}
			}
			if n == 0 {
				t.Errorf("%s: no labelled incident to learn the explanation from", protocol)
			}
		}
	}
	// The learned weights reach the report and explain the clear synthetic
	// anomalies as well as unit weights do.
	rep, err := EvaluateSMD(context.Background(), syntheticFolder(t, 3, 2), quickConfig(ProtocolLOSO))
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExplainWeights == nil || len(rep.ExplainWeights.Weights) != 6 {
		t.Fatalf("explain weights %+v", rep.ExplainWeights)
	}
	if rep.HitRate150 < rep.HitRate150Ones-1e-9 || rep.HitRate150Detection == 0 {
		t.Errorf("HitRate@150%% learned %.3f, ones %.3f, detection weights %.3f", rep.HitRate150, rep.HitRate150Ones, rep.HitRate150Detection)
	}
	// The ceiling is fitted, per fold, on the very incidents scored: no
	// weighting learned from the members (nor unit weights) beats it.
	if c, o := rep.HitRate150ChannelsCeiling, rep.HitRate150ChannelsOracle; c == 0 || c < rep.HitRate150-1e-9 || c < rep.HitRate150OnesChannels-1e-9 || o < c-1e-9 || o > 1 {
		t.Errorf("ceiling %.3f, oracle %.3f; fitted %.3f, unit channels %.3f", c, o, rep.HitRate150, rep.HitRate150OnesChannels)
	}
}

// TestExplanationCheck runs the held-back check of the fitted weights:
// one check per seed and fold, over the members' machines.
func TestExplanationCheck(t *testing.T) {
	cfg := quickConfig(ProtocolLOSO)
	cfg.ExplainCheck = true
	rep, err := EvaluateSMD(context.Background(), syntheticFolder(t, 3, 2), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ExplainChecks) != 3*len(cfg.Seeds) {
		t.Fatalf("%d checks, want one per fold and seed", len(rep.ExplainChecks))
	}
	for _, c := range rep.ExplainChecks {
		if c.Groups != 4 || c.Incidents == 0 {
			t.Errorf("check %+v: want the 4 member machines held back in turn", c)
		}
	}
}
