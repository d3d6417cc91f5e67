package calllog

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestTakeKeepsTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.json")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(path) // another database's view of the same file
	for _, tc := range []struct {
		log  *File
		key  string
		at   time.Duration
		wait time.Duration
	}{
		{a, "api.eloverblik.dk token", 0, 0},
		{b, "api.eloverblik.dk token", 10 * time.Second, 0},
		{a, "api.eloverblik.dk token", 20 * time.Second, 40 * time.Second},
		{b, "api.eloverblik.dk token", 59 * time.Second, time.Second},
		{b, "127.0.0.1:8443 token", 59 * time.Second, 0}, // another host has its own limit
		{a, "api.eloverblik.dk token", 60 * time.Second, 0},
		{b, "api.eloverblik.dk token", 61 * time.Second, 9 * time.Second},
	} {
		wait, err := tc.log.Take(context.Background(), tc.key, 2, time.Minute, t0.Add(tc.at))
		if err != nil || wait != tc.wait {
			t.Errorf("at %v %s: wait %v, %v; want %v", tc.at, tc.key, wait, err, tc.wait)
		}
	}
	raw, _ := os.ReadFile(path)
	if s := string(raw); !strings.Contains(s, `"api.eloverblik.dk token":[`) || strings.Contains(s, "eyJ") {
		t.Errorf("file %s", s)
	}
}

func TestDamagedAndBoundedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "calls.json")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(`{"calls":{"x":[1,2`), 0o600)
	if wait, err := l.Take(context.Background(), "k", 1, time.Minute, t0); wait != 0 || err != nil {
		t.Fatalf("damaged file: %v, %v", wait, err)
	}
	// A call from a clock far ahead does not block forever, and many keys stay bounded.
	os.WriteFile(path, []byte(fmt.Sprintf(`{"calls":{"k":[%d]}}`, t0.Add(48*time.Hour).UnixMilli())), 0o600)
	if wait, _ := l.Take(context.Background(), "k", 1, time.Minute, t0); wait != 0 {
		t.Errorf("a call two days ahead makes a wait of %v", wait)
	}
	for i := range 3 * MaxKeys {
		if _, err := l.Take(context.Background(), fmt.Sprint("host", i), 1, time.Minute, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.read().Calls); n != MaxKeys {
		t.Errorf("%d keys kept", n)
	}
	if _, err := l.Take(context.Background(), "", 1, time.Minute, t0); err == nil {
		t.Error("an empty key was taken")
	}
}

// TestGoroutinesTakeTurns: many goroutines, each with its own File (its own lock
// descriptor), take from one limit at once; exactly the limit succeed.
func TestGoroutinesTakeTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.json")
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Go(func() {
			l, _ := Open(path)
			wait, err := l.Take(context.Background(), "k", 2, time.Minute, t0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if wait == 0 {
				taken++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if taken != 2 {
		t.Errorf("%d calls taken, want 2", taken)
	}
}

// TestProcessesTakeTurns runs this test binary as four processes at once on one log: exactly
// two of them may make their call.
func TestProcessesTakeTurns(t *testing.T) {
	if p := os.Getenv("CALLLOG_CHILD"); p != "" {
		l, _ := Open(p)
		wait, err := l.Take(context.Background(), "k", 2, time.Minute, time.Now())
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("wait", wait == 0)
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "calls.json")
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 4 {
		c := exec.Command(os.Args[0], "-test.run=^TestProcessesTakeTurns$")
		c.Env = append(os.Environ(), "CALLLOG_CHILD="+path)
		out := &strings.Builder{}
		c.Stdout = out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, out)
	}
	taken := 0
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v: %s", err, outs[i])
		}
		if strings.Contains(outs[i].String(), "wait true") {
			taken++
		}
	}
	if taken != 2 {
		t.Errorf("%d processes made their call, want 2", taken)
	}
}

// FuzzFile: whatever the file holds (damaged, hand-edited, from a clock far off), Take never
// fails or waits longer than the period, and what it writes is a small, well-formed record.
func FuzzFile(f *testing.F) {
	f.Add([]byte(`{"calls":{"api.eloverblik.dk token":[1764763200000,1764763210000]}}`), 2)
	f.Add([]byte(`{"calls":{"k":[9223372036854775807,-9223372036854775808,0]}}`), 1)
	f.Add([]byte(`{"calls":null}`), 3)
	f.Add([]byte(`[]`), 1)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, limit int) {
		limit = 1 + abs(limit)%5
		path := filepath.Join(dir, "calls.json")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		l := &File{path: path}
		wait, err := l.Take(context.Background(), "api.eloverblik.dk token", limit, time.Minute, t0)
		if err != nil || wait < 0 || wait > time.Minute {
			t.Fatalf("wait %v, %v", wait, err)
		}
		if wait > 0 {
			return // nothing written: the file is as it was
		}
		rec := l.read()
		if len(rec.Calls) > MaxKeys {
			t.Fatalf("%d keys", len(rec.Calls))
		}
		for k, ats := range rec.Calls {
			if len(ats) > MaxCalls || k == "" {
				t.Fatalf("key %q: %d calls", k, len(ats))
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
