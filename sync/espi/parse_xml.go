package espi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// This file is a small, strict, streaming XML tokenizer. encoding/xml tops out near 30 MB/s
// (about 100,000 interval readings a second) on this kind of input, which is far below what a
// bulk import needs, so the parser reads tokens from this scanner instead. It keeps only the
// current token and the open-element stack in memory, resolves namespace prefixes to URIs
// (elements are matched by URI, never by prefix), checks that tags nest, decodes the five
// predefined entities and character references, and never expands anything a DOCTYPE
// declares (no external entities, no entity-expansion bombs).

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

// Namespaces matched by the parser.
const (
	nsAtom     = "http://www.w3.org/2005/Atom"
	nsESPI     = "http://naesb.org/espi"
	nsCustomer = "http://naesb.org/espi/customer"
	nsXML      = "http://www.w3.org/XML/1998/namespace"
)

// maxDepth is the deepest element nesting accepted; ESPI documents nest about ten deep.
const maxDepth = 256

// maxToken is the largest single token (a tag or a text node) the scanner accepts.
const maxToken = 16 << 20

type xattr struct {
	name  []byte // qualified name as written
	value []byte // decoded
}

type nsBinding struct {
	prefix string
	uri    string
}

type frame struct {
	nameOff, nameLen int // qualified name in scanner.names
	localOff         int // offset of the local part in scanner.names
	nbind            int // namespace bindings this element declared
	space            string
}

// xmlError is a syntax error at a position of the input.
type xmlError struct {
	Line, Col int
	Msg       string
}

func (e *xmlError) Error() string { return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg) }

type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	off      int64 // absolute offset of buf[0]
	eof      bool
	rerr     error

	// Line accounting for errors: newlines and the offset after the last newline in the
	// bytes already dropped from buf.
	droppedLines  int
	droppedLineAt int64

	// The current token. local, text and attrs are valid until the next call to next.
	kind  tokKind
	space string
	local []byte
	attrs []xattr
	text  []byte

	pendingEnd bool
	stack      []frame
	names      []byte
	bindings   []nsBinding
	intern     map[string]string
	scratch    []byte
	// unbound counts elements whose prefix no declaration binds.
	unbound     int
	unboundName string
	// sawRoot is set once the root element has started; rootDone once it has ended.
	sawRoot, rootDone bool
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, 0, 256<<10), intern: map[string]string{}}
}

// offset is the absolute input offset of the next unread byte.
func (s *scanner) offset() int64 { return s.off + int64(s.pos) }

// position converts an absolute offset still inside the buffer (or the current position)
// to a line and column, both from 1.
func (s *scanner) position(at int64) (line, col int) {
	rel := int(at - s.off)
	if rel < 0 || rel > s.end {
		rel = s.pos
	}
	line = s.droppedLines + 1
	lineAt := s.droppedLineAt
	seg := s.buf[:rel]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		line += n
		lineAt = s.off + int64(bytes.LastIndexByte(seg, '\n')) + 1
	}
	return line, int(s.off+int64(rel)-lineAt) + 1
}

func (s *scanner) errAt(at int64, format string, args ...any) error {
	line, col := s.position(at)
	return &xmlError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// fill reads more input, keeping buf[pos:end]. It returns false at the end of the input.
func (s *scanner) fill() (bool, error) {
	if s.eof {
		return false, s.rerr
	}
	if s.pos > 0 && s.pos >= cap(s.buf)/2 || s.end == cap(s.buf) {
		// Drop what has been consumed, remembering its lines.
		dropped := s.buf[:s.pos]
		if n := bytes.Count(dropped, []byte{'\n'}); n > 0 {
			s.droppedLines += n
			s.droppedLineAt = s.off + int64(bytes.LastIndexByte(dropped, '\n')) + 1
		}
		n := copy(s.buf[:cap(s.buf)], s.buf[s.pos:s.end])
		s.off += int64(s.pos)
		s.pos, s.end = 0, n
		s.buf = s.buf[:n]
	}
	if s.end == cap(s.buf) {
		if cap(s.buf) >= maxToken {
			return false, s.errAt(s.offset(), "a single XML token is larger than %d MB", maxToken>>20)
		}
		nb := make([]byte, s.end, 2*cap(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:cap(s.buf)])
		s.end += n
		s.buf = s.buf[:s.end]
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.rerr = fmt.Errorf("read: %w", err)
				return n > 0, s.rerr
			}
			return n > 0, nil
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, io.ErrNoProgress
}

// find returns the index relative to pos of delim at or after rel, reading more input as
// needed; -1 at the end of the input.
func (s *scanner) find(rel int, delim string) (int, error) {
	for {
		var i int
		if len(delim) == 1 {
			i = bytes.IndexByte(s.buf[s.pos+rel:s.end], delim[0])
		} else {
			i = indexString(s.buf[s.pos+rel:s.end], delim)
		}
		if i >= 0 {
			return rel + i, nil
		}
		rel = max(rel, s.end-s.pos-len(delim)+1)
		ok, err := s.fill()
		if err != nil {
			return -1, err
		}
		if !ok {
			return -1, nil
		}
	}
}

// indexString is bytes.Index for a string delimiter, without converting it.
func indexString(b []byte, delim string) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], delim[0])
		if i < 0 {
			return -1
		}
		off += i
		if len(b)-off < len(delim) {
			return -1
		}
		if string(b[off:off+len(delim)]) == delim {
			return off
		}
		off++
	}
}

// need makes n bytes from pos available; false at the end of the input.
func (s *scanner) need(n int) (bool, error) {
	for s.end-s.pos < n {
		ok, err := s.fill()
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// next reads the next token. It returns tokEOF (with a nil error) only after the root element
// has been closed; an input that ends inside an element is an error.
func (s *scanner) next() (tokKind, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		return s.popEnd(nil, s.offset())
	}
	for {
		ok, err := s.need(1)
		if err != nil {
			return tokEOF, err
		}
		if !ok {
			if len(s.stack) > 0 {
				top := s.stack[len(s.stack)-1]
				return tokEOF, s.errAt(s.offset(), "unexpected end of file inside <%s> (the file is truncated)", s.names[top.nameOff:top.nameOff+top.nameLen])
			}
			if !s.sawRoot {
				return tokEOF, s.errAt(s.offset(), "no XML element in the file")
			}
			s.kind = tokEOF
			return tokEOF, nil
		}
		if s.buf[s.pos] != '<' {
			i, err := s.find(0, "<")
			if err != nil {
				return tokEOF, err
			}
			if i < 0 {
				i = s.end - s.pos
			}
			raw := s.buf[s.pos : s.pos+i]
			at := s.offset()
			s.pos += i
			if len(s.stack) == 0 {
				continue // whitespace or stray text outside the root element
			}
			if bytes.IndexByte(raw, '&') >= 0 {
				if raw, err = s.unescape(raw, at); err != nil {
					return tokEOF, err
				}
			}
			s.kind, s.text = tokText, raw
			return tokText, nil
		}
		if ok, err := s.need(2); err != nil {
			return tokEOF, err
		} else if !ok {
			return tokEOF, s.errAt(s.offset(), "unexpected end of file after '<'")
		}
		at := s.offset()
		switch s.buf[s.pos+1] {
		case '/':
			i, err := s.find(2, ">")
			if err != nil {
				return tokEOF, err
			}
			if i < 0 {
				return tokEOF, s.errAt(at, "unexpected end of file inside an end tag (the file is truncated)")
			}
			name := trimSpace(s.buf[s.pos+2 : s.pos+i])
			s.pos += i + 1
			return s.popEnd(name, at)
		case '?':
			i, err := s.find(2, "?>")
			if err != nil {
				return tokEOF, err
			}
			if i < 0 {
				return tokEOF, s.errAt(at, "unexpected end of file inside a processing instruction")
			}
			s.pos += i + 2
		case '!':
			if err := s.bang(at); err != nil {
				return tokEOF, err
			}
			if s.kind == tokText {
				return tokText, nil
			}
		default:
			return s.startTag(at)
		}
	}
}

// bang handles comments, CDATA sections and DOCTYPE declarations. A CDATA section inside an
// element becomes a text token.
func (s *scanner) bang(at int64) error {
	s.kind = tokEOF
	if ok, err := s.need(9); err != nil {
		return err
	} else if !ok && s.end-s.pos < 4 {
		return s.errAt(at, "unexpected end of file inside markup")
	}
	rest := s.buf[s.pos:s.end]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		i, err := s.find(4, "-->")
		if err != nil {
			return err
		}
		if i < 0 {
			return s.errAt(at, "unexpected end of file inside a comment (the file is truncated)")
		}
		s.pos += i + 3
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		i, err := s.find(9, "]]>")
		if err != nil {
			return err
		}
		if i < 0 {
			return s.errAt(at, "unexpected end of file inside a CDATA section (the file is truncated)")
		}
		text := s.buf[s.pos+9 : s.pos+i]
		s.pos += i + 3
		if len(s.stack) > 0 {
			s.kind, s.text = tokText, text
		}
	case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
		// Skip it, internal subset and all; nothing it declares is ever expanded.
		depth, quote := 0, byte(0)
		for i := 2; ; i++ {
			if s.pos+i >= s.end {
				ok, err := s.fill()
				if err != nil {
					return err
				}
				if !ok {
					return s.errAt(at, "unexpected end of file inside a DOCTYPE")
				}
			}
			c := s.buf[s.pos+i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '[':
				depth++
			case c == ']':
				depth--
			case c == '>' && depth <= 0:
				s.pos += i + 1
				return nil
			}
		}
	default:
		return s.errAt(at, "unexpected markup %q", truncate(rest, 12))
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// startTag reads a start tag at pos.
func (s *scanner) startTag(at int64) (tokKind, error) {
	if s.rootDone {
		return tokEOF, s.errAt(at, "a second root element after the document's end")
	}
	// Find the closing '>' outside quoted attribute values.
	i, quote := 1, byte(0)
	// Fast path: a '>' with no quote before it (most tags have no attributes).
	if j := bytes.IndexByte(s.buf[s.pos+1:s.end], '>'); j >= 0 {
		t := s.buf[s.pos+1 : s.pos+1+j]
		if bytes.IndexByte(t, '"') < 0 && bytes.IndexByte(t, '\'') < 0 {
			i = j + 1
			goto found
		}
	}
	for {
		if s.pos+i >= s.end {
			ok, err := s.fill()
			if err != nil {
				return tokEOF, err
			}
			if !ok {
				return tokEOF, s.errAt(at, "unexpected end of file inside a tag (the file is truncated)")
			}
			continue
		}
		c := s.buf[s.pos+i]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
		} else if c == '>' {
			break
		} else if c == '"' || c == '\'' {
			quote = c
		}
		i++
	}
found:
	tag := s.buf[s.pos+1 : s.pos+i]
	s.pos += i + 1
	self := false
	if n := len(tag); n > 0 && tag[n-1] == '/' {
		self = true
		tag = tag[:n-1]
	}
	// Name.
	n := 0
	for n < len(tag) && !isSpace(tag[n]) {
		n++
	}
	qname := tag[:n]
	if len(qname) == 0 || !isNameStart(qname[0]) {
		return tokEOF, s.errAt(at, "malformed tag <%s", truncate(tag, 20))
	}
	// Attributes.
	s.attrs = s.attrs[:0]
	nbind := 0
	rest := tag[n:]
	for {
		rest = trimLeftSpace(rest)
		if len(rest) == 0 {
			break
		}
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 {
			return tokEOF, s.errAt(at, "malformed attribute in <%s>", qname)
		}
		name := trimSpace(rest[:eq])
		rest = trimLeftSpace(rest[eq+1:])
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return tokEOF, s.errAt(at, "unquoted attribute value in <%s>", qname)
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return tokEOF, s.errAt(at, "unterminated attribute value in <%s>", qname)
		}
		val := rest[1 : 1+end]
		rest = rest[end+2:]
		if bytes.IndexByte(val, '&') >= 0 {
			v, err := s.unescapeAttr(val, at)
			if err != nil {
				return tokEOF, err
			}
			val = v
		}
		switch {
		case bytes.Equal(name, []byte("xmlns")):
			s.bindings = append(s.bindings, nsBinding{prefix: "", uri: s.internBytes(val)})
			nbind++
		case bytes.HasPrefix(name, []byte("xmlns:")):
			s.bindings = append(s.bindings, nsBinding{prefix: s.internBytes(name[6:]), uri: s.internBytes(val)})
			nbind++
		default:
			s.attrs = append(s.attrs, xattr{name: name, value: val})
		}
	}
	// Resolve the element's namespace.
	prefix, local := []byte(nil), qname
	if c := bytes.IndexByte(qname, ':'); c >= 0 {
		prefix, local = qname[:c], qname[c+1:]
	}
	space, bound := s.lookup(prefix)
	if !bound {
		s.unbound++
		if s.unboundName == "" {
			s.unboundName = string(qname)
		}
	}
	if len(s.stack) >= maxDepth {
		return tokEOF, s.errAt(at, "elements nested more than %d deep", maxDepth)
	}
	f := frame{nameOff: len(s.names), nameLen: len(qname), localOff: len(s.names) + len(qname) - len(local), nbind: nbind, space: space}
	s.names = append(s.names, qname...)
	s.stack = append(s.stack, f)
	s.sawRoot = true
	s.kind, s.space, s.local = tokStart, space, s.names[f.localOff:f.nameOff+f.nameLen]
	s.pendingEnd = self
	return tokStart, nil
}

// lookup resolves a prefix; an unbound prefix resolves to "" (matched leniently by local name).
func (s *scanner) lookup(prefix []byte) (string, bool) {
	if string(prefix) == "xml" {
		return nsXML, true
	}
	for i := len(s.bindings) - 1; i >= 0; i-- {
		if s.bindings[i].prefix == string(prefix) {
			return s.bindings[i].uri, true
		}
	}
	return "", len(prefix) == 0
}

// popEnd closes the innermost element; name is nil for the end of a self-closing tag.
func (s *scanner) popEnd(name []byte, at int64) (tokKind, error) {
	if len(s.stack) == 0 {
		return tokEOF, s.errAt(at, "end tag </%s> without a start tag", name)
	}
	f := s.stack[len(s.stack)-1]
	qname := s.names[f.nameOff : f.nameOff+f.nameLen]
	if name != nil && !bytes.Equal(name, qname) {
		return tokEOF, s.errAt(at, "element <%s> closed by </%s>", qname, name)
	}
	s.stack = s.stack[:len(s.stack)-1]
	s.bindings = s.bindings[:len(s.bindings)-f.nbind]
	s.kind, s.space, s.local = tokEnd, f.space, s.names[f.localOff:f.nameOff+f.nameLen]
	s.names = s.names[:f.nameOff]
	if len(s.stack) == 0 {
		s.rootDone = true
	}
	return tokEnd, nil
}

// depth is the number of open elements.
func (s *scanner) depth() int { return len(s.stack) }

func (s *scanner) internBytes(b []byte) string {
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.intern) < 4096 {
		s.intern[v] = v
	}
	return v
}

// attr returns the value of the unprefixed attribute name of the current start tag.
func (s *scanner) attr(name string) []byte {
	for _, a := range s.attrs {
		if string(a.name) == name {
			return a.value
		}
	}
	return nil
}

func (s *scanner) unescape(raw []byte, at int64) ([]byte, error) {
	out, err := appendUnescaped(s.scratch[:0], raw)
	if err != nil {
		return nil, s.errAt(at, "%v", err)
	}
	s.scratch = out
	return out, nil
}

// unescapeAttr decodes an attribute value into fresh memory (several attributes of a tag are
// alive at once, so the shared scratch buffer will not do).
func (s *scanner) unescapeAttr(raw []byte, at int64) ([]byte, error) {
	out, err := appendUnescaped(nil, raw)
	if err != nil {
		return nil, s.errAt(at, "%v", err)
	}
	return out, nil
}

func appendUnescaped(out, raw []byte) ([]byte, error) {
	for len(raw) > 0 {
		amp := bytes.IndexByte(raw, '&')
		if amp < 0 {
			return append(out, raw...), nil
		}
		out = append(out, raw[:amp]...)
		raw = raw[amp:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 || semi > 12 {
			return nil, fmt.Errorf("unterminated entity reference %q", truncate(raw, 12))
		}
		ent := raw[1:semi]
		raw = raw[semi+1:]
		switch string(ent) {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return nil, fmt.Errorf("unknown entity &%s; (only the predefined XML entities are accepted)", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' || ent[1] == 'X' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || n == 0 || n > utf8.MaxRune {
				return nil, fmt.Errorf("bad character reference &%s;", ent)
			}
			out = utf8.AppendRune(out, rune(n))
		}
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
