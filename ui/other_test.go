package ui

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"custody/store"
	"custody/ui/chart"
)

// testMeter is a meter the Other tests add: hourly readings of its flows from from to to,
// none in [gap[0], gap[1]).
type testMeter struct {
	name       string
	unit       string   // kWh, Wh, therm (gas) or kW (power: no amounts)
	flows      []string // forward, reverse
	production bool     // a solar meter: its series titled as production
	from, to   int64
	gap        [2]int64
	scale      float64
	series     map[string]int64 // filled in: the series id of each flow
}

// reading is the test meters' reading of hour h: scale × (1 + (h mod 4) / 4), exact in binary.
func (m *testMeter) reading(h int64) float64 { return m.scale * (1 + float64(h%4)/4) }

// addTestMeters adds the meters to the store with their readings, and returns them with
// their titles (their names, as the list shows them).
func addTestMeters(t *testing.T, st *store.Store, ms []*testMeter) ([]store.Meter, []string) {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var out []store.Meter
	var titles []string
	for i, tm := range ms {
		commodity := "electricity"
		if tm.unit == "therm" {
			commodity = "gas"
		}
		meter := store.Meter{Key: fmt.Sprintf("urn:test:other:%03d", i), Name: tm.name, Commodity: commodity, TimeZone: "Europe/London"}
		if err := tx.UpsertMeter(&meter); err != nil {
			t.Fatal(err)
		}
		out, titles = append(out, meter), append(titles, tm.name)
		tm.series = map[string]int64{}
		for _, f := range tm.flows {
			s := store.Series{MeterID: meter.ID, Key: f, Commodity: commodity, Flow: f, Unit: tm.unit, Kind: "energy", Seconds: 3600}
			if tm.unit == "kW" {
				s.Kind = "power"
			}
			if tm.production {
				s.Attrs = map[string]string{"title": "Hourly Solar Production"}
			}
			if err := tx.UpsertSeries(&s); err != nil {
				t.Fatal(err)
			}
			tm.series[f] = s.ID
			var rs []store.Reading
			for ts := tm.from; ts < tm.to; ts += 3600 {
				if ts >= tm.gap[0] && ts < tm.gap[1] {
					continue
				}
				rs = append(rs, store.Reading{Start: ts, Seconds: 3600, Value: tm.reading(ts / 3600)})
			}
			if err := tx.PutReadings(s.ID, rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return out, titles
}

// otherWeek is the first day of the week the Other tests chart (UTC).
var otherWeek = time.Date(2024, 5, 26, 0, 0, 0, 0, time.UTC).Unix()

// twentyMeters is a search's list of 20 meters: import and export, gas (among the first six
// and past them), Wh beside kWh, outages, a late start, an export-only, a solar and a power
// meter.
func twentyMeters() []*testMeter {
	day := func(d float64) int64 { return otherWeek + int64(d*86400) }
	var ms []*testMeter
	for i := range 20 {
		m := &testMeter{name: fmt.Sprintf("M%02d", i), unit: "kWh", flows: []string{"forward"}, from: day(0), to: day(7), scale: 0.25 * float64(i+1)}
		switch i {
		case 0:
			m.flows = []string{"forward", "reverse"}
		case 1, 11:
			m.unit = "therm"
		case 3:
			m.from = day(2) // starts later: not in the week's first days
		case 6:
			m.unit, m.scale = "Wh", 500
		case 7:
			m.gap = [2]int64{day(3), day(4)} // a day's outage
		case 8:
			m.from = day(2.5) // starts halfway through a day
		case 9:
			m.flows = []string{"reverse"}
		case 10:
			m.production = true
		case 12:
			m.unit = "kW"
		}
		ms = append(ms, m)
	}
	return ms
}

// otherExpected is what Other should be for the meters past the sixth: per flow and UTC day,
// the sum of their readings in kWh (read back from the store), and the days that some meter
// of it covers only in part within its span. It is derived from the readings, not from the
// code under test.
func otherExpected(t *testing.T, st *store.Store, ms []*testMeter, unit string) (sums map[string]map[int64]float64, partial map[string]map[int64]bool) {
	t.Helper()
	ctx := context.Background()
	sums, partial = map[string]map[int64]float64{}, map[string]map[int64]bool{}
	for _, m := range ms {
		if m.production || (m.unit != "kWh" && m.unit != "Wh") || unit != "kWh" {
			continue
		}
		factor := 1.0
		if m.unit == "Wh" {
			factor = 0.001
		}
		for flow, id := range m.series {
			ts, vs, err := st.ReadingRange(ctx, id, otherWeek, otherWeek+7*86400)
			if err != nil {
				t.Fatal(err)
			}
			if sums[flow] == nil {
				sums[flow], partial[flow] = map[int64]float64{}, map[int64]bool{}
			}
			hours := map[int64]int{}
			for i, ts := range ts {
				d := ts - ts%86400
				sums[flow][d] += vs[i] * factor
				hours[d]++
			}
			for d := otherWeek; d < otherWeek+7*86400; d += 86400 {
				if d+86400 > m.from && d < m.to && hours[d] < 24 {
					partial[flow][d] = true
				}
			}
		}
	}
	return sums, partial
}

// TestSideBySideOther: with more than seven meters listed, side by side and stacked chart the
// first six each in its colour and lane and "Other" as the sum of the rest, in a grey of its
// own, its own lane (side by side) or on top of the pile (stacked), partial where any of its
// meters is, with a card of its amount and share; the meters left out are named among the
// first six and counted past them.
func TestSideBySideOther(t *testing.T) {
	st := fillStore(t, 0)
	ms := twentyMeters()
	meters, titles := addTestMeters(t, st, ms)
	if slices.Contains(chart.Palette, chart.OtherColor) {
		t.Fatal("Other's grey is a colour of the palette")
	}
	for _, tc := range []struct {
		n          int
		mode       string
		names      []string // the series charted, in order
		other      string   // Other's legend, "" for none
		lanes      []int    // side by side: each series' lane
		caption    []string // what the caption says, each in it
		notCaption []string
		cards      []string // each card's "title | note", its beginning
	}{{
		n: 7, mode: MetersGrouped,
		names:      []string{"M00", "M02", "M03", "M04", "M05", "M06", "M00 · Export"},
		lanes:      []int{0, 1, 2, 3, 4, 5, 0},
		caption:    []string{"Not in kWh, so not charted: M01."},
		notCaption: []string{"Other", "more"},
		cards:      []string{"Imported | 6 meters", "Exported | 1 meter", "M00 | ", "M02 | ", "M03 | ", "M04 | ", "M05 | ", "M06 | "},
	}, {
		n: 8, mode: MetersGrouped,
		names:   []string{"M00", "M02", "M03", "M04", "M05", "Other · 2 meters", "M00 · Export"},
		other:   "Other · 2 meters",
		lanes:   []int{0, 1, 2, 3, 4, 5, 0},
		caption: []string{"Not in kWh, so not charted: M01."},
		cards:   []string{"Imported | 7 meters", "Exported | 1 meter", "M00 | ", "M02 | ", "M03 | ", "M04 | ", "M05 | ", "Other · 2 meters | "},
	}, {
		n: 20, mode: MetersGrouped,
		names: []string{"M00", "M02", "M03", "M04", "M05", "Other · 11 meters", "M00 · Export", "Other · 11 meters · Export"},
		other: "Other · 11 meters",
		lanes: []int{0, 1, 2, 3, 4, 5, 0, 5},
		caption: []string{"Production only, not charted side by side (pick the meter to see it): 1 listed meter.",
			"Not in kWh, so not charted: M01 and 2 more."},
		notCaption: []string{"narrow the search"},
		cards:      []string{"Imported | 15 meters", "Exported | 2 meters", "M00 | ", "M02 | ", "M03 | ", "M04 | ", "M05 | ", "Other · 11 meters | "},
	}, {
		n: 20, mode: MetersStacked,
		names: []string{"M00", "M02", "M03", "M04", "M05", "Other · 11 meters", "M00 · Export", "Other · 11 meters · Export"},
		other: "Other · 11 meters",
		cards: []string{"Imported | 15 meters", "Exported | 2 meters", "M00 | ", "M02 | ", "M03 | ", "M04 | ", "M05 | ", "Other · 11 meters | "},
	}} {
		t.Run(fmt.Sprintf("%d %s", tc.n, tc.mode), func(t *testing.T) {
			req := listedRequest{meters: meters[:tc.n], titles: titles[:tc.n], mode: tc.mode, rng: RangeWeek, res: ResDay, energyUnit: "kWh", loc: time.UTC}
			d, err := listedData(context.Background(), st, req)
			if err != nil {
				t.Fatal(err)
			}
			if d.t0 != otherWeek || d.t1 != otherWeek+7*86400 {
				t.Fatalf("period %d–%d, want the week from %d", d.t0, d.t1, otherWeek)
			}
			var names []string
			for _, s := range d.series {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tc.names) {
				t.Fatalf("series %q\nwant %q", names, tc.names)
			}
			for i, s := range d.series {
				isOther := tc.other != "" && s.Legend == tc.other
				switch {
				case isOther && s.Color != chart.OtherColor:
					t.Errorf("%s: colour %v, want Other's grey", s.Name, s.Color)
				case !isOther:
					idx := slices.Index(titles, s.Legend)
					if s.Color != chart.Palette[idx] {
						t.Errorf("%s: colour %v, want its place in the list's, %v", s.Name, s.Color, chart.Palette[idx])
					}
				}
				if tc.mode == MetersGrouped && (s.Lane != tc.lanes[i] || s.Stack != "") {
					t.Errorf("%s: lane %d stack %q, want lane %d", s.Name, s.Lane, s.Stack, tc.lanes[i])
				}
				if tc.mode == MetersStacked && (s.Lane != 0 || s.Stack == "") {
					t.Errorf("%s: lane %d stack %q, want stacked", s.Name, s.Lane, s.Stack)
				}
				if strings.HasSuffix(s.Name, "Export") != (s.Mirrored && s.Values[0] < 0) {
					t.Errorf("%s: mirrored %v, first value %v", s.Name, s.Mirrored, s.Values[0])
				}
			}
			for _, c := range tc.caption {
				if !strings.Contains(d.caption, c) {
					t.Errorf("caption %q does not say %q", d.caption, c)
				}
			}
			for _, c := range tc.notCaption {
				if strings.Contains(d.caption, c) {
					t.Errorf("caption %q says %q", d.caption, c)
				}
			}
			var cards []string
			for _, c := range d.cards {
				cards = append(cards, c.title+" | "+c.note)
			}
			if len(cards) != len(tc.cards) {
				t.Fatalf("cards %q\nwant %q", cards, tc.cards)
			}
			for i, c := range tc.cards {
				if !strings.HasPrefix(cards[i], c) {
					t.Errorf("card %d %q, want %q…", i, cards[i], c)
				}
			}
			if tc.other == "" {
				return
			}
			// Other is the sum of the readings of the meters past the sixth, day by day, and
			// partial where one of them is.
			sums, partial := otherExpected(t, st, ms[maxSideBySide-1:tc.n], "kWh")
			var otherTotal [2]float64
			for _, s := range d.series {
				if s.Legend != tc.other {
					continue
				}
				flow, sign := "forward", 1.0
				if s.Mirrored {
					flow, sign = "reverse", -1
				}
				if len(s.Times) != len(sums[flow]) {
					t.Errorf("%s: %d days, want %d", s.Name, len(s.Times), len(sums[flow]))
				}
				for j, ts := range s.Times {
					if want := sums[flow][ts]; math.Abs(s.Values[j]*sign-want) > 1e-9 {
						t.Errorf("%s on day %d: %v, the meters' readings sum to %v", s.Name, (ts-otherWeek)/86400, s.Values[j]*sign, want)
					}
					if s.Partial[j] != partial[flow][ts] {
						t.Errorf("%s on day %d: partial %v, want %v", s.Name, (ts-otherWeek)/86400, s.Partial[j], partial[flow][ts])
					}
				}
				for _, v := range sums[flow] {
					otherTotal[int(1-sign)/2] += v
				}
			}
			if tc.n >= 9 && (!partial["forward"][otherWeek+2*86400] || !partial["forward"][otherWeek+3*86400] || partial["forward"][otherWeek+5*86400]) {
				t.Errorf("the expected partial days %v miss the outage and the late start", partial["forward"])
			}
			// Other's card: its import and its share of all the meters' import.
			oc := d.cards[len(d.cards)-1]
			if want := fmtQty(otherTotal[0], "kWh"); oc.value != want {
				t.Errorf("Other's card %q, want %q", oc.value, want)
			}
			if !strings.HasSuffix(oc.note, "% of imported") {
				t.Errorf("Other's card note %q", oc.note)
			}
			if tc.n == 20 && (len(oc.changes) != 1 || oc.changes[0] != "Exported "+fmtQty(otherTotal[1], "kWh")) {
				t.Errorf("Other's card below: %q, want its export %v", oc.changes, otherTotal[1])
			}
		})
	}
}

// TestStackedOtherTotal: stacked with Other, each day's pile is the same as the sum of the
// same meters ("Listed meters summed"), and so are the flows' totals on the cards.
func TestStackedOtherTotal(t *testing.T) {
	st := fillStore(t, 0)
	ms := twentyMeters()
	meters, titles := addTestMeters(t, st, ms)
	req := listedRequest{meters: meters, titles: titles, rng: RangeWeek, res: ResDay, energyUnit: "kWh", loc: time.UTC}
	req.mode = MetersStacked
	stacked, err := listedData(context.Background(), st, req)
	if err != nil {
		t.Fatal(err)
	}
	req.mode = MetersSum
	summed, err := listedData(context.Background(), st, req)
	if err != nil {
		t.Fatal(err)
	}
	piles := map[string]map[int64]float64{}
	for _, s := range stacked.series {
		if piles[s.Stack] == nil {
			piles[s.Stack] = map[int64]float64{}
		}
		for j, ts := range s.Times {
			piles[s.Stack][ts] += math.Abs(s.Values[j])
		}
	}
	checked := 0
	for _, s := range summed.series {
		what := strings.SplitN(s.Name, " · ", 2)[0] // "Import · 15 meters"
		pile, ok := piles[what]
		if !ok {
			continue // gas and production are not stacked
		}
		if len(pile) != len(s.Times) {
			t.Errorf("%s: %d days stacked, %d summed", what, len(pile), len(s.Times))
		}
		for j, ts := range s.Times {
			checked++
			if math.Abs(pile[ts]-s.Values[j]) > 1e-9 {
				t.Errorf("%s on day %d: the pile is %v, the sum %v", what, (ts-otherWeek)/86400, pile[ts], s.Values[j])
			}
		}
	}
	if checked != 14 {
		t.Errorf("%d days of import and export compared, want 14 (%d piles)", checked, len(piles))
	}
	cards := func(d sumData) map[string]string {
		out := map[string]string{}
		for _, c := range d.cards {
			out[c.title] = c.value
		}
		return out
	}
	sc, mc := cards(stacked), cards(summed)
	for _, title := range []string{"Imported", "Exported"} {
		if sc[title] == "" || sc[title] != mc[title] {
			t.Errorf("%s: stacked %q, summed %q", title, sc[title], mc[title])
		}
	}
}

// TestSideBySideOtherKeepsLanes: in a period where some meters have no readings, the others
// and Other keep their colour and lane.
func TestSideBySideOtherKeepsLanes(t *testing.T) {
	st := fillStore(t, 0)
	ms := twentyMeters()
	meters, titles := addTestMeters(t, st, ms)
	type place struct {
		lane  int
		color any
	}
	places := func(offset int) map[string]place {
		req := listedRequest{meters: meters, titles: titles, mode: MetersGrouped, rng: RangeDay, res: ResDay, offset: offset, energyUnit: "kWh", loc: time.UTC}
		d, err := listedData(context.Background(), st, req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]place{}
		for _, s := range d.series {
			out[s.Name] = place{s.Lane, s.Color}
		}
		return out
	}
	last, first := places(0), places(6) // the week's last day, and its first: M03 and M08 not yet
	if _, ok := first["M03"]; ok {
		t.Fatal("M03 has bars before it starts")
	}
	for _, name := range []string{"M02", "M04", "M05", "Other · 11 meters", "M00 · Export"} {
		if first[name] != last[name] || first[name].color == nil {
			t.Errorf("%s: lane and colour %v on the first day, %v on the last", name, first[name], last[name])
		}
	}
}

// TestSideBySideOtherCap: of more than maxSummed listed meters, the first maxSummed are
// charted (Other sums those past the sixth) and the caption says the cap cuts.
func TestSideBySideOtherCap(t *testing.T) {
	st := fillStore(t, 0)
	var ms []*testMeter
	for i := range maxSummed + 2 {
		m := &testMeter{name: fmt.Sprintf("N%03d", i), unit: "kWh", flows: []string{"forward"}, from: otherWeek + 6*86400, to: otherWeek + 7*86400, scale: 1}
		if i >= maxSummed {
			m.scale = 1000 // would show in Other's sum if it were counted
		}
		ms = append(ms, m)
	}
	meters, titles := addTestMeters(t, st, ms)
	want := fmt.Sprintf("Other · %d meters", maxSummed-(maxSideBySide-1))
	// listedData cuts the list itself, and says so when loadSum has cut it already.
	for _, req := range []listedRequest{
		{meters: meters, titles: titles},
		{meters: meters[:maxSummed], titles: titles[:maxSummed], listed: len(meters)},
	} {
		req.mode, req.rng, req.res, req.energyUnit, req.loc = MetersStacked, RangeDay, ResDay, "kWh", time.UTC
		d, err := listedData(context.Background(), st, req)
		if err != nil {
			t.Fatal(err)
		}
		var other *chart.Series
		for i := range d.series {
			if d.series[i].Name == want {
				other = &d.series[i]
			}
		}
		// Each meter's day is 24 readings of 1 to 1.75 kWh: 33 kWh.
		if other == nil || len(other.Values) != 1 || math.Abs(other.Values[0]-33*float64(maxSummed-(maxSideBySide-1))) > 1e-6 {
			t.Fatalf("no %s summing the meters up to the cap: %+v", want, other)
		}
		if c := fmt.Sprintf("The first %d of %d listed are charted, %d of them in Other; narrow the search for the rest.",
			maxSummed, maxSummed+2, maxSummed-(maxSideBySide-1)); !strings.Contains(d.caption, c) {
			t.Errorf("caption %q, want %q", d.caption, c)
		}
	}
}

// TestSideBySideOtherGolden draws fourteen flats side by side and stacked: six in the
// palette's colours and Other (grey) summing eight, one of which had an outage (hatched).
func TestSideBySideOtherGolden(t *testing.T) {
	h := newHarness(t, 0)
	day := func(d float64) int64 { return time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC).Unix() + int64(d*86400) }
	var ms []*testMeter
	for i := range 14 {
		m := &testMeter{name: fmt.Sprintf("Flat %d", i+1), unit: "kWh", flows: []string{"forward"}, from: day(0), to: day(14),
			scale: 0.2 + 0.05*float64((i*7)%11)}
		if i == 9 {
			m.gap = [2]int64{day(10), day(11)}
		}
		if i == 2 {
			m.flows = []string{"forward", "reverse"}
		}
		ms = append(ms, m)
	}
	addTestMeters(t, h.st, ms)
	h.m.settings.SetTheme(ThemeLight)
	h.m.settings.Apply(h.app)
	h.m.Window.Resize(fyne.NewSize(1400, 900))
	u := h.m.views[ViewUsage].(*usageView)
	u.search.SetText("Flat")
	h.m.Wait()
	u.reload()
	h.m.Wait()
	u.rng.SetSelected(RangeWeek)
	h.m.Wait()
	u.res.SetSelected(ResDay)
	h.m.Wait()
	u.mode.SetSelected(MetersGrouped)
	h.m.Wait()
	if u.title.Text != "14 listed meters side by side" {
		t.Errorf("title %q", u.title.Text)
	}
	var legends []string
	for _, s := range u.chart.Series() {
		if !slices.Contains(legends, s.Legend) {
			legends = append(legends, s.Legend)
		}
	}
	if len(legends) != 7 || legends[6] != "Other · 8 meters" {
		t.Fatalf("legends %q", legends)
	}
	h.capture(t, "usage_other_light_1400x900.png")

	h.m.settings.SetTheme(ThemeDark)
	h.m.settings.Apply(h.app)
	h.m.Window.Resize(fyne.NewSize(800, 600))
	u.mode.SetSelected(MetersStacked)
	h.m.Wait()
	if u.title.Text != "14 listed meters stacked" {
		t.Errorf("title %q", u.title.Text)
	}
	h.capture(t, "usage_other_stacked_dark_800x600.png")
}

// TestSumMarksPartialPeriods: the sum of the listed meters hatches a day that some meter of
// the flow covers only in part (one starting halfway through it) or not at all within its
// span (a day's outage), as Other does, so that an outage does not look like a dip in use;
// a day before a meter's readings begin is whole. The sums are those of the readings.
func TestSumMarksPartialPeriods(t *testing.T) {
	st := fillStore(t, 0)
	ms := twentyMeters()
	meters, titles := addTestMeters(t, st, ms)
	d, err := listedData(context.Background(), st, listedRequest{meters: meters, titles: titles, mode: MetersSum,
		rng: RangeWeek, res: ResDay, energyUnit: "kWh", loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	sums, partial := otherExpected(t, st, ms, "kWh")
	flows := map[string]string{"Import": "forward", "Export": "reverse"}
	checked, hatched := 0, 0
	for _, s := range d.series {
		flow, ok := flows[strings.SplitN(s.Name, " · ", 2)[0]]
		if !ok {
			continue // gas and production
		}
		if len(s.Partial) != len(s.Times) || len(s.Times) != len(sums[flow]) {
			t.Fatalf("%s: %d days, %d partial marks, want %d days", s.Name, len(s.Times), len(s.Partial), len(sums[flow]))
		}
		for j, ts := range s.Times {
			checked++
			if math.Abs(s.Values[j]-sums[flow][ts]) > 1e-9 {
				t.Errorf("%s on day %d: %v, the readings sum to %v", s.Name, (ts-otherWeek)/86400, s.Values[j], sums[flow][ts])
			}
			if s.Partial[j] != partial[flow][ts] {
				t.Errorf("%s on day %d: partial %v, want %v", s.Name, (ts-otherWeek)/86400, s.Partial[j], partial[flow][ts])
			}
			if s.Partial[j] {
				hatched++
			}
		}
	}
	// Import: the late half day (day 2) and the outage (day 3); export has neither.
	if checked != 14 || hatched != 2 || !partial["forward"][otherWeek+2*86400] || !partial["forward"][otherWeek+3*86400] {
		t.Errorf("%d days compared, %d hatched; expected partial days %v", checked, hatched, partial)
	}
}
