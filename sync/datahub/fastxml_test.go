package datahub

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// parseBothWays parses b with the fast path for Points and with the decoder alone.
func parseBothWays(b []byte) (fast, slow *Document, fastErr, slowErr error) {
	defer func() { fastPoints = true }()
	fastPoints = true
	fast, fastErr = ParseXML(bytes.NewReader(b))
	fastPoints = false
	slow, slowErr = ParseXML(bytes.NewReader(b))
	return
}

func sameReading(t *testing.T, name string, b []byte) {
	t.Helper()
	fast, slow, fe, se := parseBothWays(b)
	if (fe == nil) != (se == nil) || (fe != nil && fe.Error() != se.Error()) {
		t.Fatalf("%s: fast path error %v, decoder error %v", name, fe, se)
	}
	if fe == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s: the fast path read\n%+v\nthe decoder read\n%+v", name, fast, slow)
	}
}

// TestFastPointsReadAsTheDecoderDoes compares the fast path with encoding/xml on every XML
// fixture, a big bundle, and Points the fast path must leave to the decoder.
func TestFastPointsReadAsTheDecoderDoes(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.xml")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sameReading(t, f, b)
	}
	sameReading(t, "bundle", bigDocument("xml", 30))
	var big bytes.Buffer
	writeBigXML(&big, 3, 200) // positions past the day, indented as DataHub writes
	sameReading(t, "indented", big.Bytes())

	base := string(bigDocument("xml", 1))
	// The fifth Point, replaced by each case below.
	at := 0
	for i := 0; i < 5; i++ {
		at += strings.Index(base[at:], "<cim:Point>") + 1
	}
	at--
	pt := base[at : at+strings.Index(base[at:], "</cim:Point>")+len("</cim:Point>")]
	if !strings.Contains(pt, "<cim:position>5</cim:position>") {
		t.Fatalf("the fifth point is %s", pt)
	}
	for name, repl := range map[string]string{
		"comment inside":     "<cim:Point><!-- c --><cim:position>5</cim:position><cim:quantity>1.25</cim:quantity></cim:Point>",
		"entity in text":     "<cim:Point><cim:position>&#53;</cim:position><cim:quantity>1.25</cim:quantity></cim:Point>",
		"attribute":          `<cim:Point a="1"><cim:position>5</cim:position><cim:quantity>1.25</cim:quantity></cim:Point>`,
		"self-closing child": "<cim:Point><cim:position>5</cim:position><cim:quantity/></cim:Point>",
		"CDATA":              "<cim:Point><cim:position><![CDATA[5]]></cim:position></cim:Point>",
		"mismatched end":     "<cim:Point><cim:position>5</cim:positio></cim:Point>",
		"mismatched prefix":  "<cim:Point><cim:position>5</x:position></cim:Point>",
		"unclosed point":     "<cim:Point><cim:position>5</cim:position>",
		"bad position":       "<cim:Point><cim:position>x</cim:position></cim:Point>",
		"bad quantity":       "<cim:Point><cim:position>5</cim:position><cim:quantity>1,5</cim:quantity></cim:Point>",
		"lines before error": "<cim:Point>\n\n<cim:position>5</cim:position>\n</cim:Point>\n<cim:Point><cim:position>0</cim:position></cim:Point>",
		"lines then bad xml": "<cim:Point>\n\n<cim:position>5</cim:position>\n</cim:Point>\n<cim:Point><cim:position>6</cim:position></cim:Point><</cim:Point>",
		"nested element":     "<cim:Point><cim:position>5</cim:position><cim:x><cim:y>1</cim:y></cim:x></cim:Point>",
		"duplicate position": "<cim:Point><cim:position>5</cim:position><cim:position>6</cim:position></cim:Point>",
		"energy quantity":    "<cim:Point><cim:position>5</cim:position><cim:energy_Quantity.quantity>2</cim:energy_Quantity.quantity><cim:price.amount>0.1</cim:price.amount><cim:energySum_Quantity.quantity>0.2</cim:energySum_Quantity.quantity></cim:Point>",
		"non-ASCII":          "<cim:Point><cim:position>5</cim:position><cim:quality>Å</cim:quality></cim:Point>",
		"unprefixed":         "<Point><position>5</position><quantity>2</quantity></Point>",
		"other local name":   "<cim:Pointer><cim:position>5</cim:position></cim:Pointer>",
	} {
		sameReading(t, name, []byte(strings.Replace(base, pt, repl, 1)))
	}
}

// parseJSONBothWays parses b decoding each Point whole and reading it token by token.
func parseJSONBothWays(b []byte) (fast, slow *Document, fastErr, slowErr error) {
	defer func() { fastPoints = true }()
	fastPoints = true
	fast, fastErr = ParseJSON(bytes.NewReader(b))
	fastPoints = false
	slow, slowErr = ParseJSON(bytes.NewReader(b))
	return
}

// TestJSONPointsReadAsTheTreeReaderDoes compares decoding JSON Points whole with reading them
// token by token, on every JSON fixture and a bundle. Errors may be worded differently; both
// must refuse the same documents.
func TestJSONPointsReadAsTheTreeReaderDoes(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.json")
	files = append(files, "bundle")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if f == "bundle" {
			b = bigDocument("json", 20)
		}
		fast, slow, fe, se := parseJSONBothWays(b)
		if (fe == nil) != (se == nil) {
			t.Fatalf("%s: decoded %v, token by token %v", f, fe, se)
		}
		if fe == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s: decoded\n%+v\ntoken by token\n%+v", f, fast, slow)
		}
	}
}
