package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
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

	"custody/sync/simtls"
	"custody/sync/syncerr"
)

const testSecret = "s3cr3t-Zq9!x"

// fixture is a PKI, its files and a mutual-TLS test server.
type fixture struct {
	pki   *simtls.PKI
	files simtls.Files
	srv   *httptest.Server
}

func newFixture(t *testing.T, h http.Handler) *fixture {
	t.Helper()
	pki, err := simtls.New("custody-auth-test")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected here
	srv.TLS, err = pki.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &fixture{pki: pki, files: files, srv: srv}
}

func (f *fixture) client(t *testing.T) *http.Client {
	t.Helper()
	c, err := NewHTTPClient(TLSConfig{CertFile: f.files.ClientCert, KeyFile: f.files.ClientKey, CAFile: f.files.CA})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenHandler checks the client-credentials request and answers with body.
func tokenHandler(t *testing.T, contentType, body string, calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "Invalid Certificate", http.StatusBadRequest)
			return
		}
		if u, err := url.QueryUnescape(secret); err == nil && r.FormValue("client_secret") == "" && u == testSecret {
			secret = u // x/oauth2 form-encodes the id and secret first, as RFC 6749 §2.3.1 says
		}
		if !ok || id != "client-1" || secret != testSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"Bad client credentials"}`)
			return
		}
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, body)
	}
}

func TestESPITokenFormats(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
		expires                       int64
	}{
		{"pge-xml", "application/xml", `<?xml version="1.0" encoding="UTF-8"?>
<ns:token xmlns:ns="https://api.pge.com/datacustodian/oauth/v2/token"><ns:client_access_token>pge-xml-tok</ns:client_access_token><ns:expires_in>3600</ns:expires_in><ns:scope>FB=1_3_4_5_13_14_15_16_18_19_31_32_35_37_38_39_40;BR=50916</ns:scope><ns:token_type>Bearer</ns:token_type></ns:token>`, "pge-xml-tok", 3600},
		{"pge-json", "application/json", `{"client_access_token":"pge-json-tok","expires_in":3600,"scope":"FB=1_3;BR=1","token_type":"Bearer"}`, "pge-json-tok", 3600},
		{"gba-json", "application/json;charset=UTF-8", `{"access_token":"OPAQUE_ACCESS_TOKEN","token_type":"Bearer","expires_in":3600,"scope":"FB=1_3_4_5_10_11_35;BlockDuration=daily;BR=1","resourceURI":"https://utilityapi.com/DataCustodian/espi/1_1/resource/Batch/Bulk/BULK_1"}`, "OPAQUE_ACCESS_TOKEN", 3600},
		{"xml-sent-as-text", "text/plain", "\n  <token><access_token>plain-tok</access_token><expires_in>60</expires_in></token>", "plain-tok", 60},
		{"json-sent-as-xml", "application/xml", `{"client_access_token":"mislabelled","expires_in":"1800"}`, "mislabelled", 1800},
		{"no-expiry", "application/json", `{"access_token":"forever"}`, "forever", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			f := newFixture(t, tokenHandler(t, tc.contentType, tc.body, &calls))
			src := NewESPI(Credentials{TokenURL: f.srv.URL + "/oauth/v2/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f.client(t)})
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != tc.want || tok.TokenType != "Bearer" || tok.ExpiresIn != tc.expires {
				t.Fatalf("token %q type %q expires_in %d, want %q Bearer %d", tok.AccessToken, tok.TokenType, tok.ExpiresIn, tc.want, tc.expires)
			}
			if tc.expires > 0 && time.Until(tok.Expiry) > time.Duration(tc.expires)*time.Second {
				t.Fatalf("expiry %v too late", tok.Expiry)
			}
			if _, err := src.Token(context.Background()); err != nil || calls.Load() != 1 {
				t.Fatalf("second Token: err %v, %d token requests, want the cached one", err, calls.Load())
			}
		})
	}
}

func TestESPITokenExtra(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, tokenHandler(t, "application/json", `{"access_token":"a","expires_in":3600,"resourceURI":"https://x.example/espi/1_1/resource/Batch/Bulk/BULK_1"}`, &calls))
	tok, err := NewESPI(Credentials{TokenURL: f.srv.URL, ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f.client(t)}).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("resourceURI"); got != "https://x.example/espi/1_1/resource/Batch/Bulk/BULK_1" {
		t.Fatalf("resourceURI extra = %v", got)
	}
}

func TestStandardClientCredentials(t *testing.T) {
	var scope string
	var calls atomic.Int32
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope = r.FormValue("scope")
		tokenHandler(t, "application/json", `{"access_token":"std-tok","token_type":"Bearer","expires_in":3599}`, &calls)(w, r)
	}))
	src := NewClientCredentials(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret,
		Scopes: []string{"app-id/.default"}, HTTPClient: f.client(t)})
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "std-tok" || scope != "app-id/.default" {
		t.Fatalf("token %q scope %q", tok.AccessToken, scope)
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		header  string
		body    string
		kind    syncerr.Kind
		words   string
		retryIn time.Duration
	}{
		{"wrong-secret", 401, "", `{"error":"invalid_client","error_description":"Bad client credentials"}`, syncerr.Auth, "wrong client id or secret", 0},
		{"wrong-secret-400", 400, "", `{"error":"invalid_client"}`, syncerr.Auth, "wrong client id or secret", 0},
		{"pge-invalid-certificate", 400, "", `Invalid Certificate`, syncerr.Auth, "client certificate was refused", 0},
		{"not-found", 404, "", `No listener for endpoint`, syncerr.Config, "no token endpoint", 0},
		{"rate-limited", 429, "7", `{"error":"too_many_requests"}`, syncerr.Server, "429", 7 * time.Second},
		{"unavailable", 503, "30", `down for maintenance`, syncerr.Server, "503", 30 * time.Second},
		{"scope", 400, "", `{"error":"invalid_scope"}`, syncerr.Config, "scope", 0},
		{"garbage-200", 200, "", `<html>login page</html>`, syncerr.Server, "neither client_access_token nor access_token", 0},
		{"error-in-200", 200, "", `{"error":"invalid_client"}`, syncerr.Auth, "wrong client id or secret", 0},
		{"echoes-secret", 400, "", "bad request for secret " + testSecret, syncerr.Config, "[redacted]", 0},
		{"retry-after-277h", 503, "997200", `down`, syncerr.Server, "503", syncerr.MaxRetryAfter},
	}
	for _, tc := range tests {
		for _, espi := range []bool{true, false} {
			if !espi && strings.HasPrefix(tc.name, "garbage") {
				continue // x/oauth2 words it its own way
			}
			t.Run(fmt.Sprintf("%s/espi=%v", tc.name, espi), func(t *testing.T) {
				f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					if strings.HasPrefix(tc.body, "{") {
						w.Header().Set("Content-Type", "application/json")
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
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
				if k := syncerr.KindOf(err); k != tc.kind {
					t.Errorf("kind %q, want %q (%v)", k, tc.kind, err)
				}
				if !strings.Contains(err.Error(), tc.words) {
					t.Errorf("error %q does not say %q", err, tc.words)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(syncerr.Advice(err), testSecret) {
					t.Errorf("error shows the secret: %v", err)
				}
				if got := syncerr.RetryAfterOf(err); got != tc.retryIn {
					t.Errorf("RetryAfter %v, want %v", got, tc.retryIn)
				}
			})
		}
	}
}

func TestTLSFailures(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, tokenHandler(t, "application/json", `{"access_token":"x"}`, &calls))
	other, err := simtls.New("stranger")
	if err != nil {
		t.Fatal(err)
	}
	otherFiles, err := other.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  TLSConfig
		hint string
	}{
		{"no-client-cert", TLSConfig{CAFile: f.files.CA}, HintClientCert},
		{"client-cert-of-another-ca", TLSConfig{CAFile: f.files.CA, CertFile: otherFiles.ClientCert, KeyFile: otherFiles.ClientKey}, HintClientCert},
		{"server-not-trusted", TLSConfig{CertFile: f.files.ClientCert, KeyFile: f.files.ClientKey}, HintServerCert},
		{"key-from-keyring-untrusted", TLSConfig{CertFile: f.files.ClientCert, KeyPEM: f.pki.ClientKeyPEM, CAPEM: other.CAPEM}, HintServerCert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc, err := NewHTTPClient(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewESPI(Credentials{TokenURL: f.srv.URL, ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc}).Token(context.Background())
			if syncerr.KindOf(err) != syncerr.Network {
				t.Fatalf("kind %q (%v), want network", syncerr.KindOf(err), err)
			}
			if got := syncerr.Advice(err); got != tc.hint {
				t.Fatalf("advice %q, want %q (err %v)", got, tc.hint, err)
			}
		})
	}
	if calls.Load() != 0 {
		t.Fatalf("%d token requests got through a failed handshake", calls.Load())
	}
	// The key held in the keyring works like the key file.
	hc, err := NewHTTPClient(TLSConfig{CertFile: f.files.ClientCert, KeyPEM: f.pki.ClientKeyPEM, CAPEM: f.pki.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewESPI(Credentials{TokenURL: f.srv.URL, ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc}).Token(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewHTTPClientConfigErrors(t *testing.T) {
	pki, err := simtls.New("c")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   TLSConfig
		words string
	}{
		{"cert-without-key", TLSConfig{CertFile: files.ClientCert}, "without its key"},
		{"key-without-cert", TLSConfig{KeyFile: files.ClientKey}, "without its certificate"},
		{"ca-not-pem", TLSConfig{CAFile: files.ClientKey}, "no PEM certificate"},
		{"ca-missing", TLSConfig{CAFile: files.CA + ".nope"}, "read CA file"},
		{"key-mismatch", TLSConfig{CertFile: files.ClientCert, KeyPEM: pki.ServerKeyPEM}, "client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHTTPClient(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err %v, want %q", err, tc.words)
			}
			if bytes.Contains([]byte(err.Error()), pki.ServerKeyPEM[30:60]) {
				t.Fatal("error quotes the key")
			}
		})
	}
}

// fakeTokenEndpoint is an in-memory token endpoint for tests that need a fake clock.
type fakeTokenEndpoint struct {
	mu      sync.Mutex
	issued  int
	expires int
}

func (f *fakeTokenEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.issued++
	n := f.issued
	f.mu.Unlock()
	body := fmt.Sprintf(`{"client_access_token":"tok-%d","expires_in":%d}`, n, f.expires)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep := &fakeTokenEndpoint{expires: 3600}
		src := NewESPI(Credentials{TokenURL: "https://custodian.example/token", ClientID: "c", ClientSecret: "s",
			HTTPClient: &http.Client{Transport: ep}})
		ctx := context.Background()
		get := func() string {
			tok, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return tok.AccessToken
		}
		if got := get(); got != "tok-1" {
			t.Fatalf("first token %q", got)
		}
		time.Sleep(58 * time.Minute)
		if got := get(); got != "tok-1" {
			t.Fatalf("after 58 min %q, want the cached tok-1", got)
		}
		time.Sleep(90 * time.Second) // 59.5 min: within the last minute
		if got := get(); got != "tok-2" {
			t.Fatalf("near expiry %q, want tok-2", got)
		}
		// Short-lived tokens are renewed in their last quarter.
		ep.expires = 40
		src.Invalidate(nil)
		if got := get(); got != "tok-3" {
			t.Fatalf("after invalidate %q", got)
		}
		time.Sleep(25 * time.Second)
		if got := get(); got != "tok-3" {
			t.Fatalf("after 25 of 40 s %q, want tok-3", got)
		}
		time.Sleep(6 * time.Second)
		if got := get(); got != "tok-4" {
			t.Fatalf("after 31 of 40 s %q, want tok-4", got)
		}
		// Invalidating a token that is no longer cached keeps the current one.
		src.Invalidate(&oauth2.Token{AccessToken: "tok-1"})
		if got := get(); got != "tok-4" {
			t.Fatalf("stale invalidate dropped the current token: %q", got)
		}
	})
}

func TestTokenConcurrentCallersShareOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep := &fakeTokenEndpoint{expires: 3600}
		src := NewESPI(Credentials{TokenURL: "https://custodian.example/token", ClientID: "c", ClientSecret: "s",
			HTTPClient: &http.Client{Transport: ep}})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := src.Token(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ep.issued != 1 {
			t.Fatalf("%d token requests, want 1", ep.issued)
		}
	})
}

// resourceServer issues numbered tokens and accepts only the newest at /espi/.
type resourceServer struct {
	mu       sync.Mutex
	issued   int
	accepted string
	rejectN  int // reject this many valid requests with 401 (as if revoked), then accept
	hits     int
	bodies   []string
	auths    []string
}

func (rs *resourceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r.URL.Path == "/token" {
		rs.issued++
		rs.accepted = fmt.Sprintf("tok-%d", rs.issued)
		fmt.Fprintf(w, `{"client_access_token":%q,"expires_in":3600}`, rs.accepted)
		return
	}
	rs.hits++
	b, _ := io.ReadAll(r.Body)
	rs.bodies = append(rs.bodies, string(b))
	rs.auths = append(rs.auths, r.Header.Get("Authorization"))
	if r.Header.Get("Authorization") != "Bearer "+rs.accepted || rs.rejectN > 0 {
		if rs.rejectN > 0 {
			rs.rejectN--
		}
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	io.WriteString(w, "ok:"+string(b))
}

func TestAuthorisedClient(t *testing.T) {
	rs := &resourceServer{}
	f := newFixture(t, rs)
	var foreignHits atomic.Int32
	foreign := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
	}))
	hc := f.client(t)
	src := NewESPI(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc})
	c, err := NewClient(hc, src, f.srv.URL+"/espi/1_1/resource")
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, url string, body io.Reader) (int, string, error) {
		req, _ := http.NewRequest(method, url, body)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := get("GET", f.srv.URL+"/espi/1_1/resource/Batch/Bulk/1", nil); err != nil || code != 200 || body != "ok:" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	// The custodian forgets the token (restart, revocation of that token): one retry with a
	// new token, the body sent again.
	rs.mu.Lock()
	rs.accepted = "forgotten"
	rs.mu.Unlock()
	if code, body, err := get("POST", f.srv.URL+"/espi/1_1/resource/x", strings.NewReader("payload")); err != nil || code != 200 || body != "ok:payload" {
		t.Fatalf("POST after forgotten token: %d %q %v", code, body, err)
	}
	if rs.issued != 2 || rs.bodies[len(rs.bodies)-1] != "payload" || rs.bodies[len(rs.bodies)-2] != "payload" {
		t.Fatalf("issued %d tokens, bodies %q", rs.issued, rs.bodies)
	}
	// Still rejected after the refresh: the 401 reaches the caller after exactly one retry.
	rs.mu.Lock()
	rs.rejectN, rs.hits = 5, 0
	rs.mu.Unlock()
	if code, _, err := get("GET", f.srv.URL+"/espi/1_1/resource/Batch/Bulk/1", nil); err != nil || code != 401 || rs.hits != 2 {
		t.Fatalf("revoked: %d, %d hits, %v; want 401 after 2 hits", code, rs.hits, err)
	}
	// A body that cannot be replayed is not retried.
	rs.mu.Lock()
	rs.rejectN, rs.hits = 1, 0
	rs.mu.Unlock()
	if code, _, err := get("POST", f.srv.URL+"/espi/1_1/resource/x", io.MultiReader(strings.NewReader("once"))); err != nil || code != 401 || rs.hits != 1 {
		t.Fatalf("unreplayable: %d, %d hits, %v", code, rs.hits, err)
	}
	// Another origin (another port on the same host, too) gets nothing, not even a request.
	for _, u := range []string{foreign.srv.URL + "/espi/1_1/resource/Batch/Bulk/1", "http" + strings.TrimPrefix(f.srv.URL, "https") + "/x"} {
		_, _, err := get("GET", u, nil)
		if !errors.Is(err, ErrForeignOrigin) || syncerr.KindOf(err) != syncerr.Config {
			t.Fatalf("GET %s: %v, want ErrForeignOrigin", u, err)
		}
	}
	if foreignHits.Load() != 0 {
		t.Fatal("the foreign origin was contacted")
	}
	for _, a := range rs.auths {
		if strings.Contains(a, testSecret) {
			t.Fatal("the secret was sent to the resource server")
		}
	}
}

func TestRedirectToForeignOriginRefused(t *testing.T) {
	var foreignAuth atomic.Value
	foreignAuth.Store("")
	foreign := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignAuth.Store(r.Header.Get("Authorization"))
	}))
	rs := &resourceServer{}
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, foreign.srv.URL+"/steal", http.StatusFound)
			return
		}
		rs.ServeHTTP(w, r)
	}))
	hc := f.client(t)
	src := NewESPI(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: hc})
	c, err := NewClient(hc, src, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(f.srv.URL + "/go")
	if !errors.Is(err, ErrForeignOrigin) {
		t.Fatalf("redirect: %v", err)
	}
	if foreignAuth.Load().(string) != "" {
		t.Fatal("the token followed the redirect")
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://API.pge.com/GreenButtonConnect/espi/1_1/resource", "https://api.pge.com:443"},
		{"https://api.pge.com:443/x", "https://api.pge.com:443"},
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"https://[::1]:9/x", "https://[::1]:9"},
		{"http://h/x", "http://h:80"},
	}
	for _, tc := range tests {
		if got, err := Origin(tc.in); err != nil || got != tc.want {
			t.Errorf("Origin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ftp://h/x", "/relative", "https://"} {
		if _, err := Origin(bad); err == nil {
			t.Errorf("Origin(%q) accepted", bad)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := RetryAfter(http.Header{"Retry-After": {tc.v}}, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
