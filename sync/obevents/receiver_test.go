package obevents

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/notify"
	"custody/sync/obevents/obtest"
	"custody/sync/obevents/secevent"
)

// readHTTPRequest reads a raw HTTP request fixture.
func readHTTPRequest(t *testing.T, name string) *http.Request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "synthetic", name))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	req.RequestURI = ""
	return req
}

func vectorReceiver(t *testing.T) (*store.Store, store.Source, http.Handler) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := store.Source{Name: "bank", Kind: "obevents", Enabled: true, Config: map[string]string{}}
	if err := st.AddSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	v, _ := vectorVerifier(t)
	return st, src, NewReceiver(st, src, v, false, nil)
}

// TestReceiverFixtures: the push exchanges of the fixtures, byte for byte where it matters.
func TestReceiverFixtures(t *testing.T) {
	st, _, h := vectorReceiver(t)
	cases := []struct {
		req, status, iid, err string
	}{
		{"push-request-valid.http", "202", "3b5a8a4e-5a53-4f6e-9d1a-6b7f2c1d0e11", ""},
		{"push-request-wrong-aud.http", "400", "0f0e0d0c-0b0a-4909-8807-060504030201", "invalid_audience"},
		{"push-request-valid.http", "202", "3b5a8a4e-5a53-4f6e-9d1a-6b7f2c1d0e11", ""}, // repeated: same answer
	}
	for _, c := range cases {
		req := readHTTPRequest(t, c.req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := http.StatusText(rec.Code); rec.Code != map[string]int{"202": 202, "400": 400}[c.status] {
			t.Fatalf("%s: status %d %s", c.req, rec.Code, got)
		}
		if rec.Header().Get("x-fapi-interaction-id") != c.iid {
			t.Errorf("%s: interaction id %q", c.req, rec.Header().Get("x-fapi-interaction-id"))
		}
		if c.err == "" {
			if rec.Body.Len() != 0 {
				t.Errorf("%s: 202 with a body %q", c.req, rec.Body.String())
			}
			continue
		}
		var body struct{ Err, Description string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Err != c.err || body.Description == "" {
			t.Errorf("%s: body %q", c.req, rec.Body.String())
		}
		if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Content-Language") == "" {
			t.Errorf("%s: headers %v", c.req, rec.Header())
		}
	}
	evs, _ := st.Events(context.Background(), store.EventFilter{})
	if len(evs) != 2 {
		t.Fatalf("%d events stored, want 2 (one valid once, one rejected)", len(evs))
	}
}

// TestReceiverRefusesBadRequests: size limit, wrong method, JSON content, garbage.
func TestReceiverRefusesBadRequests(t *testing.T) {
	_, _, h := vectorReceiver(t)
	for _, c := range []struct {
		method, ct, body string
		status           int
	}{
		{"GET", "", "", 405},
		{"POST", "application/jwt", strings.Repeat("a", secevent.MaxTokenSize+10), 400},
		{"POST", "application/json", `{"a":1}`, 400},
		{"POST", "application/jwt", "not.a.jwt", 400},
		{"POST", "application/jwt", "", 400},
	} {
		req := httptest.NewRequest(c.method, "/open-banking/v3.1/event-notifications", strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		req.Header.Set("x-fapi-interaction-id", "bad\r\nX-Injected: 1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s %s %d bytes: %d, want %d", c.method, c.ct, len(c.body), rec.Code, c.status)
		}
		if rec.Header().Get("x-fapi-interaction-id") != "" {
			t.Error("a malformed interaction id was echoed")
		}
	}
}

// TestPushEndToEnd: the simulated bank pushes its queue to a receiver over real TLS.
func TestPushEndToEnd(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 6, InvalidEvery: 3})
	recv, err := NewReceiverFor(r.st, r.src, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/open-banking/v3.1"+ReceiverPath, recv)
	srv := httptest.NewUnstartedServer(mux)
	pki := r.sim.PKI()
	srv.TLS, err = pki.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	defer srv.Close()
	s, _ := NewDriver().session(r.job)
	if _, err := s.client.EnsureSubscription(context.Background(), Subscription{Version: "3.1",
		CallbackURL: srv.URL + "/open-banking/v3.1" + ReceiverPath}); err != nil {
		t.Fatal(err)
	}
	n, err := r.sim.PushQueued(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d pushes accepted, want 4", n)
	}
	if len(r.sim.Queue()) != 0 {
		t.Errorf("queue %v", r.sim.Queue())
	}
	evs := r.events(t)
	ok := 0
	for _, e := range evs {
		if e.Verified {
			ok++
		}
	}
	if len(evs) != 6 || ok != 4 {
		t.Errorf("%d events, %d verified", len(evs), ok)
	}
}

// vectorVerifier is the verifier of the synthetic vectors (their key set, issuer, audience),
// at a fixed time after they were issued.
func vectorVerifier(t testing.TB) (*secevent.Verifier, struct{}) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "synthetic", "aspsp-jwks.public.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secevent.ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	return &secevent.Verifier{Issuer: "https://aspsp.example.com/", Audience: "tpp-client-6f1c2b",
		OrgID: "0015800001ZEZ1AAN", Keys: secevent.StaticKeys(keys),
		Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }}, struct{}{}
}

// TestPushThroughNotifyListener: the receiver mounted by sync/notify (the way the app does),
// pushed to by the simulated bank over real TLS.
func TestPushThroughNotifyListener(t *testing.T) {
	r := newRig(t, obtest.Options{Events: 4, InvalidEvery: 4})
	pki := r.sim.PKI()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv-key.pem")
	if err := os.WriteFile(cert, pki.ServerCertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pki.ServerKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	src := r.src
	src.Config[notify.CfgListen] = "127.0.0.1:0"
	src.Config[notify.CfgCert] = cert
	src.Config[notify.CfgKey] = key
	set, err := notify.StartAll([]store.Source{src}, ReceiverFor(r.st, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ls := set.Listeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners", len(ls))
	}
	s, _ := NewDriver().session(r.job)
	if _, err := s.client.EnsureSubscription(context.Background(), Subscription{Version: "3.1",
		CallbackURL: ls[0].URL() + notify.DefaultPath(src)}); err != nil {
		t.Fatal(err)
	}
	n, err := r.sim.PushQueued(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("accepted %d: %v", n, err)
	}
	if evs := r.events(t); len(evs) != 4 {
		t.Fatalf("%d events stored", len(evs))
	}
}
