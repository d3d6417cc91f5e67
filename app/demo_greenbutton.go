package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/espi"
	"custody/sync/espi/espitest"
	"custody/sync/notify"
	"custody/sync/settings"
	"custody/sync/simtls"
)

// Names of the demo's Green Button sources beyond the plain one: a PG&E-like custodian that
// answers 202 and delivers by notification, and a household connected with its own
// authorisation (Connect My Data).
const (
	demoAsyncSource     = "demo-pge-async"
	demoConnectedSource = "demo-household"
	// demoExtraSecrets is how many keyring items they add: two client secrets, and the
	// household's access and refresh tokens.
	demoExtraSecrets = 4
)

// gbCustodian is the Green Button simulator of real custodians' behaviour: asynchronous like
// PG&E (202, then a BatchList POSTed to a listener on a loopback port chosen now, with the
// demo's client certificate) and with Connect My Data; and the two sources that show it.
type gbCustodian struct {
	sim              *espitest.Server
	async, household store.Source
}

// startGBCustodian starts the simulator on host (port 0: a free one) and writes the
// listener's certificate and key beside files.
func startGBCustodian(pki *simtls.PKI, files simtls.Files, addr string) (*gbCustodian, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(files.CA)
	cert, key := filepath.Join(dir, "listener.pem"), filepath.Join(dir, "listener-key.pem")
	for p, b := range map[string][]byte{cert: pki.ServerCertPEM, key: pki.ServerKeyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
	}
	clientTLS, err := pki.ClientTLS()
	if err != nil {
		return nil, err
	}
	listen := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	async := store.Source{Name: demoAsyncSource, Kind: espi.Kind}
	sim, err := espitest.Start(pki, addr, espitest.Options{Async: true, ConnectMyData: true, RotateRefresh: true,
		NotifyURL: "https://" + listen + notify.DefaultPath(async), NotifyClient: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: clientTLS}}})
	if err != nil {
		return nil, err
	}
	g := &gbCustodian{sim: sim}
	g.async, _ = sim.DemoSource(demoAsyncSource, files)
	g.async.Config[notify.CfgListen], g.async.Config[notify.CfgCert], g.async.Config[notify.CfgKey] = listen, cert, key
	g.async.Config[notify.CfgClientCA] = files.CA
	g.household, _ = sim.DemoSource(demoConnectedSource, files)
	g.household.SetList(espi.CfgBulkIDs, nil)
	g.household.Config[espi.CfgAuthorizeURL] = sim.AuthorizeURL()
	return g, nil
}

// usage writes how to use the simulator from the command line, for `custody simulate`.
func (g *gbCustodian) usage(w io.Writer, k settings.Kind) {
	fmt.Fprintf(w, "\ngreenbutton simulator of real custodians: %s\n", g.sim.URL())
	fmt.Fprintf(w, "  PG&E-like: answers 202 and POSTs a BatchList to the listener `custody sync` starts:\n")
	fmt.Fprintf(w, "    %s\n", sourcesAddCommand(k, g.async, g.sim.Secret()))
	fmt.Fprintf(w, "    custody sync %s\n", shellQuote(g.async.Name))
	fmt.Fprintf(w, "  Connect My Data: the simulated customer approves at once (trust the CA above in the browser):\n")
	fmt.Fprintf(w, "    %s\n", sourcesAddCommand(k, g.household, g.sim.Secret()))
	fmt.Fprintf(w, "    custody sources connect %s\n", shellQuote(g.household.Name))
	fmt.Fprintf(w, "    custody sync --once %s\n", shellQuote(g.household.Name))
}

// startGreenButtonDemo starts the simulator of real custodians and configures its two sources
// in the demo: demoAsyncSource, whose notification listener the app starts, and
// demoConnectedSource, authorised at once the way a customer would in the browser.
func startGreenButtonDemo(ctx context.Context, env *Env, st *store.Store, pki *simtls.PKI, files simtls.Files, mem *secrets.Memory) (stop func(), err error) {
	g, err := startGBCustodian(pki, files, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	sim := g.sim
	stop = func() { sim.Close() }
	async, household := g.async, g.household
	for _, src := range []store.Source{async, household} {
		src.Config[settings.KeyInterval] = "1m"
		src.Enabled = true
		if err := mem.SetSecret(src.Name, SecretField, sim.Secret()); err != nil {
			stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := putSource(ctx, st, &src); err != nil {
			stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	// The household's authorisation, with the simulator's consent page in the part of the
	// browser.
	drv, ok := env.Drivers[espi.Kind].(*espi.Driver)
	if !ok {
		return stop, nil
	}
	src, err := st.SourceByName(ctx, demoConnectedSource)
	if err != nil {
		stop()
		return nil, fmt.Errorf("demo: %w", err)
	}
	job := env.job(st, src, nil)
	job.Secrets = mem
	conn, err := drv.StartConnect(ctx, job)
	if err != nil {
		stop()
		return nil, fmt.Errorf("demo: connect %s: %w", demoConnectedSource, err)
	}
	browser := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool(), MinVersion: tls.VersionTLS12}}}
	if _, err := espitest.Authorize(ctx, browser, conn.URL()); err != nil {
		conn.Close()
		stop()
		return nil, fmt.Errorf("demo: connect %s: %w", demoConnectedSource, err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := conn.Wait(wctx); err != nil {
		stop()
		return nil, fmt.Errorf("demo: connect %s: %w", demoConnectedSource, err)
	}
	return stop, nil
}

// freeLoopbackPort returns a TCP port free on 127.0.0.1 now.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
