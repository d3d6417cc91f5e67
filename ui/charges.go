package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"custody/store"
)

// chargesReader is the part of Data that reads the prices that apply to a meter (Eloverblik's
// tariffs and subscriptions). *store.Store implements it; a Data without it shows no prices.
type chargesReader interface {
	ChargesOf(ctx context.Context, meterID int64) ([]store.Charge, error)
}

// chargesOf reads a meter's charges, or none when Data cannot.
func (v *usageView) chargesOf(ctx context.Context, meterID int64) ([]store.Charge, error) {
	if cr, ok := v.m.deps.Data.(chargesReader); ok {
		return cr.ChargesOf(ctx, meterID)
	}
	return nil, nil
}

// noSpotPrice says what an estimate from the charges leaves out.
const noSpotPrice = "estimate from grid tariffs and taxes; the electricity (spot) price and VAT are not included"

// tariffCosts returns, for readings of energy in unit (kWh or Wh) at times ts, each reading's
// cost under the tariffs in force at its hour of the day in loc; ok is false when no tariff
// applies to any of them.
func tariffCosts(cs []store.Charge, unit string, ts []int64, vs []float64, loc *time.Location) (costs []float64, currency string, ok bool) {
	factor := map[string]float64{"kWh": 1, "Wh": 0.001, "MWh": 1000}[unit]
	if factor == 0 || !slices.ContainsFunc(cs, func(c store.Charge) bool { return c.Kind == "tariff" }) {
		return nil, "", false
	}
	costs = make([]float64, len(ts))
	for i, t := range ts {
		at := time.Unix(t, 0)
		price, cur, found := store.TariffPerUnit(cs, at, at.In(loc).Hour())
		if found {
			costs[i], currency, ok = vs[i]*factor*price, cur, true
		}
	}
	return costs, currency, ok
}

// showCharges lists the prices that apply to the meter below its bills in the bills table.
func (v *usageView) showCharges(cs []store.Charge) {
	if len(cs) == 0 {
		return
	}
	if len(v.billRows) == 1 && v.billRows[0][0] == noBills {
		v.billRows = nil
	}
	v.billRows = append(v.billRows, []string{"Prices that apply", "", "from the grid company and Energinet", "", ""})
	for _, c := range cs {
		price := ""
		switch {
		case c.Kind == "tariff" && len(c.Prices) >= 24:
			price = fmt.Sprintf("%.4f–%.4f %s/kWh by hour of the day", slices.Min(c.Prices), slices.Max(c.Prices), c.Currency)
		case c.Kind == "tariff" && len(c.Prices) > 0:
			price = fmt.Sprintf("%.4f %s/kWh", c.Prices[0], c.Currency)
		case len(c.Prices) > 0:
			price = fmt.Sprintf("(%s) %.2f %s", c.Kind, c.Prices[0], c.Currency)
			if c.Quantity > 1 {
				price += fmt.Sprintf(" × %d", c.Quantity)
			}
		}
		when := ""
		loc := v.m.settings.Location(v.meter.TimeZone)
		if !c.From.IsZero() {
			when = "from " + c.From.In(loc).Format("2 Jan 2006")
		}
		if !c.To.IsZero() {
			when += " to " + c.To.In(loc).Format("2 Jan 2006")
		}
		v.billRows = append(v.billRows, []string{"", "", c.Name, when, price})
	}
	v.billRows = append(v.billRows, []string{"", "", "The estimated cost on the chart uses these tariffs: " + noSpotPrice + ".", "", ""})
	v.bills.Refresh()
}

// tariffSuffix ends the name of a series of estimated tariff costs.
const tariffSuffix = "≈ tariffs"

// tariffCard sums the estimated tariff cost the chart shows for [t0, t1).
func (v *usageView) tariffCard(t0, t1 int64) (card, bool) {
	total, cur, any := 0.0, "", false
	for _, s := range v.chart.Series() {
		if !strings.HasSuffix(s.Name, tariffSuffix) {
			continue
		}
		for i, t := range s.Times {
			if t >= t0 && t < t1 {
				total += s.Values[i]
				cur, any = s.Unit, true
			}
		}
	}
	if !any {
		return card{}, false
	}
	return card{title: "Tariffs (estimate)", value: "≈ " + fmtMoney(&total, cur), note: "grid tariffs and taxes only"}, true
}
