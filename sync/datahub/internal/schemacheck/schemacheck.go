// Package schemacheck is a small structural validator for Energinet's CIM XSD and JSON Schema
// files, used by tests (xmllint is not on the build machines). XSD: element names, order,
// minOccurs and maxOccurs of every xs:sequence, nested complex types, no unknown elements,
// xs:dateTime values. JSON Schema (the draft-07 subset these files use): $ref across files,
// type, properties, required, additionalProperties, enum, oneOf, pattern, maxLength, items,
// minItems.
package schemacheck

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

type node struct {
	name, text string
	kids       []*node
}

func readTree(doc []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte{0xEF, 0xBB, 0xBF})))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if root == nil {
				return nil, fmt.Errorf("no root element")
			}
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text = strings.TrimSpace(n.text)
			stack = stack[:len(stack)-1]
		}
	}
}

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

// XSD checks documents against one XSD's element structure.
type XSD struct {
	root  map[string]string       // element name → type
	types map[string][]xsdElement // complex type with a sequence → its elements
}

// LoadXSD reads one XSD file.
func LoadXSD(path string) (*XSD, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s xsdSchema
	if err := xml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v := &XSD{root: map[string]string{}, types: map[string][]xsdElement{}}
	for _, e := range s.Elements {
		v.root[e.Name] = strings.TrimPrefix(e.Type, "cim:")
	}
	for _, ct := range s.ComplexTypes {
		if len(ct.Sequence) > 0 {
			v.types[ct.Name] = ct.Sequence
		}
	}
	return v, nil
}

// Validate checks a CIM XML document's structure.
func (v *XSD) Validate(doc []byte) error {
	n, err := readTree(doc)
	if err != nil {
		return err
	}
	typ, ok := v.root[n.name]
	if !ok {
		return fmt.Errorf("root %s is not declared", n.name)
	}
	return v.check(n, typ, n.name)
}

func (v *XSD) check(n *node, typ, path string) error {
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

// JSON checks documents against a folder of JSON schemas.
type JSON struct {
	files map[string]map[string]any
}

// LoadJSON reads every JSON schema in dir.
func LoadJSON(dir string) (*JSON, error) {
	v := &JSON{files: map[string]map[string]any{}}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF}), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		v.files[filepath.Base(p)] = m
	}
	return v, nil
}

// Validate checks a CIM JSON document against the named schema file.
func (v *JSON) Validate(file string, doc []byte) error {
	var x any
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte{0xEF, 0xBB, 0xBF})))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return err
	}
	return v.check(file, v.files[file], x, "$")
}

func (v *JSON) resolve(file, ref string) (string, map[string]any) {
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

func (v *JSON) check(file string, s map[string]any, x any, path string) error {
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
