package chart

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the meter zones of these tests resolve on machines without zoneinfo

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
)

// bruteColumns decimates by visiting every point, the obvious way.
func bruteColumns(ts []int64, vs []float64, t0, t1 int64, width int) []Column {
	out := make([]Column, width)
	for i, t := range ts {
		if t < t0 || t >= t1 {
			continue
		}
		x := int(float64(t-t0) * float64(width) / float64(t1-t0))
		if x >= width {
			x = width - 1
		}
		c := &out[x]
		if c.N == 0 {
			*c = Column{N: 1, Min: vs[i], Max: vs[i], First: vs[i], Last: vs[i], FirstT: t, LastT: t}
			continue
		}
		c.N++
		c.Min, c.Max = math.Min(c.Min, vs[i]), math.Max(c.Max, vs[i])
		c.Last, c.LastT = vs[i], t
	}
	return out
}

func TestDecimateMatchesEveryPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts, vs := make([]int64, 5000), make([]float64, 5000)
	for i := range ts {
		ts[i] = int64(i) * 900
		vs[i] = rng.NormFloat64()
	}
	vs[1234] = 1e6 // a spike must survive any zoom
	for _, tc := range []struct {
		name   string
		t0, t1 int64
		width  int
	}{
		{"all in few columns", 0, 5000 * 900, 7},
		{"all", 0, 5000 * 900, 1600},
		{"zoomed", 1000 * 900, 1300 * 900, 50},
		{"more columns than points", 1200 * 900, 1240 * 900, 1600},
		{"before the data", -1e6, -10, 100},
		{"after the data", 1e9, 2e9, 100},
		{"empty span", 100, 100, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decimate(ts, vs, tc.t0, tc.t1, tc.width, nil)
			if tc.t1 <= tc.t0 {
				for _, c := range got {
					if c.N != 0 {
						t.Fatal("an empty span has points")
					}
				}
				return
			}
			want := bruteColumns(ts, vs, tc.t0, tc.t1, tc.width)
			for x := range want {
				if got[x] != want[x] {
					t.Fatalf("column %d: got %+v, want %+v", x, got[x], want[x])
				}
			}
			if tc.t0 <= 1234*900 && 1234*900 < tc.t1 {
				found := false
				for _, c := range got {
					found = found || c.Max == 1e6
				}
				if !found {
					t.Fatal("the spike was decimated away")
				}
			}
		})
	}
}

func TestDecimateReusesStorage(t *testing.T) {
	ts, vs := []int64{0, 10, 20}, []float64{1, 2, 3}
	buf := Decimate(ts, vs, 0, 30, 3, nil)
	again := Decimate(ts, vs, 0, 30, 3, buf)
	if &buf[0] != &again[0] {
		t.Fatal("Decimate allocated although the buffer was big enough")
	}
	if again[1].N != 1 || again[1].Min != 2 {
		t.Fatalf("column 1: %+v", again[1])
	}
}

func TestValueTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 10, 5, []float64{0, 2, 4, 6, 8, 10}},
		{0, 1, 4, []float64{0, 0.25, 0.5, 0.75, 1}[:0]},
		{-3, 7, 5, []float64{-2, 0, 2, 4, 6}},
		{0, 0.1, 2, []float64{0, 0.05, 0.1}},
	} {
		got := valueTicks(tc.lo, tc.hi, tc.n)
		if len(tc.want) == 0 {
			if len(got) < 2 {
				t.Errorf("ticks %v..%v: too few: %v", tc.lo, tc.hi, got)
			}
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ticks %v..%v/%d: got %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("ticks %v..%v/%d: got %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
				break
			}
		}
	}
	if s := formatValue(0.25, 0.05); s != "0.25" {
		t.Errorf("formatValue(0.25, 0.05) = %q", s)
	}
	if s := formatValue(1500, 500); s != "1500" {
		t.Errorf("formatValue(1500, 500) = %q", s)
	}
}

func TestTimeTicksAlignToLocalClock(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err) // time/tzdata is embedded in this test: the zone always resolves
	}
	day := time.Date(2024, 3, 10, 0, 0, 0, 0, la) // the spring-forward day
	for _, tc := range []struct {
		name   string
		t0, t1 time.Time
		n      int
		label  string // the first label
		check  func(time.Time) bool
	}{
		{"hours", day, day.Add(24 * time.Hour), 8, "00:00", func(t time.Time) bool { return t.Minute() == 0 && t.Hour()%3 == 0 }},
		{"days", day, day.AddDate(0, 0, 10), 12, "Mar 10", func(t time.Time) bool { return t.Hour() == 0 && t.Minute() == 0 }},
		{"weeks", day, day.AddDate(0, 2, 0), 10, "Mar 11", func(t time.Time) bool { return t.Weekday() == time.Monday && t.Hour() == 0 }},
		{"months", day, day.AddDate(1, 0, 0), 13, "Apr 2024", func(t time.Time) bool { return t.Day() == 1 && t.Hour() == 0 }},
		{"years", day, day.AddDate(8, 0, 0), 10, "2025", func(t time.Time) bool { return t.YearDay() == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks := timeTicks(tc.t0.Unix(), tc.t1.Unix(), tc.n, la)
			if len(ticks) < 2 || len(ticks) > tc.n+1 {
				t.Fatalf("%d ticks for at most %d: %v", len(ticks), tc.n, ticks)
			}
			if ticks[0].label != tc.label {
				t.Errorf("first label %q, want %q", ticks[0].label, tc.label)
			}
			for _, tk := range ticks {
				if lt := time.Unix(tk.t, 0).In(la); !tc.check(lt) {
					t.Errorf("tick %s (%s) is not aligned", lt, tk.label)
				}
			}
		})
	}
}

// demoSeries is a year of quarter-hour household import with a daily shape, a few spikes and
// a gap, and a solar export series.
func demoSeries(n int) []Series {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	imp := Series{Name: "Import", Unit: "kWh", Step: 900}
	exp := Series{Name: "Export", Unit: "kWh", Step: 900}
	for i := 0; i < n; i++ {
		if i > n/2 && i < n/2+n/20 {
			continue // a gap: missing data is not drawn
		}
		t := start + int64(i)*900
		h := float64((t%86400)/3600) + float64(t%3600)/3600
		day := float64(i) / 96
		v := 0.15 + 0.25*math.Max(0, math.Sin((h-6)/24*2*math.Pi)) + 0.05*math.Sin(day/58)
		if i%(n/7+1) == 201 {
			v = 2.5 // a kettle
		}
		imp.Times = append(imp.Times, t)
		imp.Values = append(imp.Values, math.Round(v*1000)/1000)
		e := math.Max(0, math.Sin((h-7)/12*math.Pi)) * (0.5 + 0.3*math.Sin(day/58))
		exp.Times = append(exp.Times, t)
		exp.Values = append(exp.Values, math.Round(e*1000)/1000)
	}
	return []Series{imp, exp}
}

func TestChartGolden(t *testing.T) {
	test.NewTempApp(t)
	c := New()
	c.SetSeries(demoSeries(96 * 21))
	w := test.NewTempWindow(t, c)
	w.Resize(fyne.NewSize(640, 320))
	test.AssertImageMatches(t, "chart_three_weeks.png", w.Canvas().Capture())

	// The wheel zooms at the pointer; the time under it stays put.
	pos := fyne.NewPos(320, 150)
	before := c.timeAt(pos.X)
	for range 3 {
		c.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: pos}, Scrolled: fyne.Delta{DY: 10}})
	}
	if after := c.timeAt(pos.X); math.Abs(float64(after-before)) > 3600 {
		t.Fatalf("zoom moved the time under the pointer from %d to %d", before, after)
	}
	v0, v1 := c.View()
	if want := float64(c.full1-c.full0) * 0.512; math.Abs(float64(v1-v0)-want) > 3600 {
		t.Fatalf("three wheel notches show %d s, want about %.0f s", v1-v0, want)
	}
	test.AssertImageMatches(t, "chart_zoomed.png", w.Canvas().Capture())

	// Hover shows the crosshair and each series' value.
	c.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pos}})
	test.AssertImageMatches(t, "chart_hover.png", w.Canvas().Capture())
	c.MouseOut()

	// Drag pans: dragging right shows earlier times.
	var changed int
	c.OnViewChanged = func(int64, int64) { changed++ }
	c.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: pos}, Dragged: fyne.Delta{DX: 100}})
	c.DragEnd()
	p0, p1 := c.View()
	if p0 >= v0 || p1-p0 != v1-v0 {
		t.Fatalf("drag right: view %d..%d, was %d..%d", p0, p1, v0, v1)
	}
	if changed == 0 {
		t.Fatal("OnViewChanged was not called on a drag")
	}

	// Double click shows everything again.
	test.DoubleTap(c)
	if r0, r1 := c.View(); r0 != c.full0 || r1 != c.full1 {
		t.Fatalf("double click: view %d..%d, want %d..%d", r0, r1, c.full0, c.full1)
	}
}

func TestChartEmpty(t *testing.T) {
	test.NewTempApp(t)
	c := New()
	c.SetSeries(nil)
	// An empty chart shows the last day; pin that day so the master does not depend on today.
	c.SetExtent(1700000000-86400, 1700000000)
	w := test.NewTempWindow(t, c)
	w.Resize(fyne.NewSize(400, 200))
	test.AssertImageMatches(t, "chart_empty.png", w.Canvas().Capture())
}

func TestHoverText(t *testing.T) {
	c := New()
	c.SetSeries([]Series{
		{Name: "Import", Unit: "kWh", Times: []int64{0, 900, 1800}, Values: []float64{1.5, 2.25, 0}},
		{Name: "Export", Unit: "kWh", Times: []int64{1800}, Values: []float64{0.125}, Step: 900},
	})
	got := c.HoverText(1000)
	want := []string{"Thu 1 Jan 1970 00:16 UTC", "Import: 2.25 kWh", "Export: –"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if got := c.HoverText(2000); got[1] != "Import: 0 kWh" || got[2] != "Export: 0.125 kWh" {
		t.Errorf("at 2000: %q", got)
	}
}

// TestUpdateKeepsTheUsersView checks that new data never moves a zoomed or panned view, and
// that a chart showing everything grows to show the new data.
func TestUpdateKeepsTheUsersView(t *testing.T) {
	test.NewTempApp(t)
	week := demoSeries(96 * 7)
	more := demoSeries(96 * 8) // the same week and one more day, as after a sync
	end7, end8 := week[0].Times[len(week[0].Times)-1]+900, more[0].Times[len(more[0].Times)-1]+900

	for _, tc := range []struct {
		name string
		act  func(c *TimeSeries)
		// follows says the view is expected to become the new extent.
		follows bool
	}{
		{"whole extent shown", func(*TimeSeries) {}, true},
		{"zoomed with the wheel", func(c *TimeSeries) {
			c.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(200, 100)}, Scrolled: fyne.Delta{DY: 10}})
			c.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(200, 100)}, Scrolled: fyne.Delta{DY: 10}})
		}, false},
		{"zoomed at the end", func(c *TimeSeries) { c.ZoomAt(end7, 0.25) }, false},
		{"panned", func(c *TimeSeries) {
			c.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(200, 100)}, Dragged: fyne.Delta{DX: 80}})
		}, false},
		{"zoomed, then double clicked", func(c *TimeSeries) { c.ZoomAt(end7, 0.5); test.DoubleTap(c) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			c.SetSeries(week)
			c.SetExtent(week[0].Times[0], end7)
			w := test.NewTempWindow(t, c)
			w.Resize(fyne.NewSize(640, 320))
			tc.act(c)
			v0, v1 := c.View()
			c.Update(more, more[0].Times[0], end8)
			g0, g1 := c.View()
			if tc.follows {
				if g0 != more[0].Times[0] || g1 != end8 {
					t.Fatalf("view %d..%d after new data, want the new extent %d..%d", g0, g1, more[0].Times[0], end8)
				}
				if c.Zoomed() {
					t.Fatal("the chart says it is zoomed while it shows everything")
				}
				return
			}
			if g0 != v0 || g1 != v1 {
				t.Fatalf("new data moved the view from %d..%d to %d..%d", v0, v1, g0, g1)
			}
			if !c.Zoomed() {
				t.Fatal("the chart forgot it was zoomed")
			}
			if len(c.Series()[0].Times) != len(more[0].Times) {
				t.Fatal("the new data was not taken")
			}
			// Show everything now means the new extent.
			c.Reset()
			if r0, r1 := c.View(); r0 != more[0].Times[0] || r1 != end8 {
				t.Fatalf("reset after new data: %d..%d", r0, r1)
			}
		})
	}
}

// dailyBars sums demoSeries per UTC day: import above zero, export mirrored below it in the
// same lane, the last day covered only in part.
func dailyBars(days int) []Series {
	raw := demoSeries(96*days - 40) // the last day lacks its last 10 hours
	out := make([]Series, 2)
	for i, s := range raw {
		b := Series{Name: s.Name, Unit: s.Unit, Step: 86400, Style: Bars}
		for k, t := range s.Times {
			d := t - t%86400
			if n := len(b.Times); n == 0 || b.Times[n-1] != d {
				b.Times = append(b.Times, d)
				b.Values = append(b.Values, 0)
				b.Partial = append(b.Partial, false)
			}
			v := s.Values[k]
			if i == 1 {
				v = -v
			}
			b.Values[len(b.Values)-1] += v
		}
		b.Partial[len(b.Partial)-1] = true
		out[i] = b
	}
	return out
}

// TestBarsGolden draws energy per day as bars: import up, export mirrored down, the partial
// last day hatched (and named in the legend), a comparison drawn as a faint line over them.
func TestBarsGolden(t *testing.T) {
	test.NewTempApp(t)
	c := New()
	ss := dailyBars(14)
	prev := Series{Name: "Import, previous period", Unit: "kWh", Step: 86400, Faint: true, Color: Palette[4]}
	for k, v := range ss[0].Values {
		prev.Times = append(prev.Times, ss[0].Times[k])
		prev.Values = append(prev.Values, v*0.8)
	}
	c.SetSeries(append(ss, prev))
	w := test.NewTempWindow(t, c)
	w.Resize(fyne.NewSize(640, 320))
	test.AssertImageMatches(t, "chart_bars_days.png", w.Canvas().Capture())
	if !c.anyPartial() {
		t.Error("the partial day is not reported for the legend")
	}
	last := ss[0].Times[len(ss[0].Times)-1]
	if got := c.HoverText(last + 3600); !strings.Contains(got[1], "(partial)") {
		t.Errorf("hover over the partial day: %q", got)
	}
	// Export drawn below zero is still said as exported: a positive amount.
	ss[1].Mirrored = true
	c.SetSeries(ss)
	if got := c.HoverText(ss[1].Times[0] + 3600); strings.Contains(got[2], "-") || !strings.HasPrefix(got[2], "Export: ") {
		t.Errorf("hover over mirrored export: %q", got)
	}
}

// TestPartialBarIsNotADip: a partial period is drawn as an outline at its height with a
// hatch, never as a solid bar that reads as a drop in use, and a whole period as a solid bar.
func TestPartialBarIsNotADip(t *testing.T) {
	var p plot
	p.setSeries([]Series{{Name: "Import", Step: 100, Style: Bars, Times: []int64{0, 100}, Values: []float64{10, 10}, Partial: []bool{false, true}}})
	p.t0, p.t1 = 0, 200
	lo, hi, any := p.decimate(200)
	p.ylo, p.yhi = autoRange(lo, hi, any)
	img := p.frame(200, 100)
	count := func(x0, x1 int) (n int, top int) {
		top = 100
		for x := x0; x < x1; x++ {
			for y := 0; y < 100; y++ {
				if img.NRGBAAt(x, y).A != 0 {
					n++
					top = min(top, y)
				}
			}
		}
		return n, top
	}
	whole, wholeTop := count(0, 100)
	part, partTop := count(100, 200)
	if wholeTop != partTop {
		t.Errorf("the partial bar's top is at row %d, the whole one's at %d: it reads as a dip", partTop, wholeTop)
	}
	if part*2 > whole || part == 0 {
		t.Errorf("partial bar has %d coloured pixels, whole bar %d: it is not drawn differently", part, whole)
	}
}

// TestNarrowBarsKeepEveryPeak: a year of hourly bars in a few hundred pixels still shows the
// highest hour and the deepest export at their true heights.
func TestNarrowBarsKeepEveryPeak(t *testing.T) {
	s := Series{Name: "Import", Step: 3600, Style: Bars}
	for i := 0; i < 8760; i++ {
		s.Times = append(s.Times, int64(i)*3600)
		v := 1.0
		switch i {
		case 5000:
			v = 9
		case 6000:
			v = -4
		}
		s.Values = append(s.Values, v)
	}
	var p plot
	p.setSeries([]Series{s})
	p.t0, p.t1 = 0, 8760*3600
	lo, hi, any := p.decimate(300)
	p.ylo, p.yhi = autoRange(lo, hi, any)
	img := p.frame(300, 100)
	x := int(float64(5000*3600) / float64(p.t1) * 300)
	y := p.valueY(9, 100)
	if img.NRGBAAt(x, y).A == 0 {
		t.Errorf("the peak hour at column %d row %d is not drawn", x, y)
	}
	x = int(float64(6000*3600) / float64(p.t1) * 300)
	if img.NRGBAAt(x, p.valueY(-4, 100)).A == 0 {
		t.Errorf("the deepest export at column %d is not drawn", x)
	}
}

// meterBars are three meters' daily import (and the first one's export, mirrored), as the
// Usage view charts listed meters: one colour and legend entry per meter.
func meterBars(stack string) []Series {
	var out []Series
	for m, name := range []string{"Flat 1", "Flat 2", "Shop"} {
		imp := Series{Name: name, Legend: name, Unit: "kWh", Step: 86400, Style: Bars, Color: Palette[m], Stack: stack}
		if stack == "" {
			imp.Lane = m
		} else {
			imp.Stack = "Import"
		}
		for d := 0; d < 10; d++ {
			imp.Times = append(imp.Times, int64(d)*86400)
			imp.Values = append(imp.Values, float64(4+2*m)+float64((d*(m+3))%5))
		}
		out = append(out, imp)
	}
	exp := Series{Name: "Flat 1 · Export", Legend: "Flat 1", Unit: "kWh", Step: 86400, Style: Bars, Color: Palette[0], Mirrored: true}
	if stack != "" {
		exp.Stack = "Export"
	}
	for d := 0; d < 10; d++ {
		exp.Times = append(exp.Times, int64(d)*86400)
		exp.Values = append(exp.Values, -float64(1+d%3))
	}
	return append(out, exp)
}

// TestMetersSideBySideGolden draws three meters' bars grouped (a lane each) and stacked, in a
// chart too narrow for the legend on one row: the legend wraps and names each meter once.
func TestMetersSideBySideGolden(t *testing.T) {
	test.NewTempApp(t)
	for _, tc := range []struct{ stack, golden string }{{"", "chart_meters_grouped.png"}, {"Import", "chart_meters_stacked.png"}} {
		c := New()
		c.SetSeries(meterBars(tc.stack))
		w := test.NewTempWindow(t, c)
		w.Resize(fyne.NewSize(260, 240))
		test.AssertImageMatches(t, tc.golden, w.Canvas().Capture())
		if n := len(c.r.legend); n != 3 {
			t.Errorf("%s: %d legend entries, want one per meter", tc.golden, n)
		}
		if c.r.legend[2].Position().Y <= c.r.legend[0].Position().Y {
			t.Errorf("%s: the legend did not wrap in a narrow chart", tc.golden)
		}
	}
}

// TestStackedBarsPile: each stacked bar starts where the one under it ends, on its own side of
// zero, and the hover label gives each meter's own amount and the stack's total.
func TestStackedBarsPile(t *testing.T) {
	ss := meterBars("Import")
	var p plot
	p.setSeries(ss)
	for k := range ss[0].Times {
		if p.bases[0][k] != 0 || p.bases[1][k] != ss[0].Values[k] || p.tops[2][k] != ss[0].Values[k]+ss[1].Values[k]+ss[2].Values[k] {
			t.Fatalf("day %d: bases %v %v, top %v", k, p.bases[0][k], p.bases[1][k], p.tops[2][k])
		}
		if p.bases[3][k] != 0 || p.tops[3][k] != ss[3].Values[k] {
			t.Fatalf("day %d: export from %v to %v, want from 0 below zero", k, p.bases[3][k], p.tops[3][k])
		}
	}
	// The value range reaches the top of the pile, not only the highest single bar.
	p.t0, p.t1 = 0, 10*86400
	_, hi, _ := p.decimate(100)
	if want := ss[0].Values[0] + ss[1].Values[0] + ss[2].Values[0]; hi < want {
		t.Errorf("range up to %v, the first pile is %v high", hi, want)
	}
	test.NewTempApp(t)
	c := New()
	c.SetSeries(ss)
	got := c.HoverText(3600)
	want := []string{"Flat 1: 4 kWh", "Flat 2: 6 kWh", "Shop: 8 kWh", "Flat 1 · Export: 1 kWh", "Import, total: 18 kWh"}
	if strings.Join(got[1:], "|") != strings.Join(want, "|") {
		t.Errorf("hover %q, want %q", got[1:], want)
	}
	// Without a stack, bars start at zero and the hover gives no total.
	var q plot
	q.setSeries(meterBars(""))
	if q.tops[1] != nil {
		t.Error("bars that are not stacked got a pile")
	}
}
