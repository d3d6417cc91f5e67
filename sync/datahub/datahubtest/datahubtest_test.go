package datahubtest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/datahub/datahubtest"
	"custody/sync/datahub/internal/schematest"
	"custody/sync/engine"
	"custody/sync/internal/testkit"
	"custody/sync/simtls"
)

// keyring is the shared in-memory keyring.
type keyring = testkit.Secrets

func setup(t *testing.T, opts datahubtest.Options, format string) (*datahubtest.Server, *store.Store, *engine.Job) {
	t.Helper()
	pki, err := simtls.New("t")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := datahubtest.Start(pki, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	files, _ := pki.WriteFiles(t.TempDir())
	src, secret := sim.DemoSource("dh", files)
	src.Config["format"] = format
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	return sim, st, &engine.Job{Source: src, Store: st, Secrets: keyring{"dh/client_secret": secret},
		Logger: slog.New(slog.DiscardHandler), Progress: func(engine.Progress) {}}
}

func TestDocumentsOverTimeAndDelayedAnswers(t *testing.T) {
	clk := testkit.NewClock(time.Date(2025, 4, 2, 6, 0, 0, 0, time.UTC))
	_, st, job := setup(t, datahubtest.Options{Every: time.Hour, AnswerDelay: 10 * time.Minute, Now: clk.Now,
		TokenLifetime: 1000 * time.Hour}, "xml")
	drv := datahub.NewDriver()
	drv.Now = clk.Now
	ctx := context.Background()
	sync := func(want int64) engine.Result {
		t.Helper()
		res, err := drv.Sync(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		if res.Items != want {
			t.Fatalf("%d documents, want %d", res.Items, want)
		}
		return res
	}
	sync(0)
	clk.Add(3 * time.Hour)
	// Three Danish days back from 2 April 2025: 1 April, 31 March and the 23-hour 30 March.
	if res := sync(3); res.Readings != 24+24+23 {
		t.Errorf("readings %d", res.Readings)
	}

	// A request: accepted now, answered ten minutes later, linked by its Series mRID.
	c, _, err := drv.Client(job)
	if err != nil {
		t.Fatal(err)
	}
	req := datahub.Request{Kind: datahub.RequestValidated, Sender: "5790002606892", SenderRole: "DDQ",
		Start: time.Date(2025, 3, 1, 0, 0, 0, 0, datahub.Copenhagen), End: time.Date(2025, 3, 3, 0, 0, 0, 0, datahub.Copenhagen),
		MeteringPoint: "571313100000001239"}
	body, err := req.Build("xml")
	if err != nil {
		t.Fatal(err)
	}
	rec := store.DataHubRequest{SourceID: job.Source.ID, MessageID: req.MessageID, SeriesID: req.SeriesID, Kind: req.Kind}
	if err := st.AddDataHubRequest(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	corr, status, err := c.Send(ctx, req.Path(), body)
	if err != nil || status != 202 || len(corr) != 36 {
		t.Fatalf("send: %q %d %v", corr, status, err)
	}
	st.SetDataHubRequestOutcome(ctx, rec.ID, store.RequestAccepted, status, corr, "")
	// Sending the same document again is refused as a duplicate id (00101).
	if _, status, err := c.Send(ctx, req.Path(), body); status != 400 || err == nil || !bytes.Contains([]byte(err.Error()), []byte("00101")) {
		t.Errorf("duplicate: %d %v", status, err)
	}
	sync(0)
	clk.Add(10 * time.Minute)
	sync(1)
	ms, _ := st.Messages(ctx, store.MessageFilter{Correlation: corr})
	if len(ms) != 1 || ms[0].Attrs["request"] != req.MessageID || ms[0].Readings != 48 { // 1–3 March: 2 × 24 hours
		t.Fatalf("answer %+v", ms)
	}
	reqs, _ := st.DataHubRequests(ctx, "dh")
	if len(reqs) != 1 || reqs[0].Status != store.RequestAnswered || reqs[0].Answer != ms[0].MessageID {
		t.Errorf("request record %+v", reqs)
	}
}

func TestBundleKeepsItsFirstFormat(t *testing.T) {
	sim, _, job := setup(t, datahubtest.Options{Generate: 1}, "xml")
	drv := datahub.NewDriver()
	ctx := context.Background()
	cx, _, err := drv.Client(job)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cx.Peek(ctx, "timeseries")
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	first, _ := io.ReadAll(p.Body)
	p.Body.Close()
	// The same bundle asked for as JSON: the header says JSON, the body is the stored XML.
	job.Source.Config["format"] = "json"
	cj, _, _ := drv.Client(job)
	p, err = cj.Peek(ctx, "timeseries")
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	again, _ := io.ReadAll(p.Body)
	p.Body.Close()
	if !bytes.Equal(first, again) || p.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("second peek: %s, %.40q", p.Header.Get("Content-Type"), again)
	}
	// The driver sniffs the body, so the switch is harmless.
	res, err := drv.Sync(ctx, job)
	if err != nil || res.Items != 1 || res.Readings != 24 {
		t.Errorf("sync after a format switch: %+v %v", res, err)
	}
	if len(sim.Waiting("timeseries")) != 0 {
		t.Error("not dequeued")
	}
}

func TestNoMessageIDHeaderFallsBackToTheDocumentMRID(t *testing.T) {
	sim, _, job := setup(t, datahubtest.Options{Generate: 1}, "json")
	id := sim.Waiting("timeseries")[0]
	sim.Inject(datahubtest.Faults{NoMessageID: 1})
	res, err := datahub.NewDriver().Sync(context.Background(), job)
	if err != nil || res.Items != 1 || sim.Dequeues(id) != 1 {
		t.Errorf("%+v %v dequeues %d", res, err, sim.Dequeues(id))
	}
}

func TestTokenServerErrorIsAServerFailure(t *testing.T) {
	sim, _, job := setup(t, datahubtest.Options{Generate: 1}, "xml")
	sim.Inject(datahubtest.Faults{TokenErrors: 1})
	_, err := datahub.NewDriver().Sync(context.Background(), job)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("500")) {
		t.Errorf("token 500: %v", err)
	}
	if _, err := datahub.NewDriver().Sync(context.Background(), job); err != nil {
		t.Errorf("after the fault: %v", err)
	}
}

// TestSimulatorOutputIsValidCIM checks every kind of document the simulator writes, in both
// formats, against Energinet's outgoing schemas (the datahub package's testdata).
func TestSimulatorOutputIsValidCIM(t *testing.T) {
	schemas := map[string]struct{ xsd, json string }{
		"NotifyValidatedMeasureData_MarketDocument":         {"urn-ediel-org-measure-notifyvalidatedmeasuredata-0-1.xsd", "Notify-Validated-measure-data-assembly-model.schema.json"},
		"NotifyAggregatedMeasureData_MarketDocument":        {"urn-ediel-org-measure-notifyaggregatedmeasuredata-0-1.xsd", "Notify-Aggregated-Measure-Data-assembly-model.schema.json"},
		"RejectRequestAggregatedMeasureData_MarketDocument": {"urn-ediel-org-measure-rejectrequestaggregatedmeasuredata-0-1.xsd", "Reject-request-aggregated-measure-data-assembly-model.schema.json"},
		"RejectRequestValidatedMeasureData_MarketDocument":  {"urn-ediel-org-measure-rejectrequestvalidatedmeasuredata-0-1.xsd", "Reject-request-validated-measure-data-assembly-model.schema.json"},
		"RejectRequestWholesaleSettlement_MarketDocument":   {"urn-ediel-org-measure-rejectrequestwholesalesettlement-0-1.xsd", "Reject-request-wholesale-settlement-assembly-model.schema.json"},
		"NotifyWholesaleServices_MarketDocument":            {"urn-ediel-org-measure-notifywholesaleservices-0-1.xsd", "Notify-wholesale-services-assembly-model.schema.json"},
	}
	js, err := schematest.LoadJSON("../testdata/schemas/json")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"xml", "json"} {
		t.Run(format, func(t *testing.T) {
			_, _, job := setup(t, datahubtest.Options{Generate: 3, Results: true}, format)
			ctx := context.Background()
			c, _, err := datahub.NewDriver().Client(job)
			if err != nil {
				t.Fatal(err)
			}
			from, to := time.Date(2025, 3, 1, 0, 0, 0, 0, datahub.Copenhagen), time.Date(2025, 3, 2, 0, 0, 0, 0, datahub.Copenhagen)
			for _, r := range []datahub.Request{
				{Kind: datahub.RequestValidated, MeteringPoint: "571313100000001239"},
				{Kind: datahub.RequestValidated, MeteringPoint: "123456789012345678"}, // unknown: E10
				{Kind: datahub.RequestAggregated, GridArea: "804", EnergySupplier: "5790002606892"},
				{Kind: datahub.RequestAggregated}, // no grid area: D64
				{Kind: datahub.RequestWholesale},  // E0H
				{Kind: datahub.RequestWholesale, GridArea: "804", ProcessType: "D32", SettlementVersion: "D02"},
				{Kind: datahub.RequestAggregated, GridArea: "804", ProcessType: "D32", SettlementVersion: "D01"},
			} {
				r.Sender, r.SenderRole, r.Start, r.End = "5790002606892", "DDQ", from, to
				body, err := r.Build(format)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Send(ctx, r.Path(), body); err != nil {
					t.Fatal(err)
				}
			}
			seen := map[string]int{}
			for _, q := range []string{"timeseries", "aggregations"} {
				for {
					p, err := c.Peek(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if p == nil {
						break
					}
					body, _ := io.ReadAll(p.Body)
					p.Body.Close()
					d, err := datahub.Parse(map[string]string{"xml": datahub.FormatXML, "json": datahub.FormatJSON}[format], bytes.NewReader(body))
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					s, ok := schemas[d.Root]
					if !ok {
						t.Fatalf("no schema listed for %s", d.Root)
					}
					if format == "xml" {
						err = schematest.ValidateXML(t, filepath.Join("../testdata/schemas/xsd", s.xsd), body)
					} else {
						err = js.Validate(s.json, body)
					}
					if err != nil {
						t.Errorf("%s: %v\n%s", d.Root, err, body)
					}
					seen[d.Root]++
					if err := c.Dequeue(ctx, p.MessageID); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The results at start: one RSM-014 (D04) and three RSM-019 (D05, D32 D01, D02).
			if len(seen) != 6 || seen["NotifyValidatedMeasureData_MarketDocument"] != 4 || seen["NotifyWholesaleServices_MarketDocument"] != 4 ||
				seen["NotifyAggregatedMeasureData_MarketDocument"] != 3 {
				t.Errorf("documents seen: %v", seen)
			}
		})
	}
}
