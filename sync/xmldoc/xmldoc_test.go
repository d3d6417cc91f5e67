package xmldoc

import (
	"runtime"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

var lim = Limits{MaxBytes: 1 << 20, MaxElements: 1000}

func TestReadRefusesWhatIsNotOneSmallDocument(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "  ", "the body holds no XML element"},
		{"text only", "hello", "the body holds no XML element"},
		{"unfinished", `<a xmlns="urn:x"><b>`, "the document ends early or closes an element it did not open"},
		{"mismatched", `<a><b></a>`, "the document ends early or closes an element it did not open"},
		{"two roots", `<a/><b/>`, "more than one root element (a, b)"},
		{"entity", `<a>&foo;</a>`, "invalid character entity &foo;"},
		{"too large", "<a>" + strings.Repeat("x", 1<<20) + "</a>", "larger than 1048576 bytes"},
		{"too many", "<a>" + strings.Repeat("<b/>", 1000) + "</a>", "more than 1000 elements"},
		{"too deep", strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40), "nested more than 32 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.doc), "the answer", lim)
			if err == nil || !strings.HasPrefix(err.Error(), "the answer: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadMatchesByNamespaceNotPrefix(t *testing.T) {
	doc := "\xef\xbb\xbf" + `<?xml version="1.0"?><p:BatchList xmlns:p="http://naesb.org/espi" xmlns="urn:other">
		<p:resources>https://a/1</p:resources><resources>https://a/2</resources></p:BatchList>`
	root, err := Read(strings.NewReader(doc), "BatchList", lim)
	if err != nil {
		t.Fatal(err)
	}
	if !Is(root, "http://naesb.org/espi", "BatchList") || Is(root, "urn:other", "BatchList") {
		t.Fatalf("root %s in %s", root.Tag, root.NamespaceURI())
	}
	if c := Child(root, "http://naesb.org/espi", "resources"); c == nil || c.Text() != "https://a/1" {
		t.Fatalf("espi resources: %v", c)
	}
	if c := Child(root, "urn:other", "resources"); c == nil || c.Text() != "https://a/2" {
		t.Fatalf("other resources: %v", c)
	}
	var names []string
	Walk(root, func(e *etree.Element) { names = append(names, e.Tag) })
	if strings.Join(names, ",") != "BatchList,resources,resources" {
		t.Fatalf("walk: %v", names)
	}
}

// TestReadStaysBoundedAtItsLimits reads the worst document the limits let through (the most
// elements, each as small as can be) and checks what it costs in memory.
func TestReadStaysBoundedAtItsLimits(t *testing.T) {
	const n = 200_000
	doc := []byte("<a>" + strings.Repeat("<b/>", n-1) + "</a>")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	root, err := Parse(doc, "big", Limits{MaxBytes: 16 << 20, MaxElements: n})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(root.ChildElements()) != n-1 {
		t.Fatalf("%d children", len(root.ChildElements()))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d elements: %d MB allocated", n, alloc>>20)
	if alloc > 200<<20 {
		t.Fatalf("%d elements took %d MB", n, alloc>>20)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`<ns:token xmlns:ns="urn:t"><ns:access_token>t</ns:access_token></ns:token>`))
	f.Add([]byte(`<BatchList xmlns="http://naesb.org/espi"><resources>https://a/b</resources></BatchList>`))
	f.Add([]byte(`<a><b></a>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := Parse(b, "doc", lim)
		if err == nil {
			n := 0
			Walk(root, func(*etree.Element) { n++ })
			if n > lim.MaxElements {
				t.Fatalf("%d elements passed a limit of %d", n, lim.MaxElements)
			}
		} else if !strings.HasPrefix(err.Error(), "doc: ") {
			t.Fatalf("error does not name the document: %v", err)
		}
	})
}
