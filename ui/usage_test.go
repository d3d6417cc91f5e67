package ui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"custody/store"
	"custody/sync/engine"
)

// syncNewReadings writes two more hours of import and export readings to the home meter, as a
// sync of home-utility would, and brings the engine's "sync finished with new data" status
// to the window the way the engine's subscription does. It waits for the refresh to land.
func syncNewReadings(t *testing.T, h *harness, at time.Time) {
	t.Helper()
	u := h.m.views[ViewUsage].(*usageView)
	ctx := context.Background()
	la, _ := time.LoadLocation("America/Los_Angeles")
	start := time.Date(2024, 6, 3, 0, 0, 0, 0, la).Unix()
	tx, err := h.st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range u.series {
		var rs []store.Reading
		for t0 := start; t0 < start+2*3600; t0 += 900 {
			rs = append(rs, store.Reading{Start: t0, Seconds: 900, Value: 250})
		}
		if err := tx.PutReadings(s.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	h.m.applyStatus(h.eng.publish(engine.Status{Source: "home-utility", Kind: "greenbutton", State: engine.StateIdle,
		LastSuccess: at, LastRun: at, LastResult: engine.Result{Items: 1, Readings: 16, Note: "1 payload, 16 readings"}}))
	h.m.Wait()
}

// lastTime is the start of the last point of the chart's first series.
func lastTime(u *usageView) int64 {
	s := u.chart.Series()
	if len(s) == 0 || len(s[0].Times) == 0 {
		return 0
	}
	return s[0].Times[len(s[0].Times)-1]
}

// TestUsageSyncKeepsZoomAndSeries proves that the refresh a finished sync causes keeps the
// meter, the checked series, the range and a zoomed chart's view, and only brings the data.
func TestUsageSyncKeepsZoomAndSeries(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	u.checks.SetSelected(u.checks.Selected[:1]) // import only, as a user would untick export
	h.m.Wait()
	checked := slices.Clone(u.checks.Selected)
	if len(checked) != 1 || !strings.HasPrefix(checked[0], "Import") || len(u.chart.Series()) != 1 {
		t.Fatalf("after unticking export: %q, %d series drawn", checked, len(u.chart.Series()))
	}

	// Zoom in with the wheel over the chart (the test driver's scroll event has no pointer
	// position, so it zooms at the left edge), then drag the view a little to the right.
	size := u.chart.Size()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(u.chart).Add(fyne.NewPos(size.Width/2, size.Height/2))
	p0, p1 := u.chart.View()
	for range 3 {
		test.Scroll(h.m.Window.Canvas(), pos, 0, 10)
	}
	test.Drag(h.m.Window.Canvas(), pos, -150, 0)
	v0, v1 := u.chart.View()
	if !u.chart.Zoomed() || v0 <= p0 || v1 >= p1 || v1-v0 >= p1-p0 {
		t.Fatalf("the wheel and the drag did not zoom and pan: %d..%d, was %d..%d", v0, v1, p0, p1)
	}
	meter, rng, res, period := u.meter.ID, u.rng.Selected, u.res.Selected, u.period.Text
	before := lastTime(u)

	syncNewReadings(t, h, testNow)

	if g0, g1 := u.chart.View(); g0 != v0 || g1 != v1 {
		t.Fatalf("a sync moved the zoomed view from %d..%d to %d..%d", v0, v1, g0, g1)
	}
	if !slices.Equal(u.checks.Selected, checked) {
		t.Fatalf("a sync changed the checked series from %q to %q", checked, u.checks.Selected)
	}
	if u.meter.ID != meter || u.rng.Selected != rng || u.res.Selected != res {
		t.Fatalf("a sync changed meter/range/resolution to %d/%s/%s", u.meter.ID, u.rng.Selected, u.res.Selected)
	}
	if got := lastTime(u); got <= before {
		t.Fatalf("the new readings are not in the chart: last point %d, was %d", got, before)
	}
	if len(u.chart.Series()) != 1 {
		t.Fatalf("%d series drawn after the sync, want the one checked", len(u.chart.Series()))
	}
	// The latest week now ends with the new day; the zoomed view stayed where it was.
	if u.period.Text == period || !strings.Contains(u.period.Text, "3 Jun 2024") {
		t.Fatalf("period after new data of 3 June: %q (was %q)", u.period.Text, period)
	}

	// Double click shows the whole (new) week, the new readings included.
	test.DoubleTap(u.chart)
	if _, g1 := u.chart.View(); g1 <= lastTime(u) {
		t.Fatalf("showing everything ends at %d, before the last reading %d", g1, lastTime(u))
	}

	// Zoomed, the user goes back a week while a sync's refresh is on its way: the refresh,
	// which comes later, must not keep the zoom of the week left behind.
	test.Scroll(h.m.Window.Canvas(), pos, 0, 10)
	if !u.chart.Zoomed() {
		t.Fatal("the wheel did not zoom the chart")
	}
	u.offset++ // as the back button does
	u.loadChart(false)
	syncNewReadings(t, h, testNow.Add(time.Minute))
	if u.chart.Zoomed() {
		t.Fatalf("the week before is shown zoomed: %v", u.period.Text)
	}
	if g0, _ := u.chart.View(); !strings.HasPrefix(u.period.Text, "21 May 2024") || g0 != time.Date(2024, 5, 21, 7, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("back a week: %q, view from %d", u.period.Text, g0)
	}
}

// TestUsageSyncExtendsTheLatestPeriod proves that a chart showing the whole latest period
// grows to take new data, and that a user looking at an earlier period stays there.
func TestUsageSyncExtendsTheLatestPeriod(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	if u.chart.Zoomed() {
		t.Fatal("a fresh chart is zoomed")
	}
	syncNewReadings(t, h, testNow)
	last := lastTime(u)
	if _, v1 := u.chart.View(); v1 <= last || last < time.Date(2024, 6, 3, 7, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("the view ends at %d, the new last reading starts at %d", v1, last)
	}
	if u.chart.Zoomed() {
		t.Fatal("new data left the chart zoomed")
	}

	// One week back: a later sync keeps that week on the screen.
	u.offset++
	u.loadChart(false)
	h.m.Wait()
	period := u.period.Text
	v0, v1 := u.chart.View()
	syncNewReadings(t, h, testNow.Add(time.Minute))
	if u.period.Text != period || u.offset != 1 {
		t.Fatalf("a sync moved the earlier week %q to %q (offset %d)", period, u.period.Text, u.offset)
	}
	if g0, g1 := u.chart.View(); g0 != v0 || g1 != v1 {
		t.Fatalf("a sync moved the earlier week's view from %d..%d to %d..%d", v0, v1, g0, g1)
	}
}

// TestUsageChoicesRemembered proves that the range, the resolution and each meter's checked
// series are kept in Preferences and restored at the next start.
func TestUsageChoicesRemembered(t *testing.T) {
	h := newHarness(t, 0)
	u := h.m.views[ViewUsage].(*usageView)
	u.rng.SetSelected(RangeMonth)
	h.m.Wait()
	u.res.SetSelected(ResWeek)
	h.m.Wait()
	var export string
	for _, l := range u.checks.Options {
		if strings.HasPrefix(l, "Export") {
			export = l
		}
	}
	u.checks.SetSelected([]string{export})
	h.m.Wait()
	if got := h.app.Preferences().StringList(seriesPref(homeKey)); !slices.Equal(got, []string{"MeterReading/2"}) {
		t.Fatalf("series kept for the home meter: %q", got)
	}
	h.m.Close()

	again := NewMainWindow(h.app, Deps{Data: h.st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer again.cancel()
	again.Wait()
	v := again.views[ViewUsage].(*usageView)
	if v.meter.Key != homeKey || v.rng.Selected != RangeMonth || v.res.Selected != ResWeek {
		t.Fatalf("after restart: meter %q, range %s, resolution %s", v.meter.Key, v.rng.Selected, v.res.Selected)
	}
	if !slices.Equal(v.checks.Selected, []string{export}) {
		t.Fatalf("series checked after restart: %q, want %q", v.checks.Selected, export)
	}
	if s := v.chart.Series(); len(s) != 1 || s[0].Name != "Export" {
		t.Fatalf("chart after restart: %d series", len(s))
	}

	// Another meter has its own choice (none yet: the default), and going back restores ours.
	test.Type(v.search, "gas")
	again.Wait()
	v.list.Select(0)
	again.Wait()
	if len(v.checks.Selected) != 1 || !strings.HasPrefix(v.checks.Selected[0], "Import · therm") {
		t.Fatalf("gas meter series: %q", v.checks.Selected)
	}
	v.search.SetText("")
	again.Wait()
	for i, m := range v.meters {
		if m.Key == homeKey {
			v.list.Select(i)
		}
	}
	again.Wait()
	if v.meter.Key != homeKey || !slices.Equal(v.checks.Selected, []string{export}) {
		t.Fatalf("back on the home meter: %q checked", v.checks.Selected)
	}
}

// TestUsageBadPreferences proves that choices the view does not know fall back to defaults.
func TestUsageBadPreferences(t *testing.T) {
	a := test.NewTempApp(t)
	a.Preferences().SetString(prefUsageRange, "Fortnight")
	a.Preferences().SetString(prefUsageRes, "Every blue moon")
	a.Preferences().SetString(prefUsageMeters, "Meters in a pie")
	a.Preferences().SetStringList(seriesPref(homeKey), []string{"MeterReading/gone"})
	a.Preferences().SetString(prefUsageMeter, homeKey)
	st := fillStore(t, 0)
	m := NewMainWindow(a, Deps{Data: st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer m.cancel()
	m.Wait()
	u := m.views[ViewUsage].(*usageView)
	if u.rng.Selected != RangeWeek || u.res.Selected != ResHour || u.mode.Selected != MetersOne || u.checks.Disabled() {
		t.Fatalf("range %q, resolution %q, meters %q, checks disabled %v", u.rng.Selected, u.res.Selected, u.mode.Selected, u.checks.Disabled())
	}
	if len(u.checks.Selected) != 2 {
		t.Fatalf("a series that is gone leaves %q checked, want the defaults", u.checks.Selected)
	}
}

// countingData is the store as the UI sees it, counting the reads a load starts with: a
// meter's series (once per meter in a listed load, once more for a one-meter read) and
// its bills (only a one-meter read asks for them).
type countingData struct {
	Data
	mu        sync.Mutex
	seriesOf  map[int64]int
	summaries int
}

func (c *countingData) SeriesOf(ctx context.Context, meterID int64) ([]store.Series, error) {
	c.mu.Lock()
	c.seriesOf[meterID]++
	c.mu.Unlock()
	return c.Data.SeriesOf(ctx, meterID)
}

func (c *countingData) SummariesOf(ctx context.Context, meterID int64) ([]store.UsageSummary, error) {
	c.mu.Lock()
	c.summaries++
	c.mu.Unlock()
	return c.Data.SummariesOf(ctx, meterID)
}

// TestListedReloadLoadsOnce: a reload (a sync's new data, a rename) while the listed meters
// are charted reads them once: one listed load, not that plus a read of the meter last
// picked whose end starts a second listed load.
func TestListedReloadLoadsOnce(t *testing.T) {
	for _, mode := range []string{MetersSum, MetersGrouped, MetersStacked} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, 2)
			u := h.m.views[ViewUsage].(*usageView)
			u.mode.SetSelected(mode)
			h.m.Wait()
			if u.meter.Key != homeKey || len(u.meters) < 3 {
				t.Fatalf("meter %q of %d listed", u.meter.Key, len(u.meters))
			}
			c := &countingData{Data: h.m.deps.Data, seriesOf: map[int64]int{}}
			h.m.deps.Data = c
			before := u.chart.Series()
			u.reload()
			h.m.Wait()
			for _, m := range u.meters {
				if n := c.seriesOf[m.ID]; n != 1 {
					t.Errorf("%s: its series read %d times in one reload, want once", m.Key, n)
				}
			}
			if c.summaries != 0 {
				t.Errorf("a reload of the listed meters read bills %d times", c.summaries)
			}
			if u.meter.Key != homeKey || !u.summing() || len(u.chart.Series()) != len(before) || len(before) == 0 {
				t.Errorf("after the reload: meter %q, summing %v, %d series (before %d)", u.meter.Key, u.summing(), len(u.chart.Series()), len(before))
			}
			if len(u.billRows) != 1 || u.billRows[0][0] != billsOfOneMeter {
				t.Errorf("bills while the listed meters are charted: %q", u.billRows)
			}
		})
	}
}
