package datahub

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseXML reads a CIM XML market document, with every point. It is namespace-aware (any
// prefix, or a default namespace as 2022 output had) and skips a UTF-8 byte order mark.
func ParseXML(r io.Reader) (*Document, error) {
	c := &collector{}
	d, err := parseXML(r, c)
	if err != nil {
		return d, err
	}
	c.fill(d)
	return d, nil
}

// parseXML reads a CIM XML market document and hands its points to h as they are read: only
// one Series' fields and one batch of points are held at a time.
func parseXML(r io.Reader, h handler) (*Document, error) {
	br := bufio.NewReader(r)
	skipBOM(br)
	dec := xml.NewDecoder(br)
	dec.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return in, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	x := &xmlIn{dec: dec, br: br}
	d := &Document{}
	var batch []Point
	root, err := firstStart(x)
	if err != nil {
		return nil, err
	}
	d.Root, d.Namespace = root.Name.Local, root.Name.Space
	if !strings.HasSuffix(d.Root, "_MarketDocument") {
		return nil, fmt.Errorf("root element %q: %w", d.Root, ErrNotCIM)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, x.err(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "Series" {
				sr := newSeriesReader(d, h, batch)
				if err := readXMLSeries(x, sr); err != nil {
					return d, err
				}
				batch = sr.batch
				continue
			}
			n, err := readXMLNode(x, t, 1)
			if err != nil {
				return d, err
			}
			if err := d.headerAfterSeries(n); err != nil {
				return d, err
			}
			if err := d.setHeader(n); err != nil {
				return d, err
			}
		case xml.EndElement:
			// The root closed. Anything after it but comments and space is an error.
			if err := expectEnd(x); err != nil {
				return nil, err
			}
			return d, d.finish()
		}
	}
}

func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
}

func firstStart(x *xmlIn) (xml.StartElement, error) {
	dec := x.dec
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return xml.StartElement{}, fmt.Errorf("empty document: %w", ErrNotCIM)
		}
		if err != nil {
			return xml.StartElement{}, x.err(err)
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t, nil
		}
	}
}

func expectEnd(x *xmlIn) error {
	dec := x.dec
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return x.err(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return x.err(errors.New("text after the root element"))
			}
		case xml.StartElement:
			return x.err(fmt.Errorf("element <%s> after the root element", t.Name.Local))
		}
	}
}

// readXMLSeries reads a Series element whose start tag was just read, streaming its Points.
func readXMLSeries(x *xmlIn, sr *seriesReader) error {
	dec := x.dec
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				err = errors.New("document ends inside <Series>")
			}
			return x.err(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "Period" {
				n, err := readXMLNode(x, t, 2)
				if err != nil {
					return err
				}
				if err := sr.field(n); err != nil {
					return err
				}
				continue
			}
			sr.startPeriod()
			if err := readXMLPeriod(x, sr); err != nil {
				return err
			}
			if err := sr.endPeriod(); err != nil {
				return err
			}
		case xml.EndElement:
			sr.finish()
			return nil
		}
	}
}

// readXMLPeriod reads the children of a Period element, each Point as it closes.
func readXMLPeriod(x *xmlIn, sr *seriesReader) error {
	dec := x.dec
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				err = errors.New("document ends inside <Period>")
			}
			return x.err(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n, err := readXMLNode(x, t, 3)
			if err != nil {
				return err
			}
			if n.name == "Point" {
				err = sr.point(n)
			} else {
				err = sr.field(n)
			}
			if err != nil {
				return err
			}
			// The decoder has just read an end tag and holds no byte back: the Points that
			// follow can be read straight from the input.
			if err := x.points(sr); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// readXMLNode reads the element whose start tag was just read, with its children.
func readXMLNode(x *xmlIn, start xml.StartElement, depth int) (*node, error) {
	dec := x.dec
	if depth > maxDepth {
		return nil, x.err(fmt.Errorf("elements nested deeper than %d", maxDepth))
	}
	n := &node{name: start.Name.Local}
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("document ends inside <%s>", start.Name.Local)
			}
			return nil, x.err(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := readXMLNode(x, t, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		case xml.CharData:
			if text.Len()+len(t) > maxTextBytes {
				return nil, x.err(fmt.Errorf("text of <%s> longer than %d bytes", start.Name.Local, maxTextBytes))
			}
			text.Write(t)
		case xml.EndElement:
			n.text = strings.TrimSpace(text.String())
			return n, nil
		}
	}
}

// xmlIn is the XML being read: the decoder, and the buffered input under it, from which the
// fast path (fastxml.go) reads simple Points itself.
type xmlIn struct {
	dec *xml.Decoder
	br  *bufio.Reader
	// Where the fast path last stopped: the true line and column, and where the decoder,
	// which does not see what the fast path read, thinks it is.
	fast                               bool
	trueLine, trueCol, decLine, decCol int
}

// pos is the true line and column of the input.
func (x *xmlIn) pos() (line, col int) {
	l, c := x.dec.InputPos()
	return x.adjust(l, c)
}

func (x *xmlIn) adjust(l, c int) (line, col int) {
	switch {
	case !x.fast:
		return l, c
	case l == x.decLine:
		return x.trueLine, x.trueCol + c - x.decCol
	}
	return l + x.trueLine - x.decLine, c
}

// skipped records that the fast path read b past the decoder.
func (x *xmlIn) skipped(b []byte) {
	line, col := x.pos()
	for _, c := range b {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	x.fast, x.trueLine, x.trueCol = true, line, col
	x.decLine, x.decCol = x.dec.InputPos()
}

func (x *xmlIn) err(err error) error {
	var se *xml.SyntaxError
	if x.fast && errors.As(err, &se) {
		se.Line, _ = x.adjust(se.Line, 1)
	}
	line, col := x.pos()
	return fmt.Errorf("malformed XML at line %d, column %d: %w", line, col, err)
}

// LooksLikeXML reports whether head starts (after a BOM, space and comments) with a CIM XML
// market document's root element.
func LooksLikeXML(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	dec := xml.NewDecoder(bytes.NewReader(head))
	dec.CharsetReader = func(string, io.Reader) (io.Reader, error) { return nil, errors.New("charset") }
	for i := 0; i < 64; i++ {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if t, ok := tok.(xml.StartElement); ok {
			return strings.HasSuffix(t.Name.Local, "_MarketDocument")
		}
	}
	return false
}
