package ui

import (
	"math"
	"strings"
	"sync"

	"fyne.io/fyne/v2/lang"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// numbers formats numbers for the user's locale: thousands separators and the decimal mark.
var numbers struct {
	once sync.Once
	p    *message.Printer
}

// setNumberLocale makes numbers follow the locale tag (such as "en-US" or "da-DK"); tests pin
// it so that golden images do not depend on the machine.
func setNumberLocale(tag string) {
	numbers.once.Do(func() {})
	numbers.p = message.NewPrinter(language.Make(tag))
}

func printer() *message.Printer {
	numbers.once.Do(func() {
		if numbers.p == nil {
			numbers.p = message.NewPrinter(language.Make(string(lang.SystemLocale())))
		}
	})
	return numbers.p
}

// fmtNum writes v with about three significant digits and the locale's separators:
// 446996 → "446,996", 12.345 → "12.3", 0.01234 → "0.0123".
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == 0:
		return printer().Sprintf("%.0f", v)
	case a >= 10:
		return printer().Sprintf("%.1f", v)
	case a >= 1:
		return printer().Sprintf("%.2f", v)
	}
	// Three significant digits below 1 (0.0123), in the locale's decimal notation.
	decimals := min(2-int(math.Floor(math.Log10(a))), 12)
	return printer().Sprintf("%.*f", decimals, v)
}

// fmtInt writes an integer with the locale's thousands separators.
func fmtInt(n int64) string { return printer().Sprintf("%d", n) }

// scaleSteps are units that read better one step up once a value reaches 10,000.
var scaleSteps = map[string]string{"Wh": "kWh", "kWh": "MWh", "MWh": "GWh", "W": "kW", "kW": "MW", "MW": "GW", "VArh": "kVArh", "kVArh": "MVArh"}

// scaleUnit moves v up to a larger unit while it is 10,000 or more of the current one
// (446,996 kWh → 447 MWh), so that a year's total is as readable as a day's.
func scaleUnit(v float64, unit string) (float64, string) {
	for math.Abs(v) >= 10000 {
		next, ok := scaleSteps[unit]
		if !ok {
			break
		}
		v, unit = v/1000, next
	}
	return v, unit
}

// fmtQty writes an amount with its unit, scaled and separated: "447 MWh", "12.3 kWh".
func fmtQty(v float64, unit string) string {
	v, unit = scaleUnit(v, unit)
	return strings.TrimSpace(fmtNum(v) + " " + unitSymbol(unit))
}

// fmtMoney writes an amount of money with two decimals, separators and its currency.
func fmtMoney(v *float64, currency string) string {
	if v == nil {
		return "–"
	}
	return strings.TrimSpace(printer().Sprintf("%.2f", *v) + " " + currency)
}

// plural writes a count with the right form of its noun: "1 reading", "1,204 readings".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtInt(n) + " " + many
}
