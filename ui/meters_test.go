package ui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"custody/store"
)

func TestNaturalSortAndTitles(t *testing.T) {
	var ms []store.Meter
	for _, n := range []string{"Meter 139", "Meter 14", "Meter 140", "meter 2", "Meter 014"} {
		ms = append(ms, store.Meter{Key: n, Name: n})
	}
	ms = append(ms,
		store.Meter{Key: "571313100000001239", Name: "Metering point 571313100000001239", Attrs: map[string]string{"metering_point_type": "E17", "grid_area": "791"}},
		store.Meter{Key: "571313100000004567", Name: "Metering point 571313100000004567", Attrs: map[string]string{"metering_point_type": "E18"}},
		store.Meter{Key: "https://utility.example/espi/1_1/resource/RetailCustomer/9/UsagePoint/5", Commodity: "gas"},
		store.Meter{Key: "x1", Name: "Same"}, store.Meter{Key: "x2", Name: "Same"},
		store.Meter{Key: "571313100000009999", Name: "Metering point 571313100000009999", DisplayName: "Heat pump"},
		store.Meter{Key: "https://a.example/UsagePoint/2", Name: "Demo heat pump", SourceID: 1},
		store.Meter{Key: "https://b.example/UsagePoint/2", Name: "Demo heat pump", SourceID: 2},
	)
	var titles []string
	for _, e := range meterEntries(ms, map[int64]string{1: "demo-utility", 2: "demo-pge-async"}) {
		titles = append(titles, e.title)
	}
	want := []string{
		"Consumption · …001239 · grid area 791",
		"Demo heat pump (demo-pge-async)",
		"Demo heat pump (demo-utility)",
		"Gas · UsagePoint 5",
		"Heat pump",
		"meter 2",
		"Meter 14",
		"Meter 014",
		"Meter 139",
		"Meter 140",
		"Production · …004567",
		"Same (x1)",
		"Same (x2)",
	}
	if !slices.Equal(titles, want) {
		t.Errorf("titles in order:\n%q\nwant\n%q", titles, want)
	}
}

func TestNumbers(t *testing.T) {
	setNumberLocale("en-US")
	for _, tc := range []struct {
		got, want string
	}{
		{fmtQty(446996, "kWh"), "447 MWh"},
		{fmtQty(9999, "kWh"), "9,999 kWh"},
		{fmtQty(12.345, "kWh"), "12.3 kWh"},
		{fmtQty(0.01234, "kWh"), "0.0123 kWh"},
		{fmtQty(25000000, "Wh"), "25.0 MWh"},
		{fmtQty(1234, "m3"), "1,234 m³"},
		{plural(1, "reading", "readings"), "1 reading"},
		{plural(18134, "reading", "readings"), "18,134 readings"},
		{plural(0, "bill", "bills"), "0 bills"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	v := 1234.5
	if got := fmtMoney(&v, "DKK"); got != "1,234.50 DKK" {
		t.Errorf("money: %q", got)
	}
	setNumberLocale("da-DK")
	if got := fmtQty(9999, "kWh"); got != "9.999 kWh" {
		t.Errorf("Danish separators: %q", got)
	}
	setNumberLocale("en-US")
}

// fakeTotals sums in-memory readings the way store.PeriodTotals does.
type fakeTotals map[int64][]store.Reading

func (f fakeTotals) totals(_ context.Context, id, from, to int64) (store.Totals, error) {
	var t store.Totals
	for _, r := range f[id] {
		if r.Start < from || r.Start >= to || r.Missing {
			continue
		}
		if t.Count == 0 || r.Value > t.Peak {
			t.Peak, t.PeakAt = r.Value, r.Start
		}
		if t.Count == 0 {
			t.First = r.Start
		}
		t.Count++
		t.Sum += r.Value
		t.Covered += r.Seconds
		t.LastEnd = r.Start + r.Seconds
		if r.HasCost {
			t.CostSum += r.Cost
			t.CostCount++
		}
	}
	return t, nil
}

// TestCards: import, export, net, self-sufficiency with production, cost and peak, compared
// like for like: the week under way against the same stretch of the week before and of the
// same week a year earlier; the coarser copy of import is not counted twice. The production
// is a series of its own flow (DataHub, Eloverblik), or one of the same flow and unit as the
// import that its source titles (a Green Button generation MeterReading, as in the demo).
func TestCards(t *testing.T) {
	for _, prod := range []store.Series{
		{ID: 3, Key: "solar-production", Flow: "total", Unit: "Wh", Kind: "energy", Seconds: 3600, Commodity: "electricity"},
		{ID: 3, Key: "https://utility.example/UsagePoint/1/MeterReading/5", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 3600,
			Commodity: "electricity", Attrs: map[string]string{"title": "Hourly Solar Production"}},
	} {
		t.Run(prod.Flow, func(t *testing.T) { testCards(t, prod) })
	}
}

func testCards(t *testing.T, prod store.Series) {
	setNumberLocale("en-US")
	loc := time.UTC
	start := time.Date(2023, 1, 2, 0, 0, 0, 0, loc).Unix()
	end := time.Date(2024, 1, 10, 12, 0, 0, 0, loc).Unix() // a Wednesday noon: the week is under way
	series := []store.Series{
		{ID: 1, Key: "imp", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 3600, Currency: "DKK", Commodity: "electricity"},
		{ID: 2, Key: "exp", Flow: "reverse", Unit: "Wh", Kind: "energy", Seconds: 3600, Commodity: "electricity"},
		prod,
		{ID: 4, Key: "imp-daily", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 86400, Commodity: "electricity"},
	}
	data := fakeTotals{}
	for ts := start; ts < end; ts += 3600 {
		data[1] = append(data[1], store.Reading{Start: ts, Seconds: 3600, Value: 1000, Cost: 2, HasCost: true})
		data[2] = append(data[2], store.Reading{Start: ts, Seconds: 3600, Value: 250})
		data[3] = append(data[3], store.Reading{Start: ts, Seconds: 3600, Value: 500})
		if ts%86400 == 0 {
			data[4] = append(data[4], store.Reading{Start: ts, Seconds: 86400, Value: 24000})
		}
	}
	data[1][len(data[1])-5].Value = 4000 // the peak
	stats := map[int64]store.SeriesStats{}
	for id, rs := range data {
		stats[id] = store.SeriesStats{Count: int64(len(rs)), First: rs[0].Start, Last: rs[len(rs)-1].Start, LastEnd: rs[len(rs)-1].Start + rs[len(rs)-1].Seconds, CostCount: 1}
	}
	from := time.Date(2024, 1, 8, 0, 0, 0, 0, loc).Unix()
	to := from + 7*86400
	prev, year := shiftFuncs(RangeWeek, true, from, to, loc)
	cards, caption, err := computeCards(context.Background(), data.totals, cardRequest{
		series: series, stats: stats, from: from, to: to, prev: prev, year: year, energyUnit: "kWh", loc: loc})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]card{}
	var titles []string
	for _, c := range cards {
		got[c.title] = c
		titles = append(titles, c.title)
	}
	want := []string{"Imported", "Exported", "Produced", "Net from grid", "Self-sufficiency", "Cost", "Peak 1 h"}
	if !slices.Equal(titles, want) {
		t.Fatalf("cards %q, want %q", titles, want)
	}
	hours := 2*24 + 12 // Monday to Wednesday noon
	if g := got["Imported"].value; g != fmtQty(float64(hours)+3, "kWh") {
		t.Errorf("imported %q over %d hours (the daily copy must not be added)", g, hours)
	}
	if g := got["Imported"].changes; g[0] != "up 5.00 % vs previous" || !strings.HasPrefix(g[1], "up 5.00 % vs a year earlier") {
		t.Errorf("changes like for like: %q", g)
	}
	if g := got["Net from grid"].value; g != fmtQty((float64(hours)+3)-float64(hours)*0.25, "kWh") {
		t.Errorf("net %q", g)
	}
	// Use = import + production − export = 1 + 0.5 − 0.25 per hour; import covers 1 of 1.25.
	if g := got["Self-sufficiency"].value; g != "20 %" && g != "19 %" {
		t.Errorf("self-sufficiency %q", g)
	}
	if g := got["Cost"].value; g != fmtMoney(ptr(float64(hours)*2), "DKK") {
		t.Errorf("cost %q", g)
	}
	if g := got["Peak 1 h"]; g.value != "4.00 kWh" || !strings.Contains(g.note, "Wed 10 Jan 2024 07:00") {
		t.Errorf("peak %+v", g)
	}
	if !strings.Contains(caption, "what the data covers") {
		t.Errorf("a week under way is not said to be cut: %q", caption)
	}
}

func ptr(v float64) *float64 { return &v }

// TestComparableOnlyLikeForLike: an earlier stretch with much less data is not compared.
func TestComparableOnlyLikeForLike(t *testing.T) {
	cur := store.Totals{Count: 8760, Covered: 8760 * 3600, Sum: 4848}
	for _, tc := range []struct {
		was  store.Totals
		want bool
	}{
		{store.Totals{Count: 840, Covered: 840 * 3600, Sum: 585}, false}, // a month of a year
		{store.Totals{Count: 8000, Covered: 8000 * 3600, Sum: 4500}, true},
		{store.Totals{}, false},
	} {
		if got := comparable(cur, tc.was); got != tc.want {
			t.Errorf("comparable(%+v) = %v", tc.was, got)
		}
	}
	if got := changes(4848, 585, 0, false, false); got[0] != "too little data for the previous period" {
		t.Errorf("changes %q", got)
	}
}
