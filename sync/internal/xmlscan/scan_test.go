package xmlscan

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every token, returning the concatenated text and the first error.
func readAll(r io.Reader) (string, error) {
	s := New(r)
	var b strings.Builder
	for {
		k, err := s.Next()
		if err != nil {
			return b.String(), err
		}
		switch k {
		case EOF:
			return b.String(), nil
		case Text:
			b.Write(s.Text())
		case Start:
			if v := s.Attr("href"); v != nil {
				b.Write(v)
			}
		}
	}
}

// TestForbiddenCharacters refuses what XML 1.0 does not allow in a document, wherever it
// is (text, attribute, character reference), naming the line and column; the characters it
// allows pass, also when a UTF-8 sequence is split between two reads.
func TestForbiddenCharacters(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string // "" when the document is fine; else a part of the error
		line, col int
	}{
		{"tab newline return", "<a>x\ty\r\nz</a>", "", 0, 0},
		{"accented and astral", "<a>é€😀 \uFFFD</a>", "", 0, 0},
		{"DEL and C1 are allowed by XML 1.0", "<a>\x7f\u0085</a>", "", 0, 0},
		{"NUL in text", "<a>\n<b>x\x00y</b></a>", "0x00 (NUL)", 2, 5},
		{"ESC in an href", "<a>\n<link href=\"http://h/\x1b]0;owned\x07\"/></a>", "0x1B (ESC)", 2, 22},
		{"bell", "<a>\a</a>", "0x07", 1, 4},
		{"invalid UTF-8", "<a>ok\xff</a>", "not valid UTF-8 (byte 0xFF)", 1, 6},
		{"overlong UTF-8", "<a>\xc0\xaf</a>", "not valid UTF-8", 1, 4},
		{"UTF-8 surrogate", "<a>\xed\xa0\x80</a>", "not valid UTF-8", 1, 4},
		{"U+FFFE", "<a>\uFFFE</a>", "U+FFFE", 1, 4},
		{"truncated sequence at the end", "<a>x</a>\xe2\x82", "not valid UTF-8", 1, 9},
		{"reference to ESC", "<a>&#27;</a>", "character reference &#27;", 1, 4},
		{"reference to NUL", "<a>&#x0;</a>", "character reference &#x0;", 1, 4},
		{"reference to a surrogate", "<a>&#xD800;</a>", "character reference &#xD800;", 1, 4},
		{"reference to ESC in an attribute", "<a href='&#x1B;'/>", "character reference &#x1B;", 1, 1},
		{"reference to a tab", "<a>&#9;</a>", "", 0, 0},
		{"32 printable bytes", "<a>0123456789abcdefghijklmn</a>", "", 0, 0},
		{"ESC as byte 17", "<a>0123456789abcd\x1b</a>", "0x1B", 1, 18},
	}
	for _, tt := range tests {
		for _, reader := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"byte by byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
		} {
			_, err := readAll(reader.r(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Errorf("%s (%s): %v", tt.name, reader.name, err)
				}
				continue
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s (%s): got %v, want an error about %q", tt.name, reader.name, err, tt.want)
				continue
			}
			if se.Line != tt.line || se.Col != tt.col {
				t.Errorf("%s (%s): error at %d:%d, want %d:%d (%v)", tt.name, reader.name, se.Line, se.Col, tt.line, tt.col, err)
			}
		}
	}
}

// TestNextChildAndTextContent walks children with the one helper: unread children are
// skipped, text comes trimmed from the fast path and from the slow one (entities, comments,
// CDATA, text split by a child), and namespaces resolve by URI.
func TestNextChildAndTextContent(t *testing.T) {
	doc := `<r xmlns="urn:a" xmlns:b="urn:b"><x>  1 </x><skip><deep><deeper/></deep></skip>` +
		`<b:y>a&amp;b</b:y><z>p<!-- c -->q<![CDATA[<r>]]><k/>s</z><e/><w>` + "\n" + `</w></r>`
	s := New(iotest.HalfReader(strings.NewReader(doc)))
	if k, err := s.Next(); err != nil || k != Start {
		t.Fatal(k, err)
	}
	type got struct{ space, local, text string }
	var out []got
	for depth := s.Depth(); s.NextChild(depth); {
		g := got{space: s.Space(), local: string(s.Local())}
		if g.local != "skip" {
			text, err := s.TextContent()
			if err != nil {
				t.Fatal(err)
			}
			g.text = string(text)
		}
		out = append(out, g)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	want := []got{{"urn:a", "x", "1"}, {"urn:a", "skip", ""}, {"urn:b", "y", "a&b"}, {"urn:a", "z", "pq<r>s"}, {"urn:a", "e", ""}, {"urn:a", "w", ""}}
	if len(out) != len(want) {
		t.Fatalf("children %+v, want %+v", out, want)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("child %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	if k, err := s.Next(); err != nil || k != EOF {
		t.Fatalf("after the root: %v, %v", k, err)
	}
}

// TestNextChildStopsOnErrors keeps the first error and returns false from then on.
func TestNextChildStopsOnErrors(t *testing.T) {
	s := New(strings.NewReader(`<r><a></b></r>`))
	s.Next()
	n := 0
	for depth := s.Depth(); s.NextChild(depth); {
		n++
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "element <a> closed by </b>") {
		t.Fatalf("err %v", err)
	}
	if s.NextChild(0) {
		t.Fatal("NextChild went on after an error")
	}
}

// FuzzScanner feeds arbitrary bytes to the tokenizer: it may refuse them, never panic, and
// never hand out text holding a character XML forbids.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`<a xmlns:p="u"><p:b c="&lt;">t&#x20;<![CDATA[x]]></p:b><!-- c --></a>`))
	f.Add([]byte("<a>\xe2\x82\xac\x00</a>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		text, err := readAll(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if n, bad := checkChars([]byte(text), true); bad || n != len(text) {
			t.Fatalf("accepted a forbidden character at %d of %q", n, text)
		}
	})
}
