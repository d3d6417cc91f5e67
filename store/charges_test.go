package store_test

import (
	"context"
	"testing"
	"time"

	"custody/store"
)

func TestTakeCallKeepsTheLimit(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		at   time.Duration
		wait time.Duration
	}{
		{0, 0}, {time.Second, 0}, {2 * time.Second, 58 * time.Second}, {60 * time.Second, 0}, {61 * time.Second, 0}, {62 * time.Second, 58 * time.Second},
	} {
		wait, err := st.TakeCall(ctx, "k", 2, time.Minute, t0.Add(tc.at))
		if err != nil || wait != tc.wait {
			t.Errorf("call %d at +%v: wait %v, %v; want %v", i+1, tc.at, wait, err, tc.wait)
		}
	}
	// Another key has its own limit.
	if wait, _ := st.TakeCall(ctx, "other", 2, time.Minute, t0.Add(62*time.Second)); wait != 0 {
		t.Errorf("other key waits %v", wait)
	}
}

func TestChargesReplaceAndPrice(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := store.Meter{Key: "571313174100000012", Name: "Home"}
	if err := tx.UpsertMeterKeepName(&m); err != nil {
		t.Fatal(err)
	}
	m2 := store.Meter{Key: "571313174100000012", Name: "Metering point 571313174100000012"}
	if err := tx.UpsertMeterKeepName(&m2); err != nil || m2.ID != m.ID {
		t.Fatal(err)
	}
	hourly := make([]float64, 24)
	for h := range hourly {
		hourly[h] = float64(h) / 100
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := []store.Charge{
		{Kind: "subscription", Name: "Netabonnement", Prices: []float64{23.2}, Quantity: 1},
		{Kind: "tariff", Name: "Nettarif", From: from, Prices: hourly, Period: "P1H"},
		{Kind: "tariff", Name: "Elafgift", From: from, To: from.AddDate(1, 0, 0), Prices: []float64{0.72}},
	}
	if err := tx.ReplaceCharges(m.ID, cs); err != nil {
		t.Fatal(err)
	}
	if err := tx.ReplaceCharges(m.ID, cs[1:]); err != nil { // the subscription ended
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Meters(ctx, store.MeterFilter{})
	if len(ms) != 1 || ms[0].Name != "Home" {
		t.Errorf("meters %+v: readings renamed the meter", ms)
	}
	got, err := st.ChargesOf(ctx, m.ID)
	if err != nil || len(got) != 2 || got[0].Kind != "tariff" || got[0].Currency != "DKK" {
		t.Fatalf("charges %+v, %v", got, err)
	}
	for _, tc := range []struct {
		at   time.Time
		hour int
		want float64
		ok   bool
	}{
		{from.Add(17 * time.Hour), 18, 0.72 + 0.18, true},
		{from.Add(-time.Hour), 23, 0, false},
		{from.AddDate(1, 0, 1), 5, 0.05, true}, // the tax ended
	} {
		sum, cur, ok := store.TariffPerUnit(got, tc.at, tc.hour)
		if ok != tc.ok || (ok && (cur != "DKK" || sum < tc.want-1e-9 || sum > tc.want+1e-9)) {
			t.Errorf("at %v hour %d: %v %s %v, want %v", tc.at, tc.hour, sum, cur, ok, tc.want)
		}
	}
}
