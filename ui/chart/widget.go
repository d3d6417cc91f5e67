package chart

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// TimeSeries is a chart of one or more time series sharing a time axis and a value axis.
// Drag pans, the wheel zooms at the pointer, a double click shows everything again, and
// hovering shows a crosshair with the time and each series' value there.
//
// All its methods must be called on the Fyne goroutine.
type TimeSeries struct {
	widget.BaseWidget

	// Location is the time zone of the time axis and the hover label; nil means UTC.
	Location *time.Location
	// Empty is shown when no point is in view.
	Empty string
	// OnViewChanged, when set, is called after the user pans or zooms.
	OnViewChanged func(t0, t1 int64)

	series       []Series
	full0, full1 int64
	view0, view1 int64
	plot         plot
	hovering     bool
	hoverX       float32
	r            *tsRenderer
}

// New returns an empty chart.
func New() *TimeSeries {
	c := &TimeSeries{Empty: "No readings in this range"}
	c.ExtendBaseWidget(c)
	return c
}

// SetSeries replaces the series and shows all of them. The series' slices must not be
// changed afterwards.
func (c *TimeSeries) SetSeries(ss []Series) {
	c.series = ss
	c.plot.setSeries(ss)
	c.full0, c.full1 = extent(ss)
	c.view0, c.view1 = c.full0, c.full1
	c.Refresh()
}

// SetExtent sets the span that "show everything" (double click) returns to, and shows it.
func (c *TimeSeries) SetExtent(t0, t1 int64) {
	if t1 <= t0 {
		return
	}
	c.full0, c.full1 = t0, t1
	c.view0, c.view1 = t0, t1
	c.Refresh()
}

// Update replaces the series and the span that "show everything" returns to, keeping the
// view the user chose: when the whole extent was shown, the new extent is shown (so data that
// arrives at the end comes into view); when the user had zoomed or panned, the view stays
// exactly where it was. A t1 not after t0 takes the extent from the series. The series'
// slices must not be changed afterwards.
func (c *TimeSeries) Update(ss []Series, t0, t1 int64) {
	whole := !c.Zoomed()
	c.series = ss
	c.plot.setSeries(ss)
	if t1 <= t0 {
		t0, t1 = extent(ss)
	}
	c.full0, c.full1 = t0, t1
	if whole {
		c.view0, c.view1 = t0, t1
	}
	c.Refresh()
}

// Zoomed says whether the user has zoomed or panned away from the whole extent.
func (c *TimeSeries) Zoomed() bool { return c.view0 != c.full0 || c.view1 != c.full1 }

// SetView shows the span [t0, t1) in unix seconds.
func (c *TimeSeries) SetView(t0, t1 int64) {
	if t1 <= t0 {
		return
	}
	c.view0, c.view1 = t0, t1
	c.Refresh()
}

// View is the span shown.
func (c *TimeSeries) View() (t0, t1 int64) { return c.view0, c.view1 }

// Series returns the series shown.
func (c *TimeSeries) Series() []Series { return c.series }

func extent(ss []Series) (int64, int64) {
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range ss {
		if len(s.Times) == 0 {
			continue
		}
		t0 = min(t0, s.Times[0])
		t1 = max(t1, s.Times[len(s.Times)-1]+estimateStep(s))
	}
	if t0 >= t1 {
		return 0, 86400 // no data: a day; the axes are left out
	}
	return t0, t1
}

// CreateRenderer is part of fyne.Widget.
func (c *TimeSeries) CreateRenderer() fyne.WidgetRenderer {
	r := &tsRenderer{c: c, leftGuess: 48}
	r.raster = canvas.NewRaster(r.generate)
	r.raster.ScaleMode = canvas.ImageScalePixels
	r.cross = canvas.NewLine(color.Black)
	r.cross.StrokeWidth = 1
	r.cross.Hide()
	r.hoverBG = canvas.NewRectangle(color.Black)
	r.hoverBG.CornerRadius = 4
	r.hoverBG.Hide()
	r.empty = canvas.NewText("", color.Black)
	r.empty.Alignment = fyne.TextAlignCenter
	c.r = r
	return r
}

// Dragged pans the view with the pointer. It is part of fyne.Draggable.
func (c *TimeSeries) Dragged(e *fyne.DragEvent) {
	w := c.plotWidth()
	if w <= 0 {
		return
	}
	dt := int64(math.Round(float64(-e.Dragged.DX) / float64(w) * float64(c.view1-c.view0)))
	c.view0 += dt
	c.view1 += dt
	c.hoverX = e.Position.X
	c.Refresh()
	c.changed()
}

// DragEnd is part of fyne.Draggable.
func (c *TimeSeries) DragEnd() {}

// Scrolled zooms in (wheel up) or out around the time under the pointer. It is part of
// fyne.Scrollable.
func (c *TimeSeries) Scrolled(e *fyne.ScrollEvent) {
	d := e.Scrolled.DY
	if d == 0 {
		d = e.Scrolled.DX
	}
	if d == 0 {
		return
	}
	factor := 0.8
	if d < 0 {
		factor = 1.25
	}
	c.ZoomAt(c.timeAt(e.Position.X), factor)
}

// ZoomAt scales the span shown by factor (below 1 zooms in) keeping time t where it is.
func (c *TimeSeries) ZoomAt(t int64, factor float64) {
	span := float64(c.view1 - c.view0)
	newSpan := span * factor
	minSpan := float64(600)
	for i := range c.series {
		minSpan = max(minSpan, float64(4*c.plot.steps[i]))
	}
	maxSpan := 4 * float64(c.full1-c.full0)
	newSpan = math.Max(minSpan, math.Min(newSpan, math.Max(maxSpan, minSpan)))
	if newSpan == span {
		return
	}
	left := float64(t-c.view0) / span
	c.view0 = t - int64(math.Round(left*newSpan))
	c.view1 = c.view0 + int64(math.Round(newSpan))
	c.Refresh()
	c.changed()
}

// DoubleTapped shows everything again. It is part of fyne.DoubleTappable.
func (c *TimeSeries) DoubleTapped(*fyne.PointEvent) { c.Reset() }

// Reset shows the whole extent.
func (c *TimeSeries) Reset() {
	c.view0, c.view1 = c.full0, c.full1
	c.Refresh()
	c.changed()
}

// MouseIn is part of desktop.Hoverable.
func (c *TimeSeries) MouseIn(e *desktop.MouseEvent) { c.MouseMoved(e) }

// MouseMoved moves the crosshair. It is part of desktop.Hoverable.
func (c *TimeSeries) MouseMoved(e *desktop.MouseEvent) {
	c.hovering = true
	c.hoverX = e.Position.X
	if c.r != nil {
		c.r.updateHover()
	}
}

// MouseOut hides the crosshair. It is part of desktop.Hoverable.
func (c *TimeSeries) MouseOut() {
	c.hovering = false
	if c.r != nil {
		c.r.updateHover()
	}
}

// HoverText is what the hover label says at time t: the time and each series' value there,
// and the total of each stack of bars.
func (c *TimeSeries) HoverText(t int64) []string {
	loc := c.loc()
	lines := []string{time.Unix(t, 0).In(loc).Format("Mon 2 Jan 2006 15:04 MST")}
	type total struct {
		sum  float64
		unit string
		n    int
	}
	var stacks []string
	totals := map[string]*total{}
	for i, s := range c.series {
		j := sort.Search(len(s.Times), func(k int) bool { return s.Times[k] > t }) - 1
		if j < 0 || t-s.Times[j] >= c.plot.steps[i] {
			lines = append(lines, s.Name+": –")
			continue
		}
		v := s.Values[j]
		if s.Mirrored {
			v = -v
		}
		line := fmt.Sprintf("%s: %s %s", s.Name, trimFloat(v), s.Unit)
		if j < len(s.Partial) && s.Partial[j] {
			line += " (partial)"
		}
		lines = append(lines, line)
		if s.Style == Bars && s.Stack != "" {
			tot := totals[s.Stack]
			if tot == nil {
				tot = &total{unit: s.Unit}
				totals[s.Stack] = tot
				stacks = append(stacks, s.Stack)
			}
			tot.sum += v
			tot.n++
		}
	}
	for _, st := range stacks {
		if tot := totals[st]; tot.n > 1 {
			lines = append(lines, fmt.Sprintf("%s, total: %s %s", st, trimFloat(tot.sum), tot.unit))
		}
	}
	return lines
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func (c *TimeSeries) changed() {
	if c.OnViewChanged != nil {
		c.OnViewChanged(c.view0, c.view1)
	}
}

func (c *TimeSeries) loc() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

func (c *TimeSeries) plotWidth() float32 {
	if c.r == nil {
		return c.Size().Width
	}
	return c.r.plotRect.Size().Width
}

// timeAt is the time under x (widget coordinates).
func (c *TimeSeries) timeAt(x float32) int64 {
	left, w := float32(0), c.Size().Width
	if c.r != nil {
		left, w = c.r.plotRect.Min.X, c.r.plotRect.Size().Width
	}
	if w <= 0 {
		return c.view0
	}
	f := float64((x - left) / w)
	f = math.Max(0, math.Min(1, f))
	return c.view0 + int64(math.Round(f*float64(c.view1-c.view0)))
}

// rect is an area of the widget in its own coordinates.
type rect struct{ Min, Max fyne.Position }

func (r rect) Size() fyne.Size { return fyne.NewSize(r.Max.X-r.Min.X, r.Max.Y-r.Min.Y) }

type tsRenderer struct {
	c         *TimeSeries
	raster    *canvas.Raster
	xLabels   []*canvas.Text
	yLabels   []*canvas.Text
	legend    []*canvas.Text
	swatches  []*canvas.Rectangle
	cross     *canvas.Line
	hoverBG   *canvas.Rectangle
	hoverText []*canvas.Text
	empty     *canvas.Text
	plotRect  rect
	leftGuess float32
	objects   []fyne.CanvasObject
}

func (r *tsRenderer) Destroy() {}

func (r *tsRenderer) MinSize() fyne.Size {
	ts := theme.TextSize()
	return fyne.NewSize(ts*16, ts*10)
}

func (r *tsRenderer) Objects() []fyne.CanvasObject { return r.objects }

func (r *tsRenderer) Layout(fyne.Size) { r.update() }

func (r *tsRenderer) Refresh() { r.update() }

func (r *tsRenderer) scale() float32 {
	if d := fyne.CurrentApp(); d != nil {
		if cv := d.Driver().CanvasForObject(r.c); cv != nil {
			return cv.Scale()
		}
	}
	return 1
}

func (r *tsRenderer) colors() (fg, grid, bg color.Color) {
	th := r.c.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	return th.Color(theme.ColorNameForeground, v), th.Color(theme.ColorNameSeparator, v), th.Color(theme.ColorNameOverlayBackground, v)
}

func text(s string, c color.Color, size float32) *canvas.Text {
	t := canvas.NewText(s, c)
	t.TextSize = size
	return t
}

// update recomputes the view: decimation, value range, ticks, labels, legend and hover.
func (r *tsRenderer) update() {
	c := r.c
	size := c.Size()
	fg, grid, _ := r.colors()
	ts := theme.TextSize() * 0.85
	pad := theme.Padding()
	p := &c.plot
	p.grid = color.NRGBAModel.Convert(grid).(color.NRGBA)
	p.t0, p.t1 = c.view0, c.view1

	// Legend along the top, one entry per name, unit and colour, on as many rows as it
	// takes (many meters side by side do not fit on one).
	r.legend = r.legend[:0]
	r.swatches = r.swatches[:0]
	lineH := fyne.MeasureText("0", ts, fyne.TextStyle{}).Height
	x, row := pad, float32(0)
	place := func(w float32) {
		if x > pad && x+w > size.Width {
			x, row = pad, row+lineH
		}
	}
	type entry struct {
		label string
		c     color.NRGBA
	}
	seen := map[entry]bool{}
	for i, s := range c.series {
		label := s.Name
		if s.Legend != "" {
			label = s.Legend
		}
		if s.Unit != "" {
			label += " (" + s.Unit + ")"
		}
		e := entry{label, p.colors[i]}
		if seen[e] {
			continue
		}
		seen[e] = true
		tw := fyne.MeasureText(label, ts, fyne.TextStyle{}).Width
		place(ts + pad/2 + tw)
		sw := canvas.NewRectangle(p.colors[i])
		sw.Resize(fyne.NewSize(ts, 3))
		sw.Move(fyne.NewPos(x, row+lineH/2))
		x += ts + pad/2
		t := text(label, fg, ts)
		t.Move(fyne.NewPos(x, row))
		x += tw + 2*pad
		r.swatches = append(r.swatches, sw)
		r.legend = append(r.legend, t)
	}
	if c.anyPartial() {
		// A hatched swatch says what a hatched bar means.
		place(ts + pad/2 + fyne.MeasureText(PartialLegend, ts, fyne.TextStyle{}).Width)
		sw := canvas.NewRectangle(color.Transparent)
		sw.StrokeColor, sw.StrokeWidth = fg, 1
		sw.Resize(fyne.NewSize(ts*0.8, ts*0.8))
		sw.Move(fyne.NewPos(x, row+lineH/2-ts*0.4))
		x += ts + pad/2
		t := text(PartialLegend, fg, ts)
		t.Move(fyne.NewPos(x, row))
		r.swatches = append(r.swatches, sw)
		r.legend = append(r.legend, t)
	}
	top := row + lineH + pad
	bottom := size.Height - lineH - pad
	scale := r.scale()

	// Decimate at the plot's pixel width; redo once if the value labels need another margin.
	var yticks []float64
	var step float64
	left := r.leftGuess
	for try := 0; try < 2; try++ {
		wpx := int(math.Max(1, float64((size.Width-left-pad)*scale)))
		lo, hi, any := p.decimate(wpx)
		p.ylo, p.yhi = autoRange(lo, hi, any)
		n := max(2, int((bottom-top)/(lineH*2.5)))
		yticks = valueTicks(p.ylo, p.yhi, n)
		step = niceStep(p.yhi-p.ylo, n)
		need := float32(0)
		for _, v := range yticks {
			need = max(need, fyne.MeasureText(formatValue(v, step), ts, fyne.TextStyle{}).Width)
		}
		need += 2 * pad
		if math.Abs(float64(need-left)) < 1 {
			break
		}
		left = need
		r.leftGuess = need
	}
	r.plotRect = rect{Min: fyne.NewPos(left, top), Max: fyne.NewPos(size.Width-pad, bottom)}
	pw, ph := r.plotRect.Size().Width, r.plotRect.Size().Height
	r.raster.Move(r.plotRect.Min)
	r.raster.Resize(r.plotRect.Size())

	if len(c.series) == 0 {
		yticks = nil
	}
	// Value labels and grid.
	p.gridY = yticks
	r.yLabels = r.yLabels[:0]
	for _, v := range yticks {
		s := formatValue(v, step)
		t := text(s, fg, ts)
		t.Alignment = fyne.TextAlignTrailing
		y := top + (1-float32((v-p.ylo)/(p.yhi-p.ylo)))*ph
		t.Resize(fyne.NewSize(left-pad, lineH))
		t.Move(fyne.NewPos(0, y-lineH/2))
		r.yLabels = append(r.yLabels, t)
	}

	// Time labels and grid.
	n := max(2, int(pw/(ts*7)))
	var ticks []timeTick
	if len(c.series) > 0 {
		ticks = timeTicks(c.view0, c.view1, n, c.loc())
	} else {
		yticks = nil
	}
	p.gridX = p.gridX[:0]
	r.xLabels = r.xLabels[:0]
	span := float32(c.view1 - c.view0)
	for _, tk := range ticks {
		p.gridX = append(p.gridX, tk.t)
		x := left + float32(tk.t-c.view0)/span*pw
		t := text(tk.label, fg, ts)
		w := fyne.MeasureText(tk.label, ts, fyne.TextStyle{}).Width
		t.Move(fyne.NewPos(min(max(x-w/2, 0), size.Width-w), bottom+pad/2))
		r.xLabels = append(r.xLabels, t)
	}

	r.empty.Color = fg
	r.empty.TextSize = theme.TextSize()
	r.empty.Text = ""
	if !r.anyInView() {
		r.empty.Text = c.Empty
	}
	r.empty.Resize(fyne.NewSize(pw, lineH))
	r.empty.Move(fyne.NewPos(left, top+ph/2-lineH/2))

	r.raster.Refresh()
	r.updateHover()
	r.collect()
}

// PartialLegend is the legend's entry for hatched bars.
const PartialLegend = "hatched: partial period"

// anyPartial says whether a bar in view covers its period only in part.
func (c *TimeSeries) anyPartial() bool {
	for _, s := range c.series {
		if s.Style != Bars {
			continue
		}
		step := estimateStep(s)
		for k, p := range s.Partial {
			if p && k < len(s.Times) && s.Times[k] < c.view1 && s.Times[k]+step > c.view0 {
				return true
			}
		}
	}
	return false
}

func (r *tsRenderer) anyInView() bool {
	for _, cols := range r.c.plot.cols {
		for _, col := range cols {
			if col.N > 0 {
				return true
			}
		}
	}
	return false
}

// updateHover moves the crosshair and its label without redrawing the plot.
func (r *tsRenderer) updateHover() {
	c := r.c
	pr := r.plotRect
	if !c.hovering || len(c.series) == 0 || c.hoverX < pr.Min.X || c.hoverX > pr.Max.X {
		r.cross.Hide()
		r.hoverBG.Hide()
		for _, t := range r.hoverText {
			t.Hide()
		}
		r.cross.Refresh()
		r.hoverBG.Refresh()
		return
	}
	fg, _, bg := r.colors()
	r.cross.StrokeColor = fg
	r.cross.Position1 = fyne.NewPos(c.hoverX, pr.Min.Y)
	r.cross.Position2 = fyne.NewPos(c.hoverX, pr.Max.Y)
	r.cross.Show()
	lines := c.HoverText(c.timeAt(c.hoverX))
	ts := theme.TextSize() * 0.85
	pad := theme.Padding()
	for len(r.hoverText) < len(lines) {
		r.hoverText = append(r.hoverText, text("", fg, ts))
	}
	wmax := float32(0)
	lineH := fyne.MeasureText("0", ts, fyne.TextStyle{}).Height
	for _, l := range lines {
		wmax = max(wmax, fyne.MeasureText(l, ts, fyne.TextStyle{}).Width)
	}
	boxW, boxH := wmax+2*pad, float32(len(lines))*lineH+2*pad
	x := c.hoverX + pad
	if x+boxW > pr.Max.X {
		x = c.hoverX - pad - boxW
	}
	x = max(x, pr.Min.X)
	y := pr.Min.Y + pad
	r.hoverBG.FillColor = bg
	r.hoverBG.StrokeColor = fg
	r.hoverBG.StrokeWidth = 1
	r.hoverBG.Resize(fyne.NewSize(boxW, boxH))
	r.hoverBG.Move(fyne.NewPos(x, y))
	r.hoverBG.Show()
	for i, t := range r.hoverText {
		if i >= len(lines) {
			t.Hide()
			continue
		}
		t.Text, t.Color, t.TextSize = lines[i], fg, ts
		t.Move(fyne.NewPos(x+pad, y+pad+float32(i)*lineH))
		t.Show()
		t.Refresh()
	}
	r.cross.Refresh()
	r.hoverBG.Refresh()
	r.collect()
}

func (r *tsRenderer) collect() {
	objs := r.objects[:0]
	objs = append(objs, r.raster, r.empty)
	for _, t := range r.yLabels {
		objs = append(objs, t)
	}
	for _, t := range r.xLabels {
		objs = append(objs, t)
	}
	for i := range r.legend {
		objs = append(objs, r.swatches[i], r.legend[i])
	}
	objs = append(objs, r.cross, r.hoverBG)
	for _, t := range r.hoverText {
		objs = append(objs, t)
	}
	r.objects = objs
}

// generate draws the plot for the raster at its pixel size.
func (r *tsRenderer) generate(w, h int) image.Image {
	return r.c.plot.frame(w, h)
}
