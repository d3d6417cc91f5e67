package datahub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseJSON reads a CIM JSON market document: {"<Root>_MarketDocument": {...}}, with every
// point. Coded values ({"value": "E17"}, {"codingScheme": "A10", "value": "..."}) become
// their text; numbers keep their exact decimal text.
func ParseJSON(r io.Reader) (*Document, error) {
	c := &collector{}
	d, err := parseJSON(r, c)
	if err != nil {
		return d, err
	}
	c.fill(d)
	return d, nil
}

// parseJSON reads a CIM JSON market document and hands its points to h as they are read, like
// parseXML.
func parseJSON(r io.Reader, h handler) (*Document, error) {
	br := bufio.NewReader(r)
	skipBOM(br)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(dec, err)
	}
	root, ok := tok.(string)
	if !ok {
		return nil, fmt.Errorf("empty JSON object: %w", ErrNotCIM)
	}
	d := &Document{Root: root}
	if !strings.HasSuffix(root, "_MarketDocument") {
		return nil, fmt.Errorf("top-level key %q: %w", root, ErrNotCIM)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(dec, err)
		}
		key, _ := tok.(string)
		if key == "Series" {
			if err := expectDelim(dec, '['); err != nil {
				return nil, err
			}
			var batch []Point
			for dec.More() {
				sr := newSeriesReader(d, h, batch)
				if err := readJSONSeries(dec, sr); err != nil {
					return d, err
				}
				batch = sr.batch
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, err
			}
			continue
		}
		ns, err := readJSONValue(dec, key, 1)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if err := d.headerAfterSeries(n); err != nil {
				return d, err
			}
			if err := d.setHeader(n); err != nil {
				return d, err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, fmt.Errorf("%w (a CIM JSON document has exactly one top-level key)", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, jsonErr(dec, errors.New("data after the document"))
	}
	return d, d.finish()
}

// readJSONSeries reads one Series object, streaming the Points of its Period (an object, or
// an array of them).
func readJSONSeries(dec *json.Decoder, sr *seriesReader) error {
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("Series %d: %w", sr.idx+1, err)
	}
	err := readJSONMembers(dec, sr, "Period", 2, func() error {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		switch tok {
		case json.Delim('{'):
			return readJSONPeriod(dec, sr)
		case json.Delim('['):
			for dec.More() {
				if err := expectDelim(dec, '{'); err != nil {
					return err
				}
				if err := readJSONPeriod(dec, sr); err != nil {
					return err
				}
			}
			return expectDelim(dec, ']')
		}
		return jsonErr(dec, fmt.Errorf("%s: Period is %v, not an object", sr.where(), tok))
	})
	if err != nil {
		return err
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	sr.finish()
	return nil
}

// readJSONMembers reads the members of an object whose '{' was just read, up to but not
// including its '}': the member named special is left to readSpecial (which reads its value),
// every other one is read whole at depth and handed to sr.field.
func readJSONMembers(dec *json.Decoder, sr *seriesReader, special string, depth int, readSpecial func() error) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		key, _ := tok.(string)
		if key == special {
			if err := readSpecial(); err != nil {
				return err
			}
			continue
		}
		ns, err := readJSONValue(dec, key, depth)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if err := sr.field(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// readJSONPeriod reads the members of a Period object whose '{' was just read.
func readJSONPeriod(dec *json.Decoder, sr *seriesReader) error {
	sr.startPeriod()
	err := readJSONMembers(dec, sr, "Point", 3, func() error {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		if tok == json.Delim('{') { // a single Point, not in an array
			n, err := readJSONObject(dec, "Point", 4)
			if err != nil {
				return err
			}
			return sr.point(n)
		}
		if tok != json.Delim('[') {
			return jsonErr(dec, fmt.Errorf("%s: Point is %v, not an array", sr.where(), tok))
		}
		for dec.More() {
			if fastPoints {
				if err := readJSONPoint(dec, sr); err != nil {
					return err
				}
				continue
			}
			ns, err := readJSONValue(dec, "Point", 4)
			if err != nil {
				return err
			}
			for _, n := range ns {
				if err := sr.point(n); err != nil {
					return err
				}
			}
		}
		return expectDelim(dec, ']')
	})
	if err != nil {
		return err
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	return sr.endPeriod()
}

// jsonPoint is a CIM JSON Point. Decoding it whole is about twice as fast as reading it token
// by token (BENCHMARKS-datahub.md); coded values may be bare or {"value": ...}.
type jsonPoint struct {
	Position  jsonText `json:"position"`
	Quantity  jsonText `json:"quantity"`
	EnergyQty jsonText `json:"energy_Quantity.quantity"`
	Quality   jsonText `json:"quality"`
	Price     jsonText `json:"price.amount"`
	Amount    jsonText `json:"energySum_Quantity.quantity"`
}

// jsonText is the text of a JSON value as the tree reader gives it: a string's contents, a
// number's literal, "true"/"false", "" for null, and for an object its "value" member.
type jsonText struct {
	s   string
	set bool
}

var nullJSON = []byte("null")

// UnmarshalJSON reads one value as the tree reader would give its text.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	t.set = true
	if v, ok := simpleText(b); ok {
		t.s = v
		return nil
	}
	switch {
	case len(b) == 0 || bytes.Equal(b, nullJSON):
		t.s = ""
	case b[0] == '"':
		if err := json.Unmarshal(b, &t.s); err != nil {
			return err
		}
		if len(t.s) > maxTextBytes {
			return fmt.Errorf("text longer than %d bytes", maxTextBytes)
		}
	case b[0] == '{':
		var o struct {
			Value *jsonText `json:"value"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		t.s = ""
		if o.Value != nil {
			t.s = o.Value.s
		}
	case b[0] == '[':
		return errors.New("an array where a value was expected")
	default:
		t.s = string(b)
	}
	t.s = strings.TrimSpace(t.s)
	return nil
}

// simpleText reads the common shapes without reflection: a number, a string without escapes,
// or {"value": one of those}. b is valid JSON (the decoder has scanned it).
func simpleText(b []byte) (string, bool) {
	if len(b) > 0 && b[0] == '{' {
		i := skipJSONSpace(b, 1)
		if !bytes.HasPrefix(b[i:], []byte(`"value"`)) {
			return "", false
		}
		i = skipJSONSpace(b, i+len(`"value"`))
		if i >= len(b) || b[i] != ':' {
			return "", false
		}
		i = skipJSONSpace(b, i+1)
		j := i
		if j < len(b) && b[j] == '"' {
			k := bytes.IndexByte(b[j+1:], '"')
			if k < 0 {
				return "", false
			}
			j += k + 2
		} else {
			for j < len(b) && b[j] != '}' && b[j] != ',' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
				j++
			}
		}
		if e := skipJSONSpace(b, j); e != len(b)-1 || b[e] != '}' {
			return "", false
		}
		b = b[i:j]
	}
	switch {
	case len(b) == 0:
		return "", false
	case b[0] == '"':
		inner := b[1 : len(b)-1]
		if bytes.IndexByte(inner, '\\') >= 0 || len(inner) > maxTextBytes {
			return "", false
		}
		return strings.TrimSpace(string(inner)), true
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		return string(b), true
	}
	return "", false
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// readJSONPoint reads one element of a Point array.
func readJSONPoint(dec *json.Decoder, sr *seriesReader) error {
	var p jsonPoint
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return sr.add(Point{}, fmt.Errorf("a Point is a JSON object, not %s", te.Value))
		}
		return jsonErr(dec, err)
	}
	qty := p.Quantity.s
	if qty == "" {
		qty = p.EnergyQty.s
	}
	return sr.add(pointOf(p.Position.s, qty, p.Quality.s, p.Price.s, p.Amount.s))
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("document ends where %q was expected", string(want))
		}
		return jsonErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return jsonErr(dec, fmt.Errorf("found %v where %q was expected", tok, string(want)))
	}
	return nil
}

// readJSONValue reads one JSON value as nodes named name: one node for an object or a scalar,
// one node per element for an array.
func readJSONValue(dec *json.Decoder, name string, depth int) ([]*node, error) {
	if depth > maxDepth {
		return nil, jsonErr(dec, fmt.Errorf("values nested deeper than %d", maxDepth))
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("document ends inside %q", name)
		}
		return nil, jsonErr(dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n, err := readJSONObject(dec, name, depth)
			if err != nil {
				return nil, err
			}
			return []*node{n}, nil
		case '[':
			var out []*node
			for dec.More() {
				vals, err := readJSONValue(dec, name, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, vals...)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, err
			}
			return out, nil
		}
		return nil, jsonErr(dec, fmt.Errorf("unexpected %q in %q", t.String(), name))
	case string:
		if len(t) > maxTextBytes {
			return nil, jsonErr(dec, fmt.Errorf("text of %q longer than %d bytes", name, maxTextBytes))
		}
		return []*node{{name: name, text: t}}, nil
	case json.Number:
		return []*node{{name: name, text: t.String()}}, nil
	case bool:
		return []*node{{name: name, text: fmt.Sprint(t)}}, nil
	}
	return []*node{{name: name}}, nil // null
}

// readJSONObject reads the members of an object whose '{' was just read, as one node.
func readJSONObject(dec *json.Decoder, name string, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, jsonErr(dec, fmt.Errorf("values nested deeper than %d", maxDepth))
	}
	n := &node{name: name}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, jsonErr(dec, err)
		}
		key, _ := kt.(string)
		vals, err := readJSONValue(dec, key, depth+1)
		if err != nil {
			return nil, err
		}
		if key == "value" && len(vals) == 1 && len(vals[0].kids) == 0 {
			n.text = vals[0].text
			continue
		}
		n.kids = append(n.kids, vals...)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	return n, nil
}

func jsonErr(dec *json.Decoder, err error) error {
	return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
}

// LooksLikeJSON reports whether head starts (after a BOM and space) with a CIM JSON market
// document: {"..._MarketDocument".
func LooksLikeJSON(head []byte) bool {
	head = bytes.TrimSpace(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}))
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	head = bytes.TrimSpace(head[1:])
	if len(head) == 0 || head[0] != '"' {
		return false
	}
	end := bytes.IndexByte(head[1:], '"')
	return end > 0 && bytes.HasSuffix(head[1:1+end], []byte("_MarketDocument"))
}
