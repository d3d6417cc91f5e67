package store_test

import (
	"context"
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
	if _, ok, _ := st.CompleteRequest(ctx, src.ID, "Batch/Bulk/2", ""); ok {
		t.Fatal("completed a request never made")
	}
	if done, ok, err := st.CompleteRequest(ctx, src.ID, "Batch/Bulk/1", "any"); err != nil || !ok || !done.Requested.Equal(at) {
		t.Fatalf("complete: %+v %v %v", done, ok, err)
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
	if _, ok, _ := st.CompleteRequest(ctx, src.ID, "Batch/Bulk/1", "C2"); ok {
		t.Fatal("completed by another request's answer")
	}
	if _, ok, _ := st.CompleteRequest(ctx, src.ID, "Batch/Bulk/1", "C1"); !ok {
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
