package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/redact/redacttest"
)

// Seen is what a user and the log see of one sync run by the engine: the error returned, the
// status published (what the UI shows), the sync run recorded in the database, and the log.
type Seen struct {
	Err      error
	Status   engine.Status
	Progress []string // every progress message published during the run
	RunError string
	Log      string
}

// Text is everything seen, for a check of what must or must not be there.
func (s Seen) Text() string {
	parts := []string{s.Status.LastError, s.Status.Advice, s.RunError, s.Log}
	if s.Err != nil {
		parts = append(parts, s.Err.Error())
	}
	return strings.Join(append(parts, s.Progress...), "\n")
}

// SyncByEngine syncs the source named src once through a real engine (with the redaction it
// applies to every run), logging at debug level, and returns what is seen of it.
func SyncByEngine(t testing.TB, st *store.Store, d engine.Driver, secrets engine.Secrets, src string) Seen {
	t.Helper()
	var log Buffer
	e := engine.New(engine.Config{Store: st, Drivers: map[string]engine.Driver{d.Kind(): d}, Secrets: secrets,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	updates, cancel := e.Subscribe()
	var progress []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for s := range updates {
			if s.Progress.Message != "" {
				progress = append(progress, s.Progress.Message)
			}
		}
	}()
	_, err := e.SyncOnce(context.Background(), src)
	cancel()
	wg.Wait()
	seen := Seen{Err: err, Progress: progress, Log: log.String()}
	for _, s := range e.Statuses() {
		if s.Source == src {
			seen.Status = s
		}
	}
	source, serr := st.SourceByName(context.Background(), src)
	if serr != nil {
		t.Fatal(serr)
	}
	runs, rerr := st.Runs(context.Background(), source.ID, 1)
	if rerr != nil || len(runs) == 0 {
		t.Fatalf("no sync run recorded: %v", rerr)
	}
	seen.RunError = runs[0].Error
	return seen
}

// NoLeak fails t when what was seen holds any of the tokens in any encoding.
func NoLeak(t testing.TB, seen Seen, tokens ...string) {
	t.Helper()
	text := seen.Text()
	for _, tok := range tokens {
		if leaks := redacttest.Leaks(text, tok); len(leaks) > 0 {
			t.Errorf("the token %.6s… is seen (%v) in:\n%s", tok, leaks, text)
		}
	}
}

// Buffer is a bytes.Buffer that goroutines may write while a test reads it, for logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
