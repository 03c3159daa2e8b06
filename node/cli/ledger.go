package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/fl"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/federation"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// ChaincodeName is the name the embedded ledger hosts the srellama chaincode
// under, and DefaultChannel its channel.
const (
	ChaincodeName  = "srellama"
	DefaultChannel = "consortium"
)

// ledgerService describes a running ledger service (the JSON output of the
// ledger command).
type ledgerService struct {
	Address   string       `json:"address"`
	Channel   string       `json:"channel"`
	Chaincode string       `json:"chaincode"`
	Dir       string       `json:"dir"`
	Orgs      []orgConnect `json:"orgs"`
}

type orgConnect struct {
	MSPID           string `json:"msp_id"`
	Connection      string `json:"connection"`
	AdminConnection string `json:"admin_connection"`
}

func runLedger(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "ledger", "", `
Run the embedded ledger as a standalone Fabric Gateway service with TLS on a
loopback address, hosting the srellama chaincode on one channel. On first start
it creates each organization's development CA and identities under DIR. It
writes each organization's connection files (client and admin identity), in
the format 'round open', 'token' and the node read for a real Fabric peer, and
serves until interrupted (Ctrl-C or SIGTERM stop it cleanly).`, `
  srellama ledger --dir ./ledger
  srellama ledger --dir ./ledger --listen 127.0.0.1:7051 --orgs Org1MSP,Org2MSP,Org3MSP`)
	dir := f.String("dir", "srellama-ledger", "folder for the ledger's database and crypto material (created if missing)")
	listen := f.String("listen", "127.0.0.1:7051", "loopback address to serve on (port 0 picks a free port)")
	orgs := f.String("orgs", "Org1MSP,Org2MSP,Org3MSP", "member organizations' MSP IDs, comma-separated")
	channel := f.String("channel", DefaultChannel, "channel name")
	timeWindow := f.Duration("time-window", embedledger.DefaultTimeWindow, "refuse proposals dated further than this from the ledger's clock (Fabric's peer.authentication.timewindow)")
	verifyBlocks := f.Int64("verify-blocks", 0, "verify the checksums of this many of the last blocks at start (0: every block; 'audit verify' checks them all)")
	lim := embedledger.DefaultLimits
	maxMessage := f.Int("max-message-bytes", lim.MaxMessageBytes, "largest request accepted")
	maxInFlight := f.Int64("max-inflight-bytes", lim.MaxInFlightBytes, "requests being received at once, each counted at --max-message-bytes")
	maxStreams := f.Uint("max-streams-per-conn", uint(lim.MaxStreamsPerConn), "concurrent calls on one client connection")
	maxConns := f.Int("max-connections", lim.MaxConnections, "open client connections; more are closed as they arrive")
	verbose := f.Bool("v", false, "log the ledger's operations on stderr")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("ledger: --dir is required")
	}
	if *verifyBlocks < 0 {
		return usagef("ledger: --verify-blocks must not be negative, got %d", *verifyBlocks)
	}
	if *maxMessage <= 0 || *maxInFlight < int64(*maxMessage) || *maxStreams == 0 || *maxStreams > 1<<31 || *maxConns <= 0 {
		return usagef("ledger: want --max-message-bytes > 0, --max-inflight-bytes >= --max-message-bytes, --max-streams-per-conn and --max-connections > 0")
	}
	if *timeWindow <= 0 {
		return usagef("ledger: --time-window must be positive, got %v", *timeWindow)
	}
	members := splitList(*orgs)
	if len(members) == 0 {
		return usagef("ledger: --orgs names no organization")
	}
	for _, m := range members {
		if !nft.IsValidMSPID(m) {
			return usagef("ledger: --orgs: %q is not an MSP ID", m)
		}
	}
	cc, err := contracts.New()
	if err != nil {
		return fmt.Errorf("ledger: chaincode: %w", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(env.Stderr, nil))
	}
	ready := func(addr string) {
		svc := ledgerService{Address: addr, Channel: *channel, Chaincode: ChaincodeName, Dir: *dir}
		for _, m := range members {
			svc.Orgs = append(svc.Orgs, orgConnect{m, embedledger.ConnectionConfigPath(*dir, m), embedledger.AdminConnectionConfigPath(*dir, m)})
		}
		printLedgerService(env.Stdout, svc, f.json())
		if env.LedgerReady != nil {
			env.LedgerReady(addr)
		}
	}
	err = embedledger.Serve(ctx, embedledger.ServeConfig{
		Ledger: embedledger.Config{
			Dir: *dir, Channel: *channel, Orgs: members,
			Chaincodes: map[string]shim.Chaincode{ChaincodeName: cc}, Logger: logger,
			TimeWindow: *timeWindow, VerifyBlocks: *verifyBlocks,
			Limits: embedledger.Limits{
				MaxMessageBytes: *maxMessage, MaxInFlightBytes: *maxInFlight,
				MaxStreamsPerConn: uint32(*maxStreams), MaxConnections: *maxConns,
			},
		},
		Address: *listen, Chaincode: ChaincodeName, Ready: ready,
	})
	if err != nil {
		return err
	}
	if !f.json() {
		fmt.Fprintln(env.Stderr, "ledger stopped")
	}
	return nil
}

func printLedgerService(w io.Writer, svc ledgerService, asJSON bool) {
	if asJSON {
		writeJSON(w, svc)
		return
	}
	fmt.Fprintf(w, "embedded ledger serving the Fabric Gateway API on %s (channel %s, chaincode %s)\n\n", svc.Address, svc.Channel, svc.Chaincode)
	t := newTable(w, "ORGANIZATION", "CLIENT CONNECTION", "ADMIN CONNECTION")
	for _, o := range svc.Orgs {
		t.row(o.MSPID, o.Connection, o.AdminConnection)
	}
	t.flush()
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

// connectionFlag adds --connection, defaulting to $SRELLAMA_CONNECTION.
func connectionFlag(f *flags, env Env, what string) *string {
	return f.String("connection", env.Getenv("SRELLAMA_CONNECTION"), "ledger connection file (JSON, as the ledger command writes for each organization"+what+"; default $SRELLAMA_CONNECTION)")
}

// dialLedger connects with the connection file at path; retried ledger
// calls are logged on standard error.
func dialLedger(path string, env Env) (*ledger.Gateway, error) {
	if path == "" {
		return nil, usagef("--connection is required (or set SRELLAMA_CONNECTION)")
	}
	cfg, err := ledger.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return ledger.Dial(cfg, ledger.WithLogger(logger))
}

// dialClient connects with the connection file at path and returns the
// chaincode's typed client with the function that closes the connection.
func dialClient(path string, env Env) (*chaincode.Client, func(), error) {
	gw, err := dialLedger(path, env)
	if err != nil {
		return nil, nil, err
	}
	return chaincode.New(gw), func() { gw.Close() }, nil
}

// DefaultFeatureSetDigest names the feature set rounds train on when none is
// given: the digest of fl's default feature specification.
func DefaultFeatureSetDigest() (string, error) {
	return federation.FeatureSetDigest(fl.DefaultFeatureSpec())
}

func runRoundOpen(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "round open", "", `
Open a federated round on the ledger (Rounds:Open). It needs an organization
admin's connection. The members registered now form the round's electorate;
the quorum defaults to their majority. Members commit their updates within
the commit window and agree on the aggregate before the deadline.`, `
  srellama round open --connection ./ledger/orgs/Org1MSP/connection-admin.json --id r1 --services amf,smf
  srellama round open --connection admin.json --id r2 --services upf --strategy multi-krum --min-participants 3 --commit-window 30m --deadline 1h --output json`)
	defaultFeatures, err := DefaultFeatureSetDigest()
	if err != nil {
		return err
	}
	conn := connectionFlag(f, env, ", an admin's")
	id := f.String("id", "", "round ID (a-z, 0-9, '_', '.', '-'); required")
	task := f.String("task", "sli-relevance", "learning task")
	services := f.String("services", "", "services the round learns, comma-separated; required")
	strategy := f.String("strategy", "fedavg", "aggregation strategy: fedavg, fedprox, median, trimmed-mean or multi-krum")
	minParticipants := f.Int("min-participants", 2, "fewest members whose updates the aggregate needs")
	quorum := f.Int("quorum", 0, "members that must submit the same aggregate (0: a majority of the members)")
	features := f.String("feature-set-digest", defaultFeatures, "digest of the feature set members train on (default: fl's default feature spec)")
	commitWindow := f.Duration("commit-window", 10*time.Minute, "how long members have to commit their updates")
	deadline := f.Duration("deadline", 30*time.Minute, "when the round ends, from now (after the commit window)")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *id == "" || *services == "" {
		return usagef("round open: --id and --services are required")
	}
	if *commitWindow <= 0 || *deadline <= *commitWindow {
		return usagef("round open: want 0 < --commit-window < --deadline, got %v and %v", *commitWindow, *deadline)
	}
	now := env.Now().UTC()
	// Services are a set: sorted, whatever order they were given in.
	serviceSet := splitList(*services)
	slices.Sort(serviceSet)
	spec := records.RoundSpec{
		ID: *id, Task: *task, Services: slices.Compact(serviceSet), FeatureSetDigest: *features,
		Strategy: *strategy, MinParticipants: *minParticipants, Quorum: *quorum,
		CommitDeadline: records.FormatTime(now.Add(*commitWindow)),
		Deadline:       records.FormatTime(now.Add(*deadline)),
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if _, err := records.ParseRoundSpec(string(raw)); err != nil { // refuse before dialing
		return usagef("round open: %v", err)
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	opened, err := cc.OpenRound(ctx, spec)
	if err != nil {
		return fmt.Errorf("round open: %w", err)
	}
	round := opened.Result
	if f.json() {
		return writeJSON(env.Stdout, round)
	}
	printRound(env.Stdout, round)
	return nil
}

func printRound(w io.Writer, r records.Round) {
	fields(w,
		"round", r.ID, "status", string(r.Status), "task", r.Task, "services", join(r.Services),
		"strategy", r.Strategy, "min participants", fmt.Sprint(r.MinParticipants), "quorum", fmt.Sprint(r.Quorum),
		"members", join(r.Members), "commit deadline", r.CommitDeadline, "deadline", r.Deadline,
		"opened by", r.OpenedBy, "opened at", r.OpenedAt, "transaction", r.OpenTxID)
}

func join(items []string) string { return strings.Join(items, ", ") }

// tokenCommand is the shared shape of the token subcommands: one token ID,
// one query of the chaincode client, one renderer.
func tokenCommand[T any](ctx context.Context, args []string, env Env, name string, query func(*chaincode.Client, context.Context, string) (T, error), description, examples string, render func(io.Writer, T)) error {
	f := newFlags(env, "token "+name, "TOKEN-ID", description, examples)
	conn := connectionFlag(f, env, "")
	id, err := f.parseID(args, tokenIDArg)
	if err != nil {
		return err
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	v, err := query(cc, ctx, id)
	if err != nil {
		return fmt.Errorf("token %s: %w", name, err)
	}
	if f.json() {
		return writeJSON(env.Stdout, v)
	}
	render(env.Stdout, v)
	return nil
}

func runTokenShow(ctx context.Context, args []string, env Env) error {
	return tokenCommand(ctx, args, env, "show", (*chaincode.Client).Token, `
Show one s-528 token as the ledger holds it (Tokens:Get), and whether its
digest matches its content. --output json prints the token itself.`, `
  srellama token show --connection ./ledger/orgs/Org2MSP/connection.json 4f1c0e...
  SRELLAMA_CONNECTION=connection.json srellama token show 4f1c0e... --output json`,
		printToken)
}

func printToken(w io.Writer, t nft.Token) {
	d := t.Definition
	digest := "matches the content"
	if err := nft.ValidateToken(t); err != nil {
		digest = "INVALID: " + err.Error()
	}
	fields(w,
		"id", t.ID, "name", d.Name, "service", d.SLI.Service, "kind", string(d.SLI.Kind),
		"objective", formatObjective(d.SLO.Objective), "period", d.SLO.Period,
		"error budget", formatObjective(d.SLO.ErrorBudget), "owner", t.State.Owner, "status", string(t.State.Status),
		"superseded by", t.State.SupersededBy, "minted at", t.Mint.MintedAt, "mint tx", t.Mint.TxID,
		"approvals", approvals(t.Mint.Approvals), "round", d.Provenance.RoundID,
		"generator", d.Provenance.Generator.Name+" "+d.Provenance.Generator.Version, "proposer", d.Provenance.Proposer,
		"digest", t.Digest+" ("+digest+")")
}

func approvals(as []nft.Approval) string {
	var names []string
	for _, a := range as {
		names = append(names, a.MSPID)
	}
	return join(names)
}

func formatObjective(x float64) string { return fmt.Sprintf("%.4g%%", 100*x) }

func runTokenHistory(ctx context.Context, args []string, env Env) error {
	return tokenCommand(ctx, args, env, "history", (*chaincode.Client).History, `
List every version of a token's record, oldest first (Audit:History): the
mint, transfers, supersession and retirement, each with its transaction.`, `
  srellama token history --connection ./ledger/orgs/Org3MSP/connection.json 4f1c0e...`,
		printHistory)
}

func printHistory(w io.Writer, h []records.HistoryEntry) {
	t := newTable(w, "TX", "TIME", "OWNER", "STATUS")
	for _, e := range h {
		owner, status := "", "deleted"
		if e.Token != nil {
			owner, status = e.Token.State.Owner, string(e.Token.State.Status)
		}
		t.row(e.TxID, e.Timestamp, owner, status)
	}
	t.flush()
}

func runTokenProvenance(ctx context.Context, args []string, env Env) error {
	return tokenCommand(ctx, args, env, "provenance", (*chaincode.Client).Provenance, `
Show how a token came to be (Audit:Provenance): its federated round with the
committed updates and aggregate votes, the generation request, the proposal,
each organization's decision, and the earlier versions it supersedes.`, `
  srellama token provenance --connection ./ledger/orgs/Org1MSP/connection.json 4f1c0e...
  srellama token provenance --connection connection.json 4f1c0e... --output json`,
		printProvenance)
}

func printProvenance(w io.Writer, p records.Provenance) {
	d := p.Token.Definition
	kv := []string{"token", p.Token.ID, "name", d.Name, "service", d.SLI.Service,
		"generator", d.Provenance.Generator.Name + " " + d.Provenance.Generator.Version,
		"global model", d.Provenance.GlobalModelDigest, "contributors", join(d.Provenance.Contributors)}
	if p.Round != nil {
		kv = append(kv, "round", p.Round.ID+" ("+string(p.Round.Status)+", opened by "+p.Round.OpenedBy+" at "+p.Round.OpenedAt+")",
			"updates committed", fmt.Sprint(len(p.Updates)), "aggregate votes", fmt.Sprint(len(p.Votes)))
	} else {
		kv = append(kv, "round", "")
	}
	if p.Request != nil {
		kv = append(kv, "request", p.Request.ID+" (by "+p.Request.RequestedBy+" at "+p.Request.RequestedAt+")")
	}
	if p.Proposal != nil {
		kv = append(kv, "proposal", p.Proposal.ID+" (by "+p.Proposal.Proposer+" at "+p.Proposal.ProposedAt+", "+string(p.Proposal.Status)+", quorum "+fmt.Sprint(p.Proposal.Quorum)+")")
	}
	kv = append(kv, "supersedes", join(p.Lineage))
	fields(w, kv...)
	if len(p.Decisions) > 0 {
		fmt.Fprintln(w)
		t := newTable(w, "ORGANIZATION", "DECISION", "TIME", "TX", "FIGURES", "REASON")
		for _, dec := range p.Decisions {
			t.row(dec.MSPID, string(dec.Kind()), dec.At, dec.TxID, formatFigures(dec.Figures), dec.Reason)
		}
		t.flush()
	}
}

// formatFigures writes a decision's figures in name order.
func formatFigures(f map[string]float64) string {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + "=" + strconv.FormatFloat(f[name], 'g', 6, 64)
	}
	return strings.Join(parts, " ")
}

func runGenerationRequest(ctx context.Context, args []string, env Env) error {
	f := newFlags(env, "generation request", "", `
Ask the consortium for a service's SLO by hand (Generation:Request): to
re-request work a round's request lost (it expired, or every member that
runs the service passed it), or to ask for a service no round covered. It
needs an organization admin's connection. The assignee generates from its
own data and proposes; when the service already has an active SLO the
proposal is its next version. --slis names the metrics to prefer, best
first (default: those of the service's active SLO). A proposal needs --min-backed organizations approving with figures
from their own data.`, `
  srellama generation request --connection ./ledger/orgs/Org1MSP/connection-admin.json --service amf --assignee Org2MSP
  srellama generation request --connection admin.json --service udm --slis fivegs_udm_ueauth_req,fivegs_udm_ueauth_succ --ttl 6h --output json`)
	conn := connectionFlag(f, env, ", an admin's")
	service := f.String("service", "", "service to generate an SLO for; required")
	slis := f.String("slis", "", "metrics to prefer, best first, comma-separated")
	assignee := f.String("assignee", "", "member asked to generate (default: this organization)")
	round := f.String("round", "", "finalized round whose model the proposal must cite")
	ttl := f.Duration("ttl", 0, "how long the request stays open (default 24h)")
	turn := f.Duration("turn", 0, "how long each assignee has before the request is reassigned (default 1h)")
	minBacked := f.Int("min-backed", records.DefaultMinBackedApprovals, "organizations that must approve with figures from their own data")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *service == "" {
		return usagef("generation request: --service is required")
	}
	spec := records.RequestSpec{Service: *service, Assignee: *assignee, RoundID: *round,
		TTLSeconds: int64(ttl.Seconds()), AssignTTLSeconds: int64(turn.Seconds()), MinBackedApprovals: *minBacked,
		SLIs: []nft.Metric{}}
	names := splitList(*slis)
	for i, name := range names {
		spec.SLIs = append(spec.SLIs, nft.Metric{Name: name, Relevance: 1 - float64(i)/float64(len(names))})
	}
	cc, closeLedger, err := dialClient(*conn, env)
	if err != nil {
		return err
	}
	defer closeLedger()
	if len(spec.SLIs) == 0 {
		// Without --slis, the metrics of the service's active SLO.
		if active, err := cc.ActiveTokens(ctx, *service); err == nil && len(active) > 0 {
			spec.SLIs = active[0].Definition.SLI.Metrics
		} else {
			return usagef("generation request: --slis is required: %s has no active SLO to take its metrics from", *service)
		}
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if _, err := records.ParseRequestSpec(string(raw)); err != nil {
		return usagef("generation request: %v", err)
	}
	requested, err := cc.RequestGeneration(ctx, spec)
	if err != nil {
		return fmt.Errorf("generation request: %w", err)
	}
	req := requested.Result
	if f.json() {
		return writeJSON(env.Stdout, req)
	}
	fields(env.Stdout, "request", req.ID, "service", req.Service, "status", string(req.Status), "assignee", req.Assignee,
		"assigned until", req.AssignedUntil, "deadline", req.Deadline, "min backed approvals", fmt.Sprint(req.MinBackedApprovals),
		"transaction", req.TxID)
	return nil
}
