package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/calllog"
	"custody/sync/eloverblik/eloverbliktest"
)

// TestEloverblikEndToEnd drives the CLI against the Eloverblik simulator over TLS: add the
// source with the refresh token on stdin, test it, sync once, and export; then import the very
// answers the sync archived, as files, into another database: the two exports are the same
// bytes. A second sync adds nothing twice, and no token is anywhere but the keyring.
func TestEloverblikEndToEnd(t *testing.T) {
	now := time.Now() // the simulator's clock stands still, so that both syncs see the same data
	r := newELRig(t, eloverbliktest.Options{Now: func() time.Time { return now }, From: now.AddDate(0, 0, -400), UnavailableEvery: -1})
	sim, files, c := r.sim, r.files, r.c
	refresh := sim.RefreshToken(now.AddDate(1, 0, 0))

	code, out, errOut := c.run(refresh+"\n", "sources", "add", "eloverblik", "home", "--base-url", sim.BaseURL(), "--ca", files.CA, "--secret-stdin")
	if code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errOut)
	}
	if v, _ := c.secrets.Secret("home", "client_secret"); v != refresh {
		t.Fatal("the refresh token did not reach the keyring")
	}
	code, out, errOut = c.run("", "sync", "--once", "home")
	if code != 0 {
		t.Fatalf("sync: %d %s %s", code, out, errOut)
	}
	code, first, errOut := c.run("", "export")
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if len(lines) < 2*399*24 {
		t.Fatalf("%d lines exported", len(lines))
	}
	missing := 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if f[8] == "A02" {
			missing++
			if f[7] != "" {
				t.Errorf("a missing hour exported with a value: %s", l)
			}
		} else if f[7] == "" {
			t.Errorf("an hour without a value: %s", l)
		}
	}
	if missing == 0 {
		t.Error("no missing hour in more than a year")
	}

	// The same answers, imported from files into another database, give the same bytes.
	st, err := store.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := st.Payloads(context.Background(), store.PayloadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ps) // oldest first, as they came
	dir := t.TempDir()
	var paths []string
	for i, p := range ps {
		rc, err := st.OpenPayload(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		path := filepath.Join(dir, fmt.Sprintf("%03d.json", i))
		mustWrite(t, path, string(body))
		paths = append(paths, path)
	}
	st.Close()
	if len(paths) < 5 { // metering points, details, charges, three windows of time series
		t.Fatalf("%d answers archived", len(paths))
	}
	imp := &cli{t: t, db: filepath.Join(t.TempDir(), "imported.db"), secrets: secrets.NewMemory()}
	for _, p := range paths { // one at a time, in the order they came
		if code, out, errOut := imp.run("", "import", p); code != 0 {
			t.Fatalf("import %s: %d %s %s", p, code, out, errOut)
		}
	}
	_, imported, _ := imp.run("", "export")
	if imported != first {
		t.Errorf("the export of the imported answers differs from the synced one (%d and %d bytes)", len(imported), len(first))
	}

	// A second sync: the overlap is asked again and nothing is stored twice.
	code, out, errOut = c.run("", "sync", "--once", "home")
	if code != 0 {
		t.Fatalf("second sync: %d %s %s", code, out, errOut)
	}
	_, second, _ := c.run("", "export")
	if second != first {
		t.Errorf("the second sync changed the export (%d and %d bytes)", len(first), len(second))
	}
	tokenCalls := 0
	for _, q := range sim.Requests() {
		if q.Path == eloverbliktest.TokenPath {
			tokenCalls++
		}
	}
	if tokenCalls != 1 { // the second process uses the data token the first kept in the keyring
		t.Errorf("%d token calls", tokenCalls)
	}
	if v, _ := c.secrets.Secret("home", "access_token"); !strings.HasSuffix(v, ":"+sim.DataTokens()[0]) {
		t.Error("the data token is not kept in the keyring")
	}

	// No token in the database files or the log.
	tokens := append(sim.DataTokens(), refresh)
	dbFiles, _ := filepath.Glob(c.db + "*")
	for _, f := range dbFiles {
		b, _ := os.ReadFile(f)
		for _, tok := range tokens {
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s holds a token", f)
			}
		}
	}
	for _, tok := range tokens {
		if strings.Contains(c.log.String(), tok) {
			t.Error("a token is in the log")
		}
	}

	// A refresh token that is not a JWT, or has expired, is refused with a reason.
	code, _, errOut = c.run("not-a-token\n", "sources", "add", "eloverblik", "bad", "--secret-stdin")
	if code == 0 || !strings.Contains(errOut, "not a JWT") {
		t.Errorf("a non-JWT token: %d %s", code, errOut)
	}
	code, _, errOut = c.run(sim.RefreshToken(now.Add(-time.Hour))+"\n", "sources", "add", "eloverblik", "old", "--secret-stdin")
	if code == 0 || !strings.Contains(errOut, "expired") {
		t.Errorf("an expired token: %d %s", code, errOut)
	}
	code, _, errOut = c.run(refresh+"\n", "sources", "add", "eloverblik", "odd", "--metering-point", "12345", "--secret-stdin")
	if code == 0 || !strings.Contains(errOut, "18-digit") {
		t.Errorf("a short metering point id: %d %s", code, errOut)
	}
}

// TestEloverblikSourcesTest checks `custody sources test` of an eloverblik source: one token
// call and the list of linked metering points.
func TestEloverblikSourcesTest(t *testing.T) {
	r := newELRig(t, eloverbliktest.Options{UnavailableEvery: -1})
	sim, files, c := r.sim, r.files, r.c
	exp := time.Now().Add(20 * 24 * time.Hour)
	if code, out, errOut := c.run(sim.RefreshToken(exp)+"\n", "sources", "add", "eloverblik", "home", "--base-url", sim.BaseURL(), "--ca", files.CA, "--secret-stdin"); code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errOut)
	}
	code, out, errOut := c.run("", "sources", "test", "home")
	if code != 0 || !strings.Contains(out, "home: OK: token accepted; 2 metering points linked") || !strings.Contains(out, "WARNING: the Eloverblik refresh token expires on") {
		t.Fatalf("sources test: %d %s %s", code, out, errOut)
	}
	// The token's expiry is kept beside the source, for the reminder.
	st, err := store.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, err := st.SourceByName(context.Background(), "home")
	if err != nil || src.Config["secret_expires"] != exp.Format(time.DateOnly) {
		t.Errorf("source %+v, %v", src.Config, err)
	}
	// A test stores nothing.
	if ps, err := st.Payloads(context.Background(), store.PayloadFilter{}); err != nil || len(ps) != 0 {
		t.Errorf("sources test archived %d answers, %v", len(ps), err)
	}
}

// TestEloverblikTokenLimitAcrossDatabases: two databases on one machine share the machine's
// call log (as NewEnv wires it), so their token calls keep Eloverblik's 2 a minute per
// address. `sources test` of the third source answers at once that a token call is not
// allowed yet and when it will be, and what it checked; a source whose data token is kept in
// the keyring still tests fine without a token call.
func TestEloverblikTokenLimitAcrossDatabases(t *testing.T) {
	r := newELRig(t, eloverbliktest.Options{UnavailableEvery: -1})
	sim, files := r.sim, r.files
	logPath := filepath.Join(t.TempDir(), "cache", "custody", "calls.json")
	calls, err := calllog.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	a := &cli{t: t, db: filepath.Join(t.TempDir(), "a.db"), secrets: secrets.NewMemory(), calls: calls}
	b := &cli{t: t, db: filepath.Join(t.TempDir(), "b.db"), secrets: secrets.NewMemory(), calls: calls}
	year := time.Now().AddDate(1, 0, 0)
	for _, add := range []struct {
		c    *cli
		name string
	}{{a, "home"}, {a, "cabin"}, {b, "home"}} {
		if code, out, errOut := add.c.run(sim.RefreshToken(year)+"\n", "sources", "add", "eloverblik", add.name, "--base-url", sim.BaseURL(), "--ca", files.CA, "--secret-stdin"); code != 0 {
			t.Fatalf("sources add %s: %d %s %s", add.name, code, out, errOut)
		}
	}
	for _, name := range []string{"home", "cabin"} {
		if code, out, errOut := a.run("", "sources", "test", name); code != 0 || !strings.Contains(out, "with a new data token") {
			t.Fatalf("sources test %s: %d %s %s", name, code, out, errOut)
		}
	}
	start := time.Now()
	code, out, _ := b.run("", "sources", "test", "home")
	if code == 0 || time.Since(start) > 20*time.Second {
		t.Fatalf("the third token call within a minute: exit %d after %v: %s", code, time.Since(start), out)
	}
	for _, want := range []string{"home: FAILED: test: not tested yet: Eloverblik allows 2 token calls a minute from this machine",
		"the next is allowed at", "checked so far: the refresh token is a JWT valid until", strings.TrimPrefix(sim.URL(), "https://") + " answers", "what to do: Try again after"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The data token database a kept in its keyring needs no token call.
	if code, out, errOut := a.run("", "sources", "test", "home"); code != 0 || !strings.Contains(out, "kept from an earlier run (no token call)") {
		t.Errorf("sources test with the kept data token: %d %s %s", code, out, errOut)
	}
	tokenCalls := 0
	for _, q := range sim.Requests() {
		if q.Path == eloverbliktest.TokenPath {
			tokenCalls++
			if q.Status != 200 {
				t.Errorf("a token call was answered %d", q.Status)
			}
		}
	}
	if tokenCalls != 2 {
		t.Errorf("%d token calls", tokenCalls)
	}
	// The machine's log holds the host and times only; the data token is in the keyring.
	raw, _ := os.ReadFile(logPath)
	for _, dt := range sim.DataTokens() {
		if strings.Contains(string(raw), dt) {
			t.Error("a data token in the call log")
		}
	}
	if !strings.Contains(string(raw), strings.TrimPrefix(sim.URL(), "https://")+" token") {
		t.Errorf("call log %s", raw)
	}
	v, err := a.secrets.Secret("home", "access_token")
	if err != nil || !slices.ContainsFunc(sim.DataTokens(), func(dt string) bool { return strings.HasSuffix(v, ":"+dt) }) {
		t.Errorf("the data token is not in database a's keyring: %v", err)
	}
}
