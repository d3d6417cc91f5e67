package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/calllog"
	"custody/sync/engine"
	"custody/sync/fileimport"
	"custody/sync/logkey"
)

// AppID is the application's reverse-DNS identifier: the Fyne app ID, the name of its
// settings folder, and equal to the ID in FyneApp.toml.
const AppID = "org.custody.desktop"

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// errUsage marks a command-line mistake; the command's usage is printed with it.
var errUsage = errors.New("usage")

// Env is everything a command needs from the outside world. Tests build one with buffers
// and a temporary database.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Secrets        secrets.Store
	Logger         *slog.Logger

	// Calls is the machine-wide record of calls to rate-limited endpoints (Eloverblik's token
	// calls, limited per IP address), in the user's cache folder; nil leaves each database to
	// keep its own (tests).
	Calls *calllog.File

	// Drivers syncs each source kind; Formats imports each file format.
	Drivers map[string]engine.Driver
	Formats []fileimport.Format
	// ImportBatch is how long `custody import` holds the write lock before it commits a batch;
	// zero means store.ImportBatch. Tests make it short, to crash between batches.
	ImportBatch time.Duration
}

// runFunc runs one command.
type runFunc func(ctx context.Context, env *Env, c *invocation) error

// command is one subcommand.
type command struct {
	name    string
	args    string // the usage line after the name
	summary string
	// setup declares the command's flags on fs, bound to typed fields of a value of the
	// command's own (see withFlags), and returns the function that runs the command with them.
	// env gives the registered drivers, whose settings the sources command makes flags of.
	setup func(env *Env, fs *flag.FlagSet) runFunc
	// help, when set, writes more help after the flags.
	help func(env *Env, w io.Writer)
}

// invocation is one run of a command: its flag set and positional arguments.
type invocation struct {
	cmd  *command
	fs   *flag.FlagSet
	db   string
	args []string
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// withFlags is the setup of a command whose flags are the fields of a T: bind declares them
// on fs (fs.StringVar(&o.format, ...)), and run gets them typed after parsing.
func withFlags[T any](bind func(fs *flag.FlagSet, env *Env, o *T), run func(ctx context.Context, env *Env, c *invocation, o *T) error) func(*Env, *flag.FlagSet) runFunc {
	return func(env *Env, fs *flag.FlagSet) runFunc {
		o := new(T)
		bind(fs, env, o)
		return func(ctx context.Context, env *Env, c *invocation) error { return run(ctx, env, c, o) }
	}
}

// noFlags is the setup of a command without flags of its own.
func noFlags(run runFunc) func(*Env, *flag.FlagSet) runFunc {
	return func(*Env, *flag.FlagSet) runFunc { return run }
}

// parseInterspersed parses flags that may stand before or after positional arguments, as
// README.md's command line promises ("custody sources add greenbutton NAME --base-url ...").
// A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		// flag.Parse also stops after a lone "--" it consumed itself; detect that.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// defaultDBPath is the database in the app's data folder: the same folder Fyne's Storage API
// uses for this app ID, so the GUI and the CLI agree without the CLI needing Fyne.
func defaultDBPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = filepath.Join(os.TempDir(), "custody-"+fmt.Sprint(os.Getuid()))
	}
	return filepath.Join(dir, "fyne", AppID, "custody.db")
}

func (env *Env) dbPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := env.Getenv("CUSTODY_DB"); v != "" {
		return v
	}
	return defaultDBPath()
}

// openStore opens the invocation's database for reading and writing, and makes env.Secrets
// that database's own keyring items.
func (env *Env) openStore(ctx context.Context, c *invocation) (*store.Store, error) {
	return env.open(ctx, env.dbPath(c.db), store.Options{})
}

// openStoreForReading opens the invocation's database for a command that only reads it: a
// database written by a newer Custody is then opened read-only instead of refused.
func (env *Env) openStoreForReading(ctx context.Context, c *invocation) (*store.Store, error) {
	return env.open(ctx, env.dbPath(c.db), store.Options{ReadNewer: true})
}

func (env *Env) open(ctx context.Context, path string, opts store.Options) (*store.Store, error) {
	opts.OnUpgrade = func() {
		// Said on stderr, where a command's messages go, because the first start after an
		// upgrade can convert a large database for a minute before anything else happens.
		fmt.Fprintln(env.Stderr, "custody: bringing this database up to date for this version (once; a large one takes a minute or two)")
	}
	st, err := store.OpenWith(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	if st.ReadOnly() {
		env.Logger.Warn("this database was written by a newer Custody; reading it only", logkey.Op, "store.open")
	}
	if err := env.useDatabaseSecrets(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// useDatabaseSecrets makes env.Secrets the keyring items of st's database, moving the items
// its sources kept under the names of older Custody versions (shared by every database) the
// first time. A keyring that cannot be reached then is not an error here: commands that need
// no secret (export, say) go on, and the move is tried again at the next open.
func (env *Env) useDatabaseSecrets(ctx context.Context, st *store.Store) error {
	sc, ok := env.Secrets.(secrets.Scoper)
	if !ok {
		return nil // the demo's throwaway memory, or a test's own store
	}
	id, err := st.DatabaseID(ctx)
	if err != nil {
		return err
	}
	scoped := sc.ForDatabase(id)
	_, isKeyring := env.Secrets.(secrets.Keyring)
	env.Secrets = scoped
	if !isKeyring || st.ReadOnly() {
		return nil
	}
	if _, done, err := st.Meta(ctx, store.MetaKeyringScoped); err != nil || done {
		return err
	}
	srcs, err := st.Sources(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name)
	}
	if len(names) > 0 {
		n, err := secrets.MoveLegacy(secrets.Keyring{}, scoped, names)
		if err != nil {
			env.Logger.Warn("move keyring items to this database's names; will try again", logkey.Op, "secrets.move", logkey.Count, n, logkey.Err, err)
			return nil
		}
		if n > 0 {
			env.Logger.Info("moved keyring items to this database's names", logkey.Op, "secrets.move", logkey.Count, n)
		}
	}
	return st.SetMeta(ctx, store.MetaKeyringScoped, "1")
}

// runCommand parses args for the named command and runs it, returning the exit status.
func runCommand(ctx context.Context, env *Env, name string, args []string) int {
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "custody: unknown command %q\n\n", name)
		printUsage(env.Stderr)
		return exitUsage
	}
	c := &invocation{cmd: cmd}
	c.fs = flag.NewFlagSet("custody "+name, flag.ContinueOnError)
	c.fs.SetOutput(env.Stderr)
	c.fs.StringVar(&c.db, "db", "", "database file (default: $CUSTODY_DB, else the app's data folder)")
	run := cmd.setup(env, c.fs)
	// Parse quietly: the flag package's own messages are replaced by ours, printed once.
	c.fs.Usage = func() {}
	c.fs.SetOutput(io.Discard)
	pos, err := parseInterspersed(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(env, env.Stdout, c)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "custody %s: %v\n\n", name, err)
		commandUsage(env, env.Stderr, c)
		return exitUsage
	}
	c.args = pos
	err = run(ctx, env, c)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.Stderr, "custody %s: %v\n\n", name, strings.TrimSuffix(strings.TrimPrefix(err.Error(), "usage: "), ": usage"))
		commandUsage(env, env.Stderr, c)
		return exitUsage
	case errors.Is(err, errSilentFailure):
		return exitFailed
	}
	fmt.Fprintf(env.Stderr, "custody %s: %v\n", name, err)
	return exitFailed
}

// errSilentFailure means the command already told the user what failed.
var errSilentFailure = errors.New("failed")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errUsage)
}

func commandUsage(env *Env, w io.Writer, c *invocation) {
	fmt.Fprintf(w, "Usage: custody %s %s\n\n%s\n\nFlags:\n", c.cmd.name, c.cmd.args, c.cmd.summary)
	// The flags made from the drivers' settings are explained by the command's help, kind by
	// kind; the others are listed here.
	own := flag.NewFlagSet(c.fs.Name(), flag.ContinueOnError)
	c.fs.VisitAll(func(f *flag.Flag) {
		if _, made := f.Value.(*settingFlag); !made {
			own.Var(f.Value, f.Name, f.Usage)
		}
	})
	own.SetOutput(w)
	own.PrintDefaults()
	if c.cmd.help != nil {
		fmt.Fprintln(w)
		c.cmd.help(env, w)
	}
}

// brief is the first clause of a command's summary, on one line, for the list of commands.
func brief(summary string) string {
	para, _, _ := strings.Cut(summary, "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	for _, sep := range []string{". ", "; ", ": "} {
		if i := strings.Index(para, sep); i > 0 {
			para = para[:i]
		}
	}
	return strings.TrimSuffix(para, ".")
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, `Custody keeps your own energy and banking data on your own machine.

Usage:
  custody [--demo] [--db PATH]     open the app (--demo: a throwaway database and built-in simulators)
  custody COMMAND [flags] [args]

Commands:
`)
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, brief(commands[n].summary))
	}
	fmt.Fprintf(w, "\nEvery command takes --db PATH (default $CUSTODY_DB, else %s) and --help.\n", defaultDBPath())
}
