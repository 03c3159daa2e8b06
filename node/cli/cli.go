// Package cli is the srellama command-line tool: a tree of subcommands, each
// a plain function of its arguments, its I/O writers, the environment and a
// context, so that tests run every command in-process. Parsing uses the
// standard library's flag package, one FlagSet per subcommand. The main
// package only turns signals into a cancelled context and returns Run's exit
// code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/srellama/srellama/nft"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and failed (or found a failure)
	ExitUsage = 2 // unknown command or flag, missing or bad argument
)

// Env is what a command may touch besides its arguments.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (secrets such as a Prometheus token come
	// from it rather than from flags, so they stay out of process lists).
	Getenv func(string) string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LedgerReady, when set, is called with the address the ledger command
	// bound, once clients can connect (tests use it with --listen :0).
	LedgerReady func(addr string)
	// ListenReady, when set, is called with the address simulate --listen
	// bound, once Prometheus can scrape it.
	ListenReady func(addr string)
}

// OSEnv is the process's environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	return e
}

// command is one node of the command tree: a leaf runs, a group dispatches
// to its subcommands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env Env) error
	subs    []*command
}

func commands() []*command {
	return []*command{
		{name: "demo", summary: "run a three-organization consortium on embedded parts, from metrics to minted, audited SLO tokens", run: runDemo},
		{name: "node", summary: "run one organization's node from its configuration", run: runNode},
		{name: "simulate", summary: "serve a simulated organization's live /metrics, or write its history as OpenMetrics for promtool backfill", run: runSimulate},
		{name: "ledger", summary: "run the embedded ledger as a TLS Fabric Gateway service on loopback", run: runLedger},
		{name: "round", summary: "federated rounds on the ledger", subs: []*command{
			{name: "open", summary: "open a federated round (Rounds:Open)", run: runRoundOpen},
			{name: "list", summary: "list rounds, oldest first, a page at a time (Rounds:List)", run: runRoundList},
			{name: "status", summary: "one round's phase, committed updates and aggregate votes", run: runRoundStatus},
			{name: "close", summary: "fail a round whose deadline passed without quorum (Rounds:Close)", run: runRoundClose},
		}},
		{name: "schedule", summary: "rounds on a schedule the consortium governs", subs: []*command{
			{name: "set", summary: "record or change a round schedule (Schedules:Set)", run: runScheduleSet},
			{name: "show", summary: "list the schedules, or show one with its current and next round", run: runScheduleShow},
			{name: "stop", summary: "stop a round schedule, with a reason (Schedules:Stop)", run: runScheduleStop},
		}},
		{name: "proposal", summary: "SLO proposals on the ledger", subs: []*command{
			{name: "list", summary: "list proposals, oldest first, a page at a time (Generation:ListProposals)", run: runProposalList},
			{name: "show", summary: "one proposal with each member's decision and figures", run: runProposalShow},
			{name: "approve", summary: "approve a proposal by hand, without figures (Generation:Decide)", run: runProposalApprove},
			{name: "reject", summary: "reject a proposal by hand, with a reason (Generation:Decide)", run: runProposalReject},
		}},
		{name: "generation", summary: "SLO generation on the ledger", subs: []*command{
			{name: "request", summary: "ask the consortium for a service's SLO by hand (Generation:Request)", run: runGenerationRequest},
		}},
		{name: "token", summary: "s-528 tokens on the ledger", subs: []*command{
			{name: "list", summary: "list tokens, all or by service, owner or round, a page at a time", run: runTokenList},
			{name: "show", summary: "show one token (Tokens:Get)", run: runTokenShow},
			{name: "history", summary: "every version of a token (Audit:History)", run: runTokenHistory},
			{name: "provenance", summary: "how a token came to be (Audit:Provenance)", run: runTokenProvenance},
			{name: "transfer", summary: "transfer a token to another member (Tokens:TransferFrom)", run: runTokenTransfer},
			{name: "compliance", summary: "how a token's SLO did on each member's data, per period, with a chart (Audit:Compliance)", run: runTokenCompliance},
			{name: "revise", summary: "request a revision on evidence (Generation:RequestRevision), or the owner's direct one with --definition", run: runTokenRevise},
			{name: "retire", summary: "the owner retires a token (--reason), or any member proposes it on evidence (--on-evidence)", run: runTokenRetire},
		}},
		{name: "audit", summary: "audit the ledger", subs: []*command{
			{name: "verify", summary: "check the block hash chain, the world state and every token's digest", run: runAuditVerify},
		}},
		{name: "slo", summary: "SLO synthesis", subs: []*command{
			{name: "generate", summary: "generate one service's SLO and Prometheus rules offline from a metric source", run: runSLOGenerate},
			{name: "import", summary: "import Sloth or OpenSLO SLO specs: validate them, write their rules or propose them to the consortium", run: runSLOImport},
			{name: "export", summary: "export a token or definition as OpenSLO, a Sloth spec or a PrometheusRule", run: runSLOExport},
		}},
		{name: "dataset", summary: "evaluation on public datasets", subs: []*command{
			{name: "eval", summary: "run the federated evaluation on an SMD-format folder", run: runDatasetEval},
		}},
		{name: "version", summary: "this binary's version, and the ledger chaincode's with --connection", run: runVersion},
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errReported is a failure already reported to the user (a failed audit):
// exit code 1 without a second message.
var errReported = errors.New("reported")

// Run runs the command line args (without the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, env Env) int {
	env = env.withDefaults()
	err := dispatch(ctx, commands(), nil, args, env)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errReported):
		return ExitFail
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(env.Stderr, "srellama: %s\n", ue.msg)
		return ExitUsage
	}
	fmt.Fprintf(env.Stderr, "srellama: %v\n", err)
	return ExitFail
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// dispatch finds the command args name under path and runs it.
func dispatch(ctx context.Context, cmds []*command, path []string, args []string, env Env) error {
	switch {
	case len(args) == 0:
		printGroupUsage(env.Stderr, path, cmds)
		if len(path) == 0 {
			return usagef("missing command")
		}
		return usagef("%s: missing subcommand", strings.Join(path, " "))
	case len(path) == 0 && args[0] == "help" && len(args) > 1: // srellama help token show
		return dispatch(ctx, cmds, nil, append(args[1:], "-h"), env)
	case isHelp(args[0]):
		printGroupUsage(env.Stdout, path, cmds)
		return flag.ErrHelp
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		p := append(append([]string(nil), path...), c.name)
		if c.subs != nil {
			return dispatch(ctx, c.subs, p, args[1:], env)
		}
		return c.run(ctx, args[1:], env)
	}
	if len(path) == 0 {
		return usagef("unknown command %q (see 'srellama help')", args[0])
	}
	return usagef("unknown command %q (try 'srellama %s -h')", strings.Join(append(path, args[0]), " "), strings.Join(path, " "))
}

func printGroupUsage(w io.Writer, path []string, cmds []*command) {
	name := strings.Join(append([]string{"srellama"}, path...), " ")
	if len(path) == 0 {
		fmt.Fprint(w, "srellama: federated SLIs, SLOs and alerts for a consortium, with s-528 tokens on a Fabric ledger.\n\n")
	}
	fmt.Fprintf(w, "Usage:\n  %s <command> [flags] [arguments]\n\nCommands:\n", name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var walk func(prefix string, cs []*command)
	walk = func(prefix string, cs []*command) {
		for _, c := range cs {
			if c.subs != nil {
				walk(prefix+c.name+" ", c.subs)
				continue
			}
			fmt.Fprintf(tw, "  %s%s\t%s\n", prefix, c.name, c.summary)
		}
	}
	walk("", cmds)
	tw.Flush()
	fmt.Fprintf(w, "\nEvery command takes -h for its flags and examples, and --output json for machine-readable output.\n")
	if len(path) == 0 {
		fmt.Fprint(w, `
Examples:
  srellama ledger --dir ./ledger
  srellama round open --connection ./ledger/orgs/Org1MSP/connection-admin.json --id r1 --services amf,smf
  srellama token show --connection ./ledger/orgs/Org2MSP/connection.json 4f1c0e...
  srellama audit verify --ledger-dir ./ledger
  srellama slo generate --source simulator --service amf --rules-out amf.rules.yml
  srellama dataset eval ../shared/datasets/smd --output json
`)
	}
}

// flags is a subcommand's flag set with its usage text and the output
// format every command takes.
type flags struct {
	*flag.FlagSet
	output                *string
	nargs                 string // positional arguments, for the usage line
	env                   Env
	description, examples string
}

func newFlags(env Env, name, nargs, description, examples string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package's own messages are replaced by parse's: usage on
	// stdout for -h, the error and a pointer to -h on stderr otherwise.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := &flags{FlagSet: fs, nargs: nargs, env: env, description: description, examples: examples}
	f.output = fs.String("output", "table", "output format: table or json")
	return f
}

func (f *flags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", strings.TrimSpace("srellama "+f.Name()+" [flags] "+f.nargs), strings.TrimSpace(f.description))
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	if ex := strings.Trim(f.examples, "\n"); ex != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", ex)
	}
}

// parse parses flags wherever they appear among the positional arguments
// (srellama token show ID --output json), checks the positional count and
// the output format.
// idKind is what a command's one argument names, and how it is checked.
type idKind struct {
	what  string
	valid func(string) bool
	form  string
}

var (
	tokenIDArg    = idKind{"token ID", nft.IsTokenID, "64 lowercase hex digits"}
	proposalIDArg = idKind{"proposal ID", nft.IsTokenID, "64 lowercase hex digits"}
	roundIDArg    = idKind{"round ID", nft.IsValidName, "a-z, 0-9, '_', '.', '-'"}
	scheduleIDArg = idKind{"schedule ID", nft.IsValidName, "a-z, 0-9, '_', '.', '-'"}
)

// parseID parses a command line whose one argument is an ID of kind k.
func (f *flags) parseID(args []string, k idKind) (string, error) {
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return "", err
	}
	if !k.valid(pos[0]) {
		return "", usagef("%s: %q is not a %s (%s)", f.Name(), pos[0], k.what, k.form)
	}
	return pos[0], nil
}

func (f *flags) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printUsage(f.env.Stdout)
				return nil, err
			}
			return nil, usagef("%s: %v (see 'srellama %s -h')", f.Name(), err, f.Name())
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		want := fmt.Sprintf("%d", minArgs)
		if maxArgs != minArgs {
			want = fmt.Sprintf("%d to %d", minArgs, maxArgs)
		}
		return nil, usagef("%s: want %s argument(s) %s, got %d", f.Name(), want, f.nargs, len(pos))
	}
	if *f.output != "table" && *f.output != "json" {
		return nil, usagef("%s: --output must be table or json, got %q", f.Name(), *f.output)
	}
	return pos, nil
}

func (f *flags) json() bool { return *f.output == "json" }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
