package ui

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"custody/store"
	"custody/ui/chart"
)

// Comparison choices: what the chart overlays on the period in view.
const (
	CompareNone     = "No comparison"
	ComparePrevious = "Previous period"
	CompareYear     = "A year earlier"
)

// meterListWidth is the width the meter list keeps however narrow the window (at 800×600 it
// is still wide enough to tell meters apart); the list can be hidden instead.
const meterListWidth = 230

// usageView shows a meter's series on the chart, with summary cards for the period in view,
// a comparison, ranges, aggregation and bills.
type usageView struct {
	m      *MainWindow
	root   *fyne.Container
	body   fyne.CanvasObject
	search *widget.Entry
	list   *widget.List
	// meters are the meters the search matches, in natural order of titles.
	meters []store.Meter
	titles []string
	// hasData says whether the database holds any meter at all (else the welcome shows).
	hasData bool
	welcome fyne.CanvasObject
	meter   store.Meter
	title   *widget.Label
	series  []store.Series
	stats   map[int64]store.SeriesStats
	checks  *widget.CheckGroup
	rng     *widget.Select
	res     *widget.Select
	cmp     *widget.Select
	period  *widget.Label
	chart   *chart.TimeSeries
	// totals shows errors and what the cards' figures cover.
	totals *widget.Label
	cards  *fyne.Container
	// cardData is the last computed cards, for tests.
	cardData []card
	bills    *widget.Table
	billRows [][]string
	costs    *chart.TimeSeries
	tabs     *container.AppTabs
	left     *fyne.Container
	offset   int
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
	top    *fyne.Container
	// scrolls hold the rows that may be wider than the window (toolbar, series, cards).
	scrolls []*container.Scroll
	// Cards follow the view; one computation runs at a time and the latest view asked for
	// while it runs is computed next, so a drag never queues up work.
	cardBusy    bool
	cardWant    [2]int64
	cardPending bool
	cardSeq     int
	// mode says whether the chart shows one meter or the listed meters, summed or side by
	// side (MetersOne, MetersSum, MetersGrouped, MetersStacked).
	mode *widget.Select
	// autoPicked says the meter shown was picked by the view (the one with the most readings,
	// on a first start), not by the user: while so, a fuller meter that a sync brings takes
	// its place. picking marks the view's own selection in the list.
	autoPicked, picking bool
	// charges are the prices that apply to the meter (Eloverblik), for the estimated cost.
	charges []store.Charge
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
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i < len(v.titles) {
				o.(*widget.Label).SetText(v.titles[i])
			}
		},
	)
	v.list.OnSelected = func(i widget.ListItemID) {
		if i >= len(v.meters) {
			return
		}
		if !v.picking {
			v.autoPicked = false // the user chose
		}
		if v.summing() {
			v.meter = v.meters[i]
			if !v.picking {
				v.mode.SetSelected(MetersOne) // the user picking a meter leaves the listed meters for it
			}
			return
		}
		if v.meters[i].ID != v.meter.ID {
			v.selectMeter(v.meters[i])
		}
	}
	v.checks = widget.NewCheckGroup(nil, nil)
	v.checks.Horizontal = true
	prefs := m.App.Preferences()
	v.rng = widget.NewSelect([]string{RangeDay, RangeWeek, RangeMonth, RangeYear, RangeAll}, nil)
	v.res = widget.NewSelect([]string{ResRaw, ResHour, ResDay, ResWeek, ResMonth, ResYear}, nil)
	v.cmp = widget.NewSelect([]string{CompareNone, ComparePrevious, CompareYear}, nil)
	v.rng.SetSelected(prefs.StringWithFallback(prefUsageRange, RangeWeek))
	if v.rng.Selected == "" {
		v.rng.SetSelected(RangeWeek) // an unknown choice in the preferences
	}
	v.res.SetSelected(prefs.StringWithFallback(prefUsageRes, defaultResolution(v.rng.Selected)))
	if v.res.Selected == "" {
		v.res.SetSelected(defaultResolution(v.rng.Selected))
	}
	v.cmp.SetSelected(prefs.StringWithFallback(prefUsageCompare, CompareNone))
	if v.cmp.Selected == "" {
		v.cmp.SetSelected(CompareNone)
	}
	// How meters are charted: one, or the listed ones together (summed or side by side).
	v.mode = widget.NewSelect([]string{MetersOne, MetersSum, MetersGrouped, MetersStacked}, nil)
	v.mode.SetSelected(prefs.StringWithFallback(prefUsageMeters, MetersOne))
	if v.mode.Selected == "" {
		v.mode.SetSelected(MetersOne)
	}
	if v.summing() {
		v.checks.Disable()
		v.cmp.Disable()
	}
	v.mode.OnChanged = v.modeChanged
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
	v.cmp.OnChanged = func(s string) {
		prefs.SetString(prefUsageCompare, s)
		v.loadChart(true)
	}
	prev := widget.NewButtonWithIcon("", theme.NavigateBackIcon(), func() { v.offset++; v.loadChart(false) })
	next := widget.NewButtonWithIcon("", theme.NavigateNextIcon(), func() {
		if v.offset > 0 {
			v.offset--
			v.loadChart(false)
		}
	})
	v.period = widget.NewLabel("")
	v.chart = chart.New()
	v.chart.Empty = "No readings for this meter yet"
	v.chart.OnViewChanged = func(t0, t1 int64) { v.loadCards(t0, t1) }
	v.totals = widget.NewLabel("")
	v.totals.Wrapping = fyne.TextWrapWord
	// Italic, not low importance: the caption says what the figures cover and which meters
	// are left out, and low importance is too faint to read in the light theme.
	v.totals.TextStyle = fyne.TextStyle{Italic: true}
	v.cards = container.NewHBox()
	v.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.title.Truncation = fyne.TextTruncateEllipsis
	rename := widget.NewButtonWithIcon("Rename…", theme.DocumentCreateIcon(), v.renameDialog)
	toggle := widget.NewButtonWithIcon("", theme.MenuIcon(), v.toggleMeters)
	exportBtn := widget.NewButtonWithIcon("Export…", theme.DownloadIcon(), v.exportDialog)

	v.bills = widget.NewTable(
		func() (int, int) { return len(v.billRows), len(billColumns) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if id.Row >= len(v.billRows) {
				l.SetText("")
				return
			}
			l.TextStyle.Bold = v.billRows[id.Row][0] != ""
			l.Alignment = fyne.TextAlignLeading
			if id.Col == 1 || id.Col >= 3 {
				l.Alignment = fyne.TextAlignTrailing
			}
			l.SetText(v.billRows[id.Row][id.Col])
		})
	v.bills.ShowHeaderRow = true
	v.bills.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	v.bills.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(billColumns) {
			o.(*widget.Label).SetText(billColumns[id.Col])
		}
	}
	for i, w := range []float32{200, 110, 190, 120, 110} {
		v.bills.SetColumnWidth(i, w)
	}
	v.costs = chart.New()
	v.costs.Empty = "No costs for this meter"

	controls := container.NewHBox(toggle, widget.NewLabel("Range"), v.rng, widget.NewLabel("Show"), v.res, prev, next, v.period,
		widget.NewLabel("Compare"), v.cmp, rename, exportBtn)
	v.scrolls = []*container.Scroll{container.NewHScroll(controls), container.NewHScroll(v.checks), container.NewHScroll(v.cards)}
	top := container.NewVBox(v.scrolls[0], v.title, v.scrolls[1], v.scrolls[2], v.totals)
	v.top = top
	// The chart, the bills and the cost chart share the space below the cards as tabs, so the
	// chart has all of it at 800×600.
	v.tabs = container.NewAppTabs(
		container.NewTabItem("Chart", v.chart),
		container.NewTabItem("Bills", v.bills),
		container.NewTabItem("Monthly cost", v.costs),
	)
	v.right = container.NewBorder(top, nil, nil, nil, v.tabs)
	// The meter list keeps its width: a transparent strut sets its minimum.
	strut := canvas.NewRectangle(color.Transparent)
	strut.SetMinSize(fyne.NewSize(meterListWidth, 10))
	v.left = container.NewStack(strut, container.NewBorder(container.NewVBox(v.search, v.mode), nil, nil, nil, v.list))
	v.body = container.NewBorder(nil, nil, v.left, nil, v.right)
	v.welcome = v.welcomeScreen()
	v.root = container.NewStack(v.body)
	v.reload()
	return v
}

func (v *usageView) object() fyne.CanvasObject { return v.root }

// toggleMeters hides or shows the meter list, to give the chart the whole width.
func (v *usageView) toggleMeters() {
	if v.left.Visible() {
		v.left.Hide()
	} else {
		v.left.Show()
	}
	v.body.Refresh()
}

// welcomeScreen is what an empty database shows: three ways to get data.
func (v *usageView) welcomeScreen() fyne.CanvasObject {
	head := widget.NewLabelWithStyle("Nothing here yet", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	text := widget.NewLabel("Custody keeps your energy data in a file on this computer. Bring some in:")
	text.Alignment = fyne.TextAlignCenter
	text.Wrapping = fyne.TextWrapWord
	demo := widget.NewButtonWithIcon("Open the demo", theme.MediaPlayIcon(), func() {
		if v.m.deps.OpenDemo == nil {
			dialog.ShowInformation("Demo", "Start Custody with --demo to see a year of sample data.", v.m.Window)
			return
		}
		if err := v.m.deps.OpenDemo(); err != nil {
			dialog.ShowError(fmt.Errorf("open the demo: %w", err), v.m.Window)
		}
	})
	demo.Importance = widget.HighImportance
	imp := widget.NewButtonWithIcon("Import files…", theme.FolderOpenIcon(), v.m.ImportDialog)
	folder := widget.NewButtonWithIcon("Import a folder…", theme.FolderIcon(), v.m.ImportFolderDialog)
	add := widget.NewButtonWithIcon("Add a source…", theme.ContentAddIcon(), func() { v.m.Show(ViewSources) })
	drop := widget.NewLabel("or drop Green Button XML, DataHub CIM or Eloverblik JSON files on this window")
	drop.Alignment = fyne.TextAlignCenter
	drop.Wrapping = fyne.TextWrapWord
	drop.Importance = widget.LowImportance
	box := container.NewVBox(head, text, container.NewCenter(container.NewHBox(demo, imp, folder, add)), drop)
	return container.NewCenter(container.NewGridWrap(fyne.NewSize(620, 220), box))
}

// showWelcome switches between the welcome (no meter at all) and the usage screen.
func (v *usageView) showWelcome(on bool) {
	want := v.body
	if on {
		want = v.welcome
	}
	if len(v.root.Objects) == 1 && v.root.Objects[0] == want {
		return
	}
	v.root.Objects = []fyne.CanvasObject{want}
	v.root.Refresh()
}

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

type meterList struct {
	entries []meterEntry
	any     bool // the database holds at least one meter
	// fullest is the key of the meter with the most readings, for a first start with no
	// meter chosen yet (a household's few meters only).
	fullest string
}

// fullestMeter is the key of the meter with the most data (time covered by its series) among
// a few; empty for many.
func fullestMeter(ctx context.Context, d Data, ms []store.Meter) (string, error) {
	if len(ms) > 50 {
		return "", nil
	}
	best, most := "", int64(0)
	for _, m := range ms {
		ss, err := d.SeriesOf(ctx, m.ID)
		if err != nil {
			return "", err
		}
		var n int64
		for _, s := range ss {
			st, err := d.StatsOf(ctx, s.ID)
			if err != nil {
				return "", err
			}
			// Time covered, summed over the series: a meter with import and export by the
			// hour beats a sub-meter by the quarter hour.
			n += st.Count * max(s.Seconds, 1)
		}
		if n > most {
			best, most = m.Key, n
		}
	}
	return best, nil
}

// reload lists the meters matching the search. The search only filters the list: the meter
// on the chart stays until the user picks another.
func (v *usageView) reload() {
	search := v.search.Text
	v.listSeq++
	seq := v.listSeq
	chosen := (v.meter.Key != "" && !v.autoPicked) || (v.meter.Key == "" && v.m.App.Preferences().String(prefUsageMeter) != "")
	background(v.m, func(ctx context.Context) (meterList, error) {
		var out meterList
		ms, err := v.m.deps.Data.Meters(ctx, store.MeterFilter{Limit: 5000})
		if err != nil {
			return out, err
		}
		out.any = len(ms) > 0
		if !chosen {
			if out.fullest, err = fullestMeter(ctx, v.m.deps.Data, ms); err != nil {
				return out, err
			}
		}
		names := map[int64]string{}
		if srcs, err := v.m.deps.Data.Sources(ctx); err == nil {
			for _, src := range srcs {
				names[src.ID] = src.Name
			}
		}
		all := meterEntries(ms, names)
		needle := strings.ToLower(strings.TrimSpace(search))
		for _, e := range all {
			if needle == "" || strings.Contains(strings.ToLower(e.title+" "+e.m.Key+" "+e.m.Name), needle) {
				out.entries = append(out.entries, e)
			}
		}
		return out, nil
	}, func(ml meterList, err error) {
		if seq != v.listSeq {
			return // the search changed since; its own list is on its way
		}
		if err != nil {
			v.setCaption("Could not list meters: " + err.Error())
			return
		}
		v.hasData = ml.any
		v.showWelcome(!ml.any)
		v.meters, v.titles = v.meters[:0], v.titles[:0]
		for _, e := range ml.entries {
			v.meters = append(v.meters, e.m)
			v.titles = append(v.titles, e.title)
		}
		want := v.meter.Key
		if v.autoPicked && ml.fullest != "" {
			want = ml.fullest
		}
		if want == "" {
			want = v.m.App.Preferences().String(prefUsageMeter)
		}
		auto := v.autoPicked
		if want == "" {
			want, auto = ml.fullest, true
		}
		idx := -1
		for i, m := range v.meters {
			if m.Key == want {
				idx = i
			}
		}
		v.list.UnselectAll()
		v.list.Refresh()
		switch {
		case idx >= 0 && v.meters[idx].ID == v.meter.ID:
			// The meter shown is still listed (new data, a rename, a search that matches
			// it): keep it, its checked series, the period and the zoom, and only read its
			// data again. While the listed meters are charted, their load below is all the
			// chart needs: the meter's own series and bills are read when it is shown again.
			v.pick(idx, v.autoPicked) // OnSelected ignores the meter already shown
			v.meter = v.meters[idx]
			if !v.summing() {
				v.title.SetText(v.titles[idx])
				v.loadMeter(v.meters[idx])
			}
		case auto && idx >= 0 && v.meters[idx].ID != v.meter.ID && !v.summing():
			// A sync brought a fuller meter than the one the view picked: show it.
			v.pick(idx, true)
		case v.meter.ID != 0:
			// The search hides the meter shown: it stays on the chart.
		case len(v.meters) > 0:
			v.pick(max(idx, 0), auto)
		}
		if v.summing() {
			v.showBills(nil) // bills are of one meter: the tab says so
			v.loadSum(false) // another set of meters
		}
	})
}

// pick selects the meter at idx of the list for the user; auto says the view chose it.
func (v *usageView) pick(idx int, auto bool) {
	v.picking, v.autoPicked = true, auto
	v.list.Select(idx)
	v.picking = false
}

type meterData struct {
	series  []store.Series
	stats   map[int64]store.SeriesStats
	bills   []store.UsageSummary
	charges []store.Charge
}

// selectMeter shows a meter: its series, their spans and its bills.
func (v *usageView) selectMeter(m store.Meter) {
	v.meter = m
	v.title.SetText(meterTitle(m))
	for i, x := range v.meters {
		if x.ID == m.ID && i < len(v.titles) {
			v.title.SetText(v.titles[i])
		}
	}
	if !v.autoPicked {
		v.m.App.Preferences().SetString(prefUsageMeter, m.Key)
	}
	v.loadMeter(m)
}

// renameDialog asks for the meter's name; an empty one goes back to the source's.
func (v *usageView) renameDialog() {
	if v.meter.ID == 0 {
		return
	}
	e := widget.NewEntry()
	e.SetText(v.meter.DisplayName)
	e.SetPlaceHolder(meterTitle(store.Meter{Key: v.meter.Key, Name: v.meter.Name, Commodity: v.meter.Commodity, Attrs: v.meter.Attrs}))
	id := v.meter.ID
	d := dialog.NewForm("Rename meter", "Save", "Cancel", []*widget.FormItem{
		widget.NewFormItem("Name", e),
		widget.NewFormItem("Id", widget.NewLabel(v.meter.Key)),
	}, func(ok bool) {
		if ok {
			v.rename(id, e.Text)
		}
	}, v.m.Window)
	d.Resize(fyne.NewSize(520, 200))
	d.Show()
}

// rename stores the meter's new name off the UI goroutine and lists the meters again.
func (v *usageView) rename(id int64, name string) {
	background(v.m, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, v.m.deps.Data.SetMeterDisplayName(ctx, id, name)
	}, func(_ struct{}, err error) {
		if err != nil {
			dialog.ShowError(err, v.m.Window)
			return
		}
		if v.meter.ID == id {
			v.meter.DisplayName = strings.TrimSpace(name)
		}
		v.reload()
	})
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
		if err == nil {
			d.charges, err = v.chargesOf(ctx, m.ID)
		}
		return d, err
	}, func(d meterData, err error) {
		if err != nil {
			v.setCaption("Could not read the meter: " + err.Error())
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
		v.relayout() // the series row may have grown
		v.checks.OnChanged = v.checksChanged
		v.charges = d.charges
		v.showBills(d.bills)
		v.showCharges(d.charges)
		v.loadChart(keep)
	})
}

func (v *usageView) seriesLabel(s store.Series) string {
	unit, _ := displayUnit(s.Unit, v.m.settings.EnergyUnit())
	l := seriesName(s)
	if isProduction(s) && s.Attrs["name"] == "" {
		l = "Production"
	}
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
	t0, t1 int64
}

// chartNames names the chosen series for the legend: the flow (or Production), and the
// interval as well when two chosen series would otherwise share a name, so that every legend
// entry is one series.
func chartNames(chosen []store.Series) []string {
	names := make([]string, len(chosen))
	count := map[string]int{}
	for i, s := range chosen {
		names[i] = flowName(s.Flow, s.Key)
		if isProduction(s) {
			names[i] = "Production"
		}
		count[names[i]]++
	}
	for i, s := range chosen {
		if count[names[i]] > 1 && s.Seconds > 0 {
			names[i] += " · " + durationWords(s.Seconds)
		}
	}
	return names
}

// loadChart reads and aggregates the checked series over the chosen period, off the UI
// goroutine. keepView keeps the chart's zoom and pan if the user set one (new data, another
// resolution or series); otherwise the whole period is shown (another period or meter).
// Amounts (energy, volume) are drawn as bars per period, export mirrored below zero when
// import is shown too; rates and levels (power, prices, temperature) as lines.
func (v *usageView) loadChart(keepView bool) {
	if v.summing() {
		v.loadSum(keepView)
		return
	}
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
		v.setCaption("")
		v.setCards(nil)
		return
	}
	loc := v.m.settings.Location(v.meter.TimeZone)
	if v.offset == 0 || v.anchor == 0 {
		v.anchor = last
	}
	rng, res, offset, cmp := v.rng.Selected, v.res.Selected, v.offset, v.cmp.Selected
	t0, t1 := rangeSpan(rng, first, v.anchor, offset, loc)
	energyUnit := v.m.settings.EnergyUnit()
	v.period.SetText(periodText(t0, t1, loc))
	v.relayout()
	names := chartNames(chosen)
	mirror := false
	for _, s := range chosen {
		mirror = mirror || (s.Flow == "forward" && quantityOf(s.Kind, s.Unit) == quantityEnergy)
	}
	// Bars of one unit and interval share a lane (import up, export down); another unit or
	// interval gets its own, so that bars never hide each other.
	lanes := map[string]int{}
	laneOf := func(s store.Series) string {
		u, _ := displayUnit(s.Unit, energyUnit)
		if isProduction(s) {
			u += "/production" // beside import, not over it
		}
		return fmt.Sprintf("%s/%d", u, s.Seconds)
	}
	for _, s := range chosen {
		if quantityOf(s.Kind, s.Unit) != quantityEnergy {
			continue
		}
		if _, ok := lanes[laneOf(s)]; !ok {
			lanes[laneOf(s)] = len(lanes)
		}
	}
	prevShift, _ := shiftFuncs(rng, true, t0, t1, loc)
	charges := v.charges
	background(v.m, func(ctx context.Context) (chartData, error) {
		d := chartData{t0: t0, t1: t1}
		var overlays []chart.Series
		for i, s := range chosen {
			unit, factor := displayUnit(s.Unit, energyUnit)
			sign := 1.0
			if mirror && s.Flow == "reverse" && quantityOf(s.Kind, s.Unit) == quantityEnergy {
				sign = -1
			}
			color := chart.Palette[i%len(chart.Palette)]
			build := func(from, to int64) (aggregated, error) {
				ts, vs, err := v.m.deps.Data.ReadingRange(ctx, s.ID, from, to)
				if err != nil {
					return aggregated{}, err
				}
				if factor*sign != 1 {
					scaled := make([]float64, len(vs))
					for j, x := range vs {
						scaled[j] = x * factor * sign
					}
					vs = scaled
				}
				a := aggregate(ts, vs, loc, res)
				a.markPartial(s.Seconds, loc, res)
				return a, nil
			}
			a, err := build(t0, t1)
			if err != nil {
				return d, err
			}
			// Bought energy with tariffs known: the estimated cost per period beside it, as a
			// line (money, not energy), which the cards sum for the view.
			if quantityOf(s.Kind, s.Unit) == quantityEnergy && s.Flow != "reverse" && len(charges) > 0 {
				ts, vs, err := v.m.deps.Data.ReadingRange(ctx, s.ID, t0, t1)
				if err != nil {
					return d, err
				}
				if costs, cur, ok := tariffCosts(charges, s.Unit, ts, vs, loc); ok {
					ca := aggregate(ts, costs, loc, res)
					overlays = append(overlays, chart.Series{Name: names[i] + " " + tariffSuffix, Unit: cur, Times: ca.times, Values: ca.sum,
						Step: bucketSeconds(res, s.Seconds), Color: chart.Palette[(i+3)%len(chart.Palette)]})
				}
			}
			step := bucketSeconds(res, s.Seconds)
			q := quantityOf(s.Kind, s.Unit)
			switch {
			case q == quantityPower && res != ResRaw:
				d.series = append(d.series,
					chart.Series{Name: names[i] + " mean", Unit: unit, Times: a.times, Values: a.mean, Step: step, Color: color},
					chart.Series{Name: names[i] + " max", Unit: unit, Times: a.times, Values: a.maxv, Step: step})
			case q == quantityPower:
				d.series = append(d.series, chart.Series{Name: names[i], Unit: unit, Times: a.times, Values: a.sum, Step: step, Color: color})
			default:
				d.series = append(d.series, chart.Series{Name: names[i], Unit: unit, Times: a.times, Values: a.sum, Step: step,
					Color: color, Style: chart.Bars, Partial: a.partial, Lane: lanes[laneOf(s)], Mirrored: sign < 0})
			}
			if cmp == CompareNone || rng == RangeAll {
				continue
			}
			shift := prevShift
			label := ", previous period"
			if cmp == CompareYear {
				shift = func(t int64) int64 { return time.Unix(t, 0).In(loc).AddDate(-1, 0, 0).Unix() }
				label = ", a year earlier"
			}
			o, err := build(shift(t0), shift(t1))
			if err != nil {
				return d, err
			}
			vals := o.sum
			if q == quantityPower && res != ResRaw {
				vals = o.mean
			}
			// Back onto the period in view: the same offset from the start of the period, and
			// for bars in the middle of each bar.
			times := make([]int64, len(o.times))
			for j, t := range o.times {
				times[j] = t0 + (t - shift(t0))
				if q == quantityEnergy && res != ResRaw {
					times[j] += (bucketEnd(t, loc, res) - t) / 2
				}
			}
			// A colour of its own, so that the line stands out over the bars it compares with.
			oc := chart.Palette[(i+4)%len(chart.Palette)]
			overlays = append(overlays, chart.Series{Name: names[i] + label, Unit: unit, Times: times, Values: vals, Step: step, Color: oc, Faint: true, Mirrored: sign < 0})
		}
		d.series = append(d.series, overlays...)
		return d, nil
	}, func(d chartData, err error) {
		if seq != v.loadSeq {
			return // a newer load is on its way
		}
		if err != nil {
			v.setCaption("Could not read readings: " + err.Error())
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
		v0, v1 := v.chart.View()
		v.loadCards(v0, v1)
	})
}

// loadCards computes the cards for the period [t0, t1) in view. At most one computation runs;
// views asked for meanwhile are coalesced into the latest.
func (v *usageView) loadCards(t0, t1 int64) {
	if v.summing() {
		return // the sum's cards come with its chart
	}
	v.cardWant = [2]int64{t0, t1}
	if v.cardBusy {
		v.cardPending = true
		return
	}
	v.cardBusy, v.cardPending = true, false
	v.cardSeq++
	seq := v.cardSeq
	loc := v.m.settings.Location(v.meter.TimeZone)
	whole := !v.chart.Zoomed()
	prev, year := shiftFuncs(v.rng.Selected, whole, t0, t1, loc)
	req := cardRequest{series: v.series, stats: v.stats, from: t0, to: t1, prev: prev, year: year,
		energyUnit: v.m.settings.EnergyUnit(), loc: loc}
	type result struct {
		cards   []card
		caption string
	}
	background(v.m, func(ctx context.Context) (result, error) {
		cs, caption, err := computeCards(ctx, v.m.deps.Data.PeriodTotals, req)
		return result{cs, caption}, err
	}, func(r result, err error) {
		v.cardBusy = false
		if v.cardPending {
			v.loadCards(v.cardWant[0], v.cardWant[1])
		}
		if seq != v.cardSeq {
			return
		}
		if err != nil {
			v.setCaption("Could not sum the period: " + err.Error())
			return
		}
		cards, caption := r.cards, r.caption
		if tc, ok := v.tariffCard(t0, t1); ok {
			cards = append(cards, tc)
			caption = strings.TrimSpace(caption + " Tariff estimate: " + noSpotPrice + ".")
		}
		v.setCards(cards)
		v.setCaption(caption)
	})
}

// setCards shows the cards.
func (v *usageView) setCards(cs []card) {
	v.cardData = cs
	v.cards.Objects = v.cards.Objects[:0]
	for _, c := range cs {
		v.cards.Add(cardWidget(c))
	}
	v.cards.Refresh()
	v.relayout()
}

// setCaption shows what the cards' figures cover when that is not the whole period, and
// hides the line otherwise.
func (v *usageView) setCaption(text string) {
	v.totals.SetText(text)
	if text == "" {
		v.totals.Hide()
	} else {
		v.totals.Show()
	}
	v.relayout()
}

// relayout lays the rows above the chart out again after their content changed size (a
// longer period text, more cards, more series).
func (v *usageView) relayout() {
	for _, sc := range v.scrolls {
		sc.Refresh()
	}
	v.top.Refresh()
	v.right.Refresh()
}

// cardWidget draws one card: its title, the figure, and how it compares. It is made of
// plain text, without the padding of labels, so that a row of cards stays low at 800×600.
func cardWidget(c card) fyne.CanvasObject {
	fg := theme.Color(theme.ColorNameForeground)
	small := theme.CaptionTextSize()
	title := canvas.NewText(c.title, theme.Color(theme.ColorNamePlaceHolder))
	title.TextSize = small
	value := canvas.NewText(c.value, fg)
	value.TextSize = theme.Size(theme.SizeNameSubHeadingText)
	value.TextStyle.Bold = true
	objs := []fyne.CanvasObject{title, value}
	lines := slices.Clone(c.changes)
	if c.note != "" {
		lines = append([]string{c.note}, lines...)
	}
	for _, l := range lines {
		t := canvas.NewText(l, fg)
		t.TextSize = small
		objs = append(objs, t)
	}
	box := container.New(layout.NewCustomPaddedVBoxLayout(0), objs...)
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.InputRadiusSize()
	return container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(4, 4, 8, 8), box))
}

func periodText(t0, t1 int64, loc *time.Location) string {
	a, b := time.Unix(t0, 0).In(loc), time.Unix(t1, 0).In(loc).Add(-time.Second)
	if a.Format(time.DateOnly) == b.Format(time.DateOnly) {
		return a.Format("Mon 2 Jan 2006") + " (" + a.Format("MST") + ")"
	}
	return a.Format("2 Jan 2006") + " – " + b.Format("2 Jan 2006") + " (" + a.Format("MST") + ")"
}
