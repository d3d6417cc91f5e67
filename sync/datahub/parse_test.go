package datahub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/fileimport"
)

func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func importer4(st *store.Store) *fileimport.Importer {
	return &fileimport.Importer{Store: st, Formats: []fileimport.Format{XMLFormat(), JSONFormat()}}
}

// point is one expected exported reading.
type point struct {
	series  string // a substring of the series key
	start   string // RFC 3339 UTC
	seconds int64
	value   string // "" for missing
	quality string
	cost    string
}

func rows(t *testing.T, st *store.Store, meter string) map[string]store.ExportRow {
	t.Helper()
	out := map[string]store.ExportRow{}
	err := st.ExportReadings(context.Background(), store.ExportFilter{Meter: meter}, func(r store.ExportRow) error {
		out[r.Series+"@"+time.Unix(r.Reading.Start, 0).UTC().Format(time.RFC3339)] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func strconvFormat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func TestEveryFixture(t *testing.T) {
	type want struct {
		root, id         string
		meter            string
		meters, readings int
		reasons          []string // codes
		business         string
		unit, flow       string
		points           []point
		refused          string // substring of the import error, when it is refused
	}
	cases := map[string]want{
		"peek-responses/measuredata_NotifyValidatedMeasureData_PT15M_day.xml": {
			root: "NotifyValidatedMeasureData_MarketDocument", id: "405cacec877409a977d21e02ff01cf99", meter: "571313100000001239",
			meters: 1, readings: 96, business: "E23", unit: "kWh", flow: "forward",
			points: []point{
				{"8716867000030/E17/PT15M/kWh", "2024-11-30T23:00:00Z", 900, "0.222", "A04", ""},
				{"8716867000030/E17/PT15M/kWh", "2024-12-01T09:00:00Z", 900, "0.227", "A03", ""}, // position 41
				{"8716867000030/E17/PT15M/kWh", "2024-12-01T09:15:00Z", 900, "", "A02", ""},      // position 42: missing, never 0
			},
		},
		"peek-responses/measuredata_NotifyValidatedMeasureData_PT1H_DST_2series.json": {
			root: "NotifyValidatedMeasureData_MarketDocument", id: "1d53434bb88139b9ae270da702f06b90", meter: "571313100000001239",
			meters: 2, readings: 46, business: "E23", unit: "kWh", flow: "forward",
			points: []point{
				{"E17/PT1H", "2025-03-29T23:00:00Z", 3600, "0.912", "A04", ""},
				{"E17/PT1H", "2025-03-30T01:00:00Z", 3600, "0.771", "A03", ""},
				{"E17/PT1H", "2025-03-30T21:00:00Z", 3600, "0.68", "A04", ""}, // position 23 of a 23-hour day
			},
		},
		"peek-responses/aggregations_NotifyAggregatedMeasureData_D04_PT15M_25h.json": {
			root: "NotifyAggregatedMeasureData_MarketDocument", id: "7394988f847fd9b4e64d1bcb702753a1", meter: "grid-area-804",
			meters: 1, readings: 100, business: "D04", unit: "kWh", flow: "forward",
			points: []point{
				{"E17/E02/es:5790002606892/brp:5790001687137/PT15M", "2025-10-25T22:00:00Z", 900, "372.426", "", ""}, // measured: no quality element
				{"E02/es:5790002606892", "2025-10-25T23:30:00Z", 900, "345.413", "A03", ""},                          // position 7
				{"E02/es:5790002606892", "2025-10-26T22:45:00Z", 900, "535.284", "", ""},                             // position 100 = 22:00Z + 99×15 min
			},
		},
		"peek-responses/aggregations_NotifyAggregatedMeasureData_D05_PT1H_production.xml": {
			root: "NotifyAggregatedMeasureData_MarketDocument", id: "8181a8cc369147eb89a2688b12c136e0", meters: 1, readings: 24, business: "D05",
			unit: "kWh", flow: "reverse",
		},
		"peek-responses/aggregations_NotifyWholesaleServices_D05_P1M_monthly_amount.xml": {
			root: "NotifyWholesaleServices_MarketDocument", id: "e87d1c78e7c421c740497b717d106c60", meter: "grid-area-804",
			meters: 1, readings: 1, business: "D05", unit: "kWh",
			points: []point{
				// November 2025 in Danish time: 30 days; only an amount, so no value.
				{"charge:5790000432752:D03:40000/es:5790002606892/P1M/kWh", "2025-10-31T23:00:00Z", 30 * 86400, "", "", "1284671.235"},
				// ... and the amount series: the amount as the value, in DKK (its cost column stays empty: no double count).
				{"D05/5790001330590/charge:5790000432752:D03:40000/es:5790002606892/P1M/DKK/amount", "2025-10-31T23:00:00Z", 30 * 86400, "1284671.235", "", ""},
			},
		},
		"peek-responses/aggregations_NotifyWholesaleServices_D32_PT1H_tariff.json": {
			root: "NotifyWholesaleServices_MarketDocument", id: "dfed2c43e256a6dc8f5486b7c7b5b2bc", meter: "grid-area-804",
			meters: 1, readings: 24, business: "D32", unit: "kWh", flow: "forward",
			points: []point{
				{"charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/kWh", "2025-01-01T23:00:00Z", 3600, "1929.077", "A06", "244.028"},
				{"charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/kWh", "2025-01-02T22:00:00Z", 3600, "2183.152", "A06", "276.169"},
				// price.amount becomes a price series (DKK per kWh), energySum an amount series (DKK).
				{"D32:D01/5790001330590/E17/D01/charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/DKK/kWh/price", "2025-01-01T23:00:00Z", 3600, "0.1265", "A06", ""},
				{"D32:D01/5790001330590/E17/D01/charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/DKK/amount", "2025-01-02T22:00:00Z", 3600, "276.169", "A06", ""},
			},
		},
		"peek-responses/aggregations_RejectRequestAggregatedMeasureData_E0H.json": {
			root: "RejectRequestAggregatedMeasureData_MarketDocument", id: "bfddc3d99ee3ac2af94d62046808593f", reasons: []string{"E0H"}, business: "D04",
		},
		"peek-responses/aggregations_RejectRequestAggregatedMeasureData_E17_D64.xml": {
			root: "RejectRequestAggregatedMeasureData_MarketDocument", id: "ccc56569f9e8a3692999b735dd56cc94", reasons: []string{"E17", "D64"}, business: "D03",
		},
		"peek-responses/aggregations_RejectRequestWholesaleSettlement_E16.xml": {
			root: "RejectRequestWholesaleSettlement_MarketDocument", id: "ecab3301bc8f7d292dea94930658663a", reasons: []string{"E16"}, business: "D05",
		},
		"peek-responses/measuredata_Acknowledgement_reject_E10.xml": {
			root: "Acknowledgement_MarketDocument", id: "28c13091444d610b3f87e362cf8d446a", reasons: []string{"E10"}, business: "E23",
		},
		"peek-responses/measuredata_Acknowledgement_reject_E87_D12.json": {
			root: "Acknowledgement_MarketDocument", id: "bc2cbb0ddd334cc7ab7f089acd5f4822", reasons: []string{"E87", "D12"}, business: "E23",
		},
		"peek-responses/measuredata_RejectRequestValidatedMeasureData_E10.json": {
			root: "RejectRequestValidatedMeasureData_MarketDocument", id: "61ee411a1bac27a7b386f7a4c991603f", reasons: []string{"E10"}, business: "E23",
		},
		"incoming/NotifyValidatedMeasureData_PT1H.xml": {
			root: "NotifyValidatedMeasureData_MarketDocument", id: "111131835", meters: 1, readings: 6, business: "E23", unit: "kWh",
		},
		"incoming/NotifyValidatedMeasureData_PT1H_missing_quantity.json": { // starts with a BOM
			root: "NotifyValidatedMeasureData_MarketDocument", id: "111131835", meter: "571313000000002000", meters: 1, readings: 6,
			business: "E23", unit: "kWh", flow: "reverse",
			points: []point{
				{"E18/PT1H", "2024-06-28T22:00:00Z", 3600, "242", "A03", ""},
				{"E18/PT1H", "2024-06-28T23:00:00Z", 3600, "242", "", ""},
				{"E18/PT1H", "2024-06-29T02:00:00Z", 3600, "191", "A05", ""},
				{"E18/PT1H", "2024-06-29T03:00:00Z", 3600, "", "A02", ""},
			},
		},
		"legacy/NotifyValidatedMeasureData_2021_WithUnusedCimContent.xml": { // obsolete namespace, seconds, E01
			root: "NotifyValidatedMeasureData_MarketDocument", id: "DocId_Valid_002", meter: "578032999778756222", meters: 1, readings: 24,
			business: "E23", unit: "kWh", flow: "forward",
			points: []point{{"E17/E02/PT1H", "2021-06-27T22:00:00Z", 3600, "0.337", "E01", ""}},
		},
		"legacy/NotifyValidatedMeasureData_2022_Hourly.xml": {
			root: "NotifyValidatedMeasureData_MarketDocument", id: "C1876453", meter: "579999993331812345", meters: 1, readings: 6, business: "E23", unit: "kWh",
			points: []point{{"E17/PT1H", "2022-08-15T22:00:00Z", 3600, "242", "A03", ""}},
		},
		"legacy/NotifyValidatedMeasureData_2022_MultipleSeries.xml": {
			root: "NotifyValidatedMeasureData_MarketDocument", id: "C1876453", meters: 2, readings: 8, business: "E23", unit: "kWh",
		},
		"legacy/NotifyAggregatedMeasureData_2022_QualityA05_defaultns.xml": { // default namespace, seconds
			root: "NotifyAggregatedMeasureData_MarketDocument", id: "f0de3417-71ce-426e-9001-12600da9102a", meter: "grid-area-805", meters: 1, readings: 1,
			business: "D04", unit: "kWh", flow: "reverse",
			points: []point{{"E18/PT15M", "2022-05-31T22:00:00Z", 900, "2", "A05", ""}},
		},
		"legacy/NotifyAggregatedMeasureData_2022_QualityMeasured_defaultns.xml": {
			root: "NotifyAggregatedMeasureData_MarketDocument", id: "f0de3417-71ce-426e-9001-12600da9102a", meter: "grid-area-805", meters: 1, readings: 1,
			business: "D04", unit: "kWh",
		},
		"errors/InvalidNotifyValidatedMeasureData_MissingRegistration.xml": { // schema-invalid, but the data is whole
			root: "NotifyValidatedMeasureData_MarketDocument", id: "111131835", meters: 1, readings: 6, business: "E23", unit: "kWh",
		},
	}
	for _, f := range []string{
		"incoming/RequestAggregatedMeasureData.json", "incoming/RequestAggregatedMeasureData.xml", "incoming/RequestAggregatedMeasureData_AsMDR.json",
		"incoming/RequestAggregatedMeasureData_BalanceResponsible_template.json", "incoming/RequestValidatedMeasureData.json",
		"incoming/RequestValidatedMeasureData.xml", "incoming/RequestWholesaleSettlement.json", "incoming/RequestWholesaleSettlement.xml",
		"incoming/RequestWholesaleSettlement_TwoSeries.xml", "errors/BadVersionRequestAggregatedMeasureData.xml",
		"errors/FailSchemaValidationAggregatedMeasureData.json", "errors/InvalidJsonAggregatedMeasureData.json",
		"errors/InvalidRequestAggregatedMeasureData.xml", "errors/InvalidRequestValidatedMeasureData_MeteringPointValue.json",
	} {
		cases[f] = want{refused: "is a request document"}
	}
	for _, f := range []string{"errors/documented-error-format_wiki.json", "errors/http-415_missing-content-type.txt",
		"errors/http-500_unexpected.json", "errors/sync-error_multiple.json", "errors/sync-error_multiple.xml",
		"errors/sync-error_single_duplicate-message-id.json"} {
		cases[f] = want{refused: fileimport.ErrUnknownFormat.Error()}
	}
	// Every fixture file is covered.
	all, _ := filepath.Glob("testdata/*/*")
	for _, f := range all {
		rel := strings.TrimPrefix(filepath.ToSlash(f), "testdata/")
		if strings.HasPrefix(rel, "schemas/") {
			continue
		}
		if _, ok := cases[rel]; !ok {
			t.Errorf("fixture %s has no test case", rel)
		}
	}
	for file, w := range cases {
		t.Run(file, func(t *testing.T) {
			st := newStore(t)
			sum, err := importer4(st).Import(context.Background(), filepath.Join("testdata", file))
			if w.refused != "" {
				if err == nil || !strings.Contains(err.Error(), w.refused) {
					t.Fatalf("import = %v, want refusal mentioning %q", err, w.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sum.Readings != w.readings || sum.Meters != w.meters || sum.Messages != 1 {
				t.Errorf("summary %+v, want %d meters, %d readings", sum, w.meters, w.readings)
			}
			ms, err := st.Messages(context.Background(), store.MessageFilter{})
			if err != nil || len(ms) != 1 {
				t.Fatalf("messages %v, %v", ms, err)
			}
			m := ms[0]
			if m.Type != w.root || m.MessageID != w.id || m.BusinessReason != w.business || m.Readings != int64(w.readings) || m.Error != "" {
				t.Errorf("message %+v", m)
			}
			var codes []string
			for _, r := range m.Reasons {
				codes = append(codes, r.Code)
				if r.Text == "" {
					t.Errorf("reason %s without its text", r.Code)
				}
			}
			if strings.Join(codes, ",") != strings.Join(w.reasons, ",") {
				t.Errorf("reasons %v, want %v", codes, w.reasons)
			}
			if w.readings > 0 {
				got := rows(t, st, w.meter)
				if w.meter != "" && len(got) == 0 {
					t.Fatalf("no rows for meter %s", w.meter)
				}
				for _, r := range got {
					if strings.HasSuffix(r.Series, "/price") || strings.HasSuffix(r.Series, "/amount") {
						continue // the price and amount series of a wholesale result: checked below
					}
					if r.Unit != w.unit || r.Commodity != "electricity" {
						t.Errorf("unit %q commodity %q", r.Unit, r.Commodity)
					}
					if w.flow != "" && w.meter != "" && r.Flow != w.flow && !strings.Contains(r.Series, "E18") {
						t.Errorf("flow %q, want %q", r.Flow, w.flow)
					}
				}
				for _, p := range w.points {
					var found *store.ExportRow
					for k, r := range got {
						if strings.Contains(k, p.series) && strings.HasSuffix(k, "@"+p.start) {
							r := r
							found = &r
						}
					}
					if found == nil {
						t.Errorf("no reading of %s at %s", p.series, p.start)
						continue
					}
					rd := found.Reading
					val := ""
					if !rd.Missing {
						val = strconvFormat(rd.Value)
					}
					cost := ""
					if rd.HasCost {
						cost = strconvFormat(rd.Cost)
					}
					if val != p.value || rd.Quality != p.quality || rd.Seconds != p.seconds || cost != p.cost {
						t.Errorf("%s at %s: value %q quality %q seconds %d cost %q; want %q %q %d %q",
							found.Series, p.start, val, rd.Quality, rd.Seconds, cost, p.value, p.quality, p.seconds, p.cost)
					}
				}
			}
			// Importing the same file again changes nothing.
			sum2, err := importer4(st).Import(context.Background(), filepath.Join("testdata", file))
			if err != nil || !sum2.Unchanged {
				t.Errorf("re-import: %+v, %v", sum2, err)
			}
		})
	}
}

func TestDayLengthsInDanishTime(t *testing.T) {
	for _, tc := range []struct {
		res        string
		start, end string
		want       int
	}{
		{"PT15M", "2024-11-30T23:00Z", "2024-12-01T23:00Z", 96},
		{"PT15M", "2025-03-29T23:00Z", "2025-03-30T22:00Z", 92},  // spring: 23 hours
		{"PT15M", "2025-10-25T22:00Z", "2025-10-26T23:00Z", 100}, // autumn: 25 hours
		{"PT1H", "2025-10-25T22:00Z", "2025-10-26T23:00Z", 25},
		{"P1D", "2025-03-01T23:00Z", "2025-04-01T22:00Z", 31},
		{"PT1D", "2025-03-29T23:00Z", "2025-03-31T22:00Z", 2},
		{"P1M", "2024-12-31T23:00Z", "2025-12-31T23:00Z", 12},
		{"PT1Y", "2023-12-31T23:00Z", "2024-12-31T23:00Z", 1},
	} {
		s, err := stepper(tc.res)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := ParseTime(tc.start)
		b, _ := ParseTime(tc.end)
		if n := s.Count(a, b); n != tc.want {
			t.Errorf("%s %s→%s: %d positions, want %d", tc.res, tc.start, tc.end, n, tc.want)
		}
	}
	// The spring day is 23 hours long, the autumn day 25; months start at Danish midnight.
	s, _ := stepper("P1D")
	a, _ := ParseTime("2025-03-29T23:00Z")
	b0, e0 := s.At(a, 1)
	if e0.Sub(b0) != 23*time.Hour {
		t.Errorf("2025-03-30 is %v long", e0.Sub(b0))
	}
	m, _ := stepper("P1M")
	a, _ = ParseTime("2025-02-28T23:00Z")
	b1, e1 := m.At(a, 2) // April 2025 starts after the spring change: 22:00Z
	if b1.Format(time.RFC3339) != "2025-03-31T22:00:00Z" || e1.Format(time.RFC3339) != "2025-04-30T22:00:00Z" {
		t.Errorf("April 2025: %s – %s", b1, e1)
	}
}

func TestMalformedDocumentsGiveClearErrors(t *testing.T) {
	for name, tc := range map[string]struct{ format, body, want string }{
		"truncated xml":   {FormatXML, `<cim:NotifyValidatedMeasureData_MarketDocument xmlns:cim="urn:x"><cim:mRID>1</cim:mRID><cim:Series>`, "malformed XML at line 1"},
		"not cim xml":     {FormatXML, `<feed xmlns="http://www.w3.org/2005/Atom"/>`, "not a CIM market document"},
		"bad position":    {FormatXML, doc(`<cim:position>x</cim:position><cim:quantity>1</cim:quantity>`), `Series 1 (mRID s1) Period 1 Point 1: position "x"`},
		"bad quantity":    {FormatXML, doc(`<cim:position>1</cim:position><cim:quantity>1,5</cim:quantity>`), `quantity: "1,5" is not a decimal`},
		"bad resolution":  {FormatXML, strings.Replace(doc(`<cim:position>1</cim:position>`), "PT1H", "PT7X", 1), `resolution "PT7X"`},
		"bad time":        {FormatXML, strings.Replace(doc(`<cim:position>1</cim:position>`), "2025-01-01T23:00Z", "yesterday", 1), `timeInterval.start: timestamp "yesterday"`},
		"truncated json":  {FormatJSON, `{"NotifyValidatedMeasureData_MarketDocument": {"mRID": "1", "Series": [`, "malformed JSON at byte"},
		"two roots json":  {FormatJSON, `{"A_MarketDocument": {"mRID": "1"}, "B": 1}`, "exactly one top-level key"},
		"no mrid":         {FormatJSON, `{"A_MarketDocument": {}}`, "has no mRID"},
		"deep json":       {FormatJSON, `{"A_MarketDocument": {"mRID": "1", "x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, "nested deeper"},
		"huge position":   {FormatXML, doc(`<cim:position>99999999</cim:position>`), "is not a number from 1 to"},
		"unknown unit":    {FormatXML, strings.Replace(doc(`<cim:position>1</cim:position><cim:quantity>1</cim:quantity>`), "KWH", "BTU", 1), ""},
		"period reversed": {FormatXML, strings.Replace(doc(`<cim:position>1</cim:position>`), "2025-01-02T01:00Z", "2025-01-01T22:00Z", 1), "is not after start"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Parse(tc.format, strings.NewReader(tc.body))
			if name == "unknown unit" {
				// Parsing keeps the code; storing refuses it by name.
				if err != nil {
					t.Fatal(err)
				}
				st := newStore(t)
				tx, _ := st.Begin(context.Background())
				defer tx.Rollback()
				_, err = Put(tx, d, PutOptions{})
				if err == nil || !strings.Contains(err.Error(), `unit code "BTU"`) {
					t.Errorf("Put = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func doc(point string) string {
	return `<?xml version="1.0"?><cim:NotifyValidatedMeasureData_MarketDocument xmlns:cim="urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1">
<cim:mRID>m1</cim:mRID><cim:Series><cim:mRID>s1</cim:mRID><cim:marketEvaluationPoint.mRID codingScheme="A10">571313100000001239</cim:marketEvaluationPoint.mRID>
<cim:product>8716867000030</cim:product><cim:quantity_Measure_Unit.name>KWH</cim:quantity_Measure_Unit.name>
<cim:Period><cim:resolution>PT1H</cim:resolution><cim:timeInterval><cim:start>2025-01-01T23:00Z</cim:start><cim:end>2025-01-02T01:00Z</cim:end></cim:timeInterval>
<cim:Point>` + point + `</cim:Point></cim:Period></cim:Series></cim:NotifyValidatedMeasureData_MarketDocument>`
}

func TestAbsentPositionsProduceNoRows(t *testing.T) {
	body := strings.Replace(doc(`<cim:position>1</cim:position><cim:quantity>1.067</cim:quantity>`), "</cim:Period>",
		`<cim:Point><cim:position>3</cim:position><cim:quantity>2</cim:quantity></cim:Point></cim:Period>`, 1)
	body = strings.Replace(body, "2025-01-02T01:00Z", "2025-01-02T02:00Z", 1)
	d, err := ParseXML(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	tx, _ := st.Begin(context.Background())
	res, err := Put(tx, d, PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	got := rows(t, st, "571313100000001239")
	if len(got) != 2 || res.Readings != 2 {
		t.Fatalf("rows %v", got)
	}
	if _, ok := got["8716867000030/PT1H/kWh@2025-01-02T00:00:00Z"]; ok {
		t.Error("position 2 is absent and must produce no row")
	}
	if r := got["8716867000030/PT1H/kWh@2025-01-01T23:00:00Z"]; strconvFormat(r.Reading.Value) != "1.067" {
		t.Errorf("1.067 stored as %v", r.Reading.Value)
	}
}

func TestDetect(t *testing.T) {
	for _, f := range []string{"peek-responses/measuredata_NotifyValidatedMeasureData_PT15M_day.xml", "legacy/NotifyValidatedMeasureData_2021_WithUnusedCimContent.xml"} {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		if !LooksLikeXML(b[:min(len(b), 4096)]) || LooksLikeJSON(b) {
			t.Errorf("%s not detected as CIM XML only", f)
		}
	}
	b, _ := os.ReadFile("testdata/incoming/NotifyValidatedMeasureData_PT1H_missing_quantity.json")
	if !LooksLikeJSON(b) || LooksLikeXML(b) {
		t.Error("BOM-prefixed CIM JSON not detected")
	}
	if LooksLikeJSON([]byte(`{"result":[]}`)) || LooksLikeXML([]byte(`<feed xmlns="http://www.w3.org/2005/Atom">`)) {
		t.Error("false positive")
	}
	if !errors.Is(func() error { _, err := ParseJSON(bytes.NewReader([]byte(`{"result": []}`))); return err }(), ErrNotCIM) {
		t.Error("Eloverblik JSON is not CIM")
	}
}
