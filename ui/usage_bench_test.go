//go:build unix

package ui

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"custody/store"
	"custody/ui/chart"
)

// The "any meter in a blink" benchmarks: a database of 200 meters with a year of 15-minute
// readings each (7,008,000 readings), and the work the Usage view does on it.

const (
	blinkMeters  = 200
	blinkPerYear = 365 * 96
	// blinkVersion names the cached database; raise it when the data or the schema changes.
	blinkVersion = 2 // 2: readings one row per day (store migration 2000)
)

var blinkYearStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// blinkStore opens the benchmark database, building it the first time (a minute or more) in
// the temporary folder, where later runs find it.
func blinkStore(b *testing.B) *store.Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("custody-bench-blink-v%d.db", blinkVersion))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		if err := buildBlinkStore(ctx, tmp); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func buildBlinkStore(ctx context.Context, path string) error {
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	rs := make([]store.Reading, blinkPerYear)
	for m := 0; m < blinkMeters; m++ {
		tx, err := st.Begin(ctx)
		if err != nil {
			return err
		}
		meter := store.Meter{Key: fmt.Sprintf("urn:bench:meter:%03d", m), Name: fmt.Sprintf("Meter %03d", m), Commodity: "electricity", TimeZone: "Europe/London"}
		if err := tx.UpsertMeter(&meter); err != nil {
			return err
		}
		sr := store.Series{MeterID: meter.ID, Key: "forward-900", Commodity: "electricity", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 900}
		if err := tx.UpsertSeries(&sr); err != nil {
			return err
		}
		for i := range rs {
			start := blinkYearStart + int64(i)*900
			hour := float64(i%96) / 4
			v := 150 + 120*math.Sin((hour-7)*math.Pi/12) + float64((i*7919+m*104729)%97)
			rs[i] = store.Reading{Start: start, Seconds: 900, Value: math.Round(v)}
			if i%4 == 0 {
				rs[i].Cost, rs[i].HasCost = v*0.0003, true
			}
		}
		if err := tx.PutReadings(sr.ID, rs); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// blinkMeter is the meter the benchmarks open: one in the middle.
func blinkMeter(b *testing.B, st *store.Store) store.Meter {
	ms, err := st.Meters(context.Background(), store.MeterFilter{Search: "urn:bench:meter:123"})
	if err != nil || len(ms) != 1 {
		b.Fatalf("the benchmark meter: %v %v", ms, err)
	}
	return ms[0]
}

// reportBlink reports milliseconds per operation of wall and of CPU time.
func reportBlink(b *testing.B, start time.Time, cpu0 time.Duration) {
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
	b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBlinkOpenMeterYear is what the Usage view does when a meter is chosen, with the
// year in view: its series and their statistics, its bills, the year's readings aggregated to
// the resolution (weeks, the year's default, or as recorded: 35,040 points), and the chart
// drawn at 1400×600 (by Fyne's software renderer, which paints the whole window as well).
func BenchmarkBlinkOpenMeterYear(b *testing.B) {
	st := blinkStore(b)
	m := blinkMeter(b, st)
	ctx := context.Background()
	loc, _ := time.LoadLocation(m.TimeZone)
	test.NewTempApp(b)
	c := chart.New()
	w := test.NewTempWindow(b, c)
	w.Resize(fyne.NewSize(1400, 600))
	for _, res := range []string{ResWeek, ResRaw} {
		b.Run(res, func(b *testing.B) {
			start, cpu0 := time.Now(), cpuNow()
			for b.Loop() {
				ss, err := st.SeriesOf(ctx, m.ID)
				if err != nil || len(ss) != 1 {
					b.Fatal(ss, err)
				}
				stats, err := st.StatsOf(ctx, ss[0].ID)
				if err != nil || stats.Count != blinkPerYear {
					b.Fatal(stats, err)
				}
				if _, err := st.SummariesOf(ctx, m.ID); err != nil {
					b.Fatal(err)
				}
				t0, t1 := rangeSpan(RangeYear, stats.First, stats.Last, 0, loc)
				ts, vs, err := st.ReadingRange(ctx, ss[0].ID, t0, t1)
				if err != nil || len(ts) < blinkPerYear-96 {
					b.Fatal(len(ts), err)
				}
				a := aggregate(ts, vs, loc, res)
				if len(a.times) < 52 {
					b.Fatal(len(a.times))
				}
				c.SetSeries([]chart.Series{{Name: "Import", Unit: "Wh", Times: a.times, Values: a.sum, Step: bucketSeconds(res, 900)}})
				c.SetExtent(t0, t1)
				if img := w.Canvas().Capture(); img.Bounds().Dx() < 1400 {
					b.Fatal(img.Bounds())
				}
			}
			reportBlink(b, start, cpu0)
		})
	}
}

// BenchmarkBlinkSums is the sum of a week, a month and a year of one meter's series, with its
// cost, as the Usage view's totals take them.
func BenchmarkBlinkSums(b *testing.B) {
	st := blinkStore(b)
	m := blinkMeter(b, st)
	ctx := context.Background()
	loc, _ := time.LoadLocation(m.TimeZone)
	ss, err := st.SeriesOf(ctx, m.ID)
	if err != nil {
		b.Fatal(err)
	}
	stats, err := st.StatsOf(ctx, ss[0].ID)
	if err != nil {
		b.Fatal(err)
	}
	for _, rng := range []string{RangeWeek, RangeMonth, RangeYear} {
		b.Run(rng, func(b *testing.B) {
			t0, t1 := rangeSpan(rng, stats.First, stats.Last, 0, loc)
			start, cpu0 := time.Now(), cpuNow()
			for b.Loop() {
				ts, vs, err := st.ReadingRange(ctx, ss[0].ID, t0, t1)
				if err != nil || len(ts) == 0 {
					b.Fatal(err)
				}
				if a := aggregate(ts, vs, loc, defaultResolution(rng)); a.total <= 0 {
					b.Fatal(a.total)
				}
				if _, n, err := st.CostOf(ctx, ss[0].ID, t0, t1); err != nil || n == 0 {
					b.Fatal(n, err)
				}
			}
			reportBlink(b, start, cpu0)
		})
	}
}

// BenchmarkBlinkSideBySide is a year of four meters side by side, as the Usage view charts
// the listed meters grouped or stacked: each meter's series and their spans (SpanOf), its year
// aggregated to weeks (grouped: to months, so that 4 × 53 bars stay apart), the cards' sums,
// and the chart drawn at 1400×600.
func BenchmarkBlinkSideBySide(b *testing.B) {
	benchListed(b, "urn:bench:meter:12", 4, func(d sumData) bool {
		return len(d.series) == 4 && len(d.cards) == 5
	})
}

// BenchmarkBlinkSideBySideOther is a year of twenty meters side by side, as the Usage view
// charts them when the search lists twenty: the first six each in its lane or layer and
// "Other" summing the fourteen others (each read and aggregated), grouped by month (7 × 12
// bars) or stacked by week, the cards, and the chart drawn at 1400×600.
func BenchmarkBlinkSideBySideOther(b *testing.B) {
	benchListed(b, "urn:bench:meter:1", 20, func(d sumData) bool {
		return len(d.series) == maxSideBySide && d.series[maxSideBySide-1].Name == "Other · 14 meters" && len(d.cards) == 1+maxSideBySide
	})
}

// benchListed charts the first n of the benchmark meters the search lists, grouped and
// stacked, as the Usage view does: listedData over a year by the week, then the chart drawn
// at 1400×600. want says whether the series and cards are what those meters give.
func benchListed(b *testing.B, search string, n int, want func(sumData) bool) {
	st := blinkStore(b)
	ctx := context.Background()
	ms, err := st.Meters(ctx, store.MeterFilter{Search: search})
	if err != nil || len(ms) < n {
		b.Fatalf("the benchmark meters: %d %v", len(ms), err)
	}
	entries := meterEntries(ms, nil)[:n]
	req := listedRequest{rng: RangeYear, res: ResWeek, energyUnit: "kWh"}
	req.loc, _ = time.LoadLocation(entries[0].m.TimeZone)
	for _, e := range entries {
		req.meters, req.titles = append(req.meters, e.m), append(req.titles, e.title)
	}
	test.NewTempApp(b)
	c := chart.New()
	w := test.NewTempWindow(b, c)
	w.Resize(fyne.NewSize(1400, 600))
	for _, mode := range []string{MetersGrouped, MetersStacked} {
		b.Run(mode, func(b *testing.B) {
			req.mode = mode
			start, cpu0 := time.Now(), cpuNow()
			for b.Loop() {
				d, err := listedData(ctx, st, req)
				if err != nil || !want(d) {
					b.Fatal(len(d.series), len(d.cards), err)
				}
				c.SetSeries(d.series)
				c.SetExtent(d.t0, d.t1)
				if img := w.Canvas().Capture(); img.Bounds().Dx() < 1400 {
					b.Fatal(img.Bounds())
				}
			}
			reportBlink(b, start, cpu0)
		})
	}
}

// cpuNow is this process's user+system CPU time so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
