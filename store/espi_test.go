package store_test

import (
	"context"
	"custody/store"
	"testing"
)

// TestPutReadingsBatches writes readings in every statement shape PutReadings uses (64, 8 and
// 1 rows; quality shared by a batch or not; missing values, costs and tou) and reads them
// back unchanged, a later duplicate winning.
func TestPutReadingsBatches(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := store.Meter{Key: "m"}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	sr := store.Series{MeterID: m.ID, Key: "s"}
	if err := tx.UpsertSeries(&sr); err != nil {
		t.Fatal(err)
	}
	var want []store.Reading
	for i := 0; i < 150; i++ {
		r := store.Reading{Start: int64(i * 900), Seconds: 900, Value: float64(i) / 10, Quality: "17"}
		switch {
		case i >= 128 && i%3 == 0:
			r.Quality = "8"
		case i >= 128 && i%3 == 1:
			r.Quality = ""
		}
		if i%7 == 0 {
			r.Missing, r.Value = true, 0
		}
		if i%5 == 0 {
			r.Cost, r.HasCost = float64(i)/1000, true
		}
		if i%4 == 0 {
			r.TOU, r.HasTOU = int64(i%3+1), true
		}
		want = append(want, r)
	}
	if err := tx.PutReadings(sr.ID, want); err != nil {
		t.Fatal(err)
	}
	// The same start again, in one batch: the later one wins.
	fix := []store.Reading{{Start: 0, Seconds: 900, Value: 1, Quality: "7"}, {Start: 0, Seconds: 900, Value: 2, Quality: "9"}}
	if err := tx.PutReadings(sr.ID, fix); err != nil {
		t.Fatal(err)
	}
	want[0] = fix[1]
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []store.Reading
	if err := st.ExportReadings(ctx, store.ExportFilter{}, func(r store.ExportRow) error {
		got = append(got, r.Reading)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d readings back, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reading %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
