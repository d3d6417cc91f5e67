package engine

import (
	"context"
	"custody/sync/settings"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"custody/store"
	"custody/sync/syncerr"
)

// fakeDriver is a hand-written driver whose outcome per call is decided by the test.
type fakeDriver struct {
	kind     string
	interval time.Duration // the kind's default interval, as its description says
	// outcome returns what the n-th call (from 1) for the source returns; nil means success.
	outcome func(ctx context.Context, job *Job, n int) (Result, error)

	mu      sync.Mutex
	calls   map[string][]time.Time // per source, when Sync was called
	running int
	maxRun  int
}

// fakeIntervals are the default intervals of the real kinds the fakes stand for.
var fakeIntervals = map[string]time.Duration{"greenbutton": 6 * time.Hour, "obevents": 5 * time.Minute, "datahub": 15 * time.Minute}

func newFake(kind string, outcome func(ctx context.Context, job *Job, n int) (Result, error)) *fakeDriver {
	return &fakeDriver{kind: kind, interval: fakeIntervals[kind], outcome: outcome, calls: map[string][]time.Time{}}
}

func (f *fakeDriver) Kind() string { return f.kind }

// Describe describes a kind with no settings of its own but the common ones, whose interval
// setting shows the kind's default interval.
func (f *fakeDriver) Describe() settings.Kind {
	return settings.Kind{Name: f.kind, Settings: settings.Common(f.interval)}
}

func (f *fakeDriver) Sync(ctx context.Context, job *Job) (Result, error) {
	f.mu.Lock()
	f.calls[job.Source.Name] = append(f.calls[job.Source.Name], time.Now())
	n := len(f.calls[job.Source.Name])
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if f.outcome == nil {
		return Result{Items: 1}, nil
	}
	return f.outcome(ctx, job, n)
}

func (f *fakeDriver) Test(ctx context.Context, job *Job) (string, error) {
	return "fake " + job.Source.Name + " answers", nil
}

// callTimes returns when Sync was called for the source, as offsets from t0.
func (f *fakeDriver) callTimes(name string, t0 time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, t := range f.calls[name] {
		out = append(out, t.Sub(t0))
	}
	return out
}

func (f *fakeDriver) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[name])
}

// logRecorder is a slog handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// messages returns the messages logged at level or above.
func (l *logRecorder) messages(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level >= level {
			out = append(out, r.Message)
		}
	}
	return out
}

// mustStore opens a store in a temporary folder; inside a synctest bubble its goroutines
// belong to the bubble.
func mustStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func addSource(t *testing.T, st *store.Store, name, kind string, cfg map[string]string) store.Source {
	t.Helper()
	if cfg == nil {
		cfg = map[string]string{}
	}
	src := store.Source{Name: name, Kind: kind, Enabled: true, Config: cfg}
	if err := st.AddSource(t.Context(), &src); err != nil {
		t.Fatal(err)
	}
	return src
}

// noJitter is a Jitter that adds nothing, so that times are exact.
func noJitter(time.Duration) time.Duration { return 0 }

// newTestEngine returns an engine over st with the given drivers, no jitter and no start delay.
func newTestEngine(st *store.Store, rec *logRecorder, drivers ...Driver) *Engine {
	m := map[string]Driver{}
	for _, d := range drivers {
		m[d.Kind()] = d
	}
	var h slog.Handler = slog.DiscardHandler
	if rec != nil {
		h = rec
	}
	return New(Config{Store: st, Drivers: m, Logger: slog.New(h), Jitter: noJitter, StartDelay: -1})
}

func statusOf(t *testing.T, e *Engine, name string) Status {
	t.Helper()
	for _, s := range e.Statuses() {
		if s.Source == name {
			return s
		}
	}
	t.Fatalf("no status of %s in %+v", name, e.Statuses())
	return Status{}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScheduleFollowsEachSourceInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "fast", "greenbutton", map[string]string{"interval": "10m"})
		addSource(t, st, "slow", "greenbutton", nil) // the kind's default: 6 h
		d := newFake("greenbutton", nil)
		e := newTestEngine(st, nil, d)
		t0 := time.Now()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		time.Sleep(12*time.Hour + time.Second)
		synctest.Wait()

		var fast []time.Duration
		for i := 0; i <= 72; i++ {
			fast = append(fast, time.Duration(i)*10*time.Minute)
		}
		if got := d.callTimes("fast", t0); !equalDurations(got, fast) {
			t.Errorf("fast synced at %v, want every 10m from 0", got)
		}
		if got, want := d.callTimes("slow", t0), []time.Duration{0, 6 * time.Hour, 12 * time.Hour}; !equalDurations(got, want) {
			t.Errorf("slow synced at %v, want %v", got, want)
		}
		s := statusOf(t, e, "slow")
		if s.State != StateIdle || !s.NextRun.Equal(t0.Add(18*time.Hour)) || s.LastResult.Items != 1 || s.LastSuccess.IsZero() {
			t.Errorf("slow status = %+v", s)
		}
	})
}

// TestIntervalIsAsTheKindSays checks that the engine takes a source's interval from its
// setting, else from its kind's description, else an hour, knowing no kind by name.
func TestIntervalIsAsTheKindSays(t *testing.T) {
	for _, tt := range []struct {
		declared time.Duration
		setting  string
		want     time.Duration
	}{
		{6 * time.Hour, "", 6 * time.Hour},
		{15 * time.Minute, "", 15 * time.Minute},
		{15 * time.Minute, "1h", time.Hour},
		{15 * time.Minute, "nonsense", 15 * time.Minute},
		{15 * time.Minute, "-5m", 15 * time.Minute},
		{15 * time.Minute, "0s", 15 * time.Minute},
		{0, "", time.Hour},
		{0, "10m", 10 * time.Minute},
	} {
		d := &fakeDriver{kind: "anykind", interval: tt.declared}
		src := store.Source{Kind: "anykind", Config: map[string]string{"interval": tt.setting}}
		if got := Interval(d, src); got != tt.want {
			t.Errorf("kind declaring %v, interval %q: Interval = %v, want %v", tt.declared, tt.setting, got, tt.want)
		}
	}
}

func TestStartWaitsForTheRestOfTheIntervalAfterARecentSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		src := addSource(t, st, "gb", "greenbutton", map[string]string{"interval": "1h"})
		// A run that finished 20 minutes ago, as an earlier session of the app left it.
		id, err := st.StartRun(t.Context(), src.ID)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		st.Now = func() time.Time { return t0.Add(-20 * time.Minute) }
		if err := st.FinishRun(t.Context(), store.SyncRun{ID: id, Status: "ok"}); err != nil {
			t.Fatal(err)
		}
		st.Now = time.Now
		d := newFake("greenbutton", nil)
		e := newTestEngine(st, nil, d)
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		time.Sleep(39 * time.Minute)
		synctest.Wait()
		if n := d.count("gb"); n != 0 {
			t.Fatalf("synced %d times before its interval was up", n)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if got, want := d.callTimes("gb", t0), []time.Duration{40 * time.Minute}; !equalDurations(got, want) {
			t.Fatalf("synced at %v, want %v", got, want)
		}
	})
}

func TestJitterIsAddedToEveryWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "ob", "obevents", map[string]string{"interval": "10m"})
		d := newFake("obevents", nil)
		var mu sync.Mutex
		var asked []time.Duration
		e := New(Config{Store: st, Drivers: map[string]Driver{"obevents": d}, StartDelay: 4 * time.Second,
			Jitter: func(max time.Duration) time.Duration {
				mu.Lock()
				asked = append(asked, max)
				mu.Unlock()
				return max / 2
			}})
		t0 := time.Now()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		time.Sleep(25 * time.Minute)
		synctest.Wait()
		// Start spreads the first sync over StartDelay; then interval + up to a tenth of it.
		want := []time.Duration{2 * time.Second, 2*time.Second + 10*time.Minute + 30*time.Second,
			2*time.Second + 21*time.Minute}
		if got := d.callTimes("ob", t0); !equalDurations(got, want) {
			t.Errorf("synced at %v, want %v", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) < 3 || asked[0] != 4*time.Second || asked[1] != time.Minute {
			t.Errorf("jitter asked for %v, want 4s (start) then 1m (a tenth of the interval)", asked)
		}
	})
}

func TestDefaultJitterStaysInRange(t *testing.T) {
	e := New(Config{})
	seen := map[bool]bool{}
	for range 1000 {
		j := e.cfg.Jitter(time.Minute)
		if j < 0 || j >= time.Minute {
			t.Fatalf("jitter %v outside [0, 1m)", j)
		}
		seen[j < 30*time.Second] = true
	}
	if !seen[true] || !seen[false] {
		t.Fatal("jitter is not spread over its range")
	}
	if j := e.cfg.Jitter(0); j != 0 {
		t.Fatalf("jitter(0) = %v", j)
	}
}

func TestBackoffDoublesUpToTheCapAndResetsOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "dh", "datahub", map[string]string{"interval": "15m"})
		offline := errors.New("dial tcp: connect: network is unreachable")
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			if n <= 8 {
				return Result{}, syncerr.E(syncerr.Network, "peek", offline)
			}
			return Result{Items: 3}, nil
		})
		rec := &logRecorder{}
		e := newTestEngine(st, rec, d)
		e.cfg.BackoffMin, e.cfg.BackoffMax = 30*time.Second, 8*time.Minute
		t0 := time.Now()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()

		time.Sleep(time.Second)
		synctest.Wait()
		s := statusOf(t, e, "dh")
		if s.State != StateBackoff || s.Failures != 1 || s.ErrorKind != syncerr.Network || s.Advice == "" ||
			!s.NextRun.Equal(t0.Add(30*time.Second)) || s.LastError == "" {
			t.Fatalf("after the first failure: %+v", s)
		}

		time.Sleep(2 * time.Hour)
		synctest.Wait()
		// 30 s, 1 m, 2 m, 4 m, then the 8 m cap; the ninth call succeeds and the interval
		// applies again.
		var want []time.Duration
		at := time.Duration(0)
		for _, wait := range []time.Duration{0, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
			8 * time.Minute, 8 * time.Minute, 8 * time.Minute, 8 * time.Minute, 15 * time.Minute} {
			at += wait
			want = append(want, at)
		}
		got := d.callTimes("dh", t0)
		if len(got) < len(want) || !equalDurations(got[:len(want)], want) {
			t.Fatalf("synced at %v, want %v...", got, want)
		}
		s = statusOf(t, e, "dh")
		if s.State != StateIdle || s.Failures != 0 || s.LastError != "" || s.ErrorKind != "" || s.LastResult.Items != 3 {
			t.Fatalf("after recovery: %+v", s)
		}
		runs, err := st.Runs(t.Context(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, r := range runs {
			if r.Status == "failed" {
				failed++
				if r.ErrorKind != string(syncerr.Network) || r.Error == "" {
					t.Errorf("failed run recorded as %+v", r)
				}
			}
		}
		if failed != 8 || len(runs) != len(got) {
			t.Errorf("%d runs recorded, %d failed; want %d and 8", len(runs), failed, len(got))
		}
	})
}

func TestOfflineLogsQuietly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "ob", "obevents", nil)
		d := newFake("obevents", func(ctx context.Context, job *Job, n int) (Result, error) {
			return Result{}, fmt.Errorf("poll: %w", &netError{})
		})
		rec := &logRecorder{}
		e := newTestEngine(st, rec, d)
		e.cfg.BackoffMin, e.cfg.BackoffMax, e.cfg.ErrorLogInterval = time.Second, 4*time.Second, 10*time.Minute
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		e.Stop()
		if n := d.count("ob"); n < 100 {
			t.Fatalf("only %d attempts in an hour of 4 s back-off", n)
		}
		warns := rec.messages(slog.LevelWarn)
		if len(warns) < 1 || len(warns) > 7 {
			t.Fatalf("%d warnings in an hour with ErrorLogInterval 10m, want 1..7: %v", len(warns), warns)
		}
		if s := statusOf(t, e, "ob"); s.ErrorKind != syncerr.Network {
			t.Fatalf("an unclassified net.Error was classified %q", s.ErrorKind)
		}
	})
}

// netError is a net.Error, as the net package returns when offline.
type netError struct{}

func (*netError) Error() string   { return "dial tcp 192.0.2.1:443: connect: network is unreachable" }
func (*netError) Timeout() bool   { return false }
func (*netError) Temporary() bool { return false }

func TestRetryAfterAndNextInAreRespected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "busy", "obevents", map[string]string{"interval": "1h"})
		addSource(t, st, "notready", "obevents", map[string]string{"interval": "1h"})
		d := newFake("obevents", func(ctx context.Context, job *Job, n int) (Result, error) {
			switch {
			case job.Source.Name == "busy" && n == 1:
				e := syncerr.Errorf(syncerr.Server, "POST /events", "429 Too Many Requests")
				e.RetryAfter = 7 * time.Minute
				return Result{}, e
			case job.Source.Name == "notready" && n == 1:
				return Result{NextIn: 2 * time.Minute}, nil
			case job.Source.Name == "notready" && n == 2:
				return Result{NextIn: 3 * time.Hour}, nil // longer than the interval: the interval wins
			}
			return Result{}, nil
		})
		e := newTestEngine(st, nil, d)
		t0 := time.Now()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		time.Sleep(90 * time.Minute)
		synctest.Wait()
		if got, want := d.callTimes("busy", t0), []time.Duration{0, 7 * time.Minute, 67 * time.Minute}; !equalDurations(got, want) {
			t.Errorf("busy synced at %v, want %v (Retry-After 7m, not the 30s back-off)", got, want)
		}
		if got, want := d.callTimes("notready", t0), []time.Duration{0, 2 * time.Minute, 62 * time.Minute}; !equalDurations(got, want) {
			t.Errorf("notready synced at %v, want %v", got, want)
		}
	})
}

func TestAuthFailureNeedsAttentionAndSyncNowRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "gb", "greenbutton", map[string]string{"interval": "10m"})
		revoked := syncerr.Errorf(syncerr.Auth, "token", "401 invalid_client")
		revoked.Hint = "Reauthorise Custody at your utility's Share My Data page."
		d := newFake("greenbutton", func(ctx context.Context, job *Job, n int) (Result, error) {
			if n == 1 {
				return Result{}, revoked
			}
			return Result{Items: 2}, nil
		})
		rec := &logRecorder{}
		e := newTestEngine(st, rec, d)
		e.cfg.BackoffMax = time.Hour
		t0 := time.Now()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		s := statusOf(t, e, "gb")
		if s.State != StateAttention || s.ErrorKind != syncerr.Auth || s.Advice != revoked.Hint ||
			!s.NextRun.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after a revoked authorisation: %+v", s)
		}
		if n := d.count("gb"); n != 1 {
			t.Fatalf("retried %d times although retrying cannot help", n-1)
		}
		if errs := rec.messages(slog.LevelError); len(errs) != 1 {
			t.Fatalf("errors logged: %v", errs)
		}

		e.SyncNow("gb")
		synctest.Wait()
		s = statusOf(t, e, "gb")
		if got := d.callTimes("gb", t0); !equalDurations(got, []time.Duration{0, 30 * time.Minute}) {
			t.Fatalf("synced at %v; SyncNow did not run at once", got)
		}
		if s.State != StateIdle || s.LastResult.Items != 2 || !s.NextRun.Equal(t0.Add(40*time.Minute)) {
			t.Fatalf("after SyncNow: %+v", s)
		}
		e.SyncNow("no such source") // harmless
	})
}

func TestSyncNowDuringASyncRunsOnceMoreAfterIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "dh", "datahub", map[string]string{"interval": "1h"})
		release := make(chan struct{})
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			if n == 1 {
				<-release
			}
			return Result{}, nil
		})
		e := newTestEngine(st, nil, d)
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		synctest.Wait()
		if s := statusOf(t, e, "dh"); s.State != StateSyncing {
			t.Fatalf("state %q, want syncing", s.State)
		}
		e.SyncNow("dh")
		e.SyncNow("dh") // coalesced with the first
		close(release)
		synctest.Wait()
		if n := d.count("dh"); n != 2 {
			t.Fatalf("%d syncs, want 2: the running one and one more for the SyncNow calls during it", n)
		}
	})
}

func TestConcurrentSyncsAreLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		for i := range 5 {
			addSource(t, st, fmt.Sprintf("s%d", i), "datahub", nil)
		}
		release := make(chan struct{})
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			<-release
			return Result{}, nil
		})
		e := New(Config{Store: st, Drivers: map[string]Driver{"datahub": d}, MaxConcurrent: 2, Jitter: noJitter, StartDelay: -1})
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		synctest.Wait()
		states := map[State]int{}
		for _, s := range e.Statuses() {
			states[s.State]++
		}
		if states[StateSyncing] != 2 || states[StateQueued] != 3 {
			t.Fatalf("states %v, want 2 syncing and 3 queued", states)
		}
		close(release)
		synctest.Wait()
		for i := range 5 {
			if n := d.count(fmt.Sprintf("s%d", i)); n != 1 {
				t.Errorf("s%d synced %d times", i, n)
			}
		}
		if d.maxRun != 2 {
			t.Fatalf("%d syncs ran at once, want at most 2", d.maxRun)
		}
	})
}

func TestASlowSubscriberNeverBlocksTheEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "a", "datahub", map[string]string{"interval": "1m"})
		addSource(t, st, "b", "datahub", map[string]string{"interval": "1m"})
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			for i := range 1000 {
				job.Progress(Progress{Done: int64(i), Total: 1000, Message: "message"})
			}
			return Result{Items: int64(n)}, nil
		})
		e := newTestEngine(st, nil, d)
		e.cfg.SubscriberBuffer = 4
		stuck, unsubStuck := e.Subscribe() // never read until the end
		defer unsubStuck()
		gone, unsubGone := e.Subscribe()
		unsubGone()
		unsubGone() // twice is harmless
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		// The engine went on: 11 syncs each, 2×11×1000 progress updates nobody read.
		if d.count("a") != 11 || d.count("b") != 11 {
			t.Fatalf("synced a %d and b %d times, want 11", d.count("a"), d.count("b"))
		}
		e.Stop()
		if _, ok := <-gone; ok {
			// An unsubscribed channel may hold what was buffered; it must end.
			for range gone {
			}
		}

		// The stuck subscriber still gets the latest status of each source.
		latest := map[string]Status{}
		n := 0
	drain:
		for {
			select {
			case s := <-stuck:
				latest[s.Source] = s
				n++
			default:
				synctest.Wait()
				select {
				case s := <-stuck:
					latest[s.Source] = s
					n++
				default:
					break drain
				}
			}
		}
		if n > 20 {
			t.Errorf("a stuck subscriber got %d snapshots; they should be coalesced", n)
		}
		for _, name := range []string{"a", "b"} {
			if s := latest[name]; s.LastResult.Items != 11 || s.State != StateIdle {
				t.Errorf("latest snapshot of %s = %+v, want the 11th run's, idle", name, s)
			}
		}
	})
}

func TestSubscribersSeeEveryStateChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "gb", "greenbutton", nil)
		// The driver takes a second, and the first sync waits for a second: a reader that keeps
		// up sees each state (a slow one would see only the latest).
		d := newFake("greenbutton", func(ctx context.Context, job *Job, n int) (Result, error) {
			time.Sleep(time.Second)
			return Result{}, nil
		})
		e := newTestEngine(st, nil, d)
		e.cfg.StartDelay, e.cfg.Jitter = time.Second, func(d time.Duration) time.Duration { return d }
		ch, unsub := e.Subscribe()
		var states []State
		done := make(chan struct{})
		go func() {
			defer close(done)
			for s := range ch {
				if len(states) == 0 || states[len(states)-1] != s.State {
					states = append(states, s.State)
				}
			}
		}()
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		e.Stop()
		synctest.Wait()
		unsub()
		<-done
		want := []State{StateIdle, StateSyncing, StateIdle}
		if fmt.Sprint(states) != fmt.Sprint(want) {
			t.Fatalf("states %v, want %v", states, want)
		}
	})
}

func TestReloadFollowsSourceChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "gb", "greenbutton", map[string]string{"interval": "1h"})
		d := newFake("greenbutton", nil)
		e := newTestEngine(st, nil, d)
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer e.Stop()
		synctest.Wait()

		// Added while running: it starts.
		addSource(t, st, "new", "greenbutton", map[string]string{"interval": "1h"})
		if err := e.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if d.count("new") != 1 || d.count("gb") != 1 {
			t.Fatalf("after adding: gb %d, new %d syncs", d.count("gb"), d.count("new"))
		}

		// Edited: it syncs again at once.
		src, _ := st.SourceByName(t.Context(), "gb")
		src.Config["interval"] = "2h"
		if err := st.UpdateSource(t.Context(), &src); err != nil {
			t.Fatal(err)
		}
		e.Reload(t.Context())
		synctest.Wait()
		if d.count("gb") != 2 {
			t.Fatalf("an edited source synced %d times, want 2", d.count("gb"))
		}

		// Disabled: no more syncs.
		src.Enabled = false
		st.UpdateSource(t.Context(), &src)
		e.Reload(t.Context())
		if s := statusOf(t, e, "gb"); s.State != StateDisabled {
			t.Fatalf("disabled source state %q", s.State)
		}
		e.SyncNow("gb")
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		if d.count("gb") != 2 {
			t.Fatalf("a disabled source synced")
		}

		// Removed: published once as removed, then gone.
		ch, unsub := e.Subscribe()
		defer unsub()
		if err := st.RemoveSource(t.Context(), "new"); err != nil {
			t.Fatal(err)
		}
		e.Reload(t.Context())
		synctest.Wait()
		sawRemoved := false
		for len(ch) > 0 || !sawRemoved {
			s := <-ch
			sawRemoved = sawRemoved || (s.Source == "new" && s.State == StateRemoved)
		}
		for _, s := range e.Statuses() {
			if s.Source == "new" {
				t.Fatalf("removed source still listed: %+v", s)
			}
		}
	})
}

func TestStopCancelsRunningSyncsQuietly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "ob", "obevents", nil)
		d := newFake("obevents", func(ctx context.Context, job *Job, n int) (Result, error) {
			<-ctx.Done()
			return Result{}, fmt.Errorf("poll: %w", ctx.Err())
		})
		rec := &logRecorder{}
		e := newTestEngine(st, rec, d)
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		e.Stop()
		if msgs := rec.messages(slog.LevelInfo); len(msgs) != 0 {
			t.Fatalf("a stop was logged: %v", msgs)
		}
		s := statusOf(t, e, "ob")
		if s.State != StateIdle || s.Failures != 0 || s.LastError != "" {
			t.Fatalf("after stop: %+v", s)
		}
		runs, _ := st.Runs(t.Context(), 0, 10)
		if len(runs) != 1 || runs[0].Status != "cancelled" {
			t.Fatalf("runs %+v, want one cancelled", runs)
		}
	})
}

func TestSyncOnceAndTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		addSource(t, st, "ok", "datahub", nil)
		addSource(t, st, "bad", "datahub", nil)
		addSource(t, st, "broken", "datahub", nil)
		addSource(t, st, "unknown", "carrierpigeon", nil)
		d := newFake("datahub", func(ctx context.Context, job *Job, n int) (Result, error) {
			switch job.Source.Name {
			case "bad":
				return Result{}, syncerr.Errorf(syncerr.Server, "GET /v1.0/cim/timeseries", "503")
			case "broken":
				panic("driver bug: index out of range") // a driver bug the engine must survive
			}
			return Result{Items: 4, Readings: 96}, nil
		})
		e := newTestEngine(st, nil, d)
		if res, err := e.SyncOnce(t.Context(), "ok"); err != nil || res.Readings != 96 {
			t.Fatalf("SyncOnce(ok) = %+v, %v", res, err)
		}
		if _, err := e.SyncOnce(t.Context(), "bad"); syncerr.KindOf(err) != syncerr.Server {
			t.Fatalf("SyncOnce(bad) = %v", err)
		}
		if _, err := e.SyncOnce(t.Context(), "broken"); err == nil {
			t.Fatal("a panicking driver did not fail")
		}
		if _, err := e.SyncOnce(t.Context(), "unknown"); syncerr.KindOf(err) != syncerr.Config {
			t.Fatalf("SyncOnce(unknown kind) = %v", err)
		}
		if _, err := e.SyncOnce(t.Context(), "absent"); err == nil {
			t.Fatal("SyncOnce of an absent source did not fail")
		}
		if s := statusOf(t, e, "bad"); s.State != StateBackoff || s.ErrorKind != syncerr.Server {
			t.Fatalf("bad: %+v", s)
		}
		runs, _ := st.Runs(t.Context(), 0, 10)
		if len(runs) != 3 || runs[2].Status != "ok" || runs[2].Readings != 96 || runs[1].Status != "failed" {
			t.Fatalf("runs %+v", runs)
		}
		if msg, err := e.Test(t.Context(), "ok"); err != nil || msg != "fake ok answers" {
			t.Fatalf("Test = %q, %v", msg, err)
		}
		if _, err := e.Test(t.Context(), "unknown"); err == nil {
			t.Fatal("Test of a kind without a driver did not fail")
		}
		// A source whose kind has no driver shows why in its status once loaded.
		e.Reload(t.Context())
		if s := statusOf(t, e, "unknown"); s.State != StateAttention || s.ErrorKind != syncerr.Config {
			t.Fatalf("unknown kind: %+v", s)
		}
	})
}

func TestStartClosesRunsADeadProcessLeftRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := mustStore(t)
		src := addSource(t, st, "gb", "greenbutton", nil)
		t0 := time.Now()
		st.Now = func() time.Time { return t0.Add(-3 * time.Hour) }
		stale, err := st.StartRun(t.Context(), src.ID) // a crashed process's run
		if err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return t0.Add(-time.Minute) }
		live, err := st.StartRun(t.Context(), src.ID) // another process's, still running
		if err != nil {
			t.Fatal(err)
		}
		st.Now = time.Now
		e := newTestEngine(st, nil, newFake("greenbutton", func(ctx context.Context, job *Job, n int) (Result, error) {
			<-ctx.Done()
			return Result{}, ctx.Err()
		}))
		if err := e.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		runs, err := st.Runs(t.Context(), src.ID, 10)
		e.Stop()
		if err != nil {
			t.Fatal(err)
		}
		byID := map[int64]store.SyncRun{}
		for _, r := range runs {
			byID[r.ID] = r
		}
		if r := byID[stale]; r.Status != "cancelled" || r.Error == "" || r.Finished.IsZero() {
			t.Errorf("stale run %+v, want cancelled with a reason", r)
		}
		if r := byID[live]; r.Status != "running" {
			t.Errorf("a recent run was closed: %+v", r)
		}
	})
}
