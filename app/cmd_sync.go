package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/logkey"
	"custody/sync/syncerr"
)

func init() {
	register(&command{
		name:    "sync",
		args:    "[--once] [SOURCE...]",
		summary: "Sync configured sources headless: with --once until there is nothing more to fetch, else until interrupted.",
		setup: withFlags(func(fs *flag.FlagSet, _ *Env, o *syncFlags) {
			fs.BoolVar(&o.once, "once", false, "sync each source once, until there is nothing more to fetch, then exit")
		}, runSync),
	})
}

// adviceFor is what the user can do about a sync error.
func adviceFor(err error) string { return syncerr.Advice(err) }

// selectSources returns the named sources, or every enabled one when none is named.
func selectSources(ctx context.Context, st *store.Store, names []string) ([]store.Source, error) {
	if len(names) == 0 {
		all, err := st.Sources(ctx)
		if err != nil {
			return nil, err
		}
		var out []store.Source
		for _, s := range all {
			if s.Enabled && s.Kind != "file" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	var out []store.Source
	for _, n := range names {
		s, err := st.SourceByName(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// syncFlags are the flags of `custody sync`.
type syncFlags struct {
	once bool // --once
}

// syncGCPercent is the collector's target (GOGC) during `custody sync`, unless GOGC is set. A
// sync's live heap is a few megabytes while it allocates for every answer, token and
// statement, so at Go's default of 100 the collector ran every few megabytes allocated: with
// 400, Open Banking events go through about 20 % faster per CPU-second and the sync's peak RSS
// stays under 60 MB (BENCHMARKS-obevents.md, session 3).
const syncGCPercent = 400

// syncMemoryLimit is the soft memory limit (GOMEMLIMIT) that goes with syncGCPercent unless
// GOMEMLIMIT is set: the collector's relaxed target is for the few megabytes a sync usually
// holds; a big answer (a bulk feed, a large DataHub document) makes the collector work harder
// as the heap nears this limit instead of letting it grow to five times what is live.
const syncMemoryLimit = 128 << 20

func runSync(ctx context.Context, env *Env, c *invocation, o *syncFlags) error {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(syncGCPercent))
		if os.Getenv("GOMEMLIMIT") == "" {
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(syncMemoryLimit))
		}
	}
	st, err := env.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	srcs, err := selectSources(ctx, st, c.args)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		fmt.Fprintln(env.Stdout, "no enabled sources to sync; add one with `custody sources add`")
		return nil
	}
	if o.once {
		return syncOnce(ctx, env, st, srcs)
	}
	return syncForever(ctx, env, st, c.args)
}

// syncPrinter writes the lines of `custody sync`, one whole line at a time, from the engine's
// status snapshots and from the outcome of each sync.
type syncPrinter struct {
	mu       sync.Mutex
	out, err io.Writer
	last     map[string]engine.Status
	finished map[string]bool // --once: sources whose outcome is printed; later snapshots are stale
}

func newSyncPrinter(env *Env) *syncPrinter {
	return &syncPrinter{out: env.Stdout, err: env.Stderr, last: map[string]engine.Status{}, finished: map[string]bool{}}
}

func (p *syncPrinter) printf(w io.Writer, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(w, format, args...)
}

// progress prints a running sync's progress messages as they change.
func (p *syncPrinter) progress(s engine.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.last[s.Source]
	p.last[s.Source] = s
	if p.finished[s.Source] || s.State != engine.StateSyncing {
		return
	}
	if m := s.Progress.Message; m != "" && m != "starting" && m != prev.Progress.Message {
		fmt.Fprintf(p.out, "%s: %s\n", s.Source, m)
	}
}

// failure prints a failed sync and what to do about it.
func (p *syncPrinter) failure(name string, err error) {
	kind := syncerr.KindOf(err)
	label := "error"
	if kind != syncerr.Unknown {
		label = string(kind) + " error"
	}
	p.printf(p.err, "%s: FAILED (%s): %v\n  what to do: %s\n", name, label, err, syncerr.Advice(err))
}

func note(res engine.Result) string {
	if res.Note != "" {
		return res.Note
	}
	return fmt.Sprintf("%d items, %d readings", res.Items, res.Readings)
}

// syncOnce syncs each source once, until there is nothing more to fetch (the drivers follow
// moreAvailable and peek until empty, and send their acknowledgements before they return), a
// few at a time, and prints each outcome and a summary.
func syncOnce(ctx context.Context, env *Env, st *store.Store, srcs []store.Source) error {
	eng := newEngine(env, st)
	p := newSyncPrinter(env)
	ch, unsubscribe := eng.Subscribe()
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for s := range ch {
			p.progress(s)
		}
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed int
	var total engine.Result
	for _, src := range srcs {
		wg.Go(func() {
			start := time.Now()
			p.printf(p.out, "%s: syncing (%s)\n", src.Name, src.Kind)
			res, err := eng.SyncOnce(ctx, src.Name)
			p.mu.Lock()
			p.finished[src.Name] = true
			p.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				p.failure(src.Name, err)
				return
			}
			total.Items += res.Items
			total.Readings += res.Readings
			p.printf(p.out, "%s: ok in %s: %s\n", src.Name, time.Since(start).Round(time.Millisecond), note(res))
		})
	}
	wg.Wait()
	unsubscribe()
	<-followed
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "%d of %d sources failed\n", failed, len(srcs))
		return errSilentFailure
	}
	fmt.Fprintf(env.Stdout, "synced %d source%s: %d items, %d readings\n", len(srcs), plural(len(srcs)), total.Items, total.Readings)
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// reloadEvery is how often continuous `custody sync` re-reads the sources.
const reloadEvery = time.Minute

// syncForever runs the engine until ctx ends (SIGINT or SIGTERM), printing what each source
// does, then stops it cleanly: running syncs are cancelled and recorded as such.
func syncForever(ctx context.Context, env *Env, st *store.Store, only []string) error {
	cfg := engineConfig(env, st)
	cfg.Only = only
	eng := engine.New(cfg)
	p := newSyncPrinter(env)
	ch, unsubscribe := eng.Subscribe()
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for s := range ch {
			p.change(s)
		}
	}()
	// The listeners first: a custodian that answers 202 notifies soon after the first sync.
	// They follow the sources as the engine does when they are reloaded.
	listeners := newListenerManager(ctx, env, st)
	listeners.out, listeners.onAuthorization = env.Stdout, eng.SyncNow
	if err := listeners.Sync(ctx); err != nil {
		unsubscribe()
		<-followed
		return fmt.Errorf("notification listener: %w", err)
	}
	defer listeners.Close()
	if err := eng.Start(ctx); err != nil {
		unsubscribe()
		<-followed
		return err
	}
	p.printf(env.Stdout, "syncing in the background until interrupted (Ctrl-C)\n")
	// Sources added, edited, enabled or disabled meanwhile (by `custody sources` in another
	// shell, say) are picked up within a minute.
	reload := time.NewTicker(reloadEvery)
	defer reload.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-reload.C:
			if err := eng.Reload(ctx); err != nil && ctx.Err() == nil {
				env.Logger.Warn("reload sources", logkey.Op, "reload", logkey.Err, err)
			}
			if err := listeners.Sync(ctx); err != nil && ctx.Err() == nil {
				env.Logger.Warn("reload notification listeners", logkey.Op, "reload", logkey.Err, err)
			}
		}
	}
	eng.Stop()
	unsubscribe()
	<-followed
	fmt.Fprintln(env.Stdout, "stopped")
	return nil
}

// change prints what changed in a source's status in continuous mode.
func (p *syncPrinter) change(s engine.Status) {
	p.mu.Lock()
	prev, seen := p.last[s.Source]
	p.last[s.Source] = s
	p.mu.Unlock()
	at := func(t time.Time) string { return t.Local().Format("15:04:05") }
	switch {
	case s.State == engine.StateRemoved:
		p.printf(p.out, "%s: removed\n", s.Source)
		return
	case s.State == engine.StateDisabled && prev.State != engine.StateDisabled:
		p.printf(p.out, "%s: disabled\n", s.Source)
		return
	case s.State == engine.StateSyncing && prev.State != engine.StateSyncing:
		p.printf(p.out, "%s: syncing (%s)\n", s.Source, s.Kind)
	case s.State == engine.StateSyncing && s.Progress.Message != "" && s.Progress.Message != "starting" &&
		s.Progress.Message != prev.Progress.Message:
		p.printf(p.out, "%s: %s\n", s.Source, s.Progress.Message)
	}
	if s.LastRun.Equal(prev.LastRun) || (!seen && s.State != engine.StateAttention) {
		return
	}
	switch {
	case s.LastError == "":
		p.printf(p.out, "%s: ok: %s; next sync at %s\n", s.Source, note(s.LastResult), at(s.NextRun))
	case s.State == engine.StateAttention:
		p.printf(p.err, "%s: NEEDS ATTENTION (%s error): %s\n  what to do: %s\n", s.Source, s.ErrorKind, s.LastError, s.Advice)
	default:
		label := "error"
		if s.ErrorKind != "" {
			label = string(s.ErrorKind) + " error"
		}
		p.printf(p.err, "%s: FAILED (%s, %d in a row): %s\n  what to do: %s\n", s.Source, label, s.Failures, s.LastError, s.Advice)
	}
}
