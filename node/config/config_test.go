package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/config"
)

func write(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "org1.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noEnv(string) string { return "" }

const minimal = `
organization: Org1MSP
data_dir: data
ledger:
  connection: ledger/orgs/Org1MSP/connection.json
`

func TestMinimalFileRunsOnEmbeddedDefaults(t *testing.T) {
	path := write(t, minimal)
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if cfg.Source.Kind != config.SourceSimulator || cfg.Generate.Kind != config.GeneratorBuiltin {
		t.Errorf("defaults: source %s generator %s", cfg.Source.Kind, cfg.Generate.Kind)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.Rules.Dir != filepath.Join(dir, "data", "rules") {
		t.Errorf("relative paths not resolved against the file: %s, %s", cfg.DataDir, cfg.Rules.Dir)
	}
	if cfg.Ledger.Connection != filepath.Join(dir, "ledger/orgs/Org1MSP/connection.json") {
		t.Errorf("ledger connection %s", cfg.Ledger.Connection)
	}
}

func TestRoutingBecomesTheDefinitions(t *testing.T) {
	cfg, err := config.Load(write(t, minimal+"generator:\n  period_sli: sloth\n  routing:\n    severities: critical-warning\n    runbook_url: https://rb.example/{{slo}}\n    labels: {team: core}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Generate.Routing.NFT()
	if r == nil || r.Severities != "critical-warning" || r.Labels["team"] != "core" || r.RunbookURL != "https://rb.example/{{slo}}" || cfg.Generate.PeriodSLI != "sloth" {
		t.Errorf("routing %+v, period_sli %q", r, cfg.Generate.PeriodSLI)
	}
	if cfg, _ := config.Load(write(t, minimal), noEnv); cfg.Generate.Routing.NFT() != nil {
		t.Error("a configuration without routing gives definitions a routing (and new token IDs)")
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	env := map[string]string{
		"SRELLAMA_SOURCE":         "prometheus",
		"SRELLAMA_PROMETHEUS_URL": "http://127.0.0.1:9090",
		"SRELLAMA_BOOTSTRAP":      "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWA, /ip4/127.0.0.1/tcp/4002/p2p/12D3KooWB",
		"SRELLAMA_SIM_SEED":       "42",
		"SRELLAMA_EPOCHS":         "9",
	}
	cfg, err := config.Load(write(t, minimal), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Kind != "prometheus" || cfg.Source.Prometheus.URL != "http://127.0.0.1:9090" ||
		len(cfg.Network.Bootstrap) != 2 || cfg.Source.Simulator.Seed != 42 || cfg.Learning.Epochs != 9 {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
}

// Every mistake is reported with its path, all at once.
func TestConfigurationErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		env  map[string]string
		want []string
	}{
		{"unknown field", minimal + "colour: red\n", nil, []string{"field colour not found"}},
		{"malformed YAML", "organization: [", nil, []string{"yaml"}},
		{"missing organization and ledger", "data_dir: x\n", nil, []string{"organization:", "ledger.connection: required"}},
		{"bad source kind", minimal + "source:\n  kind: influx\n", nil, []string{"source.kind: \"influx\""}},
		{"prometheus without a URL", minimal + "source:\n  kind: prometheus\n", nil, []string{"source.prometheus.url"}},
		{"both auth methods", minimal + "source:\n  kind: prometheus\n  prometheus:\n    url: http://p:9090\n    bearer_token_file: t\n    username: u\n    password_file: p\n", nil, []string{"not both"}},
		{"csv without format", minimal + "source:\n  kind: csv\n  csv:\n    dir: d\n", nil, []string{"source.csv.format"}},
		{"bad history", minimal + "source:\n  history: a week\n", nil, []string{"source.history"}},
		{"ollama without model", minimal + "generator:\n  kind: ollama\n", nil, []string{"generator.model: required"}},
		{"epsilon without noise", minimal + "learning:\n  epsilon_budget: 8\n", nil, []string{"learning.noise"}},
		{"bad listen", minimal + "network:\n  listen: [\"127.0.0.1:4001\"]\n", nil, []string{"not a multiaddr"}},
		{"bad api address", minimal + "api:\n  listen: localhost\n", nil, []string{"api.listen"}},
		{"install mode in a list", minimal + "rules:\n  install: [all, amf]\n", nil, []string{"rules.install: \"all\" stands alone"}},
		{"install a bad service", minimal, map[string]string{"SRELLAMA_RULES_INSTALL": "amf,Bad Name"}, []string{"rules.install: \"Bad Name\""}},
		{"bad rules target", minimal + "rules:\n  target: s3\n", nil, []string{"rules.target"}},
		{"ruler without URL", minimal + "rules:\n  target: ruler\n", nil, []string{"rules.ruler_url"}},
		{"bad period sli", minimal + "generator:\n  period_sli: median\n", nil, []string{"generator.period_sli"}},
		{"routing replaces severity", minimal + "generator:\n  routing:\n    labels: {severity: low}\n", nil, []string{"generator.routing.labels", "set by the rules"}},
		{"routing bad severities", minimal + "generator:\n  routing:\n    severities: p1\n", nil, []string{"generator.routing.severities"}},
		{"api on every address", minimal + "api:\n  listen: 0.0.0.0:8081\n", nil, []string{"api.listen", "allow_remote"}},
		{"api on an empty host", minimal + "api:\n  listen: :8081\n", nil, []string{"not a loopback address"}},
		{"remote api without a token", minimal + "api:\n  listen: 10.0.0.5:8081\n  allow_remote: true\n", nil, []string{"api.bearer_token_file: required"}},
		{"pprof off loopback", minimal + "api:\n  pprof_listen: 0.0.0.0:6060\n", nil, []string{"api.pprof_listen"}},
		{"schedule check not a duration", minimal + "lifecycle:\n  schedule_check: often\n", nil, []string{"lifecycle.schedule_check"}},
		{"schedule check too rare", minimal, map[string]string{"SRELLAMA_SCHEDULE_CHECK": "1h"}, []string{"lifecycle.schedule_check: must be in 1s..10m"}},
		{"too many faults", minimal + "source:\n  simulator:\n    faults_per_day: 100000\n", nil, []string{"faults_per_day: must be in 0..96"}},
		{"negative faults", minimal + "source:\n  simulator:\n    faults_per_day: -1\n", nil, []string{"faults_per_day"}},
		{"a century of history", minimal + "source:\n  history: 36500d\n", nil, []string{"source.history: 36500d is longer than"}},
		{"bad env bool", minimal, map[string]string{"SRELLAMA_API_ALLOW_REMOTE": "perhaps"}, []string{"not true or false"}},
		{"bad relevance policy", minimal + "learning:\n  relevance: smart\n", nil, []string{"learning.relevance: \"smart\""}},
		{"bad relevance policy in env", minimal, map[string]string{"SRELLAMA_RELEVANCE": "always"}, []string{"learning.relevance: \"always\""}},
		{"bad env number", minimal, map[string]string{"SRELLAMA_EPOCHS": "many"}, []string{"SRELLAMA_EPOCHS", "not an integer"}},
		{"attest period below a minute", minimal + "lifecycle:\n  attest_period: 30s\n", nil, []string{"lifecycle.attest_period: 30s is outside 1m..31d"}},
		{"attest period beyond a month", minimal + "lifecycle:\n  attest_period: 60d\n", nil, []string{"lifecycle.attest_period"}},
		{"unbounded lookback", minimal + "lifecycle:\n  attest_lookback: 1000\n", nil, []string{"lifecycle.attest_lookback: must be in 0..31"}},
		{"lookback beyond the history", minimal + "lifecycle:\n  attest_lookback: 10\n", nil, []string{"beyond source.history 1w", "without data"}},
		{"no revision history", minimal + "lifecycle:\n  revision_history: 0\n", nil, []string{"lifecycle.revision_history"}},
		{"spinning check", minimal + "lifecycle:\n  check_interval: 10ms\n", nil, []string{"lifecycle.check_interval"}},
		{"bad check interval in env", minimal, map[string]string{"SRELLAMA_LIFECYCLE_CHECK_INTERVAL": "often"}, []string{"lifecycle.check_interval"}},
		{"degradation without service", minimal + "source:\n  simulator:\n    degrade:\n      error_factor: 5\n", nil, []string{"degrade.service: required"}},
		{"degradation at no time", minimal + "source:\n  simulator:\n    degrade:\n      service: amf\n      start: soon\n      error_factor: 5\n", nil, []string{"degrade.start"}},
		{"degradation share outside the history", minimal + "source:\n  simulator:\n    degrade:\n      service: amf\n      start: \"1.5\"\n      error_factor: 5\n", nil, []string{"degrade.start: a share"}},
		{"degradation that changes nothing", minimal + "source:\n  simulator:\n    degrade:\n      service: amf\n      start: 36h\n", nil, []string{"changes nothing"}},
		{"degradation beyond an outage", minimal + "source:\n  simulator:\n    degrade:\n      service: amf\n      start: 36h\n      error_factor: 5000\n", nil, []string{"degrade.error_factor"}},
		{"time shift that is no duration", minimal + "source:\n  simulator:\n    time_shift: yesterday\n", nil, []string{"source.simulator.time_shift"}},
		{"time shift in seconds", minimal + "source:\n  simulator:\n    time_shift: -90s\n", nil, []string{"time_shift: -90s is not a whole number of minutes"}},
		{"time shift beyond a century", minimal + "source:\n  simulator:\n    time_shift: 900000h\n", nil, []string{"time_shift: 900000h is beyond"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, tt.body), func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Off loopback with the explicit setting and a token, the API is allowed.
func TestRemoteAPIWithToken(t *testing.T) {
	cfg, err := config.Load(write(t, minimal+"api:\n  listen: 0.0.0.0:8081\n  allow_remote: true\n  bearer_token_file: api.token\n  pprof_listen: localhost:6060\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(cfg.API.BearerTokenFile) {
		t.Fatalf("token file %q is not resolved against the config's folder", cfg.API.BearerTokenFile)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), noEnv); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

// The example shipped with the project stays valid.
func TestExampleConfiguration(t *testing.T) {
	cfg, err := config.Load("org1.example.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Organization != "Org1MSP" || cfg.Source.Kind != config.SourceSimulator || cfg.API.Listen != "127.0.0.1:8081" ||
		cfg.Learning.Relevance != config.RelevanceDeviation {
		t.Fatalf("example: %+v", cfg)
	}
}

// The evaluation's verdict sets the default: learned explanations lost
// to unit weights on SMD under loso, so rankings fall back to deviation.
func TestRelevanceDefaultsToDeviation(t *testing.T) {
	cfg, err := config.Load(write(t, minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Learning.Relevance != config.RelevanceDeviation {
		t.Fatalf("default relevance policy %q, want %q", cfg.Learning.Relevance, config.RelevanceDeviation)
	}
	cfg, err = config.Load(write(t, minimal), func(k string) string {
		return map[string]string{"SRELLAMA_RELEVANCE": "auto"}[k]
	})
	if err != nil || cfg.Learning.Relevance != config.RelevanceAuto {
		t.Fatalf("SRELLAMA_RELEVANCE=auto: %q, %v", cfg.Learning.Relevance, err)
	}
}

// The lifecycle runs by default: daily periods, three back; a degradation
// lands where its share of the history or its offset says.
func TestLifecycleAndDegradation(t *testing.T) {
	cfg, err := config.Load(write(t, minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Lifecycle; l.AttestPeriod != "24h" || l.AttestLookback != 3 || l.RevisionHistory != 3 || l.RevisionWindow() != 72*time.Hour {
		t.Errorf("lifecycle defaults %+v", l)
	}
	cfg, err = config.Load(write(t, minimal+"lifecycle:\n  attest_period: 1h\n  attest_lookback: 0\nsource:\n  simulator:\n    degrade:\n      service: amf\n      start: \"0.75\"\n      error_factor: 8\n      added_latency: 50ms\n"),
		func(k string) string { return map[string]string{"SRELLAMA_REVISION_HISTORY": "5"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Source.Simulator.Degrade
	now := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
	if got, want := d.StartAt(now, 8*24*time.Hour), time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("three quarters into 8 days before %v: %v, want %v", now, got, want)
	}
	if d.Latency() != 50*time.Millisecond || d.ErrorFactor != 8 || cfg.Lifecycle.RevisionWindow() != 5*time.Hour || cfg.Lifecycle.AttestLookback != 0 {
		t.Errorf("degrade %+v, lifecycle %+v", d, cfg.Lifecycle)
	}
	d.Start = "36h"
	if got, want := d.StartAt(now, 8*24*time.Hour), time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("36h before %v: %v, want %v", now, got, want)
	}
	if cfg.Source.Simulator.Shift() != 0 {
		t.Errorf("default time shift %v, want none", cfg.Source.Simulator.Shift())
	}
	cfg, err = config.Load(write(t, minimal+"source:\n  simulator:\n    time_shift: -7849h30m\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Source.Simulator.Shift(), -(7849*time.Hour + 30*time.Minute); got != want {
		t.Errorf("time shift %v, want %v", got, want)
	}
}
