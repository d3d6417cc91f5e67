package store_test

import (
	"context"
	"testing"
	"time"

	"custody/store"
)

func TestEventsStoredOnceAndFiltered(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	src := store.Source{Name: "bank", Kind: "obevents", Enabled: true}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	toe := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tx, _ := st.Begin(ctx)
	for i, e := range []store.Event{
		{SourceID: src.ID, ISS: "https://bank", JTI: "a", Types: []string{"urn:uk:org:openbanking:events:resource-update"}, RID: "acc1", RTY: "account", TOE: toe, Verified: true, Token: "t1"},
		{SourceID: src.ID, ISS: "https://bank", JTI: "b", Types: []string{"urn:uk:org:openbanking:events:consent-authorization-revoked"}, Error: "bad signature", Token: "t2"},
		{SourceID: src.ID, ISS: "https://bank", JTI: "a", Types: []string{"x"}, Verified: true, Token: "t1 again"},
	} {
		isNew, err := tx.PutEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; isNew != want {
			t.Errorf("event %d isNew=%v, want %v", i, isNew, want)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	all, err := st.Events(ctx, store.EventFilter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("events %+v, %v", all, err)
	}
	yes := true
	v, _ := st.Events(ctx, store.EventFilter{Verified: &yes})
	if len(v) != 1 || v[0].JTI != "a" || v[0].Source != "bank" || !v[0].TOE.Equal(toe) || v[0].Token != "t1" {
		t.Fatalf("verified %+v", v)
	}
	typed, _ := st.Events(ctx, store.EventFilter{Type: "urn:uk:org:openbanking:events:consent-authorization-revoked"})
	if len(typed) != 1 || typed[0].Error != "bad signature" {
		t.Fatalf("by type %+v", typed)
	}
}

func TestMessagesUpsertByMessageID(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	src := store.Source{Name: "dh", Kind: "datahub", Enabled: true}
	st.AddSource(ctx, &src)
	for _, m := range []store.Message{
		{SourceID: src.ID, MessageID: "m1", Type: "NotifyValidatedMeasureData_MarketDocument", Readings: 24},
		{SourceID: src.ID, MessageID: "m1", Type: "NotifyValidatedMeasureData_MarketDocument", Readings: 24, Correlation: "c1"},
		{SourceID: src.ID, MessageID: "m2", Type: "RejectRequestValidatedMeasureData_MarketDocument", Reasons: []store.Reason{{Code: "E16", Text: "unknown metering point"}}},
	} {
		tx, _ := st.Begin(ctx)
		if err := tx.PutMessage(&m); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
	}
	ms, err := st.Messages(ctx, store.MessageFilter{})
	if err != nil || len(ms) != 2 {
		t.Fatalf("messages %+v, %v", ms, err)
	}
	byCorr, _ := st.Messages(ctx, store.MessageFilter{Correlation: "c1"})
	if len(byCorr) != 1 || byCorr[0].Readings != 24 || byCorr[0].Source != "dh" {
		t.Fatalf("by correlation %+v", byCorr)
	}
	rej, _ := st.Messages(ctx, store.MessageFilter{Type: "RejectRequestValidatedMeasureData_MarketDocument"})
	if len(rej) != 1 || len(rej[0].Reasons) != 1 || rej[0].Reasons[0].Code != "E16" {
		t.Fatalf("reject %+v", rej)
	}
}
