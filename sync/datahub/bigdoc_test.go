package datahub

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"custody/store"
)

// writeBigXML writes an RSM-012 CIM XML bundle, laid out as DataHub writes it (cim: prefix,
// indented), of series metering points × one Danish winter day of PT15M, straight to w: the
// document is never held in memory. With points > 96 per series the positions run past the
// day (a broken document).
func writeBigXML(w io.Writer, series, points int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	start := time.Date(2024, 11, 30, 23, 0, 0, 0, time.UTC)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="utf-8"?>
<cim:NotifyValidatedMeasureData_MarketDocument xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cim="urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1">
  <cim:mRID>%s</cim:mRID>
  <cim:type>E66</cim:type>
  <cim:process.processType>E23</cim:process.processType>
  <cim:businessSector.type>23</cim:businessSector.type>
  <cim:sender_MarketParticipant.mRID codingScheme="A10">5790001330552</cim:sender_MarketParticipant.mRID>
  <cim:sender_MarketParticipant.marketRole.type>DGL</cim:sender_MarketParticipant.marketRole.type>
  <cim:receiver_MarketParticipant.mRID codingScheme="A10">5790002606892</cim:receiver_MarketParticipant.mRID>
  <cim:receiver_MarketParticipant.marketRole.type>DDQ</cim:receiver_MarketParticipant.marketRole.type>
  <cim:createdDateTime>2024-12-02T05:12:47Z</cim:createdDateTime>
`, NewID())
	for i := 0; i < series; i++ {
		fmt.Fprintf(bw, `  <cim:Series>
    <cim:mRID>%032x</cim:mRID>
    <cim:marketEvaluationPoint.mRID codingScheme="A10">5713131%011d</cim:marketEvaluationPoint.mRID>
    <cim:marketEvaluationPoint.type>E17</cim:marketEvaluationPoint.type>
    <cim:registration_DateAndOrTime.dateTime>2024-12-02T04:58:03Z</cim:registration_DateAndOrTime.dateTime>
    <cim:product>8716867000030</cim:product>
    <cim:quantity_Measure_Unit.name>KWH</cim:quantity_Measure_Unit.name>
    <cim:Period>
      <cim:resolution>PT15M</cim:resolution>
      <cim:timeInterval>
        <cim:start>%s</cim:start>
        <cim:end>%s</cim:end>
      </cim:timeInterval>
`, i, i, start.Format("2006-01-02T15:04Z"), start.Add(24*time.Hour).Format("2006-01-02T15:04Z"))
		for pos := 1; pos <= points; pos++ {
			fmt.Fprintf(bw, "      <cim:Point>\n        <cim:position>%d</cim:position>\n        <cim:quantity>%d.%03d</cim:quantity>\n        <cim:quality>A04</cim:quality>\n      </cim:Point>\n",
				pos, pos%7, (pos*37+i)%1000)
		}
		bw.WriteString("    </cim:Period>\n  </cim:Series>\n")
	}
	bw.WriteString("</cim:NotifyValidatedMeasureData_MarketDocument>\n")
	return bw.Flush()
}

// writeBigJSON writes the same bundle as writeBigXML in CIM JSON, indented as DataHub writes it.
func writeBigJSON(w io.Writer, series, points int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	start := time.Date(2024, 11, 30, 23, 0, 0, 0, time.UTC)
	fmt.Fprintf(bw, `{
  "NotifyValidatedMeasureData_MarketDocument": {
    "mRID": %q,
    "businessSector.type": {"value": "23"},
    "createdDateTime": "2024-12-02T05:12:47Z",
    "process.processType": {"value": "E23"},
    "receiver_MarketParticipant.mRID": {"codingScheme": "A10", "value": "5790002606892"},
    "receiver_MarketParticipant.marketRole.type": {"value": "DDQ"},
    "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": "5790001330552"},
    "sender_MarketParticipant.marketRole.type": {"value": "DGL"},
    "type": {"value": "E66"},
    "Series": [`, NewID())
	for i := 0; i < series; i++ {
		if i > 0 {
			bw.WriteString(",")
		}
		fmt.Fprintf(bw, `
      {
        "mRID": "%032x",
        "marketEvaluationPoint.mRID": {"codingScheme": "A10", "value": "5713131%011d"},
        "marketEvaluationPoint.type": {"value": "E17"},
        "product": "8716867000030",
        "quantity_Measure_Unit.name": {"value": "KWH"},
        "registration_DateAndOrTime.dateTime": "2024-12-02T04:58:03Z",
        "Period": {
          "resolution": "PT15M",
          "timeInterval": {"start": {"value": %q}, "end": {"value": %q}},
          "Point": [`, i, i, start.Format("2006-01-02T15:04Z"), start.Add(24*time.Hour).Format("2006-01-02T15:04Z"))
		for pos := 1; pos <= points; pos++ {
			if pos > 1 {
				bw.WriteString(",")
			}
			fmt.Fprintf(bw, "\n            {\"position\": {\"value\": %d}, \"quantity\": %d.%03d, \"quality\": {\"value\": \"A04\"}}",
				pos, pos%7, (pos*37+i)%1000)
		}
		bw.WriteString("\n          ]\n        }\n      }")
	}
	bw.WriteString("\n    ]\n  }\n}\n")
	return bw.Flush()
}

// bigFigures is what the child process measured.
type bigFigures struct {
	Bytes, Readings    int64
	PeakRSSMB          float64
	PeakHeapMB         float64
	CPUSeconds         float64
	Warnings           int
	FirstWarning       string
	Series, StoredRows int64
}

// TestBigDocumentChild is the child process of BenchmarkBigDocument and TestOutOfInterval: it
// imports the file named by CUSTODY_BIGDOC_FILE into a new store the way `custody import` and a
// sync do (archive, then parse and store while reading), and prints its figures as JSON. It
// does nothing in a normal test run.
func TestBigDocumentChild(t *testing.T) {
	file := os.Getenv("CUSTODY_BIGDOC_FILE")
	if file == "" {
		t.Skip("child process of BenchmarkBigDocument")
	}
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap: Go keeps no peak of its own
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(filepath.Dir(file), "big.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	sum, err := importer4(st).Import(ctx, file)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(file)
	f := bigFigures{Bytes: fi.Size(), Readings: int64(sum.Readings), PeakRSSMB: float64(after.Maxrss) / 1024,
		PeakHeapMB: float64(peakHeap.Load()) / (1 << 20), CPUSeconds: cpuSeconds(after) - cpuSeconds(before),
		Warnings: len(sum.Warnings), Series: c.Series, StoredRows: c.Readings}
	if len(sum.Warnings) > 0 {
		f.FirstWarning = sum.Warnings[0]
	}
	b, _ := json.Marshal(f)
	fmt.Printf("BIGDOC %s\n", b)
}

func cpuSeconds(r syscall.Rusage) float64 {
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}

// runBigChild writes a document of series × points to a temporary file and imports it in a
// child process (so that the peak RSS is the import's alone, not this process's).
func runBigChild(tb testing.TB, format string, series, points int) bigFigures {
	tb.Helper()
	dir := tb.TempDir()
	file := filepath.Join(dir, "big."+format)
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	write := writeBigXML
	if format == "json" {
		write = writeBigJSON
	}
	if err := write(f, series, points); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBigDocumentChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CUSTODY_BIGDOC_FILE="+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "BIGDOC "); ok {
			var fig bigFigures
			if err := json.Unmarshal([]byte(rest), &fig); err != nil {
				tb.Fatal(err)
			}
			return fig
		}
	}
	tb.Fatalf("child printed no figures:\n%s", out)
	return bigFigures{}
}

// BenchmarkBigDocument imports a valid RSM-012 document of 700,032 points (7,292 metering
// points × 96 quarter-hours; 116 MB in XML, 67 MB in JSON, indented as DataHub writes) in a
// child process and reports its peak RSS and peak heap, which must stay under 150 MB: the points
// are streamed into the store per series, never all held at once. It fails if the peak reaches
// 150 MB.
func BenchmarkBigDocument(b *testing.B) {
	for _, format := range []string{"xml", "json"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				fig := runBigChild(b, format, 7292, 96)
				if fig.Readings != 7292*96 || fig.StoredRows != 7292*96 || fig.Warnings != 0 {
					b.Fatalf("imported %+v, want 700,032 readings and no warning", fig)
				}
				if fig.PeakRSSMB >= 150 {
					b.Fatalf("peak RSS %.0f MB, over the 150 MB bound", fig.PeakRSSMB)
				}
				b.ReportMetric(float64(fig.Bytes)/1e6, "doc-MB")
				b.ReportMetric(fig.PeakRSSMB, "peak-RSS-MB")
				b.ReportMetric(fig.PeakHeapMB, "peak-heap-MB")
				b.ReportMetric(float64(fig.Readings)/fig.CPUSeconds, "readings/CPU-s")
			}
		})
	}
}

// TestOutOfIntervalRefusedOncePerSeries imports a document whose two series claim 100,000
// quarter-hour positions in one day each: everything past position 96 is refused,
// with one message per series, and nothing is stored past the day.
func TestOutOfIntervalRefusedOncePerSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 200,000 points")
	}
	fig := runBigChild(t, "xml", 2, 100_000)
	if fig.Warnings != 2 {
		t.Errorf("%d warnings, want one per series (2): first %q", fig.Warnings, fig.FirstWarning)
	}
	if !strings.Contains(fig.FirstWarning, "99904 points refused: positions 97 to 100000 lie beyond the 96 positions") {
		t.Errorf("warning %q", fig.FirstWarning)
	}
	if fig.Readings != 2*96 || fig.StoredRows != 2*96 {
		t.Errorf("stored %d readings (%d rows), want %d", fig.Readings, fig.StoredRows, 2*96)
	}
}
