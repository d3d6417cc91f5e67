package auth

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"custody/sync/redact"
)

// The tokens of a token answer (access, refresh, id) are remembered in the redact.Set of the
// caller's context, when fetched and when served from the cache to a later run, by both
// token sources; a client assertion is remembered before it is sent, so that a token endpoint
// echoing it, in any encoding, is quoted without it.
func TestTokensRemembered(t *testing.T) {
	const access, refresh, id = "access-token-0123456789", "refresh-token-0123456789", "id-token-eyJ0eXAiOiJKV1QifQ.e30.sig"
	answer := `{"access_token":"` + access + `","refresh_token":"` + refresh + `","id_token":"` + id + `","token_type":"Bearer","expires_in":3600}`
	for _, kind := range []string{"espi", "standard"} {
		t.Run(kind, func(t *testing.T) {
			var calls atomic.Int32
			f := newFixture(t, tokenHandler(t, "application/json", answer, &calls))
			creds := Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f.client(t)}
			src := NewESPI(creds)
			if kind == "standard" {
				src = NewClientCredentials(creds)
			}
			for run := range 2 {
				ctx, set := redact.Ensure(context.Background())
				if _, err := src.Token(ctx); err != nil {
					t.Fatal(err)
				}
				got := set.Values()
				want := []string{access, id}
				if run == 0 || kind == "standard" {
					want = append(want, refresh) // the ESPI source caches no refresh token
				}
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("run %d: %q not remembered (got %q)", run, w, got)
					}
				}
			}
			if calls.Load() != 1 {
				t.Fatalf("%d token requests, want 1 (the second from the cache)", calls.Load())
			}
		})
	}
}

func TestEchoedAssertionAndTokensNotQuoted(t *testing.T) {
	const assertion = "eyJhbGciOiJQUzI1NiJ9.eyJpc3MiOiJjbGllbnQtMSJ9.assertion-signature-0123456789"
	echo := func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		got := r.PostForm.Get("client_assertion")
		io.WriteString(w, `{"error":"invalid_client","error_description":"assertion `+base64.RawURLEncoding.EncodeToString([]byte(got))+
			` refused; form was client_assertion=`+url.QueryEscape(got)+`"}`)
	}
	f := newFixture(t, http.HandlerFunc(echo))
	src := NewClientCredentials(Credentials{TokenURL: f.srv.URL + "/token", ClientID: "client-1", HTTPClient: f.client(t),
		FreshParams: func() (url.Values, error) {
			return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}, nil
		}})
	_, err := src.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("Token = %v", err)
	}
	for _, leak := range []string{assertion, url.QueryEscape(assertion), base64.RawURLEncoding.EncodeToString([]byte(assertion)), "assertion-signature"} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("the error quotes the assertion: %v", err)
		}
	}

	// A resource server echoing the bearer token: the authorised client remembers the token it
	// sent in the request's context, for whoever quotes the answer.
	var sent atomic.Value
	f2 := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"resource-token-0123456789","token_type":"Bearer","expires_in":3600}`)
			return
		}
		sent.Store(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		http.Error(w, "invalid token "+r.Header.Get("Authorization"), http.StatusBadRequest)
	}))
	tokens := NewClientCredentials(Credentials{TokenURL: f2.srv.URL + "/token", ClientID: "client-1", ClientSecret: testSecret, HTTPClient: f2.client(t)})
	hc, err := NewClient(f2.client(t), tokens, f2.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	set := &redact.Set{}
	req, _ := http.NewRequestWithContext(redact.WithSet(context.Background(), set), http.MethodGet, f2.srv.URL+"/data", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	quoted := redact.Snippet(body, 200, set.Values()...)
	if tok, _ := sent.Load().(string); tok == "" || strings.Contains(quoted, tok) || !strings.Contains(quoted, "invalid token Bearer [redacted]") {
		t.Fatalf("quoted %q (token %q)", quoted, tok)
	}
}
