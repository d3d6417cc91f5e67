package chart

import (
	"testing"
	"time"
)

// benchFrame measures one whole frame of the plot: decimating every point in view into pixel
// columns and drawing grid and series into the 1600×600 raster.
func benchFrame(b *testing.B, n int) {
	ss := demoSeries(n)
	ss = ss[:1]
	var p plot
	p.setSeries(ss)
	p.t0, p.t1 = extent(ss)
	p.gridX = []int64{p.t0 + 1, p.t1 - 1}
	p.gridY = []float64{0, 1, 2}
	lo, hi, any := p.decimate(1600)
	p.ylo, p.yhi = autoRange(lo, hi, any)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.width = -1 // force decimation, as after a pan or zoom
		p.frame(1600, 600)
	}
	b.ReportMetric(float64(len(ss[0].Times)), "points")
}

// BenchmarkFrame35k is about a year of 15-minute readings (35,042 points) in view.
func BenchmarkFrame35k(b *testing.B) { benchFrame(b, 36885) }

// BenchmarkFrame1M is a million points (1,000,002) in view.
func BenchmarkFrame1M(b *testing.B) { benchFrame(b, 1_052_632) }

// BenchmarkHoverText is the work of one mouse move over a two-series chart.
func BenchmarkHoverText(b *testing.B) {
	c := New()
	c.SetSeries(demoSeries(35040))
	t := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC).Unix()
	for b.Loop() {
		c.HoverText(t)
	}
}

// benchBars measures one frame of bars: n periods of step seconds in a 1600×600 raster.
func benchBars(b *testing.B, n int, step int64) {
	s := Series{Name: "Import", Step: step, Style: Bars}
	for i := 0; i < n; i++ {
		s.Times = append(s.Times, int64(i)*step)
		s.Values = append(s.Values, float64(i%24)+1)
	}
	var p plot
	p.setSeries([]Series{s})
	p.t0, p.t1 = 0, int64(n)*step
	lo, hi, any := p.decimate(1600)
	p.ylo, p.yhi = autoRange(lo, hi, any)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.width = -1
		p.frame(1600, 600)
	}
}

// BenchmarkFrameBarsDays is a year of daily bars (365 bars of 4 pixels).
func BenchmarkFrameBarsDays(b *testing.B) { benchBars(b, 365, 86400) }

// BenchmarkFrameBarsHours is a year of hourly bars (8,760 in 1,600 columns: decimated).
func BenchmarkFrameBarsHours(b *testing.B) { benchBars(b, 8760, 3600) }
