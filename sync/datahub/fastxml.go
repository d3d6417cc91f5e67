package datahub

import "bytes"

// The fast path for Points. encoding/xml spends about 5 µs on a CIM Point (an allocation per
// token, namespace translation, a byte at a time through an interface), which made parsing
// the bulk of the cost of storing a document (BENCHMARKS-datahub.md). A Point is always the
// same small shape — <p:Point> then simple elements <p:name>text</p:name> then </p:Point> —
// so x.points reads such Points straight from the buffered input the decoder reads from, and
// leaves everything else (comments, attributes, entities, CDATA, self-closing or nested
// elements, non-ASCII text, a Point longer than the buffer, the end of the Period) to the
// decoder: it consumes a Point only once the whole Point has been checked, so the decoder
// resumes exactly where the fast path stopped. The decoder only reads Point elements' local
// names, so prefixes are not resolved here either; end tags must match their start tags.

// fastPoints turns the fast path on; tests turn it off to compare with the decoder's reading.
var fastPoints = true

// points reads the simple Points that come next and hands them to sr.
func (x *xmlIn) points(sr *seriesReader) error {
	for fastPoints && x.br != nil {
		buf, _ := x.br.Peek(x.br.Size()) // what is there; a short read is handled by the scan
		n, pt, ok := scanPoint(buf)
		if !ok {
			return nil
		}
		x.skipped(buf[:n])
		if _, err := x.br.Discard(n); err != nil {
			return x.err(err)
		}
		if err := sr.add(pointOf(pt.pos, pt.qty, pt.quality, pt.price, pt.amount)); err != nil {
			return err
		}
	}
	return nil
}

// rawPoint is the texts of a Point's elements.
type rawPoint struct {
	pos, qty, energyQty, quality, price, amount string
}

// scanPoint reads one simple Point (with the white space before it) from the start of buf. ok
// is false when buf does not start with a whole simple Point; n is the bytes it takes.
func scanPoint(buf []byte) (n int, pt rawPoint, ok bool) {
	i := skipSpace(buf, 0)
	name, i, ok := startTag(buf, i)
	if !ok || string(localName(name)) != "Point" {
		return 0, pt, false
	}
	for {
		i = skipSpace(buf, i)
		if i+1 < len(buf) && buf[i] == '<' && buf[i+1] == '/' {
			end, j, ok := endTag(buf, i)
			if !ok || !bytes.Equal(end, name) {
				return 0, pt, false
			}
			if pt.qty == "" {
				pt.qty = pt.energyQty
			}
			return j, pt, true
		}
		child, j, ok := startTag(buf, i)
		if !ok {
			return 0, pt, false
		}
		k := j
		for k < len(buf) && buf[k] != '<' {
			c := buf[k]
			if c == '&' || c >= 0x80 || (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				return 0, pt, false // entities and other characters are the decoder's
			}
			k++
		}
		text := bytes.TrimSpace(buf[j:k])
		end, next, ok := endTag(buf, k)
		if !ok || !bytes.Equal(end, child) {
			return 0, pt, false
		}
		// The first element of a name counts, as pointFrom's node.val does.
		switch string(localName(child)) {
		case "position":
			setOnce(&pt.pos, text)
		case "quantity":
			setOnce(&pt.qty, text)
		case "energy_Quantity.quantity":
			setOnce(&pt.energyQty, text)
		case "quality":
			if pt.quality == "" {
				pt.quality = quality(text)
			}
		case "price.amount":
			setOnce(&pt.price, text)
		case "energySum_Quantity.quantity":
			setOnce(&pt.amount, text)
		}
		i = next
	}
}

func setOnce(dst *string, text []byte) {
	if *dst == "" && len(text) > 0 {
		*dst = string(text)
	}
}

// quality returns the quality code, without an allocation for the codes DataHub uses.
func quality(b []byte) string {
	switch string(b) {
	case "A02":
		return "A02"
	case "A03":
		return "A03"
	case "A04":
		return "A04"
	case "A05":
		return "A05"
	case "A06":
		return "A06"
	}
	return string(b)
}

func skipSpace(buf []byte, i int) int {
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n') {
		i++
	}
	return i
}

// startTag reads "<name>" at buf[i:]: no attributes, not self-closing.
func startTag(buf []byte, i int) (name []byte, next int, ok bool) {
	if i >= len(buf) || buf[i] != '<' {
		return nil, 0, false
	}
	j := i + 1
	for j < len(buf) && isNameByte(buf[j]) {
		j++
	}
	if j == i+1 || j >= len(buf) || buf[j] != '>' {
		return nil, 0, false
	}
	return buf[i+1 : j], j + 1, true
}

// endTag reads "</name>" at buf[i:].
func endTag(buf []byte, i int) (name []byte, next int, ok bool) {
	if i+1 >= len(buf) || buf[i] != '<' || buf[i+1] != '/' {
		return nil, 0, false
	}
	j := i + 2
	for j < len(buf) && isNameByte(buf[j]) {
		j++
	}
	if j == i+2 || j >= len(buf) || buf[j] != '>' {
		return nil, 0, false
	}
	return buf[i+2 : j], j + 1, true
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
}

// localName is the part of a tag name after its prefix. A name starting with a digit, '-' or
// '.', or with more than one ':', is not one the fast path takes (the decoder judges it).
func localName(name []byte) []byte {
	if len(name) == 0 || !(name[0] == '_' || name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z') {
		return nil
	}
	if bytes.Count(name, []byte{':'}) > 1 {
		return nil
	}
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		return name[k+1:]
	}
	return name
}
