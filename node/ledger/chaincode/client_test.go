package chaincode_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// transactions lists every transaction the chaincode's contracts define,
// as "Contract:Function".
func transactions() []string {
	ctxType := reflect.TypeFor[contractapi.TransactionContextInterface]()
	var out []string
	for name, c := range map[string]any{
		"Consortium": &contracts.Consortium{}, "Rounds": &contracts.Rounds{}, "Generation": &contracts.Generation{},
		"Tokens": &contracts.Tokens{}, "Audit": &contracts.Audit{},
		"Schedules": &contracts.Schedules{}, "Compliance": &contracts.Compliance{},
	} {
		t := reflect.TypeOf(c)
		for i := range t.NumMethod() {
			m := t.Method(i)
			if m.Type.NumIn() > 1 && m.Type.In(1) == ctxType {
				out = append(out, name+":"+m.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Every transaction has its function in the client, and the client calls
// no transaction the chaincode lacks.
func TestClientCoversEveryTransaction(t *testing.T) {
	// Every non-test file of the package: the client's functions are
	// spread over files by contract area.
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^[A-Z][A-Za-z]*:[A-Z][A-Za-z]*$`)
	var called []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, _ := strconv.Unquote(lit.Value); name.MatchString(s) && !slices.Contains(called, s) {
					called = append(called, s)
				}
			}
			return true
		})
	}
	slices.Sort(called)
	want := transactions()
	for _, tx := range want {
		if !slices.Contains(called, tx) {
			t.Errorf("the client has no function for %s", tx)
		}
	}
	for _, tx := range called {
		if !slices.Contains(want, tx) {
			t.Errorf("the client calls %s, which the chaincode does not define", tx)
		}
	}
}

// fake answers every call with a fixed result and records the call.
type fake struct {
	result []byte
	err    error
	calls  []string
}

func (f *fake) Submit(_ context.Context, fn string, args ...string) ([]byte, string, error) {
	f.calls = append(f.calls, fn+" "+strings.Join(args, "|"))
	return f.result, "tx1", f.err
}

func (f *fake) Evaluate(_ context.Context, fn string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, fn+" "+strings.Join(args, "|"))
	return f.result, f.err
}

func (f *fake) Events(context.Context, *ledger.Checkpoint) (<-chan ledger.Event, error) {
	return nil, errors.New("no events")
}

func (f *fake) Close() error { return nil }

func TestClientEncodesArgumentsAndDecodesResults(t *testing.T) {
	ctx := context.Background()
	l := &fake{result: []byte(`{"items":[{"id":"r1","status":"open"}],"bookmark":"b","count":1}`)}
	c := chaincode.New(l)
	page, err := c.Rounds(ctx, chaincode.PageRequest{Size: 2, Bookmark: "x"})
	if err != nil || page.Count != 1 || page.Items[0].ID != "r1" || page.Items[0].Status != records.RoundOpen || page.Bookmark != "b" {
		t.Fatalf("Rounds: %+v %v", page, err)
	}
	if _, err := c.Rounds(ctx, chaincode.PageRequest{}); err != nil {
		t.Fatal(err)
	}
	l.result = []byte(`{"id":"r2","services":["amf"],"status":"open"}`)
	got, err := c.OpenRound(ctx, records.RoundSpec{ID: "r2", Services: []string{"amf"}})
	if err != nil || got.TxID != "tx1" || got.Result.ID != "r2" {
		t.Fatalf("OpenRound: %+v %v", got, err)
	}
	want := []string{"Rounds:List 2|x", "Rounds:List |", `Rounds:Open {"commit_deadline":"","deadline":"",`}
	for i, w := range want {
		if !strings.HasPrefix(l.calls[i], w) {
			t.Errorf("call %d = %q, want it to start with %q", i, l.calls[i], w)
		}
	}
	// A result of the wrong shape names the transaction.
	l.result = []byte(`[1,2]`)
	if _, err := c.Round(ctx, "r1"); err == nil || !strings.Contains(err.Error(), "Rounds:Get: result") {
		t.Errorf("a list for a round: %v", err)
	}
	// The ledger's refusal passes through unchanged.
	refusal := &ledger.ChaincodeError{Fn: "Tokens:Get", Message: "token not found"}
	l.err = refusal
	if _, err := c.Token(ctx, strings.Repeat("a", 64)); !errors.Is(err, refusal) {
		t.Errorf("refusal: %v", err)
	}
	l.err, l.result = nil, []byte("3")
	if n, err := c.BalanceOf(ctx, "Org1MSP"); n != 3 || err != nil {
		t.Errorf("BalanceOf = %d, %v", n, err)
	}
}

// Decisions travel as the chaincode parses them: a DecisionSpec, which
// records.ParseDecisionSpec (strict: no unknown fields) accepts.
func TestDecisionArgumentsParse(t *testing.T) {
	ctx := context.Background()
	l := &fake{result: []byte(`{"id":"p1","status":"open"}`)}
	c := chaincode.New(l)
	spec := records.DecisionSpec{Verdict: records.VerdictReject, Reason: "pages falsely", Figures: map[string]float64{"false_pages": 3}}
	if _, err := c.Decide(ctx, "p1", spec); err != nil {
		t.Fatal(err)
	}
	approve := records.DecisionSpec{Verdict: records.VerdictApprove, Figures: map[string]float64{"history_days": 7}}
	if _, err := c.ProposeWith(ctx, "r1", nfttest.Definition("amf", "Org1MSP"), approve); err != nil {
		t.Fatal(err)
	}
	for i, want := range []records.DecisionSpec{spec, approve} {
		args := strings.Split(l.calls[i], "|")
		got, err := records.ParseDecisionSpec(args[len(args)-1])
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("call %q: decision %+v, %v; want %+v", l.calls[i], got, err, want)
		}
	}
}

// An attestation leaves who, when and the transaction to the ledger; the
// compliance helper reads every page.
func TestAttestAndAllCompliance(t *testing.T) {
	ctx := context.Background()
	l := &fake{result: []byte(`{"token_id":"t"}`)}
	c := chaincode.New(l)
	if _, err := c.Attest(ctx, records.Attestation{TokenID: "t", MSPID: "Org1MSP", At: "now", TxID: "tx"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.calls[0], "Org1MSP") || !strings.HasPrefix(l.calls[0], "Compliance:Attest ") {
		t.Fatalf("Attest sent %s", l.calls[0])
	}
	pages := &pager{pages: []string{
		`{"items":[{"msp_id":"Org1MSP"},{"msp_id":"Org2MSP"}],"bookmark":"b1","count":2}`,
		`{"items":[{"msp_id":"Org3MSP"}],"bookmark":"","count":1}`,
	}}
	all, err := chaincode.New(pages).AllCompliance(ctx, "t")
	if err != nil || len(all) != 3 || all[2].MSPID != "Org3MSP" {
		t.Fatalf("AllCompliance = %+v, %v", all, err)
	}
	if want := []string{"Audit:Compliance t|200|", "Audit:Compliance t|200|b1"}; !slices.Equal(pages.calls, want) {
		t.Fatalf("calls %q, want %q", pages.calls, want)
	}
	recent := &fake{result: []byte(`[{"msp_id":"Org2MSP"}]`)}
	got, err := chaincode.New(recent).RecentCompliance(ctx, "t")
	if err != nil || len(got) != 1 || got[0].MSPID != "Org2MSP" || !slices.Equal(recent.calls, []string{"Audit:RecentCompliance t"}) {
		t.Fatalf("RecentCompliance = %+v, %v after calls %q", got, err, recent.calls)
	}
}

// pager answers successive evaluations with successive pages.
type pager struct {
	fake
	pages []string
}

func (p *pager) Evaluate(_ context.Context, fn string, args ...string) ([]byte, error) {
	p.calls = append(p.calls, fn+" "+strings.Join(args, "|"))
	out := p.pages[0]
	p.pages = p.pages[1:]
	return []byte(out), nil
}
