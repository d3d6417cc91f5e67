package espi

import (
	"bufio"
	"context"
	"fmt"

	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"custody/store"
	"custody/sync/espi/espitest"
	"custody/sync/fileimport"
)

// The benchmark file imitates a PG&E Share My Data bulk response: ns0/ns1 prefixes declared on
// every entry, xsi:type on Atom elements, base64 ids, one ReadingType per meter, one 96-reading
// IntervalBlock entry per meter and local day, quality and tou on every reading. Its size is
// ESPI_BENCH_METERS × ESPI_BENCH_DAYS (default 20 × 30 = 57,600 readings, about 17 MB); the
// full size of the issue is ESPI_BENCH_METERS=200 ESPI_BENCH_DAYS=365 (7 million readings,
// about 2 GB). ESPI_BENCH_RT_LAST=1 moves the ReadingType to the end of the file.

func benchSize() (meters, days int) {
	meters, days = 20, 30
	if v, err := strconv.Atoi(os.Getenv("ESPI_BENCH_METERS")); err == nil && v > 0 {
		meters = v
	}
	if v, err := strconv.Atoi(os.Getenv("ESPI_BENCH_DAYS")); err == nil && v > 0 {
		days = v
	}
	return meters, days
}

var (
	benchOnce sync.Once
	benchDir  string
	benchFile string
	benchN    int
	benchErr  error
)

// TestMain removes the generated benchmark file, which the benchmarks share.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchmarkFile generates the bulk file once per process (it is shared by the benchmarks,
// so it cannot live in one benchmark's b.TempDir).
func benchmarkFile(b *testing.B) (string, int) {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "espi-bench")
		if benchErr != nil {
			return
		}
		benchFile = filepath.Join(benchDir, "bulk.xml")
		benchN, benchErr = writeBulk(benchFile)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFile, benchN
}

func writeBulk(path string) (int, error) {
	meters, days := benchSize()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	// ESPI_BENCH_RT_LAST=1 puts the ReadingType at the end: the worst case, where every
	// reading waits for it.
	n, err := espitest.WriteBulk(f, espitest.BulkOptions{Meters: meters, Days: days, ReadingTypeLast: os.Getenv("ESPI_BENCH_RT_LAST") != ""})
	if err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

// heapWatch samples the live heap while a benchmark runs and reports its peak.
type heapWatch struct {
	cpu0 time.Duration
	stop chan struct{}
	done chan uint64
}

func watchHeap() *heapWatch {
	runtime.GC()
	h := &heapWatch{cpu0: cpuTime(), stop: make(chan struct{}), done: make(chan uint64)}
	go func() {
		// runtime/metrics reads the heap without stopping the world (ReadMemStats would).
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapWatch) peakMB() float64 {
	close(h.stop)
	return float64(<-h.done) / (1 << 20)
}

// report adds readings per second of wall time, readings per second of process CPU time
// (which stays meaningful when other processes compete for the cores; it includes the time
// spent between timed regions, such as opening databases, so it is a lower bound), and the
// peak live heap.
func report(b *testing.B, h *heapWatch, readings int) {
	cpu := cpuTime() - h.cpu0
	b.ReportMetric(float64(readings)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	if cpu > 0 {
		b.ReportMetric(float64(readings)*float64(b.N)/cpu.Seconds(), "readings/cpu-s")
	}
	b.ReportMetric(h.peakMB(), "peak-heap-MB")
}

// BenchmarkParse measures the parser alone: the readings are built and then dropped.
func BenchmarkParse(b *testing.B) {
	path, n := benchmarkFile(b)
	info, _ := os.Stat(path)
	b.SetBytes(info.Size())
	b.ReportAllocs()
	h := watchHeap()
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := parse(context.Background(), nil, store.Payload{}, bufio.NewReaderSize(f, 256<<10), nil)
		f.Close()
		if err != nil || sum.Readings != n {
			b.Fatalf("%d readings, %v", sum.Readings, err)
		}
	}
	b.StopTimer()
	report(b, h, n)
}

// BenchmarkParseStore measures a whole import of the file into a new database, as
// `custody import` runs it: archive, parse, store and commit.
func BenchmarkParseStore(b *testing.B) {
	path, n := benchmarkFile(b)
	info, _ := os.Stat(path)
	b.SetBytes(info.Size())
	h := watchHeap()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("b%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tx, err := st.Begin(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Parse(context.Background(), tx, store.Payload{}, bufio.NewReaderSize(f, 256<<10), nil)
		f.Close()
		if err != nil || sum.Readings != n {
			b.Fatalf("%d readings, %v", sum.Readings, err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.StopTimer()
	report(b, h, n)
}

// BenchmarkImport measures `custody import` end to end: archive (gzip) plus parse and store.
func BenchmarkImport(b *testing.B) {
	path, n := benchmarkFile(b)
	info, _ := os.Stat(path)
	b.SetBytes(info.Size())
	h := watchHeap()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("i%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		im := &fileimport.Importer{Store: st, Formats: []fileimport.Format{Format()}}
		sum, err := im.Import(context.Background(), path)
		if err != nil || sum.Readings != n {
			b.Fatalf("%d readings, %v", sum.Readings, err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.StopTimer()
	report(b, h, n)
}

// BenchmarkStoreReadings measures the store alone: the same number of readings as the bulk
// file, written with PutReadings in the batches the parser hands over. It is the ceiling of
// BenchmarkParseStore, whose parser runs beside the writer on the other core.
func BenchmarkStoreReadings(b *testing.B) {
	meters, days := benchSize()
	n := meters * days * 96
	rs := make([]store.Reading, flushBatch)
	h := watchHeap()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("s%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tx, err := st.Begin(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		written := 0
		for m := 0; m < meters; m++ {
			meter := store.Meter{Key: fmt.Sprintf("m%d", m)}
			if err := tx.UpsertMeter(&meter); err != nil {
				b.Fatal(err)
			}
			sr := store.Series{MeterID: meter.ID, Key: "s", Unit: "Wh"}
			if err := tx.UpsertSeries(&sr); err != nil {
				b.Fatal(err)
			}
			per := days * 96
			for k := 0; k < per; k += flushBatch {
				batch := rs[:min(flushBatch, per-k)]
				for j := range batch {
					batch[j] = store.Reading{Start: int64(1546329600 + (k+j)*900), Seconds: 900, Value: float64(k + j), Quality: "17", TOU: 1, HasTOU: true}
				}
				if err := tx.PutReadings(sr.ID, batch); err != nil {
					b.Fatal(err)
				}
				written += len(batch)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
		if written != n {
			b.Fatalf("wrote %d", written)
		}
	}
	b.StopTimer()
	report(b, h, n)
}
