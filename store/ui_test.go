package store_test

import (
	"context"
	"custody/store"
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
