package obevents

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
	"custody/sync/obevents/obtest"
	"custody/sync/obevents/secevent"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// errCrash is what the afterStore hook returns to stand for a crash.
var errCrash = errors.New("simulated crash")

// memSecrets is the shared in-memory keyring.
type memSecrets = testkit.Secrets

type rig struct {
	sim   *obtest.Server
	st    *store.Store
	src   store.Source
	job   *engine.Job
	files simtls.Files
}

func newRig(t *testing.T, opts obtest.Options) *rig {
	t.Helper()
	pki, err := simtls.New("custody-test-tpp")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := obtest.Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	files, err := pki.WriteFiles(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src, secret := sim.DemoSource("bank", files)
	if err := st.AddSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: sim, st: st, src: src, files: files}
	r.job = &engine.Job{Source: src, Store: st, Secrets: memSecrets{"bank/client_secret": secret},
		Logger: slog.New(slog.DiscardHandler), Progress: func(engine.Progress) {}}
	return r
}

func (r *rig) events(t *testing.T) []store.Event {
	t.Helper()
	evs, err := r.st.Events(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkDrained asserts the done-when of the issue: the queue is empty, every valid event is
// stored once and verified, every invalid one rejected with its reason and reported.
func (r *rig) checkDrained(t *testing.T) {
	t.Helper()
	if q := r.sim.Queue(); len(q) != 0 {
		t.Fatalf("queue not empty: %v", q)
	}
	valid, invalid := r.sim.Expected()
	byJTI := map[string][]store.Event{}
	for _, e := range r.events(t) {
		byJTI[e.JTI] = append(byJTI[e.JTI], e)
	}
	for _, j := range valid {
		if len(byJTI[j]) != 1 || !byJTI[j][0].Verified || byJTI[j][0].Error != "" {
			t.Errorf("valid %s stored as %+v", j, byJTI[j])
		}
	}
	setErrs := r.sim.SetErrs()
	for _, j := range invalid {
		if len(byJTI[j]) != 1 || byJTI[j][0].Verified || byJTI[j][0].Error == "" {
			t.Errorf("invalid %s stored as %+v", j, byJTI[j])
		}
		if _, ok := setErrs[j]; !ok {
			t.Errorf("invalid %s not reported in setErrs", j)
		}
	}
	if len(byJTI) != len(valid)+len(invalid) {
		t.Errorf("%d distinct events stored, want %d", len(byJTI), len(valid)+len(invalid))
	}
	acked := r.sim.Acked()
	for _, j := range valid {
		if acked[j] == 0 {
			t.Errorf("valid %s never acknowledged", j)
		}
	}
	for j := range acked {
		if slices.Contains(invalid, j) {
			t.Errorf("invalid %s acknowledged", j)
		}
	}
	n, err := r.st.PendingAcks(context.Background(), r.src.ID, "ack")
	if err != nil || len(n) != 0 {
		t.Errorf("acks still owed: %v %v", n, err)
	}
}

// TestSyncFullCycle: subscribe, poll, verify, store, ack, poll again leaves the queue empty.
func TestSyncFullCycle(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 24, InvalidEvery: 6})
	d := NewDriver()
	res, err := d.Sync(context.Background(), r.job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Note != "24 events (4 rejected)" {
		t.Errorf("note %q", res.Note)
	}
	if res.Items != 24 {
		t.Errorf("items %d", res.Items)
	}
	r.checkDrained(t)
	if subs := r.sim.Subscriptions(); len(subs) != 1 || subs[0].CallbackURL != "" || subs[0].Version != "3.1" {
		t.Fatalf("subscriptions %+v", subs)
	}
	for _, p := range r.sim.Polls() {
		if p.ReturnImmediately == nil || !*p.ReturnImmediately || p.MaxEvents == nil {
			t.Fatalf("poll without returnImmediately/maxEvents: %+v", p)
		}
	}
	// The reason is kept, with the RFC 8935 code the bank got.
	codes := map[string]string{}
	for j, e := range r.sim.SetErrs() {
		codes[j] = e.Err
	}
	for _, e := range r.events(t) {
		if !e.Verified && !strings.HasPrefix(e.Error, codes[e.JTI]+":") {
			t.Errorf("%s: stored error %q, reported %q", e.JTI, e.Error, codes[e.JTI])
		}
	}

	// Again: the subscription is reused, nothing new, still drained.
	r.sim.Generate()
	res, err = d.Sync(context.Background(), r.job)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.sim.Subscriptions()) != 1 {
		t.Fatal("subscription duplicated")
	}
	if n := r.sim.Requests("/token"); n != 1 {
		t.Errorf("%d token requests for two syncs; the token should be reused", n)
	}
	if res.Items != 1 {
		t.Errorf("second sync items %d (%s)", res.Items, res.Note)
	}
	r.checkDrained(t)
}

// TestRestartBetweenStoreAndAck: a crash after the commit and before the ack is sent leaves
// the acks owed in the store; the next run sends them and the events are stored once.
func TestRestartBetweenStoreAndAck(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 7, InvalidEvery: -1})
	s, err := NewDriver().session(r.job)
	if err != nil {
		t.Fatal(err)
	}
	p := &Poller{Client: s.client, Verifier: s.verifier, Store: r.st, Source: r.src, MaxEvents: 5,
		afterStore: func() error { return errCrash }}
	if _, err := p.Run(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("want the simulated crash, got %v", err)
	}
	owed, _ := r.st.PendingAcks(context.Background(), r.src.ID, "ack")
	if len(owed) != 5 || len(r.sim.Acked()) != 0 || len(r.sim.Queue()) != 7 {
		t.Fatalf("after crash: owed %d, acked %v, queue %d", len(owed), r.sim.Acked(), len(r.sim.Queue()))
	}
	// Restart: a new poller (as a new process would build).
	s2, _ := NewDriver().session(r.job)
	p2 := &Poller{Client: s2.client, Verifier: s2.verifier, Store: r.st, Source: r.src, MaxEvents: 5}
	st, err := p2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	polls := r.sim.Polls()
	first := polls[1] // polls[0] was before the crash
	if len(first.Ack) != 5 {
		t.Fatalf("first request after restart acked %v", first.Ack)
	}
	if st.New != 2 {
		t.Errorf("new after restart %d, want 2", st.New)
	}
	r.checkDrained(t)
}

// TestPollVariants: 201 answers and a missing moreAvailable are both fine.
func TestPollVariants(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 13, Status201: true, OmitMoreAvailable: true, MaxEventsCap: 4})
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.checkDrained(t)
	last := r.sim.Polls()[len(r.sim.Polls())-1]
	if len(last.Returned) != 0 || len(last.Ack) == 0 {
		t.Errorf("the run did not end by acknowledging and finding nothing more: %+v", last)
	}
}

// TestJWKSUnavailableIsNotASetErr: when the key set cannot be fetched nothing is rejected or
// acknowledged; the next sync does it all.
func TestJWKSUnavailableIsNotASetErr(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 5, InvalidEvery: 2})
	// The key set is down for the whole first sync (one fetch attempt per token).
	for range 5 {
		r.sim.InjectFault("/jwks", obtest.Fault{Status: 503})
	}
	d := NewDriver()
	_, err := d.Sync(context.Background(), r.job)
	if syncerr.KindOf(err) != syncerr.Network {
		t.Fatalf("want a network error, got %v", err)
	}
	if len(r.sim.SetErrs()) != 0 || len(r.sim.Acked()) != 0 || len(r.sim.Queue()) != 5 {
		t.Fatalf("setErrs %v acked %v queue %d", r.sim.SetErrs(), r.sim.Acked(), len(r.sim.Queue()))
	}
	if n := len(r.events(t)); n != 0 {
		t.Fatalf("%d events stored from unverifiable tokens", n)
	}
	// The tokens are archived all the same, in the poll answer they came in.
	pls, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Format: "set"})
	if len(pls) != 1 || pls[0].Status != store.PayloadPending || !strings.Contains(pls[0].Error, "not verified yet") {
		t.Fatalf("archived %+v", pls)
	}
	body, err := r.st.OpenPayload(context.Background(), pls[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(body)
	body.Close()
	var answer secevent.PollResponse
	if err := json.Unmarshal(raw, &answer); err != nil || len(answer.Sets) != 5 {
		t.Fatalf("archived answer: %v %d", err, len(answer.Sets))
	}
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.checkDrained(t)
}

// Issue 16 item 12: a key set larger than the limit is the bank's problem, said as such, not
// a network error.
func TestOversizeJWKSIsNotANetworkError(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 2})
	for range 3 {
		r.sim.InjectFault("/jwks", obtest.Fault{Status: 200, Body: `{"keys":[` + strings.Repeat(" ", 2<<20) + `]}`})
	}
	_, err := NewDriver().Sync(context.Background(), r.job)
	if syncerr.KindOf(err) != syncerr.Server || !strings.Contains(err.Error(), "the bank's key set is larger than 1 MiB") {
		t.Fatalf("got %v (kind %q)", err, syncerr.KindOf(err))
	}
	if len(r.sim.SetErrs()) != 0 || len(r.sim.Acked()) != 0 {
		t.Fatalf("setErrs %v acked %v", r.sim.SetErrs(), r.sim.Acked())
	}
}

// TestKeyRotation: a token signed with a new key triggers one key set refresh and verifies.
func TestKeyRotation(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 1, InvalidEvery: -1})
	d := NewDriver()
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.RotateKey(); err != nil {
		t.Fatal(err)
	}
	// Past the refresh limit: an unknown kid may now cause a fetch.
	d.keys[r.src.Config["jwks_url"]].Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	r.sim.Generate() // n=2: PS256 with the new key
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.checkDrained(t)
	if h := r.sim.JWKSHits(); h != 2 {
		t.Errorf("JWKS fetched %d times, want 2", h)
	}
}

// TestFaultsAreClassified: rate limiting, a wrong secret and a server error.
func TestFaultsAreClassified(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 2})
	d := NewDriver()
	r.sim.InjectFault("/events", obtest.Fault{Status: 429, RetryAfter: 30})
	_, err := d.Sync(context.Background(), r.job)
	if syncerr.KindOf(err) != syncerr.Server || syncerr.RetryAfterOf(err) != 30*time.Second {
		t.Errorf("429: %v (%v)", err, syncerr.RetryAfterOf(err))
	}
	r.sim.InjectFault("/event-subscriptions", obtest.Fault{Status: 500})
	if _, err := d.Sync(context.Background(), r.job); syncerr.KindOf(err) != syncerr.Server {
		t.Errorf("500: %v", err)
	}
	bad := *r.job
	bad.Secrets = memSecrets{"bank/client_secret": "Xy9-not-the-secret"}
	if _, err := d.Sync(context.Background(), &bad); syncerr.KindOf(err) != syncerr.Auth || strings.Contains(err.Error(), "Xy9-not-the-secret") {
		t.Errorf("wrong secret: %v", err)
	}
	if msg, err := d.Test(context.Background(), r.job); err != nil || !strings.Contains(msg, "2 signing keys") {
		t.Errorf("test: %q %v", msg, err)
	}
	// No client certificate: the bank refuses the token request.
	nocert := *r.job
	nocert.Source.Config = map[string]string{}
	for k, v := range r.src.Config {
		nocert.Source.Config[k] = v
	}
	delete(nocert.Source.Config, "cert")
	delete(nocert.Source.Config, "key")
	if _, err := d.Test(context.Background(), &nocert); err == nil {
		t.Error("a client without certificate got through")
	}
}

// TestTokenOnlyToConfiguredOrigin: the client refuses to send its token to another origin,
// whether asked directly or through an rlk link; nothing reaches the other server.
func TestTokenOnlyToConfiguredOrigin(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 1, InvalidEvery: -1})
	var hits atomic.Int32
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
	}))
	var err error
	if evil.TLS, err = r.sim.PKI().ServerTLS(false); err != nil {
		t.Fatal(err)
	}
	evil.StartTLS()
	defer evil.Close()
	s, err := NewDriver().session(r.job)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.FetchLink(context.Background(), evil.URL+"/open-banking/v3.1/pisp/domestic-payments/x"); err == nil ||
		!strings.Contains(err.Error(), "not on the configured origin") {
		t.Fatalf("rlk elsewhere: %v", err)
	}
	if _, err := s.client.authed.Get(evil.URL + "/x"); err == nil {
		t.Fatal("the authorised client sent a request to another origin")
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the other server", hits.Load())
	}
	// The same origin with another path is the bank's own: allowed (with a payments token,
	// the bank says it has no such payment).
	if _, err := s.client.FetchResource(context.Background(), r.sim.URL()+"/open-banking/v3.1/pisp/domestic-payments/none", "payments"); syncerr.KindOf(err) != syncerr.Config {
		t.Fatalf("same origin, unknown resource: %v", err)
	}
}

// TestFollowUpFetch: with follow on, each new verified event's resource is fetched and
// archived.
func TestFollowUpFetch(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 3, InvalidEvery: -1})
	r.job.Source.Config[CfgFollow] = "true"
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	pls, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Format: "ob-resource"})
	if len(pls) != 3 {
		t.Fatalf("%d resources archived, want 3", len(pls))
	}
	if r.sim.Requests("/resource") != 3 {
		t.Errorf("resource requests %d", r.sim.Requests("/resource"))
	}
}

// TestSubscriptionAndCallbackCRUD exercises both registration resources.
func TestSubscriptionAndCallbackCRUD(t *testing.T) {
	r := newRig(t, obtest.Options{Events: -1})
	s, _ := NewDriver().session(r.job)
	c, ctx := s.client, context.Background()
	sub, err := c.CreateSubscription(ctx, Subscription{Version: "3.1", EventTypes: []string{"UK.OBIE.Resource-Update"}})
	if err != nil || sub.EventSubscriptionID == "" {
		t.Fatalf("create: %+v %v", sub, err)
	}
	if _, err := c.CreateSubscription(ctx, Subscription{Version: "3.1"}); err == nil {
		t.Fatal("second create accepted")
	}
	got, err := c.EnsureSubscription(ctx, Subscription{Version: "3.1", CallbackURL: "https://tpp.example/open-banking/v3.1/event-notifications",
		EventTypes: []string{"urn:uk:org:openbanking:events:consent-authorization-revoked"}})
	if err != nil || got.EventSubscriptionID != sub.EventSubscriptionID || got.CallbackURL == "" ||
		len(got.EventTypes) != 1 || got.EventTypes[0] != "UK.OBIE.Consent-Authorization-Revoked" {
		t.Fatalf("ensure: %+v %v", got, err)
	}
	if _, err := c.CreateSubscription(ctx, Subscription{Version: "3.1", EventTypes: []string{"urn:bad"}}); err == nil {
		t.Fatal("bad type accepted")
	}
	if err := c.DeleteSubscription(ctx, sub.EventSubscriptionID); err != nil {
		t.Fatal(err)
	}
	if subs, err := c.Subscriptions(ctx); err != nil || len(subs) != 0 {
		t.Fatalf("after delete: %v %v", subs, err)
	}
	cb, err := c.CreateCallbackURL(ctx, CallbackURL{URL: "https://tpp.example/open-banking/v3.1/event-notifications", Version: "3.1"})
	if err != nil || cb.CallbackURLID == "" {
		t.Fatalf("callback: %+v %v", cb, err)
	}
	cb.Version = "3.1.1"
	if _, err := c.UpdateCallbackURL(ctx, cb); err != nil {
		t.Fatal(err)
	}
	if l, err := c.CallbackURLs(ctx); err != nil || len(l) != 1 || l[0].Version != "3.1.1" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if err := c.DeleteCallbackURL(ctx, cb.CallbackURLID); err != nil {
		t.Fatal(err)
	}
}

// TestMixedPollFixture: the synthetic mixed poll answer produces exactly the ack and setErrs
// of poll-request-expected-after-mixed.json.
func TestMixedPollFixture(t *testing.T) {
	r := newRig(t, obtest.Options{Events: -1})
	var mixed secevent.PollResponse
	b, _ := os.ReadFile(filepath.Join("testdata", "synthetic", "poll-response-mixed.json"))
	if err := json.Unmarshal(b, &mixed); err != nil {
		t.Fatal(err)
	}
	for k, tok := range mixed.Sets {
		r.sim.Enqueue(k, tok, false)
	}
	var want secevent.PollRequest
	b, _ = os.ReadFile(filepath.Join("testdata", "synthetic", "poll-request-expected-after-mixed.json"))
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	s, _ := NewDriver().session(r.job)
	v, _ := vectorVerifier(t)
	p := &Poller{Client: s.client, Verifier: v, Store: r.st, Source: r.src, MaxEvents: 10}
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r.sim.Polls()[1]
	if strings.Join(got.Ack, ",") != strings.Join(want.Ack, ",") {
		t.Errorf("ack %v, want %v", got.Ack, want.Ack)
	}
	if len(got.SetErrs) != len(want.SetErrs) {
		t.Errorf("setErrs %v, want %v", got.SetErrs, want.SetErrs)
	}
	for k, e := range want.SetErrs {
		if got.SetErrs[k].Err != e.Err {
			t.Errorf("setErr %s: %q, want %q", k, got.SetErrs[k].Err, e.Err)
		}
	}
	if len(r.sim.Queue()) != 0 {
		t.Error("queue not empty")
	}
	// Each token, accepted or rejected, is kept once: in the archived answer, not again in
	// its event's row, and read back from there.
	evs := r.events(t)
	if len(evs) != len(mixed.Sets) {
		t.Fatalf("%d events stored, %d tokens sent", len(evs), len(mixed.Sets))
	}
	for _, e := range evs {
		tok, err := r.st.EventToken(context.Background(), e)
		if err != nil || !e.TokenArchived || e.Token != "" || tok != mixed.Sets[e.JTI] {
			t.Errorf("%s (verified %v): archived %v, row %q, read back %q (%v), sent %q", e.JTI, e.Verified, e.TokenArchived, e.Token, tok, err, mixed.Sets[e.JTI])
		}
	}
}

// TestDraftErrorCodes: a bank configured for the draft codes gets them in setErrs.
func TestDraftErrorCodes(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 8, InvalidEvery: 2})
	r.job.Source.Config[CfgErrorCodes] = "draft"
	if _, err := NewDriver().Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.checkDrained(t)
	want := map[string]bool{"jws": true, "jwtAud": true, "setParse": true}
	errs := r.sim.SetErrs()
	if len(errs) != 4 {
		t.Fatalf("setErrs %v", errs)
	}
	for j, e := range errs {
		if !want[e.Err] {
			t.Errorf("%s: code %q is not a draft code", j, e.Err)
		}
	}
}

// TestBoundedPolls: a bank that always has more is polled at most MaxPolls times (plus the
// final acknowledgement), and what was stored is acknowledged.
func TestBoundedPolls(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 30, InvalidEvery: -1, MaxEventsCap: 2})
	s, _ := NewDriver().session(r.job)
	p := &Poller{Client: s.client, Verifier: s.verifier, Store: r.st, Source: r.src, MaxEvents: 2, MaxPolls: 5}
	st, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Polls != 6 || st.New != 10 || len(r.sim.Queue()) != 20 || len(r.sim.Acked()) != 10 {
		t.Fatalf("polls %d new %d queue %d acked %d", st.Polls, st.New, len(r.sim.Queue()), len(r.sim.Acked()))
	}
}

// TestUnreadablePollAnswerIsArchived: a 200 answer that is not JSON fails the sync as a
// server problem, is kept in the archive with its error, and acknowledges nothing.
func TestUnreadablePollAnswerIsArchived(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 3, InvalidEvery: -1})
	r.sim.InjectFault("/events", obtest.Fault{Status: 200, Body: `{"sets":{"truncated`})
	d := NewDriver()
	if _, err := d.Sync(context.Background(), r.job); syncerr.KindOf(err) != syncerr.Server {
		t.Fatalf("got %v", err)
	}
	pls, _ := r.st.Payloads(context.Background(), store.PayloadFilter{Status: store.PayloadFailed})
	if len(pls) != 1 || pls[0].Format != "set" || !strings.Contains(pls[0].Error, "unreadable") {
		t.Fatalf("archived %+v", pls)
	}
	if len(r.sim.Acked()) != 0 || len(r.events(t)) != 0 {
		t.Fatal("something was stored or acknowledged")
	}
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	r.checkDrained(t)
}

// TestPollingOnlyBank: a bank without the subscription API (404) is still polled.
func TestPollingOnlyBank(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 4, InvalidEvery: -1})
	r.sim.InjectFault("/event-subscriptions", obtest.Fault{Status: 404, Body: " "}, obtest.Fault{Status: 405, Body: " "})
	d := NewDriver()
	res, err := d.Sync(context.Background(), r.job)
	if err != nil || res.Items != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	r.checkDrained(t)
	msg, err := d.Test(context.Background(), r.job)
	if err != nil || !strings.Contains(msg, "polling only") {
		t.Fatalf("test: %q %v", msg, err)
	}
	// With subscription "none" the API is not called at all.
	before := r.sim.Requests("/event-subscriptions")
	r.job.Source.Config[CfgSubscription] = "none"
	if _, err := d.Sync(context.Background(), r.job); err != nil {
		t.Fatal(err)
	}
	if r.sim.Requests("/event-subscriptions") != before {
		t.Error("subscription API called although disabled")
	}
}
