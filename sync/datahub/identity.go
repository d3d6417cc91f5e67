package datahub

import "strings"

// processNames are DataHub's process types (process.processType) in words, as an analyst
// tells results apart.
var processNames = map[string]string{
	"D03": "Preliminary aggregation",
	"D04": "Balance fixing",
	"D05": "Wholesale fixing",
	"D32": "Wholesale fixing",
	"E23": "Periodic metering",
	"D42": "Periodic flex metering",
	"E30": "Yearly metering",
	"D24": "Reminder of missing measurements",
	"E65": "Move-in",
}

// correctionNames are the settlement versions (settlement_Series.version) of a correction
// settlement (D32).
var correctionNames = map[string]string{
	"D01": "1st correction",
	"D02": "2nd correction",
	"D03": "3rd correction",
}

var mpTypeNames = map[string]string{
	"E17": "consumption",
	"E18": "production",
	"E20": "exchange",
}

var methodNames = map[string]string{
	"E02": "non-profiled",
	"D01": "flex",
	"E01": "profiled",
}

var chargeTypeNames = map[string]string{
	"D01": "subscription",
	"D02": "fee",
	"D03": "tariff",
}

// ProcessName names a process type and settlement version for people: "Balance fixing",
// "Wholesale fixing, 2nd correction". An unknown code is shown as sent.
func ProcessName(process, settlementVersion string) string {
	name, ok := processNames[process]
	if !ok {
		name = "Process " + process
	}
	if process == "D32" {
		if c, ok := correctionNames[settlementVersion]; ok {
			return name + ", " + c
		}
		return "Correction settlement"
	}
	if settlementVersion != "" {
		name += ", settlement version " + settlementVersion
	}
	return name
}

// seriesIdentity is what tells one aggregated or wholesale result from another: which
// calculation (process type and, for corrections, settlement version) and what it covers.
// Metering point series (RSM-012) have none: their process type does not make a new series.
func seriesIdentity(processType string, s *Series) (prefix string, ok bool) {
	if s.MeteringPoint != "" || processType == "" {
		return "", false
	}
	p := processType
	if s.SettlementVersion != "" {
		p += ":" + s.SettlementVersion
	}
	return p, true
}

// SeriesName is the name people see for a grid-area result series: the process in words, then
// what the series covers. The store migration 0410 writes the same names for series stored
// before process types kept series apart; keep the two in step (a test checks they agree).
func SeriesName(processType, settlementVersion, mpType, method, chargeType, chargeCode, supplier, brp string) string {
	parts := []string{ProcessName(processType, settlementVersion)}
	if mpType != "" {
		w, ok := mpTypeNames[mpType]
		if !ok {
			w = "type " + mpType
		}
		if m := methodNames[method]; m != "" {
			w += " (" + m + ")"
		} else if method != "" {
			w += " (" + method + ")"
		}
		parts = append(parts, w)
	}
	if chargeType != "" || chargeCode != "" {
		w, ok := chargeTypeNames[chargeType]
		if !ok {
			w = "charge"
		}
		if chargeCode != "" {
			w += " " + chargeCode
		}
		parts = append(parts, w)
	}
	if supplier != "" {
		parts = append(parts, "supplier "+supplier)
	}
	if brp != "" {
		parts = append(parts, "BRP "+brp)
	}
	return strings.Join(parts, " · ")
}
