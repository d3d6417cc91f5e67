package ui

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"custody/store"
	"custody/ui/chart"
)

// maxSummed is how many meters the sum of the listed meters takes at most: enough for an
// analyst's portfolio, few enough that the chart comes back in a moment.
const maxSummed = 500

// sumGroup is the series of several meters that add up: the same flow and a unit that
// converts (Wh with kWh; electricity import with import, never with export or gas).
type sumGroup struct {
	flow, unit, commodity string // unit: the first series' unit; the others convert to it
	series                []store.Series
	meters                map[int64]bool
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
			if b, ok := best[k]; !ok || (s.Seconds > 0 && s.Seconds < b.Seconds) {
				best[k] = s
			}
		}
		for k, s := range best {
			g := groups[k]
			if g == nil {
				g = &sumGroup{flow: s.Flow, unit: s.Unit, commodity: s.Commodity, meters: map[int64]bool{}}
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

// sumResolution is the resolution a sum is drawn at: readings of different meters only add
// up per common period, so "as recorded" becomes hourly.
func sumResolution(res string) string {
	if res == ResRaw {
		return ResHour
	}
	return res
}

// sumData is what the sum of the listed meters draws and says.
type sumData struct {
	series []chart.Series
	cards  []card
	t0, t1 int64
	meters int
}

// loadSum charts the sum of the listed meters over the chosen period, per flow and unit, and
// totals it in cards. It runs off the UI goroutine.
func (v *usageView) loadSum(keepView bool) {
	meters := slices.Clone(v.meters)
	if len(meters) > maxSummed {
		meters = meters[:maxSummed]
	}
	loc := time.UTC
	if len(meters) > 0 {
		loc = v.m.settings.Location(meters[0].TimeZone)
	}
	rng, res, offset := v.rng.Selected, sumResolution(v.res.Selected), v.offset
	energyUnit := v.m.settings.EnergyUnit()
	v.loadSeq++
	seq := v.loadSeq
	v.title.SetText(fmt.Sprintf("Sum of %s", plural(int64(len(meters)), "listed meter", "listed meters")))
	background(v.m, func(ctx context.Context) (sumData, error) {
		d := sumData{meters: len(meters)}
		perMeter := map[int64][]store.Series{}
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		for _, m := range meters {
			ss, err := v.m.deps.Data.SeriesOf(ctx, m.ID)
			if err != nil {
				return d, err
			}
			for _, s := range ss {
				st, err := v.m.deps.Data.StatsOf(ctx, s.ID)
				if err != nil {
					return d, err
				}
				if st.Count > 0 {
					perMeter[m.ID] = append(perMeter[m.ID], s)
					first, last = min(first, st.First), max(last, st.Last)
				}
			}
		}
		if first > last {
			return d, nil
		}
		d.t0, d.t1 = rangeSpan(rng, first, last, offset, loc)
		for i, g := range sumGroups(perMeter) {
			unit, _ := displayUnit(g.unit, energyUnit)
			buckets := map[int64]float64{}
			var total, cost float64
			var costCur string
			costs := 0
			for _, s := range g.series {
				_, factor := displayUnit(s.Unit, energyUnit)
				ts, vs, err := v.m.deps.Data.ReadingRange(ctx, s.ID, d.t0, d.t1)
				if err != nil {
					return d, err
				}
				a := aggregate(ts, vs, loc, res)
				for j, t := range a.times {
					buckets[t] += a.sum[j] * factor
				}
				total += a.total * factor
				tot, err := v.m.deps.Data.PeriodTotals(ctx, s.ID, d.t0, d.t1)
				if err != nil {
					return d, err
				}
				if tot.CostCount > 0 {
					cost += tot.CostSum
					costs++
					costCur = s.Currency
				}
			}
			what := flowName(g.flow, "")
			if g.commodity != "" && g.commodity != "electricity" {
				what = capitalise(g.commodity)
			}
			name := fmt.Sprintf("%s (%s)", what, plural(int64(len(g.meters)), "meter", "meters"))
			cs := chart.Series{Name: name, Unit: unit, Step: bucketSeconds(res, 0), Style: chart.Bars,
				Color: chart.Palette[i%len(chart.Palette)], Lane: i}
			for _, t := range slices.Sorted(maps.Keys(buckets)) {
				cs.Times = append(cs.Times, t)
				cs.Values = append(cs.Values, buckets[t])
			}
			d.series = append(d.series, cs)
			c := card{title: amountTitle(store.Series{Flow: g.flow, Commodity: g.commodity}, false), value: fmtQty(total, unit),
				note: plural(int64(len(g.meters)), "meter", "meters")}
			d.cards = append(d.cards, c)
			if costs > 0 {
				d.cards = append(d.cards, card{title: "Cost · " + flowName(g.flow, ""), value: fmtMoney(&cost, costCur)})
			}
		}
		return d, nil
	}, func(d sumData, err error) {
		if seq != v.loadSeq || !v.summing() {
			return
		}
		if err != nil {
			v.setCaption("Could not sum the meters: " + err.Error())
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
		caption := ""
		if len(v.meters) > maxSummed {
			caption = fmt.Sprintf("The first %s of %s listed are summed; narrow the search for the rest.", fmtInt(maxSummed), fmtInt(int64(len(v.meters))))
		}
		v.setCaption(caption)
	})
}

// summing says whether the chart shows the sum of the listed meters.
func (v *usageView) summing() bool { return v.sum != nil && v.sum.Checked }
