// Command hookd is the webhook sending server and its command line.
//
// "hookd serve" runs the server: it opens the store named by
// --database-url (SQLite by default, PostgreSQL for several nodes), applies
// its migrations, makes sure an admin API key exists, starts the delivery
// engine and serves the HTTP API and the dashboard (/ui/) on one address
// until SIGTERM or SIGINT, when it shuts down gracefully. "hookd migrate"
// only applies migrations; "hookd version" prints the version. The other
// commands ("hookd endpoint create", "hookd event publish", "hookd
// deliveries list" …) are clients of a running server's API (package
// client), configured by --server/HOOKD_SERVER and --key/HOOKD_KEY.
//
// Every flag of serve is also an environment variable (HOOKD_ADDR,
// HOOKD_DATABASE_URL, HOOKD_ADMIN_KEY, HOOKD_ALLOW_NETWORK,
// HOOKD_RETENTION, …), so a container needs no command line; a variable set
// to the empty string counts as unset. Bad flags or variables exit with
// status 2 before anything is opened, runtime failures with 1.
//
// Once listening, serve logs one line that names the bound address, so that
// "--addr 127.0.0.1:0" can be used by scripts and tests:
//
//	time=… level=INFO msg=listening addr=127.0.0.1:43127
//
// This package is the only place that knows every other one: it wires the
// store, the engine, the API and the dashboard together, and nothing
// imports it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/hookd/hookd"
)

// cli is the whole command line. Each command is a struct whose Run method
// kong calls with the bindings made in run.
type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the server: HTTP API and delivery engine."`
	Migrate migrateCmd `cmd:"" help:"Apply database migrations and exit."`
	Version versionCmd `cmd:"" help:"Print the version and exit."`

	clientCommands `embed:""`
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line or environment is wrong
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful shutdown; restoring the
		// default handling lets a second one end the process at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitRequest is panicked by kong's Exit hook (on --help) and recovered
// by run, so that tests never see os.Exit.
type exitRequest struct{ code int }

// newParser returns the kong parser that fills c. Exit requests (--help)
// panic with exitRequest instead of ending the process.
func newParser(c *cli, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("hookd"),
		kong.Description("hookd sends webhooks: publish events, it signs, delivers, retries and logs every attempt."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
	)
}

// run parses args and runs the chosen command, returning the exit status.
// ctx is cancelled when the process is asked to stop.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	dropEmptyEnv()
	var c cli
	parser, err := newParser(&c, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "hookd: %v\n", err)
		return exitError
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && len(args) == 0 {
			_ = pe.Context.PrintUsage(true)
		}
		fmt.Fprintf(stderr, "hookd: %v\n", err)
		return exitUsage
	}
	env := &runEnv{ctx: ctx, stdout: stdout, stderr: stderr}
	if err := kctx.Run(env); err != nil {
		fmt.Fprintf(stderr, "hookd: %v\n", err)
		return exitError
	}
	return exitOK
}

// envPrefix starts every environment variable hookd reads.
const envPrefix = "HOOKD_"

// dropEmptyEnv unsets HOOKD_ variables that are set but empty, as
// container tools leave them ("HOOKD_ADDR="). Kong would take the empty
// value over the default, and an empty --addr listens on every interface.
func dropEmptyEnv() {
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && value == "" {
			os.Unsetenv(name)
		}
	}
}

// runEnv is what every command's Run receives.
type runEnv struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

type versionCmd struct{}

func (versionCmd) Run(env *runEnv) error {
	_, err := fmt.Fprintln(env.stdout, hookd.Version)
	return err
}
