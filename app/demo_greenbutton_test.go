package app

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/espi"
)

// TestDemoAsyncAndConnectedSources: in the demo, the PG&E-like source asks once, says it is
// waiting, and gets its data through the listener the app starts; the connected household
// syncs its subscription with the customer's token.
func TestDemoAsyncAndConnectedSources(t *testing.T) {
	needSims(t)
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env, _, _ := testEnv(t)
	env.Drivers = drivers(env)
	stop, err := startDemo(ctx, env, st)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	listeners := newListenerManager(ctx, env, st)
	if err := listeners.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	defer listeners.Close()

	household, err := st.SourceByName(ctx, demoConnectedSource)
	if err != nil {
		t.Fatal(err)
	}
	if ids := household.List(espi.CfgSubscriptionIDs); len(ids) != 1 || household.Config["resource_uri"] == "" {
		t.Fatalf("household not connected: %+v", household.Config)
	}
	res, err := env.Drivers["greenbutton"].Sync(ctx, env.job(st, household, nil))
	if err != nil || res.Readings == 0 {
		t.Fatalf("household sync: %+v %v", res, err)
	}

	async, err := st.SourceByName(ctx, demoAsyncSource)
	if err != nil {
		t.Fatal(err)
	}
	res, err = env.Drivers["greenbutton"].Sync(ctx, env.job(st, async, nil))
	if err != nil || !strings.Contains(res.Note, "waiting for the custodian's notification") {
		t.Fatalf("async sync: %+v %v", res, err)
	}
	rel := "Batch/Bulk/" + async.List(espi.CfgBulkIDs)[0]
	// The simulator notifies the listener at once; wait (bounded) for the fetch it starts.
	var cursor time.Time
	for i := 0; i < 1200 && cursor.IsZero(); i++ { // up to 30 s, for a loaded machine
		time.Sleep(25 * time.Millisecond)
		cursor, _ = st.Cursor(ctx, async.ID, rel)
	}
	if cursor.IsZero() {
		t.Fatal("the async source's notification never completed the request")
	}
	if _, ok, _ := st.Outstanding(ctx, async.ID, rel); ok {
		t.Fatal("the request is still outstanding")
	}
}
