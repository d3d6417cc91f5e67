package ui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"custody/store"
	"custody/ui/chart"
)

// noBills is what the bills table says of a meter without bills.
const noBills = "No bills for this meter."

// billsOfOneMeter is what the bills table says while the listed meters are charted together:
// bills belong to one meter, and showing the last one picked would pass it off as theirs.
const billsOfOneMeter = "Bills are shown for one meter at a time: pick a meter in the list."

// billColumns are the bills table's columns.
var billColumns = []string{"Period", "Amount", "Line item", "Quantity", "Item amount"}

// billTable turns bills (newest first) into table rows: one row per bill with its period and
// amount, then one per line item with its quantity in the chosen unit and its amount.
func billTable(bills []store.UsageSummary, loc *time.Location, energyUnit string) [][]string {
	var rows [][]string
	for _, b := range bills {
		start := time.Unix(b.PeriodStart, 0).In(loc)
		end := time.Unix(b.PeriodStart+b.PeriodSeconds, 0).In(loc)
		if b.PeriodSeconds > 0 {
			end = end.Add(-time.Second) // the last day of the period, not the next one
		}
		amount := b.BillLastPeriod
		if amount == nil {
			amount = b.BillToDate
		}
		head := ""
		switch {
		case b.CostAdditionalLastPeriod != nil:
			head = "additional " + fmtMoney(b.CostAdditionalLastPeriod, b.Currency)
		case b.BillLastPeriod == nil && b.BillToDate != nil:
			head = "to date"
		}
		rows = append(rows, []string{start.Format("2 Jan 2006") + " – " + end.Format("2 Jan 2006"), fmtMoney(amount, b.Currency), head, "", ""})
		for _, it := range b.Items {
			note := it.Note
			if note == "" {
				note = it.ItemKind
			}
			qty := ""
			if it.Measurement != nil {
				unit, f := displayUnit(it.Unit, energyUnit)
				qty = fmtQty(*it.Measurement*f, unit)
			}
			amt := ""
			if it.Amount != nil {
				amt = fmtMoney(it.Amount, b.Currency)
			}
			rows = append(rows, []string{"", "", note, qty, amt})
		}
	}
	return rows
}

// monthlyCosts are the amounts billed per period as bars, oldest first: the bills when the
// meter has them.
func monthlyCosts(bills []store.UsageSummary) []chart.Series {
	byCur := map[string]*chart.Series{}
	var order []string
	for i := len(bills) - 1; i >= 0; i-- { // bills come newest first
		b := bills[i]
		amount := b.BillLastPeriod
		if amount == nil {
			amount = b.BillToDate
		}
		if amount == nil {
			continue
		}
		s := byCur[b.Currency]
		if s == nil {
			s = &chart.Series{Name: "Billed", Unit: b.Currency, Style: chart.Bars, Step: 31 * 86400, Lane: len(order)}
			byCur[b.Currency] = s
			order = append(order, b.Currency)
		}
		s.Times = append(s.Times, b.PeriodStart)
		s.Values = append(s.Values, *amount)
		if b.PeriodSeconds > 0 {
			s.Step = max(s.Step, b.PeriodSeconds)
		}
	}
	var out []chart.Series
	for _, c := range order {
		out = append(out, *byCur[c])
	}
	return out
}

// showBills fills the bills table and the cost chart. With no bill, the cost chart sums the
// cost the readings carry per month instead.
func (v *usageView) showBills(bills []store.UsageSummary) {
	if v.summing() {
		v.billRows = [][]string{{billsOfOneMeter, "", "", "", ""}}
		v.bills.Refresh()
		v.costs.SetSeries(nil)
		return
	}
	loc := v.m.settings.Location(v.meter.TimeZone)
	v.billRows = billTable(bills, loc, v.m.settings.EnergyUnit())
	if len(v.billRows) == 0 {
		v.billRows = [][]string{{noBills, "", "", "", ""}}
	}
	v.bills.Refresh()
	v.costs.Location = loc
	if cs := monthlyCosts(bills); len(cs) > 0 {
		v.costs.SetSeries(cs)
		return
	}
	v.costs.SetSeries(nil)
	series, stats := v.series, v.stats
	meter := v.meter.ID
	background(v.m, func(ctx context.Context) ([]chart.Series, error) {
		return readingCosts(ctx, v.m.deps.Data.PeriodTotals, series, stats, loc)
	}, func(cs []chart.Series, err error) {
		if err != nil || v.meter.ID != meter {
			return
		}
		v.costs.SetSeries(cs)
	})
}

// readingCosts sums the cost of the readings per calendar month over the last 13 months of
// data, one bar series per currency.
func readingCosts(ctx context.Context, totals totalsFunc, series []store.Series, stats map[int64]store.SeriesStats, loc *time.Location) ([]chart.Series, error) {
	byCur := map[string]map[int64]float64{}
	var order []string
	for _, s := range series {
		st := stats[s.ID]
		if st.CostCount == 0 {
			continue
		}
		end := time.Unix(st.Last, 0).In(loc)
		m := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -12, 0)
		for ; m.Unix() <= st.Last; m = m.AddDate(0, 1, 0) {
			if m.AddDate(0, 1, 0).Unix() <= st.First {
				continue
			}
			t, err := totals(ctx, s.ID, m.Unix(), m.AddDate(0, 1, 0).Unix())
			if err != nil {
				return nil, fmt.Errorf("monthly cost: %w", err)
			}
			if t.CostCount == 0 {
				continue
			}
			months := byCur[s.Currency]
			if months == nil {
				months = map[int64]float64{}
				byCur[s.Currency] = months
				order = append(order, s.Currency)
			}
			months[m.Unix()] += t.CostSum
		}
	}
	var out []chart.Series
	for lane, cur := range order {
		c := chart.Series{Name: "Cost of readings", Unit: cur, Style: chart.Bars, Step: 31 * 86400, Lane: lane}
		for _, t := range slices.Sorted(maps.Keys(byCur[cur])) {
			c.Times = append(c.Times, t)
			c.Values = append(c.Values, byCur[cur][t])
		}
		out = append(out, c)
	}
	return out, nil
}
