package cli

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// Pagination. Every list command prints one page and takes the same two
// flags: --page-size (how many items) and --bookmark, the one parameter
// that continues a listing: pass the next_bookmark a page printed (in JSON;
// the table prints "next page: --bookmark B") to get the page after it. A
// bookmark is opaque, printable (base64url) and bound to the listing that
// printed it: given to another command or filter it is refused.
const paginationHelp = "\n" + `
Lists print one page of --page-size items. When more follow, the table ends
with "next page: --bookmark B" and the JSON carries next_bookmark B: pass it
as --bookmark to the same command with the same filters for the next page.`

// listPage is the JSON output of every list command.
type listPage[T any] struct {
	Items        []T    `json:"items"`
	Count        int    `json:"count"`
	NextBookmark string `json:"next_bookmark"`
}

// cursor is what a bookmark encodes: the listing it belongs to and where
// the next page starts.
type cursor struct {
	Listing string `json:"l"`
	// After is the sort key of the last item shown, for listings the CLI
	// sorts itself.
	After []string `json:"a,omitempty"`
	// Owner and Inner resume a chaincode page: the owner being walked (for
	// a listing of every token) and the chaincode's own bookmark.
	Owner string `json:"o,omitempty"`
	Inner string `json:"b,omitempty"`
}

func (c cursor) encode() string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(cmd, listing, bookmark string) (cursor, error) {
	var c cursor
	if bookmark == "" {
		return cursor{Listing: listing}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(bookmark)
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.Listing != listing {
		return cursor{}, usagef("%s: --bookmark %q is not a bookmark this listing printed (repeat the command and filters that printed it)", cmd, bookmark)
	}
	return c, nil
}

// pageFlags adds --page-size and --bookmark.
func pageFlags(f *flags) (size *int, bookmark *string) {
	size = f.Int("page-size", records.DefaultPageSize, fmt.Sprintf("items per page (1 to %d)", records.MaxPageSize))
	bookmark = f.String("bookmark", "", "continue a listing: the next_bookmark its previous page printed")
	return size, bookmark
}

func checkPageSize(cmd string, n int) error {
	if n < 1 || n > records.MaxPageSize {
		return usagef("%s: --page-size must be 1 to %d, got %d", cmd, records.MaxPageSize, n)
	}
	return nil
}

// readAll reads every page of a chaincode listing.
func readAll[T any](ctx context.Context, read func(context.Context, chaincode.PageRequest) (records.Page[T], error)) ([]T, error) {
	var all []T
	bookmark := ""
	for {
		page, err := read(ctx, chaincode.PageRequest{Size: records.MaxPageSize, Bookmark: bookmark})
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if len(page.Items) == 0 || page.Bookmark == "" || page.Bookmark == bookmark {
			return all, nil
		}
		bookmark = page.Bookmark
	}
}

// sortedPage pages a listing the CLI sorts itself (by key, ascending):
// the items after the cursor's key, at most size, with the bookmark of the
// next page ("" on the last).
func sortedPage[T any](items []T, key func(T) []string, c cursor, size int) listPage[T] {
	slices.SortFunc(items, func(a, b T) int { return slices.Compare(key(a), key(b)) })
	start := 0
	if c.After != nil {
		start, _ = slices.BinarySearchFunc(items, c.After, func(item T, after []string) int {
			if slices.Compare(key(item), after) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+size, len(items))
	page := listPage[T]{Items: items[start:end], Count: end - start}
	if page.Items == nil {
		page.Items = []T{}
	}
	if end < len(items) {
		page.NextBookmark = cursor{Listing: c.Listing, After: key(items[end-1])}.encode()
	}
	return page
}

// sortableTime writes a ledger time with a fixed number of digits, so that
// times compare as strings (RFC 3339 with nanoseconds drops trailing zeros:
// "05.1Z" sorts after "05.12Z").
func sortableTime(s string) string {
	t, err := records.ParseTime(s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func printNext(w io.Writer, bookmark string) {
	if bookmark != "" {
		fmt.Fprintf(w, "\nnext page: --bookmark %s\n", bookmark)
	}
}

func runRoundList(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "round list", "", `
List the federated rounds on the ledger, oldest first (by the time they were
opened, then ID), with their status. --status keeps one status.`+paginationHelp, `
  srellama round list --connection ./ledger/orgs/Org1MSP/connection.json
  srellama round list --connection connection.json --status open --output json`)
	conn := connectionFlag(f, env, "")
	status := f.String("status", "", "only rounds with this status: open, finalized or failed")
	size, bookmark := pageFlags(f)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if err := checkPageSize("round list", *size); err != nil {
		return err
	}
	switch records.RoundStatus(*status) {
	case "", records.RoundOpen, records.RoundFinalized, records.RoundFailed:
	default:
		return usagef("round list: --status must be open, finalized or failed, got %q", *status)
	}
	c, err := decodeCursor("round list", "rounds/"+*status, *bookmark)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	all, err := readAll(ctx, cc.Rounds)
	if err != nil {
		return fmt.Errorf("round list: %w", err)
	}
	if *status != "" {
		all = slices.DeleteFunc(all, func(r records.Round) bool { return string(r.Status) != *status })
	}
	page := sortedPage(all, func(r records.Round) []string { return []string{sortableTime(r.OpenedAt), r.ID} }, c, *size)
	if f.json() {
		return writeJSON(env.Stdout, page)
	}
	t := newTable(env.Stdout, "ROUND", "STATUS", "OPENED", "SERVICES", "STRATEGY", "MEMBERS", "DEADLINE")
	for _, r := range page.Items {
		t.row(r.ID, string(r.Status), r.OpenedAt, join(r.Services), r.Strategy, fmt.Sprint(len(r.Members)), r.Deadline)
	}
	t.flush()
	printNext(env.Stdout, page.NextBookmark)
	return nil
}

// roundStatus is the JSON output of 'round status'.
type roundStatus struct {
	Round   records.Round           `json:"round"`
	Phase   string                  `json:"phase"`
	Updates []records.UpdateCommit  `json:"updates"`
	Votes   []records.AggregateVote `json:"votes"`
}

// phaseOf says where an open round stands at now.
func phaseOf(r records.Round, now time.Time) string {
	if r.Status != records.RoundOpen {
		return string(r.Status)
	}
	commit, _ := records.ParseTime(r.CommitDeadline)
	deadline, _ := records.ParseTime(r.Deadline)
	switch {
	case now.Before(commit):
		return "committing updates until " + r.CommitDeadline
	case now.Before(deadline):
		return "agreeing on the aggregate until " + r.Deadline
	default:
		return "past its deadline without quorum: any member may close it (round close)"
	}
}

func runRoundStatus(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "round status", "ROUND-ID", `
Show one round: its settings, its phase now, the members' committed updates
and their aggregate votes (Rounds:Get, Rounds:Updates, Rounds:Votes).`, `
  srellama round status --connection ./ledger/orgs/Org1MSP/connection.json r1
  srellama round status --connection connection.json r1 --output json`)
	conn := connectionFlag(f, env, "")
	id, err := f.parseID(args, roundIDArg)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	var st roundStatus
	if st.Round, err = cc.Round(ctx, id); err != nil {
		return fmt.Errorf("round status: %w", err)
	}
	if st.Updates, err = cc.Updates(ctx, id); err != nil {
		return fmt.Errorf("round status: %w", err)
	}
	if st.Votes, err = cc.Votes(ctx, id); err != nil {
		return fmt.Errorf("round status: %w", err)
	}
	st.Phase = phaseOf(st.Round, env.Now())
	if f.json() {
		return writeJSON(env.Stdout, st)
	}
	printRound(env.Stdout, st.Round)
	kv := []string{"phase", st.Phase}
	if st.Round.Status == records.RoundFinalized {
		kv = append(kv, "global model", st.Round.GlobalModelDigest, "contributors", join(st.Round.Contributors), "closed at", st.Round.ClosedAt)
	}
	if st.Round.FailureReason != "" {
		kv = append(kv, "failure", st.Round.FailureReason)
	}
	fields(env.Stdout, kv...)
	fmt.Fprintln(env.Stdout)
	t := newTable(env.Stdout, "ORGANIZATION", "UPDATE", "SAMPLES", "COMMITTED", "AGGREGATE VOTE", "VOTED")
	votes := map[string]records.AggregateVote{}
	for _, v := range st.Votes {
		votes[v.MSPID] = v
	}
	for _, m := range st.Round.Members {
		row := []string{m, "", "", "", "", ""}
		if i := slices.IndexFunc(st.Updates, func(u records.UpdateCommit) bool { return u.MSPID == m }); i >= 0 {
			u := st.Updates[i]
			row[1], row[2], row[3] = short(u.Digest), fmt.Sprint(u.Samples), u.CommittedAt
		}
		if v, ok := votes[m]; ok {
			row[4], row[5] = short(v.OutcomeDigest), v.SubmittedAt
		}
		t.row(row...)
	}
	t.flush()
	return nil
}

// short abbreviates a digest for a table.
func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12] + "…"
	}
	return digest
}

func runProposalList(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "proposal list", "", `
List the SLO proposals on the ledger, oldest first (by the time they were
made, then ID), with their status and votes needed. Filters narrow the list;
without them every proposal is listed (Generation:ListProposals).`+paginationHelp, `
  srellama proposal list --connection ./ledger/orgs/Org1MSP/connection.json --status open
  srellama proposal list --connection connection.json --service amf --output json`)
	conn := connectionFlag(f, env, "")
	status := f.String("status", "", "only proposals with this status: open, minted, retired, rejected or expired")
	service := f.String("service", "", "only proposals for this service")
	round := f.String("round", "", "only proposals citing this round")
	request := f.String("request", "", "only proposals answering this generation request")
	size, bookmark := pageFlags(f)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if err := checkPageSize("proposal list", *size); err != nil {
		return err
	}
	c, err := decodeCursor("proposal list", "proposals/"+*status+"/"+*service+"/"+*round+"/"+*request, *bookmark)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	all, err := readAll(ctx, cc.Proposals)
	if err != nil {
		return fmt.Errorf("proposal list: %w", err)
	}
	all = slices.DeleteFunc(all, func(p records.Proposal) bool {
		return *status != "" && string(p.Status) != *status || *service != "" && p.Definition.SLI.Service != *service ||
			*round != "" && p.Definition.Provenance.RoundID != *round || *request != "" && p.RequestID != *request
	})
	page := sortedPage(all, func(p records.Proposal) []string { return []string{sortableTime(p.ProposedAt), p.ID} }, c, *size)
	if f.json() {
		return writeJSON(env.Stdout, page)
	}
	t := newTable(env.Stdout, "PROPOSAL", "SERVICE", "SLO", "VERSION", "STATUS", "PROPOSER", "PROPOSED", "DEADLINE", "QUORUM")
	for _, p := range page.Items {
		d := p.Definition
		t.row(p.ID, d.SLI.Service, d.Name, fmt.Sprint(d.Version), string(p.Status), p.Proposer, p.ProposedAt, p.Deadline, fmt.Sprint(p.Quorum))
	}
	t.flush()
	printNext(env.Stdout, page.NextBookmark)
	return nil
}

// proposalView is the JSON output of 'proposal show'.
type proposalView struct {
	Proposal  records.Proposal   `json:"proposal"`
	Decisions []records.Decision `json:"decisions"`
}

func runProposalShow(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "proposal show", "PROPOSAL-ID", `
Show one proposal: the SLO it puts to the vote, its status, and each
member's decision with the figures it rests on (Generation:GetProposal,
Generation:Decisions). A proposal's ID is the ID of the token it mints.`, `
  srellama proposal show --connection ./ledger/orgs/Org1MSP/connection.json 4f1c0e...
  srellama proposal show --connection connection.json 4f1c0e... --output json`)
	conn := connectionFlag(f, env, "")
	id, err := f.parseID(args, proposalIDArg)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	var v proposalView
	if v.Proposal, err = cc.Proposal(ctx, id); err != nil {
		return fmt.Errorf("proposal show: %w", err)
	}
	if v.Decisions, err = cc.Decisions(ctx, id); err != nil {
		return fmt.Errorf("proposal show: %w", err)
	}
	if f.json() {
		return writeJSON(env.Stdout, v)
	}
	p, d := v.Proposal, v.Proposal.Definition
	evidence := ""
	if p.Evidence != nil {
		evidence = p.Evidence.Reason
	}
	fields(env.Stdout, "proposal", p.ID, "kind", string(p.Kind), "retires", p.Target, "evidence", evidence,
		"status", string(p.Status), "reason", p.Reason, "service", d.SLI.Service,
		"slo", d.Name, "version", fmt.Sprint(d.Version), "supersedes", d.Supersedes,
		"objective", formatObjective(d.SLO.Objective), "period", d.SLO.Period,
		"request", p.RequestID, "round", d.Provenance.RoundID, "proposer", p.Proposer, "proposed at", p.ProposedAt,
		"deadline", p.Deadline, "members", join(p.Members), "quorum", fmt.Sprint(p.Quorum),
		"min backed approvals", fmt.Sprint(p.MinBackedApprovals), "token", p.TokenID)
	fmt.Fprintln(env.Stdout)
	t := newTable(env.Stdout, "ORGANIZATION", "DECISION", "TIME", "TX", "FIGURES", "REASON")
	for _, dec := range v.Decisions {
		t.row(dec.MSPID, string(dec.Kind()), dec.At, dec.TxID, formatFigures(dec.Figures), dec.Reason)
	}
	t.flush()
	return nil
}

func runTokenList(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "token list", "", `
List s-528 tokens: those of one service, one owner or one round, or with no
filter every token, by owner then ID (Audit:ByService, Audit:ByOwner,
Audit:ByRound; every owner in turn without a filter).`+paginationHelp, `
  srellama token list --connection ./ledger/orgs/Org1MSP/connection.json
  srellama token list --connection connection.json --service amf --output json`)
	conn := connectionFlag(f, env, "")
	service := f.String("service", "", "only this service's tokens")
	owner := f.String("owner", "", "only the tokens this organization (MSP ID) owns")
	round := f.String("round", "", "only the tokens resting on this round")
	size, bookmark := pageFlags(f)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if err := checkPageSize("token list", *size); err != nil {
		return err
	}
	var filter, value string
	for _, fl := range []struct{ name, value string }{{"service", *service}, {"owner", *owner}, {"round", *round}} {
		if fl.value == "" {
			continue
		}
		if filter != "" {
			return usagef("token list: give at most one of --service, --owner and --round")
		}
		filter, value = fl.name, fl.value
	}
	c, err := decodeCursor("token list", "tokens/"+filter+"/"+value, *bookmark)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	page, err := tokenPage(ctx, cc, filter, value, c, *size)
	if err != nil {
		return fmt.Errorf("token list: %w", err)
	}
	if f.json() {
		return writeJSON(env.Stdout, page)
	}
	t := newTable(env.Stdout, "TOKEN", "SERVICE", "SLO", "VERSION", "OBJECTIVE", "PERIOD", "STATUS", "OWNER", "MINTED")
	for _, tok := range page.Items {
		d := tok.Definition
		t.row(tok.ID, d.SLI.Service, d.Name, fmt.Sprint(d.Version), formatObjective(d.SLO.Objective), d.SLO.Period,
			string(tok.State.Status), tok.State.Owner, tok.Mint.MintedAt)
	}
	t.flush()
	printNext(env.Stdout, page.NextBookmark)
	return nil
}

// tokenPage reads one page of tokens. With a filter it is one chaincode
// page; without one it walks the members' owner indexes in MSP ID order,
// filling the page across owners.
func tokenPage(ctx context.Context, cc *chaincode.Client, filter, value string, c cursor, size int) (listPage[nft.Token], error) {
	out := listPage[nft.Token]{Items: []nft.Token{}}
	if filter != "" {
		read := map[string]func(context.Context, string, chaincode.PageRequest) (records.Page[nft.Token], error){
			"service": cc.TokensByService, "owner": cc.TokensByOwner, "round": cc.TokensByRound,
		}[filter]
		page, err := read(ctx, value, chaincode.PageRequest{Size: size, Bookmark: c.Inner})
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, page.Items...)
		if len(page.Items) == size && page.Bookmark != "" && page.Bookmark != c.Inner {
			out.NextBookmark = cursor{Listing: c.Listing, Inner: page.Bookmark}.encode()
		}
		out.Count = len(out.Items)
		return out, nil
	}
	orgs, err := cc.ListOrganizations(ctx)
	if err != nil {
		return out, err
	}
	owners := make([]string, len(orgs))
	for i, o := range orgs {
		owners[i] = o.MSPID
	}
	slices.Sort(owners)
	inner := c.Inner
	for _, owner := range owners {
		if cmp.Compare(owner, c.Owner) < 0 {
			continue
		}
		if owner != c.Owner {
			inner = ""
		}
		want := size - len(out.Items)
		page, err := cc.TokensByOwner(ctx, owner, chaincode.PageRequest{Size: want, Bookmark: inner})
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, page.Items...)
		if len(page.Items) == want {
			// The page is full: the next starts after it, with this owner
			// when the chaincode says more may follow, else the next owner.
			next := cursor{Listing: c.Listing, Owner: owner, Inner: page.Bookmark}
			if page.Bookmark == "" || page.Bookmark == inner {
				next = cursor{Listing: c.Listing, Owner: owner + "\x00"}
			}
			out.NextBookmark = next.encode()
			break
		}
	}
	out.Count = len(out.Items)
	return out, nil
}

// versionInfo is the JSON output of 'version'.
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	BuildTime string `json:"build_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
	// Chaincode is the contracts' version built into this binary (the
	// embedded ledger hosts it); RoundProtocol and FLProtocol the versions
	// a quorum must share.
	Chaincode     string `json:"chaincode"`
	RoundProtocol int    `json:"round_protocol"`
	FLProtocol    int    `json:"fl_protocol"`
	// Ledger is what the ledger at --connection runs, when given.
	Ledger *ledgerVersion `json:"ledger,omitempty"`
}

type ledgerVersion struct {
	Chaincode  string `json:"chaincode"`
	Collection string `json:"collection"`
	Symbol     string `json:"symbol"`
}

func runVersion(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "version", "", `
Print this binary's version (module version, VCS revision and time when
built from a checkout), its Go version, and the chaincode and protocol
versions built in. With --connection it also asks the ledger which
chaincode version it runs, so that an operator sees a mismatch.`, `
  srellama version
  srellama version --connection ./ledger/orgs/Org1MSP/connection.json --output json`)
	conn := f.String("connection", "", "also report the version of the ledger's chaincode through this connection file")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Chaincode: contracts.Version, RoundProtocol: records.Protocol, FLProtocol: fl.ProtocolVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.BuildTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if *conn != "" {
		cc, closeLedger, err := dialClient(*conn, env)
		if err != nil {
			return err
		}
		defer closeLedger()
		lv := ledgerVersion{}
		if lv.Chaincode, err = cc.ChaincodeVersion(ctx); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if lv.Collection, err = cc.CollectionName(ctx); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if lv.Symbol, err = cc.CollectionSymbol(ctx); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		v.Ledger = &lv
	}
	if f.json() {
		return writeJSON(env.Stdout, v)
	}
	kv := []string{"srellama", v.Version, "revision", v.Revision, "built", v.BuildTime, "go", v.Go, "platform", v.Platform,
		"chaincode", v.Chaincode, "round protocol", fmt.Sprint(v.RoundProtocol), "fl protocol", fmt.Sprint(v.FLProtocol)}
	if v.Modified {
		kv[3] += " (modified)"
	}
	if v.Ledger != nil {
		kv = append(kv, "ledger chaincode", v.Ledger.Chaincode, "ledger collection", v.Ledger.Collection+" ("+v.Ledger.Symbol+")")
	}
	fields(env.Stdout, kv...)
	return nil
}
