package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
)

// mustOpen opens a fresh store in a temporary folder.
func mustOpen(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "data", "custody.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func TestOpenCreatesPrivateFileAndMigrates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "custody.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", p, got, want)
		}
	}
	ms, err := st.Migrations(context.Background())
	if err != nil || len(ms) == 0 || ms[0] != "0001_init.sql" {
		t.Fatalf("migrations %v, %v", ms, err)
	}
	st.Close()
	// Reopening applies nothing twice.
	st2, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ms2, _ := st2.Migrations(context.Background())
	if len(ms2) != len(ms) {
		t.Fatalf("reopen: %v, want %v", ms2, ms)
	}
}

func putSeries(t *testing.T, tx *store.Tx, meter, series string) int64 {
	t.Helper()
	m := store.Meter{Key: meter, Commodity: "electricity"}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	sr := store.Series{MeterID: m.ID, Key: series, Commodity: "electricity", Flow: "forward", Unit: "Wh", Seconds: 3600}
	if err := tx.UpsertSeries(&sr); err != nil {
		t.Fatal(err)
	}
	return sr.ID
}

func TestReadingsUpsertLaterWins(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	write := func(rs []store.Reading) {
		tx, err := st.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		id := putSeries(t, tx, "mp1", "s1")
		if err := tx.PutReadings(id, rs); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	write([]store.Reading{{Start: 0, Seconds: 3600, Value: 1}, {Start: 3600, Seconds: 3600, Value: 2}})
	write([]store.Reading{{Start: 3600, Seconds: 3600, Value: 5, Quality: "8", Cost: 0.25, HasCost: true}, {Start: 7200, Seconds: 3600, Missing: true}})

	var rows []store.ExportRow
	if err := st.ExportReadings(ctx, store.ExportFilter{}, func(r store.ExportRow) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3 (the correction replaced, not added)", len(rows))
	}
	if r := rows[1].Reading; r.Value != 5 || r.Quality != "8" || !r.HasCost || r.Cost != 0.25 {
		t.Errorf("corrected reading = %+v", r)
	}
	if r := rows[2].Reading; !r.Missing {
		t.Errorf("missing reading came back with a value: %+v", r)
	}
	c, _ := st.Counts(ctx)
	if c.Meters != 1 || c.Series != 1 || c.Readings != 3 {
		t.Errorf("counts %+v", c)
	}
}

func TestRollbackLeavesNothing(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := putSeries(t, tx, "mp1", "s1")
	if err := tx.PutReadings(id, []store.Reading{{Start: 1, Seconds: 1, Value: 1}}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	c, _ := st.Counts(ctx)
	if c.Meters != 0 || c.Readings != 0 {
		t.Fatalf("after rollback %+v", c)
	}
}

func TestArchiveStreamsAndDedupes(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	body := make([]byte, 3<<20+123) // larger than one chunk
	rand.Read(body)
	p, existed, err := st.Archive(ctx, store.Payload{Format: "espi", URL: "https://example/x", Headers: map[string]string{"Content-Type": "application/atom+xml"}}, bytes.NewReader(body))
	if err != nil || existed {
		t.Fatalf("archive: %v existed=%v", err, existed)
	}
	if p.Size != int64(len(body)) || len(p.SHA256) != 64 {
		t.Fatalf("payload %+v", p)
	}
	r, err := st.OpenPayload(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes, err %v; equal=%v", len(got), err, bytes.Equal(got, body))
	}
	p2, existed, err := st.Archive(ctx, store.Payload{Format: "espi", URL: "https://example/again"}, bytes.NewReader(body))
	if err != nil || !existed || p2.ID != p.ID {
		t.Fatalf("second archive: id %d (first %d) existed=%v err=%v", p2.ID, p.ID, existed, err)
	}
	if err := st.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, "line 3: bad"); err != nil {
		t.Fatal(err)
	}
	ps, _ := st.Payloads(ctx, store.PayloadFilter{Status: store.PayloadFailed})
	if len(ps) != 1 || ps[0].Error != "line 3: bad" || ps[0].Headers["Content-Type"] != "application/atom+xml" {
		t.Fatalf("failed payloads %+v", ps)
	}
}

func TestSafeHeadersDropCredentials(t *testing.T) {
	h := map[string][]string{"Authorization": {"Bearer abc"}, "Content-Type": {"text/xml"}, "Set-Cookie": {"s=1"}}
	got := store.SafeHeaders(h)
	if _, ok := got["Authorization"]; ok || got["Content-Type"] != "text/xml" {
		t.Fatalf("SafeHeaders = %v", got)
	}
	if _, ok := got["Set-Cookie"]; ok {
		t.Fatalf("cookie kept: %v", got)
	}
}

func TestSourcesRunsAndPendingAcks(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	src := store.Source{Name: "bank", Kind: "obevents", Enabled: true, Config: map[string]string{"base_url": "https://bank.example"}}
	src.SetList("queues", []string{"a,b", "c"})
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSource(ctx, &store.Source{Name: "bank", Kind: "obevents"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	got, err := st.SourceByName(ctx, "bank")
	if err != nil || got.Config["base_url"] != "https://bank.example" || strings.Join(got.List("queues"), "|") != "a,b|c" {
		t.Fatalf("SourceByName = %+v, %v", got, err)
	}
	run, err := st.StartRun(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, store.SyncRun{ID: run, Status: "failed", ErrorKind: "network", Error: "offline"}); err != nil {
		t.Fatal(err)
	}
	runs, _ := st.Runs(ctx, 0, 10)
	if len(runs) != 1 || runs[0].Source != "bank" || runs[0].ErrorKind != "network" {
		t.Fatalf("runs %+v", runs)
	}
	tx, _ := st.Begin(ctx)
	for _, jti := range []string{"j1", "j2", "j1"} {
		if err := tx.AddPendingAck(store.PendingAck{SourceID: src.ID, Kind: "ack", Item: jti}); err != nil {
			t.Fatal(err)
		}
	}
	tx.Commit()
	acks, _ := st.PendingAcks(ctx, src.ID, "ack")
	if len(acks) != 2 {
		t.Fatalf("pending acks %+v", acks)
	}
	st.DeletePendingAcks(ctx, []int64{acks[0].ID})
	acks, _ = st.PendingAcks(ctx, src.ID, "ack")
	if len(acks) != 1 || acks[0].Item != "j2" {
		t.Fatalf("after delete %+v", acks)
	}
	if err := st.RemoveSource(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SourceByName(ctx, "bank"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
}

func TestConcurrentWritersWait(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func(w int) {
			tx, err := st.Begin(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback()
			m := store.Meter{Key: "mp"}
			if err := tx.UpsertMeter(&m); err != nil {
				errs <- err
				return
			}
			sr := store.Series{MeterID: m.ID, Key: "s"}
			if err := tx.UpsertSeries(&sr); err != nil {
				errs <- err
				return
			}
			rs := make([]store.Reading, 100)
			for i := range rs {
				rs[i] = store.Reading{Start: int64(w*100 + i), Seconds: 1, Value: float64(i)}
			}
			if err := tx.PutReadings(sr.ID, rs); err != nil {
				errs <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
			errs <- tx.Commit()
		}(w)
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c, _ := st.Counts(ctx)
	if c.Readings != 400 {
		t.Fatalf("readings %d, want 400", c.Readings)
	}
}

// BenchmarkPutReadings measures the hot path: upserting readings in one large transaction.
func BenchmarkPutReadings(b *testing.B) {
	st := mustOpen(b)
	ctx := context.Background()
	const batch = 10000
	rs := make([]store.Reading, batch)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		tx, err := st.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		m := store.Meter{Key: "mp"}
		tx.UpsertMeter(&m)
		sr := store.Series{MeterID: m.ID, Key: "s"}
		tx.UpsertSeries(&sr)
		for i := range rs {
			rs[i] = store.Reading{Start: int64(n*batch+i) * 900, Seconds: 900, Value: float64(i), Quality: "19"}
		}
		if err := tx.PutReadings(sr.ID, rs); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "readings/s")
}
