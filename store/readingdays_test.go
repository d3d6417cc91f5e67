package store

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadingDayRoundTrip(t *testing.T) {
	const day = 20454 // 2026-01-01
	d0 := int64(day * daySeconds)
	cases := []struct {
		name string
		rs   []Reading
	}{
		{"one", []Reading{{Start: d0, Seconds: 900, Value: 1}}},
		{"fifteen-minute day", func() []Reading {
			var rs []Reading
			for i := int64(0); i < 96; i++ {
				rs = append(rs, Reading{Start: d0 + i*900, Seconds: 900, Value: float64(i * 37), Quality: "17", TOU: i % 3, HasTOU: true})
			}
			return rs
		}()},
		{"every kind of value", []Reading{
			{Start: d0 + 1, Seconds: 3600, Value: 0.1},
			{Start: d0 + 2, Seconds: 3600, Value: -5},
			{Start: d0 + 3, Seconds: 60, Value: math.Copysign(0, -1)},
			{Start: d0 + 4, Seconds: 60, Value: 1 << 53},
			{Start: d0 + 5, Seconds: 60, Value: -(1 << 60)},
			{Start: d0 + 6, Seconds: 60, Value: math.Inf(1)},
			{Start: d0 + 7, Seconds: 60, Value: 1e300},
			{Start: d0 + 8, Seconds: 60, Missing: true, Quality: "8"},
			{Start: d0 + 9, Seconds: 60, Value: 2, Quality: "8", Cost: 0.25, HasCost: true},
			{Start: d0 + 10, Seconds: 60, Value: 2, Quality: "", Cost: 0, HasCost: true},
			{Start: d0 + 11, Seconds: -1, Value: 2, TOU: -3, HasTOU: true},
			{Start: d0 + 12, Seconds: 60, Value: 123.456},
			{Start: d0 + 13, Seconds: 60, Value: 0.1 + 0.2},
			{Start: d0 + 14, Seconds: 60, Value: -0.000001},
			{Start: d0 + 15, Seconds: 60, Value: math.NaN()},
			{Start: d0 + 16, Seconds: 60, Value: 1.0 / 3},
			{Start: d0 + daySeconds - 1, Seconds: 2_678_400, Value: 123456.789},
		}},
		{"before 1970", []Reading{{Start: -daySeconds, Seconds: 900, Value: 1}, {Start: -1, Seconds: 1, Value: 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			day := dayOf(c.rs[0].Start)
			blob := appendReadingDay(nil, day, c.rs)
			got, err := decodeReadingDay(nil, day, blob)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.rs) {
				t.Fatalf("%d readings back, want %d", len(got), len(c.rs))
			}
			for i := range got {
				w, g := c.rs[i], got[i]
				// Compare the value's bits: -0 and +0 are different readings of a meter's sign.
				if math.Float64bits(w.Value) != math.Float64bits(g.Value) {
					t.Errorf("reading %d: value %v (bits %x), want %v (bits %x)", i, g.Value, math.Float64bits(g.Value), w.Value, math.Float64bits(w.Value))
				}
				w.Value, g.Value = 0, 0
				if w != g {
					t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

func TestReadingDayIsSmall(t *testing.T) {
	// A Green Button day: 96 whole watt-hour values, one quality, a tier each.
	d0 := int64(20454 * daySeconds)
	var rs []Reading
	for i := int64(0); i < 96; i++ {
		rs = append(rs, Reading{Start: d0 + i*900, Seconds: 900, Value: float64(200 + i*13%900), Quality: "17", TOU: 1 + i%2, HasTOU: true})
	}
	if n := len(appendReadingDay(nil, 20454, rs)); n > 96*7 {
		t.Errorf("a day of 96 readings takes %d bytes, want at most %d", n, 96*7)
	}
}

func TestDecodeReadingDayRefusesDamage(t *testing.T) {
	d0 := int64(20454 * daySeconds)
	good := appendReadingDay(nil, 20454, []Reading{{Start: d0, Seconds: 900, Value: 0.5, Quality: "x", Cost: 1, HasCost: true}, {Start: d0 + 900, Seconds: 900, Value: 3}})
	cases := map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{9}, good[1:]...),
		"truncated":       good[:len(good)-3],
		"start past day":  {readingDaysVersion, flagSeconds, 0x80, 0xa3, 0x05, 2},
		"no duration":     {readingDaysVersion, 0, 0, 2},
		"same start":      append(appendReadingDay(nil, 20454, []Reading{{Start: d0, Seconds: 1, Value: 1}}), 1<<formShift, 0, 2),
	}
	for name, blob := range cases {
		if _, err := decodeReadingDay(nil, 20454, blob); !errors.Is(err, errCorruptDay) {
			t.Errorf("%s: %v, want errCorruptDay", name, err)
		}
	}
}

func TestMergeReadings(t *testing.T) {
	r := func(start int64, v float64) Reading { return Reading{Start: start, Seconds: 1, Value: v} }
	cases := []struct {
		name          string
		old, add, out []Reading
	}{
		{"into nothing", nil, []Reading{r(1, 1), r(2, 2)}, []Reading{r(1, 1), r(2, 2)}},
		{"correction wins", []Reading{r(1, 1), r(2, 2), r(3, 3)}, []Reading{r(2, 20)}, []Reading{r(1, 1), r(2, 20), r(3, 3)}},
		{"interleaved", []Reading{r(2, 2), r(4, 4)}, []Reading{r(1, 1), r(3, 3), r(5, 5)}, []Reading{r(1, 1), r(2, 2), r(3, 3), r(4, 4), r(5, 5)}},
		{"later of the same start wins", nil, []Reading{r(1, 1), r(1, 10), r(2, 2)}, []Reading{r(1, 10), r(2, 2)}},
		{"unsorted, later wins", []Reading{r(3, 3)}, []Reading{r(3, 30), r(1, 1), r(3, 300)}, []Reading{r(1, 1), r(3, 300)}},
	}
	for _, c := range cases {
		if got := mergeReadings(nil, c.old, c.add); !reflect.DeepEqual(got, c.out) {
			t.Errorf("%s: %v, want %v", c.name, got, c.out)
		}
	}
}

// TestPutReadingsAcrossDays writes readings that straddle UTC days in several calls, out of
// order and with corrections, and reads them back through every query of readings.
func TestPutReadingsAcrossDays(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	seriesID := newTestSeries(t, st)
	// Local days of a meter eight hours behind UTC: each call spans two UTC days.
	base := int64(20454*daySeconds + 8*3600)
	var want []Reading
	for d := int64(0); d < 3; d++ {
		for i := int64(0); i < 96; i++ {
			want = append(want, Reading{Start: base + d*daySeconds + i*900, Seconds: 900, Value: float64(d*1000 + i), Quality: "17"})
		}
	}
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Day 2 first, then day 0, then day 1 with its first reading twice (the later wins).
	must(t, tx.PutReadings(seriesID, want[192:]))
	must(t, tx.PutReadings(seriesID, want[:96]))
	dup := append([]Reading{{Start: want[96].Start, Seconds: 900, Value: -1}}, want[96:192]...)
	must(t, tx.PutReadings(seriesID, dup))
	// A correction of one reading, and a cost on another, in a later call.
	want[100].Value, want[100].Quality = 42.5, "8"
	want[101].Cost, want[101].HasCost = 0.31, true
	must(t, tx.PutReadings(seriesID, []Reading{want[100], want[101]}))
	must(t, tx.Commit())

	var got []Reading
	err = st.ExportBySeries(ctx, ExportFilter{}, func(ExportSeries) error { return nil }, func(r *Reading) error {
		got = append(got, *r)
		return nil
	})
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("export gave %d readings, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	starts, values, err := st.ReadingRange(ctx, seriesID, want[10].Start, want[200].Start)
	must(t, err)
	if len(starts) != 190 || starts[0] != want[10].Start || values[90] != 42.5 {
		t.Errorf("range: %d readings from %d, value 90 %v", len(starts), starts[0], values[90])
	}
	first, last, ok, err := st.SpanOf(ctx, seriesID)
	must(t, err)
	if !ok || first != want[0].Start || last != want[len(want)-1].Start {
		t.Errorf("span %d–%d %v, want %d–%d", first, last, ok, want[0].Start, want[len(want)-1].Start)
	}
	stats, err := st.StatsOf(ctx, seriesID)
	must(t, err)
	if stats.Count != 288 || stats.CostCount != 1 || stats.CostSum != 0.31 || stats.LastEnd != want[287].Start+900 {
		t.Errorf("stats %+v", stats)
	}
	tot, err := st.PeriodTotals(ctx, seriesID, want[96].Start, want[192].Start)
	must(t, err)
	if tot.Count != 96 || tot.Peak != 1095 || tot.PeakAt != want[191].Start || tot.Covered != 96*900 {
		t.Errorf("totals %+v", tot)
	}
	c, err := st.Counts(ctx)
	must(t, err)
	if c.Readings != 288 {
		t.Errorf("counts: %d readings, want 288", c.Readings)
	}
}

// TestMigrationPacksOldReadings builds a database of the schema before migration 2000 (one row
// per reading) and checks that opening it packs every reading, unchanged, into reading_days.
func TestMigrationPacksOldReadings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	st, err := Open(ctx, path)
	must(t, err)
	seriesID := newTestSeries(t, st)
	_, err = st.db.ExecContext(ctx, `DROP TABLE reading_days;
		DELETE FROM migrations WHERE name = 'migrations/2000_reading_days.sql';
		CREATE TABLE readings (
			series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
			start INTEGER NOT NULL, seconds INTEGER NOT NULL, value REAL, quality TEXT, cost REAL, tou INTEGER,
			PRIMARY KEY (series_id, start)) WITHOUT ROWID`)
	must(t, err)
	want := []Reading{
		{Start: -900, Seconds: 900, Value: 7},
		{Start: 20454*daySeconds - 900, Seconds: 900, Value: 0.125, Quality: "17", TOU: 2, HasTOU: true},
		{Start: 20454 * daySeconds, Seconds: 900, Missing: true, Quality: "8"},
		{Start: 20454*daySeconds + 900, Seconds: 3600, Value: 12, Cost: 1.5, HasCost: true},
	}
	for _, r := range want {
		var value, cost, tou, quality any
		if !r.Missing {
			value = r.Value
		}
		if r.HasCost {
			cost = r.Cost
		}
		if r.HasTOU {
			tou = r.TOU
		}
		if r.Quality != "" {
			quality = r.Quality
		}
		// Inserted in reverse, so the packing cannot rely on the order rows come in.
		_, err := st.db.ExecContext(ctx, `INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)`, seriesID, r.Start, r.Seconds, value, quality, cost, tou)
		must(t, err)
	}
	must(t, st.Close())

	st, err = Open(ctx, path)
	must(t, err)
	defer st.Close()
	var got []Reading
	must(t, st.ExportBySeries(ctx, ExportFilter{}, func(ExportSeries) error { return nil }, func(r *Reading) error {
		got = append(got, *r)
		return nil
	}))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the migration:\n got %+v\nwant %+v", got, want)
	}
	var old int
	must(t, st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'readings'`).Scan(&old))
	if old != 0 {
		t.Error("the old readings table is still there")
	}
	var days int
	must(t, st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM reading_days`).Scan(&days))
	if days != 3 {
		t.Errorf("%d days, want 3 (1969-12-31, 2025-12-31, 2026-01-01)", days)
	}
}

func FuzzReadingDay(f *testing.F) {
	d0 := int64(20454 * daySeconds)
	f.Add(appendReadingDay(nil, 20454, []Reading{{Start: d0, Seconds: 900, Value: 0.5, Quality: "x", Cost: 1, HasCost: true, TOU: 1, HasTOU: true}, {Start: d0 + 900, Seconds: 900, Missing: true}}))
	f.Add([]byte{readingDaysVersion})
	f.Fuzz(func(t *testing.T, blob []byte) {
		rs, err := decodeReadingDay(nil, 20454, blob)
		if err != nil {
			return
		}
		for i, r := range rs {
			if dayOf(r.Start) != 20454 || (i > 0 && r.Start <= rs[i-1].Start) {
				t.Fatalf("reading %d starts at %d: outside the day or out of order", i, r.Start)
			}
		}
		// What decodes encodes to something that decodes to the same readings.
		again, err := decodeReadingDay(nil, 20454, appendReadingDay(nil, 20454, rs))
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(rs) {
			t.Fatalf("%d readings after a round trip, want %d", len(again), len(rs))
		}
		for i := range rs {
			a, b := rs[i], again[i]
			if math.Float64bits(a.Value) != math.Float64bits(b.Value) || math.Float64bits(a.Cost) != math.Float64bits(b.Cost) {
				t.Fatalf("reading %d: %+v became %+v", i, a, b)
			}
			a.Value, b.Value, a.Cost, b.Cost = 0, 0, 0, 0
			if a != b {
				t.Fatalf("reading %d: %+v became %+v", i, a, b)
			}
		}
	})
}

func firstDiff(a, b []Reading) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "custody.db"))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func newTestSeries(t *testing.T, st *Store) int64 {
	t.Helper()
	tx, err := st.Begin(context.Background())
	must(t, err)
	defer tx.Rollback()
	m := Meter{Key: "m1", Commodity: "electricity"}
	must(t, tx.UpsertMeter(&m))
	sr := Series{MeterID: m.ID, Key: "s1", Commodity: "electricity", Flow: "forward", Unit: "Wh", Seconds: 900}
	must(t, tx.UpsertSeries(&sr))
	must(t, tx.Commit())
	return sr.ID
}
