package eloverblik_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"custody/store"
	"custody/sync/calllog"
	"custody/sync/eloverblik"
	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// bubbleSim serves a simulator over real TLS on in-memory pipes inside a synctest bubble (see
// pipeListener) and returns it with a client that trusts it.
func bubbleSim(t *testing.T, opts eloverbliktest.Options) (*eloverbliktest.Server, *http.Client) {
	t.Helper()
	pki, err := simtls.New("synctest")
	if err != nil {
		t.Fatal(err)
	}
	if opts.UnavailableEvery == 0 {
		opts.UnavailableEvery = -1
	}
	sim := eloverbliktest.New(opts)
	tc, _ := pki.ServerTLS(false)
	tc.SessionTicketsDisabled = true // net.Pipe is unbuffered
	ln := newPipeListener()
	srv := &http.Server{Handler: sim, TLSConfig: tc, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	sim.SetURL("https://127.0.0.1:8443")
	hc := &http.Client{Transport: &http.Transport{DialContext: ln.dial, TLSClientConfig: &tls.Config{RootCAs: pki.CAPool(), MinVersion: tls.VersionTLS12}}}
	t.Cleanup(func() {
		srv.Close()
		hc.CloseIdleConnections()
	})
	return sim, hc
}

// database is one Custody database with eloverblik sources and its own keyring.
type database struct {
	st   *store.Store
	srcs []store.Source
	sec  engine.Secrets
}

func newDatabase(t *testing.T, sim *eloverbliktest.Server, sec engine.Secrets, names ...string) *database {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db := &database{st: st, sec: sec}
	for _, n := range names {
		src := store.Source{Name: n, Kind: "eloverblik", Enabled: true, Config: map[string]string{"base_url": sim.BaseURL()}}
		if err := st.AddSource(context.Background(), &src); err != nil {
			t.Fatal(err)
		}
		db.srcs = append(db.srcs, src)
	}
	return db
}

func (db *database) job(i int) *engine.Job {
	return &engine.Job{Source: db.srcs[i], Store: db.st, Secrets: db.sec, Logger: slog.New(slog.DiscardHandler), Progress: func(engine.Progress) {}}
}

// tokenCalls returns the times and answers of the simulator's token calls.
func tokenCalls(sim *eloverbliktest.Server) (at []time.Time, status []int) {
	for _, q := range sim.Requests() {
		if q.Path == eloverbliktest.TokenPath {
			at, status = append(at, q.At), append(status, q.Status)
		}
	}
	return at, status
}

// TestTwoDatabasesShareTheTokenLimit: two databases on one machine (one with two sources),
// each synced by its own driver as separate processes would, need three token calls at once.
// With the machine-wide call log they take turns: two calls at once, the third when the
// minute has passed, and Eloverblik (which counts per IP address) never refuses one. With
// each database's own record, as before, the third call is refused with 429.
func TestTwoDatabasesShareTheTokenLimit(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared log", false: "per database"}[shared]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim, hc := bubbleSim(t, eloverbliktest.Options{From: time.Now().AddDate(0, 0, -5)})
				year := time.Now().AddDate(1, 0, 0)
				a := newDatabase(t, sim, testkit.NewKeyring(map[string]string{"home/client_secret": sim.RefreshToken(year), "cabin/client_secret": sim.RefreshToken(year)}), "home", "cabin")
				b := newDatabase(t, sim, testkit.NewKeyring(map[string]string{"home/client_secret": sim.RefreshToken(year)}), "home")
				logPath := filepath.Join(t.TempDir(), "cache", "eloverblik-calls.json")
				driver := func() *eloverblik.Driver {
					d := &eloverblik.Driver{HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
					if shared {
						l, err := calllog.Open(logPath)
						if err != nil {
							t.Fatal(err)
						}
						d.Calls = l
					}
					return d
				}
				start := time.Now()
				var wg sync.WaitGroup
				for _, j := range []*engine.Job{a.job(0), a.job(1), b.job(0)} {
					wg.Go(func() {
						if _, err := driver().Sync(context.Background(), j); err != nil {
							t.Errorf("%s: %v", j.Source.Name, err)
						}
					})
				}
				wg.Wait()
				at, status := tokenCalls(sim)
				refused := 0
				for _, s := range status {
					if s == http.StatusTooManyRequests {
						refused++
					}
				}
				if shared {
					if len(at) != 3 || refused != 0 {
						t.Fatalf("token calls at %v answered %v; want three, none refused", at, status)
					}
					if d := at[2].Sub(at[0]); d < time.Minute || d > 2*time.Minute {
						t.Errorf("the third token call came %v after the first", d)
					}
					// The second call waits at most for the call log's file lock (a few
					// 25 ms pauses while another process writes it), never for the minute.
					if d := at[1].Sub(start); d > 10*time.Second {
						t.Errorf("the second token call waited %v", d)
					}
				} else if refused == 0 {
					t.Errorf("token calls at %v answered %v: per-database records kept Eloverblik's per-address limit, so the simulator does not enforce it", at, status)
				}
			})
		})
	}
}

// TestDataTokenKeptInTheKeyring: a restarted driver (a new process) uses the data token kept
// in the source's keyring item and makes no token call; the item is bound to the refresh
// token, so a new refresh token gets a new data token; the call log never holds a token.
func TestDataTokenKeptInTheKeyring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, hc := bubbleSim(t, eloverbliktest.Options{From: time.Now().AddDate(0, 0, -5)})
		refresh := sim.RefreshToken(time.Now().AddDate(1, 0, 0))
		kr := testkit.NewKeyring(map[string]string{"home/client_secret": refresh})
		db := newDatabase(t, sim, kr, "home")
		l, _ := calllog.Open(filepath.Join(t.TempDir(), "calls.json"))
		driver := func() *eloverblik.Driver {
			return &eloverblik.Driver{Calls: l, HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
		}
		for range 3 {
			if _, err := driver().Sync(context.Background(), db.job(0)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Hour)
		}
		if at, _ := tokenCalls(sim); len(at) != 1 {
			t.Fatalf("%d token calls for three runs within the data token's day", len(at))
		}
		kept, _ := kr.Secret("home", eloverblik.DataTokenField)
		if dts := sim.DataTokens(); len(dts) != 1 || !strings.HasSuffix(kept, ":"+dts[0]) {
			t.Errorf("keyring item %q, tokens issued %q", kept, dts)
		}
		refresh = sim.RefreshToken(time.Now().AddDate(1, 0, 0))
		kr.SetSecret("home", eloverblik.SecretField, refresh)
		if _, err := driver().Sync(context.Background(), db.job(0)); err != nil {
			t.Fatal(err)
		}
		if at, _ := tokenCalls(sim); len(at) != 2 {
			t.Errorf("a new refresh token reused the old data token (%d token calls)", len(at))
		}

		// A kept data token the service no longer accepts (here: one another Eloverblik
		// issued) is answered 401, forgotten, and replaced by a new one.
		other := eloverbliktest.New(eloverbliktest.Options{})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, eloverbliktest.TokenPath, nil)
		req.Header.Set("Authorization", "Bearer "+other.RefreshToken(time.Now().AddDate(1, 0, 0)))
		other.ServeHTTP(rec, req)
		var ans struct{ Result string }
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans.Result == "" {
			t.Fatalf("foreign data token: %s", rec.Body)
		}
		h := sha256.Sum256([]byte(refresh))
		kr.SetSecret("home", eloverblik.DataTokenField, hex.EncodeToString(h[:8])+":"+ans.Result)
		time.Sleep(time.Minute)
		if _, err := driver().Sync(context.Background(), db.job(0)); err != nil {
			t.Fatal(err)
		}
		kept, _ = kr.Secret("home", eloverblik.DataTokenField)
		if at, _ := tokenCalls(sim); len(at) != 3 || strings.HasSuffix(kept, ans.Result) || !slices.ContainsFunc(sim.DataTokens(), func(dt string) bool { return strings.HasSuffix(kept, ":"+dt) }) {
			t.Errorf("%d token calls; kept %q", len(at), kept)
		}
		rejected := 0
		for _, q := range sim.Requests() {
			if q.Status == http.StatusUnauthorized {
				rejected++
			}
		}
		if rejected != 1 {
			t.Errorf("%d calls answered 401", rejected)
		}
	})
}

// TestTestAnswersAtOnce: when the machine's token calls are used up (by another database),
// `sources test` does not wait: it says when a token call is allowed and what it could check
// (the refresh token, the host answering), without a token call. After the minute it tests
// with a new data token, and then with the kept one.
func TestTestAnswersAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, hc := bubbleSim(t, eloverbliktest.Options{From: time.Now().AddDate(0, 0, -5)})
		kr := testkit.NewKeyring(map[string]string{"home/client_secret": sim.RefreshToken(time.Now().AddDate(1, 0, 0))})
		db := newDatabase(t, sim, kr, "home")
		l, _ := calllog.Open(filepath.Join(t.TempDir(), "calls.json"))
		for range 2 { // another database's two token calls
			if wait, err := l.Take(context.Background(), "127.0.0.1:8443 token", eloverblik.TokenCalls, eloverblik.TokenPeriod, time.Now()); wait != 0 || err != nil {
				t.Fatal(wait, err)
			}
		}
		time.Sleep(20 * time.Second)
		d := &eloverblik.Driver{Calls: l, HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
		start := time.Now()
		_, err := d.Test(context.Background(), db.job(0))
		if took := time.Since(start); took != 0 {
			t.Errorf("the test waited %v", took)
		}
		var le *eloverblik.TokenLimitError
		var se *syncerr.Error
		if !errors.As(err, &le) || !errors.As(err, &se) {
			t.Fatalf("test = %v, want the token limit", err)
		}
		if le.Wait != 41*time.Second || se.RetryAfter != le.Wait || !le.At.Equal(start.Add(41*time.Second)) {
			t.Errorf("allowed at %v (in %v), retry after %v", le.At, le.Wait, se.RetryAfter)
		}
		msg := err.Error()
		for _, want := range []string{"not tested yet", "2 token calls a minute", "in 41s", "the refresh token is a JWT valid until", "127.0.0.1:8443 answers"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		if !strings.Contains(se.Hint, "Try again after") {
			t.Errorf("hint %q", se.Hint)
		}
		if at, _ := tokenCalls(sim); len(at) != 0 {
			t.Errorf("%d token calls", len(at))
		}
		alive := 0
		for _, q := range sim.Requests() {
			if q.Path == eloverbliktest.AlivePath && q.Status == http.StatusOK {
				alive++
			}
		}
		if alive != 1 {
			t.Errorf("%d health checks", alive)
		}

		time.Sleep(41 * time.Second)
		msg, err = d.Test(context.Background(), db.job(0))
		if err != nil || !strings.Contains(msg, "2 metering points linked") || !strings.Contains(msg, "with a new data token") {
			t.Fatalf("test after the wait: %q, %v", msg, err)
		}
		// Another process: the data token kept in the keyring, no token call.
		d2 := &eloverblik.Driver{Calls: l, HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
		msg, err = d2.Test(context.Background(), db.job(0))
		if err != nil || !strings.Contains(msg, "kept from an earlier run (no token call)") {
			t.Fatalf("test with the kept token: %q, %v", msg, err)
		}
		if at, _ := tokenCalls(sim); len(at) != 1 {
			t.Errorf("%d token calls", len(at))
		}
	})
}

// TestTestDoesNotWaitOutBusyAnswers: a 503 during a test is reported at once with when to
// try again, not slept through.
func TestTestDoesNotWaitOutBusyAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, hc := bubbleSim(t, eloverbliktest.Options{From: time.Now().AddDate(0, 0, -5)})
		db := newDatabase(t, sim, testkit.NewKeyring(map[string]string{"home/client_secret": sim.RefreshToken(time.Now().AddDate(1, 0, 0))}), "home")
		sim.Inject(eloverbliktest.Fault{Status: http.StatusServiceUnavailable})
		d := &eloverblik.Driver{HTTPClient: func(string) (*http.Client, error) { return hc, nil }}
		start := time.Now()
		_, err := d.Test(context.Background(), db.job(0))
		if took := time.Since(start); took != 0 || err == nil || !strings.Contains(err.Error(), "503") || syncerr.RetryAfterOf(err) < time.Minute {
			t.Errorf("took %v: %v (retry after %v)", took, err, syncerr.RetryAfterOf(err))
		}
	})
}
