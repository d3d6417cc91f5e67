// Package fileimport imports files the user already has — Green Button XML, CIM XML/JSON,
// Eloverblik JSON — detecting the format from the content.
//
// Every file is archived before it is parsed; a file that fails is kept with its error, so
// that `custody reprocess` can parse it again. A big file is written in batches (so that other
// writers get a turn), and the readings of the batches before a failure stay: they are upserts,
// so parsing the file again after a fix neither loses nor doubles anything.
package fileimport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"custody/store"
)

// Summary is what one file brought in.
type Summary struct {
	File     string
	Format   string
	Meters   int
	Series   int
	Readings int
	Messages int
	From, To time.Time // the span of the readings, zero when none
	Warnings []string
	// Unchanged is set when the same file was imported before: nothing was changed.
	Unchanged bool
	// Archived is set once the file is kept in the database's archive (also when it then
	// failed to parse).
	Archived bool
}

// Format is one importable file format.
type Format struct {
	// Name is the archive's format name, such as "espi" or "cim-xml".
	Name string
	// Detect says whether a file starting with head is of this format.
	Detect func(head []byte) bool
	// Parse reads the whole body and writes what it finds through tx. It must not commit.
	// progress is called now and then with the number of body bytes read.
	Parse func(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(read int64)) (Summary, error)
}

// ErrUnknownFormat is returned for a file no format recognises.
var ErrUnknownFormat = errors.New("not a Green Button, CIM or Eloverblik file")

// Importer imports files into a store.
type Importer struct {
	Store   *store.Store
	Formats []Format
	// Progress, when set, is called with bytes read and the file's size.
	Progress func(file string, read, size int64)
}

// headSize is how much of a file format detection looks at.
const headSize = 4096

// Import archives and parses one file.
func (im *Importer) Import(ctx context.Context, path string) (Summary, error) {
	sum := Summary{File: path}
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	head := make([]byte, headSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	head = head[:n]
	utf16 := isUTF16(head)
	if utf16 {
		// Detect on what the text says, so that the user hears which kind of file it is.
		head = utf16Head(head)
	}
	var format *Format
	for i := range im.Formats {
		if im.Formats[i].Detect(head) {
			format = &im.Formats[i]
			break
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	name := "unknown"
	if format != nil {
		name = format.Name
	}
	// Archive first, whatever happens next: an unreadable file is kept for inspection too.
	p, existed, err := im.Store.Archive(ctx, store.Payload{Format: name, URL: "file://" + absPath(path)}, f)
	if err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	sum.Archived = true
	if format != nil && utf16 {
		err := fmt.Errorf("the file is UTF-16 text (by its content a %s file): save it as UTF-8 and import it again", format.Name)
		_ = im.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, err.Error())
		sum.Format = format.Name
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	if format == nil {
		_ = im.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, ErrUnknownFormat.Error())
		return sum, fmt.Errorf("import %s: %w", path, ErrUnknownFormat)
	}
	sum.Format = format.Name
	if existed && p.Status == store.PayloadParsed {
		sum.Unchanged = true
		return sum, nil
	}
	return im.parse(ctx, *format, p, info.Size(), path)
}

// Reparse parses an archived payload again, such as after a parser fix.
func (im *Importer) Reparse(ctx context.Context, p store.Payload) (Summary, error) {
	for _, f := range im.Formats {
		if f.Name == p.Format {
			return im.parse(ctx, f, p, p.Size, p.URL)
		}
	}
	return Summary{File: p.URL}, fmt.Errorf("reparse payload %d: no parser for format %q", p.ID, p.Format)
}

func (im *Importer) parse(ctx context.Context, format Format, p store.Payload, size int64, name string) (Summary, error) {
	body, err := im.Store.OpenPayload(ctx, p.ID)
	if err != nil {
		return Summary{File: name, Archived: true}, err
	}
	defer body.Close()
	tx, err := im.Store.Begin(ctx)
	if err != nil {
		return Summary{File: name}, err
	}
	defer tx.Rollback()
	// A big file takes a while: commit in batches so that a sync or another import beside
	// this one waits seconds, not minutes.
	tx.Batched(store.ImportBatch)
	progress := func(read int64) {
		if im.Progress != nil {
			im.Progress(name, read, size)
		}
	}
	sum, err := format.Parse(ctx, tx, p, bufio.NewReaderSize(body, 256<<10), progress)
	sum.File, sum.Format, sum.Archived = name, format.Name, true
	if err == nil {
		err = tx.SetPayloadStatus(p.ID, store.PayloadParsed, "")
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		// Keep the archived payload, marked with why it failed, so it can be reprocessed.
		_ = im.Store.SetPayloadStatus(context.WithoutCancel(ctx), p.ID, store.PayloadFailed, err.Error())
		return sum, fmt.Errorf("import %s: %w", name, err)
	}
	return sum, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// isUTF16 says whether head starts a UTF-16 text: a byte-order mark, or the zero bytes of
// ASCII characters in UTF-16 without one.
func isUTF16(head []byte) bool {
	if len(head) < 2 {
		return false
	}
	return head[0] == 0xFE && head[1] == 0xFF || head[0] == 0xFF && head[1] == 0xFE ||
		head[0] == 0 && head[1] != 0 || head[0] != 0 && head[1] == 0
}

// utf16Head returns the ASCII characters of a UTF-16 head, enough for format detection.
func utf16Head(head []byte) []byte {
	big := head[0] == 0xFE || head[0] == 0
	if head[0] == 0xFE || head[0] == 0xFF {
		head = head[2:]
	}
	out := make([]byte, 0, len(head)/2)
	for i := 0; i+1 < len(head); i += 2 {
		hi, lo := head[i], head[i+1]
		if !big {
			hi, lo = lo, hi
		}
		if hi == 0 && lo < 0x80 {
			out = append(out, lo)
		}
	}
	return out
}
