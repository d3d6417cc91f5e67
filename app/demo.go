package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/datahub/datahubtest"
	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/espi/espitest"
	"custody/sync/logkey"
	"custody/sync/obevents"
	"custody/sync/obevents/obtest"
	"custody/sync/settings"
	"custody/sync/simtls"
)

// simServer is a running built-in simulator of one custodian, adapted from its protocol
// package's <proto>test.Server.
type simServer struct {
	// url is the simulator's root, such as https://127.0.0.1:43211.
	url string
	// close stops the simulator.
	close func()
	// demoSource returns a source configured for the simulator, trusting files.CA and, where
	// the custodian wants mutual TLS, presenting files.ClientCert and files.ClientKey, and the
	// client secret that goes with it.
	demoSource func(name string, files simtls.Files) (store.Source, string)
}

// demoSim is a simulator the demo and `custody simulate` start.
type demoSim struct {
	kind  string // the kind of the source it serves
	name  string // the name of the demo source
	start func(pki *simtls.PKI, addr string) (*simServer, error)
}

// demoDays is how much history the demo's utility serves: a full year and a little more, so
// that the Usage view's Year range, its seasons and its comparisons have something to show.
const demoDays = 400

// demoSims lists every simulator in this build, in the order `custody simulate` gives them
// ports. A protocol package's simulator is added here when it lands.
var demoSims = []demoSim{
	{kind: "greenbutton", name: "demo-utility", start: func(pki *simtls.PKI, addr string) (*simServer, error) {
		srv, err := espitest.Start(pki, addr, espitest.Options{Days: demoDays})
		if err != nil {
			return nil, err
		}
		return &simServer{url: srv.URL(), close: func() { srv.Close() }, demoSource: srv.DemoSource}, nil
	}},
	{kind: "obevents", name: "demo-bank", start: func(pki *simtls.PKI, addr string) (*simServer, error) {
		// A new event every 20 seconds, so that the demo shows events arriving.
		srv, err := obtest.Start(pki, addr, obtest.Options{Every: 20 * time.Second})
		if err != nil {
			return nil, err
		}
		// With --follow, so that the Events view says what happened to each payment.
		follow := func(name string, files simtls.Files) (store.Source, string) {
			src, secret := srv.DemoSource(name, files)
			src.Config[obevents.CfgFollow] = "true"
			return src, secret
		}
		return &simServer{url: srv.URL(), close: func() { srv.Close() }, demoSource: follow}, nil
	}},
	{kind: "datahub", name: "demo-datahub", start: func(pki *simtls.PKI, addr string) (*simServer, error) {
		// The fixtures and three days at once, then a new day's document every 30 seconds.
		srv, err := datahubtest.Start(pki, addr, datahubtest.Options{Fixtures: true, Results: true, Generate: 3, Every: 30 * time.Second, AnswerDelay: 10 * time.Second})
		if err != nil {
			return nil, err
		}
		return &simServer{url: srv.URL(), close: func() { srv.Close() }, demoSource: srv.DemoSource}, nil
	}},
	{kind: "eloverblik", name: "demo-dk-household", start: func(pki *simtls.PKI, addr string) (*simServer, error) {
		// A Danish household: a year of hourly consumption and solar production, a 503 now and then.
		srv, err := eloverbliktest.Start(pki, addr, eloverbliktest.Options{})
		if err != nil {
			return nil, err
		}
		return &simServer{url: srv.URL(), close: func() { srv.Close() }, demoSource: srv.DemoSource}, nil
	}},
}

// runningSim is a started simulator with the demo source that uses it.
type runningSim struct {
	demoSim
	srv    *simServer
	src    store.Source
	secret string
}

// demoTLS makes the demo's PKI and writes its CA, client certificate and key into a new
// temporary folder, which cleanup removes.
func demoTLS() (*simtls.PKI, simtls.Files, func(), error) {
	pki, err := simtls.New("custody-demo-client")
	if err != nil {
		return nil, simtls.Files{}, nil, fmt.Errorf("demo certificates: %w", err)
	}
	dir, err := os.MkdirTemp("", "custody-demo-tls-")
	if err != nil {
		return nil, simtls.Files{}, nil, fmt.Errorf("demo certificates: %w", err)
	}
	files, err := pki.WriteFiles(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, simtls.Files{}, nil, fmt.Errorf("demo certificates: %w", err)
	}
	return pki, files, func() { os.RemoveAll(dir) }, nil
}

// startSims starts every simulator on loopback. addr is host:port; port 0 gives each a free
// port, another port gives the simulators that port and the ones after it.
func startSims(pki *simtls.PKI, files simtls.Files, addr string) ([]*runningSim, error) {
	host, port, err := loopbackAddr(addr)
	if err != nil {
		return nil, err
	}
	var out []*runningSim
	for i, d := range demoSims {
		p := port
		if p != 0 {
			p += i
		}
		srv, err := d.start(pki, net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			closeSims(out)
			return nil, fmt.Errorf("start the %s simulator: %w", d.kind, err)
		}
		src, secret := srv.demoSource(d.name, files)
		out = append(out, &runningSim{demoSim: d, srv: srv, src: src, secret: secret})
	}
	return out, nil
}

func closeSims(sims []*runningSim) {
	for _, s := range sims {
		s.srv.close()
	}
}

// startDemo starts every built-in simulator in this process on loopback with freshly
// generated certificates, swaps env.Secrets for an in-memory store holding the demo
// credentials (demo mode only: nothing reaches the OS keyring), and configures one source of
// each kind in st, syncing every minute so that the demo shows live syncing. stop closes the
// simulators and removes the certificates.
func startDemo(ctx context.Context, env *Env, st *store.Store) (stop func(), err error) {
	pki, files, cleanup, err := demoTLS()
	if err != nil {
		return nil, err
	}
	sims, err := startSims(pki, files, "127.0.0.1:0")
	if err != nil {
		cleanup()
		return nil, err
	}
	stop = func() {
		closeSims(sims)
		cleanup()
	}
	mem := secrets.NewMemory()
	for _, s := range sims {
		src := s.src
		if src.Config == nil {
			src.Config = map[string]string{}
		}
		if src.Config[settings.KeyInterval] == "" {
			src.Config[settings.KeyInterval] = "1m"
		}
		src.Enabled = true
		if err := mem.SetSecret(src.Name, SecretField, s.secret); err != nil {
			stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := putSource(ctx, st, &src); err != nil {
			stop()
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	env.Secrets = mem
	gbStop, err := startGreenButtonDemo(ctx, env, st, pki, files, mem)
	if err != nil {
		stop()
		return nil, err
	}
	stop = func() { gbStop(); closeSims(sims); cleanup() }
	env.Logger.Info("demo started", logkey.Count, len(sims))
	return stop, nil
}

// putSource adds the source, or updates the one of the same name.
func putSource(ctx context.Context, st *store.Store, src *store.Source) error {
	old, err := st.SourceByName(ctx, src.Name)
	if errors.Is(err, store.ErrNotFound) {
		return st.AddSource(ctx, src)
	}
	if err != nil {
		return err
	}
	src.ID = old.ID
	return st.UpdateSource(ctx, src)
}
