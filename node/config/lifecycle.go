package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/nft"
)

// Lifecycle configures how the node keeps the consortium's SLOs right over
// time: it attests, each completed period, how every active SLO of the
// services it runs did on its own data, and asks for a revision or
// retirement when the attestations call for one.
type Lifecycle struct {
	// ScheduleCheck is how often the node lists the ledger's active
	// schedules and opens the round of each whose current period has none
	// (Schedules:OpenDue; a round another node opened first is done).
	ScheduleCheck string `yaml:"schedule_check" env:"SRELLAMA_SCHEDULE_CHECK"`
	// AttestPeriod is the length of an attestation period; periods are
	// aligned to the Unix epoch, so every member attests the same ones.
	AttestPeriod string `yaml:"attest_period" env:"SRELLAMA_ATTEST_PERIOD"`
	// AttestLookback is how many completed periods back the node attests
	// (a node that was down catches up); 0 turns attestation off.
	AttestLookback int `yaml:"attest_lookback" env:"SRELLAMA_ATTEST_LOOKBACK"`
	// AttestBeforeMint also attests lookback periods that ended before a
	// token was minted (its rules replayed over them): for demonstrations
	// and tests that cannot wait for periods to pass. Off, the evidence is
	// how each SLO did while it was in force.
	AttestBeforeMint bool `yaml:"attest_before_mint" env:"SRELLAMA_ATTEST_BEFORE_MINT"`
	// CheckInterval is how often the node looks for periods to attest.
	CheckInterval string `yaml:"check_interval" env:"SRELLAMA_LIFECYCLE_CHECK_INTERVAL"`
	// RevisionHistory is how many attestation periods of recent history a
	// revision is fitted to and its objective judged on (the evidence
	// periods): after a lasting shift the older history describes a
	// service that no longer exists.
	RevisionHistory int `yaml:"revision_history" env:"SRELLAMA_REVISION_HISTORY"`
}

// Bounds on the lifecycle's settings.
const (
	// MinScheduleCheck and MaxScheduleCheck: often enough for the
	// shortest cadence (a minute), rarely enough not to load the ledger
	// for nothing.
	MinScheduleCheck = time.Second
	MaxScheduleCheck = 10 * time.Minute
	// MinAttestPeriod and MaxAttestPeriod are the ledger's bounds on an
	// attestation's period.
	MinAttestPeriod = time.Minute
	MaxAttestPeriod = 31 * 24 * time.Hour
	// MaxAttestLookback bounds the periods attested per token and check.
	MaxAttestLookback = 31
	// MinCheckInterval keeps the loop from spinning.
	MinCheckInterval = time.Second
)

// DefaultLifecycle checks schedules every 30 s, attests daily periods, three back, checking every ten
// minutes, and fits revisions to the last three periods.
func DefaultLifecycle() Lifecycle {
	return Lifecycle{ScheduleCheck: "30s", AttestPeriod: "24h", AttestLookback: 3, CheckInterval: "10m", RevisionHistory: 3}
}

// RevisionWindow is the recent history revisions are fitted to and judged
// on: RevisionHistory attestation periods.
func (l Lifecycle) RevisionWindow() time.Duration {
	return time.Duration(l.RevisionHistory) * Duration(l.AttestPeriod)
}

func (l Lifecycle) validate(add func(string, ...any), history time.Duration) {
	if d, err := nft.ParseDuration(l.ScheduleCheck); err != nil {
		add("lifecycle.schedule_check: %v", err)
	} else if d < MinScheduleCheck || d > MaxScheduleCheck {
		add("lifecycle.schedule_check: must be in %s..%s, got %s", nft.FormatDuration(MinScheduleCheck), nft.FormatDuration(MaxScheduleCheck), l.ScheduleCheck)
	}
	period, err := nft.ParseDuration(l.AttestPeriod)
	switch {
	case err != nil:
		add("lifecycle.attest_period: %v", err)
	case period < MinAttestPeriod || period > MaxAttestPeriod:
		add("lifecycle.attest_period: %s is outside %s..%s", l.AttestPeriod, nft.FormatDuration(MinAttestPeriod), nft.FormatDuration(MaxAttestPeriod))
	case period%time.Second != 0:
		add("lifecycle.attest_period: %s is not a whole number of seconds", l.AttestPeriod)
	}
	if l.AttestLookback < 0 || l.AttestLookback > MaxAttestLookback {
		add("lifecycle.attest_lookback: must be in 0..%d, got %d", MaxAttestLookback, l.AttestLookback)
	}
	if l.RevisionHistory < 1 || l.RevisionHistory > MaxAttestLookback {
		add("lifecycle.revision_history: must be in 1..%d periods, got %d", MaxAttestLookback, l.RevisionHistory)
	}
	if d, err := nft.ParseDuration(l.CheckInterval); err != nil {
		add("lifecycle.check_interval: %v", err)
	} else if d < MinCheckInterval {
		add("lifecycle.check_interval: %s is below %s", l.CheckInterval, MinCheckInterval)
	}
	// A period older than the history the node reads would be attested
	// as having no data: evidence that the service is gone.
	if err == nil && history > 0 {
		if back := time.Duration(l.AttestLookback) * period; back > history {
			add("lifecycle.attest_lookback: %d periods of %s reach %s back, beyond source.history %s (they would be attested as without data)",
				l.AttestLookback, l.AttestPeriod, nft.FormatDuration(back), nft.FormatDuration(history))
		}
		if back := time.Duration(l.RevisionHistory) * period; back > history {
			add("lifecycle.revision_history: %d periods of %s reach beyond source.history %s", l.RevisionHistory, l.AttestPeriod, nft.FormatDuration(history))
		}
	}
}

// Degrade is a lasting degradation of one simulated service (a release
// that fails more or answers slower, for good): not a fault, no incident.
type Degrade struct {
	// Service is the degraded service; empty: none. Organizations that do
	// not run it are not degraded.
	Service string `yaml:"service" env:"SRELLAMA_SIM_DEGRADE_SERVICE"`
	// Start is when: a share of the history in (0, 1), counted from its
	// start ("0.6"), or a duration before the node started ("36h").
	Start string `yaml:"start" env:"SRELLAMA_SIM_DEGRADE_START"`
	// ErrorFactor multiplies the service's failure probabilities (≥ 1).
	ErrorFactor float64 `yaml:"error_factor" env:"SRELLAMA_SIM_DEGRADE_ERROR_FACTOR"`
	// AddedLatency is added to each request it answers ("50ms").
	AddedLatency string `yaml:"added_latency" env:"SRELLAMA_SIM_DEGRADE_ADDED_LATENCY"`
}

// MaxDegradeErrorFactor and MaxDegradeLatency bound the shift (the
// simulator's own bounds).
const (
	MaxDegradeErrorFactor = 1000
	MaxDegradeLatency     = 10 * time.Second
)

// StartAt resolves Start against the history's start and length and the
// time the node started: the shift lands at the same instant on every
// node started from one configuration in the same minute.
func (d Degrade) StartAt(now time.Time, history time.Duration) time.Time {
	if share, err := strconv.ParseFloat(d.Start, 64); err == nil {
		end := now.UTC().Truncate(time.Minute)
		return end.Add(-history).Add(time.Duration(share * float64(history))).Truncate(time.Minute)
	}
	return now.UTC().Add(-Duration(d.Start)).Truncate(time.Minute)
}

// Latency is AddedLatency parsed (0 when unset).
func (d Degrade) Latency() time.Duration {
	if d.AddedLatency == "" {
		return 0
	}
	return Duration(d.AddedLatency)
}

func (d Degrade) validate(add func(string, ...any)) {
	if d.Service == "" {
		if d.Start != "" || d.ErrorFactor != 0 || d.AddedLatency != "" {
			add("source.simulator.degrade.service: required with start, error_factor or added_latency")
		}
		return
	}
	if !nft.IsValidName(d.Service) {
		add("source.simulator.degrade.service: %q is not a service name", d.Service)
	}
	if share, err := strconv.ParseFloat(d.Start, 64); err == nil {
		if !(share > 0 && share < 1) {
			add("source.simulator.degrade.start: a share of the history must be in (0, 1), got %s", d.Start)
		}
	} else if _, err := nft.ParseDuration(strings.TrimSpace(d.Start)); err != nil {
		add("source.simulator.degrade.start: %q is neither a share of the history (0.6) nor a duration before now (36h)", d.Start)
	}
	if d.ErrorFactor != 0 && !(d.ErrorFactor >= 1 && d.ErrorFactor <= MaxDegradeErrorFactor) {
		add("source.simulator.degrade.error_factor: must be in 1..%d, got %v", MaxDegradeErrorFactor, d.ErrorFactor)
	}
	latency := time.Duration(0)
	if d.AddedLatency != "" {
		l, err := nft.ParseDuration(d.AddedLatency)
		if err != nil || l > MaxDegradeLatency {
			add("source.simulator.degrade.added_latency: %q is not a duration up to %s", d.AddedLatency, MaxDegradeLatency)
		}
		latency = l
	}
	if d.ErrorFactor <= 1 && latency == 0 {
		add("source.simulator.degrade: set error_factor above 1 or added_latency, or the degradation changes nothing")
	}
}
