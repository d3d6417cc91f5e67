package ui

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/sync/engine"
)

func TestUsageView(t *testing.T) {
	h := newHarness(t, 300)
	u := h.m.views[ViewUsage].(*usageView)
	if len(u.meters) != 302 {
		t.Fatalf("the picker lists %d meters, want 302", len(u.meters))
	}
	if u.meter.Name != "Home · 12 Elm St" {
		t.Fatalf("first meter shown: %q", u.meter.Name)
	}
	// Import and export are separate series, never summed.
	if got := u.checks.Selected; len(got) != 2 || !strings.HasPrefix(got[0], "Import · kWh") || !strings.HasPrefix(got[1], "Export · kWh") {
		t.Fatalf("series checked: %q", got)
	}
	h.capture(t, "usage_week.png")
	if s := u.chart.Series(); len(s) != 2 || s[0].Unit != "kWh" || s[0].Values[0] > 2 {
		t.Fatalf("chart series in kWh: %+v", s[0].Unit)
	}

	// A month, daily: sums per local day, and the bills with their line items.
	u.rng.SetSelected(RangeMonth)
	h.m.Wait()
	if u.res.Selected != ResDay {
		t.Fatalf("resolution for a month: %s", u.res.Selected)
	}
	s := u.chart.Series()[0]
	if len(s.Times) < 28 || len(s.Times) > 31 {
		t.Fatalf("a month of days has %d points", len(s.Times))
	}
	if len(u.cardData) == 0 || u.cardData[0].title != "Imported" || !strings.HasSuffix(u.cardData[0].value, "kWh") {
		t.Fatalf("cards: %+v", u.cardData)
	}
	if n := len(u.billRows); n != 15 {
		t.Fatalf("3 bills with 4 line items each make 15 rows, got %d", n)
	}
	h.capture(t, "usage_month.png")

	// Search narrows hundreds of meters down without switching the meter on the chart;
	// picking one from the list does.
	test.Type(u.search, "gas")
	h.m.Wait()
	if len(u.meters) != 1 || u.meter.Key != homeKey {
		t.Fatalf("search for gas: %d meters, showing %q", len(u.meters), u.meter.Name)
	}
	u.list.Select(0)
	h.m.Wait()
	if u.meter.Commodity != "gas" {
		t.Fatalf("picked from the search: showing %q", u.meter.Name)
	}
	if got := u.checks.Selected; len(got) != 1 || !strings.HasPrefix(got[0], "Import · therm") {
		t.Fatalf("gas series: %q", got)
	}

	// The period moves back with the back button.
	before := u.period.Text
	u.offset++
	u.loadChart(false)
	h.m.Wait()
	if u.period.Text == before {
		t.Fatal("going back a period did not change the period")
	}
}

func TestUsageWhSetting(t *testing.T) {
	h := newHarness(t, 0)
	h.m.settings.SetEnergyUnit("Wh")
	u := h.m.views[ViewUsage].(*usageView)
	u.selectMeter(u.meter)
	h.m.Wait()
	s := u.chart.Series()
	if s[0].Unit != "Wh" || s[0].Values[0] < 50 {
		t.Fatalf("in Wh: %s %v", s[0].Unit, s[0].Values[:3])
	}
}

func TestEventsView(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewEvents)
	v := h.m.views[ViewEvents].(*eventsView)
	if len(v.events) != 3 || v.count.Text != "3 events shown, 1 rejected" {
		t.Fatalf("events: %d, %q", len(v.events), v.count.Text)
	}
	if !strings.Contains(v.detail.Text, "https://bank.example/open-banking/v3.1/aisp/accounts/acc-22289 (version v3.1)") ||
		!strings.Contains(v.detail.Text, "Verification: signature and claims verified") {
		t.Fatalf("detail of the first event:\n%s", v.detail.Text)
	}
	h.capture(t, "events.png")

	v.status.SetSelected(verifiedBad)
	h.m.Wait()
	if len(v.events) != 1 || !strings.Contains(v.detail.Text, "REJECTED — signature: no key with kid") {
		t.Fatalf("rejected filter: %d events, detail:\n%s", len(v.events), v.detail.Text)
	}
	h.capture(t, "events_rejected.png")

	v.status.SetSelected(anyStatus)
	v.typ.SetSelected("urn:uk:org:openbanking:events:consent-authorization-revoked")
	h.m.Wait()
	if len(v.events) != 1 || v.events[0].RID != "aac-991" {
		t.Fatalf("type filter: %+v", v.events)
	}
}

func TestMessagesViewAndRequest(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewMessages)
	v := h.m.views[ViewMessages].(*messagesView)
	if len(v.msgs) != 3 || v.reqSource.Selected != "datahub" {
		t.Fatalf("messages: %d, source %q", len(v.msgs), v.reqSource.Selected)
	}
	h.capture(t, "messages.png")

	test.Type(v.reqPoint, "5713131")
	test.Tap(v.reqSend)
	if v.reqStatus.Text != "A metering point id is 18 digits." {
		t.Fatalf("validation: %q", v.reqStatus.Text)
	}
	v.reqPoint.SetText("571313180000000001")
	v.reqFrom.SetText("2024-05-01")
	v.reqTo.SetText("2024-06-01")
	test.Tap(v.reqSend)
	if !strings.HasPrefix(v.reqStatus.Text, "Give your GLN") {
		t.Fatalf("sender required: %q", v.reqStatus.Text)
	}
	v.reqSender.SetText("5790000000005")
	test.Tap(v.reqSend)
	h.m.Wait()
	if len(h.dh.reqs) != 1 || h.dh.reqs[0].BusinessReason != "E23" || h.dh.reqs[0].Sender != "5790000000005" ||
		h.dh.reqs[0].Role != "DDQ" || h.dh.reqs[0].From.Format(time.RFC3339) != "2024-05-01T00:00:00+02:00" || v.waiting != "corr-0001" {
		t.Fatalf("request: %+v, waiting %q", h.dh.reqs, v.waiting)
	}
	if !v.reqBar.Visible() || !strings.Contains(v.reqStatus.Text, "Waiting for the answer") || h.eng.synced[0] != "datahub" {
		t.Fatalf("waiting: bar %v, %q, synced %v", v.reqBar.Visible(), v.reqStatus.Text, h.eng.synced)
	}
	h.capture(t, "messages_waiting.png")

	// The answer arrives with the next sync; the engine's status brings the UI to look.
	tx, _ := h.st.Begin(context.Background())
	if err := tx.PutMessage(&store.Message{SourceID: 3, MessageID: "msg-0004", Type: "NotifyValidatedMeasureData_MarketDocument",
		Correlation: "corr-0001", Readings: 744}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	h.m.applyStatus(engine.Status{Source: "datahub", Kind: "datahub", State: engine.StateIdle})
	h.m.Wait()
	if v.waiting != "" || v.reqBar.Visible() || v.reqStatus.Text != "The answer arrived: NotifyValidatedMeasureData with 744 readings." {
		t.Fatalf("answer: waiting %q, %q", v.waiting, v.reqStatus.Text)
	}
}

func TestSourcesViewAddEditRemove(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewSources)
	v := h.m.views[ViewSources].(*sourcesView)
	if len(v.sources) != 3 || !strings.Contains(v.detail.Text, "Client secret: kept in the OS keyring (never shown)") {
		t.Fatalf("sources: %d\n%s", len(v.sources), v.detail.Text)
	}
	h.capture(t, "sources.png")

	f := v.newForm(store.Source{Kind: "greenbutton", Config: map[string]string{}}, true)
	f.dlg.Show()
	f.name.SetText("second-utility")
	f.field("base-url").(*widget.Entry).SetText("http://utility2.example/espi")
	f.field("token-url").(*widget.Entry).SetText("https://utility2.example/token")
	f.field("client-id").(*widget.Entry).SetText("tp-9")
	f.field("bulk-id").(*widget.Entry).SetText("4, 5")
	f.save()
	if !strings.Contains(f.errLbl.Text, "only https is allowed") {
		t.Fatalf("validation: %q", f.errLbl.Text)
	}
	f.field("base-url").(*widget.Entry).SetText("https://utility2.example/espi")
	f.save()
	if !strings.Contains(f.errLbl.Text, "give the client secret") {
		t.Fatalf("secret required: %q", f.errLbl.Text)
	}
	test.Type(f.secrets["client_secret"], "s3cr3t-value")
	h.capture(t, "sources_add.png")
	f.save()
	h.m.Wait()
	if f.errLbl.Text != "Saving…" && f.errLbl.Text != "" {
		t.Fatalf("save: %q", f.errLbl.Text)
	}
	if h.secrets.m["second-utility/client_secret"] != "s3cr3t-value" {
		t.Fatalf("the secret did not reach the keyring: %v", h.secrets.m)
	}
	if f.secrets["client_secret"].Text != "" {
		t.Fatal("the form kept the secret")
	}
	src, err := h.st.SourceByName(context.Background(), "second-utility")
	if err != nil || strings.Join(src.List("bulk_ids"), ",") != "4,5" {
		t.Fatalf("stored source: %+v, %v", src, err)
	}
	for _, val := range src.Config {
		if strings.Contains(val, "s3cr3t") {
			t.Fatal("the secret landed in the database")
		}
	}
	if h.eng.reloads != 1 {
		t.Fatalf("engine reloads: %d", h.eng.reloads)
	}

	// Test connection says what happened in plain words.
	for i, s := range v.sources {
		if s.Name == "my-bank" {
			v.list.Select(i)
		}
	}
	v.test()
	h.m.Wait()
	if !strings.HasPrefix(v.result.Text, "Test failed: my-bank could not connect: the bank's token endpoint refused") {
		t.Fatalf("test result: %q", v.result.Text)
	}
	// Disable, then remove: the secret goes from the keyring too.
	v.toggleEnabled()
	h.m.Wait()
	if s, _ := h.st.SourceByName(context.Background(), "my-bank"); s.Enabled {
		t.Fatal("disable did not stick")
	}
	h.secrets.SetSecret("my-bank", "client_secret", "x")
	h.secrets.SetSecret("my-bank", "signing_key", "PEM")
	h.secrets.SetSecret("my-bank", "signing_key_passphrase", "pw")
	bank, err := h.st.SourceByName(context.Background(), "my-bank")
	if err != nil {
		t.Fatal(err)
	}
	// The bank's subscription is deleted first, and the user is told.
	v.removeConfirmed(bank)
	h.m.Wait()
	if _, err := h.st.SourceByName(context.Background(), "my-bank"); err == nil {
		t.Fatal("not removed")
	}
	if !slices.Equal(h.eng.unregistered, []string{"my-bank"}) || v.result.Text != "Removed my-bank. Deleted the event subscription ES-001 at the bank." {
		t.Fatalf("unregistered %v, result %q", h.eng.unregistered, v.result.Text)
	}
	h.secrets.mu.Lock()
	defer h.secrets.mu.Unlock()
	for k := range h.secrets.m {
		if strings.HasPrefix(k, "my-bank/") {
			t.Fatalf("a secret of the removed source is left in the keyring: %s", k)
		}
	}
}

func TestActivityView(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewActivity)
	v := h.m.views[ViewActivity].(*activityView)
	if len(v.rows) != 3 || len(v.runs) != 3 {
		t.Fatalf("rows %d, runs %d", len(v.rows), len(v.runs))
	}
	bank := v.rows["my-bank"]
	if !bank.problem.Visible() || !strings.Contains(bank.problem.Text, "What to do: The bank refused the client credentials") {
		t.Fatalf("bank problem: %q", bank.problem.Text)
	}
	if util := v.rows["home-utility"]; !util.bar.Visible() || util.bar.Value != 3 || util.bar.Max != 8 {
		t.Fatalf("progress: %v %v/%v", util.bar.Visible(), util.bar.Value, util.bar.Max)
	}
	h.capture(t, "activity.png")

	// A finished sync updates the row live and reloads the history.
	h.m.applyStatus(h.eng.publish(engine.Status{Source: "home-utility", Kind: "greenbutton", State: engine.StateIdle,
		LastSuccess: testNow, LastResult: engine.Result{Items: 1, Readings: 96, Note: "1 payload, 96 readings"}, NextRun: testNow.Add(6 * 3600e9)}))
	h.m.Wait()
	if util := v.rows["home-utility"]; util.bar.Visible() || !strings.Contains(util.times.Text, "just now (1 payload, 96 readings)") {
		t.Fatalf("after sync: bar %v, %q", util.bar.Visible(), util.times.Text)
	}
	test.Tap(v.rows["datahub"].syncNow)
	if h.eng.synced[len(h.eng.synced)-1] != "datahub" {
		t.Fatalf("sync now: %v", h.eng.synced)
	}
}

func TestImportByDropAndExport(t *testing.T) {
	h := newHarness(t, 0)
	a, b := storage.NewFileURI("/data/usage-2023.xml"), storage.NewFileURI("/data/notes.txt")
	h.m.dropped(fyne.NewPos(10, 10), []fyne.URI{a, b})
	h.m.Wait()
	if len(h.imp.paths) != 2 || h.imp.paths[0] != "/data/usage-2023.xml" {
		t.Fatalf("imported: %v", h.imp.paths)
	}
	if h.m.progBox.Visible() {
		t.Fatal("the progress bar stayed after the import")
	}
	h.capture(t, "import_result.png")

	var buf closingBuffer
	h.m.ExportTo(&buf)
	h.m.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency" || len(lines) < 10000 || !buf.closed {
		t.Fatalf("export: %d lines, closed %v, first %q", len(lines), buf.closed, lines[0])
	}
	if !strings.HasPrefix(h.m.status.Text, "Exported ") {
		t.Fatalf("status: %q", h.m.status.Text)
	}
}

type closingBuffer struct {
	bytes.Buffer
	closed bool
}

func (c *closingBuffer) Close() error { c.closed = true; return nil }

func TestLastViewAndWindowSizeRemembered(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewMessages)
	h.m.Window.Resize(fyne.NewSize(900, 640))
	h.m.Close()
	again := NewMainWindow(h.app, Deps{Data: h.st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer again.cancel()
	again.Wait()
	if again.Current() != ViewMessages {
		t.Fatalf("view after restart: %s", again.Current())
	}
	if w, hh := again.settings.WindowSize(); w != 900 || hh != 640 {
		t.Fatalf("size after restart: %v×%v", w, hh)
	}
}

// TestCloseToTrayKeepsWorking closes the window with "close to tray" on: the window hides, and
// an engine status that arrives while it is in the tray is still applied to the views and still
// brings its desktop notification.
func TestCloseToTrayKeepsWorking(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewActivity)
	h.m.settings.SetCloseToTray(true)
	h.m.StartEngineUpdates()
	h.m.RequestClose(true)
	if h.m.ctx.Err() != nil {
		t.Fatal("hiding the window to the tray stopped its background work")
	}
	if h.m.Window.Canvas().Focused() != nil {
		t.Fatal("the window still has focus")
	}
	// applyNext applies the next status the engine-update goroutine hands to the UI.
	applyNext := func(st engine.Status) {
		h.eng.ch <- h.eng.publish(st)
		q := <-h.m.queue
		q.f()
		h.m.Wait()
	}
	base := h.eng.statuses[2] // the first status after start is old news: no notification
	applyNext(base)
	later := base
	later.LastSuccess, later.LastRun = testNow, testNow
	later.LastResult = engine.Result{Items: 1, Readings: 96, Note: "1 document, 96 readings"}
	test.AssertNotificationSent(t, fyne.NewNotification("New data from datahub", "1 document, 96 readings"), func() {
		applyNext(later)
	})
	v := h.m.views[ViewActivity].(*activityView)
	if got := v.rows["datahub"].times.Text; !strings.Contains(got, "just now (1 document, 96 readings)") {
		t.Fatalf("the status was not applied while in the tray: %q", got)
	}

	// Without a tray the same close quits: the window's work stops.
	h.m.RequestClose(false)
	if h.m.ctx.Err() == nil {
		t.Fatal("closing without a tray left the window's work running")
	}
}

func TestNotifications(t *testing.T) {
	h := newHarness(t, 0)
	n := h.m.notifier
	st := h.eng.statuses[2]
	n.status(st)
	later := st
	later.LastSuccess = testNow
	later.LastResult = engine.Result{Items: 1, Readings: 96, Note: "1 document, 96 readings"}
	test.AssertNotificationSent(t, fyne.NewNotification("New data from datahub", "1 document, 96 readings"), func() {
		if !n.status(later) {
			t.Error("new data was not reported")
		}
	})
	bad := later
	bad.State, bad.Advice = engine.StateAttention, "Enter the client secret again under Sources > Edit."
	test.AssertNotificationSent(t, fyne.NewNotification("datahub needs your attention", bad.Advice), func() { n.status(bad) })
	srcs, _ := h.st.Sources(context.Background())
	test.AssertNotificationSent(t, fyne.NewNotification("The client secret of home-utility expires soon",
		"It expires on 10 Jun 2024. Ask the custodian for a new one and enter it under Sources > Edit."), func() { n.credentials(srcs) })
	// Once is enough: the same reminder is not repeated within the hour.
	test.AssertNotificationSent(t, nil, func() { n.credentials(srcs) })
}

func TestSettingsDialog(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewSources) // the dialog offers each source's sync interval
	f := h.m.settingsForm()
	f.dlg.Show()
	if len(f.intervals) != 3 {
		t.Fatalf("interval entries: %d", len(f.intervals))
	}
	h.capture(t, "settings.png")
	f.unit.SetSelected("Wh")
	f.zone.SetSelected(ZoneUTC)
	f.th.SetSelected(ThemeLight)
	f.tray.SetChecked(true)
	f.intervals["datahub"].SetText("30m")
	f.dlg.Hide()
	f.save()
	h.m.Wait()
	s := h.m.settings
	if s.EnergyUnit() != "Wh" || s.TimeZone() != ZoneUTC || s.Theme() != ThemeLight || !s.CloseToTray() {
		t.Fatalf("settings not kept: %s %s %s %v", s.EnergyUnit(), s.TimeZone(), s.Theme(), s.CloseToTray())
	}
	if _, ok := h.app.Settings().Theme().(variantTheme); !ok {
		t.Fatal("the light theme was not applied")
	}
	src, err := h.st.SourceByName(context.Background(), "datahub")
	if err != nil || src.Config["interval"] != "30m" || h.eng.reloads != 1 {
		t.Fatalf("interval: %q, reloads %d, %v", src.Config["interval"], h.eng.reloads, err)
	}
	u := h.m.views[ViewUsage].(*usageView)
	if got := u.chart.Series(); len(got) == 0 || got[0].Unit != "Wh" {
		t.Fatalf("usage after the unit change: %+v", got)
	}
	h.show(ViewUsage)
	h.capture(t, "usage_light_wh_utc.png")
}

// TestShortcuts checks the keyboard shortcuts the Xvfb smoke test uses: Ctrl+1…5 switch views,
// Ctrl+R syncs every enabled source.
func TestShortcuts(t *testing.T) {
	h := newHarness(t, 0)
	// The test canvas does not dispatch shortcuts, so call what was registered for each key.
	for i, name := range Views {
		h.m.shortcuts[fyne.KeyName(fmt.Sprint(i+1))]()
		h.m.Wait()
		if h.m.Current() != name {
			t.Fatalf("Ctrl+%d shows %s, want %s", i+1, h.m.Current(), name)
		}
	}
	h.m.shortcuts[fyne.KeyR]()
	if len(h.eng.synced) != 3 {
		t.Fatalf("Ctrl+R synced %v", h.eng.synced)
	}
	if menu := h.m.Window.MainMenu(); menu == nil || len(menu.Items) != 4 || menu.Items[0].Items[0].Label != "Import files…" {
		t.Fatalf("main menu: %+v", menu)
	}
}

func TestMessagesRequestOfAGridArea(t *testing.T) {
	h := newHarness(t, 0)
	h.show(ViewMessages)
	v := h.m.views[ViewMessages].(*messagesView)
	v.reqKind.SetSelected(askWholesale)
	if !v.reqPoint.Disabled() || v.reqArea.Disabled() || v.reqReason.Selected != "D04 balance fixing" {
		t.Fatalf("wholesale form: point disabled %v, area disabled %v, reason %q", v.reqPoint.Disabled(), v.reqArea.Disabled(), v.reqReason.Selected)
	}
	v.reqArea.SetText("80")
	v.reqFrom.SetText("2025-03-01")
	v.reqTo.SetText("2025-03-02")
	v.reqSender.SetText("5790000000005")
	test.Tap(v.reqSend)
	if v.reqStatus.Text != "A grid area is 3 digits, such as 804." {
		t.Fatalf("validation: %q", v.reqStatus.Text)
	}
	v.reqArea.SetText("804")
	v.reqReason.SetSelected("D32 D02 second correction")
	test.Tap(v.reqSend)
	h.m.Wait()
	if len(h.dh.reqs) != 1 || h.dh.reqs[0].Kind != "wholesale" || h.dh.reqs[0].GridArea != "804" || h.dh.reqs[0].BusinessReason != "D32" ||
		h.dh.reqs[0].SettlementVersion != "D02" || h.dh.reqs[0].MeteringPoint != "" {
		t.Fatalf("request: %+v", h.dh.reqs)
	}
}
