package ui

import (
	"context"
	"image/color"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"custody/store"
	"custody/ui/chart"
)

// addFlat adds a meter "Flat 2" with hourly import of 0.4 kWh from 1 May to 3 June 2024.
func addFlat(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	flat := store.Meter{Key: "flat-2", Name: "Flat 2", Commodity: "electricity", TimeZone: "America/Los_Angeles"}
	if err := tx.UpsertMeter(&flat); err != nil {
		t.Fatal(err)
	}
	imp := store.Series{MeterID: flat.ID, Key: "imp", Commodity: "electricity", Flow: "forward", Unit: "kWh", Kind: "energy", Seconds: 3600}
	if err := tx.UpsertSeries(&imp); err != nil {
		t.Fatal(err)
	}
	var rs []store.Reading
	for ts := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix(); ts < time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC).Unix(); ts += 3600 {
		rs = append(rs, store.Reading{Start: ts, Seconds: 3600, Value: 0.4})
	}
	if err := tx.PutReadings(imp.ID, rs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// colours is each series' colour by name.
func colours(ss []chart.Series) map[string]color.Color {
	out := map[string]color.Color{}
	for _, s := range ss {
		out[s.Name] = s.Color
	}
	return out
}

// TestMetersSideBySide: the listed meters are charted side by side, each in its own lane and
// colour (the same whatever period is shown) and named in the legend once, import up and
// export below zero; gas, which shares no unit with them, is left out and said so; the cards
// give each meter's amount and share. Stacked, the bars pile up and the hover gives the total.
// The choice is remembered.
func TestMetersSideBySide(t *testing.T) {
	h := newHarness(t, 2)
	addFlat(t, h.st)
	h.m.settings.SetTheme(ThemeLight)
	h.m.settings.Apply(h.app)
	u := h.m.views[ViewUsage].(*usageView)
	u.reload()
	h.m.Wait()
	u.rng.SetSelected(RangeWeek)
	h.m.Wait()
	u.res.SetSelected(ResDay)
	h.m.Wait()
	var single chart.Series // the home meter's import by the day, as one meter
	for _, s := range u.chart.Series() {
		if s.Name == "Import" {
			single = s
		}
	}
	u.res.SetSelected(ResHour) // 2 meters × 168 hours: too many bars to tell apart
	h.m.Wait()
	u.mode.SetSelected(MetersGrouped)
	h.m.Wait()
	if !strings.Contains(u.totals.Text, "Daily, so that") || u.chart.Series()[0].Step < 86400 {
		t.Errorf("a week of hours side by side: caption %q, step %d", u.totals.Text, u.chart.Series()[0].Step)
	}
	if !u.checks.Disabled() || !u.cmp.Disabled() {
		t.Error("the series checks and the comparison stay enabled for the listed meters")
	}
	var names, legends []string
	lanes := map[string]int{}
	for _, s := range u.chart.Series() {
		names = append(names, s.Name)
		legends = append(legends, s.Legend)
		lanes[s.Name] = s.Lane
		if s.Style != chart.Bars || s.Stack != "" {
			t.Errorf("%s: style %v, stack %q", s.Name, s.Style, s.Stack)
		}
	}
	want := []string{"Flat 2", "Home · 12 Elm St", "Home · 12 Elm St · Export"}
	if !slices.Equal(names, want) || !slices.Equal(legends, []string{"Flat 2", "Home · 12 Elm St", "Home · 12 Elm St"}) {
		t.Fatalf("series %q, legends %q", names, legends)
	}
	if lanes["Flat 2"] == lanes["Home · 12 Elm St"] || lanes["Home · 12 Elm St"] != lanes["Home · 12 Elm St · Export"] {
		t.Errorf("lanes %v: each meter its own, import and export of a meter in one", lanes)
	}
	ss := u.chart.Series()
	if !ss[2].Mirrored || ss[2].Values[0] > 0 {
		t.Errorf("export is not drawn below zero: %v", ss[2].Values[:3])
	}
	// The home meter's bars are its import, as it shows alone.
	at := map[int64]float64{}
	for i, ts := range single.Times {
		at[ts] = single.Values[i]
	}
	checked := 0
	for i, ts := range ss[1].Times {
		if v, ok := at[ts]; ok {
			checked++
			if d := v - ss[1].Values[i]; d > 1e-9 || d < -1e-9 {
				t.Fatalf("at %d side by side %v, alone %v", ts, ss[1].Values[i], v)
			}
		}
	}
	if d := ss[0].Values[0] - 24*0.4; checked < 7 || d > 1e-9 || d < -1e-9 {
		t.Fatalf("%d days compared; the flat's first day %v", checked, ss[0].Values[0])
	}
	if !strings.Contains(u.totals.Text, "Home gas") || !u.totals.Visible() {
		t.Errorf("caption %q does not say the gas meter is left out", u.totals.Text)
	}
	if u.title.Text != "5 listed meters side by side" {
		t.Errorf("title %q", u.title.Text)
	}
	// Bills belong to one meter: the tab says so rather than showing the last one picked.
	if len(u.billRows) != 1 || u.billRows[0][0] != billsOfOneMeter || len(u.costs.Series()) != 0 {
		t.Errorf("bills while the listed meters are charted: %q, %d cost series", u.billRows, len(u.costs.Series()))
	}
	var cards []string
	for _, c := range u.cardData {
		cards = append(cards, c.title+" | "+c.note)
	}
	if len(cards) != 4 || cards[0] != "Imported | 2 meters" || cards[1] != "Exported | 1 meter" ||
		!strings.HasPrefix(cards[2], "Flat 2 | ") || !strings.HasSuffix(cards[2], "% of imported") {
		t.Errorf("cards %q", cards)
	}
	// A meter keeps its colour in another period, whatever the others have there.
	before := colours(u.chart.Series())
	u.offset = 5 // five weeks back: before the flat's data begins
	u.loadChart(false)
	h.m.Wait()
	after := colours(u.chart.Series())
	if _, ok := after["Flat 2"]; ok {
		t.Fatal("the flat has bars five weeks back")
	}
	if after["Home · 12 Elm St"] != before["Home · 12 Elm St"] {
		t.Errorf("the home meter's colour changed from %v to %v with the period", before["Home · 12 Elm St"], after["Home · 12 Elm St"])
	}
	u.offset = 0

	// Stacked: one lane, the bars pile up, the hover gives each meter and the total.
	u.mode.SetSelected(MetersStacked)
	h.m.Wait()
	ss = u.chart.Series()
	if len(ss) != 3 || ss[0].Stack != "Import" || ss[1].Stack != "Import" || ss[2].Stack != "Export" || ss[0].Lane != ss[1].Lane {
		t.Fatalf("stacked %+v", ss)
	}
	hover := u.chart.HoverText(ss[0].Times[len(ss[0].Times)/2] + 60)
	if !slices.ContainsFunc(hover, func(l string) bool { return strings.HasPrefix(l, "Import, total: ") }) {
		t.Errorf("hover %q has no total", hover)
	}
	if got := h.app.Preferences().String(prefUsageMeters); got != MetersStacked {
		t.Errorf("remembered %q", got)
	}
	h.m.Window.Resize(fyne.NewSize(1400, 900))
	h.m.Wait()
	h.capture(t, "usage_stacked_light_1400x900.png")

	// The choice is remembered: the next start charts the listed meters stacked again.
	m2 := NewMainWindow(h.app, Deps{Data: h.st, Now: func() time.Time { return testNow }, applyQueue: make(chan queued, 256)})
	defer m2.cancel()
	m2.Wait()
	u2 := m2.views[ViewUsage].(*usageView)
	if u2.mode.Selected != MetersStacked || len(u2.chart.Series()) == 0 || u2.chart.Series()[0].Stack == "" {
		t.Fatalf("after a restart: mode %q, %d series", u2.mode.Selected, len(u2.chart.Series()))
	}
	// Picking a meter goes back to that one meter.
	for i, m := range u.meters {
		if m.Key == "flat-2" {
			u.list.Select(i)
		}
	}
	h.m.Wait()
	if u.summing() || u.mode.Selected != MetersOne || u.meter.Key != "flat-2" || len(u.chart.Series()) != 1 {
		t.Fatalf("after picking the flat: mode %q, meter %q, %d series", u.mode.Selected, u.meter.Key, len(u.chart.Series()))
	}
	if len(u.billRows) != 1 || u.billRows[0][0] != noBills {
		t.Errorf("bills of the flat, which has none: %q", u.billRows)
	}
}

// TestMetersSideBySideDark800: side by side (grouped) in the dark theme at 800×600.
func TestMetersSideBySideDark800(t *testing.T) {
	h := newHarness(t, 2)
	addFlat(t, h.st)
	h.m.settings.SetTheme(ThemeDark)
	h.m.settings.Apply(h.app)
	h.m.Window.Resize(fyne.NewSize(800, 600))
	u := h.m.views[ViewUsage].(*usageView)
	u.reload()
	h.m.Wait()
	u.rng.SetSelected(RangeWeek)
	h.m.Wait()
	u.mode.SetSelected(MetersGrouped)
	h.m.Wait()
	h.capture(t, "usage_side_by_side_dark_800x600.png")
}

// TestSolarHouseSelfSufficiency: a meter that imports, exports and produces (the demo house:
// a Green Button generation MeterReading of the same flow and unit as the import, told apart
// by its title) shows production in a lane of its own beside import, and the self-sufficiency
// card.
func TestSolarHouseSelfSufficiency(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	tx, err := h.st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	house := store.Meter{Key: "demo-house", Name: "Demo house electric", Commodity: "electricity", TimeZone: "America/Los_Angeles"}
	if err := tx.UpsertMeter(&house); err != nil {
		t.Fatal(err)
	}
	mk := func(key, flow, title string) store.Series {
		s := store.Series{MeterID: house.ID, Key: key, Commodity: "electricity", Flow: flow, Unit: "Wh", Kind: "energy", Seconds: 3600}
		if title != "" {
			s.Attrs = map[string]string{"title": title}
		}
		if err := tx.UpsertSeries(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	imp, exp, prod := mk("MeterReading/1", "forward", ""), mk("MeterReading/2", "reverse", ""), mk("MeterReading/5", "forward", "Hourly Solar Production")
	var ri, re, rp []store.Reading
	for ts := testNow.Unix() - 14*86400; ts < testNow.Unix()-86400; ts += 3600 {
		hour := (ts / 3600) % 24
		use, pv := 600.0, 0.0
		if hour >= 16 && hour < 24 { // daylight in Los Angeles, in UTC hours
			pv = 2000
		}
		self := min(use, pv)
		ri = append(ri, store.Reading{Start: ts, Seconds: 3600, Value: use - self})
		re = append(re, store.Reading{Start: ts, Seconds: 3600, Value: pv - self})
		rp = append(rp, store.Reading{Start: ts, Seconds: 3600, Value: pv})
	}
	for id, rs := range map[int64][]store.Reading{imp.ID: ri, exp.ID: re, prod.ID: rp} {
		if err := tx.PutReadings(id, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	u := h.m.views[ViewUsage].(*usageView)
	u.reload()
	h.m.Wait()
	for i, m := range u.meters {
		if m.Key == "demo-house" {
			u.list.Select(i)
		}
	}
	h.m.Wait()
	lanes := map[string]int{}
	for _, s := range u.chart.Series() {
		lanes[s.Name] = s.Lane
	}
	if _, ok := lanes["Production"]; !ok || lanes["Production"] == lanes["Import"] || lanes["Export"] != lanes["Import"] {
		t.Errorf("lanes %v: production beside import, export under import", lanes)
	}
	cards := map[string]string{}
	for _, c := range u.cardData {
		cards[c.title] = c.value
	}
	// Use 600 Wh an hour, a third of the hours covered by the panels: a third self-sufficient.
	if cards["Self-sufficiency"] != "33 %" || cards["Produced"] == "" {
		t.Errorf("cards %v", cards)
	}
}

// TestSideBySideCards: each meter's card gives the first flow it records (an export-only
// meter its export, never "0 kWh" of import) and its share; a meter with no amounts at all
// (power only) is named in the caption, and a meter that records only production (a solar
// meter) is named as such, not as one in another unit.
func TestSideBySideCards(t *testing.T) {
	st := fillStore(t, 0)
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var meters []store.Meter
	for _, m := range []struct {
		key   string
		flows []string
		unit  string
		value float64
	}{
		{"a-panels", []string{"reverse"}, "kWh", 2},
		{"b-house", []string{"forward", "reverse"}, "kWh", 1},
		{"c-inverter", []string{"forward"}, "kW", 3},
		{"d-solar", []string{"forward"}, "kWh", 4},
	} {
		meter := store.Meter{Key: m.key, Name: m.key, Commodity: "electricity"}
		if err := tx.UpsertMeter(&meter); err != nil {
			t.Fatal(err)
		}
		meters = append(meters, meter)
		for _, f := range m.flows {
			s := store.Series{MeterID: meter.ID, Key: f, Commodity: "electricity", Flow: f, Unit: m.unit, Kind: "energy", Seconds: 3600}
			if m.unit == "kW" {
				s.Kind = "power"
			}
			if m.key == "d-solar" {
				s.Attrs = map[string]string{"title": "Hourly Solar Production"}
			}
			if err := tx.UpsertSeries(&s); err != nil {
				t.Fatal(err)
			}
			var rs []store.Reading
			for h := int64(0); h < 48; h++ {
				rs = append(rs, store.Reading{Start: testNow.Unix() - 48*3600 + h*3600, Seconds: 3600, Value: m.value})
			}
			if err := tx.PutReadings(s.ID, rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	d, err := listedData(ctx, st, listedRequest{meters: meters, titles: []string{"Panels", "House", "Inverter", "Roof PV"}, mode: MetersStacked,
		rng: RangeWeek, res: ResDay, energyUnit: "kWh", loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var cards []string
	for _, c := range d.cards {
		cards = append(cards, strings.Join(append([]string{c.title, c.value, c.note}, c.changes...), " | "))
	}
	want := []string{
		"Imported | 48.0 kWh | 1 meter",
		"Exported | 144 kWh | 2 meters",
		"Panels | 96.0 kWh | 66.7 % of exported",
		"House | 48.0 kWh | 100 % of imported | Exported 48.0 kWh",
	}
	if !slices.Equal(cards, want) {
		t.Errorf("cards\n%q\nwant\n%q", cards, want)
	}
	if !strings.Contains(d.caption, "Inverter") {
		t.Errorf("caption %q does not name the meter that is not charted", d.caption)
	}
	if !strings.Contains(d.caption, "Production only, not charted side by side (pick the meter to see it): Roof PV.") ||
		strings.Contains(d.caption, "so not charted: Inverter, Roof PV") {
		t.Errorf("caption %q does not say the solar meter is left out for its production", d.caption)
	}
}
