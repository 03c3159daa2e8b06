// Package nfttest builds valid s-528 definitions and tokens for tests, so
// each test states only the fields it is about.
package nfttest

import (
	"fmt"
	"time"

	"github.com/srellama/srellama/nft"
)

// RulesYAML is a small but real Prometheus rule file for fixtures.
const RulesYAML = `groups:
- name: slo-amf-registration
  rules:
  - record: slo:sli_error:ratio_rate5m
    expr: 1 - (sum(rate(fivegs_amffunction_rm_reginitsucc[5m])) / sum(rate(fivegs_amffunction_rm_reginitreq[5m])))
    labels:
      sloth_service: amf
      sloth_slo: registration
`

// Definition returns a valid version-1 definition for service, answering
// no request and resting on no round. Mutate the result to build the case
// under test.
func Definition(service, proposer string) nft.Definition {
	policy, err := nft.DefaultAlertPolicy(30 * 24 * time.Hour)
	if err != nil {
		panic(fmt.Sprintf("nfttest: default policy: %v", err)) // fixture bug, not test input
	}
	return nft.Definition{
		Name:        service + "-registration",
		Description: "Share of UE registration requests that succeed at the " + service + ".",
		Version:     1,
		SLI: nft.SLI{
			Service:    service,
			Kind:       nft.KindRatio,
			GoodQuery:  "sum(rate(fivegs_amffunction_rm_reginitsucc[{{.window}}]))",
			TotalQuery: "sum(rate(fivegs_amffunction_rm_reginitreq[{{.window}}]))",
			Metrics: []nft.Metric{
				{Name: "fivegs_amffunction_rm_reginitreq", Relevance: 0.91, Stability: 1},
				{Name: "fivegs_amffunction_rm_reginitsucc", Relevance: 0.87, Stability: 0.9},
			},
		},
		SLO: nft.SLO{
			Objective:   0.999,
			Period:      "30d",
			ErrorBudget: nft.ErrorBudget(0.999),
			AlertPolicy: policy,
		},
		Rules: nft.Rules{YAML: RulesYAML, Digest: nft.RulesDigest(RulesYAML)},
		Provenance: nft.Provenance{
			Contributors: []string{},
			Generator:    nft.Generator{Kind: nft.GeneratorBuiltin, Name: "srellama-builtin", Version: "0.1.0"},
			Validation:   []nft.ValidationCheck{{Name: "promql-parse", Passed: true}, {Name: "rulefmt", Passed: true}},
			Proposer:     proposer,
		},
	}
}

// FromRound makes d cite a federated round.
func FromRound(d nft.Definition, roundID, modelDigest, requestID string, contributors ...string) nft.Definition {
	d.Provenance.RoundID = roundID
	d.Provenance.GlobalModelDigest = modelDigest
	d.Provenance.GenerationRequestID = requestID
	d.Provenance.Contributors = contributors
	return d
}

// Token returns a sealed, valid minted token for d owned by its proposer.
func Token(d nft.Definition) nft.Token {
	t := nft.Token{
		Definition: d,
		Mint: nft.Mint{
			ProposalID: "proposal-1",
			Approvals:  []nft.Approval{{MSPID: d.Provenance.Proposer, TxID: "tx-1", At: "2026-11-22T10:00:00Z"}},
			MintedAt:   "2026-11-22T10:00:01Z",
			TxID:       "tx-2",
		},
		State: nft.State{Owner: d.Provenance.Proposer, Status: nft.StatusActive},
	}
	if err := nft.Seal(&t); err != nil {
		panic(fmt.Sprintf("nfttest: seal: %v", err))
	}
	return t
}
