package app

import (
	"fmt"
	"testing"
	"time"

	"custody/store"
	"custody/sync/datahub/datahubtest"
	"custody/sync/simtls"
)

// The DataHub simulator joins the crash test: its fixtures and three generated days, on a
// clock that stands still so every world serves the same data.
func init() {
	crashSetups["datahub"] = func(t *testing.T, w *crashWorld, pki *simtls.PKI, files simtls.Files) {
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		srv, err := datahubtest.Start(pki, "127.0.0.1:0", datahubtest.Options{Fixtures: true, Generate: 3, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		src, secret := srv.DemoSource("datahub", files)
		w.add(t, src, secret)
		w.custodians = append(w.custodians, &crashDataHub{srv: srv, source: "datahub"})
	}
}

// crashDataHub is the simulated DataHub of the crash test.
type crashDataHub struct {
	srv    *datahubtest.Server
	source string
}

func (d *crashDataHub) stored(t *testing.T, st *store.Store) map[string]store.Message {
	t.Helper()
	ms, err := st.Messages(t.Context(), store.MessageFilter{Source: d.source})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Message{}
	for _, m := range ms {
		if _, dup := out[m.MessageID]; dup {
			t.Errorf("message %s stored twice", m.MessageID)
		}
		out[m.MessageID] = m
	}
	return out
}

// state says, independently of the generated ids, whether every document is stored once and
// dequeued, and none is left waiting.
func (d *crashDataHub) state(t *testing.T, st *store.Store) string {
	ms := d.stored(t, st)
	var readings int64
	errs := 0
	for _, m := range ms {
		readings += m.Readings
		if m.Error != "" {
			errs++
		}
	}
	waiting := len(d.srv.Waiting("timeseries")) + len(d.srv.Waiting("aggregations"))
	allDequeued := true
	for id := range ms {
		allDequeued = allDequeued && d.srv.Dequeues(id) > 0
	}
	return fmt.Sprintf("datahub: %d messages (%d unreadable), %d readings; every stored one dequeued: %v; %d dequeued; waiting %d\n",
		len(ms), errs, readings, allDequeued, len(d.srv.Dequeued()), waiting)
}

// violations lists documents dequeued but not stored.
func (d *crashDataHub) violations(t *testing.T, st *store.Store) []string {
	ms := d.stored(t, st)
	var out []string
	for _, id := range d.srv.Dequeued() {
		if _, ok := ms[id]; !ok {
			out = append(out, "document "+id+" dequeued but not stored")
		}
	}
	return out
}
