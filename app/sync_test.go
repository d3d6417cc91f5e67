package app

import (
	"bytes"
	"context"
	"custody/sync/datahub"
	"custody/sync/obevents"
	"custody/sync/settings"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/engine"
	"custody/sync/syncerr"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is an environment with buffers for output, an in-memory keyring and the given
// drivers.
func testEnv(t *testing.T, drivers ...engine.Driver) (*Env, *syncBuffer, *syncBuffer) {
	t.Helper()
	var out, errOut syncBuffer
	env := &Env{
		Stdin:   strings.NewReader(""),
		Stdout:  &out,
		Stderr:  &errOut,
		Getenv:  func(string) string { return "" },
		Secrets: secrets.NewMemory(),
		Logger:  slog.New(slog.DiscardHandler),
		Drivers: map[string]engine.Driver{},
	}
	for _, d := range drivers {
		env.Drivers[d.Kind()] = d
	}
	return env, &out, &errOut
}

// scriptedDriver is a fake driver whose outcome depends on the source's name.
type scriptedDriver struct {
	kind    string
	outcome map[string]error
	mu      sync.Mutex
	calls   int
}

func (d *scriptedDriver) Kind() string { return d.kind }

func (d *scriptedDriver) Describe() settings.Kind { return settings.Kind{Name: d.kind} }

func (d *scriptedDriver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
	d.mu.Lock()
	d.calls++
	d.mu.Unlock()
	job.Progress(engine.Progress{Message: "GET queue"})
	if err := d.outcome[job.Source.Name]; err != nil {
		return engine.Result{}, err
	}
	return engine.Result{Items: 2, Readings: 48}, nil
}

func (d *scriptedDriver) Test(context.Context, *engine.Job) (string, error) { return "fine", nil }

func mustAddSources(t *testing.T, path string, srcs ...store.Source) {
	t.Helper()
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, s := range srcs {
		if err := st.AddSource(t.Context(), &s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyncOncePrintsOutcomesAdviceAndSummary(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	mustAddSources(t, db,
		store.Source{Name: "home", Kind: "datahub", Enabled: true},
		store.Source{Name: "work", Kind: "datahub", Enabled: true},
		store.Source{Name: "off", Kind: "datahub", Enabled: false})
	revoked := syncerr.Errorf(syncerr.Auth, "token", "400 invalid_client")
	d := &scriptedDriver{kind: "datahub", outcome: map[string]error{"work": revoked}}

	env, out, errOut := testEnv(t, d)
	if code := Run(t.Context(), env, []string{"sync", "--once", "--db", db}); code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, errOut)
	}
	if !strings.Contains(out.String(), "home: ok in ") || !strings.Contains(out.String(), "home: syncing (datahub)") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, want := range []string{"work: FAILED (authorisation error): token: 400 invalid_client",
		"what to do: " + syncerr.Advice(revoked), "1 of 2 sources failed"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out.String()+errOut.String(), "off:") {
		t.Errorf("a disabled source was synced:\n%s", out)
	}

	// Naming the sources that work: exit 0 and a summary.
	env, out, errOut = testEnv(t, d)
	if code := Run(t.Context(), env, []string{"sync", "home", "--once", "--db", db}); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(out.String(), "synced 1 source: 2 items, 48 readings") {
		t.Errorf("stdout:\n%s", out)
	}

	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(t.Context(), 0, 10)
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs %+v, %v; want 3 recorded", runs, err)
	}
}

func TestSyncOnceWithAnUnknownSourceOrKindFails(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	mustAddSources(t, db, store.Source{Name: "later", Kind: "obevents", Enabled: true})
	env, _, errOut := testEnv(t)
	if code := Run(t.Context(), env, []string{"sync", "--once", "--db", db}); code != exitFailed ||
		!strings.Contains(errOut.String(), "later: FAILED (configuration error)") {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	env, _, errOut = testEnv(t)
	if code := Run(t.Context(), env, []string{"sync", "--once", "--db", db, "nosuch"}); code != exitFailed ||
		!strings.Contains(errOut.String(), "nosuch") {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
}

func TestSyncRunsUntilInterruptedAndStopsCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "c.db")
		mustAddSources(t, db,
			store.Source{Name: "home", Kind: "datahub", Enabled: true, Config: map[string]string{"interval": "10m"}},
			store.Source{Name: "flaky", Kind: "datahub", Enabled: true, Config: map[string]string{"interval": "10m"}})
		d := &scriptedDriver{kind: "datahub", outcome: map[string]error{
			"flaky": syncerr.Errorf(syncerr.Server, "GET /v1.0/cim/timeseries", "503 Service Unavailable")}}
		env, out, errOut := testEnv(t, d)
		ctx, interrupt := context.WithCancel(t.Context())
		code := make(chan int)
		go func() { code <- Run(ctx, env, []string{"sync", "--db", db}) }()
		time.Sleep(35 * time.Minute) // runs at <5s, then every 10m plus up to 1m of jitter: 4 runs
		synctest.Wait()
		// A source added meanwhile, as by `custody sources add` in another shell, is picked up.
		mustAddSources(t, db, store.Source{Name: "later", Kind: "datahub", Enabled: true})
		time.Sleep(reloadEvery + 6*time.Second)
		synctest.Wait()
		interrupt() // as SIGINT does through signal.NotifyContext
		if c := <-code; c != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", c, errOut)
		}
		if n := strings.Count(out.String(), "home: ok: 2 items, 48 readings; next sync at"); n != 4 {
			t.Errorf("%d ok lines for home in 35 minutes at 10m, want 4:\n%s", n, out)
		}
		if !strings.Contains(errOut.String(), "flaky: FAILED (server error, 1 in a row)") ||
			!strings.Contains(errOut.String(), "flaky: FAILED (server error, 2 in a row)") {
			t.Errorf("stderr:\n%s", errOut)
		}
		if !strings.Contains(out.String(), "later: ok: 2 items") {
			t.Errorf("a source added while running was not synced:\n%s", out)
		}
		if !strings.HasSuffix(out.String(), "stopped\n") {
			t.Errorf("stdout does not end with stopped:\n%s", out)
		}
	})
}

func TestSourcesAddCommandRoundTrips(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	mustWrite(t, ca, "x")
	src := store.Source{Name: "my bank", Kind: "obevents", Config: map[string]string{
		obevents.CfgBaseURL: "https://127.0.0.1:4443/open-banking/v3.1", obevents.CfgTokenURL: "https://127.0.0.1:4443/token",
		obevents.CfgClientID: "demo-client", obevents.CfgJWKSURL: "https://127.0.0.1:4443/jwks", obevents.CfgIssuer: "https://bank.example",
		obevents.CfgAudience: "demo-client", obevents.CfgCA: ca, obevents.CfgCert: ca, obevents.CfgKey: ca}}
	cmd := sourcesAddCommand(testKind(t, "obevents"), src, "s3cr'et")
	if !strings.HasPrefix(cmd, `printf '%s\n' 's3cr'\''et' | custody sources add obevents 'my bank' --base-url https://127.0.0.1:4443/open-banking/v3.1`) ||
		!strings.HasSuffix(cmd, " --secret-stdin") {
		t.Fatalf("command: %s", cmd)
	}
	// Parse the flags back the way `custody sources add` does.
	fields := strings.Fields(cmd[strings.Index(cmd, "--base-url"):])
	get := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		get[strings.TrimPrefix(fields[i], "--")] = fields[i+1]
	}
	back, err := sourceFromFlags("obevents", "my bank", func(f string) string { return get[f] }, func(string) []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range src.Config {
		if back.Config[k] != v {
			t.Errorf("%s: %q after the round trip, want %q", k, back.Config[k], v)
		}
	}

	dh := store.Source{Name: "dh", Kind: "datahub", Config: map[string]string{}}
	dh.SetList(datahub.CfgQueues, []string{"timeseries", "aggregations"})
	if cmd := sourcesAddCommand(testKind(t, "datahub"), dh, "x"); !strings.Contains(cmd, "--queue timeseries --queue aggregations") {
		t.Fatalf("lists: %s", cmd)
	}
}

func TestSimulateListensOnLoopbackOnly(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true}, {"localhost:8443", true}, {"[::1]:9000", true},
		{"0.0.0.0:8443", false}, {":8443", false}, {"192.168.1.2:80", false}, {"example.com:443", false},
		{"127.0.0.1", false}, {"127.0.0.1:http", false},
	} {
		_, _, err := loopbackAddr(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("loopbackAddr(%q) = %v", tt.addr, err)
		}
		if err != nil && !errors.Is(err, errUsage) {
			t.Errorf("loopbackAddr(%q): %v is not a usage error", tt.addr, err)
		}
	}
}
