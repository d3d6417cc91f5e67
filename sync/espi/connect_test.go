package espi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"custody/sync/auth"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/internal/testkit"
	"custody/sync/syncerr"
)

// cmdRig is a Connect My Data custodian (rotating refresh tokens), a source for it with a
// notification listener, and the customer's browser.
type cmdRig struct {
	*rig
	keys    *testkit.Keyring // writable, safe for the listener's goroutines
	n       *espi.Notifications
	browser *http.Client
	mu      sync.Mutex
	changes []string // sources AuthorizationChanged was called for
}

func newCMDRig(t *testing.T, opts espitest.Options) *cmdRig {
	t.Helper()
	r := newRig(t, espitest.Options{Days: 1})
	r.sim.Close()
	keys := testkit.NewKeyring(map[string]string{"pge/client_secret": r.secrets["pge/client_secret"]})
	n := &espi.Notifications{Driver: r.drv, Store: r.st, Secrets: keys, Source: "pge",
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
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
	opts.ConnectMyData, opts.Now, opts.ClientSecret = true, r.clock.Now, r.secrets["pge/client_secret"]
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
	r.src.Config["authorize_url"] = sim.AuthorizeURL()
	r.src.Config["notify_listen"] = "127.0.0.1:0"
	r.src.SetList("bulk_ids", nil)
	if err := r.st.UpdateSource(context.Background(), &r.src); err != nil {
		t.Fatal(err)
	}
	// The browser trusts the custodian's certificate but has no client certificate.
	browser, err := auth.NewHTTPClient(auth.TLSConfig{CAPEM: r.pki.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	browser.CheckRedirect = nil // a browser follows redirects
	cr := &cmdRig{rig: r, keys: keys, n: n, browser: browser}
	n.AuthorizationChanged = func(source string) {
		cr.mu.Lock()
		defer cr.mu.Unlock()
		cr.changes = append(cr.changes, source)
	}
	return cr
}

// key returns the source's field as the keyring holds it now, or "" when it holds none.
func (r *cmdRig) key(field string) string { v, _ := r.keys.Secret("pge", field); return v }

func (r *cmdRig) changed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes...)
}

func (r *cmdRig) job() *engine.Job {
	j := r.rig.job()
	j.Secrets = r.keys
	src, err := r.st.SourceByName(context.Background(), "pge")
	if err == nil {
		j.Source = src
	}
	return j
}

func (r *cmdRig) sync(t *testing.T) (engine.Result, error) {
	t.Helper()
	return r.drv.Sync(context.Background(), r.job())
}

// connect runs the customer's authorisation, playing the browser.
func (r *cmdRig) connect(t *testing.T) espi.Connected {
	t.Helper()
	ctx := context.Background()
	c, err := r.drv.StartConnect(ctx, r.job())
	if err != nil {
		t.Fatal(err)
	}
	page, err := espitest.Authorize(ctx, r.browser, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "You may close this window") {
		t.Fatalf("browser page %q", page)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := c.Wait(wctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (r *cmdRig) subscriptionGETs() []espitest.Request {
	var out []espitest.Request
	for _, q := range r.sim.Requests() {
		if strings.Contains(q.Path, "/Batch/Subscription/") {
			out = append(out, q)
		}
	}
	return out
}

func TestConnectAuthorizationCodeWithPKCE(t *testing.T) {
	r := newCMDRig(t, espitest.Options{RotateRefresh: true})
	ctx := context.Background()
	// Not connected yet: a sync says what to do.
	if _, err := r.sync(t); syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(syncerr.Advice(err), "custody sources connect pge") {
		t.Fatalf("sync before connecting: %v (%s)", err, syncerr.Advice(err))
	}
	c, err := r.drv.StartConnect(ctx, r.job())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	switch {
	case !strings.HasPrefix(c.URL(), r.sim.AuthorizeURL()+"?"):
		t.Fatalf("URL %q is not the authorize URL", c.URL())
	case q.Get("response_type") != "code" || q.Get("client_id") != r.sim.ClientID() || q.Get("scope") != espi.DefaultScope:
		t.Fatalf("query %v", q)
	case redirect == nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" || redirect.Path != "/callback" || redirect.Port() == "":
		t.Fatalf("redirect_uri %q", q.Get("redirect_uri"))
	case len(q.Get("state")) < 20 || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		t.Fatalf("state or PKCE missing: %v", q)
	}
	// A callback with another state is not ours: refused, and the wait goes on.
	resp, err := http.Get(q.Get("redirect_uri") + "?code=forged&state=not-ours")
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged callback: %v %v", resp, err)
	}
	resp.Body.Close()
	if page, err := espitest.Authorize(ctx, r.browser, c.URL()); err != nil || !strings.Contains(page, "You may close this window") {
		t.Fatalf("authorize: %q %v", page, err)
	}
	res, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.SubscriptionID != r.sim.SubscriptionID() || !strings.HasSuffix(res.ResourceURI, "/Batch/Subscription/"+r.sim.SubscriptionID()) ||
		!strings.HasSuffix(res.AuthorizationURI, "/Authorization/"+espitest.CustomerAuthorizationID) {
		t.Fatalf("connected %+v", res)
	}
	src, _ := r.st.SourceByName(ctx, "pge")
	if ids := src.List("subscription_ids"); len(ids) != 1 || ids[0] != r.sim.SubscriptionID() ||
		src.Config["resource_uri"] != res.ResourceURI || src.Config["authorization_uri"] != res.AuthorizationURI {
		t.Fatalf("source after connect: %+v", src.Config)
	}
	if r.key("access_token") == "" || r.key("refresh_token") == "" {
		t.Fatal("the tokens are not in the keyring")
	}
	// The code is good once: the exchange cannot be replayed.
	if got := len(r.sim.AuthorizeRequests()); got != 1 {
		t.Fatalf("%d authorize requests", got)
	}

	// Syncs fetch the subscription with the customer's token (the simulator serves it to no
	// other), and the bulk-less source has no client-token resource to fetch.
	res1, err := r.sync(t)
	if err != nil || res1.Readings == 0 {
		t.Fatalf("sync: %+v %v", res1, err)
	}
	gets := r.subscriptionGETs()
	if len(gets) != 1 || gets[0].Status != 200 || !gets[0].Token || gets[0].ClientCert == "" {
		t.Fatalf("subscription requests %+v", gets)
	}

	// An access token the custodian expires early: 401, refresh (rotated), retry.
	firstRefresh := r.key("refresh_token")
	r.sim.ExpireCustomerToken()
	if _, err := r.sync(t); err != nil {
		t.Fatalf("sync across an early expiry: %v", err)
	}
	if r.sim.Refreshes() != 1 || r.key("refresh_token") == firstRefresh {
		t.Fatalf("%d refreshes; rotated refresh token kept: %v", r.sim.Refreshes(), r.key("refresh_token") != firstRefresh)
	}
	// Its lifetime running out on the custodian's clock: refreshed again with the rotated token.
	r.clock.Add(2 * time.Hour)
	if _, err := r.sync(t); err != nil {
		t.Fatalf("sync across an expiry: %v", err)
	}
	if r.sim.Refreshes() != 2 {
		t.Fatalf("%d refreshes, want 2", r.sim.Refreshes())
	}
	// A new process (a new driver) reads the tokens from the keyring and carries on.
	d2 := espi.NewDriver()
	d2.Now = r.clock.Now
	if _, err := d2.Sync(ctx, r.job()); err != nil {
		t.Fatalf("sync from a new driver: %v", err)
	}

	// The client token is still the one for Authorization: `sources test` lists the customer.
	msg, err := r.drv.Test(ctx, r.job())
	if err != nil || !strings.Contains(msg, "subscription id "+r.sim.SubscriptionID()) || !strings.Contains(msg, "Customer 5001") ||
		!strings.Contains(msg, "bulk id "+r.sim.BulkID()) {
		t.Fatalf("Test: %q %v", msg, err)
	}

	// No token in the database or the log.
	checkNoTokens(t, r)
}

func checkNoTokens(t *testing.T, r *cmdRig) {
	t.Helper()
	secrets := append(append(r.sim.IssuedTokens(), r.sim.RefreshTokens()...), r.sim.Secret())
	r.st.Close()
	path := r.st.Path()
	var files [][]byte
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		if b, err := os.ReadFile(p); err == nil {
			files = append(files, b)
		}
	}
	logs := r.logs.String()
	if len(secrets) < 3 {
		t.Fatalf("only %d tokens to look for", len(secrets))
	}
	for _, s := range secrets {
		for _, f := range files {
			if bytes.Contains(f, []byte(s)) {
				t.Fatalf("the database holds a token (%.8s…)", s)
			}
		}
		if strings.Contains(logs, s) {
			t.Fatalf("the log holds a token (%.8s…)", s)
		}
	}
}

// TestConnectRevoked: a revocation the custodian notifies (a BatchList naming the customer's
// Authorization, now status 0) stops the subscription's syncs with that reason; one it does
// not notify shows as invalid_grant on the refresh. Both say to connect again, and connecting
// again works.
func TestConnectRevoked(t *testing.T) {
	t.Run("notified", func(t *testing.T) {
		r := newCMDRig(t, espitest.Options{RotateRefresh: true})
		r.connect(t)
		if _, err := r.sync(t); err != nil {
			t.Fatal(err)
		}
		before := len(r.subscriptionGETs())
		if err := r.sim.RevokeCustomer(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		r.n.Wait()
		if got := r.changed(); len(got) != 1 || got[0] != "pge" {
			t.Fatalf("AuthorizationChanged calls %q, want one for pge", got)
		}
		day := r.clock.Now().Local().Format("2006-01-02")
		if !strings.Contains(r.logs.String(), "the customer revoked access on "+day) {
			t.Fatalf("log: %s", r.logs.String())
		}
		_, err := r.sync(t)
		if syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(err.Error(), "the customer revoked access on "+day) ||
			!strings.Contains(syncerr.Advice(err), "custody sources connect pge") {
			t.Fatalf("sync after revocation: %v (%s)", err, syncerr.Advice(err))
		}
		if got := len(r.subscriptionGETs()); got != before {
			t.Fatalf("%d subscription requests after the revocation", got-before)
		}
		// The customer authorises again: syncs resume.
		r.connect(t)
		if _, err := r.sync(t); err != nil {
			t.Fatalf("sync after connecting again: %v", err)
		}
		checkNoTokens(t, r)
	})
	t.Run("invalid-grant", func(t *testing.T) {
		r := newCMDRig(t, espitest.Options{})
		r.connect(t)
		if _, err := r.sync(t); err != nil {
			t.Fatal(err)
		}
		if err := r.sim.RevokeCustomer(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		_, err := r.sync(t)
		if syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(err.Error(), "invalid_grant") ||
			!strings.Contains(syncerr.Advice(err), "custody sources connect pge") {
			t.Fatalf("sync after a silent revocation: %v (%s)", err, syncerr.Advice(err))
		}
		r.connect(t)
		if _, err := r.sync(t); err != nil {
			t.Fatalf("sync after connecting again: %v", err)
		}
		checkNoTokens(t, r)
	})
	t.Run("denied", func(t *testing.T) {
		r := newCMDRig(t, espitest.Options{Deny: true})
		c, err := r.drv.StartConnect(context.Background(), r.job())
		if err != nil {
			t.Fatal(err)
		}
		if page, err := espitest.Authorize(context.Background(), r.browser, c.URL()); err != nil || !strings.Contains(page, "access_denied") {
			t.Fatalf("page %q %v", page, err)
		}
		if _, err := c.Wait(context.Background()); syncerr.KindOf(err) != syncerr.Auth || !strings.Contains(err.Error(), "did not grant access") {
			t.Fatalf("denied: %v", err)
		}
		if r.key("access_token") != "" {
			t.Fatal("a token was kept")
		}
	})
}
