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

// ParseJSON reads a CIM JSON market document: {"<Root>_MarketDocument": {...}}. Coded values
// ({"value": "E17"}, {"codingScheme": "A10", "value": "..."}) become their text; numbers keep
// their exact decimal text. It streams like [ParseXML]: Series by Series.
func ParseJSON(r io.Reader) (*Document, error) {
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
			for dec.More() {
				ns, err := readJSONValue(dec, "Series", 1)
				if err != nil {
					return nil, err
				}
				for _, n := range ns {
					s, err := seriesFrom(n, len(d.Series))
					if err != nil {
						return nil, err
					}
					d.Series = append(d.Series, s)
				}
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
			if err := d.setHeader(n); err != nil {
				return nil, err
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
