// Package config is a site node's configuration: one YAML file, overridden
// by environment variables (and, in the CLI, by flags), with defaults that
// run an organization on embedded parts, and validation that names every
// problem with its path in the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/nft"
)

// Config is one organization's node.
type Config struct {
	// Organization is the MSP ID the node acts for.
	Organization string `yaml:"organization" env:"SRELLAMA_ORGANIZATION"`
	// DataDir holds the node's state: identity key, round state, event
	// checkpoint, generated rules.
	DataDir  string    `yaml:"data_dir" env:"SRELLAMA_DATA_DIR"`
	LogLevel string    `yaml:"log_level" env:"SRELLAMA_LOG_LEVEL"`
	Ledger   Ledger    `yaml:"ledger"`
	Source   Source    `yaml:"source"`
	Network  Network   `yaml:"network"`
	Learning Learning  `yaml:"learning"`
	Generate Generator `yaml:"generator"`
	Rules    Rules     `yaml:"rules"`
	API      API       `yaml:"api"`
	// Lifecycle is how the node keeps the consortium's SLOs right: it
	// opens scheduled rounds, attests how active SLOs did and asks for
	// revisions and retirements on evidence.
	Lifecycle Lifecycle `yaml:"lifecycle"`
}

// Ledger says how the node reaches the ledger: always through the Fabric
// Gateway, with a connection file in node/ledger's format (the embedded
// ledger writes one per organization; for a real peer the operator does).
type Ledger struct {
	Connection string `yaml:"connection" env:"SRELLAMA_LEDGER_CONNECTION"`
}

// Source kinds.
const (
	SourceSimulator  = "simulator"
	SourcePrometheus = "prometheus"
	SourceCSV        = "csv"
)

// Source is where the organization's metrics come from.
type Source struct {
	Kind       string     `yaml:"kind" env:"SRELLAMA_SOURCE"`
	Simulator  Simulator  `yaml:"simulator"`
	Prometheus Prometheus `yaml:"prometheus"`
	CSV        CSV        `yaml:"csv"`
	// History is how much past data one round learns from.
	History string `yaml:"history" env:"SRELLAMA_HISTORY"`
	// Step is the resolution data is fetched at.
	Step string `yaml:"step" env:"SRELLAMA_STEP"`
}

// Simulator configures the embedded 5G-core simulator.
type Simulator struct {
	Seed         uint64  `yaml:"seed" env:"SRELLAMA_SIM_SEED"`
	FaultsPerDay float64 `yaml:"faults_per_day" env:"SRELLAMA_SIM_FAULTS_PER_DAY"`
	// Listen, if set, serves the simulated metrics live on /metrics for a
	// real Prometheus to scrape.
	Listen string `yaml:"listen" env:"SRELLAMA_SIM_LISTEN"`
	// Degrade, if its service is set, shifts that service lastingly.
	Degrade Degrade `yaml:"degrade"`
	// TimeShift moves the simulated clock: the node reads, at any instant
	// t, the simulated data of t + TimeShift (a signed Go duration in
	// whole minutes, "-7849h"; empty: none). Demos and tests use it to
	// replay one fixed stretch of simulated days, since the simulator's
	// traffic follows the hour and the weekday and its faults the date.
	TimeShift string `yaml:"time_shift" env:"SRELLAMA_SIM_TIME_SHIFT"`
}

// MaxTimeShift bounds source.simulator.time_shift either way.
const MaxTimeShift = 100 * 365 * 24 * time.Hour

// Shift is TimeShift parsed (0 when unset or invalid).
func (s Simulator) Shift() time.Duration {
	d, _ := time.ParseDuration(s.TimeShift)
	return d
}

func (s Simulator) validateShift(add func(string, ...any)) {
	if s.TimeShift == "" {
		return
	}
	d, err := time.ParseDuration(s.TimeShift)
	switch {
	case err != nil:
		add("source.simulator.time_shift: %v", err)
	case d%time.Minute != 0:
		add("source.simulator.time_shift: %s is not a whole number of minutes", s.TimeShift)
	case d > MaxTimeShift || d < -MaxTimeShift:
		add("source.simulator.time_shift: %s is beyond ±%s", s.TimeShift, MaxTimeShift)
	}
}

// Prometheus configures a Prometheus or Mimir source.
type Prometheus struct {
	URL             string `yaml:"url" env:"SRELLAMA_PROMETHEUS_URL"`
	BearerTokenFile string `yaml:"bearer_token_file" env:"SRELLAMA_PROMETHEUS_BEARER_TOKEN_FILE"`
	Username        string `yaml:"username" env:"SRELLAMA_PROMETHEUS_USERNAME"`
	PasswordFile    string `yaml:"password_file" env:"SRELLAMA_PROMETHEUS_PASSWORD_FILE"`
	TenantID        string `yaml:"tenant_id" env:"SRELLAMA_PROMETHEUS_TENANT_ID"` // Mimir's X-Scope-OrgID
	Timeout         string `yaml:"timeout" env:"SRELLAMA_PROMETHEUS_TIMEOUT"`
	IncidentsQuery  string `yaml:"incidents_query" env:"SRELLAMA_PROMETHEUS_INCIDENTS_QUERY"`
	ServiceLabel    string `yaml:"service_label" env:"SRELLAMA_PROMETHEUS_SERVICE_LABEL"`
	ReloadURL       string `yaml:"reload_url" env:"SRELLAMA_PROMETHEUS_RELOAD_URL"`
}

// CSV configures a dataset folder.
type CSV struct {
	Dir string `yaml:"dir" env:"SRELLAMA_CSV_DIR"`
	// Format is smd, nezha or wide: one <service>.csv[.gz] per service
	// with a "timestamp" column (Unix seconds), an optional 0/1 "anomaly"
	// column and one column per metric; only its last history's rows are
	// read.
	Format string `yaml:"format" env:"SRELLAMA_CSV_FORMAT"`
}

// Network configures the node's libp2p host.
type Network struct {
	Consortium string   `yaml:"consortium" env:"SRELLAMA_CONSORTIUM"`
	Listen     []string `yaml:"listen" env:"SRELLAMA_LISTEN"`
	// Bootstrap peers to dial at start (multiaddrs with /p2p/ IDs); the
	// ledger's node registry supplies the rest.
	Bootstrap []string `yaml:"bootstrap" env:"SRELLAMA_BOOTSTRAP"`
	// InlineLimit is the largest update carried on gossip itself.
	InlineLimit int `yaml:"inline_limit" env:"SRELLAMA_INLINE_LIMIT"`
	// RoundRetention is how long a closed round's state and update
	// payloads stay in data_dir/rounds (counted from its close and its
	// deadline, whichever is later) before they are deleted.
	RoundRetention string `yaml:"round_retention" env:"SRELLAMA_ROUND_RETENTION"`
}

// Learning configures local training and privacy.
type Learning struct {
	Epochs int `yaml:"epochs" env:"SRELLAMA_EPOCHS"`
	// EpsilonBudget caps the organization's total differential-privacy
	// spend; 0 disables noise.
	EpsilonBudget float64 `yaml:"epsilon_budget" env:"SRELLAMA_EPSILON_BUDGET"`
	Clip          float64 `yaml:"clip" env:"SRELLAMA_CLIP"`
	Noise         float64 `yaml:"noise" env:"SRELLAMA_NOISE"`
	// Relevance is the relevance policy of the rounds' rankings
	// (federation.RelevancePolicy): RelevanceDeviation (the default)
	// presents no learned relevance and has every SLO's generator rank the
	// service's metrics by their deviation during its own incidents;
	// RelevanceAuto uses the learned relevance where the federated weights
	// separate a service's metrics; RelevanceLearned always does. The
	// default follows `srellama dataset eval` on SMD under loso, where the
	// learned explanation (HitRate@150% 0.589) lost to the same
	// explanation with unit weights (0.747). Every member must use the same
	// policy: it is part of the claim the quorum compares.
	Relevance string `yaml:"relevance" env:"SRELLAMA_RELEVANCE"`
}

// Relevance policies.
const (
	RelevanceDeviation = "deviation"
	RelevanceAuto      = "auto"
	RelevanceLearned   = "learned"
)

// Generator kinds.
const (
	GeneratorBuiltin = "builtin"
	GeneratorOllama  = "ollama"
)

// Generator configures SLO generation.
type Generator struct {
	Kind    string `yaml:"kind" env:"SRELLAMA_GENERATOR"`
	Period  string `yaml:"period" env:"SRELLAMA_SLO_PERIOD"`
	Host    string `yaml:"ollama_host" env:"OLLAMA_HOST"`
	Model   string `yaml:"model" env:"SRELLAMA_OLLAMA_MODEL"`
	Timeout string `yaml:"timeout" env:"SRELLAMA_OLLAMA_TIMEOUT"`
	Samples int    `yaml:"samples" env:"SRELLAMA_OLLAMA_SAMPLES"`
	// PeriodSLI is "" (the ratio of the period's sums) or "sloth" (the
	// mean of 5-minute ratios, Sloth's numbers).
	PeriodSLI string `yaml:"period_sli" env:"SRELLAMA_PERIOD_SLI"`
	// Routing is how the organization's proposals route their alerts; it
	// becomes part of every definition the node proposes.
	Routing Routing `yaml:"routing"`
}

// Routing is nft.Routing in the configuration file.
type Routing struct {
	RunbookURL  string            `yaml:"runbook_url" env:"SRELLAMA_RUNBOOK_URL"`
	Severities  string            `yaml:"severities" env:"SRELLAMA_SEVERITIES"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// NFT returns the routing a definition carries: nil when nothing is set,
// so definitions of nodes without routing keep their token IDs.
func (r Routing) NFT() *nft.Routing {
	if r.RunbookURL == "" && r.Severities == "" && len(r.Labels) == 0 && len(r.Annotations) == 0 {
		return nil
	}
	return &nft.Routing{RunbookURL: r.RunbookURL, Severities: nft.SeverityNames(r.Severities), Labels: r.Labels, Annotations: r.Annotations}
}

// Rules configures where minted SLOs take effect.
type Rules struct {
	Dir string `yaml:"dir" env:"SRELLAMA_RULES_DIR"`
	// Install says whose tokens' rules the node installs: ["served"] (the
	// default: the services its metric source has), ["all"], or a list of
	// services.
	Install []string `yaml:"install" env:"SRELLAMA_RULES_INSTALL"`
	// Target is where minted rules go: files (rule files in Dir, plus
	// source.prometheus.reload_url), prometheusrule (PrometheusRule
	// manifests in Dir, for GitOps) or ruler (a Mimir/Cortex ruler's API).
	Target    string `yaml:"target" env:"SRELLAMA_RULES_TARGET"`
	Namespace string `yaml:"namespace" env:"SRELLAMA_RULES_NAMESPACE"`
	// RulerURL is the ruler's root (target ruler); the tenant is
	// source.prometheus.tenant_id.
	RulerURL string `yaml:"ruler_url" env:"SRELLAMA_RULER_URL"`
}

// Rules.Install modes and rule delivery targets.
const (
	InstallServed = "served"
	InstallAll    = "all"

	// Rule delivery targets.
	RulesFiles          = "files"
	RulesPrometheusRule = "prometheusrule"
	RulesRuler          = "ruler"
)

// API configures the node's HTTP API.
type API struct {
	// Listen is host:port. Off loopback only with AllowRemote and a bearer
	// token: the API shows the consortium's rounds and tokens.
	Listen string `yaml:"listen" env:"SRELLAMA_API_LISTEN"`
	// AllowRemote must be true to listen on anything but loopback.
	AllowRemote bool `yaml:"allow_remote" env:"SRELLAMA_API_ALLOW_REMOTE"`
	// BearerTokenFile holds the token clients must send (Authorization:
	// Bearer ...) on every route but /healthz; required off loopback.
	BearerTokenFile string `yaml:"bearer_token_file" env:"SRELLAMA_API_BEARER_TOKEN_FILE"`
	// PprofListen, if set, serves net/http/pprof on this loopback
	// host:port, apart from the API.
	PprofListen string `yaml:"pprof_listen" env:"SRELLAMA_PPROF_LISTEN"`
}

// Bounds on settings that size what the node computes or holds in memory.
const (
	// MaxFaultsPerDay is one fault every 15 minutes on average, already
	// more than a simulated core can show apart.
	MaxFaultsPerDay = 96
	// MaxHistory bounds source.history: the simulator plans and holds it
	// all in memory, and every round and review reads it.
	MaxHistory = 90 * 24 * time.Hour
	// MinStep bounds source.step from below (rows = history / step).
	MinStep = time.Second
)

// Default returns the configuration of an organization on embedded parts:
// the simulator, the builtin generator, loopback everywhere.
func Default() Config {
	return Config{
		LogLevel: "info",
		Source: Source{
			Kind: SourceSimulator, History: "7d", Step: "1m",
			Simulator:  Simulator{Seed: 1, FaultsPerDay: 4},
			Prometheus: Prometheus{Timeout: "30s", ServiceLabel: "service"},
		},
		Network: Network{
			Consortium:     "srellama",
			Listen:         []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
			InlineLimit:    64 << 10,
			RoundRetention: "7d",
		},
		Learning:  Learning{Epochs: 5, Clip: 1, Relevance: RelevanceDeviation},
		Generate:  Generator{Kind: GeneratorBuiltin, Period: "30d", Timeout: "2m", Samples: 1},
		API:       API{Listen: "127.0.0.1:0"},
		Lifecycle: DefaultLifecycle(),
	}
}

// Load reads a YAML file over the defaults, applies environment overrides
// (getenv is os.Getenv in production), resolves relative paths against the
// file's directory and validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF and means "all defaults".
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), getenv); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// applyEnv sets every field with an env tag whose variable is set. Lists
// are comma-separated.
func applyEnv(v reflect.Value, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, getenv); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("env")
		val := getenv(name)
		if name == "" || val == "" {
			continue
		}
		if err := setFromString(fv, val); err != nil {
			return fmt.Errorf("environment variable %s=%q: %w", name, val, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, val string) error {
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return errors.New("not true or false")
		}
		fv.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return errors.New("not an integer")
		}
		fv.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return errors.New("not a non-negative integer")
		}
		fv.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return errors.New("not a number")
		}
		fv.SetFloat(x)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(val, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		fv.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported kind %s", fv.Kind())
	}
	return nil
}

func (c *Config) resolvePaths(base string) {
	for _, p := range []*string{&c.DataDir, &c.Ledger.Connection, &c.Source.CSV.Dir, &c.Rules.Dir,
		&c.Source.Prometheus.BearerTokenFile, &c.Source.Prometheus.PasswordFile, &c.API.BearerTokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if c.Rules.Dir == "" && c.DataDir != "" {
		c.Rules.Dir = filepath.Join(c.DataDir, "rules")
	}
}

// Problems lists every invalid setting with its path in the file.
type Problems []string

func (p Problems) Error() string { return "invalid configuration:\n  - " + strings.Join(p, "\n  - ") }

// Validate checks the whole configuration and reports every problem.
func (c Config) Validate() error {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if !nft.IsValidMSPID(c.Organization) {
		add("organization: %q is not an MSP ID (e.g. Org1MSP)", c.Organization)
	}
	if c.DataDir == "" {
		add("data_dir: required (the node keeps its key, round state and checkpoint there)")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.Ledger.Connection == "" {
		add("ledger.connection: required (a connection file written by the embedded ledger or for a Fabric peer)")
	}
	c.Source.validate(add)
	c.Network.validate(add)
	if c.Learning.Epochs < 1 {
		add("learning.epochs: must be at least 1, got %d", c.Learning.Epochs)
	}
	if c.Learning.EpsilonBudget < 0 || c.Learning.Clip <= 0 || c.Learning.Noise < 0 {
		add("learning: epsilon_budget and noise must be non-negative and clip positive")
	}
	if c.Learning.EpsilonBudget > 0 && c.Learning.Noise == 0 {
		add("learning.noise: an epsilon budget needs a positive noise multiplier")
	}
	switch c.Learning.Relevance {
	case RelevanceDeviation, RelevanceAuto, RelevanceLearned:
	default:
		add("learning.relevance: %q is not one of deviation, auto, learned", c.Learning.Relevance)
	}
	c.Generate.validate(add)
	for _, svc := range c.Rules.Install {
		if (svc == InstallAll || svc == InstallServed) && len(c.Rules.Install) > 1 {
			add("rules.install: %q stands alone, not in a list of services", svc)
		} else if svc != InstallAll && svc != InstallServed && !nft.IsValidName(svc) {
			add("rules.install: %q is not a service name (or all, served)", svc)
		}
	}
	c.Rules.validate(add)
	c.API.validate(add)
	history, _ := nft.ParseDuration(c.Source.History)
	c.Lifecycle.validate(add, history)
	if len(p) > 0 {
		return p
	}
	return nil
}

func (a API) validate(add func(string, ...any)) {
	host, _, err := net.SplitHostPort(a.Listen)
	switch {
	case err != nil:
		add("api.listen: %q is not host:port", a.Listen)
	case !isLoopback(host) && !a.AllowRemote:
		add("api.listen: %q is not a loopback address; set api.allow_remote: true and api.bearer_token_file to serve it to the network", a.Listen)
	case !isLoopback(host) && a.BearerTokenFile == "":
		add("api.bearer_token_file: required when api.listen (%q) is off loopback", a.Listen)
	}
	if a.PprofListen != "" {
		if host, _, err := net.SplitHostPort(a.PprofListen); err != nil || !isLoopback(host) {
			add("api.pprof_listen: %q must be a loopback host:port (profiles expose the process's memory)", a.PprofListen)
		}
	}
}

// isLoopback says a listen host reaches only this machine: "localhost" or
// a loopback IP. An empty host or 0.0.0.0 listens everywhere.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s Source) validate(add func(string, ...any)) {
	checkDuration(add, "source.history", s.History)
	checkDuration(add, "source.step", s.Step)
	if h, err := nft.ParseDuration(s.History); err == nil && h > MaxHistory {
		add("source.history: %s is longer than the %s the node learns from at most", s.History, nft.FormatDuration(MaxHistory))
	}
	if st, err := nft.ParseDuration(s.Step); err == nil && st < MinStep {
		add("source.step: %s is below %s", s.Step, MinStep)
	}
	switch s.Kind {
	case SourceSimulator:
		if f := s.Simulator.FaultsPerDay; !(f >= 0 && f <= MaxFaultsPerDay) {
			add("source.simulator.faults_per_day: must be in 0..%d, got %v", MaxFaultsPerDay, f)
		}
		s.Simulator.Degrade.validate(add)
		s.Simulator.validateShift(add)
	case SourcePrometheus:
		u, err := url.Parse(s.Prometheus.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("source.prometheus.url: %q is not an http(s) URL", s.Prometheus.URL)
		}
		if s.Prometheus.BearerTokenFile != "" && s.Prometheus.Username != "" {
			add("source.prometheus: use bearer_token_file or username/password_file, not both")
		}
		if (s.Prometheus.Username == "") != (s.Prometheus.PasswordFile == "") {
			add("source.prometheus: username and password_file go together")
		}
		checkDuration(add, "source.prometheus.timeout", s.Prometheus.Timeout)
	case SourceCSV:
		if s.CSV.Dir == "" {
			add("source.csv.dir: required for a CSV source")
		}
		switch s.CSV.Format {
		case "smd", "nezha", "wide":
		default:
			add("source.csv.format: %q is not one of smd, nezha, wide", s.CSV.Format)
		}
	default:
		add("source.kind: %q is not one of simulator, prometheus, csv", s.Kind)
	}
}

func (n Network) validate(add func(string, ...any)) {
	if !nft.IsValidName(n.Consortium) {
		add("network.consortium: %q must be a name (a-z, 0-9, '_', '.', '-')", n.Consortium)
	}
	if len(n.Listen) == 0 {
		add("network.listen: at least one multiaddr")
	}
	for i, a := range append(append([]string{}, n.Listen...), n.Bootstrap...) {
		if !strings.HasPrefix(a, "/") || strings.ContainsAny(a, " \t") {
			add("network: address %d %q is not a multiaddr", i, a)
		}
	}
	if n.InlineLimit < 1024 || n.InlineLimit > 1<<20 {
		add("network.inline_limit: must be in 1KiB..1MiB, got %d", n.InlineLimit)
	}
	if d, err := nft.ParseDuration(n.RoundRetention); err != nil {
		add("network.round_retention: %v", err)
	} else if d < time.Minute {
		add("network.round_retention: must be at least 1m (a closed round's updates are still served to late peers), got %s", n.RoundRetention)
	}
}

func (r Rules) validate(add func(string, ...any)) {
	switch r.Target {
	case "", RulesFiles, RulesPrometheusRule:
	case RulesRuler:
		if u, err := url.Parse(r.RulerURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			add("rules.ruler_url: target ruler needs the ruler's http(s) URL, got %q", r.RulerURL)
		}
	default:
		add("rules.target: %q is not one of files, prometheusrule, ruler", r.Target)
	}
}

func (g Generator) validate(add func(string, ...any)) {
	checkDuration(add, "generator.period", g.Period)
	if g.PeriodSLI != "" && g.PeriodSLI != string(nft.PeriodSLISloth) {
		add("generator.period_sli: must be empty (ratio of the period's sums) or sloth, got %q", g.PeriodSLI)
	}
	if r := g.Routing.NFT(); r != nil {
		if err := nft.ValidateRouting(*r); err != nil {
			add("generator.%v", strings.TrimPrefix(err.Error(), "invalid s-528 token: "))
		}
	}
	switch g.Kind {
	case GeneratorBuiltin:
	case GeneratorOllama:
		if g.Model == "" {
			add("generator.model: required for the ollama generator (e.g. srellama-llama3)")
		}
		if g.Samples < 1 {
			add("generator.samples: must be at least 1")
		}
		checkDuration(add, "generator.timeout", g.Timeout)
	default:
		add("generator.kind: %q is not one of builtin, ollama", g.Kind)
	}
}

func checkDuration(add func(string, ...any), path, s string) {
	if _, err := nft.ParseDuration(s); err != nil {
		add("%s: %v", path, err)
	}
}

// Duration parses one of the configuration's durations; Validate has
// already checked them.
func Duration(s string) time.Duration {
	d, _ := nft.ParseDuration(s)
	return d
}
