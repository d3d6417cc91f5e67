package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"custody/sync/syncerr"
)

// sibling starts another mutual-TLS server with the fixture's PKI: a redirect target the
// client would trust, as an attacker's server with a valid certificate would be.
func (f *fixture) sibling(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	var err error
	if srv.TLS, err = f.pki.ServerTLS(true); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// catcher records whatever reaches a redirect target.
type catcher struct {
	mu   sync.Mutex
	hits []string
}

func (c *catcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.hits = append(c.hits, r.Method+" "+r.URL.String()+" auth="+r.Header.Get("Authorization")+" body="+string(b))
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"access_token":"stolen","client_access_token":"stolen","token_type":"Bearer"}`)
}

func (c *catcher) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hits...)
}

// Issue 16 item 1: a token endpoint's redirect must not carry the client secret away, in the
// form body (DataHub: client_secret in the form) or in Basic credentials (Green Button, Open
// Banking), to another origin or to the same host on another port.
func TestTokenRedirectNotFollowed(t *testing.T) {
	var redirectTo atomic.Value
	var status atomic.Int32
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, redirectTo.Load().(string), int(status.Load()))
	}))
	caught := &catcher{}
	target := f.sibling(t, caught)
	port := target.URL[strings.LastIndexByte(target.URL, ':')+1:]
	targets := map[string]string{
		"other origin":            "https://localhost:" + port + "/steal?x=1",
		"same host, another port": target.URL + "/token",
	}
	styles := map[string]func(Credentials) *Source{
		"datahub form secret": func(c Credentials) *Source { c.AuthStyle = oauth2.AuthStyleInParams; return NewClientCredentials(c) },
		"openbanking basic":   func(c Credentials) *Source { c.AuthStyle = oauth2.AuthStyleInHeader; return NewClientCredentials(c) },
		"greenbutton basic":   NewESPI,
	}
	for _, st := range []int{http.StatusTemporaryRedirect, http.StatusFound} {
		for tname, to := range targets {
			for sname, mk := range styles {
				t.Run(fmt.Sprintf("%d/%s/%s", st, tname, sname), func(t *testing.T) {
					status.Store(int32(st))
					redirectTo.Store(to)
					src := mk(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f.client(t)})
					tok, err := src.Token(context.Background())
					if err == nil {
						t.Fatalf("the redirect was followed: token %q", tok.AccessToken)
					}
					if hits := caught.got(); len(hits) > 0 {
						t.Fatalf("the redirect target received %d requests: %q", len(hits), hits)
					}
					var re *RedirectError
					if !errors.As(err, &re) || re.Status != st {
						t.Fatalf("error %v is not a RedirectError with status %d", err, st)
					}
					wantTo, _ := Origin(to)
					msg := err.Error()
					if !strings.Contains(msg, fmt.Sprint(st)) || !strings.Contains(msg, wantTo) || !strings.Contains(msg, "never follows a redirect") {
						t.Errorf("error %q does not name the status %d and the target %s", msg, st, wantTo)
					}
					if strings.Contains(msg, "steal") || strings.Contains(msg, testSecret) || strings.Contains(msg, url.QueryEscape(testSecret)) {
						t.Errorf("error %q quotes more than the target's origin", msg)
					}
					if k := syncerr.KindOf(err); k != syncerr.Config || !strings.Contains(syncerr.Advice(err), "redirect") {
						t.Errorf("kind %q, advice %q", k, syncerr.Advice(err))
					}
				})
			}
		}
	}
}

// A resource call with the token follows no redirect either, not even within the origin.
func TestResourceRedirectNotFollowed(t *testing.T) {
	caught := &catcher{}
	rs := &resourceServer{}
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
		case "/elsewhere":
			caught.ServeHTTP(w, r)
		default:
			rs.ServeHTTP(w, r)
		}
	}))
	hc := f.client(t)
	src := NewESPI(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc})
	// Even a caller-supplied client that would follow redirects gets none followed.
	lax := *hc
	lax.CheckRedirect = nil
	c, err := NewClient(&lax, src, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(f.srv.URL + "/moved")
	var re *RedirectError
	if !errors.As(err, &re) || re.Status != http.StatusMovedPermanently || re.To != re.From {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "elsewhere on https://127.0.0.1") {
		t.Errorf("error %q", err)
	}
	if hits := caught.got(); len(hits) > 0 {
		t.Fatalf("the token followed the redirect: %q", hits)
	}
}

// Issue 16 item 9: a token endpoint that echoes the secret in any encoding the request carried
// it in does not get it into the error.
func TestTokenErrorRedactsEncodedSecret(t *testing.T) {
	basic := func(id, sec string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + sec)) }
	echoes := map[string]string{
		"form":          "bad request: grant_type=client_credentials&client_secret=" + url.QueryEscape(testSecret),
		"basic":         "unknown credentials Basic " + basic("client-1", testSecret),
		"basic escaped": "unknown credentials Basic " + basic("client-1", url.QueryEscape(testSecret)),
		"json":          `{"error":"invalid_request","error_description":"secret \"` + testSecret + `\" malformed"}`,
	}
	for name, body := range echoes {
		for _, espi := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/espi=%v", name, espi), func(t *testing.T) {
				f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(body, "{") {
						w.Header().Set("Content-Type", "application/json")
					}
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, body+"\x1b]0;title\x07")
				}))
				creds := Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f.client(t)}
				src := NewESPI(creds)
				if !espi {
					src = NewClientCredentials(creds)
				}
				_, err := src.Token(context.Background())
				if err == nil {
					t.Fatal("no error")
				}
				msg := err.Error()
				for _, leak := range []string{testSecret, url.QueryEscape(testSecret), basic("client-1", testSecret), "s3cr3t", "\x1b"} {
					if strings.Contains(msg, leak) {
						t.Errorf("error %q holds %q", msg, leak)
					}
				}
				if !strings.Contains(msg, "[redacted]") {
					t.Errorf("error %q does not show where the secret was", msg)
				}
			})
		}
	}
}

// Issue 16 item 3, over real loopback TLS with short injected timeouts: a silent server and a
// dripping server both end with "the server stopped sending", and so does one that sends
// steadily but too slowly for the answer's size limit.
func TestStalledServersEnd(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/silent":
			select {
			case <-done:
			case <-r.Context().Done():
			}
		case "/drip":
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 500; i++ {
				w.Write([]byte{'x'})
				w.(http.Flusher).Flush()
				select {
				case <-done:
					return
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}))
	hc := f.client(t)
	tests := []struct {
		path  string
		t     Timeouts
		limit int64
		words string
	}{
		{"/silent", Timeouts{Answer: 150 * time.Millisecond}, 0, "the server stopped sending: no answer within 150ms"},
		{"/drip", Timeouts{Stall: 150 * time.Millisecond, MinProgress: 1 << 10}, 0, "the server stopped sending: less than 1 KiB in 150ms"},
		{"/drip", Timeouts{Stall: time.Hour, MinProgress: 1, Base: 200 * time.Millisecond, MinRate: 1 << 20}, 1 << 10,
			"the server stopped sending at a useful rate: the answer took longer than the 200.976562ms allowed for up to 1 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.words[:40], func(t *testing.T) {
			ctx := WithBodyLimit(WithTimeouts(context.Background(), tc.t), tc.limit)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+tc.path, nil)
			resp, err := hc.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err = %v, want %q", err, tc.words)
			}
			e := Classify("GET "+tc.path, err)
			if syncerr.KindOf(e) != syncerr.Network || !strings.Contains(syncerr.Advice(e), "stopped sending") {
				t.Errorf("classified as %q: %q", syncerr.KindOf(e), syncerr.Advice(e))
			}
		})
	}
	// A slow reader is not a slow server: a body read in bursts with long pauses between
	// them, every byte there when asked for, is not cut off.
	t.Run("slow reader", func(t *testing.T) {
		srv := f.sibling(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("y", 100)))
		}))
		ctx := WithTimeouts(context.Background(), Timeouts{Stall: 50 * time.Millisecond, MinProgress: 1 << 10})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		time.Sleep(120 * time.Millisecond) // the reader is busy elsewhere (writing to the database)
		b, err := io.ReadAll(resp.Body)
		if err != nil || len(b) != 100 {
			t.Fatalf("read %d bytes: %v", len(b), err)
		}
	})
}

// A server that accepts the connection and never speaks TLS ends the same way, after the
// (injected) handshake timeout.
func TestSilentTCPServerEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for range 4 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // accepted, never answered
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	hc, err := NewHTTPClient(TLSConfig{Timeouts: Timeouts{TLSHandshake: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = hc.Get("https://" + ln.Addr().String() + "/token")
	if err == nil || !strings.Contains(err.Error(), "the server stopped sending: no TLS handshake within 100ms") {
		t.Fatalf("err = %v", err)
	}
	if e := Classify("token", err); syncerr.KindOf(e) != syncerr.Network || !strings.Contains(syncerr.Advice(e), "stopped sending") {
		t.Errorf("classified %q: %q", syncerr.KindOf(e), syncerr.Advice(e))
	}
}

// The default timeouts, in a bubble with virtual time: a server that drips a byte every 20 s
// (which kept `sync --once` running for ever) is cut off within two stall periods, and a
// silent one after AnswerTimeout.
func TestDefaultTimeoutsEndDripAndSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &http.Client{Transport: guarded(dripTransport{every: 20 * time.Second})}
		start := time.Now()
		resp, err := c.Get("https://custodian.example/Batch/Bulk/1")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "the server stopped sending: less than 1 KiB in 1m0s") {
			t.Fatalf("drip: %d bytes, %v", n, err)
		}
		if took < DefaultTimeouts.Stall || took > 2*DefaultTimeouts.Stall+time.Second {
			t.Errorf("drip ended after %s", took)
		}

		start = time.Now()
		_, err = c.Get("https://custodian.example/silent")
		if err == nil || !strings.Contains(err.Error(), "the server stopped sending: no answer within 1m0s") {
			t.Fatalf("silent: %v", err)
		}
		if took := time.Since(start); took != AnswerTimeout {
			t.Errorf("silent ended after %s", took)
		}
	})
}

// dripTransport is a server, in memory, that drips one byte per period (or, for /silent,
// never answers), and stops when its request is cancelled as a real transport does.
type dripTransport struct{ every time.Duration }

func (d dripTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.URL.Path == "/silent" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 10000; i++ {
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-time.After(d.every):
			}
			if _, err := pw.Write([]byte{'x'}); err != nil {
				return
			}
		}
		pw.Close()
	}()
	go func() { <-ctx.Done(); pw.CloseWithError(ctx.Err()) }()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: pr, Request: req}, nil
}

// Issue 16 item 12: a wait message quotes the wait the engine will keep (at most a day), not
// the 277 hours a server asked for.
func TestWaitText(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]string{
		"":                     "later",
		"120":                  "after the 2m0s it asked for",
		"997200":               "after 24h0m0s (it asked for 277h0m0s; Custody waits at most 24h0m0s)",
		"99999999999999999999": "after 24h0m0s (it asked for 8784h0m0s; Custody waits at most 24h0m0s)",
	}
	for v, want := range tests {
		h := http.Header{"Retry-After": {v}}
		if got := WaitText(h, now); got != want {
			t.Errorf("WaitText(%q) = %q, want %q", v, got, want)
		}
		if d := RetryAfter(h, now); d > syncerr.MaxRetryAfter {
			t.Errorf("RetryAfter(%q) = %s", v, d)
		}
	}
}

// Issue 16 item 5: the authorised client refuses, unsent, a path that percent-decodes to a
// dot segment or holds an encoded separator, even on its own origin.
func TestAuthorisedClientRefusesEncodedTraversal(t *testing.T) {
	rs := &resourceServer{}
	f := newFixture(t, rs)
	hc := f.client(t)
	src := NewESPI(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc})
	c, err := NewClient(hc, src, f.srv.URL+"/espi/1_1/resource")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/espi/%2e%2e/X", "/espi/..%2fX", "/espi/%252e%252e/X", "/espi/1_1/resource/%2E/x", "/a/..%5cb"} {
		_, err := c.Get(f.srv.URL + p)
		if !errors.Is(err, ErrPathEscapes) {
			t.Errorf("%s: err = %v", p, err)
		}
	}
	rs.mu.Lock()
	hits := rs.hits
	rs.mu.Unlock()
	if hits != 0 {
		t.Fatalf("%d requests reached the server with the token", hits)
	}
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{f.srv.URL + "/espi/1_1/resource/Batch/Bulk/1", true},
		{f.srv.URL + "/espi/1_1/resource/%2e%2e/%2e%2e/admin", false},
		{f.srv.URL + "/espi/1_1/resourceX/a", false},
	} {
		if err := Under(f.srv.URL+"/espi/1_1/resource", tc.uri); (err == nil) != tc.ok {
			t.Errorf("Under(%s) = %v", tc.uri, err)
		}
	}
}
