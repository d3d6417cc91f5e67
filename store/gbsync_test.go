package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"custody/store"
)

// TestOutstandingRequestsAndCorrelations: a request answered 202 is outstanding until its
// answer completes it, which moves the cursor to the time of the request; a correlation id is
// fetched once, however it is named again.
func TestOutstandingRequestsAndCorrelations(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	src := store.Source{Name: "pge", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 10, 18, 30, 0, 0, time.UTC)
	req := store.Request{SourceID: src.ID, Resource: "Batch/Bulk/1", Requested: at, Min: at.Add(-48 * time.Hour)}
	if err := st.SetOutstanding(ctx, req); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.Outstanding(ctx, src.ID, "Batch/Bulk/1")
	if err != nil || !ok || !got.Requested.Equal(at) || !got.Min.Equal(req.Min) || !got.Max.IsZero() {
		t.Fatalf("outstanding %+v %v %v", got, ok, err)
	}
	if all, _ := st.OutstandingRequests(ctx, src.ID); len(all) != 1 {
		t.Fatalf("%d outstanding", len(all))
	}
	if m, err := st.AnswerRequest(ctx, src.ID, "Batch/Bulk/2", store.Answer{URI: "u2", Correlation: "X"}); err != nil || len(m.Completed) != 0 {
		t.Fatalf("completed a request never made: %+v %v", m, err)
	}
	// The only request waiting, with no correlation id: the answer is its.
	if m, err := st.AnswerRequest(ctx, src.ID, "Batch/Bulk/1", store.Answer{URI: "u1", Correlation: "any"}); err != nil || len(m.Completed) != 1 ||
		!m.Completed[0].Requested.Equal(at) || m.How != store.MatchCount {
		t.Fatalf("complete: %+v %v", m, err)
	}
	if cur, _ := st.Cursor(ctx, src.ID, "Batch/Bulk/1"); !cur.Equal(at) {
		t.Fatalf("cursor %v", cur)
	}
	if _, ok, _ := st.Outstanding(ctx, src.ID, "Batch/Bulk/1"); ok {
		t.Fatal("still outstanding")
	}
	// A request the custodian gave a correlation id is completed by that one only.
	req.Correlation, req.Requested = "C1", at.Add(time.Hour)
	st.SetOutstanding(ctx, req)
	if got, _, _ := st.Outstanding(ctx, src.ID, "Batch/Bulk/1"); got.Correlation != "C1" {
		t.Fatalf("correlation %q", got.Correlation)
	}
	if m, _ := st.AnswerRequest(ctx, src.ID, "Batch/Bulk/1", store.Answer{URI: "u", Correlation: "C2"}); len(m.Completed) != 0 {
		t.Fatal("completed by another request's answer")
	}
	if m, _ := st.AnswerRequest(ctx, src.ID, "Batch/Bulk/1", store.Answer{URI: "u", Correlation: "C1"}); len(m.Completed) != 1 || m.How != store.MatchCorrelation {
		t.Fatal("not completed by its own answer")
	}

	note := func(uri, corr string) bool {
		t.Helper()
		fetch, err := st.NoteNotified(ctx, store.NotifiedURI{SourceID: src.ID, URI: uri, Status: store.NotifiedPending, Correlation: corr}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fetch
	}
	a := "https://h/r/Batch/Bulk/1?correlationID=A"
	if !note(a, "A") {
		t.Fatal("a new correlation id is not fetched")
	}
	if !note(a, "A") {
		t.Fatal("a pending URI is fetched until it is fetched")
	}
	st.SetNotifiedStatus(ctx, src.ID, a, store.NotifiedFetched, "")
	// refetchAfter 0 would make a plain URI news again; a correlation id never is.
	if note(a, "A") || note(a+"&published-min=x", "A") {
		t.Fatal("a fetched correlation id is fetched again")
	}
	if dup, _ := st.Notified(ctx, src.ID, store.NotifiedDuplicate); len(dup) != 1 || dup[0].Correlation != "A" {
		t.Fatalf("duplicates %+v", dup)
	}
	if !note("https://h/r/Subscription/5/UsagePoint/1", "") || !note("https://h/r/Batch/Bulk/1?correlationID=B", "B") {
		t.Fatal("other URIs are news")
	}
}

func TestAuthorizationStatusChanges(t *testing.T) {
	ctx := context.Background()
	st := mustOpen(t)
	src := store.Source{Name: "pge", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	a := store.Authorization{SourceID: src.ID, URI: "https://h/r/Authorization/2", ResourceURI: "https://h/r/Batch/Subscription/5",
		Title: "Customer 5", Scope: "FB=4_5", Status: store.AuthorizationActive}
	for i, tc := range []struct {
		status  int
		changed bool
	}{{store.AuthorizationActive, true}, {store.AuthorizationActive, false}, {store.AuthorizationRevoked, true}, {store.AuthorizationRevoked, false}} {
		a.Status = tc.status
		if i > 0 {
			a.Title, a.Scope = "", "" // not said again: what was said stays
		}
		changed, err := st.NoteAuthorization(ctx, a)
		if err != nil || changed != tc.changed {
			t.Fatalf("step %d: changed %v %v", i, changed, err)
		}
	}
	as, err := st.Authorizations(ctx, src.ID)
	if err != nil || len(as) != 1 || as[0].Status != store.AuthorizationRevoked || as[0].Title != "Customer 5" || as[0].Scope != "FB=4_5" {
		t.Fatalf("%+v %v", as, err)
	}
}

// TestAnswersCompleteOnlyTheRequestsTheyAnswer: with several requests for one resource
// outstanding, an answer completes the one it names by correlation id or window; one that
// could be for any of several requests with no correlation id completes none until as many
// answers have come as such requests wait; only a sync request moves the cursor.
func TestAnswersCompleteOnlyTheRequestsTheyAnswer(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 10, 18, 30, 0, 0, time.UTC)
	const rel = "Batch/Bulk/1"
	sync := store.Request{Resource: rel, Requested: t0, Min: t0.Add(-48 * time.Hour)}
	backfill := store.Request{Resource: rel, Purpose: store.RequestBackfill, Requested: t0.Add(time.Minute),
		Min: t0.Add(-40 * 24 * time.Hour), Max: t0.Add(-39 * 24 * time.Hour)}
	type step struct {
		answer store.Answer
		how    string   // "" when nothing is completed
		done   []string // purposes completed
		held   int      // Match.Held when nothing is completed
		cursor time.Time
	}
	for _, tc := range []struct {
		name     string
		requests []store.Request
		cursor   time.Time // the cursor before
		steps    []step
	}{
		{"no correlation ids: held until both answers came", []store.Request{sync, backfill}, time.Time{}, []step{
			{answer: store.Answer{URI: "a", Correlation: "A"}, held: 1},
			{answer: store.Answer{URI: "b", Correlation: "B"}, how: store.MatchCount, done: []string{"sync", "backfill"}, cursor: t0},
		}},
		{"windows tell them apart", []store.Request{sync, backfill}, time.Time{}, []step{
			{answer: store.Answer{URI: "b", Min: backfill.Min, Max: backfill.Max}, how: store.MatchWindow, done: []string{"backfill"}},
			{answer: store.Answer{URI: "x", Min: t0.Add(-5 * time.Hour), Max: t0}}, // a window nobody asked for
			{answer: store.Answer{URI: "s", Min: sync.Min, Max: t0.Add(-time.Hour)}, how: store.MatchWindow, done: []string{"sync"}, cursor: t0.Add(-time.Hour)},
		}},
		{"an echoed correlation id keeps its request out of the count", []store.Request{
			{Resource: rel, Requested: t0, Correlation: "S"}, backfill}, time.Time{}, []step{
			{answer: store.Answer{URI: "z", Correlation: "Z"}, how: store.MatchCount, done: []string{"backfill"}},
			{answer: store.Answer{URI: "s", Correlation: "S"}, how: store.MatchCorrelation, done: []string{"sync"}, cursor: t0},
		}},
		{"a request made again may get the late answer of the first", []store.Request{
			{Resource: rel, Requested: t0.Add(26 * time.Hour), Earliest: t0}}, time.Time{}, []step{
			{answer: store.Answer{URI: "a", Correlation: "A"}, how: store.MatchCount, done: []string{"sync"}, cursor: t0},
		}},
		{"the cursor never moves back", []store.Request{
			{Resource: rel, Requested: t0.Add(26 * time.Hour), Earliest: t0}}, t0.Add(time.Hour), []step{
			{answer: store.Answer{URI: "a", Correlation: "A"}, how: store.MatchCount, done: []string{"sync"}, cursor: t0.Add(time.Hour)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mustOpen(t)
			src := store.Source{Name: "pge", Kind: "greenbutton", Enabled: true, Config: map[string]string{}}
			if err := st.AddSource(ctx, &src); err != nil {
				t.Fatal(err)
			}
			st.Now = func() time.Time { return t0.Add(time.Hour) }
			if !tc.cursor.IsZero() {
				tx, _ := st.Begin(ctx)
				tx.SetCursor(src.ID, rel, tc.cursor)
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range tc.requests {
				r.SourceID = src.ID
				if err := st.SetOutstanding(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			left := len(tc.requests)
			for i, s := range tc.steps {
				m, err := st.AnswerRequest(ctx, src.ID, rel, s.answer)
				if err != nil {
					t.Fatal(err)
				}
				var done []string
				for _, r := range m.Completed {
					done = append(done, r.Purpose)
				}
				if m.How != s.how || strings.Join(done, ",") != strings.Join(s.done, ",") || (s.how == "" && m.Held != s.held) {
					t.Fatalf("step %d: %+v, want %s completing %v (held %d)", i+1, m, s.how, s.done, s.held)
				}
				left -= len(done)
				if all, _ := st.OutstandingRequests(ctx, src.ID); len(all) != left {
					t.Fatalf("step %d: %d outstanding, want %d", i+1, len(all), left)
				}
				want := s.cursor
				if want.IsZero() {
					want = tc.cursor
				}
				if cur, _ := st.Cursor(ctx, src.ID, rel); !cur.Equal(want) {
					t.Fatalf("step %d: cursor %v, want %v", i+1, cur, want)
				}
			}
		})
	}
}
