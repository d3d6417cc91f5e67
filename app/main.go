// Package app is Custody's composition root: it finds the database, opens the keyring, wires
// the protocol drivers into the engine, and runs either the GUI or a command-line subcommand.
package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"custody/app/secrets"
)

// Main runs Custody with the program's arguments (without the program name) and returns the
// process exit status.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := NewEnv(os.Stdin, os.Stdout, os.Stderr)
	return Run(ctx, env, args)
}

// NewEnv returns the environment of a real run: the OS keyring, every driver and file format,
// and logs as text on stderr at warning level and above unless CUSTODY_LOG=debug|info.
func NewEnv(stdin io.Reader, stdout, stderr io.Writer) *Env {
	level := slog.LevelWarn
	switch os.Getenv("CUSTODY_LOG") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	env := &Env{
		Stdin:   stdin,
		Stdout:  stdout,
		Stderr:  stderr,
		Getenv:  os.Getenv,
		Secrets: secrets.Keyring{},
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	env.Calls = machineCallLog(env.Logger)
	env.Drivers = drivers(env)
	env.Formats = fileFormats()
	return env
}

// Run dispatches args: a subcommand, or the GUI when there is none.
func Run(ctx context.Context, env *Env, args []string) int {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return runCommand(ctx, env, args[0], args[1:])
	}
	fs := flag.NewFlagSet("custody", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	db := fs.String("db", "", "database file (default: $CUSTODY_DB, else the app's data folder)")
	demo := fs.Bool("demo", false, "use a throwaway database and the built-in simulators of every custodian")
	// Parse quietly and print the usage once, ourselves.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			printUsage(env.Stdout)
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "custody: %v\n\n", err)
		printUsage(env.Stderr)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return runCommand(ctx, env, fs.Arg(0), append(fs.Args()[1:], dbFlag(*db)...))
	}
	if err := runGUI(ctx, env, guiOptions{DBPath: env.dbPath(*db), Demo: *demo}); err != nil {
		fmt.Fprintf(env.Stderr, "custody: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func dbFlag(db string) []string {
	if db == "" {
		return nil
	}
	return []string{"--db", db}
}
