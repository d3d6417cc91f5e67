package ui

import (
	"context"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"custody/store"
	"custody/ui/chart"
)

// How the chart shows meters: one at a time, or the meters the search lists together.
const (
	MetersOne     = "One meter at a time"
	MetersSum     = "Listed meters summed"
	MetersGrouped = "Listed side by side"
	MetersStacked = "Listed stacked"
)

// maxSummed is how many meters the sum of the listed meters takes at most: enough for an
// analyst's portfolio, few enough that the chart comes back in a moment.
const maxSummed = 500

// maxSideBySide is how many lanes (side by side) or layers (stacked) the chart of the listed
// meters has: up to this many meters each in a colour of its own, so that a meter keeps its
// colour whatever period is shown; with more listed, the first maxSideBySide-1 and one "Other"
// that sums the rest, so that the pile's total stays the listed meters' total.
const maxSideBySide = 7

// sumGroup is the series of several meters that add up: the same flow and a unit that
// converts (Wh with kWh; electricity import with import, never with export or gas), and
// production apart from import.
type sumGroup struct {
	flow, unit, commodity string // unit: the first series' unit; the others convert to it
	production            bool
	series                []store.Series
	meters                map[int64]bool
}

// canonUnit is the unit the group's series convert to (kWh for Wh and kWh).
func (g *sumGroup) canonUnit() string {
	u, _ := displayUnit(g.unit, "kWh")
	return u
}

// what names the group for people: Import, Export, Production, or the commodity.
func (g *sumGroup) what() string {
	switch {
	case g.production:
		return "Production"
	case g.commodity != "" && g.commodity != "electricity":
		return capitalise(g.commodity)
	}
	return flowName(g.flow, "")
}

// sumGroups groups the amount series (energy, volume) of meters by flow and unit. Of each
// meter it takes one series per flow and unit, the finest, so that a meter recording the
// same energy at two resolutions is not counted twice.
func sumGroups(perMeter map[int64][]store.Series) []*sumGroup {
	groups := map[string]*sumGroup{}
	for _, mid := range slices.Sorted(maps.Keys(perMeter)) {
		best := map[string]store.Series{}
		for _, s := range perMeter[mid] {
			if quantityOf(s.Kind, s.Unit) != quantityEnergy {
				continue
			}
			canon, _ := displayUnit(s.Unit, "kWh")
			k := s.Flow + "|" + canon
			if isProduction(s) {
				k += "|production"
			}
			if b, ok := best[k]; !ok || (s.Seconds > 0 && s.Seconds < b.Seconds) {
				best[k] = s
			}
		}
		for k, s := range best {
			g := groups[k]
			if g == nil {
				g = &sumGroup{flow: s.Flow, unit: s.Unit, commodity: s.Commodity, production: isProduction(s), meters: map[int64]bool{}}
				groups[k] = g
			}
			g.series = append(g.series, s)
			g.meters[mid] = true
		}
	}
	var out []*sumGroup
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		out = append(out, groups[k])
	}
	return out
}

// maxGroupedBars is how many bars the chart of meters side by side holds at most (periods
// times meters): more would be thinner than a few pixels at 800×600, where the lanes of a
// period can no longer be told apart.
const maxGroupedBars = 120

// groupedResolution is the resolution at which n meters side by side fit in maxGroupedBars
// over [t0, t1): res, or the first coarser one that fits.
func groupedResolution(res string, n int, t0, t1 int64) string {
	order := []string{ResHour, ResDay, ResWeek, ResMonth, ResYear}
	i := max(slices.Index(order, res), 0)
	for ; i < len(order)-1; i++ {
		if (t1-t0)/bucketSeconds(order[i], 0)*int64(max(n, 1)) <= maxGroupedBars {
			break
		}
	}
	return order[i]
}

// sumResolution is the resolution listed meters are drawn at: readings of different meters
// only line up per common period, so "as recorded" becomes hourly.
func sumResolution(res string) string {
	if res == ResRaw {
		return ResHour
	}
	return res
}

// listedRequest is what the chart of the listed meters is computed from.
type listedRequest struct {
	meters     []store.Meter
	titles     []string // parallel to meters
	mode       string   // MetersSum, MetersGrouped or MetersStacked
	rng, res   string
	offset     int
	energyUnit string
	loc        *time.Location
	// listed is how many meters the search lists, when meters holds only the first maxSummed
	// of them (0: as many as meters).
	listed int
}

// sumData is what the chart of the listed meters draws and says.
type sumData struct {
	series  []chart.Series
	cards   []card
	caption string
	t0, t1  int64
}

// span is the first and the last reading's start of a series.
type span struct{ first, last int64 }

// listedSeries reads the meters' series that hold readings, the span of each (by series id)
// and the span they cover together.
func listedSeries(ctx context.Context, d Data, meters []store.Meter) (perMeter map[int64][]store.Series, spans map[int64]span, first, last int64, err error) {
	perMeter, spans = map[int64][]store.Series{}, map[int64]span{}
	first, last = int64(math.MaxInt64), int64(math.MinInt64)
	for _, m := range meters {
		ss, err := d.SeriesOf(ctx, m.ID)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		for _, s := range ss {
			f, l, ok, err := d.SpanOf(ctx, s.ID) // not StatsOf: a scan of each series
			if err != nil {
				return nil, nil, 0, 0, err
			}
			if ok {
				perMeter[m.ID] = append(perMeter[m.ID], s)
				spans[s.ID] = span{f, l}
				first, last = min(first, f), max(last, l)
			}
		}
	}
	return perMeter, spans, first, last, nil
}

// listedData computes the chart and cards of the listed meters, summed or side by side.
func listedData(ctx context.Context, d Data, r listedRequest) (sumData, error) {
	if r.mode == MetersSum {
		return sumListed(ctx, d, r)
	}
	return sideBySide(ctx, d, r)
}

// sumListed sums the listed meters per flow and unit, and totals the sums in cards.
func sumListed(ctx context.Context, d Data, r listedRequest) (sumData, error) {
	var out sumData
	perMeter, spans, first, last, err := listedSeries(ctx, d, r.meters)
	if err != nil || first > last {
		return out, err
	}
	res := sumResolution(r.res)
	out.t0, out.t1 = rangeSpan(r.rng, first, last, r.offset, r.loc)
	for i, g := range sumGroups(perMeter) {
		unit, _ := displayUnit(g.unit, r.energyUnit)
		sum := newPeriodSum()
		var cost float64
		var costCur string
		costs := 0
		for _, s := range g.series {
			a, err := readBars(ctx, d, s, out.t0, out.t1, r, res, 1)
			if err != nil {
				return out, err
			}
			sum.add(a, spans[s.ID]) // even with nothing in this period: its absence makes the sum's periods partial
			tot, err := d.PeriodTotals(ctx, s.ID, out.t0, out.t1)
			if err != nil {
				return out, err
			}
			if tot.CostCount > 0 {
				cost += tot.CostSum
				costs++
				costCur = s.Currency
			}
		}
		name := fmt.Sprintf("%s · %s", g.what(), plural(int64(len(g.meters)), "meter", "meters")) // the legend adds " (unit)"
		times, values, partial := sum.bars(r.loc, res)
		out.series = append(out.series, chart.Series{Name: name, Unit: unit, Times: times, Values: values, Partial: partial,
			Step: bucketSeconds(res, 0), Style: chart.Bars, Color: chart.Palette[i%len(chart.Palette)], Lane: i})
		c := card{title: amountTitle(store.Series{Flow: g.flow, Commodity: g.commodity}, g.production), value: fmtQty(sum.total, unit),
			note: plural(int64(len(g.meters)), "meter", "meters")}
		out.cards = append(out.cards, c)
		if costs > 0 {
			out.cards = append(out.cards, card{title: "Cost · " + g.what(), value: fmtMoney(&cost, costCur)})
		}
	}
	return out, nil
}

// readBars reads series s over [t0, t1) and sums it per period of res, each period marked
// partial where s covers it only in part. It scales per period, not per reading: the sums
// into the display unit times sign (-1 draws export below zero), the total (for the cards)
// into the display unit and positive.
func readBars(ctx context.Context, d Data, s store.Series, t0, t1 int64, r listedRequest, res string, sign float64) (aggregated, error) {
	_, factor := displayUnit(s.Unit, r.energyUnit)
	ts, vs, err := d.ReadingRange(ctx, s.ID, t0, t1)
	if err != nil {
		return aggregated{}, err
	}
	a := aggregate(ts, vs, r.loc, res)
	a.markPartial(s.Seconds, r.loc, res)
	for j := range a.sum {
		a.sum[j] *= factor * sign
	}
	a.total *= factor
	return a, nil
}

// sideBySide charts the listed meters each in its own colour: grouped (a lane of the period's
// width each) or stacked (piled up, so that the pile is their sum). Up to maxSideBySide
// meters are charted each on its own; with more listed, the first maxSideBySide-1 are, and
// "Other" sums the rest (of the first maxSummed listed) per period in a grey lane or layer of
// its own, so that the pile's total stays the total of every meter charted. Of what the
// meters record it charts one unit, the one most of them share (electricity in kWh beside gas
// in therms would share no axis), import up and export mirrored below zero. The cards give
// each flow's total and each meter's (and Other's) amount and share.
func sideBySide(ctx context.Context, d Data, r listedRequest) (sumData, error) {
	listed := r.meters[:min(len(r.meters), maxSummed)]
	own, folded := listed, []store.Meter(nil)
	if len(listed) > maxSideBySide {
		own, folded = listed[:maxSideBySide-1], listed[maxSideBySide-1:]
	}
	var out sumData
	var notes []string
	if n := max(r.listed, len(r.meters)); n > len(listed) {
		notes = append(notes, fmt.Sprintf("The first %s of %s listed are charted, %s of them in Other; narrow the search for the rest.",
			fmtInt(int64(len(listed))), fmtInt(int64(n)), fmtInt(int64(len(folded)))))
	}
	perMeter, spans, first, last, err := listedSeries(ctx, d, listed)
	if err != nil || first > last {
		out.caption = strings.Join(notes, " ")
		return out, err
	}
	res := sumResolution(r.res)
	out.t0, out.t1 = rangeSpan(r.rng, first, last, r.offset, r.loc)
	groups := sumGroups(perMeter)
	// The unit most meters record, import before export on a tie (the groups are sorted).
	unit, most := "", 0
	for _, g := range groups {
		if !g.production && len(g.meters) > most {
			unit, most = g.canonUnit(), len(g.meters)
		}
	}
	var shown []*sumGroup
	charted := map[int64]bool{}
	mirror := false
	for _, g := range groups {
		if g.production || g.canonUnit() != unit {
			continue
		}
		shown = append(shown, g)
		maps.Copy(charted, g.meters)
		mirror = mirror || g.flow == "forward"
	}
	// A meter's colour is its place in the list and its lane its place among the meters
	// charted on their own, Other's lane the one after theirs, all whatever the period holds,
	// so that none moves from period to period.
	lane := map[int64]int{}
	for _, m := range own {
		if charted[m.ID] {
			lane[m.ID] = len(lane)
		}
	}
	inOther := 0
	for _, m := range folded {
		if charted[m.ID] {
			inOther++
		}
	}
	otherName := fmt.Sprintf("Other · %s", plural(int64(inOther), "meter", "meters")) // the legend adds " (unit)"
	otherLane, lanes := len(lane), len(lane)
	if inOther > 0 {
		lanes++
	}
	if r.mode == MetersGrouped {
		if g := groupedResolution(res, lanes, out.t0, out.t1); g != res {
			notes = append(notes, fmt.Sprintf("%s, so that the meters' bars can be told apart (%q shows %s).",
				g, MetersStacked, strings.ToLower(res)))
			res = g
		}
	}
	// A meter left out is said with why: it records only production (a solar meter, charted
	// when it is picked on its own), or amounts in another unit, or no amounts at all. Of the
	// meters past the first ones, which could be hundreds, the count is given.
	producing := map[int64]bool{}
	for _, g := range groups {
		if g.production {
			maps.Copy(producing, g.meters)
		}
	}
	var apart, producers []string
	apartMore, producersMore := 0, 0
	for i, m := range listed {
		past := i >= len(own)
		switch {
		case len(perMeter[m.ID]) == 0 || charted[m.ID]:
		case producing[m.ID] && past:
			producersMore++
		case producing[m.ID]:
			producers = append(producers, r.titles[i])
		case past:
			apartMore++
		default:
			apart = append(apart, r.titles[i])
		}
	}
	if len(producers)+producersMore > 0 {
		notes = append(notes, fmt.Sprintf("Production only, not charted side by side (pick the meter to see it): %s.", namesAndMore(producers, producersMore)))
	}
	switch {
	case len(apart)+apartMore > 0 && len(shown) == 0:
		notes = append(notes, fmt.Sprintf("No amounts of energy, gas or water to chart side by side: %s.", namesAndMore(apart, apartMore)))
	case len(apart)+apartMore > 0:
		notes = append(notes, fmt.Sprintf("Not in %s, so not charted: %s.", unitSymbol(unit), namesAndMore(apart, apartMore)))
	}
	index := map[int64]int{}
	for i, m := range listed {
		index[m.ID] = i
	}
	type meterSums struct {
		sums []float64 // per shown group
		has  []bool    // per shown group: the meter records it
	}
	newSums := func() meterSums {
		return meterSums{sums: make([]float64, len(shown)), has: make([]bool, len(shown))}
	}
	perIdx := make([]meterSums, len(own))
	for i := range perIdx {
		perIdx[i] = newSums()
	}
	other := newSums()
	totals := make([]float64, len(shown))
	var dunit string
	for gi, g := range shown {
		dunit, _ = displayUnit(g.unit, r.energyUnit)
		series := slices.Clone(g.series)
		slices.SortFunc(series, func(a, b store.Series) int { return index[a.MeterID] - index[b.MeterID] })
		sign := 1.0
		if mirror && g.flow == "reverse" {
			sign = -1
		}
		// bar is a meter's (or Other's) bars of the group: named for the legend by who,
		// with the flow unless it is import, in the colour and lane or layer given. res is
		// never "as recorded" here, so that the step is the period's whatever the interval.
		bar := func(who string, times []int64, values []float64, partial []bool, c color.Color, lane int) chart.Series {
			name := who
			if g.flow != "forward" {
				name += " · " + g.what()
			}
			cs := chart.Series{Name: name, Legend: who, Unit: dunit, Times: times, Values: values, Partial: partial,
				Step: bucketSeconds(res, 0), Style: chart.Bars, Color: c, Mirrored: sign < 0}
			if r.mode == MetersStacked {
				cs.Stack = g.what()
			} else {
				cs.Lane = lane
			}
			return cs
		}
		rest := newPeriodSum()
		for _, s := range series {
			i := index[s.MeterID]
			a, err := readBars(ctx, d, s, out.t0, out.t1, r, res, sign)
			if err != nil {
				return out, err
			}
			if i >= len(own) {
				rest.add(a, spans[s.ID]) // even with nothing in this period: its absence makes Other's periods partial
				continue
			}
			if len(a.times) == 0 {
				continue // no legend entry for a meter with nothing in this period
			}
			out.series = append(out.series, bar(r.titles[i], a.times, a.sum, a.partial, chart.Palette[i%len(chart.Palette)], lane[s.MeterID]))
			perIdx[i].sums[gi] = a.total
			perIdx[i].has[gi] = true
			totals[gi] += a.total
		}
		// Other comes after the meters of its flow: on top of their pile when stacked.
		if times, values, partial := rest.bars(r.loc, res); len(times) > 0 {
			out.series = append(out.series, bar(otherName, times, values, partial, chart.OtherColor, otherLane))
			other.sums[gi] = rest.total
			other.has[gi] = true
			totals[gi] += rest.total
		}
	}
	title := func(g *sumGroup) string {
		return amountTitle(store.Series{Flow: g.flow, Commodity: g.commodity}, false)
	}
	for gi, g := range shown {
		out.cards = append(out.cards, card{title: title(g), value: fmtQty(totals[gi], dunit), note: plural(int64(len(g.meters)), "meter", "meters")})
	}
	// A card per meter and one for Other: its amount of the first flow it records and its
	// share of all the meters' amount of that flow, and its other flows below.
	meterCard := func(name string, ms meterSums) {
		first := slices.Index(ms.has, true)
		if first < 0 {
			return
		}
		c := card{title: shorten(name, 28), value: fmtQty(ms.sums[first], dunit)}
		if totals[first] > 0 {
			c.note = fmt.Sprintf("%s %% of %s", fmtNum(100*ms.sums[first]/totals[first]), strings.ToLower(title(shown[first])))
		}
		for gi := first + 1; gi < len(shown); gi++ {
			if ms.has[gi] {
				c.changes = append(c.changes, title(shown[gi])+" "+fmtQty(ms.sums[gi], dunit))
			}
		}
		out.cards = append(out.cards, c)
	}
	for i, ms := range perIdx {
		meterCard(r.titles[i], ms)
	}
	meterCard(otherName, other)
	out.caption = strings.Join(notes, " ")
	return out, nil
}

// periodSum is the per-period sum of one flow of several meters: Other's bars (the meters
// past the first ones), or a group's bars in the sum of the listed meters. A period is
// partial when it is partial for any of them, or when one of them has no reading in it
// although its readings span it (an outage of a meter must not look like a dip in the
// others' use).
type periodSum struct {
	sum     map[int64]float64
	partial map[int64]bool
	members []periodMember
	total   float64
}

// periodMember is what a meter in the sum has: the periods it has readings in, and its span.
type periodMember struct {
	times []int64 // ascending
	span  span
}

func newPeriodSum() *periodSum {
	return &periodSum{sum: map[int64]float64{}, partial: map[int64]bool{}}
}

// add sums a meter's aggregated readings (marked partial) into the periods.
func (o *periodSum) add(a aggregated, sp span) {
	for j, t := range a.times {
		o.sum[t] += a.sum[j]
		if j < len(a.partial) && a.partial[j] {
			o.partial[t] = true
		}
	}
	o.total += a.total
	o.members = append(o.members, periodMember{times: a.times, span: sp})
}

// bars is the periods in order, their sums and which are partial.
func (o *periodSum) bars(loc *time.Location, res string) (times []int64, values []float64, partial []bool) {
	times = slices.Sorted(maps.Keys(o.sum))
	values = make([]float64, len(times))
	partial = make([]bool, len(times))
	for j, t := range times {
		values[j] = o.sum[t]
		partial[j] = o.partial[t]
		if partial[j] {
			continue
		}
		end := bucketEnd(t, loc, res)
		for _, m := range o.members {
			if t <= m.span.last && end > m.span.first {
				if _, found := slices.BinarySearch(m.times, t); !found {
					partial[j] = true
					break
				}
			}
		}
	}
	return times, values, partial
}

// namesAndMore lists names and says how many more there are: "A, B and 3 more", or
// "3 listed meters" with no names.
func namesAndMore(names []string, more int) string {
	switch {
	case more == 0:
		return strings.Join(names, ", ")
	case len(names) == 0:
		return plural(int64(more), "listed meter", "listed meters")
	}
	return fmt.Sprintf("%s and %s more", strings.Join(names, ", "), fmtInt(int64(more)))
}

// shorten cuts s to n characters with an ellipsis, for a card's title.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// loadSum charts the listed meters over the chosen period, summed or side by side, with
// their cards. Its reads run off the UI goroutine.
func (v *usageView) loadSum(keepView bool) {
	mode := v.mode.Selected
	meters, titles := slices.Clone(v.meters), slices.Clone(v.titles)
	loc := time.UTC
	if len(meters) > 0 {
		loc = v.m.settings.Location(meters[0].TimeZone)
	}
	req := listedRequest{meters: meters, titles: titles, mode: mode, rng: v.rng.Selected, res: v.res.Selected,
		offset: v.offset, energyUnit: v.m.settings.EnergyUnit(), loc: loc, listed: len(meters)}
	if len(req.meters) > maxSummed {
		req.meters, req.titles = req.meters[:maxSummed], req.titles[:maxSummed]
	}
	v.loadSeq++
	seq := v.loadSeq
	// The meters charted: up to maxSummed, summed, side by side (the first ones each on its
	// own, the rest as Other) or stacked.
	n := int64(len(req.meters))
	switch mode {
	case MetersSum:
		v.title.SetText(fmt.Sprintf("Sum of %s", plural(n, "listed meter", "listed meters")))
	case MetersGrouped:
		v.title.SetText(fmt.Sprintf("%s side by side", capitalise(plural(n, "listed meter", "listed meters"))))
	default:
		v.title.SetText(fmt.Sprintf("%s stacked", capitalise(plural(n, "listed meter", "listed meters"))))
	}
	background(v.m, func(ctx context.Context) (sumData, error) {
		return listedData(ctx, v.m.deps.Data, req)
	}, func(d sumData, err error) {
		if seq != v.loadSeq || !v.summing() {
			return
		}
		if err != nil {
			v.setCaption("Could not chart the meters: " + err.Error())
			return
		}
		v.chart.Location = loc
		v.chart.Empty = "No readings of these meters in this period"
		if keepView {
			v.chart.Update(d.series, d.t0, d.t1)
		} else {
			v.chart.SetSeries(d.series)
			if d.t1 > d.t0 {
				v.chart.SetExtent(d.t0, d.t1)
			}
		}
		if d.t1 > d.t0 {
			v.period.SetText(periodText(d.t0, d.t1, loc))
		}
		v.setCards(d.cards)
		caption := d.caption
		if mode == MetersSum && len(v.meters) > maxSummed {
			caption = fmt.Sprintf("The first %s of %s listed are summed; narrow the search for the rest.", fmtInt(maxSummed), fmtInt(int64(len(v.meters))))
		}
		v.setCaption(caption)
	})
}

// summing says whether the chart shows the listed meters (summed or side by side) rather
// than one meter.
func (v *usageView) summing() bool {
	return v.mode != nil && v.mode.Selected != MetersOne && v.mode.Selected != ""
}

// modeChanged shows one meter or the listed meters together, as chosen, and remembers it.
func (v *usageView) modeChanged(mode string) {
	v.m.App.Preferences().SetString(prefUsageMeters, mode)
	if v.summing() {
		v.checks.Disable()
		v.cmp.Disable()
		v.showBills(nil)
		v.loadChart(false)
		return
	}
	v.checks.Enable()
	v.cmp.Enable()
	if v.meter.ID != 0 {
		v.shown = 0 // read the meter again: its series, checks and bills
		v.selectMeter(v.meter)
	}
}
