// Package nft defines the s-528 token: an ERC-721-style non-fungible token
// whose metadata is one SLI/SLO definition together with its provenance.
//
// The package is pure: it holds the schema (plain Go types), the canonical
// JSON encoding, the digests and the validation rules. The chaincode, the
// node and the generators all import it, so a token means the same thing
// everywhere it is read.
//
// A token has three parts with different lifetimes:
//
//   - Definition: what a proposer proposed and approvers approved. Immutable.
//     The token ID is derived from it, so the same definition can never be
//     minted twice.
//   - Mint: facts fixed by the minting transaction (approvals, time, tx ID).
//     Immutable once minted.
//   - State: ownership and lifecycle (owner, status, superseded-by). Changes
//     through transfers, revisions and retirement; every change is on the
//     ledger's history of the token's key.
//
// The content digest covers Definition and Mint, so an auditor can check that
// a token read from the ledger is exactly what was approved and minted.
package nft

// Standard is the token standard identifier written into every token.
const Standard = "s-528"

// Status is the lifecycle state of a minted token.
type Status string

// Token statuses.
const (
	StatusActive     Status = "active"
	StatusSuperseded Status = "superseded"
	StatusRetired    Status = "retired"
)

// SLIKind says how the service level indicator is measured.
type SLIKind string

// SLI kinds.
const (
	// KindRatio is good events over total events (e.g. successful
	// registrations over registration requests).
	KindRatio SLIKind = "ratio"
	// KindLatency counts requests faster than a threshold, from a histogram.
	KindLatency SLIKind = "latency"
	// KindAvailability is the fraction of time a target is up or ready.
	KindAvailability SLIKind = "availability"
)

// Severity of an alert window pair.
type Severity string

// Alert severities, as the SRE workbook uses them.
const (
	SeverityPage   Severity = "page"
	SeverityTicket Severity = "ticket"
)

// GeneratorKind says what produced a definition.
type GeneratorKind string

// Generator kinds.
const (
	GeneratorBuiltin GeneratorKind = "builtin"
	GeneratorLLM     GeneratorKind = "llm"
	// GeneratorImport marks a definition translated from another tool's
	// SLO spec (Sloth, OpenSLO); Provenance.Source names the file.
	GeneratorImport GeneratorKind = "import"
)

// WindowPlaceholder is the template marker every SLI query must carry; the
// renderer replaces it with each alert window (5m, 1h, ...). It is the same
// marker Sloth uses, so Sloth specs translate without edits.
const WindowPlaceholder = "{{.window}}"

// Token is a minted s-528 token.
type Token struct {
	Standard   string     `json:"standard"`
	ID         string     `json:"id"`
	Digest     string     `json:"digest"`
	Definition Definition `json:"definition"`
	Mint       Mint       `json:"mint"`
	State      State      `json:"state"`
}

// Definition is the immutable SLI/SLO content of a token. A proposal carries
// exactly this; approvers approve exactly this.
type Definition struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     int    `json:"version"`
	// Protocol is the rendering protocol the rules were produced under
	// (see Protocol): members re-render a definition and compare the bytes,
	// so a change of rendering is a new protocol, visible in the token.
	// Zero (omitted) is a definition from before versions were recorded.
	Protocol   int    `json:"protocol,omitempty"`
	Supersedes string `json:"supersedes,omitempty"`
	SLI        SLI    `json:"sli"`
	SLO        SLO    `json:"slo"`
	Rules      Rules  `json:"rules"`
	// Routing is omitted when nil, so definitions without it keep the
	// token IDs they had before the field existed.
	Routing    *Routing   `json:"routing,omitempty"`
	Provenance Provenance `json:"provenance"`
}

// Routing is how the SLO's alerts reach people: severity label values, a
// runbook link, extra labels and annotations for Alertmanager routes. It is
// part of the definition and its digest, so every member installs the same
// rules and any member can render them again from the token alone.
type Routing struct {
	// RunbookURL becomes every alert's runbook_url annotation; "{{slo}}"
	// in it is replaced with the SLO's ID (service-name).
	RunbookURL string `json:"runbook_url,omitempty"`
	// Severities names the severity label values: "page-ticket" (the
	// default, the SRE workbook's words) or "critical-warning" (what
	// kube-prometheus and Pyrra route on).
	Severities SeverityNames `json:"severities,omitempty"`
	// Labels are added to every alert (team, owner, ...). They cannot
	// replace the labels the rules need (severity, sloth_*, windows).
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to every alert.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SeverityNames selects the values of alerts' severity label.
type SeverityNames string

// Severity naming schemes.
const (
	SeverityNamesPageTicket      SeverityNames = "page-ticket"
	SeverityNamesCriticalWarning SeverityNames = "critical-warning"
)

// SeverityLabel is the severity label value of s under routing r (nil
// routing: page and ticket).
func (r *Routing) SeverityLabel(s Severity) string {
	if r != nil && r.Severities == SeverityNamesCriticalWarning {
		if s == SeverityPage {
			return "critical"
		}
		return "warning"
	}
	return string(s)
}

// SLI is the service level indicator. Exactly one query form is used: either
// GoodQuery with TotalQuery, or ErrorRatioQuery. Every query carries
// WindowPlaceholder.
type SLI struct {
	Service          string   `json:"service"`
	Kind             SLIKind  `json:"kind"`
	GoodQuery        string   `json:"good_query,omitempty"`
	TotalQuery       string   `json:"total_query,omitempty"`
	ErrorRatioQuery  string   `json:"error_ratio_query,omitempty"`
	LatencyThreshold float64  `json:"latency_threshold_seconds,omitempty"`
	Metrics          []Metric `json:"metrics"`
}

// Metric is one metric an SLI rests on, with the relevance the federated
// model gave it.
type Metric struct {
	Name      string  `json:"name"`
	Relevance float64 `json:"relevance"`
	// Stability is the fraction of rounds or bootstrap samples in which the
	// metric stayed in the top of the ranking, in [0,1].
	Stability float64 `json:"stability"`
}

// SLO is the objective over a compliance period and the alerting policy that
// protects its error budget.
type SLO struct {
	Objective   float64       `json:"objective"`
	Period      string        `json:"period"`
	ErrorBudget float64       `json:"error_budget"`
	AlertPolicy []AlertWindow `json:"alert_policy"`
	// PeriodSLI says how the error ratio over the whole period is
	// computed: empty (the default) is the ratio of the period's sums,
	// every event weighted alike; PeriodSLISloth is the mean of the
	// period's 5-minute ratios, every 5 minutes weighted alike, as Sloth
	// computes it. Omitted when empty, so older token IDs do not change.
	PeriodSLI PeriodSLI `json:"period_sli,omitempty"`
}

// PeriodSLI is how the period's error ratio is computed.
type PeriodSLI string

// Period SLI methods.
const (
	PeriodSLIEvents PeriodSLI = ""
	PeriodSLISloth  PeriodSLI = "sloth"
)

// AlertWindow is one multi-window, multi-burn-rate alert: it fires when the
// error rate over both LongWindow and ShortWindow exceeds BurnRate times the
// error budget. BurnRate is derived: BudgetConsumed * period / LongWindow.
type AlertWindow struct {
	Name           string   `json:"name"`
	Severity       Severity `json:"severity"`
	LongWindow     string   `json:"long_window"`
	ShortWindow    string   `json:"short_window"`
	BudgetConsumed float64  `json:"budget_consumed"`
	BurnRate       float64  `json:"burn_rate"`
}

// Rules are the generated Prometheus rule file and its digest.
type Rules struct {
	YAML   string `json:"yaml"`
	Digest string `json:"digest"`
}

// Provenance records where a definition came from.
type Provenance struct {
	// RoundID and GlobalModelDigest name the federated round whose ranking
	// the SLI rests on; both are empty for a definition written by hand.
	RoundID           string `json:"round_id,omitempty"`
	GlobalModelDigest string `json:"global_model_digest,omitempty"`
	// Contributors is omitted when empty, so a nil and an empty list
	// encode alike and cannot give one definition two token IDs.
	Contributors        []string `json:"contributors,omitempty"`
	GenerationRequestID string   `json:"generation_request_id,omitempty"`
	// RankingBasis says where the order of the SLI's candidate metrics
	// came from: RankingLearned (the round's federated relevance) or
	// RankingLocalDeviation (the round fell back from learning, and the
	// proposer ranked the service's metrics by their deviation during its
	// own incidents). Empty for hand-written definitions and those made
	// before the field existed.
	RankingBasis string `json:"ranking_basis,omitempty"`
	// Revision says why a version superseding another was asked for: the
	// evidence's trigger and sentence (see the chaincode's records.Evidence);
	// nil for first versions and for revisions made before evidence.
	Revision   *RevisionReason   `json:"revision,omitempty"`
	Generator  Generator         `json:"generator"`
	Validation []ValidationCheck `json:"validation"`
	Proposer   string            `json:"proposer"`
	// Source names the spec an imported definition was translated from;
	// nil for generated definitions.
	Source *Source `json:"source,omitempty"`
}

// RevisionReason is the evidence a revision answers.
type RevisionReason struct {
	Trigger string `json:"trigger"`
	Reason  string `json:"reason"`
	// RequestID is the revision request the evidence opened.
	RequestID string `json:"request_id,omitempty"`
}

// Source is another tool's SLO spec a definition was imported from.
type Source struct {
	// Format is the spec's format: sloth/prometheus-v1,
	// sloth/kubernetes-v1 or openslo/v1.
	Format string `json:"format"`
	// Name is the file's base name, for people; Digest is what identifies
	// the bytes that were imported: sha256:<hex> of the whole file.
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Ranking bases of a definition's provenance.
const (
	RankingLearned        = "learned"
	RankingLocalDeviation = "local_deviation"
)

// Generator names the generator and, for an LLM, the model and the prompt.
type Generator struct {
	Kind         GeneratorKind `json:"kind"`
	Name         string        `json:"name"`
	Version      string        `json:"version"`
	Model        string        `json:"model,omitempty"`
	ModelDigest  string        `json:"model_digest,omitempty"`
	PromptDigest string        `json:"prompt_digest,omitempty"`
	// FallbackReason is set when an LLM answer was refused and the builtin
	// generator produced the definition instead.
	FallbackReason string `json:"fallback_reason,omitempty"`
}

// ValidationCheck is the outcome of one check a definition passed or failed
// before it was proposed (PromQL parse, rulefmt, promtool, backtest...).
type ValidationCheck struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

// Mint holds what the minting transaction fixed.
type Mint struct {
	ProposalID string     `json:"proposal_id"`
	Approvals  []Approval `json:"approvals"`
	MintedAt   string     `json:"minted_at"`
	TxID       string     `json:"tx_id"`
}

// Approval is one organization's approval of the proposal.
type Approval struct {
	MSPID string `json:"msp_id"`
	TxID  string `json:"tx_id"`
	At    string `json:"at"`
}

// State is the mutable part of a token.
type State struct {
	Owner        string `json:"owner"`
	Status       Status `json:"status"`
	SupersededBy string `json:"superseded_by,omitempty"`
}
