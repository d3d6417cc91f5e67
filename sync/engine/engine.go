package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"custody/store"
	"custody/sync/crashpoint"
	"custody/sync/logkey"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Defaults of the engine's Config.
const (
	DefaultMaxConcurrent    = 2
	DefaultBackoffMin       = 30 * time.Second
	DefaultBackoffMax       = 30 * time.Minute
	DefaultErrorLogInterval = 10 * time.Minute
	DefaultSyncTimeout      = time.Hour
	DefaultStartDelay       = 5 * time.Second
	DefaultSubscriberBuffer = 16
	// MaxRetryAfter bounds how long a custodian's Retry-After can postpone a source.
	MaxRetryAfter = syncerr.MaxRetryAfter
)

// Config is what an Engine works with. Only Store and Drivers are required.
type Config struct {
	Store   *store.Store
	Drivers map[string]Driver // by source kind
	Secrets Secrets
	Logger  *slog.Logger

	// MaxConcurrent limits how many sources sync at the same time (default 2).
	MaxConcurrent int
	// Only, when not empty, limits the engine to the sources with these names.
	Only []string

	// BackoffMin is the wait after a first failure, doubled after each further one up to
	// BackoffMax (defaults 30 s and 30 min). A custodian's Retry-After waits longer if it asks.
	BackoffMin, BackoffMax time.Duration
	// ErrorLogInterval is how often at most a failing source is logged (default 10 min).
	ErrorLogInterval time.Duration
	// SyncTimeout bounds one sync (default 1 h).
	SyncTimeout time.Duration
	// StartDelay spreads the first syncs after Start over this long (default 5 s; negative: none).
	StartDelay time.Duration
	// SubscriberBuffer is the size of each subscriber's channel (default 16).
	SubscriberBuffer int

	// Now returns the time used in statuses; tests may replace it (default time.Now).
	Now func() time.Time
	// Jitter returns a random duration in [0, d) added to every wait so that sources (and
	// users) do not all call at the same moment; tests may replace it (default math/rand).
	Jitter func(d time.Duration) time.Duration
}

// Engine syncs every enabled source in the background: one worker per source, each on its
// own schedule, with back-off on failure, a limit on concurrent syncs, and a live status
// published to any number of subscribers.
type Engine struct {
	cfg Config
	sem chan struct{}
	log *slog.Logger

	reloadMu sync.Mutex // serialises Reload

	mu      sync.Mutex
	ctx     context.Context // the running engine's; nil when stopped
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers map[string]*worker
	status  map[string]Status
	subs    map[*subscriber]struct{}
}

// worker runs the schedule of one source.
type worker struct {
	src     store.Source
	driver  Driver
	wake    chan struct{} // buffered 1: a pending "sync now"
	cancel  context.CancelFunc
	done    chan struct{}
	lastLog time.Time // when a failure of this source was last logged
}

// New returns an engine; it does nothing until Start (or SyncOnce).
func New(cfg Config) *Engine {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.ErrorLogInterval <= 0 {
		cfg.ErrorLogInterval = DefaultErrorLogInterval
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.StartDelay < 0 {
		cfg.StartDelay = 0
	} else if cfg.StartDelay == 0 {
		cfg.StartDelay = DefaultStartDelay
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Drivers == nil {
		cfg.Drivers = map[string]Driver{}
	}
	return &Engine{
		cfg:     cfg,
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		log:     cfg.Logger,
		workers: map[string]*worker{},
		status:  map[string]Status{},
		subs:    map[*subscriber]struct{}{},
	}
}

// Interval is how often src is synced by driver d: as the kind d describes says
// ([settings.Kind.SyncInterval]), so that the engine needs to know nothing of any kind.
func Interval(d Driver, src store.Source) time.Duration {
	return d.Describe().SyncInterval(src)
}

// Start starts one worker per enabled source. Starting a running engine restarts it. Runs
// left marked running by a process that died (older than SyncTimeout, so no live process can
// still be running them) are recorded as cancelled first.
func (e *Engine) Start(ctx context.Context) error {
	e.Stop()
	if n, err := e.cfg.Store.CloseStaleRuns(ctx, e.cfg.Now().Add(-e.cfg.SyncTimeout-time.Minute)); err != nil {
		e.log.Warn("close stale sync runs", logkey.Op, "start", logkey.Err, err)
	} else if n > 0 {
		e.log.Info("closed sync runs an earlier session left unfinished", logkey.Op, "start", logkey.Count, n)
	}
	e.mu.Lock()
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.mu.Unlock()
	return e.Reload(ctx)
}

// Stop stops every worker, cancelling running syncs, and waits for them to end. Statuses and
// subscriptions stay; Start may be called again.
func (e *Engine) Stop() {
	e.mu.Lock()
	cancel := e.cancel
	e.ctx, e.cancel = nil, nil
	e.workers = map[string]*worker{}
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
}

// selected reports whether the engine is limited to other sources than this one.
func (e *Engine) selected(name string) bool {
	return len(e.cfg.Only) == 0 || slices.Contains(e.cfg.Only, name)
}

// Reload re-reads the sources after one was added, edited, removed, enabled or disabled:
// workers of removed, disabled or edited sources stop, and workers of new, enabled or
// edited ones start. An edited source syncs soon, with its back-off reset.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	all, err := e.cfg.Store.Sources(ctx)
	if err != nil {
		return fmt.Errorf("reload sources: %w", err)
	}
	want := map[string]store.Source{}
	for _, s := range all {
		if s.Kind != "file" && e.selected(s.Name) {
			want[s.Name] = s
		}
	}

	// Stop the workers whose source went away or changed.
	e.mu.Lock()
	var stopping []*worker
	for name, w := range e.workers {
		if s, ok := want[name]; !ok || !sameSource(s, w.src) {
			stopping = append(stopping, w)
			delete(e.workers, name)
		}
	}
	e.mu.Unlock()
	for _, w := range stopping {
		w.cancel()
		<-w.done
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	for name, st := range e.status {
		if _, ok := want[name]; !ok {
			delete(e.status, name)
			st.State, st.Progress = StateRemoved, Progress{}
			e.publishLocked(st)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		src := want[name]
		if _, running := e.workers[name]; running {
			continue
		}
		st, known := e.status[name]
		if !known {
			st = Status{Source: name, Kind: src.Kind, State: StateIdle}
			st.LastRun, st.LastSuccess = e.lastRuns(ctx, src.ID)
		}
		st.Kind = src.Kind
		d := e.cfg.Drivers[src.Kind]
		switch {
		case !src.Enabled:
			st.State, st.NextRun, st.Progress = StateDisabled, time.Time{}, Progress{}
		case d == nil:
			err := syncerr.Errorf(syncerr.Config, "sync", "this build of Custody has no driver for %s sources", src.Kind)
			st.State, st.NextRun = StateAttention, time.Time{}
			st.LastError, st.ErrorKind, st.Advice = err.Error(), syncerr.Config, "Update Custody, or remove this source."
		}
		if e.ctx == nil || !src.Enabled || d == nil {
			e.status[name] = st
			e.publishLocked(st)
			continue
		}
		// A new worker: an edited source (known, with a changed configuration) syncs soon;
		// at start, a source synced recently waits for the rest of its interval.
		first := e.cfg.Jitter(e.cfg.StartDelay)
		if !known && !st.LastSuccess.IsZero() {
			if due := st.LastSuccess.Add(Interval(d, src)).Sub(e.cfg.Now()); due > first {
				first = due
			}
		}
		if known {
			st.Failures = 0
			st.State = StateIdle
		}
		st.NextRun = e.cfg.Now().Add(first)
		e.status[name] = st
		e.publishLocked(st)
		wctx, cancel := context.WithCancel(e.ctx)
		w := &worker{src: src, driver: d, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		e.workers[name] = w
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(w.done)
			e.work(wctx, w, first)
		}()
	}
	return nil
}

// sameSource reports whether a worker of a can go on serving b.
func sameSource(a, b store.Source) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Enabled == b.Enabled && maps.Equal(a.Config, b.Config)
}

// lastRuns returns when the source's last recorded sync finished, and when its last successful
// one did, from the store.
func (e *Engine) lastRuns(ctx context.Context, sourceID int64) (last, ok time.Time) {
	runs, err := e.cfg.Store.Runs(ctx, sourceID, 20)
	if err != nil {
		e.log.Warn("read sync history", logkey.Op, "reload", logkey.Err, err)
		return
	}
	for _, r := range runs {
		if last.IsZero() && !r.Finished.IsZero() {
			last = r.Finished
		}
		if r.Status == "ok" {
			return last, r.Finished
		}
	}
	return last, time.Time{}
}

// work is a source's monitor loop: wait for the next run (or a "sync now", or the end), sync,
// schedule the next run from the outcome.
func (e *Engine) work(ctx context.Context, w *worker, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.wake:
			timer.Stop()
		}
		wait = e.runScheduled(ctx, w)
		if ctx.Err() != nil {
			return
		}
		timer.Reset(wait)
	}
}

// runScheduled runs one sync of the worker's source and returns how long to wait for the next.
func (e *Engine) runScheduled(ctx context.Context, w *worker) time.Duration {
	// A "sync now" asked for before this run starts is answered by it.
	select {
	case <-w.wake:
	default:
	}
	var wait time.Duration
	var logIt func()
	e.run(ctx, w.src, w.driver, func(res Result, err error, failures int) (State, time.Duration) {
		wait, logIt = e.schedule(w, res, err, failures)
		return stateAfter(err), wait
	})
	if logIt != nil {
		logIt() // outside the engine's lock: a slow log never holds up Statuses
	}
	return wait
}

// stateAfter is a source's state after a sync that returned err.
func stateAfter(err error) State {
	switch kind := syncerr.KindOf(err); {
	case err == nil:
		return StateIdle
	case kind == syncerr.Auth || kind == syncerr.Config:
		return StateAttention
	}
	return StateBackoff
}

// schedule returns the wait before the next sync after one that returned res and err, and,
// when the outcome is worth logging now, a function that logs it.
func (e *Engine) schedule(w *worker, res Result, err error, failures int) (time.Duration, func()) {
	name, kind, interval := w.src.Name, w.src.Kind, Interval(w.driver, w.src)
	switch stateAfter(err) {
	case StateIdle:
		wait := interval + e.cfg.Jitter(interval/10)
		if res.NextIn > 0 && res.NextIn < interval {
			wait = res.NextIn
		}
		if w.lastLog.IsZero() {
			return wait, nil
		}
		w.lastLog = time.Time{}
		return wait, func() { e.log.Info("sync recovered", logkey.Source, name, logkey.Kind, kind, logkey.Op, "sync") }
	case StateAttention:
		// Retrying will not help until the user acts (an edit reloads the source and retries at
		// once); try again now and then in case the custodian's side was at fault.
		wait := max(interval, e.cfg.BackoffMax)
		if failures != 1 {
			return wait, nil
		}
		return wait, func() {
			e.log.Error("sync needs attention", logkey.Source, name, logkey.Kind, kind, logkey.Op, "sync", logkey.Err, err)
		}
	}
	wait := e.backoff(failures)
	if ra := min(syncerr.RetryAfterOf(err), MaxRetryAfter); ra > wait {
		wait = ra
	}
	wait += e.cfg.Jitter(wait / 10)
	// Offline or failing: log quietly, at most once per ErrorLogInterval.
	now := time.Now()
	if !w.lastLog.IsZero() && now.Sub(w.lastLog) < e.cfg.ErrorLogInterval {
		return wait, nil
	}
	w.lastLog = now
	return wait, func() {
		e.log.Warn("sync failed, retrying", logkey.Source, name, logkey.Kind, kind, logkey.Op, "sync", logkey.Count, failures, logkey.Err, err)
	}
}

// backoff is the wait after the given number of consecutive failures: BackoffMin doubled per
// further failure, at most BackoffMax.
func (e *Engine) backoff(failures int) time.Duration {
	d := e.cfg.BackoffMin
	for i := 1; i < failures && d < e.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.BackoffMax)
}

// SyncOnce syncs the named source once, now, whether or not the engine is started, and returns
// what the driver returned. The run is recorded and its status published like any other; the
// limit on concurrent syncs applies. `custody sync --once` is built on it.
func (e *Engine) SyncOnce(ctx context.Context, name string) (Result, error) {
	src, err := e.cfg.Store.SourceByName(ctx, name)
	if err != nil {
		return Result{}, syncerr.E(syncerr.Config, "sync", err)
	}
	d := e.cfg.Drivers[src.Kind]
	if d == nil {
		return Result{}, syncerr.Errorf(syncerr.Config, "sync", "this build of Custody has no driver for %s sources", src.Kind)
	}
	return e.run(ctx, src, d, func(_ Result, err error, _ int) (State, time.Duration) {
		return stateAfter(err), -1
	})
}

// run performs one sync of a source within the concurrency limit, records it in the store,
// and publishes its outcome with the state and the wait before the next run (negative: none
// scheduled) that next decides from it and the number of consecutive failures. A sync
// cancelled because ctx ended is no failure: it leaves the source idle and is not logged.
func (e *Engine) run(ctx context.Context, src store.Source, d Driver,
	next func(res Result, err error, failures int) (State, time.Duration)) (Result, error) {
	name := src.Name
	select {
	case e.sem <- struct{}{}:
	default:
		e.update(name, func(s *Status) { s.Kind, s.State = src.Kind, StateQueued })
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			e.update(name, func(s *Status) { s.State = StateIdle })
			return Result{}, ctx.Err()
		}
	}
	defer func() { <-e.sem }()

	e.update(name, func(s *Status) {
		s.Kind, s.State, s.Progress = src.Kind, StateSyncing, Progress{Message: "starting"}
	})
	var res Result
	runID, err := e.cfg.Store.StartRun(ctx, src.ID)
	if err != nil {
		err = syncerr.E(syncerr.Local, "record sync run", err)
	} else {
		sctx, cancel := context.WithTimeout(ctx, e.cfg.SyncTimeout)
		// Every secret the driver reads, and every token it gets or sends, is redacted from
		// its log lines, its progress and the error recorded, published and returned (Guard).
		var job *Job
		var done func(string, error) (string, error)
		sctx, job, done = Guard(sctx, &Job{
			Source:   src,
			Store:    e.cfg.Store,
			Secrets:  e.cfg.Secrets,
			Logger:   e.log.With(logkey.Source, name, logkey.Kind, src.Kind),
			Progress: func(p Progress) { e.update(name, func(s *Status) { s.Progress = p }) },
		})
		res, err = safeSync(sctx, d, job)
		res.Note, err = done(res.Note, err)
		cancel()
		crashpoint.Hit(crashpoint.BeforeFinish)
		run := store.SyncRun{ID: runID, Status: "ok", Items: res.Items, Readings: res.Readings}
		switch {
		case err != nil && ctx.Err() != nil:
			run.Status, run.Error = "cancelled", "stopped"
		case err != nil:
			run.Status, run.ErrorKind, run.Error = "failed", string(syncerr.KindOf(err)), err.Error()
		}
		if ferr := e.cfg.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil {
			e.log.Warn("record sync run", logkey.Source, name, logkey.Kind, src.Kind, logkey.Op, "finish run", logkey.Err, ferr)
		}
	}

	if err != nil && ctx.Err() != nil {
		// Stopped: not a failure, and nothing to log.
		e.update(name, func(s *Status) { s.State, s.Progress = StateIdle, Progress{} })
		return res, err
	}
	now := e.cfg.Now()
	e.update(name, func(s *Status) {
		s.Progress, s.LastRun = Progress{}, now
		if err == nil {
			s.LastSuccess, s.LastResult, s.Failures = now, res, 0
			s.LastError, s.ErrorKind, s.Advice = "", syncerr.Unknown, ""
		} else {
			s.Failures++
			s.LastError, s.ErrorKind, s.Advice = err.Error(), syncerr.KindOf(err), syncerr.Advice(err)
		}
		var wait time.Duration
		s.State, wait = next(res, err, s.Failures)
		s.NextRun = time.Time{}
		if wait >= 0 {
			s.NextRun = now.Add(wait)
		}
	})
	return res, err
}

// safeSync runs the driver, turning a panic into an error so that one broken payload or driver
// cannot take the app down with it.
func safeSync(ctx context.Context, d Driver, job *Job) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = syncerr.Errorf(syncerr.Unknown, "sync", "driver %s panicked: %v", d.Kind(), p)
		}
	}()
	return d.Sync(ctx, job)
}

// SyncNow asks the named source's worker to sync at once. A sync asked for while one is
// running follows it. It does nothing for a source without a worker (disabled, unknown, or
// the engine stopped).
func (e *Engine) SyncNow(source string) {
	e.mu.Lock()
	w := e.workers[source]
	e.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Test runs the driver's Test for the named source: one harmless request that checks its
// settings and credentials.
func (e *Engine) Test(ctx context.Context, source string) (string, error) {
	src, err := e.cfg.Store.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	d := e.cfg.Drivers[src.Kind]
	if d == nil {
		return "", syncerr.Errorf(syncerr.Config, "test", "this build of Custody has no driver for %s sources", src.Kind)
	}
	ctx, job, done := Guard(ctx, e.job(src))
	return done(d.Test(ctx, job))
}

// job is the job of one source outside a sync (a test, a removal).
func (e *Engine) job(src store.Source) *Job {
	return &Job{
		Source:   src,
		Store:    e.cfg.Store,
		Secrets:  e.cfg.Secrets,
		Logger:   e.log.With(logkey.Source, src.Name, logkey.Kind, src.Kind),
		Progress: func(Progress) {},
	}
}

// Guard keeps what a driver does with job from leaking a secret: it returns ctx carrying a
// fresh redact.Set, a copy of job whose Secrets remember every secret read or written in that
// set and whose log lines and progress messages are redacted of it, and done, which redacts
// the set from the message and error the driver returned. Tokens the driver gets or sends are
// remembered in the set too (redact.Remember, which sync/auth calls), so none of them reaches
// a log line, the user or the database in any encoding. The engine guards every run; a
// caller of a driver outside the engine (the command line's test, connect) guards it itself.
func Guard(ctx context.Context, job *Job) (context.Context, *Job, func(msg string, err error) (string, error)) {
	seen := &seenSecrets{Secrets: job.Secrets}
	g := *job
	g.Secrets = seen
	if job.Logger != nil {
		g.Logger = slog.New(redact.NewHandler(job.Logger.Handler(), seen.set.Values))
	}
	if job.Progress != nil {
		g.Progress = func(p Progress) {
			p.Message = redact.String(p.Message, seen.set.Values()...)
			job.Progress(p)
		}
	}
	return redact.WithSet(ctx, &seen.set), &g, func(msg string, err error) (string, error) {
		secs := seen.set.Values()
		return redact.String(msg, secs...), redact.Err(err, secs...)
	}
}

// Unregister deletes what the source registered at its custodian (see Remover) before the
// source is removed, and says what it did; "" when its kind registers nothing.
func (e *Engine) Unregister(ctx context.Context, source string) (string, error) {
	src, err := e.cfg.Store.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	r, ok := e.cfg.Drivers[src.Kind].(Remover)
	if !ok {
		return "", nil
	}
	ctx, job, done := Guard(ctx, e.job(src))
	return done(r.Remove(ctx, job))
}

// Statuses returns the current status of every source, sorted by name.
func (e *Engine) Statuses() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.status))
	for _, name := range slices.Sorted(maps.Keys(e.status)) {
		out = append(out, e.status[name])
	}
	return out
}

// update changes a source's status and publishes the result.
func (e *Engine) update(name string, f func(*Status)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.status[name]
	if !ok {
		s = Status{Source: name, State: StateIdle}
	}
	f(&s)
	e.status[name] = s
	e.publishLocked(s)
}

// seenSecrets passes secrets through and remembers them in its set, so that they can be
// redacted from what the work that read them reports.
type seenSecrets struct {
	Secrets
	set redact.Set
}

// Secret reads a secret and remembers it.
func (s *seenSecrets) Secret(source, field string) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("no keyring")
	}
	v, err := s.Secrets.Secret(source, field)
	if err == nil {
		s.set.Add(v)
	}
	return v, err
}

// SetSecret stores a secret the driver renews (a customer's rotated token), when the keyring
// behind can be written, and remembers it too.
func (s *seenSecrets) SetSecret(source, field, value string) error {
	w, ok := s.Secrets.(interface {
		SetSecret(source, field, value string) error
	})
	if !ok {
		return errors.New("the keyring cannot be written")
	}
	s.set.Add(value)
	return w.SetSecret(source, field, value)
}
