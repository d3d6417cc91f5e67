package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/eloverblik/eloverbliktest"
	"custody/sync/espi/espitest"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// gbRig is what a Green Button test starts from: a test PKI written to files, a certificate
// for a notification listener, the simulated custodian when one was asked for, and a CLI on a
// fresh database and in-memory keyring.
type gbRig struct {
	pki             *simtls.PKI
	files           simtls.Files
	srvCert, srvKey string           // the notification listener's certificate and key files
	sim             *espitest.Server // nil when no simulator was asked for
	c               *cli
	outputs         strings.Builder // what run printed, to look for secrets in
}

// newGBRig builds the rig for PKI client name cn; with opts it starts the simulator (stopped
// when the test ends), whose clock stands still at the start unless opts.Now says otherwise.
func newGBRig(t *testing.T, cn string, opts *espitest.Options) *gbRig {
	t.Helper()
	pki, err := simtls.New(cn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := pki.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &gbRig{pki: pki, files: files, srvCert: filepath.Join(dir, "listener.pem"), srvKey: filepath.Join(dir, "listener-key.pem"),
		c: &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}}
	if err := os.WriteFile(r.srvCert, pki.ServerCertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.srvKey, pki.ServerKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if opts != nil {
		o := *opts
		if o.Now == nil {
			now := time.Now()
			o.Now = func() time.Time { return now }
		}
		if r.sim, err = espitest.Start(pki, "127.0.0.1:0", o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.sim.Close() })
	}
	return r
}

// notifyFlags are the flags of a notification listener on a free loopback port that asks
// clients for a certificate of the rig's CA.
func (r *gbRig) notifyFlags() []string {
	return []string{"--notify-listen", "127.0.0.1:0", "--notify-cert", r.srvCert, "--notify-key", r.srvKey, "--notify-client-ca", r.files.CA}
}

// add runs `sources add greenbutton NAME` for the simulator's bulk data, with its secret on
// stdin and extra flags after the common ones, and fails the test unless it succeeds.
func (r *gbRig) add(t *testing.T, name string, extra ...string) {
	t.Helper()
	if code, out, errOut := r.c.run(r.sim.Secret()+"\n", r.addArgs(name, extra...)...); code != 0 {
		t.Fatalf("sources add: %d %s%s", code, out, errOut)
	}
}

// addArgs is the command line of `sources add greenbutton NAME` for the simulator's bulk
// data, its secret to come on stdin, with extra flags after the common ones.
func (r *gbRig) addArgs(name string, extra ...string) []string {
	return append([]string{"sources", "add", "greenbutton", name, "--base-url", r.sim.BaseURL(), "--token-url", r.sim.TokenURL(),
		"--client-id", r.sim.ClientID(), "--bulk-id", r.sim.BulkID(), "--cert", r.files.ClientCert, "--key", r.files.ClientKey, "--ca", r.files.CA,
		"--secret-stdin"}, extra...)
}

// run runs a command, keeps what it printed in r.outputs, fails the test unless it exits with
// wantCode, and returns its stdout and stderr together.
func (r *gbRig) run(t *testing.T, wantCode int, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := r.c.run(stdin, args...)
	r.outputs.WriteString(out + errOut)
	if code != wantCode {
		t.Fatalf("custody %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	return out + errOut
}

// assertNowhere fails the test if any of values is in the database file, its WAL, the log or
// what run printed; what names the values in the message.
func (r *gbRig) assertNowhere(t *testing.T, what string, values []string) {
	t.Helper()
	var stored [][]byte
	for _, p := range []string{r.c.db, r.c.db + "-wal"} {
		if b, err := os.ReadFile(p); err == nil {
			stored = append(stored, b)
		}
	}
	for _, s := range values {
		for _, b := range stored {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("the database holds %s (%.8s…)", what, s)
			}
		}
		if strings.Contains(r.c.log.String(), s) || strings.Contains(r.outputs.String(), s) {
			t.Fatalf("the log or output holds %s (%.8s…)", what, s)
		}
	}
}

// listen starts the notification listeners as `custody sync` does, on the rig's database,
// printing to stdout and logging to logs; everything stops when the test ends.
func (r *gbRig) listen(t *testing.T, ctx context.Context, stdout, logs *lockedBuffer) (*notifications, *store.Store) {
	t.Helper()
	env := &Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stdout, Getenv: func(string) string { return "" },
		Secrets: r.c.secrets, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	env.Drivers = drivers(env)
	st, err := store.Open(context.Background(), r.c.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n, err := startNotifications(ctx, env, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, st
}

// obRig is what an Open Banking events test starts from: the simulated bank (stopped when
// the test ends), the client files of its PKI and a CLI on a fresh database and keyring.
type obRig struct {
	sim   *obtest.Server
	files simtls.Files
	c     *cli
}

// newOBRig starts the bank with opts for PKI client name cn.
func newOBRig(t *testing.T, cn string, opts obtest.Options) *obRig {
	t.Helper()
	pki, err := simtls.New(cn)
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := obtest.Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return &obRig{sim: sim, files: files, c: &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}}
}

// add runs `sources add obevents NAME` with the bank's demo settings, its secret on stdin and
// extra flags, and fails the test unless it succeeds.
func (r *obRig) add(t *testing.T, name string, extra ...string) {
	t.Helper()
	src, secret := r.sim.DemoSource(name, r.files)
	cfg := src.Config
	args := append([]string{"sources", "add", "obevents", name,
		"--base-url", cfg["base_url"], "--token-url", cfg["token_url"], "--client-id", cfg["client_id"],
		"--jwks-url", cfg["jwks_url"], "--issuer", cfg["issuer"], "--audience", cfg["audience"],
		"--cert", cfg["cert"], "--key", cfg["key"], "--ca", cfg["ca"]}, extra...)
	if code, out, errs := r.c.run(secret+"\n", append(args, "--secret-stdin")...); code != 0 {
		t.Fatalf("sources add: %d %s %s", code, out, errs)
	}
}

// elRig is the Eloverblik simulator over TLS, its CA file and a CLI on a new database.
type elRig struct {
	sim   *eloverbliktest.Server
	files simtls.Files
	c     *cli
}

// newELRig starts the Eloverblik simulator with opts.
func newELRig(t *testing.T, opts eloverbliktest.Options) *elRig {
	t.Helper()
	pki, err := simtls.New("custody-cli")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := eloverbliktest.Start(pki, "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &elRig{sim: sim, files: files, c: &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}}
}
