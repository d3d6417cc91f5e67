package ui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

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

// showCharges lists the prices that apply to the meter below its bills.
func (v *usageView) showCharges(cs []store.Charge) {
	if len(cs) == 0 {
		return
	}
	v.bills.Add(widget.NewLabelWithStyle("Prices that apply (from the grid company and Energinet)", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	for _, c := range cs {
		line := "    " + c.Name
		switch {
		case c.Kind == "tariff" && len(c.Prices) >= 24:
			lo, hi := slices.Min(c.Prices), slices.Max(c.Prices)
			line += fmt.Sprintf(": %.4f–%.4f %s/kWh by hour of the day", lo, hi, c.Currency)
		case c.Kind == "tariff" && len(c.Prices) > 0:
			line += fmt.Sprintf(": %.4f %s/kWh", c.Prices[0], c.Currency)
		case len(c.Prices) > 0:
			line += fmt.Sprintf(" (%s): %.2f %s", c.Kind, c.Prices[0], c.Currency)
			if c.Quantity > 1 {
				line += fmt.Sprintf(" × %d", c.Quantity)
			}
		}
		if !c.From.IsZero() {
			line += ", from " + c.From.In(v.m.settings.Location(v.meter.TimeZone)).Format("2 Jan 2006")
		}
		if !c.To.IsZero() {
			line += " to " + c.To.In(v.m.settings.Location(v.meter.TimeZone)).Format("2 Jan 2006")
		}
		v.bills.Add(widget.NewLabel(line))
	}
	note := widget.NewLabel("The estimated cost per hour on the chart uses these tariffs: " + noSpotPrice + ".")
	note.Wrapping = fyne.TextWrapWord
	v.bills.Add(note)
}
