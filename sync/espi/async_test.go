package espi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
)

// asyncRig is a rig whose simulator behaves like PG&E (202, then a BatchList) and whose
// source has a notification listener: an HTTPS server requiring the custodian's client
// certificate, in front of the source's BatchList handler.
type asyncRig struct {
	*rig
	n *espi.Notifications
}

func newAsyncRig(t *testing.T, opts espitest.Options) *asyncRig {
	t.Helper()
	r := newRig(t, espitest.Options{Days: 1})
	r.sim.Close()
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: r.secrets, Source: "pge"}
	srv := httptest.NewUnstartedServer(n)
	var err error
	if srv.TLS, err = r.pki.ServerTLS(true); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	hc, err := auth.NewHTTPClient(auth.TLSConfig{CertFile: r.files.ClientCert, KeyFile: r.files.ClientKey, CAFile: r.files.CA})
	if err != nil {
		t.Fatal(err)
	}
	opts.Async, opts.Now, opts.ClientSecret = true, r.clock.Now, r.secrets["pge/client_secret"]
	opts.NotifyURL, opts.NotifyClient = srv.URL+"/espi/notify/pge", hc
	if opts.Days == 0 {
		opts.Days = 2
	}
	sim, err := espitest.Start(r.pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	r.sim = sim
	r.src.Config["base_url"], r.src.Config["token_url"] = sim.BaseURL(), sim.TokenURL()
	r.src.Config["notify_listen"] = "127.0.0.1:0" // the driver only needs to know there is one
	if err := r.st.UpdateSource(context.Background(), &r.src); err != nil {
		t.Fatal(err)
	}
	return &asyncRig{rig: r, n: n}
}

// bulkRequests lists the bulk requests made without a correlation id: the requests for data,
// not the fetches of prepared answers. A request refused for an expired token (which the
// client then repeats with a new one) does not count: the custodian prepared nothing for it.
func (r *asyncRig) bulkRequests() []espitest.Request {
	var out []espitest.Request
	for _, q := range r.sim.Requests() {
		if q.Status != http.StatusUnauthorized && strings.HasSuffix(q.Path, "/Batch/Bulk/"+r.sim.BulkID()) && !strings.Contains(q.RawQuery, "correlationID") {
			out = append(out, q)
		}
	}
	return out
}

func (r *asyncRig) correlationFetches() int {
	n := 0
	for _, q := range r.sim.Requests() {
		if strings.Contains(q.RawQuery, "correlationID") && q.Status != http.StatusUnauthorized {
			n++
		}
	}
	return n
}

// TestAsyncRequestNotificationCursor: a 202 is recorded as outstanding and said as waiting,
// not as an error; no second request is made while it is outstanding; the notified answer is
// fetched once (however often it is named), completes the request and moves the cursor to the
// time of the request, so that the next request asks from then (minus the overlap).
func TestAsyncRequestNotificationCursor(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{HoldNotifications: true})
	ctx := context.Background()
	t0 := r.clock.Now()
	res, err := r.sync(t)
	if err != nil {
		t.Fatalf("a 202 is not an error: %v", err)
	}
	if want := "requested; waiting for the custodian's notification since " + t0.Local().Format("15:04"); !strings.Contains(res.Note, want) {
		t.Fatalf("note %q, want %q", res.Note, want)
	}
	if res.NextIn != 0 {
		t.Fatalf("NextIn %v: a 202 must not make the source ask again soon", res.NextIn)
	}
	rel := "Batch/Bulk/" + r.sim.BulkID()
	req, ok, err := r.st.Outstanding(ctx, r.src.ID, rel)
	if err != nil || !ok || !req.Requested.Equal(t0) || !req.Min.IsZero() {
		t.Fatalf("outstanding %+v %v %v, want one requested at %v with no window", req, ok, err, t0)
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.IsZero() {
		t.Fatalf("the cursor moved to %v before the data came", cur)
	}

	// While outstanding: no second request, however often the source syncs.
	for range 3 {
		r.clock.Add(2 * time.Hour)
		res, err := r.sync(t)
		if err != nil || !strings.Contains(res.Note, "since "+t0.Local().Format("15:04")) {
			t.Fatalf("sync while outstanding: %+v %v", res, err)
		}
	}
	// Nor does a test of the source.
	if msg, err := r.drv.Test(ctx, r.job()); err != nil || !strings.Contains(msg, "waiting for the custodian's notification since "+t0.Local().Format("15:04")) {
		t.Fatalf("Test while outstanding: %q %v", msg, err)
	}
	if got := len(r.bulkRequests()); got != 1 {
		t.Fatalf("%d bulk requests while one was outstanding, want 1", got)
	}

	// The notification comes: the listener fetches the prepared answer with the client token.
	// PG&E prepares the customers' information the same way: one notified URI each.
	held := r.sim.Held()
	if len(held) != 2 || !strings.Contains(held[0], "/Batch/Bulk/") || espi.CorrelationID(held[0]) == "" ||
		!strings.Contains(held[1], "/Batch/BulkRetailCustomerInfo/") {
		t.Fatalf("held notifications %q", held)
	}
	info := "Batch/BulkRetailCustomerInfo/" + r.sim.BulkID()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, info); !ok {
		t.Fatal("the customer information request is not outstanding")
	}
	if err := r.sim.ReleaseNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if c, _ := r.st.Counts(ctx); c.Readings == 0 {
		t.Fatal("the notified answer was not stored")
	}
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); ok {
		t.Fatal("the request is still outstanding after its answer was fetched")
	}
	for _, res := range []string{rel, info} {
		if cur, _ := r.st.Cursor(ctx, r.src.ID, res); !cur.Equal(t0) {
			t.Fatalf("%s: cursor %v, want the time of the request %v", res, cur, t0)
		}
	}
	for _, q := range r.sim.Requests() {
		if strings.Contains(q.RawQuery, "correlationID") && q.Status == http.StatusOK && (!q.Token || q.ClientCert == "") {
			t.Fatalf("the notified URI was fetched without the client token or certificate: %+v", q)
		}
	}

	// The same correlation id again (the same URI, or another naming it) is not fetched again.
	u, _ := url.Parse(held[0])
	q := u.Query()
	q.Set("published-min", "2026-06-01T00:00:00Z")
	u.RawQuery = q.Encode()
	if err := r.sim.Notify(ctx, held[0], u.String()); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if got := r.correlationFetches(); got != 2 {
		t.Fatalf("%d fetches of two correlation ids, want 2", got)
	}
	dup, _ := r.st.Notified(ctx, r.src.ID, store.NotifiedDuplicate)
	if len(dup) != 1 || dup[0].URI != u.String() {
		t.Fatalf("duplicate notified URIs %+v", dup)
	}

	// The next request asks only from the time of the last one, minus the overlap.
	r.clock.Add(time.Hour)
	t1 := r.clock.Now()
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	reqs := r.bulkRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d bulk requests, want a second one after the answer came", len(reqs))
	}
	want := url.Values{"published-min": {t0.Add(-espi.Overlap).UTC().Format(time.RFC3339)}}.Encode()
	if reqs[1].RawQuery != want {
		t.Fatalf("second request %q, want %q", reqs[1].RawQuery, want)
	}
	if req, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); !ok || !req.Requested.Equal(t1) || !req.Min.Equal(t0.Add(-espi.Overlap)) {
		t.Fatalf("outstanding %+v %v", req, ok)
	}
}

// TestAsyncTimeoutAsksAgain: with no notification within the async timeout (default 26 h, or
// the source's async_timeout), the request is made again.
func TestAsyncTimeoutAsksAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout string
		wait    time.Duration // still outstanding after this
		after   time.Duration // asked again after this
	}{
		{"default", "", 25 * time.Hour, 2 * time.Hour},
		{"configured", "3h", 2 * time.Hour, 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newAsyncRig(t, espitest.Options{HoldNotifications: true})
			if tc.timeout != "" {
				r.src.Config["async_timeout"] = tc.timeout
			}
			if _, err := r.sync(t); err != nil {
				t.Fatal(err)
			}
			r.clock.Add(tc.wait)
			if _, err := r.sync(t); err != nil {
				t.Fatal(err)
			}
			if got := len(r.bulkRequests()); got != 1 {
				t.Fatalf("%d requests within the timeout, want 1", got)
			}
			r.clock.Add(tc.after)
			res, err := r.sync(t)
			if err != nil || !strings.Contains(res.Note, "since "+r.clock.Now().Local().Format("15:04")) {
				t.Fatalf("sync after the timeout: %+v %v", res, err)
			}
			if got := len(r.bulkRequests()); got != 2 {
				t.Fatalf("%d requests after the timeout, want 2", got)
			}
			if !strings.Contains(r.logs.String(), "asking again") {
				t.Fatal("the re-request is not logged")
			}
			// The answers come (the late first one, and the new one that completes the request).
			if err := r.sim.ReleaseNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.n.Wait()
			if _, ok, _ := r.st.Outstanding(context.Background(), r.src.ID, "Batch/Bulk/"+r.sim.BulkID()); ok {
				t.Fatal("still outstanding after the answers came")
			}
		})
	}
}

// TestAsyncNotifiedAtOnce: a custodian that notifies at once (PG&E: 10-40 s later) — the
// data is in after one sync and the listener's fetch.
func TestAsyncNotifiedAtOnce(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{})
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	r.sim.Wait()
	r.n.Wait()
	for _, e := range r.sim.NotifyErrors() {
		if e != nil {
			t.Fatal(e)
		}
	}
	if c, _ := r.st.Counts(context.Background()); c.Readings == 0 {
		t.Fatal("the notified bulk data was not stored")
	}
}

// TestAsyncAnswersToldApartByCorrelation: the custodian echoes each request's correlation id
// (x-transaction); the notified answer to another request made meanwhile (a backfill's) does
// not complete the sync's request or move its cursor; the sync's own answer does.
func TestAsyncAnswersToldApartByCorrelation(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{HoldNotifications: true})
	ctx := context.Background()
	t0 := r.clock.Now()
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	rel := "Batch/Bulk/" + r.sim.BulkID()
	req, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel)
	held := r.sim.Held()
	if !ok || req.Correlation == "" || len(held) != 2 || espi.CorrelationID(held[0]) != req.Correlation {
		t.Fatalf("outstanding %+v, held %q", req, held)
	}
	// A backfill asks the same resource for an older window: 202, another correlation id.
	r.clock.Add(time.Minute)
	if _, err := r.drv.Backfill(ctx, r.job(), t0.Add(-10*24*time.Hour), t0.Add(-9*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	all := r.sim.Held()
	if len(all) != 3 {
		t.Fatalf("held %q", all)
	}
	backfill := all[2]
	if err := r.sim.Notify(ctx, backfill); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); !ok {
		t.Fatal("the backfill's answer completed the sync's request")
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.IsZero() {
		t.Fatalf("the backfill's answer moved the cursor to %v", cur)
	}
	if err := r.sim.Notify(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.Equal(t0) {
		t.Fatalf("cursor %v after the sync's own answer, want %v", cur, t0)
	}
}

// TestAsyncAnswersWithoutCorrelation: the custodian echoes no correlation id (no
// x-transaction), so a notified answer cannot say which request it answers. The answer to a
// backfill's request, coming first, must not complete the sync's request or move its cursor
// (which would take the sync's data as fetched when it was not): both requests stay
// outstanding, the sync says why, and the data is stored. When the sync's own answer comes
// too, both are answered: both complete, the cursor moves to the time of the sync's request,
// and each answer was fetched once.
func TestAsyncAnswersWithoutCorrelation(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{HoldNotifications: true, NoTransactionHeader: true, Days: 12})
	ctx := context.Background()
	t0 := r.clock.Now()
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	rel := "Batch/Bulk/" + r.sim.BulkID()
	req, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel)
	held := r.sim.Held()
	if !ok || req.Correlation != "" || len(held) != 2 || espi.CorrelationID(held[0]) == "" {
		t.Fatalf("outstanding %+v, held %q: want a request with no correlation id", req, held)
	}
	r.clock.Add(time.Minute)
	if _, err := r.drv.Backfill(ctx, r.job(), t0.Add(-10*24*time.Hour), t0.Add(-9*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	all := r.sim.Held()
	if len(all) != 3 {
		t.Fatalf("held %q", all)
	}
	if reqs, _ := r.st.OutstandingRequests(ctx, r.src.ID); len(reqs) != 3 {
		t.Fatalf("outstanding %+v, want the sync's two and the backfill's", reqs)
	}
	before, _ := r.st.Counts(ctx)

	// The backfill's answer comes first.
	if err := r.sim.Notify(ctx, all[2]); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); !ok {
		t.Fatal("an answer that could be the backfill's completed the sync's request")
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.IsZero() {
		t.Fatalf("an answer that could be the backfill's moved the cursor to %v", cur)
	}
	if reqs, _ := r.st.OutstandingRequests(ctx, r.src.ID); len(reqs) != 3 {
		t.Fatalf("outstanding after the first answer: %+v, want all three", reqs)
	}
	if c, _ := r.st.Counts(ctx); c.Payloads != before.Payloads+2 || c.Readings <= before.Readings { // the BatchList and the answer
		t.Fatalf("payloads %d → %d, readings %d → %d: the answer's data is not stored", before.Payloads, c.Payloads, before.Readings, c.Readings)
	}
	// The source says why it still waits, and asks nothing again meanwhile.
	res, err := r.sync(t)
	if err != nil || !strings.Contains(res.Note, "since "+t0.Local().Format("15:04")) || !strings.Contains(res.Note, espi.HeldNote(1)) {
		t.Fatalf("sync while waiting: %q %v", res.Note, err)
	}
	if got := len(r.bulkRequests()); got != 2 { // the sync's and the backfill's
		t.Fatalf("%d bulk requests, want 2", got)
	}

	// The sync's answer comes: two answers for two requests.
	if err := r.sim.Notify(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if reqs, _ := r.st.OutstandingRequests(ctx, r.src.ID); len(reqs) != 1 || reqs[0].Resource == rel {
		t.Fatalf("outstanding after both answers: %+v, want only the customer information's", reqs)
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.Equal(t0) {
		t.Fatalf("cursor %v after both answers, want the time of the sync's request %v", cur, t0)
	}
	if got := r.correlationFetches(); got != 2 {
		t.Fatalf("%d fetches of notified answers, want each of the two once", got)
	}
	if h, _ := r.st.HeldAnswers(ctx, r.src.ID); h != 0 {
		t.Fatalf("answers still held: %v", h)
	}
	// The next sync asks from the time of its request, minus the overlap.
	r.clock.Add(time.Hour)
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	reqs := r.bulkRequests()
	want := url.Values{"published-min": {t0.Add(-espi.Overlap).UTC().Format(time.RFC3339)}}.Encode()
	if len(reqs) != 3 || reqs[2].RawQuery != want {
		t.Fatalf("bulk requests %+v, want a third asking %q", reqs, want)
	}
}

// TestAsyncAnswersToldApartByWindow: a custodian that echoes no correlation id but names each
// prepared answer by its window (the GBA contract's BatchList): the backfill's answer completes
// the backfill's request only, and the sync's answer the sync's, each at once.
func TestAsyncAnswersToldApartByWindow(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{HoldNotifications: true, NoTransactionHeader: true, NotifyWindow: true, Days: 12})
	ctx := context.Background()
	rel := "Batch/Bulk/" + r.sim.BulkID()
	// An earlier sync fetched up to a day ago, so that this one asks for a window.
	last := r.clock.Now().Add(-24 * time.Hour)
	tx, err := r.st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetCursor(r.src.ID, rel, last); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	t0 := r.clock.Now()
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(time.Minute)
	if _, err := r.drv.Backfill(ctx, r.job(), t0.Add(-10*24*time.Hour), t0.Add(-9*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var syncURI, backfillURI string
	for _, u := range r.sim.Held() {
		switch {
		case !strings.Contains(u, "/"+rel+"?"): // the customer information's
		case strings.Contains(u, "published-max"):
			backfillURI = u
		default:
			syncURI = u
		}
	}
	if syncURI == "" || backfillURI == "" || espi.CorrelationID(syncURI) != "" {
		t.Fatalf("held %q: want the sync's and the backfill's answers named by window", r.sim.Held())
	}
	if err := r.sim.Notify(ctx, backfillURI); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); !ok {
		t.Fatal("the backfill's answer completed the sync's request")
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.Equal(last) {
		t.Fatalf("the backfill's answer moved the cursor to %v", cur)
	}
	for _, q := range mustOutstanding(t, r) {
		if q.Purpose == store.RequestBackfill {
			t.Fatalf("the backfill's request is still outstanding after its answer: %+v", q)
		}
	}
	if err := r.sim.Notify(ctx, syncURI); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); ok {
		t.Fatal("the sync's own answer did not complete its request")
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.Equal(t0) {
		t.Fatalf("cursor %v after the sync's answer, want %v", cur, t0)
	}
	if h, _ := r.st.HeldAnswers(ctx, r.src.ID); h != 0 {
		t.Fatalf("answers held: %v", h)
	}
}

func mustOutstanding(t *testing.T, r *asyncRig) []store.Request {
	t.Helper()
	reqs, err := r.st.OutstandingRequests(context.Background(), r.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// TestAsyncTestsAnswerIsNotTheSyncs: `sources test` asks for the last hour and gets a 202 too;
// with no correlation id echoed, its answer (coming while the sync's request waits) must not
// be taken for the sync's.
func TestAsyncTestsAnswerIsNotTheSyncs(t *testing.T) {
	r := newAsyncRig(t, espitest.Options{HoldNotifications: true, NoTransactionHeader: true})
	ctx := context.Background()
	if msg, err := r.drv.Test(ctx, r.job()); err != nil || !strings.Contains(msg, "preparing its data (202 Accepted)") {
		t.Fatalf("test: %q %v", msg, err)
	}
	r.clock.Add(time.Minute)
	if _, err := r.sync(t); err != nil {
		t.Fatal(err)
	}
	rel := "Batch/Bulk/" + r.sim.BulkID()
	held := r.sim.Held()
	if len(held) != 3 || !strings.Contains(held[0], "/"+rel+"?") {
		t.Fatalf("held %q: want the test's answer first", held)
	}
	if err := r.sim.Notify(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	r.n.Wait()
	if _, ok, _ := r.st.Outstanding(ctx, r.src.ID, rel); !ok {
		t.Fatal("the test's answer completed the sync's request")
	}
	if cur, _ := r.st.Cursor(ctx, r.src.ID, rel); !cur.IsZero() {
		t.Fatalf("the test's answer moved the cursor to %v", cur)
	}
}
