// Package chart is Custody's time-series widget: every series of the view is drawn into one
// raster with per-pixel-column min/max decimation, so a frame costs the same whether 1,000 or
// 1,000,000 points are in view, and every spike stays visible at any zoom.
package chart

import "sort"

// Column is what one pixel column of the plot holds of one series: the extremes and the first
// and last points that fall in it. N is 0 for a column with no points.
type Column struct {
	N             int
	Min, Max      float64
	First, Last   float64
	FirstT, LastT int64
}

// Decimate reduces the points of (ts, vs) with t0 <= t < t1 to width columns of equal time,
// reusing out's storage. ts must be ascending. Drawing each column's min–max bar and joining
// the last point of a column to the first of the next gives the same picture as drawing
// every point.
func Decimate(ts []int64, vs []float64, t0, t1 int64, width int, out []Column) []Column {
	if cap(out) < width {
		out = make([]Column, width)
	}
	out = out[:width]
	clear(out)
	if width <= 0 || t1 <= t0 || len(ts) == 0 {
		return out
	}
	lo := sort.Search(len(ts), func(i int) bool { return ts[i] >= t0 })
	hi := sort.Search(len(ts), func(i int) bool { return ts[i] >= t1 })
	scale := float64(width) / float64(t1-t0)
	col := func(t int64) int { return min(int(float64(t-t0)*scale), width-1) }
	// Walk the columns rather than the points: find where each column's points end with a
	// binary search (the same mapping as col, so every point lands where drawing expects it),
	// then take the extremes of that run of values in a tight loop.
	for i := lo; i < hi; {
		x := col(ts[i])
		end := i + sort.Search(hi-i, func(k int) bool { return col(ts[i+k]) > x })
		run := vs[i:end]
		mn, mx := run[0], run[0]
		for _, v := range run[1:] {
			if v < mn {
				mn = v
			}
			if v > mx {
				mx = v
			}
		}
		out[x] = Column{N: end - i, Min: mn, Max: mx, First: run[0], Last: run[len(run)-1], FirstT: ts[i], LastT: ts[end-1]}
		i = end
	}
	return out
}
