package espi_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/internal/testkit"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// memSecrets is the shared in-memory keyring.
type memSecrets = testkit.Secrets

// clock is the shared hand-moved test clock.
type clock = testkit.Clock

// rig is a simulator, a store with its source, and the driver.
type rig struct {
	sim     *espitest.Server
	pki     *simtls.PKI
	files   simtls.Files
	st      *store.Store
	src     store.Source
	secrets memSecrets
	drv     *espi.Driver
	logs    *testkit.Buffer
	clock   *clock
}

func newRig(t *testing.T, opts espitest.Options) *rig { return newRigTB(t, opts) }

func newRigTB(t testing.TB, opts espitest.Options) *rig {
	t.Helper()
	pki, err := simtls.New("custody-gbsync-test")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := testkit.NewClock(time.Date(2026, 6, 10, 18, 30, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.SlowDelay == 0 {
		opts.SlowDelay = 5 * time.Millisecond
	}
	sim, err := espitest.Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src, secret := sim.DemoSource("pge", files)
	if err := st.AddSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	drv := espi.NewDriver()
	drv.Now = clk.Now
	return &rig{sim: sim, pki: pki, files: files, st: st, src: src, secrets: memSecrets{"pge/client_secret": secret},
		drv: drv, logs: &testkit.Buffer{}, clock: clk}
}

func (r *rig) job() *engine.Job {
	return &engine.Job{Source: r.src, Store: r.st, Secrets: r.secrets,
		Logger:   slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("source", r.src.Name, "kind", r.src.Kind),
		Progress: func(engine.Progress) {}}
}

func (r *rig) sync(t *testing.T) (engine.Result, error) {
	t.Helper()
	return r.drv.Sync(context.Background(), r.job())
}

// readings returns every stored reading by series key and start.
func (r *rig) readings(t *testing.T) map[string]map[int64]store.Reading {
	t.Helper()
	out := map[string]map[int64]store.Reading{}
	err := r.st.ExportReadings(context.Background(), store.ExportFilter{}, func(row store.ExportRow) error {
		k := row.Meter + "|" + row.Series + "|" + row.Flow + "|" + row.Unit
		if out[k] == nil {
			out[k] = map[int64]store.Reading{}
		}
		out[k][row.Reading.Start] = row.Reading
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSyncBringsSimulatorData(t *testing.T) {
	for _, format := range []string{"json", "xml"} {
		t.Run(format, func(t *testing.T) {
			r := newRig(t, espitest.Options{TokenFormat: format, Days: 3})
			res, err := r.sync(t)
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != 2 || res.Readings == 0 {
				t.Fatalf("result %+v", res)
			}
			got := r.readings(t)
			if len(got) != 5 {
				t.Fatalf("%d series, want 5 (import, export, solar production, 15-minute, gas): %v", len(got), keys(got))
			}
			// The MeterReading's title is kept: it tells the panels' production from the
			// import of the same flow and unit.
			ss, err := r.st.SeriesOf(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			titled := 0
			for _, s := range ss {
				if s.Attrs["title"] == "Hourly Solar Production" && s.Flow == "forward" && s.Unit == "Wh" {
					titled++
				}
			}
			if titled != 1 {
				t.Errorf("%d series titled as the solar production, want 1", titled)
			}
			var flows, units []string
			for k := range got {
				parts := strings.Split(k, "|")
				flows, units = append(flows, parts[2]), append(units, parts[3])
			}
			if j := strings.Join(flows, ","); !strings.Contains(j, "reverse") || !strings.Contains(j, "forward") {
				t.Fatalf("flows %v", flows)
			}
			if j := strings.Join(units, ","); !strings.Contains(j, "therm") || !strings.Contains(j, "Wh") {
				t.Fatalf("units %v", units)
			}
			// Every request presented the client certificate; the second sync asks for a window.
			res2, err := r.sync(t)
			if err != nil {
				t.Fatal(err)
			}
			var windowed bool
			for _, q := range r.sim.Requests() {
				if q.ClientCert != "custody-gbsync-test" {
					t.Fatalf("request %s without the client certificate", q.Path)
				}
				windowed = windowed || strings.Contains(q.RawQuery, "published-min=")
			}
			if !windowed {
				t.Fatal("the second sync did not ask from its cursor")
			}
			if res2.Readings > res.Readings {
				t.Fatalf("second sync brought %d readings, more than the first's %d", res2.Readings, res.Readings)
			}
			tokenRequests := 0
			for _, q := range r.sim.Requests() {
				if strings.HasSuffix(q.Path, "/token") {
					tokenRequests++
				}
			}
			if tokenRequests != 1 {
				t.Fatalf("%d token requests, want the token reused", tokenRequests)
			}
		})
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCorrectionReplacesEarlierValues(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 2})
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	before := r.readings(t)
	// A reading of today (local): raw.
	at := r.clock.Now().Truncate(time.Hour).Add(-3 * time.Hour).Unix()
	var key string
	for k, m := range before {
		if strings.Contains(k, "/MeterReading/1|forward|Wh") && m[at].Seconds == 3600 {
			key = k
		}
	}
	if key == "" || before[key][at].Quality != "14" {
		t.Fatalf("no raw hourly import reading at %d: %v", at, before[key][at])
	}
	r.clock.Add(48 * time.Hour)
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	after := r.readings(t)
	if a, b := after[key][at], before[key][at]; a.Quality != "17" || a.Value == b.Value {
		t.Fatalf("after the correction: %+v, before %+v", a, b)
	}
	n := 0
	r.st.ExportReadings(context.Background(), store.ExportFilter{}, func(row store.ExportRow) error {
		if row.Reading.Start == at && row.Meter+"|"+row.Series+"|"+row.Flow+"|"+row.Unit == key {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d readings at the corrected start, want 1", n)
	}
}

func TestSyncSubscriptionAndSizeLimit(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 2})
	r.src.SetList("bulk_ids", nil)
	r.src.SetList("subscription_ids", []string{r.sim.SubscriptionID()})
	res, err := r.sync(t)
	if err != nil || res.Items != 1 || res.Readings == 0 {
		t.Fatalf("subscription sync: %+v %v", res, err)
	}
	// An answer over the size limit is refused whole.
	r2 := newRig(t, espitest.Options{Days: 2})
	r2.drv.MaxBody = 10 << 10
	_, err = r2.sync(t)
	if syncerr.KindOf(err) != syncerr.Data || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized answer: %v", err)
	}
	ps, _ := r2.st.Payloads(context.Background(), store.PayloadFilter{})
	for _, p := range ps {
		if strings.Contains(p.URL, "Batch/Bulk/") {
			t.Fatalf("part of an oversized answer was kept: %+v", p)
		}
	}
	if len(ps) != 1 {
		t.Fatalf("%d payloads, want the customer feed that fits", len(ps))
	}
	// No bulk or subscription id: a configuration error.
	r2.src.SetList("bulk_ids", nil)
	if _, err := r2.sync(t); syncerr.KindOf(err) != syncerr.Config {
		t.Fatalf("no ids: %v", err)
	}
}

func TestNotifiedURIPendingUntilNextSync(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 1})
	// A disabled source keeps what it is told for later, fetching nothing.
	r.src.Enabled = false
	if err := r.st.UpdateSource(context.Background(), &r.src); err != nil {
		t.Fatal(err)
	}
	{
		n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge"}
		srv, c := listener(t, r, n)
		resp, err := c.Post(srv.URL+"/notify", "application/xml", bytes.NewReader(espitest.BatchList(r.sim.BaseURL()+"/ReadingType/rt-gas-86400")))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
		n.Wait()
		if len(r.sim.Requests()) != 0 {
			t.Fatal("a disabled source fetched")
		}
	}
	r.src.Enabled = true
	if err := r.st.UpdateSource(context.Background(), &r.src); err != nil {
		t.Fatal(err)
	}
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge"}
	srv, c := listener(t, r, n)
	uri := r.sim.BaseURL() + "/Subscription/" + r.sim.SubscriptionID() + "/UsagePoint/1"
	r.sim.Inject(espitest.FaultUnavailable)
	resp, err := c.Post(srv.URL+"/notify", "application/xml", bytes.NewReader(espitest.BatchList(uri)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	n.Wait()
	if p, _ := r.st.Notified(context.Background(), r.src.ID, store.NotifiedPending); len(p) != 2 || p[1].URI != uri || !strings.Contains(p[1].Error, "503") {
		t.Fatalf("pending after a 503: %+v", p)
	}
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	if f, _ := r.st.Notified(context.Background(), r.src.ID, store.NotifiedFetched); len(f) != 2 {
		t.Fatalf("the next sync did not fetch the pending URI: %+v", f)
	}
}

func TestSyncWithoutCustomerInfo(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 1, NoCustomerInfo: true})
	res, err := r.sync(t)
	if err != nil || res.Items != 1 || res.Readings == 0 {
		t.Fatalf("sync: %+v %v", res, err)
	}
}

func TestBackfill(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 40})
	now := r.clock.Now()
	res, err := r.drv.Backfill(context.Background(), r.job(), now.Add(-40*24*time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var windows []string
	for _, q := range r.sim.Requests() {
		if q.Method == "GET" {
			windows = append(windows, q.RawQuery)
		}
	}
	if len(windows) != 2 || !strings.Contains(windows[1], "published-max="+strings.ReplaceAll(now.Format(time.RFC3339), ":", "%3A")) {
		t.Fatalf("requests %q, want two windows ending now", windows)
	}
	c, _ := r.st.Counts(context.Background())
	if res.Items != 2 || c.Readings == 0 || int64(c.Readings) != res.Readings {
		t.Fatalf("result %+v, %d readings stored", res, c.Readings)
	}
	if cur, _ := r.st.Cursor(context.Background(), r.src.ID, "Batch/Bulk/"+r.sim.BulkID()); !cur.IsZero() {
		t.Fatal("backfill moved the sync cursor")
	}
	if _, err := r.drv.Backfill(context.Background(), r.job(), now, now.Add(-time.Hour)); syncerr.KindOf(err) != syncerr.Config {
		t.Fatalf("empty window: %v", err)
	}
}

func TestSyncFaults(t *testing.T) {
	tests := []struct {
		name     string
		fault    espitest.Fault
		kind     syncerr.Kind
		words    string
		advice   string
		retry    time.Duration
		nextIn   time.Duration
		payloads int64
		opts     espitest.Options
		timeouts auth.Timeouts
	}{
		{name: "expired-token", fault: espitest.FaultExpiredToken, payloads: 2},
		{name: "slow-body", fault: espitest.FaultSlowBody, payloads: 2},
		{name: "revoked", fault: espitest.FaultRevoked, kind: syncerr.Auth, words: "authorisation expired or revoked", advice: espi.HintReauthorise},
		{name: "too-many-requests", fault: espitest.FaultTooManyRequests, kind: syncerr.Server, words: "429", advice: "slow down (too many requests); Custody will retry by itself after the 7s it asked for", retry: 7 * time.Second},
		{name: "unavailable", fault: espitest.FaultUnavailable, kind: syncerr.Server, words: "503", advice: "unavailable for now; Custody will retry by itself after the 7s", retry: 7 * time.Second},
		{name: "truncated", fault: espitest.FaultTruncatedBody, kind: syncerr.Network, words: "cut off", advice: "cut off before its end"},
		// Without a notification listener, a 202 can never be completed: the user is told how
		// to set one up, and nothing is recorded as outstanding.
		{name: "not-ready", fault: espitest.FaultNotReady, kind: syncerr.Config, words: "only by notification", advice: "--notify-listen", payloads: 1},
		// Issue 16 item 12: the wait quoted is the one the engine keeps (at most 24 h).
		{name: "too-many-requests-277h", fault: espitest.FaultTooManyRequests, kind: syncerr.Server, words: "429",
			advice: "after 24h0m0s (it asked for 277h0m0s; Custody waits at most 24h0m0s)", retry: 24 * time.Hour,
			opts: espitest.Options{RetryAfter: 277 * time.Hour}},
		// Issue 16 item 3: a body that stops half way ends the sync, through the shared client.
		{name: "stalled-body", fault: espitest.FaultSlowBody, kind: syncerr.Network, words: "the server stopped sending: no data in 100ms",
			advice: "stopped sending", opts: espitest.Options{SlowDelay: 3 * time.Second},
			timeouts: auth.Timeouts{Stall: 100 * time.Millisecond, MinProgress: 1}},
		{name: "malformed", fault: espitest.FaultMalformed, kind: syncerr.Data, words: "parse", advice: "archived as payload", payloads: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Days = 1
			r := newRig(t, tc.opts)
			r.sim.Inject(tc.fault)
			res, err := r.drv.Sync(auth.WithTimeouts(context.Background(), tc.timeouts), r.job())
			if tc.kind == syncerr.Unknown {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				if syncerr.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.words) {
					t.Fatalf("error %v (kind %q), want %q saying %q", err, syncerr.KindOf(err), tc.kind, tc.words)
				}
				if !strings.Contains(syncerr.Advice(err), tc.advice) {
					t.Fatalf("advice %q, want %q", syncerr.Advice(err), tc.advice)
				}
				if got := syncerr.RetryAfterOf(err); got != tc.retry {
					t.Fatalf("RetryAfter %v, want %v", got, tc.retry)
				}
			}
			if res.NextIn != tc.nextIn {
				t.Fatalf("NextIn %v, want %v", res.NextIn, tc.nextIn)
			}
			ps, _ := r.st.Payloads(context.Background(), store.PayloadFilter{})
			if int64(len(ps)) != tc.payloads {
				t.Fatalf("%d payloads archived, want %d", len(ps), tc.payloads)
			}
			if tc.fault == espitest.FaultMalformed {
				failed, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Status: store.PayloadFailed})
				if len(failed) != 1 || failed[0].Error == "" {
					t.Fatalf("the malformed answer is not kept with its error: %+v", failed)
				}
				c, _ := r.st.Counts(context.Background())
				if c.Readings != 0 {
					t.Fatalf("%d readings from a malformed answer", c.Readings)
				}
			}
			// After the fault the next sync works.
			r.sim.Clear()
			if _, err := r.sync(t); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
		})
	}
}

func TestCredentialFailures(t *testing.T) {
	r := newRig(t, espitest.Options{})
	other, _ := simtls.New("stranger")
	otherFiles, _ := other.WriteFiles(t.TempDir())
	tests := []struct {
		name   string
		mutate func(*store.Source, memSecrets)
		kind   syncerr.Kind
		words  string
		advice string
	}{
		{"wrong-secret", func(_ *store.Source, s memSecrets) { s["pge/client_secret"] = "nope" }, syncerr.Auth, "wrong client id or secret", auth.HintWrongSecret},
		{"no-client-cert", func(s *store.Source, _ memSecrets) { delete(s.Config, "cert"); delete(s.Config, "key") }, syncerr.Network, "", auth.HintClientCert},
		{"unregistered-cert", func(s *store.Source, _ memSecrets) {
			s.Config["cert"], s.Config["key"] = otherFiles.ClientCert, otherFiles.ClientKey
		}, syncerr.Network, "", auth.HintClientCert},
		{"server-not-trusted", func(s *store.Source, _ memSecrets) { s.Config["ca"] = otherFiles.CA }, syncerr.Network, "", auth.HintServerCert},
		{"unknown-bulk-id", func(s *store.Source, _ memSecrets) { s.SetList("bulk_ids", []string{"999"}) }, syncerr.Config, "does not know bulk id 999", "Check the bulk id"},
		{"no-secret", func(_ *store.Source, s memSecrets) { delete(s, "pge/client_secret") }, syncerr.Local, "client secret", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := r.src
			src.Config = map[string]string{}
			for k, v := range r.src.Config {
				src.Config[k] = v
			}
			sec := memSecrets{}
			for k, v := range r.secrets {
				sec[k] = v
			}
			tc.mutate(&src, sec)
			job := r.job()
			job.Source, job.Secrets = src, sec
			d := espi.NewDriver()
			d.Now = r.clock.Now
			_, err := d.Test(context.Background(), job)
			if syncerr.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.words) || !strings.Contains(syncerr.Advice(err), tc.advice) {
				t.Fatalf("Test: %v (kind %q, advice %q); want %q, %q, %q", err, syncerr.KindOf(err), syncerr.Advice(err), tc.kind, tc.words, tc.advice)
			}
			if strings.Contains(err.Error(), r.sim.Secret()) {
				t.Fatal("the error shows the secret")
			}
		})
	}
	msg, err := r.drv.Test(context.Background(), r.job())
	if err != nil || !strings.Contains(msg, "accepted") || !strings.Contains(msg, "bulk id 50916") {
		t.Fatalf("Test: %q, %v", msg, err)
	}
	// The client key may live in the keyring instead of a file.
	job := r.job()
	job.Source.Config = map[string]string{}
	for k, v := range r.src.Config {
		job.Source.Config[k] = v
	}
	delete(job.Source.Config, "key")
	if _, err := r.drv.Test(context.Background(), job); syncerr.KindOf(err) != syncerr.Config || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("certificate without key: %v", err)
	}
	sec := memSecrets{"pge/client_secret": r.secrets["pge/client_secret"], "pge/client_key": string(r.pki.ClientKeyPEM)}
	job.Secrets = sec
	if msg, err := r.drv.Test(context.Background(), job); err != nil || !strings.Contains(msg, "accepted") {
		t.Fatalf("key from the keyring: %q, %v", msg, err)
	}
}

// listener is a TLS server in front of a BatchList handler.
func listener(t *testing.T, r *rig, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(r.logs, "", 0)
	var err error
	srv.TLS, err = r.pki.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := auth.NewHTTPClient(auth.TLSConfig{CAPEM: r.pki.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestBatchListFetchesOnlyAllowedURIs(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 1})
	var foreignHits atomic.Int32
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		foreignHits.Add(1)
	}))
	defer foreign.Close()
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge",
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))}
	srv, c := listener(t, r, n)
	base := r.sim.BaseURL()
	allowed := []string{
		base + "/Batch/Bulk/" + r.sim.BulkID() + "?correlationID=98cd4976-b79a-4fd9-addc-4e86e16717e9",
		base + "/Subscription/" + r.sim.SubscriptionID() + "/UsagePoint/3/MeterReading/4/IntervalBlock",
	}
	refused := []string{
		foreign.URL + "/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/" + r.sim.BulkID(),
		r.sim.URL() + "/elsewhere/Batch/Bulk/1",
		base + "/../../other",
		strings.Replace(base, "https://", "https://user@", 1) + "/Batch/Bulk/1",
		// Issue 16 item 5: percent-encoded traversal, single and double.
		base + "/%2e%2e/%2e%2e/Batch/Bulk/" + r.sim.BulkID(),
		base + "/..%2f..%2fBatch/Bulk/" + r.sim.BulkID(),
		base + "/%252e%252e/Batch/Bulk/" + r.sim.BulkID(),
	}
	body := espitest.BatchList(append(append([]string{}, refused[:2]...), append(allowed, refused[2:]...)...)...)
	resp, err := c.Post(srv.URL+"/espi/notify/pge", "application/xml", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	n.Wait()
	if foreignHits.Load() != 0 {
		t.Fatal("the foreign host was contacted")
	}
	var gets []string
	for _, q := range r.sim.Requests() {
		if q.Method == "GET" {
			gets = append(gets, q.Path+"?"+q.RawQuery)
		}
	}
	if len(gets) != 2 || !strings.Contains(gets[0], "correlationID=98cd4976") || !strings.HasSuffix(gets[1], "IntervalBlock?") {
		t.Fatalf("GETs %q, want exactly the two allowed URIs", gets)
	}
	notified, _ := r.st.Notified(context.Background(), r.src.ID, "")
	status := map[string]string{}
	for _, nu := range notified {
		status[nu.URI] = nu.Status
	}
	for _, u := range allowed {
		if status[u] != store.NotifiedFetched {
			t.Errorf("%s: %q, want fetched", u, status[u])
		}
	}
	for _, u := range refused {
		if status[u] != store.NotifiedRefused {
			t.Errorf("%s: %q, want refused", u, status[u])
		}
	}
	if !strings.Contains(r.logs.String(), "refused") {
		t.Error("the refusal is not logged")
	}
	if c, _ := r.st.Counts(context.Background()); c.Readings == 0 {
		t.Error("no readings from the notified URIs")
	}
	// The same BatchList again soon is a repeated delivery: nothing is fetched again.
	before := len(r.sim.Requests())
	resp, _ = c.Post(srv.URL+"/espi/notify/pge", "application/xml", bytes.NewReader(body))
	resp.Body.Close()
	n.Wait()
	if len(r.sim.Requests()) != before {
		t.Fatal("a repeated BatchList fetched again")
	}
	// Named again the next day, a URI without a correlation id is news: fetched again, still
	// only the allowed one. A correlationID names one prepared file, fetched once however
	// late it is named again.
	r.st.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	resp, _ = c.Post(srv.URL+"/espi/notify/pge", "application/xml", bytes.NewReader(body))
	resp.Body.Close()
	n.Wait()
	reqs := r.sim.Requests()[before:]
	if len(reqs) != 1 || !strings.HasSuffix(reqs[0].Path, "IntervalBlock") || foreignHits.Load() != 0 {
		t.Fatalf("the next day's BatchList made %+v, want only the subscription URI again", reqs)
	}
}

// Issue 16 item 4: a BatchList of thousands of URIs (with duplicates) does not order thousands
// of authenticated GETs: duplicates are dropped, at most MaxNotifiedURIs are taken (the record
// says how many were dropped), and the fetches are rate-limited per source.
func TestBatchListBoundsFetches(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 1})
	r.drv.NotifiedBurst = 5
	r.drv.NotifiedRate = rate.Every(2 * time.Hour) // after the burst, the next fetch is hours away
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge", Ctx: ctx,
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))}
	srv, c := listener(t, r, n)
	base := r.sim.BaseURL()
	var uris []string
	for i := 0; i < 8000; i++ {
		u := fmt.Sprintf("%s/Batch/Bulk/%s?n=%d", base, r.sim.BulkID(), i%(espi.MaxNotifiedURIs+40))
		if i%2 == 1 { // the same resource spelled with an upper-case host and the default port
			u = strings.Replace(u, "https://127.0.0.1", "HTTPS://127.0.0.1", 1)
		}
		uris = append(uris, u)
	}
	body := espitest.BatchList(uris...)
	if len(body) > espi.MaxBatchList {
		t.Fatalf("test BatchList of %d bytes is over the limit", len(body))
	}
	resp, err := c.Post(srv.URL+"/espi/notify/pge", "application/xml", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	n.Wait()
	gets := 0
	for _, q := range r.sim.Requests() {
		if q.Method == "GET" {
			gets++
		}
	}
	if gets != 5 {
		t.Fatalf("%d GETs after a BatchList of %d URIs, want the burst of 5", gets, len(uris))
	}
	all, _ := r.st.Notified(context.Background(), r.src.ID, "")
	pending, _ := r.st.Notified(context.Background(), r.src.ID, store.NotifiedPending)
	if len(all) != espi.MaxNotifiedURIs || len(pending) != espi.MaxNotifiedURIs-5 {
		t.Fatalf("%d URIs recorded (%d pending), want %d (%d pending)", len(all), len(pending), espi.MaxNotifiedURIs, espi.MaxNotifiedURIs-5)
	}
	lists, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Format: espi.BatchListFormat})
	if len(lists) != 1 || !strings.Contains(lists[0].Error, "40 URIs dropped: at most 100 are taken from one BatchList") {
		t.Fatalf("BatchList record: %+v", lists)
	}
	if !strings.Contains(r.logs.String(), "too many URIs") {
		t.Error("the dropped URIs are not logged")
	}
}

func TestBatchListMalformedKept(t *testing.T) {
	r := newRig(t, espitest.Options{})
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge"}
	srv, c := listener(t, r, n)
	tests := []struct {
		body   []byte
		status int
	}{
		{[]byte(`<BatchList xmlns="http://naesb.org/espi"><resources>https://x/y`), 400},
		{[]byte(`{"resources":["https://x"]}`), 400},
		{[]byte(`<feed xmlns="http://www.w3.org/2005/Atom"/>`), 400},
		{bytes.Repeat([]byte("A"), espi.MaxBatchList+10), 413},
	}
	for i, tc := range tests {
		resp, err := c.Post(srv.URL+"/n", "application/xml", bytes.NewReader(tc.body))
		if err != nil || resp.StatusCode != tc.status {
			t.Fatalf("%d: %v %v, want %d", i, resp, err, tc.status)
		}
		resp.Body.Close()
	}
	resp, _ := c.Get(srv.URL + "/n")
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	failed, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Format: espi.BatchListFormat, Status: store.PayloadFailed})
	if len(failed) != len(tests) {
		t.Fatalf("%d failed BatchLists kept, want %d", len(failed), len(tests))
	}
}

func TestNoSecretOrTokenStoredOrLogged(t *testing.T) {
	r := newRig(t, espitest.Options{TokenFormat: "xml", Days: 2})
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(2 * time.Hour) // the first token expires on the custodian's clock: 401, refresh, retry
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	if msg, err := r.drv.Test(context.Background(), r.job()); err != nil {
		t.Fatal(err)
	} else if strings.Contains(msg, r.sim.Secret()) {
		t.Fatal("Test's message shows the secret")
	}
	tokens := r.sim.IssuedTokens()
	if len(tokens) < 2 {
		t.Fatalf("%d tokens issued, want a refresh", len(tokens))
	}
	r.st.Close()
	path := r.st.Path()
	var files [][]byte
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		if b, err := os.ReadFile(p); err == nil {
			files = append(files, b)
		}
	}
	logs := r.logs.String()
	for _, s := range append(tokens, r.sim.Secret()) {
		for _, f := range files {
			if bytes.Contains(f, []byte(s)) {
				t.Fatalf("the database holds a secret or token (%s…)", s[:6])
			}
		}
		if strings.Contains(logs, s) {
			t.Fatalf("the log holds a secret or token (%s…)", s[:6])
		}
	}
	if !strings.Contains(logs, "fetched") {
		t.Fatalf("nothing logged: %q", logs)
	}
	_ = fmt.Sprint
}

func FuzzParseBatchList(f *testing.F) {
	for _, name := range []string{"pge-batchlist-notification.xml", "gba-contract-notification-batchlist.xml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "batchlist", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<BatchList xmlns="http://naesb.org/espi"><resource>https://a/b</resource></BatchList>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		uris, err := espi.ParseBatchList(bytes.NewReader(b))
		if err == nil {
			for _, u := range uris {
				if strings.TrimSpace(u) != u || u == "" {
					t.Fatalf("uri %q not trimmed", u)
				}
			}
		}
	})
}

func TestParseBatchListFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"pge-batchlist-notification.xml", []string{
			"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/50952?correlationID=98cd4976-b79a-4fd9-addc-4e86e16717e9",
			"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Batch/Bulk/50952?correlationID=42426c3e-1d4a-4ac6-9bcf-428cdaca9a44"}},
		{"gba-contract-notification-batchlist.xml", []string{
			"https://utilityapi.com/DataCustodian/espi/1_1/resource/Batch/Subscription/503888?published-min=2025-01-01T00:00:00Z&published-max=2025-02-01T00:00:00Z"}},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(filepath.Join("testdata", "batchlist", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := espi.ParseBatchList(bytes.NewReader(b))
		if err != nil || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: %q %v", tc.file, got, err)
		}
	}
}

// TestCancelledSyncLosesNothing cancels a sync while it reads an archived answer; the next
// sync finishes the job from the archive.
func TestCancelledSyncLosesNothing(t *testing.T) {
	r := newRig(t, espitest.Options{Days: 2})
	ctx, cancel := context.WithCancel(context.Background())
	job := r.job()
	job.Progress = func(p engine.Progress) {
		if strings.HasPrefix(p.Message, "reading") {
			cancel()
		}
	}
	if _, err := r.drv.Sync(ctx, job); err == nil {
		t.Fatal("a cancelled sync reported success")
	}
	if failed, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Status: store.PayloadFailed}); len(failed) != 0 {
		t.Fatalf("cancellation marked payloads failed: %+v", failed)
	}
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	ps, _ := r.st.Payloads(context.Background(), store.PayloadFilter{})
	for _, p := range ps {
		if p.Status != store.PayloadParsed {
			t.Fatalf("payload %d is %s after the next sync", p.ID, p.Status)
		}
	}
	if c, _ := r.st.Counts(context.Background()); c.Readings == 0 {
		t.Fatal("no readings after the next sync")
	}
}
