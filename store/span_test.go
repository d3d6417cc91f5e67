package store_test

import (
	"context"
	"testing"

	"custody/store"
)

// TestSpanOf: a series' span is where StatsOf says its readings start and end, and a series
// without readings has none.
func TestSpanOf(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	full, empty := seriesIn(t, st, "full"), seriesIn(t, st, "empty")
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rs []store.Reading
	for _, start := range []int64{7200, 3600, 90000, 18000} {
		rs = append(rs, store.Reading{Start: start, Seconds: 3600, Value: 1})
	}
	if err := tx.PutReadings(full, rs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.StatsOf(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id          int64
		first, last int64
		ok          bool
	}{
		{full, stats.First, stats.Last, true},
		{empty, 0, 0, false},
		{999, 0, 0, false},
	} {
		first, last, ok, err := st.SpanOf(ctx, tc.id)
		if err != nil || first != tc.first || last != tc.last || ok != tc.ok {
			t.Errorf("SpanOf(%d) = %d, %d, %v, %v; want %d, %d, %v", tc.id, first, last, ok, err, tc.first, tc.last, tc.ok)
		}
	}
	if stats.First != 3600 || stats.Last != 90000 {
		t.Errorf("stats %+v", stats)
	}
}
