package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/logkey"
	"custody/sync/settings"
)

// SecretField is the keyring field of a source's client secret.
const SecretField = settings.KeyClientSecret

func init() {
	register(&command{
		name: "sources",
		args: "list | add KIND NAME [flags] | edit NAME [flags] | remove NAME | test NAME | connect NAME [--no-browser] [--timeout 5m] | enable NAME | disable NAME",
		summary: `Manage sources. KIND is one of the kinds below, each with its own flags. The client secret is
read from standard input with --secret-stdin (one line) or prompted for, and goes to the OS keyring
only. edit changes only the settings given: an empty value (--scope "") or false (--follow=false)
removes one, and --secret-stdin replaces the secret.`,
		setup: withFlags(bindSourcesFlags, runSources),
		help:  sourcesHelp,
	})
}

// sourcesFlags are the flags of `custody sources`: --secret-stdin, and one flag for each
// setting of the registered kinds, made from their descriptions.
type sourcesFlags struct {
	secretStdin bool
	settings    *settingFlags
	// connect's own flags.
	noBrowser bool
	timeout   time.Duration
}

func bindSourcesFlags(fs *flag.FlagSet, env *Env, o *sourcesFlags) {
	fs.BoolVar(&o.secretStdin, "secret-stdin", false, "read the client secret from standard input (one line)")
	fs.BoolVar(&o.noBrowser, "no-browser", false, "connect: print the address only, do not open the browser")
	fs.DurationVar(&o.timeout, "timeout", espi.DefaultConnectTimeout, "connect: how long to wait for the browser")
	o.settings = bindSettingFlags(fs, kinds(env))
}

// sourcesHelp lists each kind's flags, from the kinds' descriptions.
func sourcesHelp(env *Env, w io.Writer) {
	fmt.Fprintln(w, "Flags of add and edit, by kind:")
	for _, k := range kinds(env) {
		fmt.Fprintln(w)
		_ = settings.WriteUsage(w, k)
	}
}

// kinds describes the registered kinds, by name.
func kinds(env *Env) []settings.Kind {
	var out []settings.Kind
	for _, d := range env.Drivers {
		out = append(out, d.Describe())
	}
	slices.SortFunc(out, func(a, b settings.Kind) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// kindNamed returns the description of the named kind.
func kindNamed(env *Env, name string) (settings.Kind, error) {
	var names []string
	for _, k := range kinds(env) {
		if k.Name == name {
			return k, nil
		}
		names = append(names, k.Name)
	}
	return settings.Kind{}, fmt.Errorf("unknown source kind %q: say %s", name, strings.Join(names, ", "))
}

// settingFlag is a command-line flag made from a setting (of one kind or several): it keeps
// every value given, for settings.Build to check.
type settingFlag struct {
	vals   []string
	isBool bool
	isList bool
}

func (f *settingFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.vals, ",")
}

func (f *settingFlag) Set(v string) error {
	f.vals = append(f.vals, v)
	return nil
}

// IsBoolFlag lets a Bool setting's flag stand without a value (--follow).
func (f *settingFlag) IsBoolFlag() bool { return f.isBool }

// settingFlags are the flags made from the settings of every kind, by flag name.
type settingFlags struct {
	fs    *flag.FlagSet
	flags map[string]*settingFlag
}

// bindSettingFlags declares one flag on fs for each flag name any kind's settings use (the
// first kind's hint is its usage; `custody sources --help` explains them kind by kind).
func bindSettingFlags(fs *flag.FlagSet, kinds []settings.Kind) *settingFlags {
	sf := &settingFlags{fs: fs, flags: map[string]*settingFlag{}}
	for _, k := range kinds {
		for _, s := range k.Settings {
			if s.Type == settings.Secret || fs.Lookup(s.Flag) != nil {
				continue
			}
			f := &settingFlag{isBool: s.Type == settings.Bool, isList: s.Type == settings.List}
			sf.flags[s.Flag] = f
			fs.Var(f, s.Flag, s.Hint)
		}
	}
	return sf
}

// given returns the settings given on the command line, for a source of kind k. A boolean
// flag of another kind given as false is left out: it asks for nothing.
func (sf *settingFlags) given(k settings.Kind) settings.Values {
	v := settings.Values{}
	sf.fs.Visit(func(f *flag.Flag) {
		s, ok := sf.flags[f.Name]
		if !ok {
			return
		}
		if _, mine := k.ByFlag(f.Name); !mine && s.isBool && !slices.ContainsFunc(s.vals, func(v string) bool { on, _ := strconv.ParseBool(v); return on }) {
			return
		}
		v[f.Name] = s.vals
	})
	return v
}

func runSources(ctx context.Context, env *Env, c *invocation, o *sourcesFlags) error {
	if len(c.args) == 0 {
		return usageErr("say list, add, edit, remove, test, connect, enable or disable")
	}
	sub, args := c.args[0], c.args[1:]
	open := env.openStore
	if sub == "list" {
		open = env.openStoreForReading
	}
	st, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		return listSources(ctx, env, st)
	case "add":
		if len(args) != 2 {
			return usageErr("add needs KIND and NAME")
		}
		return addSource(ctx, env, st, o, args[0], args[1])
	case "edit":
		if len(args) != 1 {
			return usageErr("edit needs NAME")
		}
		return editSource(ctx, env, st, o, args[0])
	case "remove", "rm":
		if len(args) != 1 {
			return usageErr("remove needs NAME")
		}
		src, err := st.SourceByName(ctx, args[0])
		if err != nil {
			return err
		}
		unregisterAtBank(ctx, env, st, src)
		if err := st.RemoveSource(ctx, args[0]); err != nil {
			return err
		}
		if err := secrets.DeleteAll(env.Secrets, args[0]); err != nil {
			fmt.Fprintf(env.Stderr, "warning: the source is removed but its secrets could not be deleted from the keyring: %v\n", err)
		}
		fmt.Fprintf(env.Stdout, "removed source %s and its secrets; the data it brought in stays\n", args[0])
		return nil
	case "enable", "disable":
		if len(args) != 1 {
			return usageErr("%s needs NAME", sub)
		}
		src, err := st.SourceByName(ctx, args[0])
		if err != nil {
			return err
		}
		src.Enabled = sub == "enable"
		if err := st.UpdateSource(ctx, &src); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%sd source %s\n", sub, src.Name)
		return nil
	case "test":
		if len(args) != 1 {
			return usageErr("test needs NAME")
		}
		return testSource(ctx, env, st, args[0])
	case "connect":
		if len(args) != 1 {
			return usageErr("connect needs NAME")
		}
		return connectSource(ctx, env, st, o, args[0])
	}
	return usageErr("unknown sources subcommand %q", sub)
}

// listSources prints each source with the settings a person needs to see, as its kind
// describes them; a secret shows only where it is kept.
func listSources(ctx context.Context, env *Env, st *store.Store) error {
	srcs, err := st.Sources(ctx)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		fmt.Fprintln(env.Stdout, "no sources configured; add one with `custody sources add`")
		return nil
	}
	for i, s := range srcs {
		last := "never"
		if runs, err := st.Runs(ctx, s.ID, 1); err == nil && len(runs) > 0 {
			last = runs[0].Started.Local().Format("2006-01-02 15:04") + " " + runs[0].Status
		}
		state := "enabled"
		if !s.Enabled {
			state = "disabled"
		}
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "%s: %s, %s, last sync %s\n", s.Name, s.Kind, state, last)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		if k, err := kindNamed(env, s.Kind); err == nil {
			for _, sh := range settings.Show(k, s) {
				flag := "--" + sh.Setting.Flag
				if sh.Setting.Type == settings.Secret {
					flag = "--secret-stdin"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", sh.Setting.Label, flag, sh.Value)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func addSource(ctx context.Context, env *Env, st *store.Store, o *sourcesFlags, kind, name string) error {
	k, err := kindNamed(env, kind)
	if err != nil {
		return usageErr("%v", err)
	}
	src, err := settings.Build(k, name, o.settings.given(k))
	if err != nil {
		return usageErr("%v", err)
	}
	if _, err := st.SourceByName(ctx, name); err == nil {
		return fmt.Errorf("a source named %q already exists; remove it first or choose another name", name)
	}
	// The keyring first: if it is unavailable the source is not half-configured.
	fields, err := storeSecrets(env, k, &src, o.settings.given(k), o.secretStdin)
	if err != nil {
		return err
	}
	if err := st.AddSource(ctx, &src); err != nil {
		for _, f := range fields {
			_ = env.Secrets.DeleteSecret(name, f)
		}
		return err
	}
	switch {
	case len(fields) == 0 && len(k.Secrets()) == 0:
		fmt.Fprintf(env.Stdout, "added %s source %s\n", kind, name)
	case len(fields) == 0:
		fmt.Fprintf(env.Stdout, "added %s source %s; it needs no secret\n", kind, name)
	case slices.Contains(fields, SecretField):
		fmt.Fprintf(env.Stdout, "added %s source %s; its secret is in the OS keyring\n", kind, name)
	default:
		fmt.Fprintf(env.Stdout, "added %s source %s; its keys are in the OS keyring (%s)\n", kind, name, strings.Join(fields, ", "))
	}
	warnOpenListener(env, src)
	return nil
}

// unregisterAtBank deletes what the source registered at its custodian, and says what it
// did or why it could not; the source is removed locally either way.
func unregisterAtBank(ctx context.Context, env *Env, st *store.Store, src store.Source) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The engine's Unregister, guarded like a sync, as the app's is.
	msg, err := newEngine(env, st).Unregister(ctx, src.Name)
	if err != nil {
		fmt.Fprintf(env.Stdout, "could not delete the source's registration at the bank: %v\n  what to do: %s\n", err, adviceFor(err))
		return
	}
	if msg != "" {
		fmt.Fprintln(env.Stdout, msg)
	}
}

// editSource changes the settings given on the command line and leaves the others.
func editSource(ctx context.Context, env *Env, st *store.Store, o *sourcesFlags, name string) error {
	src, err := st.SourceByName(ctx, name)
	if err != nil {
		return err
	}
	k, err := kindNamed(env, src.Kind)
	if err != nil {
		return err
	}
	given := o.settings.given(k)
	if len(given) == 0 && !o.secretStdin {
		return usageErr("say which settings of %s to change, such as --interval 1h, or --secret-stdin", name)
	}
	changed, err := settings.Apply(k, src, given)
	if err != nil {
		return usageErr("%v", err)
	}
	fields, keep, err := secretsToStore(env, k, &changed, given, o.secretStdin, false)
	if err != nil {
		return err
	}
	// The source first: if its update fails, the keyring is untouched and the working secret
	// stays. Then the secrets, all or none (secrets.Replace); if they cannot be stored, the
	// source gets its earlier settings back, which go with the secrets kept.
	if err := st.UpdateSource(ctx, &changed); err != nil {
		return err
	}
	if err := secrets.Replace(env.Secrets, name, fields, keep); err != nil {
		if rerr := st.UpdateSource(context.WithoutCancel(ctx), &src); rerr != nil {
			return fmt.Errorf("%w; and the source's earlier settings could not be put back: %v", err, rerr)
		}
		return fmt.Errorf("%w; the source is unchanged", err)
	}
	fmt.Fprintf(env.Stdout, "changed source %s\n", name)
	return nil
}

// storeSecrets puts in the keyring what a new source keeps there (secretsToStore), all or
// none. It returns the fields stored.
func storeSecrets(env *Env, k settings.Kind, src *store.Source, given settings.Values, fromStdin bool) ([]string, error) {
	fields, keep, err := secretsToStore(env, k, src, given, fromStdin, true)
	if err != nil {
		return nil, err
	}
	if err := secrets.Replace(env.Secrets, src.Name, fields, keep); err != nil {
		return nil, err
	}
	return fields, nil
}

// secretsToStore reads and checks what a source keeps in the keyring, without storing it: the
// files its Import settings name, and its secrets — for a new source each one it needs (an
// Open Banking source with private_key_jwt has no client secret; only an encrypted signing key
// has a passphrase), for an edit with --secret-stdin those it needs, replaced. With
// --secret-stdin each secret is one line of standard input, in the kind's order. What the kind
// reads from a secret (such as its expiry) goes into src's settings. It returns the fields in
// the order to store them, and their values.
func secretsToStore(env *Env, k settings.Kind, src *store.Source, given settings.Values, fromStdin, isNew bool) ([]string, map[string]string, error) {
	imported, err := settings.Imports(k, given)
	if err != nil {
		return nil, nil, err
	}
	keep := map[string]string{}
	var order []string
	for _, f := range slices.Sorted(maps.Keys(imported)) {
		keep[f] = imported[f]
		order = append(order, f)
	}
	var stdin *bufio.Reader
	for i, s := range k.Secrets() {
		// A needed secret; an optional first one only when it is given on standard input.
		wanted := s.Needed(*src, imported) || (!s.Required && fromStdin && i == 0)
		if !wanted || (!isNew && !fromStdin) {
			continue
		}
		if stdin == nil {
			stdin = bufio.NewReader(io.LimitReader(env.Stdin, 4*(secrets.MaxSize+2)))
		}
		v, err := readSecretFrom(env, stdin, fromStdin, fmt.Sprintf("%s for %s: ", s.Label, src.Name))
		if err != nil {
			return nil, nil, err
		}
		if k.CheckSecret != nil {
			// The kind checks the secret and reads what is not secret in it, such as its expiry.
			derived, err := k.CheckSecret(s.Key, v)
			if err != nil {
				return nil, nil, usageErr("%s: %v", strings.ToLower(s.Label), err)
			}
			maps.Copy(src.Config, derived)
		}
		keep[s.Key] = v
		order = append(order, s.Key)
	}
	if err := checkKeep(k, *src, keep); err != nil {
		return nil, nil, err
	}
	return order, keep, nil
}

// checkKeep lets a kind check what goes to its keyring before it is stored (an Open Banking
// signing key must be a usable key, opened by its passphrase).
func checkKeep(k settings.Kind, src store.Source, keep map[string]string) error {
	if k.CheckSecrets == nil {
		return nil
	}
	return k.CheckSecrets(src, keep)
}

// readSecretFrom reads one secret line from in (standard input, shared by the secrets of one
// command), or with a prompt that does not echo when standard input is a terminal.
func readSecretFrom(env *Env, in *bufio.Reader, fromStdin bool, prompt string) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("read secret: empty")
		}
		return string(b), nil
	}
	if !fromStdin {
		fmt.Fprint(env.Stderr, prompt)
	}
	line, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read secret: %w", err)
	}
	if len(line) > secrets.MaxSize+1 {
		return "", fmt.Errorf("read secret: %w", secrets.ErrTooBig)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("read secret: standard input gave no secret")
	}
	return line, nil
}

func testSource(ctx context.Context, env *Env, st *store.Store, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The engine's Test, guarded like a sync: no secret or token of the test reaches the
	// output or the log.
	msg, err := newEngine(env, st).Test(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil {
		fmt.Fprintf(env.Stdout, "%s: FAILED: %v\n  what to do: %s\n", name, err, adviceFor(err))
		return errSilentFailure
	}
	fmt.Fprintf(env.Stdout, "%s: OK: %s\n", name, msg)
	return nil
}

// job builds the engine job of one source.
func (env *Env) job(st *store.Store, src store.Source, progress func(engine.Progress)) *engine.Job {
	if progress == nil {
		progress = func(engine.Progress) {}
	}
	return &engine.Job{
		Source:   src,
		Store:    st,
		Secrets:  env.Secrets,
		Logger:   env.Logger.With(logkey.Source, src.Name, logkey.Kind, src.Kind),
		Progress: progress,
	}
}

// noDriver is the error for a source whose kind this build has no driver for (a database
// written by a newer Custody, say).
func noDriver(kind string) error {
	return fmt.Errorf("this build of Custody has no driver for %q sources", kind)
}
