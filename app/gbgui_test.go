package app

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"custody/store"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/settings"
)

// TestGUIListenerAndConnect drives what the Sources view does for a Green Button source: the
// listener starts when a form save reloads the engine (no restart of the app), the URL to
// register is the running one, "Test notification" makes an HTTPS round trip with a client
// certificate, disabling the source stops the listener, and "Connect…" runs the customer's
// authorisation with the browser opened on the printed address.
func TestGUIListenerAndConnect(t *testing.T) {
	ctx := context.Background()
	r := newGBRig(t, "custody-gui", &espitest.Options{Days: 1, ConnectMyData: true})
	pki, files, sim, srvCert, srvKey := r.pki, r.files, r.sim, r.srvCert, r.srvKey
	st, err := store.Open(ctx, r.c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mem := r.c.secrets
	env := &Env{Secrets: mem, Stdout: io.Discard, Stderr: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	env.Drivers = drivers(env)
	src := store.Source{Name: "home", Kind: espi.Kind, Enabled: true, Config: map[string]string{
		espi.CfgBaseURL: sim.BaseURL(), espi.CfgTokenURL: sim.TokenURL(), espi.CfgClientID: sim.ClientID(), espi.CfgAuthorizeURL: sim.AuthorizeURL(),
		espi.CfgCert: files.ClientCert, espi.CfgKey: files.ClientKey, espi.CfgCA: files.CA, settings.KeyInterval: "6h"}}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	mem.SetSecret("home", SecretField, sim.Secret())

	engCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	eng := newEngine(env, st)
	if err := eng.Start(engCtx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	listeners := newListenerManager(engCtx, env, st)
	defer listeners.Close()
	ge := guiEngine{Engine: eng, listeners: listeners}
	gb := guiGreenButton{env: env, st: st, listeners: listeners}
	if err := ge.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := gb.Listener(ctx, "home"); err != nil || info.Configured || info.Running {
		t.Fatalf("before: %+v %v", info, err)
	}

	// The form is saved with listener settings; the view reloads the engine.
	src.Config["notify_listen"], src.Config["notify_cert"], src.Config["notify_key"] = "127.0.0.1:0", srvCert, srvKey
	src.Config["notify_client_ca"] = files.CA
	if err := st.UpdateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if err := ge.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := gb.Listener(ctx, "home")
	if err != nil || !info.Running || !strings.HasPrefix(info.RegisterURL, "https://127.0.0.1:") || !strings.HasSuffix(info.RegisterURL, "/espi/notify/home") ||
		strings.Contains(info.RegisterURL, ":0/") {
		t.Fatalf("after the save: %+v %v", info, err)
	}
	msg, err := gb.TestNotification(ctx, "home")
	if err != nil || !strings.Contains(msg, "200 OK") || !strings.Contains(msg, "TLS 1.") {
		t.Fatalf("test notification: %q %v", msg, err)
	}
	ps, _ := st.Payloads(ctx, store.PayloadFilter{})
	var batchLists int
	for _, p := range ps {
		if p.Format == espi.BatchListFormat {
			batchLists++
		}
	}
	if batchLists != 1 {
		t.Fatalf("%d BatchLists archived, want the test one", batchLists)
	}
	// Disabled: the listener stops, without a restart.
	src.Enabled = false
	st.UpdateSource(ctx, &src)
	if err := ge.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := gb.Listener(ctx, "home"); info.Running {
		t.Fatal("the listener of a disabled source still runs")
	}
	clientTLS, _ := pki.ClientTLS()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	if resp, err := hc.Post(info.RegisterURL, "application/xml", strings.NewReader("<x/>")); err == nil {
		resp.Body.Close()
		t.Fatal("the stopped listener still answers")
	}
	src.Enabled = true
	st.UpdateSource(ctx, &src)
	ge.Reload(ctx)

	// Connect…: the view opens the browser on the address; the simulated customer approves.
	browser := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool()}}}
	browsed := make(chan error, 1)
	msg, err = gb.Connect(ctx, "home", func(addr string) {
		go func() {
			_, err := espitest.Authorize(ctx, browser, addr)
			browsed <- err
		}()
	})
	if err != nil || !strings.Contains(msg, "subscription "+sim.SubscriptionID()) {
		t.Fatalf("connect: %q %v", msg, err)
	}
	if err := <-browsed; err != nil {
		t.Fatal(err)
	}
	if v, _ := mem.Secret("home", "refresh_token"); v == "" {
		t.Fatal("no refresh token in the keyring")
	}
	if text, err := gb.Authorizations(ctx, "home"); err != nil || !strings.Contains(text, "active") {
		t.Fatalf("authorizations: %q %v", text, err)
	}
}
