package contracts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

// TestBadInput: malformed or inconsistent arguments get a clear error and
// leave the ledger as it was.
func TestBadInput(t *testing.T) {
	w := registered(t)
	fin := w.finalizedRound("round-1")
	req := fin.Requests[0]
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(t, w.roundSpec("round-2")))
	w.submit(w.org1.Client, "Rounds:CommitUpdate", "round-2", mustJSON(t, commitment("a")))
	good := definitionFor(req, "Org1MSP")

	spec := func(edit func(*records.RoundSpec)) string {
		s := w.roundSpec("round-x")
		edit(&s)
		return mustJSON(t, s)
	}
	def := func(edit func(*nft.Definition)) string {
		d := good
		d.SLI.Metrics = append([]nft.Metric(nil), good.SLI.Metrics...)
		edit(&d)
		return mustJSON(t, d)
	}
	upd := func(edit func(*records.UpdateCommitment)) string {
		u := commitment("b")
		edit(&u)
		return mustJSON(t, u)
	}

	tests := []struct {
		name string
		want string
		fn   string
		args []string
	}{
		{"malformed round spec", "malformed JSON", "Rounds:Open", []string{`{"id":`}},
		{"unknown field in round spec", "unknown field", "Rounds:Open", []string{strings.Replace(spec(func(*records.RoundSpec) {}), `{`, `{"colour":1,`, 1)}},
		{"round spec missing its task", "task", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.Task = "" })}},
		{"round spec with a bad digest", "feature_set_digest", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.FeatureSetDigest = "abc" })}},
		{"unknown strategy", "is not one of", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.Strategy = "mean-ish" })}},
		{"deadline before commit deadline", "must be after commit_deadline", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.Deadline = s.CommitDeadline })}},
		{"commit deadline in the past", "is not after the transaction time", "Rounds:Open", []string{spec(func(s *records.RoundSpec) {
			s.CommitDeadline = records.FormatTime(genesis.Add(-time.Hour))
			s.Deadline = records.FormatTime(genesis.Add(time.Hour))
		})}},
		{"quorum above membership", "cannot exceed the 3 registered members", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.Quorum = 4 })}},
		{"duplicate round", "already exists", "Rounds:Open", []string{mustJSON(t, w.roundSpec("round-1"))}},
		{"unsorted services", "sorted", "Rounds:Open", []string{spec(func(s *records.RoundSpec) { s.Services = []string{"smf", "amf"} })}},
		{"commit to an unknown round", "round \"nope\" not found", "Rounds:CommitUpdate", []string{"nope", upd(func(*records.UpdateCommitment) {})}},
		{"double commit", "already committed", "Rounds:CommitUpdate", []string{"round-2", upd(func(*records.UpdateCommitment) {})}},
		{"update with a wrong digest", "must be sha256", "Rounds:CommitUpdate", []string{"round-2", upd(func(u *records.UpdateCommitment) { u.Digest = "sha256:xyz" })}},
		{"update without samples", "samples must be positive", "Rounds:CommitUpdate", []string{"round-2", upd(func(u *records.UpdateCommitment) { u.Samples = 0 })}},
		{"update with AUC above 1", "metrics.auc", "Rounds:CommitUpdate", []string{"round-2", upd(func(u *records.UpdateCommitment) { u.Metrics.AUC = 1.2 })}},
		{"epsilon total below this update", "epsilon", "Rounds:CommitUpdate", []string{"round-2", upd(func(u *records.UpdateCommitment) { u.EpsilonTotal = 0.1 })}},
		{"commit to a finalized round", "is finalized", "Rounds:CommitUpdate", []string{"round-1", upd(func(*records.UpdateCommitment) {})}},
		{"claim with unsorted ranking", "sorted by service", "Rounds:SubmitAggregate", []string{"round-2", strings.Replace(mustJSON(t, claim("Org1MSP")), `"service":"amf"`, `"service":"zzz"`, 1)}},
		{"proposal for an unknown request", "not found", "Generation:Propose", []string{"round-9.amf", def(func(*nft.Definition) {})}},
		{"proposal with malformed JSON", "malformed JSON", "Generation:Propose", []string{req.ID, `{"name":"x"`}},
		{"proposal with objective 1", "outside (0,1)", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.SLO.Objective = 1 })}},
		{"proposal with a rules digest mismatch", "digest mismatch", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.Rules.Digest = nft.DigestBytes(nil) })}},
		{"proposal with empty PromQL", "empty PromQL", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.SLI.GoodQuery = "" })}},
		{"proposal for another service", "for service \"smf\"", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.SLI.Service = "smf" })}},
		{"proposal citing another model", "cites round", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.Provenance.GlobalModelDigest = nft.DigestBytes(nil) })}},
		{"proposal with other contributors", "names contributors", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.Provenance.Contributors = []string{"Org1MSP", "Org2MSP"} })}},
		{"proposal superseding a missing token", "not found", "Generation:Propose", []string{req.ID, def(func(d *nft.Definition) { d.Version, d.Supersedes = 2, strings.Repeat("a", 64) })}},
		{"approval of an unknown proposal", "not found", "Generation:Approve", []string{strings.Repeat("b", 64)}},
		{"unknown token", "not found", "Tokens:Retire", []string{strings.Repeat("c", 64), "gone"}},
		{"malformed token ID", "64 lowercase hex", "Tokens:Retire", []string{"token-1", "gone"}},
		{"node with malformed addresses", "malformed JSON", "Consortium:RegisterNode", []string{peerIDOf(7), `/ip4/1.2.3.4`}},
		{"node with a non-multiaddr", "is not a multiaddr", "Consortium:RegisterNode", []string{peerIDOf(7), `["127.0.0.1:4001"]`}},
		{"malformed peer ID", "not a libp2p peer ID", "Consortium:RegisterNode", []string{"peer 1", `["/ip4/127.0.0.1/tcp/1"]`}},
		{"empty organization name", "must not be empty", "Consortium:RegisterOrganization", []string{"  "}},
		{"unknown contract", "Contract not found", "Ledger:Drop", nil},
		{"unknown function", "not found in contract", "Tokens:Burn", []string{"x"}},
		{"wrong argument count", "", "Rounds:Open", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.t = t
			w.refused(w.org1.Admin, tt.want, tt.fn, tt.args...)
		})
	}
}
