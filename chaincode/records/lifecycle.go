package records

// The SLO lifecycle: schedules that open rounds, attestations of how each
// active SLO did per period, and the evidence that revises or retires it.

// ScheduleStatus is the state of a round schedule.
type ScheduleStatus string

// Schedule statuses.
const (
	ScheduleActive  ScheduleStatus = "active"
	ScheduleStopped ScheduleStatus = "stopped"
)

// ScheduleSpec is what a member admin records to have rounds opened on a
// cadence. Period k is [Start + k·Cadence, Start + (k+1)·Cadence); its
// round's ID follows from the schedule and k alone (ScheduledRoundID), so
// nodes racing to open it conflict harmlessly.
type ScheduleSpec struct {
	ID               string   `json:"id"`
	Task             string   `json:"task,omitempty"`
	Services         []string `json:"services"`
	FeatureSetDigest string   `json:"feature_set_digest,omitempty"`
	Strategy         string   `json:"strategy"`
	MinParticipants  int      `json:"min_participants"`
	// Quorum and MinBackedApprovals are copied into each round's spec.
	Quorum             int `json:"quorum,omitempty"`
	MinBackedApprovals int `json:"min_backed_approvals,omitempty"`
	// Start is the RFC 3339 start of period 0.
	Start          string `json:"start"`
	CadenceSeconds int64  `json:"cadence_seconds"`
	// CommitSeconds and RoundSeconds are the round's commit phase and
	// whole length, counted from the transaction that opens it.
	CommitSeconds int64 `json:"commit_seconds"`
	RoundSeconds  int64 `json:"round_seconds"`
}

// Schedule is a schedule as the ledger holds it.
type Schedule struct {
	ScheduleSpec
	Status    ScheduleStatus `json:"status"`
	SetBy     string         `json:"set_by"`
	SetAt     string         `json:"set_at"`
	TxID      string         `json:"tx_id"`
	StoppedBy string         `json:"stopped_by,omitempty"`
	StoppedAt string         `json:"stopped_at,omitempty"`
	Reason    string         `json:"reason,omitempty"`
}

// Attestation is one member's account of how one active token's SLO did
// on its own data over one period: figures only, never series. The member
// writes the figures; the chaincode adds who, when and the transaction,
// whose signature makes it attributable.
type Attestation struct {
	TokenID     string `json:"token_id"`
	Service     string `json:"service"`
	Name        string `json:"name"`
	Version     int    `json:"version"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	// NoData says the member saw no event of the SLI in the period (the
	// service is gone here, or was never run); the figures are then zero.
	NoData bool `json:"no_data,omitempty"`
	// Events counts the SLI's events (requests) in the period.
	Events float64 `json:"events"`
	// Achieved is the share of good events; Objective the token's.
	Achieved  float64 `json:"achieved"`
	Objective float64 `json:"objective"`
	// BudgetConsumed is (1 − Achieved) / (1 − Objective): the pace at
	// which the period spent error budget, 1 being the pace the SLO
	// allows. Above 1 the period missed the objective.
	BudgetConsumed float64 `json:"budget_consumed"`
	// PageAlerts and TicketAlerts count the firings (rising edges) of the
	// token's burn-rate alerts, replayed with Prometheus's engine.
	PageAlerts   int `json:"page_alerts"`
	TicketAlerts int `json:"ticket_alerts"`
	// FalsePages are page firings overlapping no incident known here.
	FalsePages int `json:"false_pages"`
	// Incidents are those known to the member in the period; Detected
	// those any alert fired for, Paged those a page alert fired for.
	Incidents         int `json:"incidents"`
	IncidentsDetected int `json:"incidents_detected"`
	IncidentsPaged    int `json:"incidents_paged"`
	// Set by the chaincode.
	MSPID string `json:"msp_id"`
	At    string `json:"at"`
	TxID  string `json:"tx_id"`
}

// RequestKind says what a generation request asks for.
type RequestKind string

// Request kinds. An empty kind is a new SLO (or, for a service with an
// active token, its next version, as before kinds existed).
const (
	RequestNew      RequestKind = ""
	RequestRevision RequestKind = "revision"
)

// ProposalKind says what a proposal would do once approved.
type ProposalKind string

// Proposal kinds. An empty kind mints the proposal's definition (a new
// SLO or a revision superseding Definition.Supersedes); a retirement
// retires the token Target with the proposal's Evidence as the reason.
const (
	ProposalMint       ProposalKind = ""
	ProposalRetirement ProposalKind = "retirement"
)

// Evidence triggers: why a revision or retirement was asked for.
const (
	// TriggerBreached: the attestations show the objective missed in most
	// recent periods.
	TriggerBreached = "breached"
	// TriggerSilent: no budget spent while incidents went unpaged.
	TriggerSilent = "silent"
	// TriggerRanking: a newer finalized round ranks another SLI first.
	TriggerRanking = "ranking"
	// TriggerGone: no member saw the service for several periods.
	TriggerGone = "gone"
)

// Evidence is why the ledger accepted a revision request or a retirement
// proposal: the trigger, a sentence, the figures it rests on and the
// attestations (by transaction ID) or round it read.
type Evidence struct {
	Trigger      string             `json:"trigger"`
	Reason       string             `json:"reason"`
	Figures      map[string]float64 `json:"figures,omitempty"`
	Attestations []string           `json:"attestations,omitempty"`
	RoundID      string             `json:"round_id,omitempty"`
}
