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
	if slices.Contains(kinds, "obevents") {
		// The demo bank's source follows its events: its payments say what happened.
		evs, err := st.Events(t.Context(), store.EventFilter{RTY: "domestic-payment"})
		if err != nil {
			t.Fatal(err)
		}
		said := 0
		for _, e := range evs {
			if e.Resource != nil && e.Resource.Status != "" {
				said++
			}
		}
		if said == 0 {
			t.Errorf("no demo payment event says what happened (%d payment events)", len(evs))
		}
	}
	if slices.Contains(kinds, "datahub") && c.Messages == 0 {
		t.Errorf("no DataHub messages after the demo sync: %+v", c)
	}
	if c.PendingAcks != 0 {
		t.Errorf("%d acknowledgements still owed after sync --once", c.PendingAcks)
	}
	if slices.Contains(kinds, "greenbutton") {
		// A year worth opening: hourly and 15-minute series over more than a year, with
		// seasons (winter imports more than summer), and monthly bills with line items.
		if c.Summaries < 12 {
			t.Errorf("%d bills, want a year of monthly bills", c.Summaries)
		}
		ss, err := st.SeriesOf(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		spans := map[int64]bool{}
		for _, s := range ss {
			stats, err := st.StatsOf(t.Context(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stats.Count > 0 && stats.LastEnd-stats.First >= 365*86400 {
				spans[s.Seconds] = true
			}
			// The heat pump of the year-long utility (DataHub has kWh; other Green Button
			// simulators of the demo serve a week).
			if s.Seconds == 900 && s.Unit == "Wh" && stats.Count > 0 && stats.LastEnd-stats.First >= 365*86400 {
				// The last whole January and July, both within the year served.
				month := func(m time.Month) store.Totals {
					now := time.Now().UTC()
					y := now.Year()
					if time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).After(now) {
						y--
					}
					tot, err := st.PeriodTotals(t.Context(), s.ID, time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).Unix())
					if err != nil || tot.Count == 0 {
						t.Errorf("no heat pump readings in %s %d: %v", m, y, err)
					}
					return tot
				}
				jan, jul := month(time.January), month(time.July)
				if jan.Sum <= 2*jul.Sum {
					t.Errorf("the heat pump used %.0f Wh in January and %.0f in July: no winter", jan.Sum, jul.Sum)
				}
			}
		}
		if !spans[3600] || !spans[900] {
			t.Errorf("series with a year of data, by interval: %v", spans)
		}
		checkDemoSolar(t, st, ss)
	}
}

func TestDemoSyncsEveryKindThroughTheCLI(t *testing.T) {
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

// checkDemoSolar checks that the demo house has solar production on the meter that imports and
// exports, so that the Usage view's self-sufficiency card shows: over the last whole July the
// house used part of its production itself (production above export) and covered a sensible
// share of its use with it.
func checkDemoSolar(t *testing.T, st *store.Store, ss []store.Series) {
	t.Helper()
	now := time.Now().UTC()
	y := now.Year()
	if time.Date(y, time.August, 1, 0, 0, 0, 0, time.UTC).After(now) {
		y--
	}
	from, to := time.Date(y, time.July, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(y, time.August, 1, 0, 0, 0, 0, time.UTC).Unix()
	type flows struct{ imp, exp, prod float64 }
	byMeter := map[int64]*flows{}
	for _, s := range ss {
		if s.Seconds != 3600 || s.Unit != "Wh" {
			continue
		}
		tot, err := st.PeriodTotals(t.Context(), s.ID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Count < 24*28 {
			continue // a simulator that serves a week
		}
		f := byMeter[s.MeterID]
		if f == nil {
			f = &flows{}
			byMeter[s.MeterID] = f
		}
		switch {
		case s.Attrs["title"] == "Hourly Solar Production":
			f.prod += tot.Sum
		case s.Flow == "forward":
			f.imp += tot.Sum
		case s.Flow == "reverse":
			f.exp += tot.Sum
		}
	}
	for _, f := range byMeter {
		if f.prod == 0 || f.imp == 0 || f.exp == 0 {
			continue
		}
		if f.prod <= f.exp {
			t.Errorf("July: production %.0f Wh, export %.0f Wh: the house used none of it", f.prod, f.exp)
		}
		use := f.imp + f.prod - f.exp
		if ss := 1 - f.imp/use; ss < 0.2 || ss > 0.8 {
			t.Errorf("July's self-sufficiency is %.0f %% (import %.0f, production %.0f, export %.0f Wh)", ss*100, f.imp, f.prod, f.exp)
		}
		return
	}
	t.Errorf("no demo meter imports, exports and produces by the hour over July %d", y)
}
