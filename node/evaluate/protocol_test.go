package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/srellama/srellama/fl"
)

// syntheticFolder writes an SMD-format folder of machines in groups: 300
// train rows, 600 labelled rows of five metrics, anomalies lifting m02 and
// m03 spread over both halves, interpretation files naming them.
func syntheticFolder(t *testing.T, groups, perGroup int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "interpretation"), 0o755); err != nil {
		t.Fatal(err)
	}
	const trainRows, testRows = 300, 600
	for g := 1; g <= groups; g++ {
		for m := 1; m <= perGroup; m++ {
			name := fmt.Sprintf("machine-%d-%d", g, m)
			rng := rand.New(rand.NewPCG(uint64(g), uint64(m)))
			var anomalies [][2]int
			for k := range 6 {
				s := 40 + 95*k + 3*g + m
				anomalies = append(anomalies, [2]int{s, s + 12})
			}
			row := func(anomalous bool) string {
				vals := make([]string, 5)
				for k := range vals {
					v := 0.5 + 0.05*rng.NormFloat64()
					if anomalous && (k == 1 || k == 2) {
						v += 0.3
					}
					vals[k] = fmt.Sprintf("%.4f", v)
				}
				return strings.Join(vals, ",")
			}
			var train, test, interp strings.Builder
			train.WriteString("timestamp,m01,m02,m03,m04,m05\n")
			for i := range trainRows {
				fmt.Fprintf(&train, "%d,%s\n", 1700000000+60*i, row(false))
			}
			test.WriteString("timestamp,anomaly,m01,m02,m03,m04,m05\n")
			for i := range testRows {
				in := false
				for _, a := range anomalies {
					in = in || (i >= a[0] && i < a[1])
				}
				label := 0
				if in {
					label = 1
				}
				fmt.Fprintf(&test, "%d,%d,%s\n", 1700000000+60*(trainRows+i), label, row(in))
			}
			for _, a := range anomalies {
				fmt.Fprintf(&interp, "%d-%d:2,3\n", a[0], a[1])
			}
			for file, content := range map[string]string{
				name + ".train.csv": train.String(), name + ".test.csv": test.String(),
				filepath.Join("interpretation", name+".txt"): interp.String(),
			} {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return dir
}

func quickConfig(protocol string) SMDConfig {
	cfg := DefaultSMDConfig()
	cfg.Protocol, cfg.Seeds, cfg.Rounds = protocol, []uint64{1, 2}, 4
	cfg.Features.BaselineWindow = 60
	return cfg
}

// TestProtocolsScoreTheRightRows checks which rows each protocol trains on
// and scores: every protocol scores every site, loso once per site with a
// federation that never saw it, and all baselines on the same rows.
func TestProtocolsScoreTheRightRows(t *testing.T) {
	machines, err := loadSMD(context.Background(), syntheticFolder(t, 3, 2), quickConfig(ProtocolLOSO).loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	sites := groupSites(machines, nil)
	for _, tc := range []struct {
		protocol   string
		folds      int
		members    int
		scoredRows int // per site: two machines' halves
	}{
		{ProtocolSplit, 1, 3, 600},
		{ProtocolSwap, 1, 3, 600},
		{ProtocolLOSO, 3, 2, 600},
	} {
		fs, skipped, err := folds(sites, quickConfig(tc.protocol))
		if err != nil || len(skipped) > 0 {
			t.Fatalf("%s: %v %v", tc.protocol, err, skipped)
		}
		if len(fs) != tc.folds {
			t.Fatalf("%s: %d folds", tc.protocol, len(fs))
		}
		seen := map[string]bool{}
		for _, f := range fs {
			if len(f.members) != tc.members {
				t.Errorf("%s: %d members", tc.protocol, len(f.members))
			}
			for _, sc := range f.scored {
				seen[sc.name] = true
				if sc.test.Rows() != tc.scoredRows {
					t.Errorf("%s: site %s scores %d rows", tc.protocol, sc.name, sc.test.Rows())
				}
				for _, m := range f.members {
					if tc.protocol == ProtocolLOSO && m.name == sc.name {
						t.Errorf("loso: site %s trains the federation that scores it", sc.name)
					}
				}
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s scores sites %v", tc.protocol, seen)
		}
	}
	// swap scores the first half, split the second: their scored labels
	// are the two halves of each machine.
	split, _, _ := folds(sites, quickConfig(ProtocolSplit))
	swap, _, _ := folds(sites, quickConfig(ProtocolSwap))
	a, b := split[0].scored[0].test.Labels, swap[0].scored[0].test.Labels
	first, _ := sites[0].machines[0].half(false)
	if fmt.Sprint(b[:first.Rows()]) != fmt.Sprint(first.Labels) || fmt.Sprint(a) == fmt.Sprint(b) {
		t.Error("swap does not score the first halves")
	}
}

// TestEvaluateSMDSynthetic runs every protocol on a small folder: every
// report has its baselines, verdicts and explanation scores.
func TestEvaluateSMDSynthetic(t *testing.T) {
	dir := syntheticFolder(t, 3, 2)
	for _, protocol := range Protocols() {
		rep, err := EvaluateSMD(context.Background(), dir, quickConfig(protocol))
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		t.Logf("%s: federated %.3f, centralized %.3f, local %.3f, untrained %.3f; HitRate@150%% %.3f (ones %.3f, plain %.3f, random %.3f)",
			protocol, rep.AUCFederated, rep.AUCCentralized, rep.AUCLocalPooled, rep.AUCUntrained,
			rep.HitRate150, rep.HitRate150Ones, rep.HitRate150PlainZ, rep.HitRate150Random)
		if rep.Protocol != protocol || len(rep.AUCFederatedSites) != 3 || len(rep.AUCLocal) != 3 || len(rep.AUCFederatedSeeds) != 2 {
			t.Errorf("%s: report %+v", protocol, rep)
		}
		if rep.AUCFederated < 0.9 || rep.AUCUntrained < 0.9 || rep.WorstSite.AUC < 0.85 {
			t.Errorf("%s: AUC federated %.3f, untrained %.3f, worst site %v on clear anomalies", protocol, rep.AUCFederated, rep.AUCUntrained, rep.WorstSite)
		}
		if rep.HitRateIncidents == 0 || rep.HitRate150 < 0.9 || rep.HitRate150Random > 0.9 {
			t.Errorf("%s: HitRate@150%% %.3f (random %.3f) over %d incidents", protocol, rep.HitRate150, rep.HitRate150Random, rep.HitRateIncidents)
		}
		if len(rep.Verdicts) != 10 { // with ExplainFit, unit channel weights are one more baseline; with Calibrate, the calibrated untrained scores two more
			t.Errorf("%s: verdicts %v", protocol, rep.Verdicts)
		}
		for _, v := range rep.BestRounds {
			if v < 0 || v > 4 {
				t.Errorf("%s: best round %d outside 0..4", protocol, v)
			}
		}
	}
}

// A site whose first half holds no incident is still scored under loso:
// only its local-only baseline has nothing to learn from, and keeps the
// starting model, which the report says. A site whose scored half holds
// none cannot be scored, and is refused by name.
func TestLOSOSiteWithoutEarlyIncidents(t *testing.T) {
	dir := syntheticFolder(t, 3, 1)
	relabel := func(name string, keep func(row int) bool) {
		path := filepath.Join(dir, name+".test.csv")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		for i := 1; i < len(lines); i++ {
			if !keep(i - 1) {
				f := strings.SplitN(lines[i], ",", 3)
				lines[i] = f[0] + ",0," + f[2]
			}
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	relabel("machine-2-1", func(row int) bool { return row >= 300 })
	rep, err := EvaluateSMD(context.Background(), dir, quickConfig(ProtocolLOSO))
	if err != nil {
		t.Fatalf("a site without incidents in its first half: %v", err)
	}
	if !slices.Equal(rep.LocalUntrained, []string{"group-2"}) || len(rep.AUCFederatedSites) != 3 || len(rep.AUCLocal) != 3 || len(rep.Skipped) != 0 {
		t.Fatalf("local untrained %v, federated sites %v, local %v, skipped %v", rep.LocalUntrained, rep.AUCFederatedSites, rep.AUCLocal, rep.Skipped)
	}
	relabel("machine-2-1", func(row int) bool { return false })
	if _, err := EvaluateSMD(context.Background(), dir, quickConfig(ProtocolLOSO)); err == nil || !strings.Contains(err.Error(), "site group-2") {
		t.Fatalf("a site without any incident: %v, want a refusal naming it", err)
	}
}

// TestEvaluatePoisoningLOSO runs the poisoning experiment on the small
// folder: every strategy and attack has a result, and the robust
// strategies hold up against the boosted sign-flipped update.
func TestEvaluatePoisoningLOSO(t *testing.T) {
	dir := syntheticFolder(t, 2, 3)
	cfg := DefaultPoisoningConfig()
	cfg.SMD.Rounds, cfg.SMD.Features.BaselineWindow = 4, 60
	rep, err := EvaluatePoisoning(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Protocol != ProtocolLOSO || rep.Members != 5 || rep.Attackers != 2 || len(rep.Results) != 2*len(fl.Strategies()) {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		t.Logf("%-12s %-10s clean %.3f poisoned %.3f", r.Strategy, r.Attack, r.AUCClean, r.AUCPoisoned)
		if r.AUCClean < 0.9 {
			t.Errorf("%s clean AUC %.3f", r.Strategy, r.AUCClean)
		}
	}
	for _, s := range []string{fl.Median, fl.TrimmedMean, fl.MultiKrum} {
		if r, _ := rep.Result(s, "scaled"); r.Drop > 0.05 {
			t.Errorf("%s lost %.3f AUC to 2 scaled attackers of 7", s, r.Drop)
		}
	}
}

// Scores are calibrated on the machine's unlabelled period just before
// the scored half: the first half before the second, the end of the train
// file before the first.
func TestCalibrationReadsThePeriodJustBefore(t *testing.T) {
	column := func(from, n int) *fl.Dataset {
		d := &fl.Dataset{Features: []string{fl.FeatureName("m", fl.AbsZScore)}, Labels: make([]float64, n), Columns: [][]float64{make([]float64, n)}}
		for i := range n {
			d.Columns[0][i] = float64(from + i)
		}
		return d
	}
	m := machineData{rows: column(0, 10), mid: 5, trainTail: column(100, 6)}
	tests := []struct {
		name      string
		off, rows int
		want      []float64
	}{
		{"before the second half: the first", 5, 5, []float64{0, 1, 2, 3, 4}},
		{"before the first half: the end of the train file", 0, 5, []float64{101, 102, 103, 104, 105}},
		{"a shorter scored part: as long a period", 5, 2, []float64{3, 4}},
	}
	for _, tt := range tests {
		if got := m.before(tt.off, tt.rows); !slices.Equal(got.Columns[0], tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got.Columns[0], tt.want)
		}
	}
	if (machineData{rows: column(0, 10), mid: 5}).before(0, 5) != nil {
		t.Error("without a train file there is no period before the first half")
	}
}

func TestRescaleByMedianAndMAD(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		ref  []float64
		v    float64
		want float64
	}{
		{"an outlier moves neither median nor MAD", []float64{1, 2, 3, 4, 100}, 5, 2},
		{"a constant reference only centres", []float64{2, 2, 2}, 5, 3},
		{"missing values are left out", []float64{nan, 1, 3}, 5, 1},
	}
	for _, tt := range tests {
		v := []float64{tt.v}
		rescale(v, tt.ref)
		if v[0] != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, v[0], tt.want)
		}
	}
}

// Scores are calibrated only when every scored machine has a period
// before its scored rows: without train files, first halves have none, so
// a protocol that scores them stays uncalibrated (mixed scales would not
// pool), while one that scores second halves calibrates on the first.
func TestCalibrationNeedsAPeriodBeforeEveryScoredPart(t *testing.T) {
	dir := syntheticFolder(t, 2, 2)
	for _, protocol := range []string{ProtocolSwap, ProtocolLOSO} {
		rep, err := EvaluateSMD(context.Background(), dir, quickConfig(protocol))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Calibrated || rep.AUCUntrainedCalibrated == 0 {
			t.Fatalf("%s with train files: calibrated %v, calibrated untrained AUC %v", protocol, rep.Calibrated, rep.AUCUntrainedCalibrated)
		}
	}
	trains, _ := filepath.Glob(filepath.Join(dir, "*.train.csv"))
	for _, f := range trains {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		protocol   string
		calibrated bool
	}{{ProtocolSwap, false}, {ProtocolLOSO, true}} {
		rep, err := EvaluateSMD(context.Background(), dir, quickConfig(tt.protocol))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Calibrated != tt.calibrated || (rep.AUCUntrainedCalibrated != 0) != tt.calibrated {
			t.Errorf("%s without train files: calibrated %v (want %v), calibrated untrained AUC %v", tt.protocol, rep.Calibrated, tt.calibrated, rep.AUCUntrainedCalibrated)
		}
	}
}
