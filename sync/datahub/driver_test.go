package datahub_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/datahub"
	"custody/sync/datahub/datahubtest"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// secrets is the shared in-memory keyring.
type secrets = testkit.Secrets

type rig struct {
	sim *datahubtest.Server
	st  *store.Store
	job *engine.Job
	drv *datahub.Driver
}

func newRig(t *testing.T, opts datahubtest.Options, format string) *rig {
	t.Helper()
	pki, err := simtls.New("custody-test")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := datahubtest.Start(pki, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, secret := sim.DemoSource("dh", files)
	if format != "" {
		src.Config["format"] = format
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	job := &engine.Job{Source: src, Store: st, Secrets: secrets{"dh/client_secret": secret},
		Logger: slog.New(slog.DiscardHandler), Progress: func(engine.Progress) {}}
	return &rig{sim: sim, st: st, job: job, drv: datahub.NewDriver()}
}

func (r *rig) messages(t *testing.T) []store.Message {
	t.Helper()
	ms, err := r.st.Messages(context.Background(), store.MessageFilter{Source: "dh"})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestSyncDrainsEveryQueueStoringBeforeDequeue(t *testing.T) {
	for _, format := range []string{"xml", "json"} {
		t.Run(format, func(t *testing.T) {
			r := newRig(t, datahubtest.Options{Fixtures: true, Generate: 3}, format)
			ctx := context.Background()
			before := append(r.sim.Waiting("timeseries"), r.sim.Waiting("aggregations")...)
			if len(before) != 15 {
				t.Fatalf("simulator holds %d documents, want 12 fixtures + 3 generated", len(before))
			}
			checked := 0
			datahub.SetAfterCommit(r.drv, func(id string) error {
				// At this point the document is committed and not yet dequeued.
				if n := r.sim.Dequeues(id); n != 0 {
					t.Errorf("%s dequeued %d times before its commit finished", id, n)
				}
				found := false
				for _, m := range r.messages(t) {
					found = found || m.MessageID == id
				}
				if !found {
					t.Errorf("%s not stored before its dequeue", id)
				}
				acks, _ := r.st.PendingAcks(ctx, r.job.Source.ID, "dequeue")
				if len(acks) != 1 || acks[0].Item != id {
					t.Errorf("pending dequeues at commit = %+v, want just %s", acks, id)
				}
				checked++
				return nil
			})
			res, err := r.drv.Sync(ctx, r.job)
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != 15 || checked != 15 {
				t.Fatalf("items %d, checked %d; want 15", res.Items, checked)
			}
			for _, id := range before {
				if n := r.sim.Dequeues(id); n != 1 {
					t.Errorf("%s dequeued %d times, want 1", id, n)
				}
			}
			if w := append(r.sim.Waiting("timeseries"), r.sim.Waiting("aggregations")...); len(w) != 0 {
				t.Errorf("left in queues: %v", w)
			}
			if acks, _ := r.st.PendingAcks(ctx, r.job.Source.ID, "dequeue"); len(acks) != 0 {
				t.Errorf("pending dequeues left: %v", acks)
			}
			ms := r.messages(t)
			if len(ms) != 15 {
				t.Fatalf("%d messages stored, want 15", len(ms))
			}
			// Fixture readings: 100+24+1+24 (aggregations) + 96+46 (measuredata) = 291; generated:
			// 3 days of 24 hours = 72 (the third has an A02 point, still a row).
			if res.Readings != 291+72 {
				t.Errorf("readings %d, want %d", res.Readings, 291+72)
			}
			for _, m := range ms {
				if m.Error != "" {
					t.Errorf("%s: unexpected error %s", m.MessageID, m.Error)
				}
				if m.Type == "" || !strings.HasSuffix(m.Type, "_MarketDocument") {
					t.Errorf("%s: type %q", m.MessageID, m.Type)
				}
			}
			// A second run finds nothing and reuses the cached token.
			calls := r.sim.TokenCalls()
			res, err = r.drv.Sync(ctx, r.job)
			if err != nil || res.Items != 0 {
				t.Fatalf("second sync: %+v, %v", res, err)
			}
			if r.sim.TokenCalls() != calls {
				t.Errorf("token fetched again within its lifetime (%d → %d calls)", calls, r.sim.TokenCalls())
			}
		})
	}
}

func TestCrashBetweenCommitAndDequeue(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 2}, "")
	ctx := context.Background()
	first := r.sim.Waiting("timeseries")[0]
	crash := errors.New("simulated crash")
	datahub.SetAfterCommit(r.drv, func(id string) error { return crash })
	if _, err := r.drv.Sync(ctx, r.job); !errors.Is(err, crash) {
		t.Fatalf("sync = %v, want the crash", err)
	}
	if n := r.sim.Dequeues(first); n != 0 {
		t.Fatalf("dequeued %d times despite the crash", n)
	}
	acks, _ := r.st.PendingAcks(ctx, r.job.Source.ID, "dequeue")
	if len(acks) != 1 || acks[0].Item != first {
		t.Fatalf("pending dequeues after crash: %+v", acks)
	}
	stored := r.messages(t)
	if len(stored) != 1 || stored[0].Readings != 24 {
		t.Fatalf("after crash: %+v", stored)
	}
	// The next run sends the pending dequeue first; it fails once (server error), so the
	// document comes again on the peek, is stored once (upsert) and dequeued.
	r.sim.Inject(datahubtest.Faults{DequeueErrors: 1})
	datahub.SetAfterCommit(r.drv, nil)
	peeksBefore := r.sim.Peeks()
	res, err := r.drv.Sync(ctx, r.job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 2 {
		t.Errorf("second run took %d documents, want 2 (the first again, then the second)", res.Items)
	}
	if r.sim.Peeks()-peeksBefore != 4 {
		t.Errorf("peeks %d, want 4 (first again, second, empty timeseries, empty aggregations)", r.sim.Peeks()-peeksBefore)
	}
	ms := r.messages(t)
	if len(ms) != 2 {
		t.Fatalf("%d messages, want 2: the redelivered one stored once", len(ms))
	}
	counts, _ := r.st.Counts(ctx)
	if counts.Readings != 48 {
		t.Errorf("readings %d, want 48", counts.Readings)
	}
	if n := r.sim.Dequeues(first); n != 1 {
		t.Errorf("first dequeued %d times, want 1", n)
	}
	if acks, _ := r.st.PendingAcks(ctx, r.job.Source.ID, "dequeue"); len(acks) != 0 {
		t.Errorf("pending: %+v", acks)
	}
}

func TestPendingDequeueSentFirst(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	ctx := context.Background()
	id := r.sim.Waiting("timeseries")[0]
	datahub.SetAfterCommit(r.drv, func(string) error { return errors.New("crash") })
	r.drv.Sync(ctx, r.job)
	datahub.SetAfterCommit(r.drv, nil)
	peeks := r.sim.Peeks()
	res, err := r.drv.Sync(ctx, r.job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 0 || r.sim.Dequeues(id) != 1 {
		t.Errorf("items %d, dequeues %d: the pending dequeue should be sent before peeking", res.Items, r.sim.Dequeues(id))
	}
	if r.sim.Peeks()-peeks != 2 { // timeseries and aggregations, both empty
		t.Errorf("peeks %d, want 2", r.sim.Peeks()-peeks)
	}
}

func TestUnparsableDocumentArchivedRecordedAndDequeued(t *testing.T) {
	r := newRig(t, datahubtest.Options{}, "")
	ctx := context.Background()
	r.sim.Inject(datahubtest.Faults{Malformed: 1})
	// Generate one malformed document and one good one via the public Enqueue of raw bodies.
	r.sim.Enqueue("timeseries", "0123456789abcdef0123456789abcdef", []byte(`<?xml version="1.0"?><cim:NotifyValidatedMeasureData_MarketDocument xmlns:cim="urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1"><cim:mRID>0123456789abcdef0123456789abcdef</cim:mRID><cim:Series><cim:Period>`))
	r.sim.Enqueue("timeseries", "fedcba9876543210fedcba9876543210", []byte(`{"NotifyValidatedMeasureData_MarketDocument":{"mRID":"fedcba9876543210fedcba9876543210","Series":[{"mRID":"s1","marketEvaluationPoint.mRID":{"codingScheme":"A10","value":"571313100000001239"},"product":"8716867000030","quantity_Measure_Unit.name":{"value":"KWH"},"Period":{"resolution":"PT1H","timeInterval":{"start":{"value":"2025-01-01T23:00Z"},"end":{"value":"2025-01-02T01:00Z"}},"Point":[{"position":{"value":1},"quantity":1.5},{"position":{"value":2},"quality":{"value":"A02"}}]}}]}}`))
	res, err := r.drv.Sync(ctx, r.job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 2 || !strings.Contains(res.Note, "1 unreadable") {
		t.Errorf("result %+v", res)
	}
	ms := r.messages(t)
	byID := map[string]store.Message{}
	for _, m := range ms {
		byID[m.MessageID] = m
	}
	bad := byID["0123456789abcdef0123456789abcdef"]
	if bad.Error == "" || !strings.Contains(bad.Error, "malformed XML") || bad.PayloadID == 0 {
		t.Errorf("bad document record: %+v", bad)
	}
	p, err := r.st.Payload(ctx, bad.PayloadID)
	if err != nil || p.Status != store.PayloadFailed || p.Error == "" {
		t.Errorf("bad payload %+v, %v", p, err)
	}
	good := byID["fedcba9876543210fedcba9876543210"]
	if good.Error != "" || good.Readings != 2 {
		t.Errorf("good document: %+v", good)
	}
	if r.sim.Dequeues("0123456789abcdef0123456789abcdef") != 1 {
		t.Error("the unreadable document was not dequeued: it would block the queue")
	}
}

func TestPeekQuirksAndErrors(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	ctx := context.Background()
	c, _, err := r.drv.Client(r.job)
	if err != nil {
		t.Fatal(err)
	}
	// Same bundle until dequeued.
	p1, err := c.Peek(ctx, "timeseries")
	if err != nil || p1 == nil {
		t.Fatal(p1, err)
	}
	p1.Body.Close()
	p2, _ := c.Peek(ctx, "timeseries")
	p2.Body.Close()
	if p1.MessageID == "" || p1.MessageID != p2.MessageID {
		t.Errorf("peeks gave %q then %q; want the same bundle", p1.MessageID, p2.MessageID)
	}
	if p1.Header.Get("MessageType") != "" {
		t.Error("the real server sends no MessageType header")
	}
	// Dequeue is idempotent; an unknown id is a 400 that wraps ErrUnknownMessage.
	if err := c.Dequeue(ctx, p1.MessageID); err != nil {
		t.Fatal(err)
	}
	if err := c.Dequeue(ctx, p1.MessageID); err != nil {
		t.Errorf("repeated dequeue: %v", err)
	}
	err = c.Dequeue(ctx, "ffffffffffffffffffffffffffffffff")
	if !errors.Is(err, datahub.ErrUnknownMessage) || !strings.Contains(err.Error(), "BadArgument") {
		t.Errorf("unknown dequeue: %v", err)
	}
	// masterdata is not served.
	if _, err := c.Peek(ctx, "masterdata"); syncerr.KindOf(err) != syncerr.Config || !strings.Contains(err.Error(), "404") {
		t.Errorf("masterdata peek: %v", err)
	}
	// 503 with Retry-After.
	r.sim.Inject(datahubtest.Faults{PeekErrors: 1})
	_, err = c.Peek(ctx, "timeseries")
	if syncerr.KindOf(err) != syncerr.Server || syncerr.RetryAfterOf(err) != time.Second {
		t.Errorf("503 peek: %v (retry %v)", err, syncerr.RetryAfterOf(err))
	}
	// A wrong secret is an authorisation failure with Entra's code.
	r.job.Secrets = secrets{"dh/client_secret": "s3cr3t-Wr0ng-value"}
	_, err = datahub.NewDriver().Sync(ctx, r.job)
	if syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-Wr0ng-value") {
		t.Error("the secret leaked into the error")
	}
}

func TestBaseURLWithTheCIMPathIsForgiven(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	r.job.Source.Config["base_url"] += "/v1.0/cim/"
	if res, err := r.drv.Sync(context.Background(), r.job); err != nil || res.Items != 1 {
		t.Errorf("%+v %v", res, err)
	}
}

func TestPeekWithoutContentTypeIs415(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	c, _, err := r.drv.Client(r.job)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Token(context.Background()); err != nil { // cached from here on
		t.Fatal(err)
	}
	// Break the client's format on purpose: the transport strips Content-Type.
	c.HTTP.Transport = stripContentType{c.HTTP.Transport}
	_, err = c.Peek(context.Background(), "timeseries")
	if err == nil || !strings.Contains(err.Error(), "415") || !strings.Contains(err.Error(), "Content-Type") {
		t.Errorf("peek without Content-Type: %v", err)
	}
}

func TestSecretExpiryWarning(t *testing.T) {
	r := newRig(t, datahubtest.Options{}, "")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.Local)
	r.drv.Now = func() time.Time { return now }
	for _, tc := range []struct {
		expires string
		want    string
	}{
		{"2027-06-30", ""},
		{"2026-12-10", "expires on 2026-12-10 (in 18 days)"},
		{"2026-11-01", "expired on 2026-11-01"},
	} {
		r.job.Source.Config["secret_expires"] = tc.expires
		msg, err := r.drv.Test(context.Background(), r.job)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.drv.Sync(context.Background(), r.job)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []string{msg, res.Note} {
			if tc.want == "" && strings.Contains(got, "secret") || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("expires %s: %q, want mention of %q", tc.expires, got, tc.want)
			}
		}
	}
}

type stripContentType struct{ rt http.RoundTripper }

func (s stripContentType) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("Content-Type")
	return s.rt.RoundTrip(r)
}

type fixedToken struct{}

func (fixedToken) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "tok", TokenType: "Bearer"}, nil
}
func (fixedToken) Invalidate(*oauth2.Token) {}

// TestTokenNeverFollowsARedirect: a server that redirects elsewhere never gets the token sent
// on; the client refuses to follow.
func TestTokenNeverFollowsARedirect(t *testing.T) {
	pki, err := simtls.New("t")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := pki.ServerTLS(false)
	var leaked atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
	}))
	other.TLS = cfg
	other.StartTLS()
	defer other.Close()
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	redirector.TLS = cfg
	redirector.StartTLS()
	defer redirector.Close()
	files, _ := pki.WriteFiles(t.TempDir())
	hc, err := datahub.HTTPClient(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	authed, err := auth.NewClient(hc, fixedToken{}, redirector.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &datahub.Client{BaseURL: redirector.URL, HTTP: authed, Format: "xml"}
	if _, err := c.Peek(context.Background(), "timeseries"); !errors.Is(err, auth.ErrForeignOrigin) {
		t.Errorf("peek through a redirect: %v", err)
	}
	if leaked.Load() != 0 {
		t.Error("the token was sent to another origin")
	}
}

// BenchmarkSyncFromSimulator measures whole documents through the peek → archive → parse →
// commit → dequeue loop against the simulator over TLS (one generated day of PT1H per document).
func BenchmarkSyncFromSimulator(b *testing.B) {
	pki, err := simtls.New("bench")
	if err != nil {
		b.Fatal(err)
	}
	sim, err := datahubtest.Start(pki, "", datahubtest.Options{Generate: b.N})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	files, _ := pki.WriteFiles(b.TempDir())
	src, secret := sim.DemoSource("dh", files)
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.AddSource(context.Background(), &src)
	job := &engine.Job{Source: src, Store: st, Secrets: secrets{"dh/client_secret": secret},
		Logger: slog.New(slog.DiscardHandler), Progress: func(engine.Progress) {}}
	drv := datahub.NewDriver()
	drv.MaxPerRun = b.N + 1
	b.ResetTimer()
	cpu0 := cpuNow()
	res, err := drv.Sync(context.Background(), job)
	if err != nil {
		b.Fatal(err)
	}
	cpu := cpuNow() - cpu0
	b.StopTimer()
	if res.Items != int64(b.N) {
		b.Fatalf("%d documents, want %d", res.Items, b.N)
	}
	b.ReportMetric(float64(res.Items)/b.Elapsed().Seconds(), "docs/s")
	// Per CPU-second (user + sys of this process, the simulator's share included): the
	// machine is shared, so wall time says more about the neighbours than about the code.
	b.ReportMetric(float64(res.Items)/cpu, "docs/CPU-s")
	b.ReportMetric(float64(res.Readings)/cpu, "readings/CPU-s")
}

func TestOversizedDocumentIsRefusedAndKeptInTheQueue(t *testing.T) {
	r := newRig(t, datahubtest.Options{Generate: 1}, "")
	id := r.sim.Waiting("timeseries")[0]
	r.drv.MaxBody = 1000 // a generated day is about 6 kB
	_, err := r.drv.Sync(context.Background(), r.job)
	if syncerr.KindOf(err) != syncerr.Data || !errors.Is(err, datahub.ErrTooLarge) {
		t.Fatalf("sync = %v", err)
	}
	if r.sim.Dequeues(id) != 0 || len(r.messages(t)) != 0 {
		t.Error("a document that could not be archived whole was dequeued or recorded")
	}
	ps, _ := r.st.Payloads(context.Background(), store.PayloadFilter{})
	if len(ps) != 0 {
		t.Errorf("a partial payload was archived: %+v", ps)
	}
	r.drv.MaxBody = 0
	if res, err := r.drv.Sync(context.Background(), r.job); err != nil || res.Items != 1 {
		t.Errorf("with the default limit: %+v %v", res, err)
	}
}

// cpuNow is this process's CPU time so far (user + sys), in seconds.
func cpuNow() float64 {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}

// TestSettlementResultsKeptApart syncs what DataHub sends a supplier after the settlements of
// one day in one grid area — balance fixing (D04), wholesale fixing (D05), first and second
// correction (D32 D01, D02) — and checks that each is its own series in the store and the
// export, with its own name, and that wholesale prices and amounts are kept.
func TestSettlementResultsKeptApart(t *testing.T) {
	for _, format := range []string{"xml", "json"} {
		t.Run(format, func(t *testing.T) {
			r := newRig(t, datahubtest.Options{Results: true}, format)
			ctx := context.Background()
			res, err := r.drv.Sync(ctx, r.job)
			if err != nil || res.Items != 4 {
				t.Fatalf("sync: %+v %v", res, err)
			}
			ms, err := r.st.Meters(ctx, store.MeterFilter{Search: "grid-area-804"})
			if err != nil || len(ms) != 1 {
				t.Fatalf("meters %v %v", ms, err)
			}
			srs, err := r.st.SeriesOf(ctx, ms[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{}
			for _, s := range srs {
				names[s.Key] = s.Attrs["name"]
			}
			charge := "/5790001330590/E17/E02/charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/"
			want := map[string]string{
				"D04/8716867000030/E17/E02/es:5790002606892/PT1H/kWh": "Balance fixing · consumption (non-profiled) · supplier 5790002606892",
				"D05" + charge + "kWh":                                "Wholesale fixing · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892",
				"D05" + charge + "DKK/kWh/price":                      "Wholesale fixing · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · price",
				"D05" + charge + "DKK/amount":                         "Wholesale fixing · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · amount",
				"D32:D01" + charge + "kWh":                            "Wholesale fixing, 1st correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892",
				"D32:D01" + charge + "DKK/kWh/price":                  "Wholesale fixing, 1st correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · price",
				"D32:D01" + charge + "DKK/amount":                     "Wholesale fixing, 1st correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · amount",
				"D32:D02" + charge + "kWh":                            "Wholesale fixing, 2nd correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892",
				"D32:D02" + charge + "DKK/kWh/price":                  "Wholesale fixing, 2nd correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · price",
				"D32:D02" + charge + "DKK/amount":                     "Wholesale fixing, 2nd correction · consumption (non-profiled) · tariff T-NET-C · supplier 5790002606892 · amount",
			}
			if len(names) != len(want) {
				t.Errorf("%d series, want %d: %v", len(names), len(want), names)
			}
			for k, n := range want {
				if names[k] != n {
					t.Errorf("series %s named %q, want %q", k, names[k], n)
				}
			}
			// The export: 24 hours of each series; the prices of the three calculations differ.
			prices := map[string]float64{}
			count := map[string]int{}
			err = r.st.ExportReadings(ctx, store.ExportFilter{Meter: "grid-area-804"}, func(row store.ExportRow) error {
				count[row.Series]++
				if strings.HasSuffix(row.Series, "/price") {
					prices[row.Series] = row.Reading.Value
					if row.Unit != "DKK/kWh" || row.Currency != "DKK" {
						t.Errorf("price row %+v", row)
					}
				}
				if strings.HasSuffix(row.Series, "T-NET-C/es:5790002606892/PT1H/kWh") && (!row.Reading.HasCost || row.Currency != "DKK") {
					t.Errorf("wholesale quantity without its amount in cost: %+v", row)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if count[k] != 24 {
					t.Errorf("%s: %d rows, want 24", k, count[k])
				}
			}
			if prices["D05"+charge+"DKK/kWh/price"] != 0.1265 || prices["D32:D01"+charge+"DKK/kWh/price"] != 0.1271 ||
				prices["D32:D02"+charge+"DKK/kWh/price"] != 0.1272 {
				t.Errorf("prices %v", prices)
			}
		})
	}
}

func TestTestCallsTheHealthEndpoint(t *testing.T) {
	r := newRig(t, datahubtest.Options{}, "")
	delete(r.job.Source.Config, datahub.SettingSenderGLN)
	delete(r.job.Source.Config, datahub.SettingMarketRole)
	msg, err := r.drv.Test(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "health endpoint /ping answered 200") || r.sim.Pings() != 1 {
		t.Fatalf("test = %q, %v; %d pings", msg, err, r.sim.Pings())
	}
	if !strings.Contains(msg, "no sender GLN or market role set") {
		t.Errorf("test does not say the identity is missing: %q", msg)
	}
	// An environment without the endpoint: said, and the test still passes on the peek.
	r.job.Source.Config[datahub.SettingHealthPath] = "/health"
	r.job.Source.Config[datahub.SettingSenderGLN] = "5790002606892"
	r.job.Source.Config[datahub.SettingMarketRole] = "DDQ"
	msg, err = r.drv.Test(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "health endpoint /health: ") || !strings.Contains(msg, "404") ||
		!strings.Contains(msg, "acting as 5790002606892 in role DDQ") {
		t.Fatalf("test = %q, %v", msg, err)
	}
	// A bad setting is refused before anything is sent.
	r.job.Source.Config[datahub.SettingMarketRole] = "DGL"
	if _, err := r.drv.Test(context.Background(), r.job); err == nil || !strings.Contains(err.Error(), `market role "DGL"`) {
		t.Fatalf("test with role DGL = %v", err)
	}
}

// TestSendRequest: the one request flow — identity from the source, recorded, the RSM-015
// route's other name tried on a 404, a lost 202 resent once and counted as sent on 00101.
func TestSendRequest(t *testing.T) {
	r := newRig(t, datahubtest.Options{ValidatedRoute: datahub.AlternateRouteValidated}, "")
	delete(r.job.Source.Config, datahub.SettingSenderGLN)
	delete(r.job.Source.Config, datahub.SettingMarketRole)
	ctx := context.Background()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, datahub.Copenhagen)
	req := datahub.Request{Kind: datahub.RequestValidated, MeteringPoint: "571313100000001239", Start: from, End: from.AddDate(0, 0, 1)}
	if _, err := r.drv.SendRequest(ctx, r.job, &req, "", nil); syncerr.KindOf(err) != syncerr.Config || !strings.Contains(err.Error(), "sender") {
		t.Fatalf("without an identity: %v", err)
	}
	r.job.Source.Config[datahub.SettingSenderGLN] = "5790002606892"
	r.job.Source.Config[datahub.SettingMarketRole] = "DDQ"
	req = datahub.Request{Kind: datahub.RequestValidated, MeteringPoint: "571313100000001239", Start: from, End: from.AddDate(0, 0, 1)}
	sent, err := r.drv.SendRequest(ctx, r.job, &req, "", map[string]string{"from": "2025-03-01"})
	if err != nil || !sent.RouteFallback || sent.Route != datahub.AlternateRouteValidated || sent.Correlation == "" || sent.Queue() != "timeseries" {
		t.Fatalf("sent %+v, %v", sent, err)
	}
	if req.Sender != "5790002606892" || req.SenderRole != "DDQ" {
		t.Errorf("request sent as %s/%s", req.Sender, req.SenderRole)
	}
	// With the route set on the source, it is used at once.
	r.job.Source.Config[datahub.SettingRouteValidated] = datahub.AlternateRouteValidated
	r.sim.Inject(datahubtest.Faults{LoseAccepted: 1})
	req = datahub.Request{Kind: datahub.RequestValidated, MeteringPoint: "571313100000001239", Start: from, End: from.AddDate(0, 0, 1)}
	sent, err = r.drv.SendRequest(ctx, r.job, &req, "", nil)
	if err != nil || sent.RouteFallback || !sent.Resent || !sent.AlreadyArrived {
		t.Fatalf("lost 202: %+v, %v", sent, err)
	}
	rs, err := r.st.DataHubRequests(ctx, "")
	if err != nil || len(rs) != 2 {
		t.Fatalf("requests recorded %+v %v", rs, err)
	}
	// Both went to the interface document's name, the first after the default's 404: the
	// records say where each went.
	for _, rec := range rs {
		if rec.Status != store.RequestAccepted || rec.Detail["route"] != datahub.AlternateRouteValidated {
			t.Errorf("record %+v", rec)
		}
	}
	if got := r.sim.Requests(); len(got) != 2 {
		t.Errorf("simulator took %d requests, want 2 (the resend was the same document)", len(got))
	}
}
