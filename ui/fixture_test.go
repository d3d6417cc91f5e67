package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/engine"
	"custody/sync/espi"
	"custody/sync/fileimport"
	"custody/sync/obevents"
	"custody/sync/settings"
	"custody/sync/syncerr"
)

// testNow is the fixed "now" of every UI test: the data below ends shortly before it.
var testNow = time.Date(2024, 6, 3, 9, 30, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	time.Local = time.UTC // "local" times in the views are stable across machines
	setNumberLocale("en-US")
	dir, err := os.MkdirTemp("", "custody-ui-test-")
	if err != nil {
		panic(err)
	}
	templates.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// templates are filled databases built once per test binary and copied for each test, so
// that tests stay fast under the race detector (which slows SQLite down a lot).
var templates struct {
	sync.Mutex
	dir   string
	paths map[int]string
}

// fillStore opens a private copy of the filled database with extraMeters more meters.
func fillStore(t testing.TB, extraMeters int) *store.Store {
	t.Helper()
	templates.Lock()
	src, ok := templates.paths[extraMeters]
	if !ok {
		src = filepath.Join(templates.dir, fmt.Sprintf("template-%d.db", extraMeters))
		st := buildStore(t, src, extraMeters)
		if err := st.Close(); err != nil {
			templates.Unlock()
			t.Fatal(err)
		}
		if templates.paths == nil {
			templates.paths = map[int]string{}
		}
		templates.paths[extraMeters] = src
	}
	templates.Unlock()
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "ui.db")
	if err := os.WriteFile(dst, body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.Now = func() time.Time { return testNow }
	return st
}

// homeKey is the household's electricity meter.
const homeKey = "https://utility.example/espi/1_1/resource/UsagePoint/1"

// buildStore creates a real store at path with what a household with solar,
// a bank and a DataHub supplier account would have after a few months.
func buildStore(t testing.TB, path string, extraMeters int) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return testNow }
	srcs := []store.Source{
		{Name: "home-utility", Kind: "greenbutton", Enabled: true, Config: map[string]string{
			"base_url": "https://utility.example/DataCustodian/espi/1_1/resource", "token_url": "https://utility.example/oauth/token",
			"client_id": "third-party-7", "bulk_ids": `["1"]`, "secret_expires": "2024-06-10"}},
		{Name: "my-bank", Kind: "obevents", Enabled: true, Config: map[string]string{
			"base_url": "https://bank.example/open-banking/v3.1", "token_url": "https://bank.example/token", "client_id": "tpp-1",
			"jwks_url": "https://bank.example/jwks", "issuer": "https://bank.example", "audience": "tpp-1"}},
		{Name: "datahub", Kind: "datahub", Enabled: true, Config: map[string]string{
			"base_url": "https://api.datahub.example", "token_url": "https://login.example/token", "client_id": "dh-app",
			"scope": "dh-app/.default"}},
	}
	for i := range srcs {
		if err := st.AddSource(ctx, &srcs[i]); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	home := store.Meter{Key: homeKey, SourceID: srcs[0].ID, Name: "Home · 12 Elm St",
		Commodity: "electricity", TimeZone: "America/Los_Angeles"}
	gas := store.Meter{Key: "https://utility.example/espi/1_1/resource/UsagePoint/2", SourceID: srcs[0].ID, Name: "Home gas",
		Commodity: "gas", TimeZone: "America/Los_Angeles"}
	for _, m := range []*store.Meter{&home, &gas} {
		if err := tx.UpsertMeter(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < extraMeters; i++ {
		m := store.Meter{Key: fmt.Sprintf("5713131%011d", i), Name: fmt.Sprintf("Site %03d", i), Commodity: "electricity", TimeZone: "Europe/Copenhagen"}
		if err := tx.UpsertMeter(&m); err != nil {
			t.Fatal(err)
		}
	}
	imp := store.Series{MeterID: home.ID, Key: "MeterReading/1", Commodity: "electricity", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 900, Currency: "USD"}
	exp := store.Series{MeterID: home.ID, Key: "MeterReading/2", Commodity: "electricity", Flow: "reverse", Unit: "Wh", Kind: "energy", Seconds: 900}
	therm := store.Series{MeterID: gas.ID, Key: "MeterReading/3", Commodity: "gas", Flow: "forward", Unit: "therm", Kind: "energy", Seconds: 86400}
	for _, s := range []*store.Series{&imp, &exp, &therm} {
		if err := tx.UpsertSeries(s); err != nil {
			t.Fatal(err)
		}
	}
	la, _ := time.LoadLocation("America/Los_Angeles")
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, la).Unix()
	end := time.Date(2024, 6, 3, 0, 0, 0, 0, la).Unix()
	var ri, re, rg []store.Reading
	for t0 := start; t0 < end; t0 += 900 {
		lt := time.Unix(t0, 0).In(la)
		h := float64(lt.Hour()) + float64(lt.Minute())/60
		day := float64(lt.YearDay())
		use := 120 + 180*math.Max(0, math.Sin((h-16)/8*math.Pi)) + 60*math.Max(0, math.Sin((h-6)/4*math.Pi))
		if lt.Minute() == 15 && lt.Hour() == 18 && lt.Weekday() == time.Sunday {
			use = 1400 // the oven
		}
		sun := math.Max(0, math.Sin((h-6.5)/13*math.Pi)) * (500 + 150*math.Sin(day/20))
		r := store.Reading{Start: t0, Seconds: 900, Value: math.Round(use), Cost: math.Round(use*0.032) / 100, HasCost: true}
		if t0 >= time.Date(2024, 4, 20, 0, 0, 0, 0, la).Unix() && t0 < time.Date(2024, 4, 21, 12, 0, 0, 0, la).Unix() {
			r.Missing = true // an outage: missing, never 0
		}
		ri = append(ri, r)
		re = append(re, store.Reading{Start: t0, Seconds: 900, Value: math.Round(sun)})
		if lt.Hour() == 0 && lt.Minute() == 0 {
			rg = append(rg, store.Reading{Start: t0, Seconds: 86400, Value: math.Round((2.5+1.5*math.Cos(day/30))*100) / 100})
		}
	}
	for _, x := range []struct {
		id int64
		rs []store.Reading
	}{{imp.ID, ri}, {exp.ID, re}, {therm.ID, rg}} {
		if err := tx.PutReadings(x.id, x.rs); err != nil {
			t.Fatal(err)
		}
	}
	f := func(v float64) *float64 { return &v }
	for i, month := range []time.Month{3, 4, 5} {
		ps := time.Date(2024, month, 1, 0, 0, 0, 0, la)
		u := store.UsageSummary{MeterID: home.ID, Key: "UsageSummary/1", PeriodStart: ps.Unix(),
			PeriodSeconds: ps.AddDate(0, 1, 0).Unix() - ps.Unix(), BillLastPeriod: f(98.4 + 7.1*float64(i)), Currency: "USD",
			Items: []store.LineItem{
				{Note: "Energy charge", ItemKind: "energy", Measurement: f(612 + 40*float64(i)), Unit: "kWh", Amount: f(84.2 + 6*float64(i))},
				{Note: "Net metering credit", ItemKind: "credit", Measurement: f(210), Unit: "kWh", Amount: f(-12.6)},
				{Note: "Customer charge", Amount: f(10)},
				{Note: "State tax", Amount: f(16.8 + 1.1*float64(i))},
			}}
		if err := tx.PutSummary(&u); err != nil {
			t.Fatal(err)
		}
	}
	received := testNow.Add(-3 * time.Hour)
	for i, e := range []store.Event{
		{ISS: "https://bank.example", JTI: "b7e1-0001", AUD: "tpp-1", Types: []string{"urn:uk:org:openbanking:events:resource-update"},
			Subject: `{"subject_type":"http://openbanking.org.uk/rid_http://openbanking.org.uk/rty","http://openbanking.org.uk/rid":"acc-22289","http://openbanking.org.uk/rty":"account","http://openbanking.org.uk/rlk":[{"version":"v3.1","link":"https://bank.example/open-banking/v3.1/aisp/accounts/acc-22289"}]}`,
			RID:     "acc-22289", RTY: "account", TXN: "txn-77", TOE: received.Add(-time.Minute), IAT: received, Verified: true},
		{ISS: "https://bank.example", JTI: "b7e1-0002", AUD: "tpp-1", Types: []string{"urn:uk:org:openbanking:events:consent-authorization-revoked"},
			Subject: `{"subject_type":"http://openbanking.org.uk/rid_http://openbanking.org.uk/rty","http://openbanking.org.uk/rid":"aac-991","http://openbanking.org.uk/rty":"account-access-consent"}`,
			RID:     "aac-991", RTY: "account-access-consent", TOE: received.Add(-2 * time.Hour), IAT: received, Verified: true},
		{ISS: "https://evil.example", JTI: "x-0003", AUD: "tpp-1", Types: []string{"urn:uk:org:openbanking:events:resource-update"},
			Subject: `{"http://openbanking.org.uk/rid":"acc-1"}`, RID: "acc-1", RTY: "account", TOE: received.Add(-3 * time.Hour),
			Verified: false, Error: "signature: no key with kid \"k9\" in the bank's JWKS"},
	} {
		e.SourceID, e.Token = srcs[1].ID, "eyJhbGciOiJQUzI1NiJ9.e30.sig"
		e.Received = received.Add(-time.Duration(i) * time.Minute)
		if _, err := tx.PutEvent(&e); err != nil {
			t.Fatal(err)
		}
	}
	for i, msg := range []store.Message{
		{MessageID: "msg-0001", Type: "NotifyValidatedMeasureData_MarketDocument", Correlation: "", Sender: "5790001330583",
			Receiver: "5790000000005", BusinessReason: "E23", Readings: 720, Attrs: map[string]string{"meteringPoint": "571313180000000001"}},
		{MessageID: "msg-0002", Type: "NotifyAggregatedMeasureData_MarketDocument", Sender: "5790001330583", Receiver: "5790000000005",
			BusinessReason: "D03", Readings: 96},
		{MessageID: "msg-0003", Type: "RejectRequestValidatedMeasureData_MarketDocument", Correlation: "corr-earlier",
			Reasons: []store.Reason{{Code: "E0H", Text: "No data available for the period"}}},
	} {
		msg.SourceID = srcs[2].ID
		msg.Created = received.Add(-time.Duration(i+1) * time.Hour)
		msg.Received = received.Add(-time.Duration(i) * time.Minute)
		if err := tx.PutMessage(&msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for i, src := range srcs {
		id, err := st.StartRun(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		run := store.SyncRun{ID: id, Status: "ok", Items: int64(3 + i), Readings: int64(2880 / (i + 1))}
		if i == 1 {
			run.Status, run.ErrorKind, run.Error = "failed", "auth", "token endpoint said invalid_client"
		}
		if err := st.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// fakeEngine is the engine as the UI sees it, with fixed statuses; it records what it is asked.
type fakeEngine struct {
	mu       sync.Mutex
	statuses []engine.Status
	synced   []string
	reloads  int
	tested   []string
	// unregistered are the sources Unregister was asked for.
	unregistered []string
	ch           chan engine.Status
}

// Unregister answers as the obevents driver does for a source with a subscription.
func (e *fakeEngine) Unregister(_ context.Context, source string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unregistered = append(e.unregistered, source)
	if source == "my-bank" {
		return "deleted the event subscription ES-001 at the bank", nil
	}
	return "", nil
}

func newFakeEngine() *fakeEngine {
	last := testNow.Add(-42 * time.Minute)
	return &fakeEngine{ch: make(chan engine.Status, 16), statuses: []engine.Status{
		{Source: "home-utility", Kind: "greenbutton", State: engine.StateSyncing, LastSuccess: last, LastRun: last,
			Progress:   engine.Progress{Done: 3, Total: 8, Message: "GET Batch/Bulk/1 (3 of 8 usage points)"},
			LastResult: engine.Result{Items: 2, Readings: 5760, Note: "2 payloads, 5760 readings"}, NextRun: testNow.Add(5*time.Hour + 18*time.Minute)},
		{Source: "my-bank", Kind: "obevents", State: engine.StateAttention, LastRun: testNow.Add(-5 * time.Minute),
			LastError: "token endpoint: 401 invalid_client", ErrorKind: syncerr.Auth, Failures: 4,
			Advice: "The bank refused the client credentials. Check the client id and enter the client secret again under Sources > Edit."},
		{Source: "datahub", Kind: "datahub", State: engine.StateIdle, LastSuccess: testNow.Add(-9 * time.Minute), LastRun: testNow.Add(-9 * time.Minute),
			LastResult: engine.Result{Items: 3, Readings: 816, Note: "3 documents"}, NextRun: testNow.Add(6 * time.Minute)},
	}}
}

// publish changes a source's status as the engine would before announcing it.
func (e *fakeEngine) publish(st engine.Status) engine.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.statuses {
		if e.statuses[i].Source == st.Source {
			e.statuses[i] = st
		}
	}
	return st
}

func (e *fakeEngine) Subscribe() (<-chan engine.Status, func()) { return e.ch, func() {} }
func (e *fakeEngine) Statuses() []engine.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.Status(nil), e.statuses...)
}
func (e *fakeEngine) SyncNow(source string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.synced = append(e.synced, source)
}
func (e *fakeEngine) Reload(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reloads++
	return nil
}
func (e *fakeEngine) Test(_ context.Context, source string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tested = append(e.tested, source)
	if source == "my-bank" {
		return "", errors.New("the bank's token endpoint refused the client id and secret (401 invalid_client)")
	}
	return "signed in and read Batch/Bulk/1 (3 usage points)", nil
}

// fakeSecrets is a keyring in memory.
type fakeSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *fakeSecrets) SetSecret(source, field, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[source+"/"+field] = value
	return nil
}

func (s *fakeSecrets) ReplaceSecrets(source string, values map[string]string) error {
	for field, value := range values {
		if err := s.SetSecret(source, field, value); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeSecrets) DeleteSecret(source, field string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, source+"/"+field)
	return nil
}

// fakeImporter records the files it is given and reports progress through each.
type fakeImporter struct {
	mu    sync.Mutex
	paths []string
}

func (f *fakeImporter) Import(_ context.Context, path string, progress func(read, size int64)) (fileimport.Summary, error) {
	f.mu.Lock()
	f.paths = append(f.paths, path)
	f.mu.Unlock()
	if strings.HasSuffix(path, ".txt") {
		return fileimport.Summary{File: path}, fileimport.ErrUnknownFormat
	}
	for i := int64(0); i <= 4; i++ {
		progress(i<<20, 4<<20)
	}
	return fileimport.Summary{File: path, Format: "espi", Meters: 1, Series: 2, Readings: 70080,
		From: time.Date(2023, 1, 1, 8, 0, 0, 0, time.UTC), To: time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)}, nil
}

// storeExporter writes a CSV of the store's readings, as app's exporter does.
type storeExporter struct{ st *store.Store }

func (e storeExporter) ExportCSV(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency")
	return e.st.ExportReadings(ctx, store.ExportFilter{}, func(r store.ExportRow) error {
		_, err := fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%d,%g,,,\n", r.Meter, r.Series, r.Commodity, r.Flow, r.Unit,
			time.Unix(r.Reading.Start, 0).UTC().Format(time.RFC3339), r.Reading.Seconds, r.Reading.Value)
		return err
	})
}

// fakeDataHub accepts requests and returns a correlation id.
type fakeDataHub struct {
	mu   sync.Mutex
	reqs []DataHubRequest
}

func (d *fakeDataHub) RequestMeasureData(_ context.Context, source string, req DataHubRequest) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reqs = append(d.reqs, req)
	id := req.MeteringPoint + req.GridArea
	return "corr-" + id[max(0, len(id)-4):], nil
}

// validate checks a source the way `custody sources add` does, for the kinds' required
// settings and https URLs (the real one, app.SourceFromFlags, is wired by package app).
// testKinds are the real drivers' descriptions, as app gives them to the UI.
func testKinds() []settings.Kind {
	return []settings.Kind{datahub.NewDriver().Describe(), espi.NewDriver().Describe(), obevents.NewDriver().Describe()}
}

// harness is a main window over a filled store with fakes for everything else.
type harness struct {
	m       *MainWindow
	st      *store.Store
	eng     *fakeEngine
	secrets *fakeSecrets
	imp     *fakeImporter
	dh      *fakeDataHub
	app     fyne.App
}

func newHarness(t *testing.T, extraMeters int) *harness {
	t.Helper()
	a := test.NewTempApp(t)
	a.Preferences().SetString(prefUsageMeter, homeKey)
	h := &harness{st: fillStore(t, extraMeters), eng: newFakeEngine(), secrets: &fakeSecrets{}, imp: &fakeImporter{}, dh: &fakeDataHub{}, app: a}
	h.m = NewMainWindow(a, Deps{
		Data: h.st, Editor: h.st, Engine: h.eng, Secrets: h.secrets, Kinds: testKinds(),
		Import: h.imp, Export: storeExporter{h.st}, DataHub: h.dh,
		DBPath: "/home/user/.config/fyne/custody/custody.db", Now: func() time.Time { return testNow },
		applyQueue: make(chan queued, 256),
	})
	t.Cleanup(func() { h.m.cancel(); h.m.Window.Close() })
	h.m.Window.Resize(fyne.NewSize(1100, 720))
	h.m.Wait()
	return h
}

func (h *harness) show(name string) {
	h.m.Show(name)
	h.m.Wait()
}

func (h *harness) capture(t *testing.T, name string) {
	t.Helper()
	test.AssertImageMatches(t, name, h.m.Window.Canvas().Capture())
}

// Export writes the readings the request selects as CSV-like lines, so that tests see what
// was selected.
func (e storeExporter) Export(ctx context.Context, w io.Writer, req ExportRequest) error {
	fmt.Fprintf(w, "format=%s\n", req.Format)
	return e.st.ExportReadings(ctx, store.ExportFilter{From: req.From, To: req.To, Meter: req.Meter, Series: req.Series}, func(r store.ExportRow) error {
		_, err := fmt.Fprintf(w, "%s,%s,%d\n", r.Meter, r.Series, r.Reading.Start)
		return err
	})
}
