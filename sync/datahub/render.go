package datahub

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/beevik/etree"
)

// Kind says how a value is written in CIM JSON (XML writes every kind as element text).
type Kind int

// The kinds of CIM values.
const (
	Plain    Kind = iota // a JSON string: mRID, createdDateTime, product, resolution
	Coded                // {"value": "E17"}
	Party                // {"codingScheme": "A10", "value": "..."}; XML codingScheme attribute
	Number               // a bare JSON number: quantity
	CodedNum             // {"value": 1}: position, price.amount
	Group                // an object / element with children
	List                 // a JSON array of objects; repeated elements in XML
)

// El is one element of a CIM document to write.
type El struct {
	Name   string
	Kind   Kind
	Text   string
	Scheme string
	Kids   []El
}

// PlainEl is a plain string element.
func PlainEl(name, text string) El { return El{Name: name, Kind: Plain, Text: text} }

// CodedEl is a coded value.
func CodedEl(name, text string) El { return El{Name: name, Kind: Coded, Text: text} }

// PartyEl is a party or area id with its coding scheme.
func PartyEl(name, scheme, text string) El {
	return El{Name: name, Kind: Party, Text: text, Scheme: scheme}
}

// NumberEl is a bare number (a quantity).
func NumberEl(name, text string) El { return El{Name: name, Kind: Number, Text: text} }

// CodedNumEl is a number wrapped as a coded value (position, price.amount).
func CodedNumEl(name, text string) El { return El{Name: name, Kind: CodedNum, Text: text} }

// GroupEl is an element with children (Period, timeInterval).
func GroupEl(name string, kids ...El) El { return El{Name: name, Kind: Group, Kids: kids} }

// ListEl is a repeated element (Series, Point, Reason); each item is a GroupEl.
func ListEl(name string, items ...El) El { return El{Name: name, Kind: List, Kids: items} }

// optional returns e alone, or nothing when e is empty.
func optional(e El) []El {
	if e.Text == "" && len(e.Kids) == 0 {
		return nil
	}
	return []El{e}
}

// Render writes a CIM document with the given root element, namespace and children, in CIM
// XML ("xml", with the cim: prefix and declaration, as DataHub writes it) or CIM JSON ("json").
func Render(format, root, namespace string, kids []El) []byte {
	if format == "json" {
		var b bytes.Buffer
		b.WriteString("{\n  ")
		writeJSONString(&b, root)
		b.WriteString(": ")
		writeJSONObject(&b, kids, 2)
		b.WriteString("\n}\n")
		return b.Bytes()
	}
	return renderXML(root, namespace, kids)
}

// renderXML writes the document as DataHub writes CIM XML: the declaration, the cim: prefix on
// every element, codingScheme attributes, two-space indentation. etree does the escaping.
func renderXML(root, namespace string, kids []El) []byte {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	r := doc.CreateElement("cim:" + root)
	r.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	r.CreateAttr("xmlns:cim", namespace)
	r.CreateAttr("xsi:schemaLocation", namespace+" "+xsdName(namespace))
	for _, k := range kids {
		addXML(r, k)
	}
	doc.Indent(2)
	var b bytes.Buffer
	doc.WriteTo(&b) // a bytes.Buffer does not fail
	return b.Bytes()
}

func xsdName(ns string) string {
	return strings.NewReplacer(":", "-", ".", "-").Replace(ns) + ".xsd"
}

// addXML adds e (a repeated list becomes one element per item) below parent.
func addXML(parent *etree.Element, e El) {
	switch e.Kind {
	case List:
		for _, item := range e.Kids {
			addXML(parent, GroupEl(e.Name, item.Kids...))
		}
	case Group:
		g := parent.CreateElement("cim:" + e.Name)
		for _, k := range e.Kids {
			addXML(g, k)
		}
	default:
		x := parent.CreateElement("cim:" + e.Name)
		if e.Kind == Party && e.Scheme != "" {
			x.CreateAttr("codingScheme", e.Scheme)
		}
		x.SetText(e.Text)
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

func writeJSONObject(b *bytes.Buffer, kids []El, depth int) {
	indent := strings.Repeat("  ", depth)
	b.WriteString("{")
	for i, k := range kids {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n" + indent + "  ")
		writeJSONString(b, k.Name)
		b.WriteString(": ")
		writeJSONValue(b, k, depth+1)
	}
	b.WriteString("\n" + indent + "}")
}

func writeJSONValue(b *bytes.Buffer, e El, depth int) {
	switch e.Kind {
	case Plain:
		writeJSONString(b, e.Text)
	case Coded:
		b.WriteString(`{"value": `)
		writeJSONString(b, e.Text)
		b.WriteString("}")
	case Party:
		b.WriteString(`{"codingScheme": `)
		writeJSONString(b, e.Scheme)
		b.WriteString(`, "value": `)
		writeJSONString(b, e.Text)
		b.WriteString("}")
	case Number:
		b.WriteString(jsonNumber(e.Text))
	case CodedNum:
		b.WriteString(`{"value": ` + jsonNumber(e.Text) + "}")
	case Group:
		writeJSONObject(b, e.Kids, depth)
	case List:
		indent := strings.Repeat("  ", depth)
		b.WriteString("[")
		for i, item := range e.Kids {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + indent + "  ")
			writeJSONObject(b, item.Kids, depth+1)
		}
		b.WriteString("\n" + indent + "]")
	}
}

// jsonNumber returns text when it is a valid JSON number, else it quoted (never invalid JSON).
func jsonNumber(text string) string {
	if json.Valid([]byte(text)) {
		if _, err := ParseDecimal(text); err == nil {
			return text
		}
	}
	enc, _ := json.Marshal(text)
	return string(enc)
}
