package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/evaluate"
)

// evalSummary is the JSON output of dataset eval: the report's headline
// figures (--full prints the whole evaluate.SMDReport).
type evalSummary struct {
	Dir               string              `json:"dir"`
	Sites             map[string][]string `json:"sites"`
	Strategy          string              `json:"strategy"`
	Rounds            int                 `json:"rounds"`
	Features          int                 `json:"features"`
	AUCFederated      float64             `json:"auc_federated"`
	F1Federated       float64             `json:"f1_federated"`
	AUCFederatedSites []evaluate.SiteAUC  `json:"auc_federated_sites"`
	AUCCentralized    float64             `json:"auc_centralized"`
	AUCLocal          []evaluate.SiteAUC  `json:"auc_local"`
	RoundsToParity    int                 `json:"rounds_to_parity"`
	HitRate100        float64             `json:"hitrate_100"`
	HitRate150        float64             `json:"hitrate_150"`
	HitRateIncidents  int                 `json:"hitrate_incidents"`
	Skipped           map[string]string   `json:"skipped,omitempty"`
	Bytes             int64               `json:"bytes"`
}

func summarize(r *evaluate.SMDReport) evalSummary {
	return evalSummary{
		Dir: r.Dir, Sites: r.Sites, Strategy: r.Strategy, Rounds: r.Rounds, Features: r.Features,
		AUCFederated: r.AUCFederated, F1Federated: r.F1Federated, AUCFederatedSites: r.AUCFederatedSites,
		AUCCentralized: r.AUCCentralized, AUCLocal: r.AUCLocal, RoundsToParity: r.RoundsToParity,
		HitRate100: r.HitRate100, HitRate150: r.HitRate150, HitRateIncidents: r.HitRateIncidents,
		Skipped: r.Skipped, Bytes: r.Bytes,
	}
}

func runDatasetEval(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "dataset eval", "DIR", `
Run the federated evaluation on a folder in the SMD format of
../shared/datasets/smd (machine-X-Y.test.csv[.gz] with an anomaly column,
optional machine-X-Y.train.csv[.gz] and interpretation/machine-X-Y.txt). Each
machine group X is one site. Sites train a local SLI-relevance model and
federate for --rounds rounds; the report compares the federated model's
held-out AUC with a centralized model and each site's local-only model, and
scores the per-incident explanation against the interpretation labels
(HitRate@100% and @150%). Progress goes to stderr; on the full SMD folder the
run takes minutes.`, `
  srellama dataset eval ../shared/datasets/smd
  srellama dataset eval ../shared/datasets/smd --strategy median --rounds 10 --output json`)
	def := evaluate.DefaultSMDConfig()
	rounds := f.Int("rounds", def.Rounds, "federated rounds")
	strategy := f.String("strategy", def.Strategy, "aggregation: "+strings.Join(fl.Strategies(), ", "))
	seed := f.Uint64("seed", def.Seed, "random seed")
	baseline := f.Int("baseline-window", def.Features.BaselineWindow, "rows of trailing baseline for z-scores")
	skip := f.Bool("skip-single-class", false, "leave out sites without anomalies in a half instead of failing")
	full := f.Bool("full", false, "with --output json, print the whole report (per-round figures, ranking)")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *rounds < 1 || *baseline < 1 {
		return usagef("dataset eval: --rounds and --baseline-window must be positive")
	}
	dir := pos[0]
	machines, err := smdMachines(dir)
	if err != nil {
		return err
	}
	cfg := def
	cfg.Rounds, cfg.Strategy, cfg.Seed, cfg.SkipSingleClassSites = *rounds, *strategy, *seed, *skip
	cfg.Features.BaselineWindow = *baseline

	start := env.Now()
	fmt.Fprintf(env.Stderr, "evaluating %s: %d machines, %d rounds of %s\n", dir, len(machines), cfg.Rounds, cfg.Strategy)
	done := make(chan struct{})
	go reportProgress(env.Stderr, env.Now, start, 10*time.Second, done)
	rep, err := evaluate.EvaluateSMD(ctx, dir, cfg)
	close(done)
	if err != nil {
		return fmt.Errorf("dataset eval: %w", err)
	}
	fmt.Fprintf(env.Stderr, "done in %s\n", env.Now().Sub(start).Round(time.Second))
	switch {
	case f.json() && *full:
		return writeJSON(env.Stdout, rep)
	case f.json():
		return writeJSON(env.Stdout, summarize(rep))
	}
	printEval(env.Stdout, rep)
	return nil
}

// smdMachines lists the machines of an SMD-format folder, so that a wrong
// path fails at once with a clear message.
func smdMachines(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset eval: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".gz")
		if m, ok := strings.CutSuffix(name, ".test.csv"); ok && !e.IsDir() {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dataset eval: %s holds no machine-X-Y.test.csv[.gz] file (is it an SMD-format folder?)", filepath.Clean(dir))
	}
	slices.Sort(out)
	return out, nil
}

// reportProgress prints the elapsed time every interval until done:
// EvaluateSMD reports nothing until it returns.
func reportProgress(w io.Writer, now func() time.Time, start time.Time, interval time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			fmt.Fprintf(w, "  still evaluating, %s elapsed\n", now().Sub(start).Round(time.Second))
		}
	}
}

func printEval(w io.Writer, r *evaluate.SMDReport) {
	fields(w,
		"dataset", r.Dir, "strategy", r.Strategy, "rounds", fmt.Sprint(r.Rounds), "features", fmt.Sprint(r.Features),
		"federated AUC", f3(r.AUCFederated), "centralized AUC", f3(r.AUCCentralized),
		"rounds to parity", fmt.Sprint(r.RoundsToParity),
		"HitRate@100%", f3(r.HitRate100), "HitRate@150%", f3(r.HitRate150),
		"incidents scored", fmt.Sprint(r.HitRateIncidents), "bytes exchanged", fmt.Sprint(r.Bytes))
	fmt.Fprintln(w)
	t := newTable(w, "SITE", "MACHINES", "LOCAL-ONLY AUC", "FEDERATED AUC")
	fed := map[string]float64{}
	for _, s := range r.AUCFederatedSites {
		fed[s.Site] = s.AUC
	}
	for _, s := range r.AUCLocal {
		t.row(s.Site, join(r.Sites[s.Site]), f3(s.AUC), f3(fed[s.Site]))
	}
	t.flush()
	for _, site := range slices.Sorted(maps.Keys(r.Skipped)) {
		fmt.Fprintf(w, "skipped %s: %s\n", site, r.Skipped[site])
	}
}

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }
