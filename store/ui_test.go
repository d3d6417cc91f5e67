package store_test

import (
	"context"
	"custody/store"
	"errors"
	"math"
	"testing"
)

func TestCostOf(t *testing.T) {
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
	withCost := store.Series{MeterID: m.ID, Key: "a", Unit: "Wh"}
	without := store.Series{MeterID: m.ID, Key: "b", Unit: "Wh"}
	for _, s := range []*store.Series{&withCost, &without} {
		if err := tx.UpsertSeries(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.PutReadings(withCost.ID, []store.Reading{
		{Start: 0, Seconds: 900, Value: 1, Cost: 0.25, HasCost: true},
		{Start: 900, Seconds: 900, Value: 1, Cost: 0.5, HasCost: true},
		{Start: 1800, Seconds: 900, Value: 1}, // no cost given
		{Start: 2700, Seconds: 900, Value: 1, Cost: 1, HasCost: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutReadings(without.ID, []store.Reading{{Start: 0, Seconds: 900, Value: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	sum, n, err := st.CostOf(ctx, withCost.ID, 0, 2700)
	if err != nil || n != 2 || math.Abs(sum-0.75) > 1e-12 {
		t.Fatalf("cost: %v over %d readings, %v", sum, n, err)
	}
	if _, n, err := st.CostOf(ctx, without.ID, 0, 1e9); err != nil || n != 0 {
		t.Fatalf("a series without cost: %d, %v", n, err)
	}
}

// TestPeriodTotals sums a period: missing readings are counted apart and cover nothing, the
// peak carries its time, cost is counted only where given, and an empty period is all zero.
func TestPeriodTotals(t *testing.T) {
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
	s := store.Series{MeterID: m.ID, Key: "a", Unit: "kWh"}
	if err := tx.UpsertSeries(&s); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutReadings(s.ID, []store.Reading{
		{Start: 0, Seconds: 3600, Value: 1, Cost: 0.5, HasCost: true},
		{Start: 3600, Seconds: 3600, Value: 4},
		{Start: 7200, Seconds: 3600, Missing: true},
		{Start: 10800, Seconds: 3600, Value: 2, Cost: 1, HasCost: true},
		{Start: 14400, Seconds: 3600, Value: 9}, // outside [0, 14400)
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := st.PeriodTotals(ctx, s.ID, 0, 14400)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Totals{Count: 3, Missing: 1, Sum: 7, Covered: 3 * 3600, CostSum: 1.5, CostCount: 2, Peak: 4, PeakAt: 3600, First: 0, LastEnd: 14400}
	if got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	empty, err := st.PeriodTotals(ctx, s.ID, 1e6, 2e6)
	if err != nil || empty != (store.Totals{}) {
		t.Errorf("an empty period: %+v, %v", empty, err)
	}
}

// TestMeterDisplayName: the user's name for a meter survives the source's next payload, is
// found by the search, and an empty name goes back to the source's.
func TestMeterDisplayName(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	upsert := func(name string) store.Meter {
		tx, err := st.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := store.Meter{Key: "571313100000001239", Name: name}
		if err := tx.UpsertMeter(&m); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := upsert("Metering point 571313100000001239")
	if err := st.SetMeterDisplayName(ctx, m.ID, "  Heat pump  "); err != nil {
		t.Fatal(err)
	}
	upsert("Metering point 571313100000001239 (again)")
	ms, err := st.Meters(ctx, store.MeterFilter{Search: "heat"})
	if err != nil || len(ms) != 1 || ms[0].DisplayName != "Heat pump" || ms[0].Name != "Metering point 571313100000001239 (again)" {
		t.Fatalf("after a sync: %+v, %v", ms, err)
	}
	if err := st.SetMeterDisplayName(ctx, m.ID, ""); err != nil {
		t.Fatal(err)
	}
	if ms, _ := st.Meters(ctx, store.MeterFilter{Search: "heat"}); len(ms) != 0 {
		t.Errorf("the cleared name is still found: %+v", ms)
	}
	if err := st.SetMeterDisplayName(ctx, 9999, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("renaming no meter: %v", err)
	}
}
