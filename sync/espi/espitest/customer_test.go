package espitest

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"custody/sync/simtls"
)

// TestConsentAndTokenEndpointsCheckLikeACustodian: the simulator's authorization endpoint and
// grants refuse what a real custodian refuses — a foreign redirect URI, a missing PKCE
// challenge, a wrong verifier, a reused code, a spent (rotated) refresh token — so that a
// client passing against it does the flow right.
func TestConsentAndTokenEndpointsCheckLikeACustodian(t *testing.T) {
	pki, err := simtls.New("espitest-client")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(pki, "127.0.0.1:0", Options{ConnectMyData: true, RotateRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clientTLS, err := pki.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	mtls := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	ctx := context.Background()
	browser := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	conf := &oauth2.Config{ClientID: s.ClientID(), ClientSecret: s.Secret(), RedirectURL: "http://127.0.0.1:5555/callback",
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeURL(), TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"FB=4_5"}}
	authorize := func(u string) (int, url.Values) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, loc.Query()
	}
	verifier := oauth2.GenerateVerifier()
	// A redirect URI other than the registered loopback one is refused outright.
	other := *conf
	other.RedirectURL = "https://evil.example/callback"
	if code, _ := authorize(other.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))); code != http.StatusBadRequest {
		t.Fatalf("foreign redirect: %d", code)
	}
	// Without PKCE: sent back with an error.
	if code, q := authorize(conf.AuthCodeURL("st")); code != http.StatusFound || q.Get("error") != "invalid_request" || q.Get("state") != "st" {
		t.Fatalf("no PKCE: %d %v", code, q)
	}
	code, q := authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if code != http.StatusFound || q.Get("code") == "" || q.Get("state") != "st" {
		t.Fatalf("consent: %d %v", code, q)
	}
	tctx := context.WithValue(ctx, oauth2.HTTPClient, mtls)
	exchange := func(c, v string) (*oauth2.Token, error) { return conf.Exchange(tctx, c, oauth2.VerifierOption(v)) }
	if _, err := exchange(q.Get("code"), oauth2.GenerateVerifier()); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("wrong verifier: %v", err)
	}
	// The code was spent by the failed attempt too: a custodian takes a code once.
	if _, err := exchange(q.Get("code"), verifier); err == nil {
		t.Fatal("a code was accepted twice")
	}
	_, q = authorize(conf.AuthCodeURL("st2", oauth2.S256ChallengeOption(verifier)))
	tok, err := exchange(q.Get("code"), verifier)
	if err != nil || tok.RefreshToken == "" || tok.Extra("resourceURI") != s.BaseURL()+"/Batch/Subscription/"+s.SubscriptionID() {
		t.Fatalf("exchange: %+v %v", tok, err)
	}
	// The customer's token opens the subscription, and nothing else; the client's token not it.
	get := func(tok, rel string) int {
		req, _ := http.NewRequest(http.MethodGet, s.BaseURL()+"/"+rel, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := mtls.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(tok.AccessToken, "Batch/Subscription/"+s.SubscriptionID()); c != 200 {
		t.Fatalf("subscription with the customer's token: %d", c)
	}
	if c := get(tok.AccessToken, "Batch/Bulk/"+s.BulkID()); c != http.StatusForbidden {
		t.Fatalf("bulk with the customer's token: %d", c)
	}
	// Rotation: the new refresh token works, the old one is spent.
	refreshed, err := conf.TokenSource(tctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v %v", refreshed, err)
	}
	if _, err := conf.TokenSource(tctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("spent refresh token: %v", err)
	}
	// Revoked: the Authorization says status 0 and the refresh token stops working.
	if err := s.RevokeCustomer(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.TokenSource(tctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token worked")
	}
	if c := get(refreshed.AccessToken, "Batch/Subscription/"+s.SubscriptionID()); c != http.StatusUnauthorized {
		t.Fatalf("revoked access token: %d", c)
	}
}
