// Package fl is the federated SLI-relevance learner: it turns metric time
// series into labelled feature datasets, trains regularized logistic
// regression locally, aggregates model updates robustly and reproducibly,
// adds differential-privacy noise, ranks metrics by relevance and explains
// incidents by the metrics that moved.
//
// The package is pure computation in the style of etcd-io/raft: no I/O, no
// clocks, no globals. Every random choice is drawn from a generator seeded by
// the caller, so a run is reproducible bit for bit. Loading data from
// sources and moving updates over the network happen elsewhere
// (node/evaluate, network/).
//
// Canonical feature names are "<metric>#<transform>", e.g.
// "CpuUsageRate(%)#zscore"; organizations with different metric sets align
// on the names they share, and a feature absent at a site is masked (never
// trained, never averaged in), not zero-filled.
package fl
