package chart

import (
	"image"
	"image/color"
	"math"
	"sort"
)

// Series is one line of the chart: ascending unix-second times and their values.
type Series struct {
	Name   string
	Unit   string
	Times  []int64
	Values []float64
	// Step is the nominal seconds between points; points further apart than twice this are
	// not joined, so gaps in the data stay visible. 0 means estimate it from the data.
	Step int64
	// Color, when set, replaces the palette colour of the series.
	Color color.Color
	// Style says how the series is drawn: a line (levels and rates such as power and
	// prices) or bars (amounts per period such as energy per hour, day or month).
	Style Style
	// Partial, for bars, marks the periods the data covers only in part (the current week, a
	// month with an outage): they are drawn hatched, so a short period never looks like a dip
	// in use. It is parallel to Values, or nil when every period is whole.
	Partial []bool
	// Lane places bars of series that share a period side by side: bars of the same lane
	// overlap (import above zero and export mirrored below it share one), different lanes
	// split the period's width.
	Lane int
	// Faint draws the series lighter, for a comparison overlaid on the period in view.
	Faint bool
	// Mirrored says the values were negated to be drawn below zero (export under import);
	// the hover label shows them as the source gave them.
	Mirrored bool
	// Legend, when set, is the series' legend entry instead of its name: series with the same
	// Legend, unit and colour (one meter's import and export) share one entry, while the
	// hover label still names each by Name.
	Legend string
	// Stack, for bars, piles the series on the bars of the series before it with the same
	// Stack and lane (meters stacked): each period's bar starts where theirs end, above zero
	// for positive values and below it for negative ones. The hover label adds the stack's
	// total. Empty means the bar starts at zero.
	Stack string
}

// Style is how a series is drawn.
type Style int

// Styles of a series.
const (
	// Line joins the points; each pixel column shows its minimum to maximum.
	Line Style = iota
	// Bars draws one bar from zero per period [Times[i], Times[i]+Step).
	Bars
)

// Palette is the colour of each series in order (Okabe–Ito, readable by colour-blind users on
// light and dark backgrounds).
var Palette = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
}

// OtherColor is the colour of a series that gathers the rest of many ("Other" beside the first
// meters): a mid grey, apart from every colour of the Palette, that stands out from the light
// and the dark theme's background alike (contrast about 3.4:1 on white and 5:1 on the dark
// theme's) and is darker than their grid lines.
var OtherColor = color.NRGBA{0x8C, 0x8C, 0x8C, 0xff}

// plot is the drawing state of one frame: the decimated columns of every series, the value
// range and the pixels.
type plot struct {
	series []Series
	steps  []int64
	colors []color.NRGBA
	t0, t1 int64
	cols   [][]Column
	width  int
	// ylo, yhi is the value range mapped to the plot's height.
	ylo, yhi float64
	gridX    []int64   // times of vertical grid lines
	gridY    []float64 // values of horizontal grid lines
	grid     color.NRGBA
	img      *image.NRGBA
	lanes    int
	// bases and tops are, for each stacked series (nil for the others), where each of its
	// bars starts and ends; tops are what its columns are decimated from.
	bases, tops [][]float64
}

func (p *plot) setSeries(ss []Series) {
	p.series = ss
	p.steps = p.steps[:0]
	p.colors = p.colors[:0]
	p.lanes = 1
	for i, s := range ss {
		p.steps = append(p.steps, estimateStep(s))
		c := Palette[i%len(Palette)]
		if s.Color != nil {
			c = color.NRGBAModel.Convert(s.Color).(color.NRGBA)
		}
		if s.Faint {
			c.A = 0xd0
		}
		p.colors = append(p.colors, c)
		if s.Style == Bars {
			p.lanes = max(p.lanes, s.Lane+1)
		}
	}
	p.stack()
	p.width = -1
}

// stackKey is one pile of stacked bars: a stack, a lane, a side of zero and a period.
type stackKey struct {
	stack string
	lane  int
	neg   bool
	t     int64
}

// stack works out where each bar of the stacked series starts and ends. Series that are not
// stacked cost nothing here.
func (p *plot) stack() {
	p.bases, p.tops = p.bases[:0], p.tops[:0]
	var height map[stackKey]float64
	for _, s := range p.series {
		if s.Style != Bars || s.Stack == "" {
			p.bases, p.tops = append(p.bases, nil), append(p.tops, nil)
			continue
		}
		if height == nil {
			height = map[stackKey]float64{}
		}
		base, top := make([]float64, len(s.Values)), make([]float64, len(s.Values))
		for k, v := range s.Values {
			key := stackKey{stack: s.Stack, lane: s.Lane, neg: v < 0, t: s.Times[k]}
			base[k] = height[key]
			top[k] = base[k] + v
			height[key] = top[k]
		}
		p.bases, p.tops = append(p.bases, base), append(p.tops, top)
	}
}

// estimateStep is the series' Step, or the smallest spacing among its first points.
func estimateStep(s Series) int64 {
	if s.Step > 0 {
		return s.Step
	}
	step := int64(0)
	for i := 1; i < len(s.Times) && i < 256; i++ {
		if d := s.Times[i] - s.Times[i-1]; d > 0 && (step == 0 || d < step) {
			step = d
		}
	}
	if step == 0 {
		step = 3600
	}
	return step
}

// decimate fills the columns of every series for the view at the given pixel width and
// returns the range of the values in view.
func (p *plot) decimate(width int) (lo, hi float64, any bool) {
	if len(p.cols) < len(p.series) {
		p.cols = append(p.cols, make([][]Column, len(p.series)-len(p.cols))...)
	}
	p.cols = p.cols[:len(p.series)]
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, s := range p.series {
		vs := s.Values
		if p.tops[i] != nil { // setSeries stacks: tops has an entry per series
			vs = p.tops[i] // a stacked bar reaches as high as the bars under it and its own
		}
		p.cols[i] = Decimate(s.Times, vs, p.t0, p.t1, width, p.cols[i])
		for _, c := range p.cols[i] {
			if c.N == 0 {
				continue
			}
			any = true
			lo = math.Min(lo, c.Min)
			hi = math.Max(hi, c.Max)
		}
	}
	p.width = width
	return lo, hi, any
}

// autoRange picks a value range that shows lo..hi, includes zero, and leaves a little room.
func autoRange(lo, hi float64, any bool) (float64, float64) {
	if !any || math.IsNaN(lo) || math.IsNaN(hi) {
		return 0, 1
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	if hi == lo {
		return lo, lo + 1
	}
	pad := (hi - lo) * 0.05
	if hi > 0 {
		hi += pad
	}
	if lo < 0 {
		lo -= pad
	}
	return lo, hi
}

// frame decimates and draws the whole plot at w×h pixels, reusing the image between frames.
func (p *plot) frame(w, h int) *image.NRGBA {
	if p.width != w {
		p.decimate(w)
	}
	return p.draw(w, h)
}

func (p *plot) draw(w, h int) *image.NRGBA {
	if w <= 0 || h <= 0 {
		return image.NewNRGBA(image.Rect(0, 0, 1, 1))
	}
	if p.img == nil || p.img.Rect.Dx() != w || p.img.Rect.Dy() != h {
		p.img = image.NewNRGBA(image.Rect(0, 0, w, h))
	} else {
		clear(p.img.Pix)
	}
	img := p.img
	span := float64(p.t1 - p.t0)
	if span <= 0 {
		return img
	}
	for _, t := range p.gridX {
		x := int(float64(t-p.t0) / span * float64(w))
		vline(img, x, 0, h-1, p.grid)
	}
	for _, v := range p.gridY {
		hline(img, 0, w-1, p.valueY(v, h), p.grid)
	}
	// Bars first, so that lines (a comparison, a power series) stay visible over them.
	// Stacked bars go from the top of the pile down, so that where bars are too narrow to
	// draw each from its base, a lower one paints over the part of the higher one it covers.
	for i := len(p.series) - 1; i >= 0; i-- {
		if p.series[i].Style == Bars && p.series[i].Stack != "" {
			p.drawBars(img, i, w, h)
		}
	}
	for i, s := range p.series {
		if s.Style == Bars && s.Stack == "" {
			p.drawBars(img, i, w, h)
		}
	}
	for i, s := range p.series {
		if s.Style != Bars {
			p.drawSeries(img, i, w, h)
		}
	}
	return img
}

// drawBars draws series i as bars from zero. When its periods are wider than a few pixels
// each gets its own bar (a hatched one when partial); when they are narrower, the decimated
// columns are filled from zero to their extremes, so no period's height is ever lost.
func (p *plot) drawBars(img *image.NRGBA, i, w, h int) {
	s := p.series[i]
	c := p.colors[i]
	step := p.steps[i]
	span := float64(p.t1 - p.t0)
	y0 := p.valueY(0, h)
	pxPerPeriod := float64(step) / span * float64(w)
	if pxPerPeriod < 3 {
		for x, col := range p.cols[i] {
			if col.N == 0 || x >= w {
				continue
			}
			if col.Max > 0 {
				vline(img, x, p.valueY(col.Max, h), y0, c)
			}
			if col.Min < 0 {
				vline(img, x, y0, p.valueY(col.Min, h), c)
			}
		}
		return
	}
	lo := sort.Search(len(s.Times), func(k int) bool { return s.Times[k]+step > p.t0 })
	lanes := max(p.lanes, 1)
	for k := lo; k < len(s.Times) && s.Times[k] < p.t1; k++ {
		end := s.Times[k] + step
		if k+1 < len(s.Times) && s.Times[k+1] < end {
			end = s.Times[k+1] // a month or a DST day is shorter than the nominal step
		}
		x0 := float64(s.Times[k]-p.t0) / span * float64(w)
		x1 := float64(end-p.t0) / span * float64(w)
		// A gap of a pixel or two between periods, then the lane's share of the width.
		gap := math.Min(2, (x1-x0)/4)
		x0, x1 = x0+gap/2, x1-gap/2
		lw := (x1 - x0) / float64(lanes)
		a := int(math.Round(x0 + lw*float64(s.Lane)))
		b := int(math.Round(x0+lw*float64(s.Lane+1))) - 1
		b = max(a, b)
		y, from := p.valueY(s.Values[k], h), y0
		if p.tops[i] != nil {
			y, from = p.valueY(p.tops[i][k], h), p.valueY(p.bases[i][k], h)
		}
		partial := k < len(s.Partial) && s.Partial[k]
		fillBar(img, a, b, y, from, c, partial)
	}
}

// fillBar fills columns a..b between rows y and y0. A partial bar gets an outline and a
// diagonal hatch instead of a solid fill.
func fillBar(img *image.NRGBA, a, b, y, y0 int, c color.NRGBA, partial bool) {
	top, bot := min(y, y0), max(y, y0)
	a, b = max(a, 0), min(b, img.Rect.Dx()-1)
	if !partial {
		for x := a; x <= b; x++ {
			vline(img, x, top, bot, c)
		}
		return
	}
	vline(img, a, top, bot, c)
	vline(img, b, top, bot, c)
	hline(img, a, b, top, c)
	hline(img, a, b, bot, c)
	for x := a + 1; x < b; x++ {
		for yy := top + 1; yy < bot; yy++ {
			if (x+yy)%6 == 0 {
				set(img, x, yy, c)
			}
		}
	}
}

func (p *plot) valueY(v float64, h int) int {
	r := p.yhi - p.ylo
	if r <= 0 {
		r = 1
	}
	return (h - 1) - int(math.Round((v-p.ylo)/r*float64(h-1)))
}

func (p *plot) drawSeries(img *image.NRGBA, i, w, h int) {
	cols := p.cols[i]
	c := p.colors[i]
	gap := 2 * p.steps[i]
	px, py := -1, 0
	var pt int64
	for x := 0; x < len(cols) && x < w; x++ {
		col := &cols[x]
		if col.N == 0 {
			continue
		}
		yFirst := p.valueY(col.First, h)
		if px >= 0 && col.FirstT-pt <= gap {
			line(img, px, py, x, yFirst, c)
		}
		if col.N > 1 {
			vline(img, x, p.valueY(col.Max, h), p.valueY(col.Min, h), c)
		} else {
			set(img, x, yFirst, c)
		}
		px, py, pt = x, p.valueY(col.Last, h), col.LastT
	}
}

func set(img *image.NRGBA, x, y int, c color.NRGBA) {
	if x < 0 || y < 0 || x >= img.Rect.Dx() || y >= img.Rect.Dy() {
		return
	}
	o := y*img.Stride + x*4
	img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = c.R, c.G, c.B, c.A
}

func vline(img *image.NRGBA, x, y0, y1 int, c color.NRGBA) {
	if x < 0 || x >= img.Rect.Dx() {
		return
	}
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	y0, y1 = max(y0, 0), min(y1, img.Rect.Dy()-1)
	o := y0*img.Stride + x*4
	for y := y0; y <= y1; y++ {
		img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = c.R, c.G, c.B, c.A
		o += img.Stride
	}
}

func hline(img *image.NRGBA, x0, x1, y int, c color.NRGBA) {
	if y < 0 || y >= img.Rect.Dy() {
		return
	}
	x0, x1 = max(x0, 0), min(x1, img.Rect.Dx()-1)
	o := y*img.Stride + x0*4
	for x := x0; x <= x1; x++ {
		img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = c.R, c.G, c.B, c.A
		o += 4
	}
}

// line draws a 1-pixel line with Bresenham's algorithm.
func line(img *image.NRGBA, x0, y0, x1, y1 int, c color.NRGBA) {
	if x0 == x1 {
		vline(img, x0, y0, y1, c)
		return
	}
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		set(img, x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
