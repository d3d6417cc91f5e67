// Package fileimport imports files the user already has — Green Button XML, CIM XML/JSON,
// Eloverblik JSON — detecting the format from the content.
//
// Every file is archived before it is parsed; a file that fails is kept with its error and
// nothing of it is half-imported, because a format parses inside one transaction.
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
		return Summary{File: name}, err
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
	sum.File, sum.Format = name, format.Name
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
