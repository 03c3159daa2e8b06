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
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Version     int        `json:"version"`
	Supersedes  string     `json:"supersedes,omitempty"`
	SLI         SLI        `json:"sli"`
	SLO         SLO        `json:"slo"`
	Rules       Rules      `json:"rules"`
	Provenance  Provenance `json:"provenance"`
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
}

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
	RankingBasis string            `json:"ranking_basis,omitempty"`
	Generator    Generator         `json:"generator"`
	Validation   []ValidationCheck `json:"validation"`
	Proposer     string            `json:"proposer"`
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
