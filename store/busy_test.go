package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/syncerr"
)

// seriesIn makes a meter and a series to write readings to.
func seriesIn(t *testing.T, st *store.Store, key string) int64 {
	t.Helper()
	tx, err := st.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	m := store.Meter{Key: key}
	if err := tx.UpsertMeter(&m); err != nil {
		t.Fatal(err)
	}
	sr := store.Series{MeterID: m.ID, Key: key, Unit: "Wh", Seconds: 3600}
	if err := tx.UpsertSeries(&sr); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return sr.ID
}

// A long import used to hold the write lock from its first reading to its last, so a sync or
// a second import beside it waited that long and then failed with SQLITE_BUSY. A batched
// transaction lets the other writer in while it is still writing.
func TestBatchedImportLetsAnotherWriterIn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custody.db")
	importer, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer importer.Close()
	other, err := store.Open(ctx, path) // as a second process would
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bulk := seriesIn(t, importer, "bulk")
	mine := seriesIn(t, other, "other")

	tx, err := importer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tx.Batched(50 * time.Millisecond)
	if err := tx.PutReadings(bulk, []store.Reading{{Start: 0, Seconds: 3600, Value: 1}}); err != nil {
		t.Fatal(err)
	}

	otherDone := make(chan error, 1)
	go func() {
		otx, err := other.Begin(ctx)
		if err == nil {
			err = otx.PutReadings(mine, []store.Reading{{Start: 0, Seconds: 3600, Value: 7}})
			if err == nil {
				err = otx.Commit()
			} else {
				otx.Rollback()
			}
		}
		otherDone <- err
	}()

	// Keep importing until the other writer got its turn. The batch is due after 50 ms of
	// importing, however fast the machine writes; the loop gives up only after far longer, so
	// that what is tested is the turn, not the machine's speed (a count of readings was too
	// few on a fast machine).
	giveUp := time.Now().Add(30 * time.Second)
	var got error
	done := false
	for i := int64(1); !done && time.Now().Before(giveUp); i++ {
		if err := tx.PutReadings(bulk, []store.Reading{{Start: i * 3600, Seconds: 3600, Value: float64(i)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-otherDone:
			done = true
		default:
		}
	}
	if !done {
		t.Fatalf("the other writer did not get a turn in 30 s of a batched import")
	}
	if got != nil {
		t.Fatalf("the other writer failed beside a batched import: %v", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestBusyDatabaseIsExplainedAsBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custody.db")
	holder, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiter, err := store.OpenWith(ctx, path, store.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	_, err = waiter.Begin(ctx)
	var busy *store.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("begin beside a held lock: %v, want a BusyError", err)
	}
	if !strings.Contains(err.Error(), "the database is busy") {
		t.Errorf("message %q does not say the database is busy", err)
	}
	wrapped := syncerr.E(syncerr.Local, "import x.xml", err)
	if advice := syncerr.Advice(wrapped); !strings.Contains(advice, "Another Custody") || strings.Contains(advice, "disk space") {
		t.Errorf("advice for a busy database: %q", advice)
	}
}
