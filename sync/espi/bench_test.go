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
	w := bufio.NewWriterSize(f, 1<<20)
	const base = "https://api.pge.com/GreenButtonConnect/espi/1_1/resource/"
	const atomNS = `xmlns:ns1="http://www.w3.org/2005/Atom"`
	const xsi = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`
	entryHead := func(self, up string, related ...string) {
		fmt.Fprintf(w, `<ns1:entry %s><ns1:id %s xsi:type="ns1:idType">%s</ns1:id>`, atomNS, xsi, "6eeed16a-9fd1-49e2-bd6b-2623506fb394")
		fmt.Fprintf(w, `<ns1:link href="%s" rel="up" %s xsi:type="ns1:linkType"/><ns1:link href="%s" rel="self" %s xsi:type="ns1:linkType"/>`, up, xsi, self, xsi)
		for _, r := range related {
			fmt.Fprintf(w, `<ns1:link href="%s" rel="related" %s xsi:type="ns1:linkType"/>`, r, xsi)
		}
		fmt.Fprintf(w, `<ns1:published %s xsi:type="ns1:dateTimeType">2019-10-06T04:04:52.756Z</ns1:published><ns1:updated %s xsi:type="ns1:dateTimeType">2019-10-06T04:04:52.756Z</ns1:updated><ns1:content %s xsi:type="ns1:contentType">`, xsi, xsi, xsi)
	}
	const entryTail = "</ns1:content></ns1:entry>\n"
	fmt.Fprintf(w, `<ns1:feed xmlns:ns0="http://naesb.org/espi" %s><ns1:id>619ef109</ns1:id><ns1:link href="%sBatch/Bulk/50916" rel="self"/>`+"\n", atomNS, base)
	entryHead(base+"LocalTimeParameters/1", base+"LocalTimeParameters")
	w.WriteString(`<ns0:LocalTimeParameters xmlns:ns0="http://naesb.org/espi"><ns0:dstEndRule>B40E2000</ns0:dstEndRule><ns0:dstOffset>3600</ns0:dstOffset><ns0:dstStartRule>360E2000</ns0:dstStartRule><ns0:tzOffset>-28800</ns0:tzOffset></ns0:LocalTimeParameters>` + entryTail)
	readingType := func() {
		entryHead(base+"ReadingType/NzI6bnVsbDo5MDA6MQ==", base+"ReadingType")
		w.WriteString(`<ns0:ReadingType xmlns:ns0="http://naesb.org/espi"><ns0:accumulationBehaviour>4</ns0:accumulationBehaviour><ns0:commodity>1</ns0:commodity><ns0:dataQualifier>12</ns0:dataQualifier><ns0:defaultQuality>17</ns0:defaultQuality><ns0:flowDirection>1</ns0:flowDirection><ns0:intervalLength>900</ns0:intervalLength><ns0:kind>12</ns0:kind><ns0:powerOfTenMultiplier>-3</ns0:powerOfTenMultiplier><ns0:timeAttribute>0</ns0:timeAttribute><ns0:uom>72</ns0:uom><ns0:measuringPeriod>2</ns0:measuringPeriod></ns0:ReadingType>` + entryTail)
	}
	// ESPI_BENCH_RT_LAST=1 puts the ReadingType at the end: the worst case, where every
	// reading waits for it in memory.
	rtLast := os.Getenv("ESPI_BENCH_RT_LAST") != ""
	if !rtLast {
		readingType()
	}
	n := 0
	for m := 0; m < meters; m++ {
		up := fmt.Sprintf("%sSubscription/%d/UsagePoint/%d", base, 4095251+m, 5391320451+m)
		mr := up + "/MeterReading/TnpJNmJuVnNiRG96TmpBd09qRT06MQ=="
		entryHead(up, fmt.Sprintf("%sSubscription/%d/UsagePoint", base, 4095251+m), up+"/MeterReading", base+"LocalTimeParameters/1")
		w.WriteString(`<ns0:UsagePoint xmlns:ns0="http://naesb.org/espi"><ns0:ServiceCategory><ns0:kind>0</ns0:kind></ns0:ServiceCategory></ns0:UsagePoint>` + entryTail)
		entryHead(mr, up+"/MeterReading", mr+"/IntervalBlock", base+"ReadingType/NzI6bnVsbDo5MDA6MQ==")
		w.WriteString(`<ns0:MeterReading xmlns:ns0="http://naesb.org/espi"/>` + entryTail)
		for d := 0; d < days; d++ {
			start := int64(1546329600 + d*86400) // 2019-01-01 08:00 UTC
			entryHead(fmt.Sprintf("%s/IntervalBlock/%d", mr, start), mr+"/IntervalBlock")
			fmt.Fprintf(w, `<ns0:IntervalBlock xmlns:ns0="http://naesb.org/espi"><ns0:interval><ns0:duration>86400</ns0:duration><ns0:start>%d</ns0:start></ns0:interval>`, start)
			for i := 0; i < 96; i++ {
				fmt.Fprintf(w, `<ns0:IntervalReading><ns0:ReadingQuality><ns0:quality>17</ns0:quality></ns0:ReadingQuality><ns0:timePeriod><ns0:duration>900</ns0:duration><ns0:start>%d</ns0:start></ns0:timePeriod><ns0:value>%d</ns0:value><ns0:tou>%d</ns0:tou></ns0:IntervalReading>`,
					start+int64(i)*900, 100000+(m*7919+d*104729+i*1299709)%900000, 1+i/32)
				n++
			}
			w.WriteString(`</ns0:IntervalBlock>` + entryTail)
		}
	}
	if rtLast {
		readingType()
	}
	w.WriteString("</ns1:feed>\n")
	if err := w.Flush(); err != nil {
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
