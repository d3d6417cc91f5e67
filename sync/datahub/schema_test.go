package datahub

// A small structural validator for the XSD and JSON Schema files in testdata/schemas, so
// generated documents are checked against Energinet's own schemas without a system tool
// (xmllint is not installed on the build machines). XSD: element names, order, minOccurs and
// maxOccurs of every xs:sequence, nested complex types, no unknown elements, xs:dateTime
// values. JSON Schema (draft-07 subset used by these files): $ref across files, type,
// properties, required, additionalProperties, enum, oneOf, pattern, maxLength, items, minItems.
// Each validator is itself tested on the valid fixtures and on broken copies.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type xsdElement struct {
	Name      string `xml:"name,attr"`
	Type      string `xml:"type,attr"`
	MinOccurs string `xml:"minOccurs,attr"`
	MaxOccurs string `xml:"maxOccurs,attr"`
}

type xsdSchema struct {
	Elements     []xsdElement `xml:"element"`
	ComplexTypes []struct {
		Name     string       `xml:"name,attr"`
		Sequence []xsdElement `xml:"sequence>element"`
	} `xml:"complexType"`
}

type xsdValidator struct {
	root  map[string]string       // element name → type
	types map[string][]xsdElement // complex type with a sequence → its elements
}

func loadXSD(t *testing.T, file string) *xsdValidator {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/schemas/xsd", file))
	if err != nil {
		t.Fatal(err)
	}
	var s xsdSchema
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	v := &xsdValidator{root: map[string]string{}, types: map[string][]xsdElement{}}
	for _, e := range s.Elements {
		v.root[e.Name] = strings.TrimPrefix(e.Type, "cim:")
	}
	for _, ct := range s.ComplexTypes {
		if len(ct.Sequence) > 0 {
			v.types[ct.Name] = ct.Sequence
		}
	}
	return v
}

func (v *xsdValidator) validate(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte{0xEF, 0xBB, 0xBF})))
	start, err := firstStart(dec)
	if err != nil {
		return err
	}
	typ, ok := v.root[start.Name.Local]
	if !ok {
		return fmt.Errorf("root %s is not declared", start.Name.Local)
	}
	n, err := readXMLNode(dec, start, 1)
	if err != nil {
		return err
	}
	return v.check(n, typ, n.name)
}

func (v *xsdValidator) check(n *node, typ, path string) error {
	seq, complex := v.types[typ]
	if !complex {
		if len(n.kids) > 0 {
			return fmt.Errorf("%s: simple content expected, found <%s>", path, n.kids[0].name)
		}
		if typ == "xs:dateTime" {
			if _, err := time.Parse(time.RFC3339, n.text); err != nil {
				return fmt.Errorf("%s: %q is not an xs:dateTime", path, n.text)
			}
		}
		return nil
	}
	i := 0
	for _, el := range seq {
		count := 0
		for i < len(n.kids) && n.kids[i].name == el.Name {
			if err := v.check(n.kids[i], strings.TrimPrefix(el.Type, "cim:"), path+"/"+el.Name); err != nil {
				return err
			}
			i++
			count++
		}
		min := 1
		if el.MinOccurs == "0" {
			min = 0
		}
		if count < min {
			return fmt.Errorf("%s: required <%s> missing or out of order", path, el.Name)
		}
		if el.MaxOccurs != "unbounded" && count > 1 {
			return fmt.Errorf("%s: <%s> %d times", path, el.Name, count)
		}
	}
	if i < len(n.kids) {
		return fmt.Errorf("%s: unexpected or misplaced <%s>", path, n.kids[i].name)
	}
	return nil
}

type jsonValidator struct {
	files map[string]map[string]any
}

func loadJSONSchemas(t *testing.T) *jsonValidator {
	t.Helper()
	v := &jsonValidator{files: map[string]map[string]any{}}
	paths, _ := filepath.Glob("testdata/schemas/json/*.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF}), &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		v.files[filepath.Base(p)] = m
	}
	return v
}

func (v *jsonValidator) validate(file string, doc []byte) error {
	var x any
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte{0xEF, 0xBB, 0xBF})))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return err
	}
	return v.check(file, v.files[file], x, "$")
}

func (v *jsonValidator) resolve(file, ref string) (string, map[string]any) {
	f, frag, _ := strings.Cut(ref, "#")
	if f != "" {
		file = f
	}
	node := any(v.files[file])
	for _, part := range strings.Split(strings.Trim(frag, "/"), "/") {
		if part == "" {
			continue
		}
		node = node.(map[string]any)[part]
	}
	m, _ := node.(map[string]any)
	return file, m
}

func (v *jsonValidator) check(file string, s map[string]any, x any, path string) error {
	if s == nil {
		return fmt.Errorf("%s: schema not found", path)
	}
	if ref, ok := s["$ref"].(string); ok {
		f, target := v.resolve(file, ref)
		return v.check(f, target, x, path)
	}
	if one, ok := s["oneOf"].([]any); ok {
		matches := 0
		for _, alt := range one {
			if v.check(file, alt.(map[string]any), x, path) == nil {
				matches++
			}
		}
		if matches != 1 {
			return fmt.Errorf("%s: %v matches %d of oneOf", path, x, matches)
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || fmt.Sprint(e) == fmt.Sprint(x)
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum", path, x)
		}
	}
	switch s["type"] {
	case "object":
		obj, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: object expected", path)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q missing", path, r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: property %q not allowed", path, k)
				}
				continue
			}
			if err := v.check(file, ps, val, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := x.([]any)
		if !ok {
			return fmt.Errorf("%s: array expected", path)
		}
		if min, ok := s["minItems"].(float64); ok && float64(len(arr)) < min {
			return fmt.Errorf("%s: fewer than %v items", path, min)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range arr {
				if err := v.check(file, items, it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := x.(string)
		if !ok {
			return fmt.Errorf("%s: string expected, got %v", path, x)
		}
		if max, ok := s["maxLength"].(float64); ok && float64(len([]rune(str))) > max {
			return fmt.Errorf("%s: longer than %v", path, max)
		}
		if p, ok := s["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err == nil && !re.MatchString(str) {
				return fmt.Errorf("%s: %q does not match %s", path, str, p)
			}
		}
	case "number", "integer":
		if _, ok := x.(json.Number); !ok {
			return fmt.Errorf("%s: number expected, got %v", path, x)
		}
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

var requestSchemas = map[string]struct{ xsd, json string }{
	RequestValidated:  {"urn-ediel-org-measure-requestvalidatedmeasuredata-0-1.xsd", "Request-validated-measure-data-assembly-model.schema.json"},
	RequestAggregated: {"urn-ediel-org-measure-requestaggregatedmeasuredata-0-1.xsd", "Request-aggregated-measure-data-assembly-model.schema.json"},
	RequestWholesale:  {"urn-ediel-org-measure-requestwholesalesettlement-0-1.xsd", "Request-wholesale-settlement-assembly-model.schema.json"},
}

func TestValidatorsAcceptFixturesAndRejectBrokenCopies(t *testing.T) {
	js := loadJSONSchemas(t)
	for kind, fx := range map[string]string{RequestValidated: "RequestValidatedMeasureData", RequestAggregated: "RequestAggregatedMeasureData", RequestWholesale: "RequestWholesaleSettlement"} {
		x, _ := os.ReadFile("testdata/incoming/" + fx + ".xml")
		if err := loadXSD(t, requestSchemas[kind].xsd).validate(x); err != nil {
			t.Errorf("%s.xml: %v", fx, err)
		}
		broken := bytes.Replace(x, []byte("<cim:type>"), []byte("<cim:foo>1</cim:foo><cim:type>"), 1)
		if loadXSD(t, requestSchemas[kind].xsd).validate(broken) == nil {
			t.Errorf("%s.xml with an unknown element passed", fx)
		}
		j, _ := os.ReadFile("testdata/incoming/" + fx + ".json")
		if err := js.validate(requestSchemas[kind].json, j); err != nil {
			t.Errorf("%s.json: %v", fx, err)
		}
		broken = bytes.Replace(j, []byte(`"mRID"`), []byte(`"mrid"`), 1)
		if js.validate(requestSchemas[kind].json, broken) == nil {
			t.Errorf("%s.json with a misspelt property passed", fx)
		}
	}
	// The known-invalid fixture fails.
	b, _ := os.ReadFile("testdata/errors/FailSchemaValidationAggregatedMeasureData.json")
	if js.validate(requestSchemas[RequestAggregated].json, b) == nil {
		t.Error("FailSchemaValidationAggregatedMeasureData.json passed the validator")
	}
	b, _ = os.ReadFile("testdata/errors/InvalidNotifyValidatedMeasureData_MissingRegistration.xml")
	if loadXSD(t, "urn-ediel-org-measure-notifyvalidatedmeasuredata-0-1.xsd").validate(b) == nil {
		t.Error("the document without registration_DateAndOrTime passed")
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
	js := loadJSONSchemas(t)
	for _, r := range sampleRequests() {
		for _, format := range []string{"xml", "json"} {
			r := r
			body, err := r.Build(format)
			if err != nil {
				t.Fatalf("%s %s: %v", r.Kind, format, err)
			}
			if format == "xml" {
				err = loadXSD(t, requestSchemas[r.Kind].xsd).validate(body)
			} else {
				err = js.validate(requestSchemas[r.Kind].json, body)
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
