package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/cli"
	"github.com/srellama/srellama/node/embedledger"
)

// page is the JSON every list command prints.
type page[T any] struct {
	Items        []T    `json:"items"`
	Count        int    `json:"count"`
	NextBookmark string `json:"next_bookmark"`
}

// decodeJSON parses a command's JSON output strictly into v.
func decodeJSON(t *testing.T, r result, v any, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", what, r.code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("%s: output is not the expected JSON: %v\n%s", what, err, r.stdout)
	}
}

var printable = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// walkPages follows a listing's bookmarks to its end.
func walkPages[T any](t *testing.T, args ...string) (pages [][]T) {
	t.Helper()
	bookmark := ""
	for range 20 {
		a := append(append([]string(nil), args...), "--output", "json")
		if bookmark != "" {
			a = append(a, "--bookmark", bookmark)
		}
		var p page[T]
		decodeJSON(t, run(context.Background(), t, cli.Env{}, a...), &p, strings.Join(args[:2], " "))
		if p.Count != len(p.Items) {
			t.Errorf("count %d for %d items", p.Count, len(p.Items))
		}
		pages = append(pages, p.Items)
		if p.NextBookmark == "" {
			return pages
		}
		if !printable.MatchString(p.NextBookmark) {
			t.Fatalf("bookmark %q is not printable", p.NextBookmark)
		}
		bookmark = p.NextBookmark
	}
	t.Fatal("the listing did not end in 20 pages")
	return nil
}

// The operator commands against a running 'srellama ledger': rounds listed
// by time and paged, a round's status, proposals, tokens without a filter,
// the version, and their refusals.
func TestOperatorCommands(t *testing.T) {
	ctx := context.Background()
	dir := startConsortiumLedger(t)
	admin1 := embedledger.AdminConnectionConfigPath(dir, "Org1MSP")
	client2 := embedledger.ConnectionConfigPath(dir, "Org2MSP")
	env := cli.Env{Now: time.Now}

	// Services in any order come out sorted; rounds list by time, not ID.
	var zeta records.Round
	decodeJSON(t, run(ctx, t, env, "round", "open", "--connection", admin1, "--id", "zeta", "--services", "smf,amf,smf", "--output", "json"), &zeta, "round open")
	if !slices.Equal(zeta.Services, []string{"amf", "smf"}) {
		t.Errorf("services %v, want [amf smf]", zeta.Services)
	}
	if r := run(ctx, t, env, "round", "open", "--connection", admin1, "--id", "alpha", "--services", "upf"); r.code != 0 {
		t.Fatalf("round open alpha: %s", r.stderr)
	}
	pages := walkPages[records.Round](t, "round", "list", "--connection", client2, "--page-size", "1")
	if len(pages) != 2 || len(pages[0]) != 1 || pages[0][0].ID != "zeta" || len(pages[1]) != 1 || pages[1][0].ID != "alpha" {
		t.Errorf("round list pages: %+v", pages)
	}
	r := run(ctx, t, env, "round", "list", "--connection", client2)
	if r.code != 0 || strings.Index(r.stdout, "zeta") > strings.Index(r.stdout, "alpha") || !strings.Contains(r.stdout, "ROUND") {
		t.Errorf("round list table:\n%s%s", r.stdout, r.stderr)
	}
	var none page[records.Round]
	decodeJSON(t, run(ctx, t, env, "round", "list", "--connection", client2, "--status", "finalized", "--output", "json"), &none, "round list --status")
	if none.Items == nil || len(none.Items) != 0 {
		t.Errorf("finalized rounds: %+v (want an empty list, not null)", none)
	}
	var st struct {
		Round   records.Round           `json:"round"`
		Phase   string                  `json:"phase"`
		Updates []records.UpdateCommit  `json:"updates"`
		Votes   []records.AggregateVote `json:"votes"`
	}
	decodeJSON(t, run(ctx, t, env, "round", "status", "--connection", client2, "zeta", "--output", "json"), &st, "round status")
	if st.Round.ID != "zeta" || !strings.HasPrefix(st.Phase, "committing updates until") || st.Updates == nil || st.Votes == nil {
		t.Errorf("round status %+v", st)
	}
	if r := run(ctx, t, env, "round", "status", "--connection", client2, "zeta"); r.code != 0 || !strings.Contains(r.stdout, "phase:") || !strings.Contains(r.stdout, "Org3MSP") {
		t.Errorf("round status table:\n%s%s", r.stdout, r.stderr)
	}

	// Tokens: every token without a filter, across owners and pages.
	amf, smf, udm := mint(t, dir, "amf"), mint(t, dir, "smf"), mint(t, dir, "udm")
	submit(t, dial(t, admin1), nil, "Tokens:TransferFrom", "Org1MSP", "Org3MSP", smf)
	var ids []string
	for _, p := range walkPages[nft.Token](t, "token", "list", "--connection", client2, "--page-size", "2") {
		for _, tok := range p {
			ids = append(ids, tok.ID)
		}
	}
	slices.Sort(ids)
	want := []string{amf, smf, udm}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("token list without a filter: %v, want %v", ids, want)
	}
	byService := walkPages[nft.Token](t, "token", "list", "--connection", client2, "--service", "smf")
	if len(byService) != 1 || len(byService[0]) != 1 || byService[0][0].ID != smf || byService[0][0].State.Owner != "Org3MSP" {
		t.Errorf("token list --service smf: %+v", byService)
	}
	if r := run(ctx, t, env, "token", "list", "--connection", client2); r.code != 0 || !strings.Contains(r.stdout, udm) || !strings.Contains(r.stdout, "TOKEN") {
		t.Errorf("token list table:\n%s%s", r.stdout, r.stderr)
	}

	// Proposals: listed, filtered, shown with their decisions.
	props := walkPages[records.Proposal](t, "proposal", "list", "--connection", client2)
	if len(props) != 1 || len(props[0]) != 3 || props[0][0].ID != amf || props[0][2].ID != udm || props[0][0].Status != records.ProposalMinted {
		t.Errorf("proposal list (oldest first): %+v", props)
	}
	filtered := walkPages[records.Proposal](t, "proposal", "list", "--connection", client2, "--service", "udm", "--status", "minted")
	if len(filtered[0]) != 1 || filtered[0][0].ID != udm {
		t.Errorf("proposal list --service udm: %+v", filtered)
	}
	var shown struct {
		Proposal  records.Proposal   `json:"proposal"`
		Decisions []records.Decision `json:"decisions"`
	}
	decodeJSON(t, run(ctx, t, env, "proposal", "show", "--connection", client2, amf, "--output", "json"), &shown, "proposal show")
	if shown.Proposal.ID != amf || shown.Proposal.TokenID != amf || len(shown.Decisions) < 2 {
		t.Errorf("proposal show %+v", shown)
	}
	if r := run(ctx, t, env, "proposal", "show", "--connection", client2, amf); r.code != 0 || !strings.Contains(r.stdout, "DECISION") || !strings.Contains(r.stdout, "approve") {
		t.Errorf("proposal show table:\n%s%s", r.stdout, r.stderr)
	}

	// version, with the ledger's chaincode.
	var v struct {
		Version   string `json:"version"`
		Go        string `json:"go"`
		Chaincode string `json:"chaincode"`
		Ledger    *struct {
			Chaincode, Collection, Symbol string
		} `json:"ledger"`
	}
	decodeJSON(t, run(ctx, t, env, "version", "--connection", client2, "--output", "json"), &v, "version")
	if v.Version == "" || v.Go == "" || v.Chaincode != contracts.Version || v.Ledger == nil || v.Ledger.Chaincode != contracts.Version || v.Ledger.Symbol == "" {
		t.Errorf("version %+v %+v", v, v.Ledger)
	}

	// Refusals: clear, with the usage exit code for the command line's
	// mistakes and 1 for the ledger's.
	refusals := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"proposal", "show", "--connection", client2, "nope"}, 2, "not a proposal ID"},
		{[]string{"proposal", "show", "--connection", client2, strings.Repeat("0", 64)}, 1, "not found"},
		{[]string{"round", "status", "--connection", client2, "missing"}, 1, "not found"},
		{[]string{"round", "list", "--connection", client2, "--status", "done"}, 2, "--status must be"},
		{[]string{"round", "list", "--connection", client2, "--page-size", "0"}, 2, "--page-size must be"},
		{[]string{"token", "list", "--connection", client2, "--service", "amf", "--owner", "Org1MSP"}, 2, "at most one of"},
		{[]string{"token", "list", "--connection", client2, "--bookmark", "%%%"}, 2, "not a bookmark this listing printed"},
		{[]string{"round", "list"}, 2, "--connection is required"},
	}
	for _, tt := range refusals {
		r := run(ctx, t, env, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
	// A bookmark is bound to the listing that printed it.
	var first page[records.Round]
	decodeJSON(t, run(ctx, t, env, "round", "list", "--connection", client2, "--page-size", "1", "--output", "json"), &first, "round list")
	if r := run(ctx, t, env, "token", "list", "--connection", client2, "--bookmark", first.NextBookmark); r.code != 2 || !strings.Contains(r.stderr, "not a bookmark this listing printed") {
		t.Errorf("a round list bookmark given to token list: %d %q", r.code, r.stderr)
	}
}
