package store_test

import (
	"context"
	"testing"
	"time"

	"custody/store"
)

// TestPutEventWindow: a repeat within the window (even re-signed) is recognised; a jti the
// bank recycled after the window is a new event, and the earlier one is kept.
func TestPutEventWindow(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	src := store.Source{Name: "bank", Kind: "obevents", Enabled: true}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(token string, iat time.Time) *store.Event {
		return &store.Event{SourceID: src.ID, ISS: "https://bank/", JTI: "j1", IAT: iat, Verified: true, Token: token}
	}
	tx, _ := st.Begin(ctx)
	defer tx.Rollback()
	for i, c := range []struct {
		e    *store.Event
		want bool
	}{
		{ev("t1", t0), true},
		{ev("t1", t0), false},                            // redelivered
		{ev("t1-resigned", t0.Add(48*time.Hour)), false}, // re-signed on redelivery, within the window
		{ev("t2", t0.Add(60*24*time.Hour)), true},        // recycled after the window
	} {
		isNew, err := tx.PutEventWindow(c.e, 30*24*time.Hour)
		if err != nil || isNew != c.want {
			t.Fatalf("step %d: new %v (%v), want %v", i, isNew, err, c.want)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.Events(ctx, store.EventFilter{})
	if len(evs) != 2 || evs[0].JTI != "j1" || evs[0].Token != "t2" || evs[1].JTI != "j1#iat=1767225600" {
		t.Fatalf("%+v", evs)
	}
}
