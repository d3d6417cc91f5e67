package datahub

// Generated requests are checked against Energinet's schemas with real validators
// (internal/schematest: xmllint for XSD, jsonschema for JSON Schema).

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/sync/datahub/internal/schematest"
)

// xsdValidate validates doc against one of Energinet's XSD files with xmllint.
func xsdValidate(t *testing.T, file string, doc []byte) error {
	t.Helper()
	return schematest.ValidateXML(t, filepath.Join("testdata/schemas/xsd", file), doc)
}

func jsonSchemas(t *testing.T) *schematest.JSON {
	t.Helper()
	v, err := schematest.LoadJSON("testdata/schemas/json")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var requestSchemas = map[string]struct{ xsd, json string }{
	RequestValidated:  {"urn-ediel-org-measure-requestvalidatedmeasuredata-0-1.xsd", "Request-validated-measure-data-assembly-model.schema.json"},
	RequestAggregated: {"urn-ediel-org-measure-requestaggregatedmeasuredata-0-1.xsd", "Request-aggregated-measure-data-assembly-model.schema.json"},
	RequestWholesale:  {"urn-ediel-org-measure-requestwholesalesettlement-0-1.xsd", "Request-wholesale-settlement-assembly-model.schema.json"},
}

func TestValidatorsAcceptFixturesAndRejectBrokenCopies(t *testing.T) {
	js := jsonSchemas(t)
	for kind, fx := range map[string]string{RequestValidated: "RequestValidatedMeasureData", RequestAggregated: "RequestAggregatedMeasureData", RequestWholesale: "RequestWholesaleSettlement"} {
		x, _ := os.ReadFile("testdata/incoming/" + fx + ".xml")
		if err := xsdValidate(t, requestSchemas[kind].xsd, x); err != nil {
			t.Errorf("%s.xml: %v", fx, err)
		}
		broken := bytes.Replace(x, []byte("<cim:type>"), []byte("<cim:foo>1</cim:foo><cim:type>"), 1)
		if xsdValidate(t, requestSchemas[kind].xsd, broken) == nil {
			t.Errorf("%s.xml with an unknown element passed", fx)
		}
		j, _ := os.ReadFile("testdata/incoming/" + fx + ".json")
		if err := js.Validate(requestSchemas[kind].json, j); err != nil {
			t.Errorf("%s.json: %v", fx, err)
		}
		broken = bytes.Replace(j, []byte(`"mRID"`), []byte(`"mrid"`), 1)
		if js.Validate(requestSchemas[kind].json, broken) == nil {
			t.Errorf("%s.json with a misspelt property passed", fx)
		}
	}
	// The known-invalid fixture fails.
	b, _ := os.ReadFile("testdata/errors/FailSchemaValidationAggregatedMeasureData.json")
	if js.Validate(requestSchemas[RequestAggregated].json, b) == nil {
		t.Error("FailSchemaValidationAggregatedMeasureData.json passed the validator")
	}
	b, _ = os.ReadFile("testdata/errors/InvalidNotifyValidatedMeasureData_MissingRegistration.xml")
	if xsdValidate(t, "urn-ediel-org-measure-notifyvalidatedmeasuredata-0-1.xsd", b) == nil {
		t.Error("the document without registration_DateAndOrTime passed")
	}
}

// TestValidatorsCheckWhatAStructuralCheckMisses breaks the validated-data request in the ways
// a check of element names and order alone lets through: a namespace, a code-list value, an
// attribute, a pattern or length. Each broken copy must be refused.
func TestValidatorsCheckWhatAStructuralCheckMisses(t *testing.T) {
	x, err := os.ReadFile("testdata/incoming/RequestValidatedMeasureData.xml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := os.ReadFile("testdata/incoming/RequestValidatedMeasureData.json")
	if err != nil {
		t.Fatal(err)
	}
	js := jsonSchemas(t)
	for _, tc := range []struct {
		name, format, old, new string
	}{
		{"namespace", "xml", "urn:ediel.org:measure:requestvalidatedmeasuredata:0:1\"", "urn:ediel.org:measure:requestvalidatedmeasuredata:0:2\""},
		{"code list", "xml", "<cim:type>E73</cim:type>", "<cim:type>ZZZ</cim:type>"},
		{"attribute value", "xml", `codingScheme="A10">5799999933318`, `codingScheme="XX">5799999933318`},
		{"missing attribute", "xml", ` codingScheme="A10">5799999933318`, `>5799999933318`},
		{"length", "xml", `>5799999933318</cim:sender`, `>57999999333180000</cim:sender`}, // a party id has at most 16
		{"code list", "json", `"value": "E73"`, `"value": "ZZZ"`},
		{"attribute value", "json", `"codingScheme": "A10",
      "value": "5790001330552"`, `"codingScheme": "XX",
      "value": "5790001330552"`},
		{"length", "json", `"value": "5799999933318"`, `"value": "57999999333180000"`},
		{"date-time", "json", `"createdDateTime": "2022-12-17T09:30:47Z"`, `"createdDateTime": "17/12/2022"`},
	} {
		t.Run(tc.format+"/"+tc.name, func(t *testing.T) {
			doc := x
			if tc.format == "json" {
				doc = j
			}
			broken := bytes.Replace(doc, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(broken, doc) {
				t.Fatalf("the fixture has no %q to break", tc.old)
			}
			var err error
			if tc.format == "xml" {
				err = xsdValidate(t, requestSchemas[RequestValidated].xsd, broken)
			} else {
				err = js.Validate(requestSchemas[RequestValidated].json, broken)
			}
			if err == nil {
				t.Fatal("the broken copy passed")
			}
		})
	}
}

func sampleRequests() []Request {
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, Copenhagen)
	to := from.AddDate(0, 1, 0)
	created := time.Date(2025, 4, 2, 8, 0, 0, 0, time.UTC)
	return []Request{
		{Kind: RequestValidated, Sender: "5799999933318", SenderRole: "DDQ", Start: from, End: to, MeteringPoint: "571313100000001239", Created: created},
		{Kind: RequestAggregated, Sender: "5799999933318", SenderRole: "DDK", Start: from, End: to, GridArea: "804", MPType: "E17",
			SettlementMethod: "E02", EnergySupplier: "5790002606892", BalanceResponsible: "5799999933318", Created: created},
		{Kind: RequestAggregated, Sender: "5799999933318", SenderRole: "MDR", ProcessType: "D32", SettlementVersion: "D01", Start: from, End: to, Created: created},
		{Kind: RequestWholesale, Sender: "5799999933318", SenderRole: "DDQ", Start: from, End: to, GridArea: "804", EnergySupplier: "5799999933318",
			ChargeOwner: "5790000432752", ChargeCode: "40000", ChargeType: "D03", Resolution: "P1M", Created: created},
		{Kind: RequestWholesale, Sender: "10X1001A1001A248", SenderRole: "DDQ", Start: from, End: to, Created: created},
	}
}

func TestGeneratedRequestsAreValidAgainstTheSchemas(t *testing.T) {
	js := jsonSchemas(t)
	for _, r := range sampleRequests() {
		for _, format := range []string{"xml", "json"} {
			r := r
			body, err := r.Build(format)
			if err != nil {
				t.Fatalf("%s %s: %v", r.Kind, format, err)
			}
			if format == "xml" {
				err = xsdValidate(t, requestSchemas[r.Kind].xsd, body)
			} else {
				err = js.Validate(requestSchemas[r.Kind].json, body)
			}
			if err != nil {
				t.Errorf("%s %s: %v\n%s", r.Kind, format, err, body)
			}
			// And our own parser reads back what was written.
			d, err := Parse(map[string]string{"xml": FormatXML, "json": FormatJSON}[format], bytes.NewReader(body))
			if err != nil || d.MRID != r.MessageID || d.Series[0].MRID != r.SeriesID || len(r.MessageID) != 32 {
				t.Errorf("%s %s read back: %+v, %v", r.Kind, format, d, err)
			}
			if d.Series[0].RequestStart != "2025-02-28T23:00:00Z" || d.Series[0].RequestEnd != "2025-03-31T22:00:00Z" {
				t.Errorf("period written as %s – %s; want Danish midnights in UTC", d.Series[0].RequestStart, d.Series[0].RequestEnd)
			}
		}
	}
}

func TestRequestValidation(t *testing.T) {
	ok := sampleRequests()[0]
	for name, mutate := range map[string]func(*Request){
		"not midnight": func(r *Request) { r.Start = r.Start.Add(time.Hour) },
		"bad gsrn":     func(r *Request) { r.MeteringPoint = "123" },
		"bad sender":   func(r *Request) { r.Sender = "x" },
		"no role":      func(r *Request) { r.SenderRole = "" },
		"reversed":     func(r *Request) { r.Start, r.End = r.End, r.Start },
		"long id":      func(r *Request) { r.MessageID = strings.Repeat("a", 37) },
		"two months": func(r *Request) {
			r.Kind = RequestAggregated
			r.End = r.Start.AddDate(0, 2, 0)
		},
	} {
		r := ok
		mutate(&r)
		if _, err := r.Build("xml"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRenderEscapes writes text and attributes that need escaping and reads them back.
func TestRenderEscapes(t *testing.T) {
	const text, scheme = `a<b>&"c'`, `A&"1`
	doc := Render("xml", "Test_MarketDocument", "urn:test:0:1", []El{
		PlainEl("mRID", text), PartyEl("sender_MarketParticipant.mRID", scheme, text), GroupEl("Series", PlainEl("empty", "")),
	})
	if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<cim:Test_MarketDocument xmlns:xsi=`)) {
		t.Fatalf("head:\n%s", doc)
	}
	var got struct {
		MRID   string `xml:"urn:test:0:1 mRID"`
		Sender struct {
			Scheme string `xml:"codingScheme,attr"`
			Text   string `xml:",chardata"`
		} `xml:"urn:test:0:1 sender_MarketParticipant.mRID"`
		Empty *string `xml:"urn:test:0:1 Series>empty"`
	}
	if err := xml.Unmarshal(doc, &got); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if got.MRID != text || got.Sender.Text != text || got.Sender.Scheme != scheme || got.Empty == nil || *got.Empty != "" {
		t.Fatalf("read back %+v\n%s", got, doc)
	}
}
