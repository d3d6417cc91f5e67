package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"custody/store/internal/dayblob"
)

// TestPutReadingsAcrossDays writes readings that straddle UTC days in several calls, out of
// order and with corrections, and reads them back through every query of readings.
func TestPutReadingsAcrossDays(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	seriesID := newTestSeries(t, st)
	// Local days of a meter eight hours behind UTC: each call spans two UTC days.
	base := int64(20454*dayblob.DaySeconds + 8*3600)
	var want []Reading
	for d := int64(0); d < 3; d++ {
		for i := int64(0); i < 96; i++ {
			want = append(want, Reading{Start: base + d*dayblob.DaySeconds + i*900, Seconds: 900, Value: float64(d*1000 + i), Quality: "17"})
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
	created := 0
	st, err := OpenWith(ctx, path, Options{OnUpgrade: func() { created++ }})
	must(t, err)
	if created != 0 {
		t.Errorf("OnUpgrade called for a new database")
	}
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
		{Start: 20454*dayblob.DaySeconds - 900, Seconds: 900, Value: 0.125, Quality: "17", TOU: 2, HasTOU: true},
		{Start: 20454 * dayblob.DaySeconds, Seconds: 900, Missing: true, Quality: "8"},
		{Start: 20454*dayblob.DaySeconds + 900, Seconds: 3600, Value: 12, Cost: 1.5, HasCost: true},
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
	// A second series with 50,000 readings, so that the old table is most of the file.
	_, err = st.db.ExecContext(ctx, `INSERT INTO series (meter_id, key, updated) SELECT meter_id, 'bulk', 0 FROM series WHERE id = ?`, seriesID)
	must(t, err)
	_, err = st.db.ExecContext(ctx, `WITH RECURSIVE x(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM x WHERE i < 49999)
		INSERT INTO readings SELECT (SELECT id FROM series WHERE key = 'bulk'), 1700000000 + i * 900, 900, i * 0.001, '17', NULL, NULL FROM x`)
	must(t, err)
	must(t, st.Close())

	upgrades := 0
	st, err = OpenWith(ctx, path, Options{OnUpgrade: func() { upgrades++ }})
	must(t, err)
	defer st.Close()
	if upgrades != 1 {
		t.Errorf("OnUpgrade called %d times, want once", upgrades)
	}
	// The pages the old table freed went back to the file system.
	var free, pages int64
	must(t, st.db.QueryRowContext(ctx, `SELECT (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_count FROM pragma_page_count)`).Scan(&free, &pages))
	if free*4 >= pages {
		t.Errorf("%d of %d pages free after the migration: not compacted", free, pages)
	}
	var got []Reading
	must(t, st.ExportBySeries(ctx, ExportFilter{Series: []string{"s1"}}, func(ExportSeries) error { return nil }, func(r *Reading) error {
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
	if days != 3+522 {
		t.Errorf("%d days, want 3 of s1 (1969-12-31, 2025-12-31, 2026-01-01) and 522 of the bulk series", days)
	}
	stats, err := st.StatsOf(ctx, seriesID+1)
	must(t, err)
	if stats.Count != 50000 || stats.First != 1700000000 || stats.Last != 1700000000+49999*900 {
		t.Errorf("bulk series after the migration: %+v", stats)
	}
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
