package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/store"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// tokenKeyPrefix starts the state keys of token records: Fabric composite
// keys are U+0000, the object type, U+0000, then each attribute followed by
// U+0000; the chaincode stores tokens under type "srl.token".
const tokenKeyPrefix = "\x00srl.token\x00"

// auditReport is the outcome of audit verify.
type auditReport struct {
	OK     bool         `json:"ok"`
	Chain  *checkResult `json:"chain,omitempty"`
	State  *checkResult `json:"state,omitempty"`
	Tokens *tokenCheck  `json:"tokens,omitempty"`
	// Notes say what was not checked and why.
	Notes []string `json:"notes,omitempty"`
}

type checkResult struct {
	OK     bool   `json:"ok"`
	Blocks uint64 `json:"blocks,omitempty"`
	Error  string `json:"error,omitempty"`
}

type tokenCheck struct {
	OK       bool           `json:"ok"`
	Checked  int            `json:"checked"`
	Source   string         `json:"source"` // "state" or "gateway"
	Failures []tokenFailure `json:"failures,omitempty"`
}

type tokenFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

func (c *tokenCheck) add(id string, t nft.Token, decodeErr error) {
	c.Checked++
	err := decodeErr
	if err == nil {
		err = nft.ValidateToken(t)
	}
	if err == nil && t.ID != id {
		err = fmt.Errorf("record is stored under %s but carries ID %s", id, t.ID)
	}
	if err != nil {
		c.Failures = append(c.Failures, tokenFailure{ID: id, Error: err.Error()})
	}
}

func runAuditVerify(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "audit verify", "", `
Audit a ledger. Exit status 0 when every check passes, 1 when one fails.

With --ledger-dir (an embedded ledger's folder; stop its service first, the
database allows one process): checks every block's checksum and the block
hash chain from the genesis block (each header's previous hash and data
hash), replays every valid transaction's writes and checks that the world
state is exactly their result (streaming through a scratch database in the
temporary folder, so memory stays flat however large the ledger), reads every
index table, and checks every token record in the state: its digest matches
its content (nft.ValidateToken) and it is stored under its own ID. Damage is
reported with the block or table it is in and the remedy.

With --connection (any organization's connection, embedded ledger or a real
Fabric peer): lists the members (Consortium:ListOrganizations), pages through
each one's tokens (Audit:ByOwner) and checks every token's digest the same
way. The Fabric Gateway API gives no access to blocks, so against a real
peer this command does not check the block chain (peers verify it as they
commit; 'peer channel fetch' retrieves blocks for an independent check).`, `
  srellama audit verify --ledger-dir ./ledger
  srellama audit verify --connection ./ledger/orgs/Org2MSP/connection.json --output json`)
	dir := f.String("ledger-dir", "", "embedded ledger folder to audit offline")
	conn := f.String("connection", "", "ledger connection file, to check tokens through the gateway")
	chaincode := f.String("chaincode", ChaincodeName, "chaincode namespace holding the tokens (with --ledger-dir)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *dir == "" && *conn == "" {
		return usagef("audit verify: give --ledger-dir, --connection or both")
	}
	var rep auditReport
	if *dir != "" {
		if err := auditStore(ctx, *dir, *chaincode, &rep); err != nil {
			return err
		}
	}
	if *conn != "" {
		gw, err := dialLedger(*conn, env)
		if err != nil {
			return err
		}
		defer gw.Close()
		tc, err := auditThroughGateway(ctx, gw)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		if rep.Tokens == nil {
			rep.Tokens = tc
		} else {
			rep.Notes = append(rep.Notes, fmt.Sprintf("through the gateway: %d tokens checked, %d failures", tc.Checked, len(tc.Failures)))
			rep.Tokens.Failures = append(rep.Tokens.Failures, tc.Failures...)
			rep.Tokens.OK = rep.Tokens.OK && tc.OK
		}
		if *dir == "" {
			rep.Notes = append(rep.Notes, "block chain and world state not checked: the gateway API does not expose blocks (use --ledger-dir for an embedded ledger)")
		}
	}
	rep.OK = (rep.Chain == nil || rep.Chain.OK) && (rep.State == nil || rep.State.OK) && (rep.Tokens == nil || rep.Tokens.OK)
	if f.json() {
		if err := writeJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		printAudit(env.Stdout, rep)
	}
	if !rep.OK {
		return errReported
	}
	return nil
}

// auditStore checks an embedded ledger's folder offline.
func auditStore(ctx context.Context, dir, chaincode string, rep *auditReport) error {
	s, err := embedledger.OpenStoreForAudit(dir)
	if err != nil {
		return fmt.Errorf("audit verify: %w (is 'srellama ledger' still serving it? stop it, or audit with --connection)", err)
	}
	defer s.Close()
	rep.Chain = &checkResult{OK: true}
	if n, err := embedledger.VerifyStore(ctx, s); err != nil {
		rep.Chain = &checkResult{Error: err.Error()}
	} else {
		rep.Chain.Blocks = n
	}
	rep.State = &checkResult{OK: true}
	if err := embedledger.VerifyState(ctx, s); err != nil {
		rep.State = &checkResult{Error: err.Error()}
	}
	tc := &tokenCheck{Source: "state"}
	err = s.View(func(snap *store.Snapshot) error {
		it := snap.Range(chaincode, tokenKeyPrefix, tokenKeyPrefix[:len(tokenKeyPrefix)-1]+"\x01")
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := strings.TrimSuffix(strings.TrimPrefix(e.Key, tokenKeyPrefix), "\x00")
			var t nft.Token
			err := json.Unmarshal(e.Value, &t)
			tc.add(id, t, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit verify: reading tokens: %w", err)
	}
	tc.OK = len(tc.Failures) == 0
	rep.Tokens = tc
	return nil
}

// auditThroughGateway checks every member's tokens with queries any member
// may run, so it works against a real Fabric peer as well.
func auditThroughGateway(ctx context.Context, l ledger.Ledger) (*tokenCheck, error) {
	cc := chaincode.New(l)
	orgs, err := cc.ListOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	tc := &tokenCheck{Source: "gateway"}
	seen := map[string]bool{}
	for _, org := range orgs {
		bookmark := ""
		for {
			page, err := cc.RawTokensByOwner(ctx, org.MSPID, chaincode.PageRequest{Size: records.MaxPageSize, Bookmark: bookmark})
			if err != nil {
				return nil, err
			}
			for _, raw := range page.Items {
				var t nft.Token
				err := json.Unmarshal(raw, &t)
				if seen[t.ID] {
					tc.Failures = append(tc.Failures, tokenFailure{ID: t.ID, Error: "listed under two owners"})
					continue
				}
				seen[t.ID] = true
				tc.add(t.ID, t, err)
			}
			if len(page.Items) == 0 || page.Bookmark == "" || page.Bookmark == bookmark {
				break
			}
			bookmark = page.Bookmark
		}
	}
	tc.OK = len(tc.Failures) == 0
	return tc, nil
}

func printAudit(w io.Writer, rep auditReport) {
	t := newTable(w, "CHECK", "RESULT", "DETAIL")
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	if c := rep.Chain; c != nil {
		detail := fmt.Sprintf("%d blocks hash-chained from genesis", c.Blocks)
		if !c.OK {
			detail = c.Error
		}
		t.row("block chain", verdict(c.OK), detail)
	}
	if c := rep.State; c != nil {
		detail := "equals the replay of every valid transaction"
		if !c.OK {
			detail = c.Error
		}
		t.row("world state", verdict(c.OK), detail)
	}
	if c := rep.Tokens; c != nil {
		t.row("token digests", verdict(c.OK), fmt.Sprintf("%d tokens checked (%s), %d failed", c.Checked, c.Source, len(c.Failures)))
	}
	t.flush()
	if rep.Tokens != nil && len(rep.Tokens.Failures) > 0 {
		fmt.Fprintln(w)
		ft := newTable(w, "TOKEN", "PROBLEM")
		for _, fl := range rep.Tokens.Failures {
			ft.row(fl.ID, fl.Error)
		}
		ft.flush()
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if rep.OK {
		fmt.Fprintln(w, "audit passed")
	} else {
		fmt.Fprintln(w, "audit FAILED")
	}
}
