// Package xmldoc reads the small XML documents of the custodians whole, with
// github.com/beevik/etree, within limits that keep hostile input bounded in memory: a token
// answer, a BatchList, Authorization and ApplicationInformation entries, a DataHub error.
// Bulk data (ESPI feeds, CIM market documents) is streamed by its own parsers instead; see
// ARCHITECTURE.md ("XML").
package xmldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"
)

// Limits bound one document.
type Limits struct {
	// MaxBytes is the largest document read.
	MaxBytes int64
	// MaxElements bounds the number of elements (each costs a few hundred bytes as a tree).
	MaxElements int
	// MaxDepth bounds the nesting; 0 means 32.
	MaxDepth int
}

// Read reads one XML document whole and returns its root element. what names the document in
// errors ("BatchList", "the token answer"). A document too large, too deep, with too many
// elements, unfinished, with no root or with two roots is an error saying so.
func Read(r io.Reader, what string, lim Limits) (*etree.Element, error) {
	body, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", what, err)
	}
	return Parse(body, what, lim)
}

// Parse is Read for a document already in memory.
func Parse(body []byte, what string, lim Limits) (*etree.Element, error) {
	if int64(len(body)) > lim.MaxBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", what, lim.MaxBytes)
	}
	// Every element has one start tag, so the '<' that do not begin an end tag bound the
	// number of elements from above (comments and instructions count too).
	if n := bytes.Count(body, []byte("<")) - bytes.Count(body, []byte("</")); n > lim.MaxElements {
		return nil, fmt.Errorf("%s: more than %d elements", what, lim.MaxElements)
	}
	depth := lim.MaxDepth
	if depth <= 0 {
		depth = 32
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = depth
	if err := doc.ReadFromBytes(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))); err != nil {
		switch {
		case errors.Is(err, etree.ErrXML):
			return nil, fmt.Errorf("%s: the document ends early or closes an element it did not open", what)
		case errors.Is(err, etree.ErrMaxDepth):
			return nil, fmt.Errorf("%s: elements nested more than %d deep", what, depth)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch roots := doc.ChildElements(); len(roots) {
	case 0:
		return nil, fmt.Errorf("%s: the body holds no XML element", what)
	case 1:
		return roots[0], nil
	default:
		return nil, fmt.Errorf("%s: more than one root element (%s, %s)", what, roots[0].Tag, roots[1].Tag)
	}
}

// Is reports whether e is the element local in namespace ns, whatever its prefix.
func Is(e *etree.Element, ns, local string) bool {
	return e != nil && e.Tag == local && e.NamespaceURI() == ns
}

// Child returns the first child element of e that is local in namespace ns, or nil.
func Child(e *etree.Element, ns, local string) *etree.Element {
	for _, c := range e.ChildElements() {
		if Is(c, ns, local) {
			return c
		}
	}
	return nil
}

// Walk calls f for e and each element below it, in document order.
func Walk(e *etree.Element, f func(*etree.Element)) {
	f(e)
	for _, c := range e.ChildElements() {
		Walk(c, f)
	}
}
