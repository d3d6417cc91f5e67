package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/sync/espi/espitest"

	"custody/store"
	"custody/sync/espi"
)

// TestDemoAsyncAndConnectedSources: in the demo, the PG&E-like source asks once, says it is
// waiting, and gets its data through the listener the app starts; the connected household
// syncs its subscription with the customer's token.
func TestDemoAsyncAndConnectedSources(t *testing.T) {
	needSims(t)
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env, _, _ := testEnv(t)
	env.Drivers = drivers(env)
	stop, err := startDemo(ctx, env, st)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	listeners := newListenerManager(ctx, env, st)
	if err := listeners.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	defer listeners.Close()

	household, err := st.SourceByName(ctx, demoConnectedSource)
	if err != nil {
		t.Fatal(err)
	}
	if ids := household.List(espi.CfgSubscriptionIDs); len(ids) != 1 || household.Config["resource_uri"] == "" {
		t.Fatalf("household not connected: %+v", household.Config)
	}
	res, err := env.Drivers["greenbutton"].Sync(ctx, env.job(st, household, nil))
	if err != nil || res.Readings == 0 {
		t.Fatalf("household sync: %+v %v", res, err)
	}

	async, err := st.SourceByName(ctx, demoAsyncSource)
	if err != nil {
		t.Fatal(err)
	}
	res, err = env.Drivers["greenbutton"].Sync(ctx, env.job(st, async, nil))
	if err != nil || !strings.Contains(res.Note, "waiting for the custodian's notification") {
		t.Fatalf("async sync: %+v %v", res, err)
	}
	rel := "Batch/Bulk/" + async.List(espi.CfgBulkIDs)[0]
	// The simulator notifies the listener at once; wait (bounded) for the fetch it starts.
	var cursor time.Time
	for i := 0; i < 1200 && cursor.IsZero(); i++ { // up to 30 s, for a loaded machine
		time.Sleep(25 * time.Millisecond)
		cursor, _ = st.Cursor(ctx, async.ID, rel)
	}
	if cursor.IsZero() {
		t.Fatal("the async source's notification never completed the request")
	}
	if _, ok, _ := st.Outstanding(ctx, async.ID, rel); ok {
		t.Fatal("the request is still outstanding")
	}
}

// shellWords splits a command line printed with shellQuote.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, any := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			in, any = !in, true
		case c == ' ' && !in:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		case c == '\\' && !in && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			any = true
		default:
			cur.WriteByte(c)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// TestSimulatePrintsRealCustodianCommandsThatWork runs `custody simulate` and then, in this
// process, the Connect My Data commands it prints for the simulator of real custodians:
// sources add, sources connect (playing the browser) and sync --once; and the async source's
// sources add with its listener settings.
func TestSimulatePrintsRealCustodianCommandsThatWork(t *testing.T) {
	needSims(t)
	env, _, errOut := testEnv(t)
	pr, pw := io.Pipe()
	env.Stdout = pw
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, env, []string{"simulate"})
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()
	var lines []string
	var ca string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(l, "CA (--ca):"); ok {
			ca = strings.TrimSpace(v)
		}
		if strings.Contains(l, "demo-household") || strings.Contains(l, "demo-pge-async") {
			lines = append(lines, l)
		}
		if strings.HasPrefix(l, "custody sync --once demo-household") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(lines) != 5 || ca == "" || !strings.Contains(lines[0], "--notify-listen 127.0.0.1:") || !strings.Contains(lines[0], "--notify-client-ca") ||
		!strings.Contains(lines[2], "--authorize-url https://127.0.0.1:") {
		t.Fatalf("printed %q (CA %q); stderr %s", lines, ca, errOut)
	}
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
	for _, l := range []string{lines[0], lines[2]} { // the two sources add lines
		secret, cmd, ok := strings.Cut(l, " | custody ")
		if !ok {
			t.Fatalf("line %q", l)
		}
		words := shellWords(strings.TrimPrefix(secret, `printf '%s\n' `))
		if code, out, errOut := c.run(words[0]+"\n", shellWords(cmd)...); code != 0 {
			t.Fatalf("%s: %d %s%s", l, code, out, errOut)
		}
	}
	if lines[3] != "custody sources connect demo-household" || lines[1] != "custody sync demo-pge-async" {
		t.Fatalf("lines %q", lines)
	}
	// sources connect, with the browser played by the test (the printed line opens one).
	pool, err := x509PoolFromFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	stdoutR, stdoutW := io.Pipe()
	cenv := &Env{Stdin: strings.NewReader(""), Stdout: stdoutW, Stderr: io.Discard, Getenv: func(string) string { return "" },
		Secrets: c.secrets, Logger: slog.New(slog.DiscardHandler)}
	cenv.Drivers = drivers(cenv)
	cdone := make(chan int, 1)
	go func() {
		cdone <- Run(ctx, cenv, append(shellWords(strings.TrimPrefix(lines[3], "custody ")), "--no-browser", "--db", c.db))
		stdoutW.Close()
	}()
	first := bufio.NewScanner(stdoutR)
	if !first.Scan() {
		t.Fatal("connect printed nothing")
	}
	addr, _ := strings.CutPrefix(first.Text(), "Open this address in your browser: ")
	if _, err := espitest.Authorize(ctx, browser, addr); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdoutR)
	if code := <-cdone; code != 0 {
		t.Fatalf("connect exited %d", code)
	}
	if code, out, errOut := c.run("", shellWords(strings.TrimPrefix(lines[4], "custody "))...); code != 0 || !strings.Contains(out, "demo-household: ok") {
		t.Fatalf("sync: %d %s%s", code, out, errOut)
	}
}

func x509PoolFromFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in " + path)
	}
	return p, nil
}
