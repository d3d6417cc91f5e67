package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// TestObeventsCLIEndToEnd: sources add obevents --secret-stdin, sync --once, events --json
// against the simulated bank over mutual TLS.
func TestObeventsCLIEndToEnd(t *testing.T) {
	pki, err := simtls.New("custody-cli-test")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 12, InvalidEvery: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	files, err := pki.WriteFiles(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	src, secret := sim.DemoSource("mybank", files)
	db := filepath.Join(dir, "custody.db")
	mem := secrets.NewMemory()

	run := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
			Getenv: func(string) string { return "" }, Secrets: mem, Logger: slog.New(slog.DiscardHandler)}
		env.Drivers = drivers(env)
		code := Run(context.Background(), env, append(args, "--db", db))
		return out.String(), errb.String(), code
	}
	c := src.Config
	out, errs, code := run(secret+"\n", "sources", "add", "obevents", "mybank",
		"--base-url", c["base_url"], "--token-url", c["token_url"], "--client-id", c["client_id"],
		"--jwks-url", c["jwks_url"], "--issuer", c["issuer"], "--audience", c["audience"],
		"--cert", c["cert"], "--key", c["key"], "--ca", c["ca"], "--secret-stdin")
	if code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errs)
	}
	if strings.Contains(out+errs, secret) {
		t.Fatal("the secret was printed")
	}
	out, errs, code = run("", "sync", "--once", "mybank")
	if code != 0 {
		t.Fatalf("sync: %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "12 events (2 rejected)") {
		t.Errorf("sync output: %s", out)
	}
	if q := sim.Queue(); len(q) != 0 {
		t.Fatalf("queue not drained: %v", q)
	}
	// Sync again: nothing new, nothing doubled.
	if _, errs, code := run("", "sync", "--once", "mybank"); code != 0 {
		t.Fatalf("second sync: %s", errs)
	}
	out, errs, code = run("", "events", "--json")
	if code != 0 {
		t.Fatalf("events: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines, want 12:\n%s", len(lines), out)
	}
	valid, invalid := sim.Expected()
	seen := map[string]bool{}
	rejected := 0
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		for _, k := range []string{"source", "jti", "iss", "types", "rid", "rty", "toe", "verified", "error"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line lacks %s: %s", k, l)
			}
		}
		jti := m["jti"].(string)
		seen[jti] = true
		if m["source"] != "mybank" {
			t.Errorf("source %v", m["source"])
		}
		if m["verified"] == true {
			if m["error"] != "" || m["iss"] != c["issuer"] || m["rid"] == "" || m["rty"] == "" || len(m["types"].([]any)) == 0 {
				t.Errorf("verified line incomplete: %s", l)
			}
			if _, err := time.Parse(time.RFC3339, m["toe"].(string)); err != nil {
				t.Errorf("toe %v: %v", m["toe"], err)
			}
		} else {
			rejected++
			if m["error"] == "" {
				t.Errorf("rejected without a reason: %s", l)
			}
		}
	}
	if rejected != len(invalid) {
		t.Errorf("%d rejected, want %d", rejected, len(invalid))
	}
	for _, j := range append(valid, invalid...) {
		if !seen[j] {
			t.Errorf("%s not listed", j)
		}
	}
	out, _, code = run("", "events")
	if code != 0 || !strings.Contains(out, "12 events, 2 rejected") || !strings.Contains(out, "REJECTED: invalid_") {
		t.Errorf("table: %d\n%s", code, out)
	}
}
