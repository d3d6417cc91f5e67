package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"custody/sync/datahub"
	"custody/sync/settings"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/crashpoint"
	"custody/sync/engine"
	"custody/sync/espi/espitest"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
	"custody/sync/syncerr"
)

// The crash test runs `custody sync --once` as a child process — this test binary, re-executed
// with CUSTODY_TEST_CHILD=1 so that it runs app.Run instead of the tests — and kills it at
// every crash point in turn (sync/crashpoint), then reruns it, and compares the database with
// that of an uninterrupted run.

const childEnv = "CUSTODY_TEST_CHILD"

// childSecretsEnv carries the child's secrets (a JSON object of "source/field": value): a
// test has no OS keyring.
const childSecretsEnv = "CUSTODY_TEST_SECRETS"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	if os.Getenv(obsimEnv) != "" {
		os.Exit(obsimMain())
	}
	// The machine-wide call log lives in the user's cache folder: give the tests (and the
	// children they start, which inherit the environment) one of their own.
	cache, err := os.MkdirTemp("", "custody-test-cache")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	os.Exit(code)
}

// childMain is `custody` as the crash test runs it: every real driver plus the test queue's.
func childMain(args []string) int {
	env := NewEnv(os.Stdin, os.Stdout, os.Stderr)
	if path := os.Getenv(childSecretsFileEnv); path != "" {
		env.Secrets = fileSecrets{path}
	} else {
		mem := secrets.NewMemory()
		var m map[string]string
		if err := json.Unmarshal([]byte(os.Getenv(childSecretsEnv)), &m); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		for k, v := range m {
			source, field, _ := strings.Cut(k, "/")
			mem.SetSecret(source, field, v)
		}
		env.Secrets = mem
	}
	env.Drivers[queueKind] = queueDriver{}
	if v := os.Getenv(childImportBatchEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		env.ImportBatch = d
	}
	if path := os.Getenv(childProfileEnv); path != "" {
		// The benchmarks' child writes a CPU profile of its whole run.
		if f, err := os.Create(path); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	return Run(context.Background(), env, args)
}

// childProfileEnv names the file a child writes its CPU profile to.
const childProfileEnv = "CUSTODY_TEST_CPUPROFILE"

// childSecretsFileEnv names a JSON file that stands in for the keyring across several child
// runs (test only: Custody itself never keeps a secret in a file).
const childSecretsFileEnv = "CUSTODY_TEST_SECRETS_FILE"

// fileSecrets is a secrets.Store in a JSON file, for child processes of tests.
type fileSecrets struct{ path string }

func (f fileSecrets) load() map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(f.path); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func (f fileSecrets) Secret(source, field string) (string, error) {
	v, ok := f.load()[source+"/"+field]
	if !ok {
		return "", fmt.Errorf("read secret %s of %s: %w", field, source, secrets.ErrNotFound)
	}
	return v, nil
}

func (f fileSecrets) SetSecret(source, field, value string) error {
	m := f.load()
	m[source+"/"+field] = value
	b, _ := json.Marshal(m)
	return os.WriteFile(f.path, b, 0o600)
}

func (f fileSecrets) DeleteSecret(source, field string) error {
	m := f.load()
	delete(m, source+"/"+field)
	b, _ := json.Marshal(m)
	return os.WriteFile(f.path, b, 0o600)
}

// queueKind is the source kind of the test queue: a custodian with DataHub's peek/dequeue
// semantics, whose driver (queueDriver) follows Custody's delivery rules.
const queueKind = "testqueue"

// queueMessage is one message of the test queue.
type queueMessage struct {
	ID       string         `json:"id"`
	Meter    string         `json:"meter"`
	Readings []queueReading `json:"readings"`
}

type queueReading struct {
	Start int64  `json:"start"`
	Value string `json:"value"`
}

// queueServer is the test custodian. Its DELETE handler checks, in the database, that what is
// dequeued was committed first.
type queueServer struct {
	srv    *httptest.Server
	token  string
	st     *store.Store // the database the client writes, read to check each dequeue
	source string

	mu          sync.Mutex
	queue       []queueMessage
	dequeued    []string
	violations_ []string // checked at each dequeue
}

// testQueue returns the queue's messages: 24 hourly readings each, and a last one that
// corrects readings of the first.
func testQueue() []queueMessage {
	var q []queueMessage
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range 4 {
		m := queueMessage{ID: fmt.Sprintf("msg-%d", i+1), Meter: "571313100000000001"}
		for h := range 24 {
			m.Readings = append(m.Readings, queueReading{
				Start: t0 + int64(i*24+h)*3600,
				Value: fmt.Sprintf("%de-3", 1000+i*100+h),
			})
		}
		q = append(q, m)
	}
	fix := queueMessage{ID: "msg-5-correction", Meter: "571313100000000001"}
	for h := range 6 {
		fix.Readings = append(fix.Readings, queueReading{Start: t0 + int64(h)*3600, Value: fmt.Sprintf("%de-3", 9000+h)})
	}
	return append(q, fix)
}

func newQueueServer(t *testing.T, pki *simtls.PKI, st *store.Store, source string) *queueServer {
	t.Helper()
	q := &queueServer{token: "demo-token-" + source, st: st, source: source, queue: testQueue()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peek", q.peek)
	mux.HandleFunc("DELETE /dequeue/{id}", q.dequeue)
	q.srv = httptest.NewUnstartedServer(mux)
	cfg, err := pki.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	q.srv.TLS = cfg
	q.srv.StartTLS()
	t.Cleanup(q.srv.Close)
	return q
}

func (q *queueServer) authorised(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+q.token {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return false
	}
	return true
}

func (q *queueServer) peek(w http.ResponseWriter, r *http.Request) {
	if !q.authorised(w, r) {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(q.queue[0])
}

func (q *queueServer) dequeue(w http.ResponseWriter, r *http.Request) {
	if !q.authorised(w, r) {
		return
	}
	id := r.PathValue("id")
	q.mu.Lock()
	defer q.mu.Unlock()
	// Nothing may be dequeued before it is stored: look in the client's database.
	msgs, err := q.st.Messages(r.Context(), store.MessageFilter{Source: q.source})
	stored := slices.ContainsFunc(msgs, func(m store.Message) bool { return m.MessageID == id && m.Readings > 0 })
	if err != nil || !stored {
		q.violations_ = append(q.violations_, fmt.Sprintf("%s dequeued before it was stored (%v)", id, err))
	}
	if len(q.queue) == 0 || q.queue[0].ID != id {
		// DataHub answers a dequeue of an unknown id with 404; a client that crashed after
		// the dequeue and before forgetting its pending dequeue sends it again.
		http.Error(w, "no such message at the head of the queue", http.StatusNotFound)
		return
	}
	q.queue = q.queue[1:]
	q.dequeued = append(q.dequeued, id)
	w.WriteHeader(http.StatusOK)
}

// queueDriver syncs a test queue the way every Custody driver must: archive, store in one
// transaction with the pending dequeue, commit, and only then dequeue and forget the pending
// dequeue. It calls every crash point.
type queueDriver struct{}

func (queueDriver) Kind() string { return queueKind }

func (queueDriver) Describe() settings.Kind { return settings.Kind{Name: queueKind} }

func (queueDriver) Test(ctx context.Context, job *engine.Job) (string, error) { return "ok", nil }

func (d queueDriver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
	var res engine.Result
	src := job.Source
	pem, err := os.ReadFile(src.Config[datahub.CfgCA])
	if err != nil {
		return res, syncerr.E(syncerr.Config, "read --ca", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	token, err := job.Secrets.Secret(src.Name, SecretField)
	if err != nil {
		return res, syncerr.E(syncerr.Local, "read secret", err)
	}
	do := func(method, path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, src.Config[datahub.CfgBaseURL]+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return nil, syncerr.E(syncerr.Network, method+" "+path, err)
		}
		return resp, nil
	}
	dequeue := func(a store.PendingAck) error {
		resp, err := do(http.MethodDelete, "/dequeue/"+a.Item)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return syncerr.Errorf(syncerr.Server, "dequeue "+a.Item, "%s", resp.Status)
		}
		crashpoint.Hit(crashpoint.AfterDequeue)
		return job.Store.DeletePendingAcks(ctx, []int64{a.ID})
	}

	// First the dequeues a crash left owed.
	owed, err := job.Store.PendingAcks(ctx, src.ID, "dequeue")
	if err != nil {
		return res, syncerr.E(syncerr.Local, "pending dequeues", err)
	}
	for _, a := range owed {
		if err := dequeue(a); err != nil {
			return res, err
		}
	}
	for range 100 {
		resp, err := do(http.MethodGet, "/peek")
		if err != nil {
			return res, err
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			break
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return res, syncerr.Errorf(syncerr.Server, "peek", "%s", resp.Status)
		}
		p, _, err := job.Store.Archive(ctx, store.Payload{SourceID: src.ID, Format: "testqueue-json", URL: "/peek"},
			io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return res, syncerr.E(syncerr.Local, "archive", err)
		}
		crashpoint.Hit(crashpoint.AfterArchive)
		a, n, err := storeQueueMessage(ctx, job, p)
		if err != nil {
			return res, err
		}
		crashpoint.Hit(crashpoint.AfterCommit)
		res.Items++
		res.Readings += n
		if err := dequeue(a); err != nil {
			return res, err
		}
	}
	return res, nil
}

// storeQueueMessage parses an archived message and stores it with its pending dequeue in one
// transaction.
func storeQueueMessage(ctx context.Context, job *engine.Job, p store.Payload) (store.PendingAck, int64, error) {
	rc, err := job.Store.OpenPayload(ctx, p.ID)
	if err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "open payload", err)
	}
	defer rc.Close()
	var m queueMessage
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Data, "parse message", err)
	}
	tx, err := job.Store.Begin(ctx)
	if err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	defer tx.Rollback()
	meter := &store.Meter{Key: m.Meter, SourceID: job.Source.ID, Commodity: "electricity"}
	if err := tx.UpsertMeter(meter); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	series := &store.Series{MeterID: meter.ID, Key: m.Meter + "/E17", Commodity: "electricity", Unit: "kWh", Seconds: 3600}
	if err := tx.UpsertSeries(series); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	var rs []store.Reading
	for _, r := range m.Readings {
		mant, exp, _ := strings.Cut(r.Value, "e")
		v, err := strconv.ParseFloat(mant+"e"+exp, 64)
		if err != nil {
			return store.PendingAck{}, 0, syncerr.E(syncerr.Data, "parse message "+m.ID, err)
		}
		rs = append(rs, store.Reading{Start: r.Start, Seconds: 3600, Value: v})
	}
	half := len(rs) / 2
	if err := tx.PutReadings(series.ID, rs[:half]); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	crashpoint.Hit(crashpoint.MidTx)
	if err := tx.PutReadings(series.ID, rs[half:]); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	if err := tx.PutMessage(&store.Message{SourceID: job.Source.ID, MessageID: m.ID, Type: "TestQueueMessage",
		Readings: int64(len(rs)), PayloadID: p.ID}); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	a := store.PendingAck{SourceID: job.Source.ID, Kind: "dequeue", Item: m.ID}
	if err := tx.AddPendingAck(a); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	if err := tx.SetPayloadStatus(p.ID, store.PayloadParsed, ""); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	if err := tx.Commit(); err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "store", err)
	}
	owed, err := job.Store.PendingAcks(ctx, job.Source.ID, "dequeue")
	if err != nil {
		return store.PendingAck{}, 0, syncerr.E(syncerr.Local, "pending dequeues", err)
	}
	for _, o := range owed {
		if o.Item == m.ID {
			a = o
		}
	}
	return a, int64(len(rs)), nil
}

// crashCustodian is a custodian the crash test syncs from, with what it knows.
type crashCustodian interface {
	// state describes, independently of random identifiers, what the custodian still holds
	// and what it was acknowledged, and what the database holds from it.
	state(t *testing.T, st *store.Store) string
	// violations lists what was acknowledged (acked, dequeued) but is not in the database.
	violations(t *testing.T, st *store.Store) []string
}

// crashWorld is one database and one custodian of each kind the crash test drives.
type crashWorld struct {
	dir, db    string
	st         *store.Store
	secrets    map[string]string
	custodians []crashCustodian
	rename     map[string]string // simulator URLs to stable names in snapshots
}

// crashSetup starts a custodian of one kind for the world and configures its source.
type crashSetup func(t *testing.T, w *crashWorld, pki *simtls.PKI, files simtls.Files)

// crashSetups are the custodians of the crash test: the test queue, plus every simulator
// with acknowledgements (and Green Button) that has landed. DataHub's is added by
// crash_datahub_test.go.
var crashSetups = map[string]crashSetup{
	"testqueue": func(t *testing.T, w *crashWorld, pki *simtls.PKI, files simtls.Files) {
		q := newQueueServer(t, pki, w.st, "queue")
		w.add(t, store.Source{Name: "queue", Kind: queueKind, Enabled: true,
			Config: map[string]string{datahub.CfgBaseURL: q.srv.URL, datahub.CfgCA: files.CA}}, q.token)
		w.custodians = append(w.custodians, q)
	},
	"obevents": func(t *testing.T, w *crashWorld, pki *simtls.PKI, files simtls.Files) {
		// 12 events, every 6th invalid; polls answer at most 4, so acks ride on later polls.
		srv, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 12, MaxEventsCap: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		src, secret := srv.DemoSource("bank", files)
		w.add(t, src, secret)
		w.custodians = append(w.custodians, &crashBank{srv: srv, source: "bank"})
	},
	"greenbutton": func(t *testing.T, w *crashWorld, pki *simtls.PKI, files simtls.Files) {
		// The same clock for every world, so that each serves the same data.
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		srv, err := espitest.Start(pki, "127.0.0.1:0", espitest.Options{Days: 3, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		src, secret := srv.DemoSource("utility", files)
		w.add(t, src, secret)
		w.rename[srv.URL()] = "https://utility.example"
	},
}

// crashBank is the simulated Open Banking bank of the crash test.
type crashBank struct {
	srv    *obtest.Server
	source string
}

func (b *crashBank) events(t *testing.T, st *store.Store) map[string]store.Event {
	t.Helper()
	evs, err := st.Events(t.Context(), store.EventFilter{Source: b.source})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.Event{}
	for _, e := range evs {
		if _, dup := m[e.JTI]; dup {
			t.Errorf("event %s stored twice", e.JTI)
		}
		m[e.JTI] = e
	}
	return m
}

// state says, independently of the random jtis, whether the database holds exactly the
// bank's events and the bank got exactly the acknowledgements it should.
func (b *crashBank) state(t *testing.T, st *store.Store) string {
	evs := b.events(t, st)
	valid, invalid := b.srv.Expected()
	acked, setErrs := b.srv.Acked(), b.srv.SetErrs()
	okValid, okInvalid := true, true
	for _, j := range valid {
		e, ok := evs[j]
		okValid = okValid && ok && e.Verified && acked[j] > 0
	}
	for _, j := range invalid {
		e, ok := evs[j]
		_, nacked := setErrs[j]
		okInvalid = okInvalid && ok && !e.Verified && e.Error != "" && nacked
	}
	return fmt.Sprintf("bank: %d events for %d valid and %d invalid tokens; valid stored verified and acked: %v; "+
		"invalid stored rejected and setErr'd: %v; %d acked, %d setErrs, %d left\n",
		len(evs), len(valid), len(invalid), okValid, okInvalid, len(acked), len(setErrs), len(b.srv.Queue()))
}

func (b *crashBank) violations(t *testing.T, st *store.Store) []string {
	evs := b.events(t, st)
	var out []string
	for j := range b.srv.Acked() {
		if e, ok := evs[j]; !ok || !e.Verified {
			out = append(out, "event "+j+" acked but not stored")
		}
	}
	for j := range b.srv.SetErrs() {
		if e, ok := evs[j]; !ok || e.Verified {
			out = append(out, "event "+j+" setErr'd but not stored as rejected")
		}
	}
	return out
}

func newCrashWorld(t *testing.T, pki *simtls.PKI, files simtls.Files, setups ...crashSetup) *crashWorld {
	t.Helper()
	w := &crashWorld{dir: t.TempDir(), secrets: map[string]string{}, rename: map[string]string{}}
	w.db = filepath.Join(w.dir, "custody.db")
	st, err := store.Open(t.Context(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	for _, setup := range setups {
		setup(t, w, pki, files)
	}
	return w
}

// add configures a source and its client secret.
func (w *crashWorld) add(t *testing.T, src store.Source, secret string) {
	t.Helper()
	if err := w.st.AddSource(t.Context(), &src); err != nil {
		t.Fatal(err)
	}
	w.secrets[src.Name+"/"+SecretField] = secret
}

// sync runs `custody sync --once` in a child process, crashing at crashAt when it is set, and
// returns its exit status.
func (w *crashWorld) sync(t *testing.T, crashAt string) (int, string) {
	t.Helper()
	secrets, _ := json.Marshal(w.secrets)
	return runChild(t, []string{childSecretsEnv + "=" + string(secrets), crashpoint.EnvVar + "=" + crashAt}, "sync", "--once", "--db", w.db)
}

// runChild runs this test binary as `custody ARGS...` (see childMain) with env added to the
// environment, and returns its exit status and output.
func runChild(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("run the child: %v", err)
	return 0, ""
}

// snapshot is everything the database holds that a rerun must reproduce exactly.
func (w *crashWorld) snapshot(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	c, err := w.st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Payloads are left out: a rerun may archive a body that differs from the first try's only
	// in a timestamp, which is right (everything received is kept) and not a doubled datum.
	c.Payloads = -1
	fmt.Fprintf(&b, "counts %+v\n", c)
	err = w.st.ExportReadings(ctx, store.ExportFilter{}, func(r store.ExportRow) error {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%d,%g,%v,%s,%g\n", r.Meter, r.Series, r.Flow, r.Unit, r.Reading.Start,
			r.Reading.Seconds, r.Reading.Value, r.Reading.Missing, r.Reading.Quality, r.Reading.Cost)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.custodians {
		b.WriteString(c.state(t, w.st))
	}
	// Identifiers built from a simulator's URL differ only in its port.
	out := b.String()
	for old, new := range w.rename {
		out = strings.ReplaceAll(out, old, new)
	}
	return out
}

func (w *crashWorld) violations(t *testing.T) []string {
	var out []string
	for _, c := range w.custodians {
		out = append(out, c.violations(t, w.st)...)
	}
	return out
}

func (q *queueServer) state(t *testing.T, st *store.Store) string {
	msgs, err := st.Messages(t.Context(), store.MessageFilter{Source: q.source})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, fmt.Sprintf("%s readings=%d err=%q", m.MessageID, m.Readings, m.Error))
	}
	slices.Sort(ids)
	q.mu.Lock()
	defer q.mu.Unlock()
	return fmt.Sprintf("queue %s: messages %s; %d left, dequeued %v\n", q.source, strings.Join(ids, "; "), len(q.queue), q.dequeued)
}

func (q *queueServer) violations(*testing.T, *store.Store) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.violations_)
}

func TestCrashAnywhereLosesNothingAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the custody child process some dozens of times")
	}
	pki, err := simtls.New("crash-test-client")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	var setups []crashSetup
	for _, name := range slices.Sorted(maps.Keys(crashSetups)) {
		setups = append(setups, crashSetups[name])
	}
	ref := newCrashWorld(t, pki, files, setups...)
	if code, out := ref.sync(t, ""); code != 0 {
		t.Fatalf("the uninterrupted run failed (%d):\n%s", code, out)
	}
	if v := ref.violations(t); len(v) > 0 {
		t.Fatalf("acknowledged before stored: %v", v)
	}
	want := ref.snapshot(t)
	if strings.Count(want, " 0 left") != 2 || !strings.Contains(want, "waiting 0") || strings.Contains(want, "datahub: 0 messages") || strings.Contains(want, ": false") || strings.Contains(want, "Readings:0 ") {
		t.Fatalf("the uninterrupted run did not drain the queue:\n%s", want)
	}

	// Each scenario crashes at these points in turn, then runs to the end.
	var scenarios [][]string
	// Each point is reached at least this often in a run (the queue has 5 messages; the bank
	// answers 12 events 4 at a time, so 3 polls carry acknowledgements).
	for p, times := range map[string]int{crashpoint.AfterArchive: 5, crashpoint.MidTx: 5, crashpoint.AfterCommit: 5,
		crashpoint.AfterDequeue: 5, crashpoint.AfterAck: 3} {
		for n := 1; n <= times; n++ {
			scenarios = append(scenarios, []string{fmt.Sprintf("%s:%d", p, n)})
		}
	}
	scenarios = append(scenarios,
		[]string{crashpoint.BeforeFinish + ":1"},
		// Crashes in a row, each run getting a little further or none at all.
		[]string{crashpoint.AfterCommit + ":1", crashpoint.AfterDequeue + ":1", crashpoint.MidTx + ":2"},
		[]string{crashpoint.AfterCommit + ":3", crashpoint.AfterCommit + ":1", crashpoint.AfterArchive + ":1"},
	)
	for _, sc := range scenarios {
		t.Run(strings.Join(sc, ","), func(t *testing.T) {
			w := newCrashWorld(t, pki, files, setups...)
			for _, at := range sc {
				code, out := w.sync(t, at)
				if code != crashpoint.ExitCode {
					t.Fatalf("crash at %s: exit %d, want %d:\n%s", at, code, crashpoint.ExitCode, out)
				}
				if v := w.violations(t); len(v) > 0 {
					t.Fatalf("after crashing at %s, acknowledged but not stored: %v", at, v)
				}
			}
			if code, out := w.sync(t, ""); code != 0 {
				t.Fatalf("the run after the crash failed (%d):\n%s", code, out)
			}
			if v := w.violations(t); len(v) > 0 {
				t.Fatalf("acknowledged before stored: %v", v)
			}
			if got := w.snapshot(t); got != want {
				t.Fatalf("after crashing at %v the database differs from an uninterrupted run's:\n%s", sc, lineDiff(got, want))
			}
		})
	}
}

// lineDiff lists the lines only in got (+) and only in want (-), at most 20 of them.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], "...")
	}
	return strings.Join(out, "\n")
}
