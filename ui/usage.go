package ui

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/ui/chart"
)

// usageView shows a meter's series on the chart, with ranges, aggregation and bills.
type usageView struct {
	m      *MainWindow
	root   fyne.CanvasObject
	search *widget.Entry
	list   *widget.List
	meters []store.Meter
	meter  store.Meter
	series []store.Series
	stats  map[int64]store.SeriesStats
	checks *widget.CheckGroup
	rng    *widget.Select
	res    *widget.Select
	period *widget.Label
	chart  *chart.TimeSeries
	totals *widget.Label
	bills  *fyne.Container
	// billBox scrolls the bills.
	billBox *container.Scroll
	offset  int
	// anchor is the last reading time the periods are counted back from. It follows new data
	// while the latest period is shown (offset 0) and stays put while the user looks back, so
	// that a sync never moves the period on the screen.
	anchor  int64
	loadSeq int
	// resetView says a load asked to show its whole period; a later load that would keep the
	// view (new data) must not undo that before it is applied.
	resetView bool
	listSeq   int
	meterSeq  int
	// shown is the meter whose series the checks list, 0 before the first one arrives.
	shown  int64
	labels map[string]int64 // check label → series id
	right  *fyne.Container
}

func newUsageView(m *MainWindow) *usageView {
	v := &usageView{m: m, stats: map[int64]store.SeriesStats{}, labels: map[string]int64{}}
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search meters…")
	v.search.OnChanged = func(string) { v.reload() }
	v.list = widget.NewList(
		func() int { return len(v.meters) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("meter name that is long")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(meterTitle(v.meters[i])) },
	)
	v.list.OnSelected = func(i widget.ListItemID) {
		if i < len(v.meters) && v.meters[i].ID != v.meter.ID {
			v.selectMeter(v.meters[i])
		}
	}
	v.checks = widget.NewCheckGroup(nil, nil)
	v.checks.Horizontal = true
	prefs := m.App.Preferences()
	v.rng = widget.NewSelect([]string{RangeDay, RangeWeek, RangeMonth, RangeYear, RangeAll}, nil)
	v.res = widget.NewSelect([]string{ResRaw, ResHour, ResDay, ResWeek, ResMonth}, nil)
	v.rng.SetSelected(prefs.StringWithFallback(prefUsageRange, RangeWeek))
	if v.rng.Selected == "" {
		v.rng.SetSelected(RangeWeek) // an unknown choice in the preferences
	}
	v.res.SetSelected(prefs.StringWithFallback(prefUsageRes, defaultResolution(v.rng.Selected)))
	if v.res.Selected == "" {
		v.res.SetSelected(defaultResolution(v.rng.Selected))
	}
	v.rng.OnChanged = func(s string) {
		prefs.SetString(prefUsageRange, s)
		v.offset = 0
		v.res.OnChanged = nil
		v.res.SetSelected(defaultResolution(s))
		prefs.SetString(prefUsageRes, v.res.Selected)
		v.res.OnChanged = v.resolutionChanged
		v.loadChart(false) // another period: show all of it
	}
	v.res.OnChanged = v.resolutionChanged
	prev := widget.NewButtonWithIcon("", theme.NavigateBackIcon(), func() { v.offset++; v.loadChart(false) })
	next := widget.NewButtonWithIcon("", theme.NavigateNextIcon(), func() {
		if v.offset > 0 {
			v.offset--
			v.loadChart(false)
		}
	})
	v.period = widget.NewLabel("")
	v.chart = chart.New()
	v.chart.Empty = "Choose a meter to see its readings"
	v.totals = widget.NewLabel("")
	v.totals.Wrapping = fyne.TextWrapWord
	v.bills = container.NewVBox()
	controls := container.NewHBox(widget.NewLabel("Range"), v.rng, widget.NewLabel("Show"), v.res, prev, next, v.period)
	top := container.NewVBox(controls, v.checks)
	billScroll := container.NewVScroll(v.bills)
	v.billBox = billScroll
	bottom := container.NewBorder(container.NewVBox(v.totals, widget.NewLabelWithStyle("Bills and costs", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})), nil, nil, nil, billScroll)
	body := container.NewVSplit(v.chart, bottom)
	body.Offset = 0.68
	right := container.NewBorder(top, nil, nil, nil, body)
	v.right = right
	left := container.NewBorder(v.search, nil, nil, nil, v.list)
	split := container.NewHSplit(left, right)
	split.Offset = 0.24
	v.root = split
	v.reload()
	return v
}

func (v *usageView) object() fyne.CanvasObject { return v.root }

// resolutionChanged remembers the resolution and redraws the same period, keeping the
// user's zoom.
func (v *usageView) resolutionChanged(s string) {
	v.m.App.Preferences().SetString(prefUsageRes, s)
	v.loadChart(true)
}

// checksChanged remembers the checked series of the meter and redraws, keeping the zoom.
func (v *usageView) checksChanged([]string) {
	v.saveChecks()
	v.loadChart(true)
}

// seriesPref is the preference key of a meter's checked series.
func seriesPref(meterKey string) string { return prefUsageSeries + "." + meterKey }

// saveChecks remembers the keys of the meter's checked series.
func (v *usageView) saveChecks() {
	if v.shown == 0 || v.shown != v.meter.ID {
		return
	}
	keys := []string{}
	for _, id := range v.checkedIDs() {
		for _, s := range v.series {
			if s.ID == id {
				keys = append(keys, s.Key)
			}
		}
	}
	v.m.App.Preferences().SetStringList(seriesPref(v.meter.Key), keys)
}

// checkedIDs are the ids of the checked series.
func (v *usageView) checkedIDs() []int64 {
	var ids []int64
	for _, l := range v.checks.Selected {
		if id, ok := v.labels[l]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func meterTitle(m store.Meter) string {
	name := m.Name
	if name == "" {
		name = m.Key
	}
	if m.Commodity != "" {
		name += " · " + m.Commodity
	}
	return name
}

// reload lists the meters matching the search.
func (v *usageView) reload() {
	search := v.search.Text
	v.listSeq++
	seq := v.listSeq
	background(v.m, func(ctx context.Context) ([]store.Meter, error) {
		return v.m.deps.Data.Meters(ctx, store.MeterFilter{Search: search, Limit: 5000})
	}, func(ms []store.Meter, err error) {
		if seq != v.listSeq {
			return // the search changed since; its own list is on its way
		}
		if err != nil {
			v.totals.SetText("Could not list meters: " + err.Error())
			return
		}
		v.meters = ms
		if len(ms) == 0 {
			v.list.UnselectAll()
			v.list.Refresh()
			return
		}
		want := v.meter.Key
		if want == "" {
			want = v.m.App.Preferences().String(prefUsageMeter)
		}
		idx := -1
		for i, m := range ms {
			if m.Key == want {
				idx = i
			}
		}
		if idx >= 0 && ms[idx].ID == v.meter.ID {
			// The meter shown is still listed (new data, or a search that matches it): keep
			// it, its checked series, the period and the zoom, and only read its data again.
			v.list.Select(idx) // OnSelected ignores the meter already shown
			v.list.Refresh()
			v.loadMeter(ms[idx])
			return
		}
		v.list.UnselectAll()
		v.list.Refresh()
		v.list.Select(max(idx, 0))
	})
}

type meterData struct {
	series []store.Series
	stats  map[int64]store.SeriesStats
	bills  []store.UsageSummary
}

// selectMeter shows a meter: its series, their spans and its bills.
func (v *usageView) selectMeter(m store.Meter) {
	v.meter = m
	v.m.App.Preferences().SetString(prefUsageMeter, m.Key)
	v.loadMeter(m)
}

// loadMeter reads meter m's series, their spans and its bills off the UI goroutine. When
// the checks already list m's series (a refresh after new data), the checked series, the
// period and the chart's zoom are kept; otherwise the series checked last time for m are
// checked (or the first few with readings) and the latest period is shown whole.
func (v *usageView) loadMeter(m store.Meter) {
	v.meterSeq++
	seq := v.meterSeq
	background(v.m, func(ctx context.Context) (meterData, error) {
		var d meterData
		var err error
		if d.series, err = v.m.deps.Data.SeriesOf(ctx, m.ID); err != nil {
			return d, err
		}
		d.stats = map[int64]store.SeriesStats{}
		for _, s := range d.series {
			st, err := v.m.deps.Data.StatsOf(ctx, s.ID)
			if err != nil {
				return d, err
			}
			d.stats[s.ID] = st
		}
		d.bills, err = v.m.deps.Data.SummariesOf(ctx, m.ID)
		slices.Reverse(d.bills) // newest bill first
		return d, err
	}, func(d meterData, err error) {
		if err != nil {
			v.totals.SetText("Could not read the meter: " + err.Error())
			return
		}
		if v.meter.ID != m.ID || seq != v.meterSeq {
			return // another meter was chosen, or a newer read is on its way
		}
		keep := v.shown == m.ID
		checked := map[int64]bool{}
		if keep {
			for _, id := range v.checkedIDs() {
				checked[id] = true
			}
		} else {
			saved := map[string]bool{}
			for _, k := range v.m.App.Preferences().StringList(seriesPref(m.Key)) {
				saved[k] = true
			}
			for _, s := range d.series {
				if saved[s.Key] {
					checked[s.ID] = true
				}
			}
			if len(checked) == 0 {
				for _, s := range d.series {
					if d.stats[s.ID].Count > 0 && len(checked) < 4 {
						checked[s.ID] = true
					}
				}
			}
			v.offset = 0
		}
		v.series, v.stats, v.shown = d.series, d.stats, m.ID
		v.labels = map[string]int64{}
		var opts, on []string
		for _, s := range d.series {
			l := v.seriesLabel(s)
			for v.labels[l] != 0 {
				l += "′"
			}
			v.labels[l] = s.ID
			opts = append(opts, l)
			if checked[s.ID] {
				on = append(on, l)
			}
		}
		v.checks.OnChanged = nil
		v.checks.Options = opts
		v.checks.Selected = on
		v.checks.Refresh()
		v.right.Refresh() // the series row may have grown
		v.checks.OnChanged = v.checksChanged
		v.showBills(d.bills)
		v.loadChart(keep)
	})
}

func (v *usageView) seriesLabel(s store.Series) string {
	unit, _ := displayUnit(s.Unit, v.m.settings.EnergyUnit())
	l := seriesName(s)
	if unit != "" {
		l += " · " + unit
	}
	if s.Seconds > 0 {
		l += " · " + durationWords(s.Seconds)
	}
	return l
}

func durationWords(sec int64) string {
	switch {
	case sec%86400 == 0:
		return fmt.Sprintf("%d d", sec/86400)
	case sec%3600 == 0:
		return fmt.Sprintf("%d h", sec/3600)
	case sec%60 == 0:
		return fmt.Sprintf("%d min", sec/60)
	}
	return fmt.Sprintf("%d s", sec)
}

type chartData struct {
	series []chart.Series
	totals []string
	t0, t1 int64
}

// loadChart reads and aggregates the checked series over the chosen period, off the UI
// goroutine. keepView keeps the chart's zoom and pan if the user set one (new data, another
// resolution or series); otherwise the whole period is shown (another period or meter).
func (v *usageView) loadChart(keepView bool) {
	var chosen []store.Series
	for _, l := range v.checks.Selected {
		for _, s := range v.series {
			if s.ID == v.labels[l] {
				chosen = append(chosen, s)
			}
		}
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range chosen {
		st := v.stats[s.ID]
		if st.Count == 0 {
			continue
		}
		first, last = min(first, st.First), max(last, st.Last)
	}
	v.loadSeq++
	seq := v.loadSeq
	if !keepView {
		v.resetView = true
	}
	if len(chosen) == 0 || first > last {
		v.resetView = false
		v.chart.Empty = "No readings for this meter yet"
		v.chart.SetSeries(nil)
		v.period.SetText("")
		v.totals.SetText("")
		return
	}
	loc := v.m.settings.Location(v.meter.TimeZone)
	if v.offset == 0 || v.anchor == 0 {
		v.anchor = last
	}
	rng, res, offset := v.rng.Selected, v.res.Selected, v.offset
	t0, t1 := rangeSpan(rng, first, v.anchor, offset, loc)
	energyUnit := v.m.settings.EnergyUnit()
	v.period.SetText(periodText(t0, t1, loc))
	background(v.m, func(ctx context.Context) (chartData, error) {
		d := chartData{t0: t0, t1: t1}
		for i, s := range chosen {
			ts, vs, err := v.m.deps.Data.ReadingRange(ctx, s.ID, t0, t1)
			if err != nil {
				return d, err
			}
			unit, factor := displayUnit(s.Unit, energyUnit)
			if factor != 1 {
				scaled := make([]float64, len(vs))
				for j, x := range vs {
					scaled[j] = x * factor
				}
				vs = scaled
			}
			name := seriesName(s)
			color := chart.Palette[i%len(chart.Palette)]
			a := aggregate(ts, vs, loc, res)
			step := bucketSeconds(res, s.Seconds)
			if quantityOf(s.Kind, s.Unit) == quantityPower && res != ResRaw {
				d.series = append(d.series,
					chart.Series{Name: name + " mean", Unit: unit, Times: a.times, Values: a.mean, Step: step, Color: color},
					chart.Series{Name: name + " max", Unit: unit, Times: a.times, Values: a.maxv, Step: step})
				if a.hasReading {
					d.totals = append(d.totals, fmt.Sprintf("%s: peak %s %s on %s", name, fmtNum(a.peak), unit,
						time.Unix(a.peakAt, 0).In(loc).Format("Mon 2 Jan 15:04")))
				}
				continue
			}
			vals := a.sum
			if quantityOf(s.Kind, s.Unit) == quantityPower {
				vals = a.mean
			}
			d.series = append(d.series, chart.Series{Name: name, Unit: unit, Times: a.times, Values: vals, Step: step, Color: color})
			if a.hasReading && quantityOf(s.Kind, s.Unit) == quantityEnergy {
				line := fmt.Sprintf("%s: %s %s", name, fmtNum(a.total), unit)
				if cost, n, err := v.m.deps.Data.CostOf(ctx, s.ID, t0, t1); err == nil && n > 0 {
					c := cost
					line += ", " + fmtMoney(&c, s.Currency)
				}
				d.totals = append(d.totals, line+" in this period")
			}
		}
		return d, nil
	}, func(d chartData, err error) {
		if seq != v.loadSeq {
			return // a newer load is on its way
		}
		if err != nil {
			v.totals.SetText("Could not read readings: " + err.Error())
			return
		}
		v.chart.Location = loc
		v.chart.Empty = "No readings in this period"
		if v.resetView {
			v.chart.SetSeries(d.series)
			v.chart.SetExtent(d.t0, d.t1)
			v.resetView = false
		} else {
			v.chart.Update(d.series, d.t0, d.t1)
		}
		v.totals.SetText(strings.Join(d.totals, " · "))
	})
}

func periodText(t0, t1 int64, loc *time.Location) string {
	a, b := time.Unix(t0, 0).In(loc), time.Unix(t1, 0).In(loc).Add(-time.Second)
	if a.Format(time.DateOnly) == b.Format(time.DateOnly) {
		return a.Format("Mon 2 Jan 2006") + " (" + a.Format("MST") + ")"
	}
	return a.Format("2 Jan 2006") + " – " + b.Format("2 Jan 2006") + " (" + a.Format("MST") + ")"
}

func fmtNum(v float64) string {
	switch {
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtMoney(v *float64, currency string) string {
	if v == nil {
		return "–"
	}
	return strings.TrimSpace(fmt.Sprintf("%.2f %s", *v, currency))
}

// showBills lists the meter's bills with their line items.
func (v *usageView) showBills(bills []store.UsageSummary) {
	v.bills.Objects = nil
	if len(bills) == 0 {
		v.bills.Add(widget.NewLabel("No bills for this meter."))
	}
	loc := v.m.settings.Location(v.meter.TimeZone)
	for _, b := range bills {
		start := time.Unix(b.PeriodStart, 0).In(loc)
		end := time.Unix(b.PeriodStart+b.PeriodSeconds, 0).In(loc)
		head := fmt.Sprintf("%s – %s: bill %s", start.Format("2 Jan 2006"), end.Format("2 Jan 2006"), fmtMoney(b.BillLastPeriod, b.Currency))
		if b.CostAdditionalLastPeriod != nil {
			head += ", additional " + fmtMoney(b.CostAdditionalLastPeriod, b.Currency)
		}
		if b.BillToDate != nil {
			head += ", to date " + fmtMoney(b.BillToDate, b.Currency)
		}
		v.bills.Add(widget.NewLabelWithStyle(head, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		for _, it := range b.Items {
			line := "    " + it.Note
			if it.ItemKind != "" {
				line += " (" + it.ItemKind + ")"
			}
			if it.Measurement != nil {
				line += fmt.Sprintf(": %s %s", fmtNum(*it.Measurement), unitSymbol(it.Unit))
			}
			if it.Amount != nil {
				line += " — " + fmtMoney(it.Amount, b.Currency)
			}
			v.bills.Add(widget.NewLabel(line))
		}
	}
	v.bills.Refresh()
	v.billBox.Refresh() // the scroll bar follows the new length
}
