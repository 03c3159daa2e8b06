package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srellama/srellama/node/cli"
)

// smdFolder writes a small SMD-format folder: groups 1 and 2 with two
// machines each, 200 train rows and 400 labelled test rows of four metrics.
// Anomalies (two in each half of the test rows) lift m01 and m02; the
// interpretation files name them.
func smdFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "interpretation"), 0o755); err != nil {
		t.Fatal(err)
	}
	const trainRows, testRows = 200, 400
	for g := 1; g <= 2; g++ {
		for m := 1; m <= 2; m++ {
			name := fmt.Sprintf("machine-%d-%d", g, m)
			rng := rand.New(rand.NewPCG(uint64(g), uint64(m)))
			shift := 7 * (g + m) // anomalies at different times on each machine
			anomalies := [][2]int{{40 + shift, 52 + shift}, {120 + shift, 132 + shift}, {240 + shift, 252 + shift}, {320 + shift, 332 + shift}}
			row := func(i int, anomalous bool) string {
				vals := make([]string, 4)
				for k := range vals {
					v := 0.5 + 0.05*rng.NormFloat64()
					if anomalous && k < 2 {
						v += 0.4
					}
					vals[k] = fmt.Sprintf("%.4f", v)
				}
				return strings.Join(vals, ",")
			}
			var train, test, interp strings.Builder
			train.WriteString("timestamp,m01,m02,m03,m04\n")
			for i := range trainRows {
				fmt.Fprintf(&train, "%d,%s\n", 1700000000+60*i, row(i, false))
			}
			test.WriteString("timestamp,anomaly,m01,m02,m03,m04\n")
			for i := range testRows {
				in := false
				for _, a := range anomalies {
					in = in || (i >= a[0] && i < a[1])
				}
				label := 0
				if in {
					label = 1
				}
				fmt.Fprintf(&test, "%d,%d,%s\n", 1700000000+60*(trainRows+i), label, row(i, in))
			}
			for _, a := range anomalies {
				fmt.Fprintf(&interp, "%d-%d:1,2\n", a[0], a[1])
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

func TestDatasetEval(t *testing.T) {
	dir := smdFolder(t)
	ctx := context.Background()
	args := []string{"dataset", "eval", dir, "--rounds", "3", "--baseline-window", "30"}

	r := run(ctx, t, cli.Env{}, append(args, "--output", "json")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "evaluating "+dir+": 4 machines, protocol loso, seeds 1,2,3, up to 3 rounds of fedavg") || !strings.Contains(r.stderr, "done in") {
		t.Errorf("progress on stderr:\n%s", r.stderr)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	for _, k := range []string{"auc_federated", "auc_centralized", "auc_local", "auc_federated_sites", "auc_untrained",
		"hitrate_150", "hitrate_150_ones", "hitrate_150_plain_z", "protocol", "worst_site", "site_spread", "verdicts", "ranking_basis"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON output lacks %q", k)
		}
	}
	var rep struct {
		Sites          map[string][]string `json:"sites"`
		Rounds         int                 `json:"rounds"`
		AUCFederated   float64             `json:"auc_federated"`
		AUCCentralized float64             `json:"auc_centralized"`
		AUCLocal       []struct {
			Site string  `json:"site"`
			AUC  float64 `json:"auc"`
		} `json:"auc_local"`
		HitRate100 float64 `json:"hitrate_100"`
		HitRate150 float64 `json:"hitrate_150"`
		Incidents  int     `json:"hitrate_incidents"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	// The anomalies lift two of four metrics well above the noise: every
	// model separates them, and the explanation names those two metrics.
	if rep.Rounds != 3 || len(rep.Sites) != 2 || len(rep.Sites["group-1"]) != 2 || len(rep.AUCLocal) != 2 {
		t.Errorf("sites %v, rounds %d, local %v", rep.Sites, rep.Rounds, rep.AUCLocal)
	}
	if rep.AUCFederated < 0.9 || rep.AUCCentralized < 0.9 {
		t.Errorf("AUC federated %.3f, centralized %.3f on clearly separable anomalies", rep.AUCFederated, rep.AUCCentralized)
	}
	if rep.Incidents != 8 || rep.HitRate100 < 0.9 {
		t.Errorf("HitRate@100%% %.3f over %d incidents, want the two lifted metrics named in all 8", rep.HitRate100, rep.Incidents)
	}

	r = run(ctx, t, cli.Env{}, args...)
	golden(t, "dataset-eval", strings.ReplaceAll(r.stdout, dir, "DIR"))
	for _, s := range []string{"federated AUC:", "centralized AUC:", "HitRate@150%:", "SITE", "LOCAL-ONLY", "UNTRAINED", "machine-1-1, machine-1-2", "learning beat random on hitrate_150"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, r.stdout)
		}
	}

	// A bad strategy is refused by the evaluation, with exit code 1.
	r = run(ctx, t, cli.Env{}, "dataset", "eval", dir, "--strategy", "vote", "--baseline-window", "30")
	if r.code != 1 || !strings.Contains(r.stderr, "vote") {
		t.Errorf("unknown strategy: %d %s", r.code, r.stderr)
	}
}

// otherFolder writes an SMD-layout folder that is not SMD: six machines
// named db-*, 5-minute samples, interpretation intervals with inclusive
// ends.
func otherFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "interpretation"), 0o755); err != nil {
		t.Fatal(err)
	}
	const trainRows, testRows, step = 150, 300, 300
	for k, name := range []string{"db-east", "db-north", "db-south", "db-west", "db-x", "db-y"} {
		rng := rand.New(rand.NewPCG(uint64(k), 7))
		shift := 5 * k
		anomalies := [][2]int{{30 + shift, 40 + shift}, {100 + shift, 110 + shift}, {180 + shift, 190 + shift}, {250 + shift, 260 + shift}}
		row := func(anomalous bool) string {
			vals := make([]string, 3)
			for j := range vals {
				v := 10 + rng.NormFloat64()
				if anomalous && j == 2 {
					v += 8
				}
				vals[j] = fmt.Sprintf("%.4f", v)
			}
			return strings.Join(vals, ",")
		}
		var train, test, interp strings.Builder
		train.WriteString("timestamp,cpu,mem,latency\n")
		for i := range trainRows {
			fmt.Fprintf(&train, "%d,%s\n", 1600000000+step*i, row(false))
		}
		test.WriteString("timestamp,anomaly,cpu,mem,latency\n")
		for i := range testRows {
			in := false
			for _, a := range anomalies {
				in = in || (i >= a[0] && i < a[1])
			}
			label := 0
			if in {
				label = 1
			}
			fmt.Fprintf(&test, "%d,%d,%s\n", 1600000000+step*(trainRows+i), label, row(in))
		}
		for _, a := range anomalies {
			fmt.Fprintf(&interp, "%d-%d:3\n", a[0], a[1]-1) // inclusive end
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
	return dir
}

// TestDatasetEvalOtherLayout runs the evaluation on a folder of other
// names and another step, dealt to three sites.
func TestDatasetEvalOtherLayout(t *testing.T) {
	dir := otherFolder(t)
	ctx := context.Background()
	r := run(ctx, t, cli.Env{}, "dataset", "eval", dir, "--sites", "3", "--seeds", "1", "--rounds", "3", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Protocol  string              `json:"protocol"`
		Sites     map[string][]string `json:"sites"`
		Fed       float64             `json:"auc_federated"`
		Untrained float64             `json:"auc_untrained"`
		Incidents int                 `json:"hitrate_incidents"`
		HitRate   float64             `json:"hitrate_150"`
		Local     []json.RawMessage   `json:"auc_local"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	want := map[string][]string{"site-01": {"db-east", "db-north"}, "site-02": {"db-south", "db-west"}, "site-03": {"db-x", "db-y"}}
	if fmt.Sprint(rep.Sites) != fmt.Sprint(want) || rep.Protocol != "loso" || len(rep.Local) != 3 {
		t.Errorf("protocol %s, sites %v, local %d", rep.Protocol, rep.Sites, len(rep.Local))
	}
	// Two incidents per machine fall in the scored second half; the
	// lifted latency must separate them whatever the step.
	if rep.Incidents != 12 || rep.HitRate < 0.99 || rep.Fed < 0.9 || rep.Untrained < 0.9 {
		t.Errorf("incidents %d, HitRate %.3f, AUC federated %.3f, untrained %.3f", rep.Incidents, rep.HitRate, rep.Fed, rep.Untrained)
	}

	// A site map file works too; a machine it forgets is refused by name.
	mapFile := filepath.Join(t.TempDir(), "sites.txt")
	os.WriteFile(mapFile, []byte("db-east a\ndb-north a\ndb-south b\ndb-west b\ndb-x c\n"), 0o644)
	r = run(ctx, t, cli.Env{}, "dataset", "eval", dir, "--site-map", mapFile, "--seeds", "1", "--rounds", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "db-y") {
		t.Errorf("incomplete site map: exit %d: %s", r.code, r.stderr)
	}

	// Nothing usable: a test file without an anomaly column is refused,
	// naming the file.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "web.test.csv"), []byte("timestamp,cpu\n0,1\n300,2\n"), 0o644)
	r = run(ctx, t, cli.Env{}, "dataset", "eval", bad, "--sites", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "web.test.csv") || !strings.Contains(r.stderr, "anomaly") {
		t.Errorf("file without labels: exit %d: %s", r.code, r.stderr)
	}
}
