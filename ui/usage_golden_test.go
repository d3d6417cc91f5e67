package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"custody/store"
)

// TestUsageGoldenThemesAndSizes draws the Usage view with bars, cards and a comparison in the
// light and dark themes at 800×600 and 1400×900. At 800×600 the meter list keeps its width.
func TestUsageGoldenThemesAndSizes(t *testing.T) {
	for _, th := range []string{ThemeLight, ThemeDark} {
		for _, size := range []fyne.Size{{Width: 800, Height: 600}, {Width: 1400, Height: 900}} {
			name := fmt.Sprintf("usage_%s_%.0fx%.0f.png", strings.ToLower(th), size.Width, size.Height)
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, 40)
				h.m.settings.SetTheme(th)
				h.m.settings.Apply(h.app)
				h.m.Window.Resize(size)
				u := h.m.views[ViewUsage].(*usageView)
				u.rng.SetSelected(RangeMonth)
				h.m.Wait()
				u.cmp.SetSelected(ComparePrevious)
				h.m.Wait()
				if w := u.left.Size().Width; w < meterListWidth {
					t.Errorf("the meter list is %.0f wide, want at least %d", w, meterListWidth)
				}
				h.capture(t, name)
				// The bills as a table and the monthly cost chart, in one theme and size each.
				switch {
				case th == ThemeLight && size.Width == 1400:
					u.tabs.SelectIndex(1)
					h.capture(t, "usage_bills_light_1400x900.png")
				case th == ThemeDark && size.Width == 800:
					u.tabs.SelectIndex(2)
					h.capture(t, "usage_costs_dark_800x600.png")
				}
			})
		}
	}
}

// TestUsageCompareOverlay: the previous period and a year earlier are overlaid as faint lines
// named for what they are, one legend entry each.
func TestUsageCompareOverlay(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	u.cmp.SetSelected(ComparePrevious)
	h.m.Wait()
	var faint []string
	names := map[string]int{}
	for _, s := range u.chart.Series() {
		names[s.Name]++
		if s.Faint {
			faint = append(faint, s.Name)
			if len(s.Times) == 0 {
				t.Errorf("%s has no points", s.Name)
			}
		}
	}
	if len(faint) != 2 || faint[0] != "Import, previous period" || faint[1] != "Export, previous period" {
		t.Fatalf("overlays %q", faint)
	}
	for n, c := range names {
		if c > 1 {
			t.Errorf("%d legend entries named %q", c, n)
		}
	}
	// The previous week's bars land on this week's days: every overlay point is in view.
	t0, t1 := u.chart.View()
	for _, s := range u.chart.Series() {
		if s.Faint && (s.Times[0] < t0 || s.Times[len(s.Times)-1] >= t1) {
			t.Errorf("%s spans %d..%d, outside the view %d..%d", s.Name, s.Times[0], s.Times[len(s.Times)-1], t0, t1)
		}
	}
	u.cmp.SetSelected(CompareYear) // the data holds no year before: nothing to overlay
	h.m.Wait()
	for _, s := range u.chart.Series() {
		if s.Faint && len(s.Times) > 0 {
			t.Errorf("a year earlier has %d points in a database that starts in March", len(s.Times))
		}
	}
	if g := u.cardData[0].changes[1]; g != "too little data a year earlier" {
		t.Errorf("import card's year change: %q", g)
	}
}

// TestUsageCardsFollowZoom: zooming into the chart sums only what is in view.
func TestUsageCardsFollowZoom(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	before := u.cardData[0].value
	t0, t1 := u.chart.View()
	u.chart.SetView(t0, t0+(t1-t0)/7) // one day of the week
	u.chart.OnViewChanged(u.chart.View())
	h.m.Wait()
	if u.cardData[0].value == before {
		t.Fatalf("the import card still says %q for a day", before)
	}
	if !strings.HasSuffix(u.cardData[0].changes[0], "vs previous") {
		t.Errorf("a zoomed day is compared with: %q", u.cardData[0].changes)
	}
}

// TestRenameMeter gives a meter a name in the UI: the list and the title show it, the store
// keeps it, and the meter stays on the chart.
func TestRenameMeter(t *testing.T) {
	h := newHarness(t, 3)
	u := h.m.views[ViewUsage].(*usageView)
	id := u.meter.ID
	u.rename(id, "Our house")
	h.m.Wait()
	if u.meter.ID != id || u.title.Text != "Our house" {
		t.Fatalf("after renaming: meter %d, title %q", u.meter.ID, u.title.Text)
	}
	found := false
	for _, ti := range u.titles {
		found = found || ti == "Our house"
	}
	if !found {
		t.Errorf("the list lacks the new name: %q", u.titles)
	}
	ms, err := h.st.Meters(context.Background(), store.MeterFilter{Search: "Our house"})
	if err != nil || len(ms) != 1 || ms[0].DisplayName != "Our house" {
		t.Fatalf("store: %+v %v", ms, err)
	}
}

// TestWelcomeOnEmptyDatabase: an empty database shows three ways to get data instead of an
// empty chart, and "Add a source…" goes to the Sources view.
func TestWelcomeOnEmptyDatabase(t *testing.T) {
	a := test.NewTempApp(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	opened := 0
	m := NewMainWindow(a, Deps{Data: st, Editor: st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256),
		OpenDemo: func() error { opened++; return nil }})
	defer m.cancel()
	m.Window.Resize(fyne.NewSize(800, 600))
	m.Wait()
	u := m.views[ViewUsage].(*usageView)
	if u.root.Objects[0] != u.welcome {
		t.Fatal("an empty database does not show the welcome")
	}
	test.AssertImageMatches(t, "usage_welcome.png", m.Window.Canvas().Capture())
	buttons := map[string]*widget.Button{}
	for _, o := range test.LaidOutObjects(u.welcome) {
		if b, ok := o.(*widget.Button); ok {
			buttons[b.Text] = b
		}
	}
	for _, want := range []string{"Open the demo", "Import files…", "Add a source…"} {
		if buttons[want] == nil {
			t.Fatalf("the welcome lacks %q: %v", want, buttons)
		}
	}
	test.Tap(buttons["Open the demo"])
	if opened != 1 {
		t.Errorf("Open the demo started %d demos", opened)
	}
	test.Tap(buttons["Add a source…"])
	m.Wait()
	if m.Current() != ViewSources {
		t.Errorf("Add a source shows %s", m.Current())
	}
}

// TestEmptyDatabaseOpensOnWelcome: with nothing in the database, the app opens on the Usage
// view's welcome whatever view was used last; with data, on the view used last.
func TestEmptyDatabaseOpensOnWelcome(t *testing.T) {
	a := test.NewTempApp(t)
	a.Preferences().SetString(prefLastView, ViewActivity)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := NewMainWindow(a, Deps{Data: st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer m.cancel()
	m.Wait()
	if m.Current() != ViewUsage {
		t.Errorf("an empty database opens on %s", m.Current())
	}
	h := newHarness(t, 0)
	h.m.Show(ViewActivity)
	h.m.Close()
	again := NewMainWindow(h.app, Deps{Data: h.st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer again.cancel()
	again.Wait()
	if again.Current() != ViewActivity {
		t.Errorf("a database with data opens on %s, want the view used last", again.Current())
	}
}

// TestExportFromUsage exports the meter's shown series over the period in view: only those
// rows reach the file, in the format chosen.
func TestExportFromUsage(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	u.checks.SetSelected(u.checks.Selected[:1]) // import only
	h.m.Wait()
	t0, _ := u.chart.View()
	u.chart.SetView(t0, t0+86400)
	req := u.exportRequest("Parquet", exportThisMeter, exportChecked, exportPeriodView)
	if req.Format != "parquet" || req.Meter != homeKey || len(req.Series) != 1 || req.Series[0] != "MeterReading/1" || req.From != t0 || req.To != t0+86400 {
		t.Fatalf("request %+v", req)
	}
	if name := u.exportFileName(req, ".parquet"); name != "custody-UsagePoint-1-"+time.Unix(t0, 0).UTC().Format("2006-01-02")+".parquet" {
		t.Errorf("file name %q", name)
	}
	var buf closingBuffer
	h.m.ExportRequestTo(&buf, req)
	h.m.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !buf.closed || lines[0] != "format=parquet" || len(lines) != 1+96 {
		t.Fatalf("closed %v, %d lines: %q", buf.closed, len(lines), lines[:min(3, len(lines))])
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, homeKey+",MeterReading/1,") {
			t.Fatalf("exported %q", l)
		}
	}
	all := u.exportRequest("CSV", exportAllMeters, exportChecked, exportPeriodWhole)
	if all.Meter != "" || all.Series != nil || all.From != 0 || all.To != 0 || all.Format != "csv" {
		t.Errorf("every meter, all time: %+v", all)
	}
}

// TestImportableFiles keeps the .xml and .json files of a folder, not its folders or others.
func TestImportableFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.xml", "b.JSON", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.xml"), 0o700); err != nil {
		t.Fatal(err)
	}
	lister, err := storage.ListerForURI(storage.NewFileURI(dir))
	if err != nil {
		t.Fatal(err)
	}
	items, err := lister.List()
	if err != nil {
		t.Fatal(err)
	}
	got := importable(items)
	slices.Sort(got)
	if want := []string{filepath.Join(dir, "a.xml"), filepath.Join(dir, "b.JSON")}; !slices.Equal(got, want) {
		t.Errorf("importable %q, want %q", got, want)
	}
}

// TestFirstStartShowsTheFullestMeter: with no meter chosen before, a household's meter with
// the most readings is shown first, not the first by name.
func TestFirstStartShowsTheFullestMeter(t *testing.T) {
	a := test.NewTempApp(t)
	m := NewMainWindow(a, Deps{Data: fillStore(t, 3), Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer m.cancel()
	m.Wait()
	if u := m.views[ViewUsage].(*usageView); u.meter.Key != homeKey {
		t.Errorf("first start shows %q, want the home meter", u.meter.Key)
	}
}

// TestSumOfListedMeters: an analyst sums the meters the search lists; import adds up with
// import of another meter (in a common unit), never with export or gas, and picking a meter
// from the list goes back to that one meter.
func TestSumOfListedMeters(t *testing.T) {
	h := newHarness(t, 3)
	addFlat(t, h.st)
	u := h.m.views[ViewUsage].(*usageView)
	u.reload()
	h.m.Wait()
	single := u.chart.Series()[0] // the home meter's import, hourly
	u.mode.SetSelected(MetersSum)
	h.m.Wait()
	var names []string
	for _, s := range u.chart.Series() {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"Import · 2 meters", "Gas · 1 meter", "Export · 1 meter"}) {
		t.Fatalf("summed series %q", names)
	}
	sum := u.chart.Series()[0]
	if sum.Unit != "kWh" || len(sum.Times) == 0 {
		t.Fatalf("sum %+v", sum.Unit)
	}
	at := map[int64]float64{}
	for i, ts := range sum.Times {
		at[ts] = sum.Values[i]
	}
	checked := 0
	for i, ts := range single.Times {
		inFlat := ts >= time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix() && ts+3600 <= time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC).Unix()
		if v, ok := at[ts]; ok && !single.Partial[i] && inFlat {
			checked++
			if diff := v - single.Values[i] - 0.4; diff > 1e-9 || diff < -1e-9 {
				t.Fatalf("at %d the sum is %v, the home meter %v and the flat 0.4", ts, v, single.Values[i])
			}
		}
	}
	if checked < 24 {
		t.Fatalf("only %d hours compared", checked)
	}
	if u.title.Text != "Sum of 6 listed meters" || u.checks.Disabled() == false {
		t.Errorf("title %q, checks disabled %v", u.title.Text, u.checks.Disabled())
	}
	var titles []string
	for _, c := range u.cardData {
		titles = append(titles, c.title+" "+c.note)
	}
	if len(u.cardData) == 0 || !slices.Contains(titles, "Imported 2 meters") {
		t.Errorf("cards %q", titles)
	}
	// Picking the flat from the list shows the flat alone.
	for i, m := range u.meters {
		if m.Key == "flat-2" {
			u.list.Select(i)
		}
	}
	h.m.Wait()
	if u.summing() || u.meter.Key != "flat-2" || len(u.chart.Series()) != 1 {
		t.Fatalf("after picking the flat: summing %v, meter %q, %d series", u.summing(), u.meter.Key, len(u.chart.Series()))
	}
}

// TestAutoPickedMeterFollowsTheData: on a first start the view shows the meter with the most
// readings; when a sync brings a fuller one, that one is shown, until the user picks a meter.
func TestAutoPickedMeterFollowsTheData(t *testing.T) {
	a := test.NewTempApp(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	add := func(key string, n int) {
		tx, err := st.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := store.Meter{Key: key, Name: key, Commodity: "electricity"}
		if err := tx.UpsertMeter(&m); err != nil {
			t.Fatal(err)
		}
		s := store.Series{MeterID: m.ID, Key: "imp", Flow: "forward", Unit: "kWh", Kind: "energy", Seconds: 3600}
		if err := tx.UpsertSeries(&s); err != nil {
			t.Fatal(err)
		}
		var rs []store.Reading
		for i := 0; i < n; i++ {
			rs = append(rs, store.Reading{Start: testNow.Unix() - int64(i+1)*3600, Seconds: 3600, Value: 1})
		}
		if err := tx.PutReadings(s.ID, rs); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	add("a-small", 5)
	m := NewMainWindow(a, Deps{Data: st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer m.cancel()
	m.Wait()
	u := m.views[ViewUsage].(*usageView)
	if u.meter.Key != "a-small" {
		t.Fatalf("shown %q", u.meter.Key)
	}
	m.Refresh() // a sync that brings nothing new keeps the view's pick the view's
	m.Wait()
	add("b-full", 50)
	m.Refresh()
	m.Wait()
	if u.meter.Key != "b-full" {
		t.Fatalf("after a sync brought a fuller meter: %q", u.meter.Key)
	}
	u.list.Select(0) // the user picks a-small
	m.Wait()
	add("c-fuller", 80)
	m.Refresh()
	m.Wait()
	if u.meter.Key != "a-small" || a.Preferences().String(prefUsageMeter) != "a-small" {
		t.Fatalf("the user's choice was replaced by %q", u.meter.Key)
	}
}
