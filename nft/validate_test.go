package nft_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

func TestValidDefinitionPasses(t *testing.T) {
	d := nfttest.Definition("amf", "Org1MSP")
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatalf("fixture definition is invalid: %v", err)
	}
	round := nfttest.FromRound(d, "round-1", nft.DigestBytes([]byte("model")), "round-1.amf", "Org1MSP", "Org2MSP")
	if err := nft.ValidateDefinition(round); err != nil {
		t.Fatalf("fixture round definition is invalid: %v", err)
	}
	revision := d
	revision.Version, revision.Supersedes = 2, strings.Repeat("a", 64)
	revision.Provenance.Revision = &nft.RevisionReason{Trigger: "breached", Reason: "breached: missed in 2 of 3 periods", RequestID: "req-1.amf"}
	if err := nft.ValidateDefinition(revision); err != nil {
		t.Fatalf("a revision answering evidence is invalid: %v", err)
	}
}

// Each case breaks one thing and names the field and the words the error
// must carry, so a proposer can fix it without reading code.
func TestValidateDefinitionRefuses(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*nft.Definition)
		field     string
		mentioned string
	}{
		{"objective of 1", func(d *nft.Definition) { d.SLO.Objective = 1 }, "definition.slo.objective", "outside (0,1)"},
		{"objective of 0", func(d *nft.Definition) { d.SLO.Objective = 0 }, "definition.slo.objective", "outside (0,1)"},
		{"objective above 1", func(d *nft.Definition) { d.SLO.Objective = 1.5 }, "definition.slo.objective", "outside (0,1)"},
		{"error budget not derived", func(d *nft.Definition) { d.SLO.ErrorBudget = 0.01 }, "definition.slo.error_budget", "1 - objective"},
		{"unparseable period", func(d *nft.Definition) { d.SLO.Period = "a month" }, "definition.slo.period", "unparseable period"},
		{"period too short", func(d *nft.Definition) { d.SLO.Period = "12h" }, "definition.slo.period", "outside 1d..366d"},
		{"empty PromQL", func(d *nft.Definition) { d.SLI.GoodQuery, d.SLI.TotalQuery = "", "" }, "definition.sli", "empty PromQL"},
		{"blank good query", func(d *nft.Definition) { d.SLI.GoodQuery = "  " }, "definition.sli.good_query", "empty PromQL"},
		{"query without window", func(d *nft.Definition) { d.SLI.TotalQuery = "sum(rate(x[5m]))" }, "definition.sli.total_query", "window placeholder"},
		{"unbalanced query", func(d *nft.Definition) { d.SLI.GoodQuery = "sum(rate(x[{{.window}}])" }, "definition.sli.good_query", "unbalanced"},
		{"both query forms", func(d *nft.Definition) { d.SLI.ErrorRatioQuery = "x[{{.window}}]" }, "definition.sli", "not both"},
		{"good equals total", func(d *nft.Definition) { d.SLI.GoodQuery = d.SLI.TotalQuery }, "definition.sli.good_query", "always be 100%"},
		{"unknown SLI kind", func(d *nft.Definition) { d.SLI.Kind = "vibes" }, "definition.sli.kind", "ratio, latency, availability"},
		{"latency without threshold", func(d *nft.Definition) { d.SLI.Kind = nft.KindLatency }, "definition.sli.latency_threshold_seconds", "positive threshold"},
		{"no metrics", func(d *nft.Definition) { d.SLI.Metrics = nil }, "definition.sli.metrics", "at least one metric"},
		{"bad metric name", func(d *nft.Definition) { d.SLI.Metrics[0].Name = "cpu usage" }, "definition.sli.metrics[0].name", "not a Prometheus metric name"},
		{"negative relevance", func(d *nft.Definition) { d.SLI.Metrics[1].Relevance = -1 }, "definition.sli.metrics[1].relevance", "non-negative"},
		{"bad service", func(d *nft.Definition) { d.SLI.Service = "AMF!" }, "definition.sli.service", "service name"},
		{"rules digest mismatch", func(d *nft.Definition) { d.Rules.YAML += "\n" }, "definition.rules.digest", "digest mismatch"},
		{"empty rules", func(d *nft.Definition) { d.Rules = nft.Rules{} }, "definition.rules.yaml", "empty"},
		{"version zero", func(d *nft.Definition) { d.Version = 0 }, "definition.version", "at least 1"},
		{"revision without predecessor", func(d *nft.Definition) { d.Version = 2 }, "definition.supersedes", "must name the token"},
		{"first version superseding", func(d *nft.Definition) { d.Supersedes = strings.Repeat("a", 64) }, "definition.supersedes", "version 1 cannot"},
		{"revision reason on a first version", func(d *nft.Definition) {
			d.Provenance.Revision = &nft.RevisionReason{Trigger: "breached", Reason: "missed in 2 of 3 periods"}
		}, "definition.provenance.revision", "only a definition that supersedes"},
		{"unknown revision trigger", func(d *nft.Definition) {
			d.Version, d.Supersedes = 2, strings.Repeat("a", 64)
			d.Provenance.Revision = &nft.RevisionReason{Trigger: "whim", Reason: "why not"}
		}, "definition.provenance.revision.trigger", "breached, silent, ranking, gone"},
		{"revision without a reason", func(d *nft.Definition) {
			d.Version, d.Supersedes = 2, strings.Repeat("a", 64)
			d.Provenance.Revision = &nft.RevisionReason{Trigger: "silent", Reason: "  "}
		}, "definition.provenance.revision.reason", "must say why"},
		{"revision reason too long", func(d *nft.Definition) {
			d.Version, d.Supersedes = 2, strings.Repeat("a", 64)
			d.Provenance.Revision = &nft.RevisionReason{Trigger: "ranking", Reason: strings.Repeat("x", 1025)}
		}, "definition.provenance.revision.reason", "longer than 1024"},
		{"round without model digest", func(d *nft.Definition) { d.Provenance.RoundID = "r1" }, "definition.provenance", "go together"},
		{"round without contributors", func(d *nft.Definition) {
			*d = nfttest.FromRound(*d, "r1", nft.DigestBytes(nil), "r1.amf")
		}, "definition.provenance.contributors", "must name its contributors"},
		{"unsorted contributors", func(d *nft.Definition) {
			*d = nfttest.FromRound(*d, "r1", nft.DigestBytes(nil), "r1.amf", "Org2MSP", "Org1MSP")
		}, "definition.provenance.contributors", "sorted"},
		{"failed validation check", func(d *nft.Definition) {
			d.Provenance.Validation[0] = nft.ValidationCheck{Name: "promql-parse", Passed: false, Detail: "bad"}
		}, "definition.provenance.validation[0]", "cannot be proposed"},
		{"no validation", func(d *nft.Definition) { d.Provenance.Validation = nil }, "definition.provenance.validation", "results of its validation"},
		{"llm without model digest", func(d *nft.Definition) {
			d.Provenance.Generator = nft.Generator{Kind: nft.GeneratorLLM, Name: "ollama", Version: "1", Model: "llama3", PromptDigest: nft.DigestBytes(nil)}
		}, "definition.provenance.generator.model_digest", "sha256"},
		{"unknown generator", func(d *nft.Definition) { d.Provenance.Generator.Kind = "oracle" }, "definition.provenance.generator.kind", "builtin, llm or import"},
		{"routing severities", func(d *nft.Definition) { d.Routing = &nft.Routing{Severities: "p1-p2"} }, "definition.routing.severities", "critical-warning"},
		{"routing runbook not a URL", func(d *nft.Definition) { d.Routing = &nft.Routing{RunbookURL: "wiki/slo"} }, "definition.routing.runbook_url", "absolute"},
		{"routing replaces severity", func(d *nft.Definition) {
			d.Routing = &nft.Routing{Labels: map[string]string{"severity": "low"}}
		}, "definition.routing.labels", "set by the rules"},
		{"routing bad label name", func(d *nft.Definition) {
			d.Routing = &nft.Routing{Labels: map[string]string{"team-name": "sre"}}
		}, "definition.routing.labels", "not a Prometheus label name"},
		{"routing replaces summary", func(d *nft.Definition) {
			d.Routing = &nft.Routing{Annotations: map[string]string{"summary": "x"}}
		}, "definition.routing.annotations", "written by the rules"},
		{"period sli", func(d *nft.Definition) { d.SLO.PeriodSLI = "mean" }, "definition.slo.period_sli", "sloth"},
		{"import without source", func(d *nft.Definition) {
			d.Provenance.Generator = nft.Generator{Kind: nft.GeneratorImport, Name: "srellama-import", Version: "1"}
		}, "definition.provenance.source", "must name the spec"},
		{"source without import", func(d *nft.Definition) {
			d.Provenance.Source = &nft.Source{Format: "openslo/v1", Name: "x.yaml", Digest: nft.DigestBytes(nil)}
		}, "definition.provenance.source", "only an imported"},
		{"bad proposer", func(d *nft.Definition) { d.Provenance.Proposer = "" }, "definition.provenance.proposer", "MSP ID"},
		{"unknown ranking basis", func(d *nft.Definition) { d.Provenance.RankingBasis = "vibes" }, "definition.provenance.ranking_basis", "learned or local_deviation"},
		{"short window not shorter", func(d *nft.Definition) { d.SLO.AlertPolicy[0].ShortWindow = "2h" }, "definition.slo.alert_policy[0].short_window", "shorter than the long window"},
		{"burn rate not derived", func(d *nft.Definition) { d.SLO.AlertPolicy[0].BurnRate = 10 }, "definition.slo.alert_policy[0].burn_rate", "budget_consumed x period"},
		{"alert that cannot fire", func(d *nft.Definition) {
			d.SLO.Objective, d.SLO.ErrorBudget = 0.9, nft.ErrorBudget(0.9)
		}, "definition.slo.alert_policy[0].burn_rate", "could never fire"},
		{"no alert policy", func(d *nft.Definition) { d.SLO.AlertPolicy = nil }, "definition.slo.alert_policy", "at least one"},
		{"duplicate window name", func(d *nft.Definition) { d.SLO.AlertPolicy[1].Name = d.SLO.AlertPolicy[0].Name }, "definition.slo.alert_policy[1].name", "used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := nfttest.Definition("amf", "Org1MSP")
			tt.mutate(&d)
			err := nft.ValidateDefinition(d)
			var verr *nft.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ValidateDefinition accepted it (err = %v)", err)
			}
			for _, p := range verr.Problems {
				if p.Field == tt.field && strings.Contains(p.Message, tt.mentioned) {
					return
				}
			}
			t.Errorf("no problem at %s mentioning %q; got: %v", tt.field, tt.mentioned, err)
		})
	}
}

// A definition without routing, period SLI or source keeps the token ID it
// had before those fields existed: they are omitted from the canonical
// form when empty.
func TestNewOptionalFieldsKeepOldTokenIDs(t *testing.T) {
	d := nfttest.Definition("amf", "Org1MSP")
	before := nfttest.Token(d).ID
	d.Routing = &nft.Routing{Severities: nft.SeverityNamesCriticalWarning, Labels: map[string]string{"team": "core"}}
	if err := nft.ValidateDefinition(d); err != nil {
		t.Fatal(err)
	}
	if nfttest.Token(d).ID == before {
		t.Error("routing is not part of the token ID")
	}
	d.Routing = nil
	if got := nfttest.Token(d).ID; got != before {
		t.Errorf("ID changed from %s to %s with every new field empty", before, got)
	}
	if canon, err := nft.Canonical(d); err != nil || strings.Contains(string(canon), "routing") || strings.Contains(string(canon), "period_sli") {
		t.Errorf("empty new fields are encoded: %s, %v", canon, err)
	}
}

func TestValidateTokenChecksSeal(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	if err := nft.ValidateToken(tok); err != nil {
		t.Fatalf("fixture token invalid: %v", err)
	}
	tests := []struct {
		name      string
		mutate    func(*nft.Token)
		mentioned string
	}{
		{"content changed after sealing", func(tk *nft.Token) { tk.Definition.Description = "edited" }, "does not match the definition"},
		{"mint record changed", func(tk *nft.Token) { tk.Mint.MintedAt = "2030-01-01T00:00:00Z" }, "digest mismatch"},
		{"forged digest", func(tk *nft.Token) { tk.Digest = nft.DigestBytes([]byte("x")) }, "digest mismatch"},
		{"wrong standard", func(tk *nft.Token) { tk.Standard = "erc-721" }, "must be \"s-528\""},
		{"superseded without successor", func(tk *nft.Token) { tk.State.Status = nft.StatusSuperseded }, "must name its successor"},
		{"unknown status", func(tk *nft.Token) { tk.State.Status = "burnt" }, "active, superseded or retired"},
		{"no approvals", func(tk *nft.Token) { tk.Mint.Approvals = nil }, "at least one approval"},
		{"unsorted approvals", func(tk *nft.Token) {
			tk.Mint.Approvals = append(tk.Mint.Approvals, nft.Approval{MSPID: "Org0MSP", TxID: "t", At: "2026-11-22T10:00:00Z"})
		}, "sorted by MSP ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
			tt.mutate(&tk)
			err := nft.ValidateToken(tk)
			if err == nil || !strings.Contains(err.Error(), tt.mentioned) {
				t.Errorf("ValidateToken = %v, want an error mentioning %q", err, tt.mentioned)
			}
		})
	}
}

func TestStateChangesKeepTheDigest(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	tok.State = nft.State{Owner: "Org2MSP", Status: nft.StatusSuperseded, SupersededBy: strings.Repeat("b", 64)}
	if err := nft.ValidateToken(tok); err != nil {
		t.Fatalf("transfers and supersession must not break the content digest: %v", err)
	}
}

func TestTokenIDIsDerivedFromTheDefinition(t *testing.T) {
	a := nfttest.Definition("amf", "Org1MSP")
	b := nfttest.Definition("amf", "Org1MSP")
	idA, _ := nft.TokenIDOf(a)
	idB, _ := nft.TokenIDOf(b)
	if idA != idB {
		t.Fatal("equal definitions must get equal IDs")
	}
	b.SLO.Objective, b.SLO.ErrorBudget = 0.995, nft.ErrorBudget(0.995)
	if idC, _ := nft.TokenIDOf(b); idC == idA {
		t.Fatal("different definitions must get different IDs")
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, err := nft.Encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	back, err := nft.DecodeToken(raw)
	if err != nil {
		t.Fatalf("DecodeToken(Encode(token)): %v", err)
	}
	again, _ := nft.Encode(back)
	if string(again) != string(raw) {
		t.Fatal("decode/encode is not a round trip")
	}
}

func TestDecodeRefusesUnknownFieldsAndTrailingData(t *testing.T) {
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	raw, _ := nft.Encode(tok)
	tests := map[string]string{
		"unknown field":  strings.Replace(string(raw), `{"definition"`, `{"colour":"red","definition"`, 1),
		"trailing data":  string(raw) + "{}",
		"not JSON":       "s-528",
		"empty document": "",
		"wrong type":     strings.Replace(string(raw), `"version":1`, `"version":"1"`, 1),
	}
	for name, in := range tests {
		if _, err := nft.DecodeToken([]byte(in)); err == nil {
			t.Errorf("%s: DecodeToken accepted it", name)
		}
	}
}

// TestDecodeStrictRefusesDuplicateKeysAndInvalidUTF8: encoding/json takes
// the last of two equal keys (and matches keys regardless of case) and
// replaces invalid UTF-8 with U+FFFD; DecodeStrict refuses both, at any
// depth, so no two readers of a document can see different values.
func TestDecodeStrictRefusesDuplicateKeysAndInvalidUTF8(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type doc struct {
		Name  string  `json:"name"`
		Inner inner   `json:"inner"`
		List  []inner `json:"list"`
	}
	tests := []struct {
		name, in, want string
	}{
		{"duplicate key", `{"name":"a","name":"b"}`, `duplicate key "name"`},
		{"duplicate key in another case", `{"name":"a","NAME":"b"}`, `duplicate key "NAME"`},
		{"duplicate key in a nested object", `{"inner":{"name":"a","name":"b"}}`, `duplicate key "name"`},
		{"duplicate key in an array element", `{"list":[{"name":"a"},{"name":"b","name":"c"}]}`, `duplicate key "name"`},
		{"invalid UTF-8 in a value", "{\"name\":\"a\xffb\"}", "not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"n\xc3\":\"a\"}", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := nft.DecodeStrict([]byte(tt.in), &d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeStrict(%q) = %v, want an error mentioning %q", tt.in, err, tt.want)
			}
		})
	}
	var d doc
	if err := nft.DecodeStrict([]byte(`{"name":"a","inner":{"name":"a"},"list":[{"name":"a"},{"name":"a"}]}`), &d); err != nil {
		t.Fatalf("equal keys in different objects refused: %v", err)
	}
}
