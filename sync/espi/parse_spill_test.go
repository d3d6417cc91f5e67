package espi

import (
	"bytes"
	"testing"

	"custody/sync/espi/espitest"
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
