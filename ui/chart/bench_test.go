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
