package app

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/engine"
	"custody/sync/espi"
)

// needSims skips a test of the demo in a build without simulators.
func needSims(t *testing.T) {
	t.Helper()
	if len(demoSims) == 0 {
		t.Skip("no simulator has landed in this build yet")
	}
}

// demoKinds are the source kinds the demo configures.
func demoKinds() []string {
	var out []string
	for _, d := range demoSims {
		out = append(out, d.kind)
	}
	return out
}

// checkDemoData checks that every kind of demo source brought in what it should.
func checkDemoData(t *testing.T, st *store.Store) {
	t.Helper()
	c, err := st.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	kinds := demoKinds()
	if (slices.Contains(kinds, "greenbutton") || slices.Contains(kinds, "datahub")) && c.Readings == 0 {
		t.Errorf("no readings after the demo sync: %+v", c)
	}
	if slices.Contains(kinds, "obevents") && c.Events == 0 {
		t.Errorf("no events after the demo sync: %+v", c)
	}
	if slices.Contains(kinds, "datahub") && c.Messages == 0 {
		t.Errorf("no DataHub messages after the demo sync: %+v", c)
	}
	if c.PendingAcks != 0 {
		t.Errorf("%d acknowledgements still owed after sync --once", c.PendingAcks)
	}
}

func TestDemoSyncsEveryKindThroughTheCLI(t *testing.T) {
	needSims(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env, out, errOut := testEnv(t)
	env.Drivers = drivers(env)
	keyring := env.Secrets
	stop, err := startDemo(t.Context(), env, st)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if env.Secrets == keyring {
		t.Fatal("the demo did not switch to an in-memory secret store")
	}
	if mem, ok := env.Secrets.(*secrets.Memory); !ok || len(mem.Fields()) != len(demoSims)+demoExtraSecrets {
		t.Fatalf("demo secrets: %T %v", env.Secrets, env.Secrets)
	}
	srcs, err := st.Sources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range srcs {
		kinds = append(kinds, s.Kind)
		for _, f := range []string{espi.CfgBaseURL, espi.CfgTokenURL} {
			if u := s.Config[f]; u != "" && !strings.HasPrefix(u, "https://127.0.0.1:") {
				t.Errorf("%s %s = %q: not loopback https", s.Name, f, u)
			}
		}
	}
	slices.Sort(kinds)
	kinds = slices.Compact(kinds) // the demo has several Green Button sources (async, connected)
	if want := slices.Sorted(slices.Values(demoKinds())); !slices.Equal(kinds, want) {
		t.Fatalf("demo sources of kinds %v, want %v", kinds, demoKinds())
	}

	if code := Run(t.Context(), env, []string{"sync", "--once", "--db", db}); code != exitOK {
		t.Fatalf("sync --once of the demo exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, s := range srcs {
		if !strings.Contains(out.String(), s.Name+": ok in ") {
			t.Errorf("no ok line for %s:\n%s", s.Name, out)
		}
	}
	checkDemoData(t, st)
}

func TestDemoEngineSyncsEverySourceLive(t *testing.T) {
	needSims(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env, _, _ := testEnv(t)
	env.Drivers = drivers(env)
	stop, err := startDemo(t.Context(), env, st)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	eng := newEngine(env, st)
	ch, unsubscribe := eng.Subscribe()
	defer unsubscribe()
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	// A safety net, not a measurement: the demo's first syncs start within seconds.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srcs, err := st.Sources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	synced := map[string]bool{}
	for len(synced) < len(srcs) {
		select {
		case s := <-ch:
			if !s.LastSuccess.IsZero() {
				synced[s.Source] = true
			}
			if s.State == engine.StateAttention || s.State == engine.StateBackoff {
				t.Fatalf("%s: %s: %s (%s)", s.Source, s.State, s.LastError, s.Advice)
			}
		case <-ctx.Done():
			t.Fatalf("only %v synced: %+v", synced, eng.Statuses())
		}
	}
	eng.Stop()
	checkDemoData(t, st)
}

// TestSimulatePrintsCommandsThatWork runs `custody simulate`, then the exact commands it
// prints, with this test binary standing in for the custody binary.
func TestSimulatePrintsCommandsThatWork(t *testing.T) {
	needSims(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "custody")
	script := "#!/bin/sh\nexec env " + childEnv + "=1 " + childSecretsFileEnv + "=" + filepath.Join(dir, "secrets.json") +
		" CUSTODY_DB=" + filepath.Join(dir, "custody.db") + " " + os.Args[0] + ` "$@"` + "\n"
	mustWrite(t, bin, script)
	if err := os.Chmod(bin, 0o700); err != nil {
		t.Fatal(err)
	}

	env, _, errOut := testEnv(t)
	pr, pw := io.Pipe()
	env.Stdout = pw
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1) // so that a simulate that fails at once does not hang the test
	go func() {
		done <- Run(ctx, env, []string{"simulate"})
		pw.Close()
	}()
	var commands []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "| custody sources add ") || strings.HasPrefix(line, "custody sync --once ") {
			commands = append(commands, line)
		}
		if strings.HasPrefix(line, "custody sync --once ") && len(commands) == 2*len(demoSims) {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(commands) != 2*len(demoSims) {
		cancel()
		t.Fatalf("simulate printed %d commands, want %d; stderr:\n%s", len(commands), 2*len(demoSims), errOut)
	}
	for _, c := range commands {
		cmd := exec.CommandContext(t.Context(), "sh", "-c", c)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s\n%v:\n%s", c, err, out)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("simulate exited %d:\n%s", code, errOut)
	}
	st, err := store.Open(t.Context(), filepath.Join(dir, "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkDemoData(t, st)
}
