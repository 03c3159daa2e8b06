package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/node/evaluate"
)

func runDatasetEval(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "dataset eval", "DIR", `
Evaluate the federated learner on a folder in the SMD format of
../shared/datasets/smd (NAME.test.csv[.gz] with an anomaly column, optional
NAME.train.csv[.gz] taken as the normal period, and interpretation/NAME.txt).
Machines of a group machine-X-Y form one site; --sites K deals the machines
to K sites in sorted order instead, --site-map FILE names each machine's site
("machine site" per line).

--protocol chooses the rows: loso (default) trains, for every site, the
federation of the other sites and scores the site it never saw; swap trains
on the second half of every site's labelled rows and scores the first; split
trains on the first half and scores the second. Every seed of --seeds is a
full run. The report puts the federated model beside the untrained deviation
score (largest and mean |z| against the normal period), the local-only and
the centralized models on exactly the same rows, scores the explanation
(channel weights learned from the members' interpretation labels) against
the scored site's labels next to unit weights, the same channels with unit
weights, plain |z|, random order and the detection model's weights, and says
whether learning beat each. --poisoning runs the 20 %
poisoning experiment for every aggregation strategy instead (every machine
one organization). Progress goes to stderr; on the SMD folder a run takes
minutes.`, `
  srellama dataset eval ../shared/datasets/smd
  srellama dataset eval ../shared/datasets/smd --protocol swap --seeds 1,2,3,4,5 --output json
  srellama dataset eval ./other-folder --sites 3 --output json
  srellama dataset eval ../shared/datasets/smd --poisoning --output json
  srellama dataset eval ../shared/datasets/nezha --format nezha
  srellama dataset eval --format sim`)
	def := evaluate.DefaultSMDConfig()
	protocol := f.String("protocol", def.Protocol, "evaluation protocol: "+strings.Join(evaluate.Protocols(), ", "))
	seeds := f.String("seeds", joinSeeds(def.Seeds), "comma-separated seeds, one full run each")
	rounds := f.Int("rounds", def.Rounds, "most federated rounds (training stops earlier by validation)")
	patience := f.Int("patience", def.Patience, "rounds without a better validation AUC before stopping")
	strategy := f.String("strategy", def.Strategy, "aggregation: "+strings.Join(fl.Strategies(), ", "))
	baseline := f.Int("baseline-window", def.Features.BaselineWindow, "rows of trailing baseline for z-scores")
	prior := f.Float64("prior-weight", def.PriorWeight, "weight of every deviation feature in the starting model (0: zeros)")
	summaries := f.Bool("summaries", def.Summaries, "add the untrained deviation scores as features")
	summaryWeight := f.Float64("summary-weight", def.SummaryWeight, "weight of the deviation summaries in the starting model")
	classCap := f.Float64("max-class-weight", def.Train.MaxClassWeight, "cap on the incident class weight (0: none)")
	normCap := f.Float64("max-update-norm", def.Train.MaxUpdateNorm, "bound on the norm of a local update (0: none)")
	lr := f.Float64("learning-rate", def.Train.LearningRate, "local SGD learning rate")
	explain := f.String("explain", string(def.Explain), "explanation: learned, deviation, signed or magnitude")
	transforms := f.String("transforms", joinTransforms(def.Features.Transforms), "comma-separated feature transforms: abszscore, refabsz, absdelta, zscore, level, delta")
	smooth := f.Int("smooth", def.Features.Smooth, "rows z-scores are averaged over")
	numSites := f.Int("sites", 0, "deal the machines to this many sites in sorted order (0: by SMD group)")
	siteMap := f.String("site-map", "", "file of 'machine site' lines naming each machine's site")
	skip := f.Bool("skip-single-class", false, "leave out sites without anomalies where needed instead of failing")
	poisoning := f.Bool("poisoning", false, "run the 20 % poisoning experiment for every strategy")
	full := f.Bool("full", false, "with --output json, also print the ranking")
	format := f.String("format", "smd", "dataset layout: smd, nezha (dated folders; leave-one-day-out), or sim (the simulator, no DIR: precision@3 per fault kind)")
	ends := f.String("interval-ends", "auto", "interpretation interval ends: auto, exclusive or inclusive")
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *format == "sim" {
		if len(pos) != 0 {
			return usagef("dataset eval: --format sim takes no DIR")
		}
		return runSimEval(ctx, env, f, *seeds, *seeds != joinSeeds(def.Seeds))
	}
	if len(pos) != 1 {
		return usagef("dataset eval: want 1 argument(s) DIR, got %d", len(pos))
	}
	if *rounds < 1 || *baseline < 2 || *patience < 0 || *numSites < 0 {
		return usagef("dataset eval: --rounds, --baseline-window, --patience and --sites must be positive")
	}
	dir := pos[0]
	switch *format {
	case "nezha":
		return runNezhaEval(ctx, env, f, dir, *seeds)
	case "smd":
	default:
		return usagef("dataset eval: --format must be smd or nezha, got %q", *format)
	}
	machines, err := smdMachines(dir)
	if err != nil {
		return err
	}
	cfg := def
	cfg.Protocol, cfg.Rounds, cfg.Patience, cfg.Strategy, cfg.SkipSingleClassSites = *protocol, *rounds, *patience, *strategy, *skip
	cfg.Features.BaselineWindow, cfg.PriorWeight, cfg.Explain = *baseline, *prior, fl.ExplainMode(*explain)
	cfg.Train.MaxClassWeight, cfg.Train.MaxUpdateNorm, cfg.Train.LearningRate = *classCap, *normCap, *lr
	cfg.Summaries, cfg.SummaryWeight, cfg.IntervalEnds = *summaries, *summaryWeight, *ends
	cfg.Features.Transforms, cfg.Features.Smooth = nil, *smooth
	for _, t := range splitList(*transforms) {
		cfg.Features.Transforms = append(cfg.Features.Transforms, fl.Transform(t))
	}
	if cfg.Seeds, err = parseSeeds(*seeds); err != nil {
		return err
	}
	if cfg.SiteOf, err = siteAssignment(machines, *numSites, *siteMap); err != nil {
		return err
	}

	start := env.Now()
	fmt.Fprintf(env.Stderr, "evaluating %s: %d machines, protocol %s, seeds %s, up to %d rounds of %s\n",
		dir, len(machines), cfg.Protocol, joinSeeds(cfg.Seeds), cfg.Rounds, cfg.Strategy)
	done := make(chan struct{})
	go reportProgress(env.Stderr, env.Now, start, 10*time.Second, done)
	if *poisoning {
		pc := evaluate.DefaultPoisoningConfig()
		sm := cfg
		sm.Seeds = cfg.Seeds[:1]
		sm.SiteOf = pc.SMD.SiteOf
		pc.SMD = sm
		rep, err := evaluate.EvaluatePoisoning(ctx, dir, pc)
		close(done)
		if err != nil {
			return fmt.Errorf("dataset eval: %w", err)
		}
		fmt.Fprintf(env.Stderr, "done in %s\n", env.Now().Sub(start).Round(time.Second))
		if f.json() {
			return writeJSON(env.Stdout, rep)
		}
		printPoisoning(env.Stdout, rep)
		return nil
	}
	rep, err := evaluate.EvaluateSMD(ctx, dir, cfg)
	close(done)
	if err != nil {
		return fmt.Errorf("dataset eval: %w", err)
	}
	fmt.Fprintf(env.Stderr, "done in %s\n", env.Now().Sub(start).Round(time.Second))
	if !*full {
		rep.Ranking = nil
	}
	if f.json() {
		return writeJSON(env.Stdout, rep)
	}
	printEval(env.Stdout, rep)
	return nil
}

// runNezhaEval runs the leave-one-day-out evaluation of a Nezha folder.
func runNezhaEval(ctx context.Context, env Env, f *flags, dir, seeds string) error {
	cfg := evaluate.DefaultNezhaDayConfig()
	s, err := parseSeeds(seeds)
	if err != nil {
		return err
	}
	cfg.Seed = s[0]
	start := env.Now()
	fmt.Fprintf(env.Stderr, "evaluating %s (nezha): leave one day out, seed %d\n", dir, cfg.Seed)
	rep, err := evaluate.EvaluateNezhaDays(ctx, dir, cfg)
	if err != nil {
		return fmt.Errorf("dataset eval: %w", err)
	}
	fmt.Fprintf(env.Stderr, "done in %s\n", env.Now().Sub(start).Round(time.Second))
	if f.json() {
		return writeJSON(env.Stdout, rep)
	}
	t := newTable(env.Stdout, "SCORED DAY", "TRAINED ON", "AUC", "UNTRAINED AUC")
	for _, d := range rep.Days {
		t.row(d.Day, d.TrainedOn, f3(d.AUC), f3(d.AUCUntrained))
	}
	t.flush()
	fmt.Fprintln(env.Stdout)
	t = newTable(env.Stdout, "DAY", "FAULT", "FAULTS", "INDICATOR METRICS", "HIT@3 MODEL", "HIT@3 PLAIN |Z|")
	for _, k := range rep.FaultKinds {
		t.row(k.Day, k.FaultType, fmt.Sprint(k.Faults), join(k.Indicator), f3(k.HitAt3), f3(k.HitAt3PlainZ))
	}
	t.flush()
	return nil
}

// runSimEval reports precision@3 of the explanations of the simulator's
// faults per kind, on simulator seeds no setting was chosen on (or
// --seeds).
func runSimEval(ctx context.Context, env Env, f *flags, seeds string, custom bool) error {
	cfg := evaluate.DefaultSimEvalConfig()
	if custom {
		s, err := parseSeeds(seeds)
		if err != nil {
			return err
		}
		cfg.Seeds = s
	}
	fmt.Fprintf(env.Stderr, "evaluating the simulator: %d organizations, seeds %s\n", cfg.Orgs, joinSeeds(cfg.Seeds))
	rep, err := evaluate.EvaluateSimulator(ctx, cfg)
	if err != nil {
		return fmt.Errorf("dataset eval: %w", err)
	}
	if f.json() {
		return writeJSON(env.Stdout, rep)
	}
	t := newTable(env.Stdout, "FAULT KIND", "FAULTS", "PRECISION@3 MODEL", "PRECISION@3 UNTRAINED")
	for _, k := range rep.Kinds {
		t.row(k.Kind, fmt.Sprint(k.Faults), f3(k.PrecisionAt3), f3(k.PrecisionAt3Z))
	}
	t.flush()
	return nil
}

func joinTransforms(ts []fl.Transform) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func joinSeeds(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, x := range seeds {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, ",")
}

func parseSeeds(v string) ([]uint64, error) {
	var out []uint64
	for _, s := range splitList(v) {
		x, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, usagef("dataset eval: --seeds: %q is not a seed", s)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, usagef("dataset eval: --seeds is empty")
	}
	return out, nil
}

// siteAssignment maps machines to sites: by --site-map, by dealing the
// sorted machines to k sites, or nil (the SMD machine group).
func siteAssignment(machines []string, k int, mapFile string) (func(string) string, error) {
	switch {
	case mapFile != "" && k > 0:
		return nil, usagef("dataset eval: --sites and --site-map exclude each other")
	case mapFile != "":
		b, err := os.ReadFile(mapFile)
		if err != nil {
			return nil, fmt.Errorf("dataset eval: --site-map: %w", err)
		}
		m := map[string]string{}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			parts := strings.Fields(line)
			if len(parts) != 2 {
				return nil, fmt.Errorf("dataset eval: %s line %d: want 'machine site', got %q", mapFile, i+1, line)
			}
			if _, dup := m[parts[0]]; dup {
				return nil, fmt.Errorf("dataset eval: %s line %d: machine %s mapped twice", mapFile, i+1, parts[0])
			}
			m[parts[0]] = parts[1]
		}
		for _, name := range machines {
			if m[name] == "" {
				return nil, fmt.Errorf("dataset eval: %s names no site for machine %s", mapFile, name)
			}
		}
		return func(name string) string { return m[name] }, nil
	case k > 0:
		if k > len(machines) {
			return nil, usagef("dataset eval: --sites %d but only %d machines", k, len(machines))
		}
		m := map[string]string{}
		for i, name := range machines { // sorted
			m[name] = fmt.Sprintf("site-%02d", i*k/len(machines)+1)
		}
		return func(name string) string { return m[name] }, nil
	}
	return nil, nil
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
		"dataset", r.Dir, "protocol", r.Protocol, "seeds", joinSeeds(r.Seeds), "strategy", r.Strategy,
		"features", fmt.Sprint(r.Features), "best rounds", fmt.Sprint(r.BestRounds),
		"federated AUC", f3(r.AUCFederated)+" (seed spread "+f3(r.SeedSpread)+")",
		"centralized AUC", f3(r.AUCCentralized), "local-only AUC (pooled)", f3(r.AUCLocalPooled),
		"untrained AUC", f3(r.AUCUntrained)+" (max |z| "+f3(r.AUCUntrainedMax)+", mean |z| "+f3(r.AUCUntrainedMean)+"; trailing window "+f3(r.AUCUntrainedTrailing)+"; "+calibratedUntrained(r)+")",
		"worst site", r.WorstSite.Site+" "+f3(r.WorstSite.AUC)+" (site spread "+f3(r.SiteSpread)+")",
		"HitRate@150%", f3(r.HitRate150)+" (ones "+f3(r.HitRate150Ones)+", plain |z| "+f3(r.HitRate150PlainZ)+", random "+f3(r.HitRate150Random)+", unit channel weights "+f3(r.HitRate150OnesChannels)+", detection weights "+f3(r.HitRate150Detection)+"; ceiling of a channel weighting fitted on these incidents "+f3(r.HitRate150ChannelsCeiling)+", on each incident "+f3(r.HitRate150ChannelsOracle)+")",
		"HitRate@100%", f3(r.HitRate100)+" (ones "+f3(r.HitRate100Ones)+", plain |z| "+f3(r.HitRate100PlainZ)+")",
		"incidents scored", fmt.Sprint(r.HitRateIncidents), "bytes exchanged", fmt.Sprint(r.Bytes))
	fmt.Fprintln(w)
	t := newTable(w, "SITE", "MACHINES", "FEDERATED", "CENTRALIZED", "LOCAL-ONLY", "UNTRAINED")
	for i, s := range r.AUCFederatedSites {
		t.row(s.Site, join(r.Sites[s.Site]), f3(s.AUC), f3(r.AUCCentralizedSites[i].AUC), f3(r.AUCLocal[i].AUC), f3(r.AUCUntrainedSites[i].AUC))
	}
	t.flush()
	fmt.Fprintln(w)
	for _, v := range r.Verdicts {
		word := "did not beat"
		if v.Beaten {
			word = "beat"
		}
		fmt.Fprintf(w, "learning %s %s on %s: %s against %s\n", word, v.Baseline, v.Figure, f3(v.Learned), f3(v.Value))
	}
	fmt.Fprintf(w, "ranking basis for nodes on such data: %s (%s)\n", r.RankingBasis, r.RankingReason)
	for _, site := range slices.Sorted(maps.Keys(r.Skipped)) {
		fmt.Fprintf(w, "skipped %s: %s\n", site, r.Skipped[site])
	}
	for _, site := range r.LocalUntrained {
		fmt.Fprintf(w, "local-only baseline of %s: untrained, its own rows before the scored ones hold no incident\n", site)
	}
}

func printPoisoning(w io.Writer, r *evaluate.PoisoningReport) {
	fields(w, "protocol", r.Protocol, "organizations", join(r.Organizations),
		"honest members per fold", fmt.Sprint(r.Members), "attackers per fold", fmt.Sprint(r.Attackers))
	fmt.Fprintln(w)
	t := newTable(w, "STRATEGY", "ATTACK", "CLEAN AUC", "POISONED AUC", "DROP")
	for _, x := range r.Results {
		t.row(x.Strategy, x.Attack, f3(x.AUCClean), f3(x.AUCPoisoned), f3(x.Drop))
	}
	t.flush()
}

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

// calibratedUntrained says what the untrained scores reach calibrated as
// the models' scores are, or that no score was calibrated.
func calibratedUntrained(r *evaluate.SMDReport) string {
	if !r.Calibrated {
		return "no score calibrated: a scored part has no period before it"
	}
	return "calibrated " + f3(r.AUCUntrainedCalibrated) + " and " + f3(r.AUCUntrainedTrailingCalibrated)
}
