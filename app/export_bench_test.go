//go:build unix

package app

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"custody/store"
)

// exportBenchStore makes a database of 20 meters with a year of 15-minute readings each
// (700,800 readings), a bulk feed's size, with costs and quality codes on some readings.
func exportBenchStore(b *testing.B) (*store.Store, int) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "export.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	const meters, perMeter = 20, 365 * 96
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	tx, err := st.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	rs := make([]store.Reading, perMeter)
	for m := range meters {
		meter := store.Meter{Key: fmt.Sprintf("https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/%d", m), Commodity: "electricity"}
		if err := tx.UpsertMeter(&meter); err != nil {
			b.Fatal(err)
		}
		sr := store.Series{MeterID: meter.ID, Key: meter.Key + "/MeterReading/1", Commodity: "electricity",
			Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 900, Currency: "USD"}
		if err := tx.UpsertSeries(&sr); err != nil {
			b.Fatal(err)
		}
		for i := range rs {
			rs[i] = store.Reading{Start: start + int64(i)*900, Seconds: 900, Value: float64(100 + (i*37+m)%900)}
			if i%4 == 0 {
				rs[i].Cost, rs[i].HasCost = float64(i%500)/100, true
			}
			if i%96 == 0 {
				rs[i].Quality = "19"
			}
		}
		if err := tx.PutReadings(sr.ID, rs); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return st, meters * perMeter
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExportCSV measures `custody export` (CSV) of the whole database, reading from SQLite
// and writing the CSV contract, in readings per CPU-second (steadier than wall time on a
// shared machine) and readings per second.
func BenchmarkExportCSV(b *testing.B) {
	st, rows := exportBenchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	cpu0, wall0 := cpuNow(), time.Now()
	for b.Loop() {
		if err := exportCSV(ctx, io.Discard, st, store.ExportFilter{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu, wall := cpuNow()-cpu0, time.Since(wall0)
	b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(rows)*float64(b.N)/wall.Seconds(), "rows/s")
}
