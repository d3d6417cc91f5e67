package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"custody/store"
)

// TestPutEventWindow: a repeat within the window (even re-signed) is recognised; a jti the
// bank recycled after the window is a new event, and the earlier one is kept.
func TestPutEventWindow(t *testing.T) {
	st, src := bankStore(t)
	ctx := context.Background()
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

// TestEventTokenArchived: a token kept only in the archived poll answer is not in the event's
// row and reads back from the answer, also after its jti was recycled (the earlier event
// renamed with "#iat="); a token stored in the row reads back from the row; an archived token
// without a payload is refused.
func TestEventTokenArchived(t *testing.T) {
	st, src := bankStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	answers := []string{
		`{"sets":{"j1":"h.p1.s1","j2":"h.p\u0032.s2","bad":{"not":"a string"}},"moreAvailable":true}`,
		`{"sets":{"j1":"h.p3.s3"},"moreAvailable":false}`,
	}
	tx, _ := st.Begin(ctx)
	defer tx.Rollback()
	var ids []int64
	for _, a := range answers {
		p, _, err := tx.ArchiveBytes(store.Payload{SourceID: src.ID, Format: "set", Status: store.PayloadParsed}, []byte(a))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	for _, e := range []store.Event{
		{JTI: "j1", Token: "h.p1.s1", IAT: t0, Verified: true, PayloadID: ids[0], TokenArchived: true},
		{JTI: "j2", Token: "h.p2.s2", IAT: t0, Verified: true, PayloadID: ids[0], TokenArchived: true},
		{JTI: "bad", Token: `{"not":"a string"}`, PayloadID: ids[0], TokenArchived: true, Error: "invalid_request: not a JWS"},
		{JTI: "j1", Token: "h.p3.s3", IAT: t0.Add(60 * 24 * time.Hour), Verified: true, PayloadID: ids[1], TokenArchived: true},
		{JTI: "j4", Token: "in.the.row", IAT: t0, Verified: true, PayloadID: ids[1]},
	} {
		e.SourceID, e.ISS = src.ID, "https://bank/"
		if isNew, err := tx.PutEventWindow(&e, 30*24*time.Hour); err != nil || !isNew {
			t.Fatalf("%s: new %v, %v", e.JTI, isNew, err)
		}
	}
	if _, err := tx.PutEvent(&store.Event{SourceID: src.ID, ISS: "https://bank/", JTI: "j5", Token: "t", TokenArchived: true}); err == nil {
		t.Fatal("an archived token without a payload was accepted")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"j1": "h.p3.s3", "j1#iat=1767225600": "h.p1.s1", "j2": "h.p2.s2", "bad": `{"not":"a string"}`, "j4": "in.the.row"}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for _, e := range evs {
		archived := e.JTI != "j4"
		if e.TokenArchived != archived || (archived && e.Token != "") {
			t.Errorf("%s: archived %v, row token %q", e.JTI, e.TokenArchived, e.Token)
		}
		tok, err := st.EventToken(ctx, e)
		if err != nil || tok != want[e.JTI] {
			t.Errorf("%s: token %q (%v), want %q", e.JTI, tok, err, want[e.JTI])
		}
	}
	missing := store.Event{JTI: "j9", PayloadID: ids[1], TokenArchived: true}
	if _, err := st.EventToken(ctx, missing); err == nil {
		t.Error("a token the answer does not hold was read")
	}
}

// TestArchiveBytes: an in-memory body is archived with its outcome, reads back whole, and a
// second identical body is recognised as the first.
func TestArchiveBytes(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	body := []byte(`{"sets":{"j1":"a.b.c"},"moreAvailable":false}`)
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, existed, err := tx.ArchiveBytes(store.Payload{Format: "set", URL: "https://bank/events", Status: store.PayloadFailed, Error: "why"}, body)
	if err != nil || existed || p.ID == 0 {
		t.Fatalf("%+v %v %v", p, existed, err)
	}
	again, existed, err := tx.ArchiveBytes(store.Payload{Format: "set", URL: "https://bank/events"}, body)
	if err != nil || !existed || again.ID != p.ID {
		t.Fatalf("the same body again: %+v %v %v", again, existed, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := st.Payload(ctx, p.ID)
	if err != nil || got.Status != store.PayloadFailed || got.Error != "why" || got.Size != int64(len(body)) || got.SHA256 != p.SHA256 {
		t.Fatalf("%+v %v", got, err)
	}
	rc, err := st.OpenPayload(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	back, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(back, body) {
		t.Fatalf("read back %q %v", back, err)
	}
	if ps, _ := st.Payloads(ctx, store.PayloadFilter{}); len(ps) != 1 {
		t.Fatalf("%d payloads, want 1", len(ps))
	}
}

// TestPendingAcksBatch: acknowledgements added together (one twice, with a new detail) are
// listed in order with their details, and those forgotten in a transaction are gone.
func TestPendingAcksBatch(t *testing.T) {
	st, src := bankStore(t)
	ctx := context.Background()
	tx, _ := st.Begin(ctx)
	defer tx.Rollback()
	added, err := tx.AddPendingAcks([]store.PendingAck{
		{SourceID: src.ID, Kind: "ack", Item: "j1"},
		{SourceID: src.ID, Kind: "seterr", Item: "j2", Detail: map[string]string{"err": "invalid_key", "description": `a "quoted" reason`}},
		{SourceID: src.ID, Kind: "ack", Item: "j3"},
	})
	if err != nil || len(added) != 3 {
		t.Fatal(added, err)
	}
	again, err := tx.AddPendingAcks([]store.PendingAck{{SourceID: src.ID, Kind: "seterr", Item: "j2", Detail: map[string]string{"err": "invalid_request"}}})
	if err != nil || len(again) != 1 || again[0].ID != added[1].ID {
		t.Fatalf("the same one again: %+v %v, want id %d", again, err, added[1].ID)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	all, err := st.PendingAcksOf(ctx, src.ID)
	if err != nil || len(all) != 3 {
		t.Fatalf("%+v %v", all, err)
	}
	for i, want := range []string{"ack j1", "seterr j2", "ack j3"} {
		if got := all[i].Kind + " " + all[i].Item; got != want || all[i].SourceID != src.ID || all[i].ID != added[i].ID {
			t.Fatalf("pending %d: %q, want %q", i, got, want)
		}
	}
	if all[1].Detail["err"] != "invalid_request" || len(all[1].Detail) != 1 {
		t.Fatalf("detail %v, want the later one", all[1].Detail)
	}
	tx, _ = st.Begin(ctx)
	if err := tx.DeletePendingAcks([]int64{all[0].ID, all[1].ID}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if left, _ := st.PendingAcksOf(ctx, src.ID); len(left) != 1 || left[0].Item != "j3" {
		t.Fatalf("left %+v", left)
	}
}

// TestPutEvents: one call stores a poll answer's events as PutEventWindow and PutEvent would
// one by one: new ones get their ids, a repeat in the same call or of a stored event is not
// new, a verified event whose jti was recycled after the window is, and a rejected token is
// recognised by issuer and jti alone.
func TestPutEvents(t *testing.T) {
	st, src := bankStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(jti, token string, iat time.Time, verified bool) store.Event {
		e := store.Event{SourceID: src.ID, ISS: "https://bank/", JTI: jti, IAT: iat, Verified: verified, Token: token, Types: []string{"urn:t"}}
		if !verified {
			e.ISS, e.Error = "", "invalid_key: bad signature"
		}
		return e
	}
	tx, _ := st.Begin(ctx)
	defer tx.Rollback()
	if _, err := tx.PutEvents([]store.Event{ev("old", "t-old", t0, true), ev("rej", "t-rej", t0, false)}, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name string
		es   []store.Event
		want []bool
	}{
		{"empty", nil, []bool{}},
		{"new, and again in the same call", []store.Event{ev("a", "t-a", t0, true), ev("b", "t-b", t0, true), ev("a", "t-a2", t0, true)}, []bool{true, true, false}},
		{"redelivered, re-signed within the window", []store.Event{ev("old", "t-old2", t0.Add(48*time.Hour), true)}, []bool{false}},
		{"recycled after the window, beside a new one", []store.Event{ev("c", "t-c", t0, true), ev("old", "t-new", t0.Add(60*24*time.Hour), true)}, []bool{true, true}},
		{"rejected again, whatever its iat", []store.Event{ev("rej", "t-rej2", t0.Add(60*24*time.Hour), false)}, []bool{false}},
	} {
		got, err := tx.PutEvents(c.es, 30*24*time.Hour)
		if err != nil || !slices.Equal(got, c.want) {
			t.Fatalf("step %d (%s): new %v (%v), want %v", i, c.name, got, err, c.want)
		}
		for j, e := range c.es {
			if (e.ID != 0) != c.want[j] {
				t.Fatalf("step %d (%s): event %d has id %d", i, c.name, j, e.ID)
			}
		}
	}
	var many []store.Event
	for i := range 37 {
		many = append(many, ev(fmt.Sprintf("m%02d", i), "t", t0, true))
	}
	many = append(many, ev("m05", "t", t0, true))
	got, err := tx.PutEvents(many, 30*24*time.Hour)
	if err != nil || len(got) != 38 || slices.Contains(got[:37], false) || got[37] {
		t.Fatalf("38 events: %v %v", got, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.Events(ctx, store.EventFilter{})
	byJTI := map[string]store.Event{}
	for _, e := range evs {
		byJTI[e.JTI] = e
	}
	// old and rej, a, b and c, the new old, and the 37.
	if len(evs) != 2+3+1+37 || byJTI["old"].Token != "t-new" || byJTI["old#iat=1767225600"].Token != "t-old" ||
		byJTI["a"].Token != "t-a" || byJTI["rej"].Token != "t-rej" || byJTI["rej"].Verified || !slices.Equal(byJTI["m36"].Types, []string{"urn:t"}) {
		t.Fatalf("%d events: old %q, old#iat %q, a %q, rej %+v", len(evs), byJTI["old"].Token, byJTI["old#iat=1767225600"].Token, byJTI["a"].Token, byJTI["rej"])
	}
}

// TestPendingAcksMany: more acknowledgements than one statement carries are added and
// forgotten in order, whatever their number.
func TestPendingAcksMany(t *testing.T) {
	st, src := bankStore(t)
	ctx := context.Background()
	var as []store.PendingAck
	for i := range 40 {
		as = append(as, store.PendingAck{SourceID: src.ID, Kind: "ack", Item: fmt.Sprintf("j%02d", i)})
	}
	tx, _ := st.Begin(ctx)
	defer tx.Rollback()
	added, err := tx.AddPendingAcks(as)
	if err != nil || len(added) != 40 {
		t.Fatal(len(added), err)
	}
	var ids []int64
	for i, a := range added {
		if a.Item != as[i].Item || a.ID == 0 || slices.Contains(ids, a.ID) {
			t.Fatalf("ack %d: %+v", i, a)
		}
		ids = append(ids, a.ID)
	}
	// Forget all but the first and the last, in uneven pieces.
	for _, piece := range [][]int64{ids[1:4], ids[4:5], ids[5:39]} {
		if err := tx.DeletePendingAcks(piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	left, err := st.PendingAcksOf(ctx, src.ID)
	if err != nil || len(left) != 2 || left[0].ID != ids[0] || left[1].ID != ids[39] {
		t.Fatalf("left %+v %v", left, err)
	}
}

// bankStore is a new store with one obevents source, "bank".
func bankStore(t *testing.T) (*store.Store, store.Source) {
	t.Helper()
	st := mustOpen(t)
	src := store.Source{Name: "bank", Kind: "obevents", Enabled: true}
	if err := st.AddSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	return st, src
}
