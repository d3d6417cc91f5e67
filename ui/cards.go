package ui

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"custody/store"
)

// card is one summary figure above the chart.
type card struct {
	title   string
	value   string
	note    string   // what the value is (the peak's time, "so far")
	changes []string // against the previous period and a year earlier
}

// totalsFunc sums a series over [from, to); the store's PeriodTotals.
type totalsFunc func(ctx context.Context, seriesID, from, to int64) (store.Totals, error)

// cardRequest is what the cards are computed from.
type cardRequest struct {
	series     []store.Series
	stats      map[int64]store.SeriesStats
	from, to   int64 // the period in view
	prev, year func(int64) int64
	energyUnit string
	loc        *time.Location
}

// periodSums are one series' totals in the period, the previous one and a year earlier.
type periodSums struct {
	s                store.Series
	cur, prev, year  store.Totals
	factor           float64
	unit             string
	hasPrev, hasYear bool
}

// primarySeries picks, for each flow and unit of amounts (energy, volume), the one series to
// sum: the finest that has readings in [from, to), so that the same energy recorded at two
// resolutions is never counted twice.
func primarySeries(ss []store.Series, stats map[int64]store.SeriesStats, from, to int64) []store.Series {
	best := map[string]int{}
	var keys []string
	for i, s := range ss {
		st := stats[s.ID]
		if st.Count == 0 || quantityOf(s.Kind, s.Unit) != quantityEnergy || st.LastEnd <= from || st.First >= to {
			continue
		}
		k := s.Flow + "|" + s.Unit
		if isProduction(s) {
			k += "|production" // the panels' own meter, beside the import of the same flow
		}
		j, ok := best[k]
		if !ok {
			keys = append(keys, k)
			best[k] = i
			continue
		}
		if s.Seconds > 0 && (ss[j].Seconds == 0 || s.Seconds < ss[j].Seconds) {
			best[k] = i
		}
	}
	var out []store.Series
	for _, k := range keys {
		out = append(out, ss[best[k]])
	}
	return out
}

// isProduction says whether a series is the home's own production (solar), which with import
// and export gives self-sufficiency: a DataHub production metering point (E18), or a series
// its source names so (a Green Button MeterReading titled "Hourly Solar Production").
func isProduction(s store.Series) bool {
	k := strings.ToLower(s.Key + " " + s.Kind + " " + s.Attrs["metering_point_type"] + " " + s.Attrs["title"])
	return strings.Contains(k, "production") || strings.Contains(k, "solar") || strings.Contains(k, "generation") || strings.Contains(k, "e18")
}

// computeCards sums the period in view and the same stretch of the previous period and of a
// year earlier, and turns the sums into cards. The period is first cut to the data (the week
// under way counts up to the last reading), and the comparisons are cut the same way, so a
// period is always compared like for like.
func computeCards(ctx context.Context, totals totalsFunc, r cardRequest) (cards []card, caption string, err error) {
	prim := primarySeries(r.series, r.stats, r.from, r.to)
	var power *store.Series
	for i, s := range r.series {
		if quantityOf(s.Kind, s.Unit) == quantityPower && r.stats[s.ID].Count > 0 && power == nil {
			power = &r.series[i]
		}
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range prim {
		st := r.stats[s.ID]
		first, last = min(first, st.First), max(last, st.LastEnd)
	}
	a, b := max(r.from, first), min(r.to, last)
	if len(prim) == 0 || a >= b {
		return nil, "No readings in this period.", nil
	}
	if b < r.to || a > r.from {
		caption = "Figures for " + periodText(a, b, r.loc) + ", what the data covers; comparisons cover the same stretch."
	}
	sums := make([]periodSums, len(prim))
	for i, s := range prim {
		ps := periodSums{s: s}
		ps.unit, ps.factor = displayUnit(s.Unit, r.energyUnit)
		if ps.cur, err = totals(ctx, s.ID, a, b); err != nil {
			return nil, "", err
		}
		if ps.prev, err = totals(ctx, s.ID, r.prev(a), r.prev(b)); err != nil {
			return nil, "", err
		}
		if ps.year, err = totals(ctx, s.ID, r.year(a), r.year(b)); err != nil {
			return nil, "", err
		}
		// A comparison is only fair when the earlier stretch has (nearly) as much data.
		ps.hasPrev, ps.hasYear = comparable(ps.cur, ps.prev), comparable(ps.cur, ps.year)
		sums[i] = ps
	}
	find := func(flow string, unit string) *periodSums {
		for i := range sums {
			if sums[i].s.Flow == flow && (unit == "" || sums[i].s.Unit == unit) {
				return &sums[i]
			}
		}
		return nil
	}
	var imp, exp, prod *periodSums
	for i := range sums {
		switch {
		case isProduction(sums[i].s):
			prod = &sums[i]
		case sums[i].s.Flow == "forward" && imp == nil:
			imp = &sums[i]
		}
	}
	if imp != nil {
		exp = find("reverse", imp.s.Unit)
	} else {
		exp = find("reverse", "")
	}
	for i := range sums {
		ps := &sums[i]
		c := card{title: amountTitle(ps.s, prod == ps), value: fmtQty(ps.cur.Sum*ps.factor, ps.unit)}
		c.changes = changes(ps.cur.Sum, ps.prev.Sum, ps.year.Sum, ps.hasPrev, ps.hasYear)
		cards = append(cards, c)
	}
	if imp != nil && exp != nil {
		net := func(x, y store.Totals) float64 { return x.Sum - y.Sum }
		c := card{title: "Net from grid", value: fmtQty(net(imp.cur, exp.cur)*imp.factor, imp.unit)}
		if net(imp.cur, exp.cur) < 0 {
			c.note = "more exported than imported"
		}
		c.changes = changes(net(imp.cur, exp.cur), net(imp.prev, exp.prev), net(imp.year, exp.year),
			imp.hasPrev && exp.hasPrev, imp.hasYear && exp.hasYear)
		cards = append(cards, c)
	}
	if imp != nil && prod != nil {
		ss := func(i, e, p store.Totals) float64 {
			use := i.Sum + p.Sum - func() float64 {
				if exp == nil {
					return 0
				}
				return e.Sum
			}()
			if use <= 0 {
				return 0
			}
			return math.Max(0, math.Min(1, 1-i.Sum/use))
		}
		var e0, e1, e2 store.Totals
		if exp != nil {
			e0, e1, e2 = exp.cur, exp.prev, exp.year
		}
		cur := ss(imp.cur, e0, prod.cur)
		c := card{title: "Self-sufficiency", value: fmt.Sprintf("%.0f %%", cur*100), note: "of use covered by own production"}
		if imp.hasPrev && prod.hasPrev {
			c.changes = append(c.changes, fmt.Sprintf("%+.0f points vs previous", (cur-ss(imp.prev, e1, prod.prev))*100))
		}
		if imp.hasYear && prod.hasYear {
			c.changes = append(c.changes, fmt.Sprintf("%+.0f points vs a year earlier", (cur-ss(imp.year, e2, prod.year))*100))
		}
		cards = append(cards, c)
	}
	// Cost, per currency, of the series that carry one.
	type money struct {
		cur, prev, year  float64
		hasPrev, hasYear bool
	}
	costs := map[string]*money{}
	var currencies []string
	for _, ps := range sums {
		if ps.cur.CostCount == 0 {
			continue
		}
		m := costs[ps.s.Currency]
		if m == nil {
			m = &money{}
			costs[ps.s.Currency] = m
			currencies = append(currencies, ps.s.Currency)
		}
		m.cur += ps.cur.CostSum
		m.prev += ps.prev.CostSum
		m.year += ps.year.CostSum
		m.hasPrev = m.hasPrev || ps.prev.CostCount > 0
		m.hasYear = m.hasYear || ps.year.CostCount > 0
	}
	for _, cur := range currencies {
		m := costs[cur]
		v := m.cur
		cards = append(cards, card{title: "Cost", value: fmtMoney(&v, cur), changes: changes(m.cur, m.prev, m.year, m.hasPrev, m.hasYear)})
	}
	// The peak: of power when the meter records it, else the highest reading of import.
	peakOf := imp
	if peakOf == nil && len(sums) > 0 {
		peakOf = &sums[0]
	}
	if power != nil {
		t, err := totals(ctx, power.ID, a, b)
		if err != nil {
			return nil, "", err
		}
		if t.Count > 0 {
			unit, f := displayUnit(power.Unit, r.energyUnit)
			cards = append(cards, card{title: "Peak demand", value: fmtQty(t.Peak*f, unit), note: peakWhen(t.PeakAt, r.loc)})
			peakOf = nil
		}
	}
	if peakOf != nil && peakOf.cur.Count > 0 {
		c := card{title: "Peak " + durationWords(peakOf.s.Seconds), value: fmtQty(peakOf.cur.Peak*peakOf.factor, peakOf.unit), note: peakWhen(peakOf.cur.PeakAt, r.loc)}
		if peakOf.s.Seconds == 0 {
			c.title = "Peak reading"
		}
		cards = append(cards, c)
	}
	return cards, caption, nil
}

func peakWhen(t int64, loc *time.Location) string {
	return time.Unix(t, 0).In(loc).Format("Mon 2 Jan 2006 15:04")
}

// amountTitle names what a series' sum is: imported, exported, produced, or the commodity.
func amountTitle(s store.Series, production bool) string {
	if production {
		return "Produced"
	}
	if s.Commodity != "" && s.Commodity != "electricity" {
		return capitalise(s.Commodity) + " used"
	}
	switch s.Flow {
	case "forward":
		return "Imported"
	case "reverse":
		return "Exported"
	case "net":
		return "Net"
	}
	return "Total"
}

// comparable says whether an earlier stretch has data for at least 90 % of the time the
// current one has, so that a year with a month of data is never "up 700 %".
func comparable(cur, was store.Totals) bool {
	return was.Count > 0 && float64(was.Covered) >= 0.9*float64(cur.Covered)
}

// changes says how cur compares with the previous period and a year earlier.
func changes(cur, prev, year float64, hasPrev, hasYear bool) []string {
	out := []string{"too little data for the previous period", "too little data a year earlier"}
	if hasPrev {
		out[0] = change(cur, prev) + " vs previous"
	}
	if hasYear {
		out[1] = change(cur, year) + " vs a year earlier"
	}
	return out
}

func change(cur, was float64) string {
	if was == 0 {
		if cur == 0 {
			return "same"
		}
		return "new"
	}
	p := (cur - was) / math.Abs(was) * 100
	switch {
	case math.Abs(p) < 0.5:
		return "± 0 %"
	case p > 0:
		return fmt.Sprintf("up %s %%", fmtNum(p))
	}
	return fmt.Sprintf("down %s %%", fmtNum(-p))
}

// shiftFuncs are how the period in view maps to the previous one and to a year earlier. A
// whole calendar-like period (the range as chosen) moves by its range (a month back is the
// month before, whatever its length); a zoomed or panned view moves by its own length.
func shiftFuncs(rng string, whole bool, from, to int64, loc *time.Location) (prev, year func(int64) int64) {
	year = func(t int64) int64 { return time.Unix(t, 0).In(loc).AddDate(-1, 0, 0).Unix() }
	span := to - from
	prev = func(t int64) int64 { return t - span }
	if whole {
		switch rng {
		case RangeDay:
			prev = func(t int64) int64 { return time.Unix(t, 0).In(loc).AddDate(0, 0, -1).Unix() }
		case RangeWeek:
			prev = func(t int64) int64 { return time.Unix(t, 0).In(loc).AddDate(0, 0, -7).Unix() }
		case RangeMonth:
			prev = func(t int64) int64 { return time.Unix(t, 0).In(loc).AddDate(0, -1, 0).Unix() }
		case RangeYear:
			prev = year
		}
	}
	return prev, year
}
