package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/espi/espitest"
)

// lockedBuffer is a log buffer the listener's goroutines and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConnectMyDataEndToEnd adds a Connect My Data source through the CLI, connects it with
// `sources connect --no-browser` (the test plays the browser, following the printed address
// against the simulator), syncs it, keeps working across an expiry and a refresh rotation,
// says to connect again after a revocation, and never lets a token reach the database, the
// log or the output.
func TestConnectMyDataEndToEnd(t *testing.T) {
	now := time.Now()
	r := newGBRig(t, "custody-e2e", &espitest.Options{Days: 2, ConnectMyData: true, RotateRefresh: true,
		Now: func() time.Time { return now }})
	pki, files, sim, c := r.pki, r.files, r.sim, r.c
	r.run(t, 0, sim.Secret()+"\n", "sources", "add", "greenbutton", "home",
		"--base-url", sim.BaseURL(), "--token-url", sim.TokenURL(), "--client-id", sim.ClientID(),
		"--authorize-url", sim.AuthorizeURL(), "--scope", "FB=1_3_4_5_13_14_15_39;IntervalDuration=3600",
		"--cert", files.ClientCert, "--key", files.ClientKey, "--ca", files.CA, "--secret-stdin")
	if out := r.run(t, 1, "", "sync", "--once", "home"); !strings.Contains(out, "custody sources connect home") {
		t.Fatalf("sync before connecting: %s", out)
	}

	// connect, playing the browser.
	// A browser: it trusts the custodian's CA, has no client certificate, follows redirects.
	browser := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool()}}}
	connect := func() {
		t.Helper()
		stdoutR, stdoutW := io.Pipe()
		var stderr bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: stdoutW, Stderr: &stderr, Getenv: func(string) string { return "" },
			Secrets: c.secrets, Logger: slog.New(slog.NewTextHandler(&c.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		env.Drivers = drivers(env)
		done := make(chan int, 1)
		go func() {
			done <- Run(context.Background(), env, []string{"sources", "connect", "home", "--no-browser", "--timeout", "1m", "--db", c.db})
			stdoutW.Close()
		}()
		lines := bufio.NewScanner(stdoutR)
		if !lines.Scan() {
			t.Fatalf("connect printed nothing; stderr %s", stderr.String())
		}
		first := lines.Text()
		addr, ok := strings.CutPrefix(first, "Open this address in your browser: ")
		if !ok || !strings.HasPrefix(addr, sim.AuthorizeURL()+"?") {
			t.Fatalf("first line %q", first)
		}
		page, err := espitest.Authorize(context.Background(), browser, addr)
		if err != nil || !strings.Contains(page, "You may close this window") {
			t.Fatalf("browser: %q %v", page, err)
		}
		var more []string
		for lines.Scan() {
			more = append(more, lines.Text())
		}
		if code := <-done; code != 0 || len(more) != 0 {
			t.Fatalf("connect: exit %d, further stdout %q, stderr %s", code, more, stderr.String())
		}
		r.outputs.WriteString(first + stderr.String())
	}
	connect()
	q := sim.AuthorizeRequests()[0].Query
	if q.Get("scope") != "FB=1_3_4_5_13_14_15_39;IntervalDuration=3600" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
		t.Fatalf("authorize query %v", q)
	}
	for _, f := range []string{"access_token", "refresh_token"} {
		if v, err := c.secrets.Secret("home", f); err != nil || v == "" {
			t.Fatalf("keyring %s: %v", f, err)
		}
	}
	if out := r.run(t, 0, "", "sources", "list"); !strings.Contains(out, "home") {
		t.Fatalf("list: %s", out)
	}

	if out := r.run(t, 0, "", "sync", "--once", "home"); !strings.Contains(out, "home: ok") {
		t.Fatalf("sync: %s", out)
	}
	if out := r.run(t, 0, "", "export"); strings.Count(out, "\n") < 10 {
		t.Fatalf("export after sync: %s", out)
	}
	// Across an early expiry (401, refresh, rotation) and a lifetime running out.
	rt, _ := c.secrets.Secret("home", "refresh_token")
	sim.ExpireCustomerToken()
	r.run(t, 0, "", "sync", "--once", "home")
	if rt2, _ := c.secrets.Secret("home", "refresh_token"); rt2 == rt || sim.Refreshes() != 1 {
		t.Fatalf("refreshes %d; rotated refresh token kept: %v", sim.Refreshes(), rt2 != rt)
	}
	now = now.Add(2 * time.Hour)
	r.run(t, 0, "", "sync", "--once", "home")
	if sim.Refreshes() != 2 {
		t.Fatalf("%d refreshes after the lifetime ran out, want 2", sim.Refreshes())
	}
	// What the custodian says about the authorizations.
	if out := r.run(t, 0, "", "sources", "test", "home"); !strings.Contains(out, "subscription id "+sim.SubscriptionID()) || !strings.Contains(out, "active") {
		t.Fatalf("sources test: %s", out)
	}
	// A revocation: the refresh is refused, and the user is told to connect again.
	if err := sim.RevokeCustomer(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if out := r.run(t, 1, "", "sync", "--once", "home"); !strings.Contains(out, "invalid_grant") || !strings.Contains(out, "custody sources connect home") {
		t.Fatalf("sync after revocation: %s", out)
	}
	connect()
	r.run(t, 0, "", "sync", "--once", "home")

	toks := append(sim.IssuedTokens(), sim.RefreshTokens()...)
	if len(toks) < 4 {
		t.Fatalf("%d tokens issued", len(toks))
	}
	r.assertNowhere(t, "a token", append(toks, sim.Secret()))
}

// TestAsyncCustodianEndToEnd: against a PG&E-like custodian, `sync --once` says it is waiting
// for the notification (exit 0); the listener `custody sync` starts receives the BatchList and
// fetches the data; the next sync asks only from the time of the first request. A source with
// no listener is told plainly that this custodian delivers only by notification.
func TestAsyncCustodianEndToEnd(t *testing.T) {
	r := newGBRig(t, "custody-e2e", &espitest.Options{Days: 2, Async: true, HoldNotifications: true})
	sim, c := r.sim, r.c
	r.add(t, "pge", append(r.notifyFlags(), "--async-timeout", "26h")...)
	r.add(t, "bare")

	code, out, errOut := c.run("", "sync", "--once", "pge")
	if code != 0 || !strings.Contains(out, "requested; waiting for the custodian's notification since ") {
		t.Fatalf("sync --once: %d %s%s", code, out, errOut)
	}
	code, out, errOut = c.run("", "sync", "--once", "pge")
	if code != 0 || !strings.Contains(out, "waiting for the custodian's notification") {
		t.Fatalf("second sync --once: %d %s%s", code, out, errOut)
	}
	code, out, errOut = c.run("", "sync", "--once", "bare")
	if code == 0 || !strings.Contains(errOut, "only by notification") || !strings.Contains(errOut, "--notify-listen") || !strings.Contains(errOut, "/espi/notify/bare") {
		t.Fatalf("sync without a listener: %d %s%s", code, out, errOut)
	}

	// The listeners as `custody sync` starts them; the custodian notifies.
	var stdout, logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, st := r.listen(t, ctx, &stdout, &logs)
	ls := n.set.Listeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners", len(ls))
	}
	clientTLS, _ := r.pki.ClientTLS()
	sim.SetNotify(ls[0].URL()+"/espi/notify/pge", &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}})
	if err := sim.ReleaseNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	n.wait()
	if counts, _ := st.Counts(ctx); counts.Readings == 0 {
		t.Fatalf("nothing stored from the notification; log %s", logs.String())
	}
	src, _ := st.SourceByName(ctx, "pge")
	if cur, _ := st.Cursor(ctx, src.ID, "Batch/Bulk/"+sim.BulkID()); cur.IsZero() {
		t.Fatal("the cursor did not move")
	}
	code, out, errOut = c.run("", "sync", "--once", "pge")
	if code != 0 || !strings.Contains(out, "waiting for the custodian's notification") {
		t.Fatalf("sync after the notification: %d %s%s", code, out, errOut)
	}
	var asks []string
	for _, q := range sim.Requests() {
		if strings.HasSuffix(q.Path, "/Batch/Bulk/"+sim.BulkID()) && !strings.Contains(q.RawQuery, "correlationID") && q.Status == 202 {
			asks = append(asks, q.RawQuery)
		}
	}
	// pge asked twice (once per window), bare asked once.
	if len(asks) != 3 || asks[0] != "" || !strings.Contains(asks[2], "published-min=") {
		t.Fatalf("bulk requests %q", asks)
	}
	_ = store.NotifiedFetched
}

// TestAsyncCustodianContinuousSync: `custody sync` (continuous) against a PG&E-like custodian
// starts the listener, asks once, receives the notification, stores every reading and moves
// the cursor to the time of its request.
func TestAsyncCustodianContinuousSync(t *testing.T) {
	now := time.Now()
	r := newGBRig(t, "custody-e2e", &espitest.Options{Days: 3, Async: true, HoldNotifications: true,
		Now: func() time.Time { return now }})
	pki, files, sim, c := r.pki, r.files, r.sim, r.c
	// The same data served synchronously, to compare: every reading must arrive.
	ref, err := espitest.Start(pki, "127.0.0.1:0", espitest.Options{Days: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	r.add(t, "pge", r.notifyFlags()...)
	var stdout, logs lockedBuffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stdout, Getenv: func(string) string { return "" },
		Secrets: c.secrets, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	env.Drivers = drivers(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, env, []string{"sync", "--db", c.db}) }()
	defer func() {
		cancel()
		<-done
	}()
	// Bounded waits for what the background process does (not a timing assertion).
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for i := 0; i < 1500; i++ { // up to 30 s, for a loaded machine
			if ok() {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s never happened; output:\n%s\nlog:\n%s", what, stdout.String(), logs.String())
	}
	var listenURL string
	waitFor("the listener", func() bool {
		for _, l := range strings.Split(stdout.String(), "\n") {
			if u, ok := strings.CutPrefix(l, "listening for notifications on "); ok {
				listenURL = u
				return true
			}
		}
		return false
	})
	waitFor("the requests", func() bool { return len(sim.Held()) == 2 }) // usage and customer information
	waitFor("the waiting note", func() bool {
		return strings.Contains(stdout.String(), "requested; waiting for the custodian's notification since ")
	})
	clientTLS, _ := pki.ClientTLS()
	sim.SetNotify(listenURL+"/espi/notify/pge", &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}})
	if err := sim.ReleaseNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, _ := st.SourceByName(ctx, "pge")
	var cursor time.Time
	waitFor("the cursor move", func() bool {
		cursor, _ = st.Cursor(ctx, src.ID, "Batch/Bulk/"+sim.BulkID())
		return !cursor.IsZero()
	})
	cancel()
	<-done
	done <- 0

	// Every reading the custodian has, as a synchronous fetch of the same data gives them.
	refDB := filepath.Join(t.TempDir(), "ref.db")
	rc := &cli{t: t, db: refDB, secrets: secrets.NewMemory()}
	if code, out, errOut := rc.run(ref.Secret()+"\n", "sources", "add", "greenbutton", "pge", "--base-url", ref.BaseURL(), "--token-url", ref.TokenURL(),
		"--client-id", ref.ClientID(), "--bulk-id", ref.BulkID(), "--cert", files.ClientCert, "--key", files.ClientKey, "--ca", files.CA, "--secret-stdin"); code != 0 {
		t.Fatalf("reference add: %d %s%s", code, out, errOut)
	}
	rc.run("", "sync", "--once", "pge")
	_, want, _ := rc.run("", "export")
	_, got, _ := c.run("", "export")
	wantRows, gotRows := strings.Count(want, "\n"), strings.Count(got, "\n")
	if wantRows < 10 || gotRows != wantRows {
		t.Fatalf("%d rows through the notification, %d fetched directly", gotRows, wantRows)
	}
	var asks int
	for _, q := range sim.Requests() {
		if strings.HasSuffix(q.Path, "/Batch/Bulk/"+sim.BulkID()) && !strings.Contains(q.RawQuery, "correlationID") && q.Status == 202 {
			asks++
		}
	}
	if asks != 1 {
		t.Fatalf("%d bulk requests, want one for the window", asks)
	}
}
