package espi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// decodeCharset returns r as UTF-8. Documents declaring ISO-8859-1 (Latin-1) or
// windows-1252 are converted, Latin-1 byte by byte (names and addresses of French-Canadian
// customers are where this shows); UTF-16 is refused with a clear reason; everything else is
// read as UTF-8, the XML default.
func decodeCharset(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(256)
	if bytes.HasPrefix(head, []byte{0xFE, 0xFF}) || bytes.HasPrefix(head, []byte{0xFF, 0xFE}) ||
		len(head) > 1 && (head[0] == 0 || head[1] == 0) {
		return nil, errors.New("the file is UTF-16; save it as UTF-8 and import it again")
	}
	if end := bytes.Index(head, []byte("?>")); bytes.HasPrefix(bytes.TrimLeft(head, "\xEF\xBB\xBF \t\r\n"), []byte("<?xml")) && end > 0 {
		decl := bytes.ToLower(head[:end])
		for _, name := range []string{"iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "iso-8859-15"} {
			if bytes.Contains(decl, []byte(`"`+name+`"`)) || bytes.Contains(decl, []byte(`'`+name+`'`)) {
				return &latin1Reader{r: br}, nil
			}
		}
	}
	return br, nil
}

// latin1Reader converts ISO-8859-1 bytes to UTF-8.
type latin1Reader struct {
	r   io.Reader
	in  []byte
	out []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if cap(l.in) == 0 {
			l.in = make([]byte, 32<<10)
		}
		n, err := l.r.Read(l.in[:cap(l.in)])
		for _, c := range l.in[:n] {
			if c < utf8.RuneSelf {
				l.out = append(l.out, c)
			} else {
				l.out = utf8.AppendRune(l.out, rune(c))
			}
		}
		if n == 0 && err != nil {
			return 0, err
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	if len(l.out) == 0 {
		l.out = l.out[:0:0]
	}
	return n, nil
}
