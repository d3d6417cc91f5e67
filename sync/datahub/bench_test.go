package datahub

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// bigDocument renders an RSM-012 bundle of n metering points × one Danish day of PT15M.
func bigDocument(format string, n int) []byte {
	start := time.Date(2024, 11, 30, 23, 0, 0, 0, time.UTC)
	var series []El
	for i := 0; i < n; i++ {
		var pts []El
		for pos := 1; pos <= 96; pos++ {
			pts = append(pts, GroupEl("Point", CodedNumEl("position", fmt.Sprint(pos)),
				NumberEl("quantity", fmt.Sprintf("%d.%03d", pos%7, (pos*37+i)%1000)), CodedEl("quality", "A04")))
		}
		series = append(series, GroupEl("Series",
			PlainEl("mRID", fmt.Sprintf("%032x", i)),
			PartyEl("marketEvaluationPoint.mRID", "A10", fmt.Sprintf("5713131%011d", i)),
			CodedEl("marketEvaluationPoint.type", "E17"),
			PlainEl("registration_DateAndOrTime.dateTime", "2024-12-02T04:58:03Z"),
			PlainEl("product", "8716867000030"),
			CodedEl("quantity_Measure_Unit.name", "KWH"),
			GroupEl("Period", PlainEl("resolution", "PT15M"),
				GroupEl("timeInterval", CodedEl("start", start.Format("2006-01-02T15:04Z")), CodedEl("end", start.Add(24*time.Hour).Format("2006-01-02T15:04Z"))),
				ListEl("Point", pts...))))
	}
	kids := []El{PlainEl("mRID", NewID()), CodedEl("type", "E66"), CodedEl("process.processType", "E23"),
		CodedEl("businessSector.type", "23"), PartyEl("sender_MarketParticipant.mRID", "A10", DataHubGLN),
		CodedEl("sender_MarketParticipant.marketRole.type", "DGL"), PartyEl("receiver_MarketParticipant.mRID", "A10", "5790002606892"),
		CodedEl("receiver_MarketParticipant.marketRole.type", "DDQ"), PlainEl("createdDateTime", "2024-12-02T05:12:47Z"),
		ListEl("Series", series...)}
	return Render(format, "NotifyValidatedMeasureData_MarketDocument", "urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1", kids)
}

// BenchmarkParse measures the parsers alone on a 100-metering-point PT15M bundle (9,600 readings).
func BenchmarkParse(b *testing.B) {
	for _, format := range []string{"xml", "json"} {
		body := bigDocument(format, 100)
		name := map[string]string{"xml": FormatXML, "json": FormatJSON}[format]
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			readings := 0
			cpu0 := cpuSelf()
			for b.Loop() {
				d, err := Parse(name, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				readings += d.Readings()
			}
			cpu := cpuSelf() - cpu0
			b.ReportMetric(float64(b.N)/cpu, "docs/CPU-s")
			b.ReportMetric(float64(readings)/cpu, "readings/CPU-s")
		})
	}
}

// BenchmarkParseAndStore measures parse + write to SQLite + commit, as one peeked document is
// handled (without the network).
func BenchmarkParseAndStore(b *testing.B) {
	for _, format := range []string{"xml", "json"} {
		body := bigDocument(format, 100)
		name := map[string]string{"xml": FormatXML, "json": FormatJSON}[format]
		b.Run(format, func(b *testing.B) {
			st := newStore(b)
			readings := 0
			cpu0 := cpuSelf()
			for b.Loop() {
				tx, err := st.Begin(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				_, res, err := Import(tx, name, bytes.NewReader(body), PutOptions{MessageID: NewID()})
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				readings += res.Readings
			}
			cpu := cpuSelf() - cpu0
			b.ReportMetric(float64(b.N)/cpu, "docs/CPU-s")
			b.ReportMetric(float64(readings)/cpu, "readings/CPU-s")
		})
	}
}

// cpuSelf is this process's CPU time so far (user + sys), in seconds. Benchmarks report per
// CPU-second: the machine is shared, and wall time measures the neighbours too.
func cpuSelf() float64 {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}
