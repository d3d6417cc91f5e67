package store_test

import (
	"context"
	"custody/store"
	"testing"
)

func TestSummariesWithLineItems(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := store.Meter{Key: "up/1", Commodity: "electricity"}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	for i, start := range []int64{1700000000, 1702600000} {
		u := store.UsageSummary{MeterID: m.ID, Key: "bill", PeriodStart: start, PeriodSeconds: 2592000,
			BillLastPeriod: f(float64(100 + i)), Currency: "USD",
			Items: []store.LineItem{{Note: "Energy charge", Amount: f(80), Measurement: f(500), Unit: "kWh"}, {Note: "Tax"}}}
		if err := tx.PutSummary(&u); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := st.SummariesOf(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].PeriodStart != 1702600000 || *got[1].BillLastPeriod != 101 {
		t.Fatalf("summaries: %+v", got)
	}
	if len(got[0].Items) != 2 || got[0].Items[0].Note != "Energy charge" || *got[0].Items[0].Measurement != 500 ||
		got[0].Items[1].Amount != nil || got[0].BillToDate != nil {
		t.Fatalf("line items: %+v", got[0].Items)
	}
}
