package datahub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"custody/store"
)

// TestImportMatchesParseAndPut checks that the one-pass import stores exactly what parsing the
// whole document and then storing it does, for every data fixture.
func TestImportMatchesParseAndPut(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*")
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || strings.Contains(f, "schemas") {
			continue
		}
		format := ""
		switch {
		case LooksLikeXML(b):
			format = FormatXML
		case LooksLikeJSON(b):
			format = FormatJSON
		default:
			continue
		}
		export := func(st *store.Store) string {
			var sb strings.Builder
			err := st.ExportReadings(context.Background(), store.ExportFilter{}, func(r store.ExportRow) error {
				sb.WriteString(r.Meter + "," + r.Series + "," + r.Unit + "," + r.Currency + "," + strconvFormat(r.Reading.Value) + "," +
					strconvFormat(r.Reading.Cost) + "," + r.Reading.Quality + "\n")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return sb.String()
		}
		a, bst := newStore(t), newStore(t)
		txa, _ := a.Begin(context.Background())
		_, resA, errA := Import(txa, format, bytes.NewReader(b), PutOptions{})
		if errA == nil {
			txa.Commit()
		}
		txa.Rollback()
		txb, _ := bst.Begin(context.Background())
		d, errB := Parse(format, bytes.NewReader(b))
		var resB PutResult
		if errB == nil {
			resB, errB = Put(txb, d, PutOptions{})
		}
		if errB == nil {
			txb.Commit()
		}
		txb.Rollback()
		if (errA == nil) != (errB == nil) {
			t.Errorf("%s: import %v, parse+put %v", f, errA, errB)
			continue
		}
		if errA != nil {
			continue
		}
		n++
		if ea, eb := export(a), export(bst); ea != eb {
			t.Errorf("%s: import stored\n%s\nparse+put stored\n%s", f, ea, eb)
		}
		resA.Message.Attrs, resB.Message.Attrs = nil, nil
		if !reflect.DeepEqual(resA.Warnings, resB.Warnings) || resA.Readings != resB.Readings || resA.Series != resB.Series {
			t.Errorf("%s: results differ: %+v vs %+v", f, resA, resB)
		}
	}
	if n < 10 {
		t.Fatalf("only %d fixtures compared", n)
	}
}

func TestStreamingRefusesMisorderedDocuments(t *testing.T) {
	xmlDoc := func(series string) string {
		return `<cim:NotifyValidatedMeasureData_MarketDocument xmlns:cim="urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1">
<cim:mRID>m1</cim:mRID><cim:process.processType>E23</cim:process.processType><cim:Series>` + series + `</cim:Series></cim:NotifyValidatedMeasureData_MarketDocument>`
	}
	period := `<cim:Period><cim:resolution>PT1H</cim:resolution><cim:timeInterval><cim:start>2025-01-01T23:00Z</cim:start><cim:end>2025-01-02T23:00Z</cim:end></cim:timeInterval><cim:Point><cim:position>1</cim:position><cim:quantity>1.5</cim:quantity></cim:Point></cim:Period>`
	head := `<cim:mRID>s1</cim:mRID><cim:marketEvaluationPoint.mRID>571313100000001239</cim:marketEvaluationPoint.mRID><cim:quantity_Measure_Unit.name>KWH</cim:quantity_Measure_Unit.name>`
	for name, c := range map[string]struct{ doc, want string }{
		"field after Period": {xmlDoc(head + period + `<cim:product>8716867000030</cim:product>`), "product after its Period"},
		"resolution after Points": {xmlDoc(head + strings.Replace(period, `</cim:Period>`, `<cim:resolution>PT1H</cim:resolution></cim:Period>`, 1)),
			"resolution after the Points"},
		"process after Series (JSON)": {`{"NotifyValidatedMeasureData_MarketDocument": {"mRID": "m1", "process.processType": {"value": "E23"}, "Series": [{"mRID": "s1",
			"marketEvaluationPoint.mRID": {"value": "571313100000001239"}, "quantity_Measure_Unit.name": {"value": "KWH"},
			"Period": {"resolution": "PT1H", "timeInterval": {"start": {"value": "2025-01-01T23:00Z"}, "end": {"value": "2025-01-02T23:00Z"}},
			"Point": [{"position": {"value": 1}, "quantity": 1.5}]}}], "process.processType": {"value": "D42"}}}`, "process.processType comes after the Series"},
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			tx, _ := st.Begin(context.Background())
			defer tx.Rollback()
			format := FormatXML
			if strings.HasPrefix(c.doc, "{") {
				format = FormatJSON
			}
			_, _, err := Import(tx, format, strings.NewReader(c.doc), PutOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("import = %v, want an error saying %q", err, c.want)
			}
		})
	}
	// A JSON Period may come as an array and a Point alone, not in an array: both are read.
	doc := `{"NotifyValidatedMeasureData_MarketDocument": {"mRID": "m1", "process.processType": {"value": "E23"}, "Series": [{"mRID": "s1",
		"marketEvaluationPoint.mRID": {"value": "571313100000001239"}, "quantity_Measure_Unit.name": {"value": "KWH"},
		"Period": [{"resolution": "PT1H", "timeInterval": {"start": {"value": "2025-01-01T23:00Z"}, "end": {"value": "2025-01-02T23:00Z"}},
		"Point": {"position": {"value": 2}, "quantity": 1.5}}]}]}}`
	d, err := ParseJSON(strings.NewReader(doc))
	if err != nil || len(d.Series) != 1 || len(d.Series[0].Periods) != 1 || len(d.Series[0].Periods[0].Points) != 1 ||
		d.Series[0].Periods[0].Points[0].Position != 2 {
		t.Fatalf("parsed %+v, %v", d, err)
	}
}
