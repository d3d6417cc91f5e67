package eloverblik_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"custody/store"
	"custody/sync/eloverblik"
	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
	"custody/sync/settings"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// day is a Danish date at local midnight.
func day(s string) time.Time {
	loc, _ := time.LoadLocation("Europe/Copenhagen")
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

// rig is a simulator over HTTPS on loopback, a store with one eloverblik source, the keyring
// holding its refresh token, and a clock both share.
type rig struct {
	t      *testing.T
	clock  *testkit.Clock
	sim    *eloverbliktest.Server
	st     *store.Store
	src    store.Source
	sec    testkit.Secrets
	logs   *bytes.Buffer
	mu     sync.Mutex
	waits  []time.Duration
	notes  []string
	dbPath string
}

func newRig(t *testing.T, opts eloverbliktest.Options, cfg map[string]string) *rig {
	t.Helper()
	r := &rig{t: t, clock: testkit.NewClock(time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}}
	pki, err := simtls.New("eloverblik-test")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = r.clock.Now
	if opts.From.IsZero() {
		opts.From = day("2025-03-20")
	}
	if opts.UnavailableEvery == 0 {
		opts.UnavailableEvery = -1
	}
	r.sim, err = eloverbliktest.Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sim.Close() })
	r.dbPath = filepath.Join(t.TempDir(), "c.db")
	r.st, err = store.Open(context.Background(), r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	r.src = store.Source{Name: "home", Kind: "eloverblik", Enabled: true, Config: map[string]string{"base_url": r.sim.BaseURL(), "ca": files.CA}}
	for k, v := range cfg {
		r.src.Config[k] = v
	}
	if err := r.st.AddSource(context.Background(), &r.src); err != nil {
		t.Fatal(err)
	}
	r.sec = testkit.Secrets{"home/client_secret": r.sim.RefreshToken(r.clock.Now().AddDate(1, 0, 0))}
	return r
}

// driver is a new driver, as after a restart: no token cached. Its waits move the clock.
func (r *rig) driver() *eloverblik.Driver {
	return &eloverblik.Driver{Now: r.clock.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		r.waits = append(r.waits, d)
		r.mu.Unlock()
		r.clock.Add(d)
		return ctx.Err()
	}}
}

func (r *rig) job() *engine.Job {
	return &engine.Job{Source: r.src, Store: r.st, Secrets: r.sec,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Progress: func(p engine.Progress) {
			r.mu.Lock()
			r.notes = append(r.notes, p.Message)
			r.mu.Unlock()
		}}
}

func (r *rig) sync(d *eloverblik.Driver) (engine.Result, error) {
	return d.Sync(context.Background(), r.job())
}

// rows returns the exported readings by series and start.
func (r *rig) rows() map[string]store.ExportRow {
	out := map[string]store.ExportRow{}
	r.st.ExportReadings(context.Background(), store.ExportFilter{}, func(e store.ExportRow) error {
		out[e.Meter+" "+e.Series+" "+time.Unix(e.Reading.Start, 0).UTC().Format(time.RFC3339)] = e
		return nil
	})
	return out
}

func (r *rig) tokenCalls() []eloverbliktest.Request {
	var out []eloverbliktest.Request
	for _, q := range r.sim.Requests() {
		if q.Path == eloverbliktest.TokenPath {
			out = append(out, q)
		}
	}
	return out
}

// checkTokenLimit fails when any minute saw more than 2 token calls, or one was refused for
// the limit.
func (r *rig) checkTokenLimit() {
	r.t.Helper()
	calls := r.tokenCalls()
	for i, c := range calls {
		if c.Status == http.StatusTooManyRequests {
			r.t.Errorf("token call %d answered %d", i+1, c.Status)
		}
		n := 0
		for _, o := range calls {
			if !o.At.Before(c.At) && o.At.Sub(c.At) < time.Minute {
				n++
			}
		}
		if n > 2 {
			r.t.Errorf("%d token calls in the minute from %s", n, c.At)
		}
	}
}

func TestFirstAndIncrementalSync(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{}, nil)
	d := r.driver()
	res, err := r.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	// 13 Danish days (20 March to 1 April) of two metering points, 30 March with 23 hours.
	const first = 2 * (13*24 - 1)
	rows := r.rows()
	if len(rows) != first || res.Readings != first {
		t.Fatalf("%d rows, result %+v; want %d", len(rows), res, first)
	}
	const cons, prod = "571313174100000012", "571313174100000029"
	perDay := map[string]int{}
	missing, estimated := 0, 0
	for _, row := range rows {
		if row.Meter == cons {
			perDay[time.Unix(row.Reading.Start, 0).In(day("2025-01-01").Location()).Format(time.DateOnly)]++
		}
		if row.Reading.Seconds != 3600 || row.Unit != "kWh" || row.Commodity != "electricity" {
			t.Fatalf("row %+v", row)
		}
		switch row.Reading.Quality {
		case "A02":
			missing++
			if !row.Reading.Missing || row.Reading.Value != 0 {
				t.Errorf("missing hour stored with a value: %+v", row)
			}
		case "A03":
			estimated++
		}
	}
	if perDay["2025-03-30"] != 23 || perDay["2025-03-29"] != 24 || perDay["2025-04-01"] != 24 {
		t.Errorf("hours per day %v", perDay)
	}
	t.Logf("%d missing, %d estimated", missing, estimated)
	if estimated == 0 {
		t.Error("no estimated (A03) hours on the newest days")
	}
	if _, ok := rows[prod+" eloverblik/A01/PT1H/kWh 2025-03-31T10:00:00Z"]; !ok {
		t.Error("no production series (A01, reverse)")
	}
	// Master data named the meters by address and type; charges are stored.
	ms, _ := r.st.Meters(context.Background(), store.MeterFilter{})
	for _, m := range ms {
		if m.Key == cons && m.Name != "Ahornvej 7, 8600 Silkeborg · consumption" {
			t.Errorf("meter name %q", m.Name)
		}
		if m.Key == cons {
			cs, err := r.st.ChargesOf(context.Background(), m.ID)
			if err != nil || len(cs) != 5 || cs[0].Kind != "tariff" {
				t.Fatalf("charges %+v, %v", cs, err)
			}
			sum, cur, ok := store.TariffPerUnit(cs, time.Date(2026, 1, 5, 17, 30, 0, 0, time.UTC), 18)
			if !ok || cur != "DKK" || sum < 1.27 || sum > 1.28 {
				t.Errorf("tariff at 18h: %v %s %v", sum, cur, ok)
			}
		}
	}

	// Next morning (the data token, valid 24 hours, still is): only the new day is new; the
	// overlap is asked again and stored once.
	r.clock.Add(23 * time.Hour)
	res, err = r.sync(d)
	if err != nil {
		t.Fatal(err)
	}
	rows2 := r.rows()
	if len(rows2) != first+48 {
		t.Errorf("%d rows after the second sync, want %d", len(rows2), first+48)
	}
	var asked []string
	for _, q := range r.sim.Requests() {
		if strings.Contains(q.Path, "gettimeseries") {
			asked = append(asked, strings.TrimPrefix(q.Path, eloverbliktest.TimeSeriesPath))
		}
	}
	if len(asked) != 4 || asked[3] != "2025-03-30/2025-04-03/Actual" {
		t.Errorf("time series asked for %v; want the overlap from 30 March to today", asked)
	}
	if n := len(r.tokenCalls()); n != 1 {
		t.Errorf("%d token calls, want 1 (the data token is cached for its life)", n)
	}
	// Nothing new: the same windows again add nothing.
	if _, err := r.sync(d); err != nil {
		t.Fatal(err)
	}
	if n := len(r.rows()); n != first+48 {
		t.Errorf("%d rows after a third sync", n)
	}
	r.checkTokenLimit()
}

func TestTokenLimitAcrossRestarts(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{}, nil)
	for i := range 4 {
		if _, err := r.sync(r.driver()); err != nil { // a new driver: a restarted process
			t.Fatalf("sync %d: %v", i+1, err)
		}
		r.clock.Add(time.Second)
	}
	calls := r.tokenCalls()
	if len(calls) != 4 {
		t.Fatalf("%d token calls for 4 restarts", len(calls))
	}
	r.checkTokenLimit()
	var waited time.Duration
	for _, w := range r.waits {
		waited += w
	}
	if waited < 58*time.Second {
		t.Errorf("waited %v in all; the third and fourth token call must wait for the minute", waited)
	}
	found := false
	for _, n := range r.notes {
		found = found || strings.Contains(n, "allows 2 token calls a minute")
	}
	if !found {
		t.Errorf("the wait for the token limit was not shown: %q", r.notes)
	}
}

func TestBusyAnswersAreWaitedOut(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		faults     []eloverbliktest.Fault
		want       time.Duration
	}{
		{"503 without Retry-After", 0, []eloverbliktest.Fault{{Status: 503}}, time.Minute},
		{"429 with Retry-After 90", 90 * time.Second, []eloverbliktest.Fault{{Status: 429}}, 90 * time.Second},
		{"Retry-After below a minute", 5 * time.Second, []eloverbliktest.Fault{{Status: 503}}, time.Minute},
		{"token call 429", 0, []eloverbliktest.Fault{{Token: true, Status: 429}}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, eloverbliktest.Options{RetryAfter: tc.retryAfter}, nil)
			r.sim.Inject(tc.faults...)
			if _, err := r.sync(r.driver()); err != nil {
				t.Fatal(err)
			}
			if len(r.waits) != 1 || r.waits[0] != tc.want {
				t.Errorf("waits %v, want one of %v", r.waits, tc.want)
			}
			found := false
			for _, n := range r.notes {
				found = found || strings.Contains(n, "waiting "+tc.want.String())
			}
			if !found {
				t.Errorf("the wait is not in the progress: %q", r.notes)
			}
		})
	}
	t.Run("gives up after retries", func(t *testing.T) {
		r := newRig(t, eloverbliktest.Options{UnavailableEvery: 1}, nil)
		_, err := r.sync(r.driver())
		if syncerr.KindOf(err) != syncerr.Server || syncerr.RetryAfterOf(err) < time.Minute || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err %v (kind %s, retry after %v)", err, syncerr.KindOf(err), syncerr.RetryAfterOf(err))
		}
		if len(r.waits) != eloverblik.Retries {
			t.Errorf("waits %v", r.waits)
		}
	})
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault eloverbliktest.Fault
		kind  syncerr.Kind
		hint  string
	}{
		{"token invalid under 200", eloverbliktest.Fault{Token: true, Status: 200, Code: 50001}, syncerr.Auth, eloverblik.HintNewToken},
		{"wrong token type", eloverbliktest.Fault{Token: true, Status: 200, Code: 50000}, syncerr.Auth, eloverblik.HintWrongTokenType},
		{"token refused 401", eloverbliktest.Fault{Token: true, Status: 401}, syncerr.Auth, eloverblik.HintNewToken},
		{"relation not found under 200", eloverbliktest.Fault{Status: 200, Code: 20010}, syncerr.Config, eloverblik.HintUnlinked},
		{"period refused, bare string 400", eloverbliktest.Fault{Status: 400, Code: 30002}, syncerr.Data, eloverblik.HintBug},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, eloverbliktest.Options{}, nil)
			r.sim.Inject(tc.fault)
			_, err := r.sync(r.driver())
			if syncerr.KindOf(err) != tc.kind || !strings.HasPrefix(syncerr.Advice(err), tc.hint) {
				t.Fatalf("err %v: kind %s, advice %q", err, syncerr.KindOf(err), syncerr.Advice(err))
			}
			if tc.fault.Code != 0 && !strings.Contains(err.Error(), "error "+strconv.Itoa(tc.fault.Code)) {
				t.Errorf("the error does not name the code: %v", err)
			}
			r.checkTokenLimit()
		})
	}
	t.Run("revoked token", func(t *testing.T) {
		r := newRig(t, eloverbliktest.Options{}, nil)
		r.sim.Revoke()
		_, err := r.sync(r.driver())
		if syncerr.KindOf(err) != syncerr.Auth || syncerr.Advice(err) != eloverblik.HintNewToken {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("expired refresh token is not sent", func(t *testing.T) {
		r := newRig(t, eloverbliktest.Options{}, nil)
		r.sec["home/client_secret"] = r.sim.RefreshToken(r.clock.Now().Add(-time.Hour))
		_, err := r.sync(r.driver())
		if syncerr.KindOf(err) != syncerr.Auth || len(r.sim.Requests()) != 0 {
			t.Fatalf("err %v, %d requests", err, len(r.sim.Requests()))
		}
	})
	t.Run("unknown metering point given", func(t *testing.T) {
		r := newRig(t, eloverbliktest.Options{}, map[string]string{"metering_points": `["571313174100000012","571313174199999999"]`})
		_, err := r.sync(r.driver())
		if syncerr.KindOf(err) != syncerr.Config || !strings.Contains(err.Error(), "571313174199999999") {
			t.Fatalf("err %v", err)
		}
		// The known one is synced all the same.
		if n := len(r.rows()); n != 13*24-1 {
			t.Errorf("%d rows", n)
		}
	})
}

func TestMissingQuantities(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{From: day("2024-04-01")}, nil)
	if _, err := r.sync(r.driver()); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, row := range r.rows() {
		if row.Reading.Quality == "A02" {
			missing++
			if !row.Reading.Missing {
				t.Errorf("missing hour stored as %v", row.Reading.Value)
			}
		} else if row.Reading.Missing {
			t.Errorf("hour without a value: %+v", row)
		}
	}
	if missing == 0 {
		t.Error("a year of hours without one missing")
	}
}

func TestFewerPointsPerCall(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{MaxPoints: 1}, nil)
	if _, err := r.sync(r.driver()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.rows()); n != 2*(13*24-1) {
		t.Errorf("%d rows", n)
	}
	refused := 0
	for _, q := range r.sim.Requests() {
		if q.Status == http.StatusTooManyRequests {
			refused++
		}
		if q.Status == http.StatusOK && len(q.IDs) > 1 {
			t.Errorf("%s answered with %d points", q.Path, len(q.IDs))
		}
	}
	if refused == 0 || len(r.waits) != 0 {
		t.Errorf("%d refused calls, waits %v: a 429 with error 10004 asks for fewer points, not a wait", refused, r.waits)
	}
}

func TestWindowsWithinLimits(t *testing.T) {
	today := day("2026-12-03")
	ws := eloverblik.Windows(time.Time{}, today)
	if len(ws) != 3 || !ws[0].From.Equal(day("2021-01-01")) || !ws[len(ws)-1].To.Equal(today) {
		t.Fatalf("windows %v", ws)
	}
	for i, w := range ws {
		if !w.From.Before(w.To) || w.To.Sub(w.From) > 730*24*time.Hour+time.Hour {
			t.Errorf("window %d %v", i, w)
		}
		if i > 0 && !ws[i-1].To.Equal(w.From) {
			t.Errorf("gap before window %d", i)
		}
	}
	if ws := eloverblik.Windows(today, today); len(ws) != 0 {
		t.Errorf("from == to gave %v", ws)
	}
}

func TestFirstSyncAsksOnlyAllowedPeriods(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{}, nil)
	if _, err := r.sync(r.driver()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range r.sim.Requests() {
		if strings.Contains(q.Path, "gettimeseries") {
			got = append(got, strings.TrimPrefix(q.Path, eloverbliktest.TimeSeriesPath))
		}
	}
	want := []string{"2020-01-01/2021-12-31/Actual", "2021-12-31/2023-12-31/Actual", "2023-12-31/2025-04-02/Actual"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("asked %v, want %v", got, want)
	}
}

func TestNoTokenOutsideTheKeyring(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{UnavailableEvery: 3}, nil)
	r.sim.Inject(eloverbliktest.Fault{Status: 401})
	d := r.driver()
	if _, err := r.sync(d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Test(context.Background(), r.job()); err != nil {
		t.Fatal(err)
	}
	r.st.Close()
	secrets := append(r.sim.DataTokens(), r.sec["home/client_secret"])
	if len(secrets) < 2 {
		t.Fatalf("tokens %d", len(secrets))
	}
	files, _ := filepath.Glob(r.dbPath + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range secrets {
			for _, part := range strings.Split(s, ".") { // header, claims and signature, each
				if len(part) > 20 && bytes.Contains(b, []byte(part[len(part)-20:])) && !strings.HasPrefix(part, "eyJ") {
					t.Errorf("%s holds part of a token", f)
				}
			}
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a token", f)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(r.logs.String(), s) || strings.Contains(strings.Join(r.notes, "\n"), s) {
			t.Error("a token is in the logs or progress")
		}
	}
}

func TestSettings(t *testing.T) {
	k := eloverblik.NewDriver().Describe()
	if k.Name != "eloverblik" || k.Settings[0].Key != eloverblik.SecretField || k.Settings[0].Type != settings.Secret {
		t.Fatalf("%+v", k)
	}
	for _, tc := range []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{}, ""},
		{map[string]string{"base_url": "http://api.eloverblik.dk/customerapi"}, "not an https URL"},
		{map[string]string{"metering_points": `["57131317410000001"]`}, "not an 18-digit id"},
	} {
		err := k.Check(store.Source{Kind: "eloverblik", Config: tc.cfg})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v", tc.cfg, err)
		}
	}
	exp := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if w := eloverblik.ExpiryWarningAt(exp, exp.Add(-40*24*time.Hour)); w != "" {
		t.Errorf("warned 40 days ahead: %s", w)
	}
	if w := eloverblik.ExpiryWarningAt(exp, exp.Add(-20*24*time.Hour)); !strings.Contains(w, "in 20 days") {
		t.Errorf("warning %q", w)
	}
	if w := eloverblik.ExpiryWarningAt(exp, exp.Add(time.Hour)); !strings.Contains(w, "expired") {
		t.Errorf("warning %q", w)
	}
	if _, err := eloverblik.TokenExpiry("not a token"); err == nil {
		t.Error("a non-JWT token has an expiry")
	}
}

// TestNoTokenFollowsARedirect: a token call answered with a redirect to another host fails
// without the refresh token reaching that host.
func TestNoTokenFollowsARedirect(t *testing.T) {
	r := newRig(t, eloverbliktest.Options{}, nil)
	var hits int
	var mu sync.Mutex
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	other.Start()
	defer other.Close()
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		http.Redirect(w, q, other.URL+q.URL.Path, http.StatusTemporaryRedirect)
	}))
	pki, _ := simtls.New("redirect")
	tc, _ := pki.ServerTLS(false)
	redirector.TLS = tc
	redirector.StartTLS()
	defer redirector.Close()
	files, _ := pki.WriteFiles(t.TempDir())
	r.src.Config = map[string]string{"base_url": redirector.URL + "/customerapi", "ca": files.CA}
	_, err := r.sync(r.driver())
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("err %v", err)
	}
	if hits != 0 {
		t.Errorf("the other host was called %d times", hits)
	}
}

// TestDSTDays: the spring day has 23 hourly readings and the autumn day 25, each an hour long,
// with no gap and no overlap.
func TestDSTDays(t *testing.T) {
	for _, tc := range []struct {
		now      time.Time
		from     string
		day      string
		hours    int
		startUTC string
	}{
		{time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC), "2025-03-29", "2025-03-30", 23, "2025-03-29T23:00:00Z"},
		{time.Date(2025, 10, 29, 10, 0, 0, 0, time.UTC), "2025-10-25", "2025-10-26", 25, "2025-10-25T22:00:00Z"},
	} {
		t.Run(tc.day, func(t *testing.T) {
			r := newRig(t, eloverbliktest.Options{From: day(tc.from)}, map[string]string{"metering_points": `["571313174100000012"]`})
			r.clock.Add(tc.now.Sub(r.clock.Now()))
			if _, err := r.sync(r.driver()); err != nil {
				t.Fatal(err)
			}
			var starts []int64
			for _, row := range r.rows() {
				if time.Unix(row.Reading.Start, 0).In(day(tc.day).Location()).Format(time.DateOnly) == tc.day {
					starts = append(starts, row.Reading.Start)
				}
			}
			slices.Sort(starts)
			if len(starts) != tc.hours || time.Unix(starts[0], 0).UTC().Format(time.RFC3339) != tc.startUTC {
				t.Fatalf("%d hours from %v", len(starts), starts)
			}
			for i := 1; i < len(starts); i++ {
				if starts[i]-starts[i-1] != 3600 {
					t.Errorf("hour %d starts %d s after the one before", i+1, starts[i]-starts[i-1])
				}
			}
		})
	}
}
