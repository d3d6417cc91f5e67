package espi

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"custody/store"
	"custody/sync/espi/espitest"
	"custody/sync/fileimport"
)

// TestReadingTypeLastSpills imports a feed whose ReadingType comes after all its
// IntervalBlocks with room in memory for only a few waiting readings: the rest go to the
// spill file and come back, and the result is exactly that of the same feed in the usual
// order.
func TestReadingTypeLastSpills(t *testing.T) {
	var first, last bytes.Buffer
	n, err := espitest.WriteBulk(&first, espitest.BulkOptions{Meters: 3, Days: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := espitest.WriteBulk(&last, espitest.BulkOptions{Meters: 3, Days: 4, ReadingTypeLast: true}); err != nil {
		t.Fatal(err)
	}
	want := func() string {
		st := openStore(t)
		sum, err := parseInto(t, st, first.Bytes())
		if err != nil || sum.Readings != n {
			t.Fatalf("usual order: %+v, %v", sum, err)
		}
		return exportText(t, st)
	}()

	old := maxPendingInMemory
	maxPendingInMemory = 200 // two days of one meter; 1,152 readings wait
	t.Cleanup(func() { maxPendingInMemory = old })
	spills := 0
	spillHook = func() { spills++ }
	t.Cleanup(func() { spillHook = nil })

	st := openStore(t)
	sum, err := parseInto(t, st, last.Bytes())
	if err != nil || sum.Readings != n {
		t.Fatalf("ReadingType last: %+v, %v", sum, err)
	}
	if spills < 5 {
		t.Fatalf("%d entries spilled, want most of the 12", spills)
	}
	if len(sum.Warnings) != 0 {
		t.Errorf("warnings %q", sum.Warnings)
	}
	if got := exportText(t, st); got != want {
		t.Fatalf("spilled import differs from the usual order:\n%.400s\nwant\n%.400s", got, want)
	}
}

// TestImportInBatchesWhileArchiving imports a bulk file the way `custody import` does, with
// batches committed every millisecond: the reading goroutine writes archive chunks while the
// writer goroutine stores readings and commits batches in the same transaction (run it with
// -race). The result equals a parse in one transaction, and the archive reads back whole.
func TestImportInBatchesWhileArchiving(t *testing.T) {
	var body bytes.Buffer
	n, err := espitest.WriteBulk(&body, espitest.BulkOptions{Meters: 3, Days: 40})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bulk.xml")
	if err := os.WriteFile(path, body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	want := func() string {
		st := openStore(t)
		if _, err := parseInto(t, st, body.Bytes()); err != nil {
			t.Fatal(err)
		}
		return exportText(t, st)
	}()
	st := openStore(t)
	im := &fileimport.Importer{Store: st, Formats: []fileimport.Format{Format()}, Batch: time.Millisecond}
	sum, err := im.Import(context.Background(), path)
	if err != nil || sum.Readings != n {
		t.Fatalf("import %+v, %v", sum, err)
	}
	if got := exportText(t, st); got != want {
		t.Fatalf("batched import differs from one transaction")
	}
	ps, err := st.Payloads(context.Background(), store.PayloadFilter{})
	if err != nil || len(ps) != 1 || ps[0].Status != store.PayloadParsed || ps[0].Size != int64(body.Len()) {
		t.Fatalf("payloads %+v, %v", ps, err)
	}
	rc, err := st.OpenPayload(context.Background(), ps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	back, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(back, body.Bytes()) {
		t.Fatalf("archive reads back %d bytes (%v), want %d", len(back), err, body.Len())
	}
}
