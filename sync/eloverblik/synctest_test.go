package eloverblik_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"custody/sync/eloverblik"
	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
)

// pipeListener serves connections made by its dial over in-memory pipes, so that real TLS and
// HTTP run inside a synctest bubble, where time moves only when every goroutine waits.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	s, c := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestWaitsInRealTime runs syncs against the simulator over TLS inside a synctest bubble, with
// the driver's own timers: busy answers (503, then 429 with Retry-After 90) are waited out for
// as long as they ask, and syncs a second apart, each in a "restarted" driver, never make a
// third token call within one minute.
func TestWaitsInRealTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, hc := bubbleSim(t, eloverbliktest.Options{From: time.Now().AddDate(0, 0, -12), RetryAfter: 90 * time.Second, UnavailableEvery: -1})
		db := newDatabase(t, sim, testkit.Secrets{"home/client_secret": sim.RefreshToken(time.Now().AddDate(1, 0, 0))}, "home")
		var mu sync.Mutex
		var notes []string
		job := db.job(0)
		job.Progress = func(p engine.Progress) {
			mu.Lock()
			notes = append(notes, p.Message)
			mu.Unlock()
		}
		newDriver := func() *eloverblik.Driver {
			return &eloverblik.Driver{HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
		}

		sim.Inject(eloverbliktest.Fault{Status: http.StatusServiceUnavailable}, eloverbliktest.Fault{Status: http.StatusTooManyRequests})
		start := time.Now()
		if _, err := newDriver().Sync(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 180*time.Second || took > 200*time.Second {
			t.Errorf("the first sync took %v; want the two waits of 90 s each", took)
		}
		waits := 0
		for _, n := range notes {
			if strings.Contains(n, "waiting 1m30s before trying again") {
				waits++
			}
		}
		if waits != 2 {
			t.Errorf("%d waits shown: %q", waits, notes)
		}

		// Three restarts a second apart: the first two each make a token call at once, the
		// third waits for the minute to pass.
		for i := range 3 {
			time.Sleep(time.Second)
			start = time.Now()
			if _, err := newDriver().Sync(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if i < 2 && took > 0 || i == 2 && took < 58*time.Second {
				t.Errorf("restart %d waited %v", i+1, took)
			}
		}

		at, status := tokenCalls(sim)
		for _, code := range status {
			if code != http.StatusOK {
				t.Errorf("token call answered %d", code)
			}
		}
		if len(at) != 4 {
			t.Fatalf("%d token calls", len(at))
		}
		for i := 2; i < len(at); i++ {
			if d := at[i].Sub(at[i-2]); d < time.Minute {
				t.Errorf("three token calls within %v", d)
			}
		}
	})
}
