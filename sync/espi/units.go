package espi

import "strconv"

// unitSymbols maps ESPI UnitSymbolKind codes (ReadingType uom) to the symbols the CSV contract
// exports. Names follow IEC 61970 (CIM) UnitSymbol where one exists.
var unitSymbols = map[int64]string{
	0:   "",
	5:   "A",
	6:   "K",
	23:  "degC",
	27:  "s",
	29:  "V",
	31:  "J",
	33:  "Hz",
	38:  "W",
	42:  "m3",
	61:  "VA",
	63:  "VAr",
	65:  "cosPhi",
	71:  "VAh",
	72:  "Wh",
	73:  "VArh",
	80:  "money",
	106: "Ah",
	108: "timeStamp",
	119: "ft3",
	120: "ft3compensated",
	125: "m3/h",
	128: "gal",
	129: "gal/h",
	130: "ImperialGal",
	132: "BTU",
	133: "BTU/h",
	134: "L",
	159: "min",
	160: "h",
	166: "m3uncompensated",
	167: "m3compensated",
	169: "therm",
}

// unitSymbol returns the symbol of a uom code; ok is false for a code outside the table,
// which is then written as "uom:<code>" so nothing is silently relabelled.
func unitSymbol(code int64) (string, bool) {
	if s, ok := unitSymbols[code]; ok {
		return s, true
	}
	if code == 65535 { // not a schema value; the SDK writes it in summaries for "unknown"
		return "", true
	}
	return "uom:" + strconv.FormatInt(code, 10), false
}

// flowNames maps flowDirection codes to the CSV contract's flow names. Every other code (and
// an absent one) is exported empty: the direction is never guessed.
var flowNames = map[int64]string{1: "forward", 19: "reverse", 4: "net", 20: "total"}

// commodityOfReadingType maps ReadingType commodity codes (CommodityKind) to the contract's
// commodities; "" means the ReadingType does not say (0 none, or absent).
func commodityOfReadingType(code int64) string {
	switch code {
	case 0:
		return ""
	case 1, 2, 26:
		return "electricity"
	case 7, 8:
		return "gas"
	case 9, 11, 14:
		return "water"
	case 10, 12:
		return "heat"
	default:
		return "other"
	}
}

// commodityOfService maps UsagePoint ServiceCategory kinds to the contract's commodities.
func commodityOfService(code int64) string {
	switch code {
	case 0:
		return "electricity"
	case 1:
		return "gas"
	case 2:
		return "water"
	case 4:
		return "heat"
	default:
		return "other"
	}
}

// kindNames names MeasurementKind codes for the series' kind.
var kindNames = map[int64]string{
	0: "none", 2: "apparentPowerFactor", 3: "currency", 4: "current", 5: "currentAngle",
	7: "date", 8: "demand", 12: "energy", 15: "frequency", 37: "power", 38: "powerFactor",
	40: "quantityPower", 43: "sag", 44: "swell", 45: "switchPosition", 46: "temperature",
	47: "tier", 53: "voltageAngle", 54: "voltage", 58: "volume", 61: "apparentEnergy",
	62: "reactiveEnergy",
}

func kindName(code int64) string {
	if n, ok := kindNames[code]; ok {
		return n
	}
	return "kind:" + strconv.FormatInt(code, 10)
}

// currencyCodes maps ISO 4217 numeric codes to their letters.
var currencyCodes = map[int64]string{
	36: "AUD", 124: "CAD", 156: "CNY", 208: "DKK", 356: "INR", 392: "JPY", 484: "MXN",
	554: "NZD", 578: "NOK", 643: "RUB", 752: "SEK", 756: "CHF", 826: "GBP", 840: "USD",
	978: "EUR", 986: "BRL", 710: "ZAR", 344: "HKD", 702: "SGD", 410: "KRW", 985: "PLN",
	203: "CZK", 348: "HUF", 352: "ISK", 949: "TRY", 376: "ILS",
}

// currencyLetters returns the ISO letters of a numeric currency code, "" for 0 (other) or an
// unknown code (ok false then).
func currencyLetters(code int64) (string, bool) {
	if code == 0 {
		return "", true
	}
	c, ok := currencyCodes[code]
	return c, ok
}

// itemKinds names UsageSummary line item kinds.
var itemKinds = map[int64]string{
	1: "generationFee", 2: "deliveryFee", 3: "usageFee", 4: "administrativeFee", 5: "tax",
	6: "generationCredit", 7: "deliveryCredit", 8: "administrativeCredit", 9: "payment",
	10: "information",
}
