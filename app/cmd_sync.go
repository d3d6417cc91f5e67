package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/syncerr"
)

func init() {
	register(&command{
		name:    "sync",
		args:    "[--once] [SOURCE...]",
		summary: "Sync configured sources headless: with --once until there is nothing more to fetch, else until interrupted.",
		flags: func(fs *flag.FlagSet, c *invocation) {
			c.defBool("once", false, "sync each source once, until there is nothing more to fetch, then exit")
		},
		run: runSync,
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

func runSync(ctx context.Context, env *Env, c *invocation) error {
	if !c.boolean("once") {
		return fmt.Errorf("continuous sync: %w", errNotImplemented)
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
	failed := 0
	for _, src := range srcs {
		if err := syncOnce(ctx, env, st, src); err != nil {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "%d of %d sources failed\n", failed, len(srcs))
		return errSilentFailure
	}
	return nil
}

// syncOnce syncs one source, records the run and prints its outcome.
func syncOnce(ctx context.Context, env *Env, st *store.Store, src store.Source) error {
	d, ok := env.Drivers[src.Kind]
	if !ok {
		err := fmt.Errorf("%s sources: %w", src.Kind, errNotImplemented)
		fmt.Fprintf(env.Stderr, "%s: FAILED: %v\n", src.Name, err)
		return err
	}
	runID, err := st.StartRun(ctx, src.ID)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(env.Stdout, "%s: syncing (%s)\n", src.Name, src.Kind)
	var lastMsg string
	res, err := d.Sync(ctx, env.job(st, src, func(p engine.Progress) {
		if p.Message != "" && p.Message != lastMsg {
			lastMsg = p.Message
			fmt.Fprintf(env.Stdout, "%s: %s\n", src.Name, p.Message)
		}
	}))
	run := store.SyncRun{ID: runID, Status: "ok", Items: res.Items, Readings: res.Readings}
	if err != nil {
		run.Status, run.ErrorKind, run.Error = "failed", string(syncerr.KindOf(err)), err.Error()
		if errors.Is(err, context.Canceled) {
			run.Status = "cancelled"
		}
	}
	if ferr := st.FinishRun(context.WithoutCancel(ctx), run); ferr != nil {
		env.Logger.Warn("record sync run", "source", src.Name, "err", ferr)
	}
	if err != nil {
		kind := syncerr.KindOf(err)
		label := "error"
		if kind != syncerr.Unknown {
			label = string(kind) + " error"
		}
		fmt.Fprintf(env.Stderr, "%s: FAILED (%s): %v\n  what to do: %s\n", src.Name, label, err, syncerr.Advice(err))
		return err
	}
	note := res.Note
	if note == "" {
		note = fmt.Sprintf("%d items, %d readings", res.Items, res.Readings)
	}
	fmt.Fprintf(env.Stdout, "%s: ok in %s: %s\n", src.Name, time.Since(start).Round(time.Millisecond), note)
	return nil
}
