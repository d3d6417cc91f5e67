package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"custody/store"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/notify"
	"custody/sync/redact"
	"custody/ui"
)

// guiEngine is the engine as the GUI sees it: reloading the sources after an edit also
// starts, restarts or stops their notification listeners.
type guiEngine struct {
	*engine.Engine
	listeners *listenerManager
}

// Reload re-reads the sources in the engine and the listeners.
func (g guiEngine) Reload(ctx context.Context) error {
	err := g.Engine.Reload(ctx)
	if lerr := g.listeners.Sync(ctx); lerr != nil && err == nil {
		err = fmt.Errorf("notification listener: %w", lerr)
	}
	return err
}

// guiGreenButton is what the Sources view asks of Green Button sources.
type guiGreenButton struct {
	env       *Env
	st        *store.Store
	listeners *listenerManager
}

var _ ui.GreenButton = guiGreenButton{}

func (g guiGreenButton) driver() (*espi.Driver, error) {
	drv, ok := g.env.Drivers[espi.Kind].(*espi.Driver)
	if !ok {
		return nil, noDriver(espi.Kind)
	}
	return drv, nil
}

// Connect runs a customer's authorisation: open gets the address for the browser.
func (g guiGreenButton) Connect(ctx context.Context, source string, open func(url string)) (string, error) {
	src, err := g.st.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	drv, err := g.driver()
	if err != nil {
		return "", err
	}
	job := g.env.job(g.st, src, nil)
	job.Secrets = envSecrets{g.env}
	gctx, job, done := engine.Guard(ctx, job)
	conn, err := drv.StartConnect(gctx, job)
	if err != nil {
		_, err = done("", err)
		return "", fmt.Errorf("%w (%s)", err, adviceFor(err))
	}
	open(conn.URL())
	wctx, cancel := context.WithTimeout(ctx, espi.DefaultConnectTimeout)
	defer cancel()
	res, err := conn.Wait(wctx)
	if err != nil {
		_, err = done("", err)
		return "", fmt.Errorf("%w (%s)", err, adviceFor(err))
	}
	return fmt.Sprintf("Connected %s to the customer's account: subscription %s. The tokens are in the OS keyring.", source, res.SubscriptionID), nil
}

// Listener says the URL to register with the utility as the Notification URI, and whether
// the listener is running now.
func (g guiGreenButton) Listener(ctx context.Context, source string) (ui.ListenerInfo, error) {
	src, err := g.st.SourceByName(ctx, source)
	if err != nil {
		return ui.ListenerInfo{}, err
	}
	cfg, path, on, err := notify.ConfigOf(src)
	if err != nil || !on {
		return ui.ListenerInfo{Configured: on}, err
	}
	info := ui.ListenerInfo{Configured: true}
	origin, running := g.listeners.Running(src)
	info.Running = running
	if !running && g.listeners.Err() != nil {
		info.Problem = g.listeners.Err().Error()
	}
	info.RegisterURL = registerURL(cfg, origin, path)
	return info, nil
}

// registerURL is the https URL a utility must POST to: the listen address's host (or the
// listener certificate's first name when the address names none), its port, and the path.
func registerURL(cfg notify.Config, running, path string) string {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return ""
	}
	if running != "" { // the bound port, for an address with port 0
		if _, p, err := net.SplitHostPort(strings.TrimPrefix(running, "https://")); err == nil {
			port = p
		}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "YOUR-HOST"
		if cert := leafOf(cfg.CertFile); cert != nil {
			if len(cert.DNSNames) > 0 {
				host = cert.DNSNames[0]
			} else if len(cert.IPAddresses) > 0 {
				host = cert.IPAddresses[0].String()
			}
		}
	}
	return "https://" + net.JoinHostPort(host, port) + path
}

// leafOf reads the first certificate of a PEM file.
func leafOf(path string) *x509.Certificate {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// TestNotification POSTs an empty BatchList to the source's running listener over HTTPS,
// as the utility would (with the source's client certificate, trusting the listener's
// certificate), and describes the round trip. An empty BatchList names nothing to fetch.
func (g guiGreenButton) TestNotification(ctx context.Context, source string) (string, error) {
	src, err := g.st.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	cfg, path, on, err := notify.ConfigOf(src)
	if err != nil {
		return "", err
	}
	if !on {
		return "", fmt.Errorf("%s has no notification listener: set its listen address, certificate and key first", source)
	}
	origin, running := g.listeners.Running(src)
	if !running {
		if e := g.listeners.Err(); e != nil {
			return "", fmt.Errorf("the listener is not running: %w", e)
		}
		return "", fmt.Errorf("the listener is not running (is the source enabled?)")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if b, err := os.ReadFile(cfg.CertFile); err == nil {
		roots.AppendCertsFromPEM(b)
	}
	tc.RootCAs = roots
	if leaf := leafOf(cfg.CertFile); leaf != nil {
		if len(leaf.DNSNames) > 0 {
			tc.ServerName = leaf.DNSNames[0]
		} else if len(leaf.IPAddresses) > 0 {
			tc.ServerName = leaf.IPAddresses[0].String()
		}
	}
	if c, k := src.Config[espi.CfgCert], src.Config[espi.CfgKey]; c != "" && k != "" {
		if pair, err := tls.LoadX509KeyPair(c, k); err == nil {
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(origin, "https://"))
	target := "https://" + net.JoinHostPort("127.0.0.1", port) + path
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	resp, err := hc.Post(target, "application/xml", bytes.NewReader(espitest.BatchList()))
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s answered %s in %s: %s", path, resp.Status, took, redact.Snippet(body, 200))
	}
	return fmt.Sprintf("POSTed a BatchList to %s over HTTPS (%s): %s in %s. The utility's notifications will arrive the same way.",
		target, tlsVersion(resp.TLS), resp.Status, took), nil
}

func tlsVersion(cs *tls.ConnectionState) string {
	if cs == nil {
		return "no TLS"
	}
	return tls.VersionName(cs.Version)
}

// Authorizations describes what the custodian last said about the source's authorizations
// (recorded by `sources test` and by notifications).
func (g guiGreenButton) Authorizations(ctx context.Context, source string) (string, error) {
	src, err := g.st.SourceByName(ctx, source)
	if err != nil {
		return "", err
	}
	as, err := g.st.Authorizations(ctx, src.ID)
	if err != nil {
		return "", err
	}
	reqs, err := g.st.OutstandingRequests(ctx, src.ID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, a := range as {
		status := map[int]string{store.AuthorizationActive: "active", store.AuthorizationRevoked: "revoked",
			store.AuthorizationDenied: "denied", store.AuthorizationExpired: "expired"}[a.Status]
		who := a.Title
		if who == "" {
			who = "Authorization " + lastSegment(a.URI)
		}
		fmt.Fprintf(&b, "%s: %s since %s", who, status, a.Changed.Local().Format("2006-01-02"))
		if id := espi.SubscriptionIDOf(a.ResourceURI); id != "" {
			fmt.Fprintf(&b, ", subscription id %s", id)
		} else if i := strings.LastIndex(a.ResourceURI, "/Bulk/"); i >= 0 {
			fmt.Fprintf(&b, ", bulk id %s", a.ResourceURI[i+len("/Bulk/"):])
		}
		if a.Scope != "" {
			fmt.Fprintf(&b, ", scope %s", a.Scope)
		}
		b.WriteByte('\n')
	}
	for _, r := range reqs {
		fmt.Fprintf(&b, "%s: %s\n", r.Resource, espi.WaitingNote(r.Requested))
	}
	return strings.TrimSpace(b.String()), nil
}

func lastSegment(u string) string {
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[i+1:]
	}
	return u
}
