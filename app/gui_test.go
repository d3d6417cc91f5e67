package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/datahub"
	"custody/sync/datahub/datahubtest"
	"custody/sync/settings"
	"custody/sync/simtls"
	"custody/ui"
)

// TestGUIImportAndExport drives the importer and exporter the GUI is wired with: a file the
// user drops is imported like `custody import` does it, and the save dialog gets the CSV of
// `custody export`.
func TestGUIImportAndExport(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gui.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := &Env{Secrets: secrets.NewMemory(), Formats: fileFormats()}
	env.Drivers = drivers(env) // the form is made from their descriptions
	deps := guiDeps(env, st, guiOptions{DBPath: st.Path()})
	if deps.SecretField != SecretField || len(deps.Kinds) != 4 || deps.Editor == nil || deps.Secrets == nil {
		t.Fatalf("deps not wired: %+v", deps)
	}
	var lastRead, lastSize int64
	sum, err := deps.Import.Import(ctx, espiFixture("sdk-gas-monthly-therm.xml"), func(read, size int64) { lastRead, lastSize = read, size })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Format != "espi" || sum.Readings != 13 {
		t.Fatalf("summary: %+v", sum)
	}
	if lastRead > lastSize {
		t.Fatalf("progress read %d of %d", lastRead, lastSize)
	}
	again, err := deps.Import.Import(ctx, espiFixture("sdk-gas-monthly-therm.xml"), func(int64, int64) {})
	if err != nil || !again.Unchanged {
		t.Fatalf("second import: %+v, %v", again, err)
	}
	var buf bytes.Buffer
	if err := deps.Export.ExportCSV(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != strings.Join(CSVHeader, ",") || len(lines) != 14 {
		t.Fatalf("export: %d lines, header %q", len(lines), lines[0])
	}
	// The form's validation is the CLI's: an http URL is refused in plain words.
	var gb settings.Kind
	for _, k := range deps.Kinds {
		if k.Name == "greenbutton" {
			gb = k
		}
	}
	_, err = settings.Build(gb, "x", settings.Values{"base-url": {"http://a.example"}, "token-url": {"https://a.example/t"}, "client-id": {"c"}})
	if err == nil || !strings.Contains(err.Error(), "only https is allowed") {
		t.Fatalf("validation: %v", err)
	}
}

// TestGUIDataHubRequest sends the Messages view's request to the DataHub simulator over TLS and
// finds the answer by the correlation id the view waits for, after the next sync.
func TestGUIDataHubRequest(t *testing.T) {
	ctx := context.Background()
	pki, err := simtls.New("custody-gui")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := datahubtest.Start(pki, "", datahubtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gui.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mem := secrets.NewMemory()
	env := &Env{Secrets: mem, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	env.Drivers = drivers(env)
	src := store.Source{Name: "dh", Kind: "datahub", Enabled: true, Config: map[string]string{
		datahub.CfgBaseURL: sim.URL(), datahub.CfgTokenURL: sim.TokenURL(), datahub.CfgClientID: sim.ClientID(), datahub.CfgScope: sim.Scope(), datahub.CfgCA: files.CA}}
	src.SetList(datahub.CfgQueues, []string{"timeseries"})
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if err := mem.SetSecret("dh", SecretField, sim.ClientSecret()); err != nil {
		t.Fatal(err)
	}
	dk := datahub.Copenhagen
	req := ui.DataHubRequest{MeteringPoint: "571313100000001239", BusinessReason: "E23", Sender: "5799999933318", Role: "DDQ",
		From: time.Date(2025, 3, 1, 0, 0, 0, 0, dk), To: time.Date(2025, 3, 2, 0, 0, 0, 0, dk)}
	g := guiDataHub{env: env, st: st}
	corr, err := g.RequestMeasureData(ctx, "dh", req)
	if err != nil {
		t.Fatal(err)
	}
	got := sim.Requests()
	if len(got) != 1 || got[0].Root != "RequestValidatedMeasureData_MarketDocument" || corr == "" {
		t.Fatalf("simulator received %+v, correlation %q", got, corr)
	}
	if _, err := env.Drivers["datahub"].Sync(ctx, env.job(st, src, nil)); err != nil {
		t.Fatal(err)
	}
	answers, err := st.Messages(ctx, store.MessageFilter{Correlation: corr})
	if err != nil || len(answers) == 0 {
		t.Fatalf("no message with correlation %s after the sync (%v)", corr, err)
	}

	// The form's other requests: a grid area's wholesale settlement, second correction.
	ws := ui.DataHubRequest{Kind: "wholesale", GridArea: "804", BusinessReason: "D32", SettlementVersion: "D02", Sender: "5799999933318",
		Role: "DDQ", From: req.From, To: req.To}
	if _, err := g.RequestMeasureData(ctx, "dh", ws); err != nil {
		t.Fatal(err)
	}
	if got := sim.Requests(); len(got) != 2 || got[1].Root != "RequestWholesaleSettlement_MarketDocument" {
		t.Fatalf("simulator received %+v", got)
	}
	recs, err := st.DataHubRequests(ctx, "dh")
	if err != nil || len(recs) != 2 || recs[0].Kind != "wholesale" || recs[0].Detail["settlement_version"] != "D02" || recs[0].Detail["process"] != "D32" {
		t.Fatalf("recorded %+v %v", recs, err)
	}

	// Bad input is refused before anything is sent, in words the form can show.
	req.MeteringPoint = "123"
	if _, err := g.RequestMeasureData(ctx, "dh", req); err == nil || !strings.Contains(err.Error(), "18-digit GSRN") {
		t.Fatalf("bad metering point: %v", err)
	}
	if len(sim.Requests()) != 2 {
		t.Fatal("a bad request was sent")
	}
}
