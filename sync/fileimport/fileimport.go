// Package fileimport imports files the user already has — Green Button XML, CIM XML/JSON,
// Eloverblik JSON — detecting the format from the content.
//
// A file is hashed first (a file already imported is skipped without parsing it), then
// read once more: the archive is compressed from the same bytes the parser reads, in the
// parser's transaction. A big file is written in batches (so that other writers get a
// turn); the archive counts as whole only in the last one. A file that fails to parse is
// archived again on its own and kept with its error, so that `custody reprocess` can parse
// it again; the readings of batches before the failure stay: they are upserts, so parsing
// the file again after a fix neither loses nor doubles anything.
package fileimport

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	// Batch is how long an import holds the write lock before it commits what it has and
	// lets another writer in; zero means store.ImportBatch.
	Batch time.Duration
}

func (im *Importer) batch() time.Duration {
	if im.Batch > 0 {
		return im.Batch
	}
	return store.ImportBatch
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
	pl := store.Payload{Format: "unknown", URL: "file://" + absPath(path)}
	if format != nil {
		pl.Format = format.Name
	}
	if format == nil || utf16 {
		// Archived all the same, for inspection, and refused.
		p, _, err := im.Store.Archive(ctx, pl, f)
		if err != nil {
			return sum, fmt.Errorf("import %s: %w", path, err)
		}
		sum.Archived = true
		reason := ErrUnknownFormat
		if format != nil {
			sum.Format = format.Name
			reason = fmt.Errorf("the file is UTF-16 text (by its content a %s file): save it as UTF-8 and import it again", format.Name)
		}
		_ = im.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, reason.Error())
		return sum, fmt.Errorf("import %s: %w", path, reason)
	}
	sum.Format = format.Name
	// Hash first: the hash names the payload (and things the document gives no id for), and
	// an identical file imported before is skipped without being read again.
	h := sha256.New()
	size, err := io.CopyBuffer(h, struct{ io.Reader }{f}, make([]byte, 1<<20)) // large reads: fewer system calls
	if err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	pl.SHA256, pl.Size = hex.EncodeToString(h.Sum(nil)), size
	old, existed, err := im.Store.PayloadBySHA(ctx, pl.SHA256, pl.Format)
	if err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	if existed {
		if old.Status == store.PayloadParsed {
			sum.Unchanged, sum.Archived = true, true
			return sum, nil
		}
		return im.parse(ctx, *format, old, old.Size, path) // archived before, never parsed: parse that
	}
	// An import of this file that a crash cut short left an unfinished archive: drop it.
	if err := im.Store.DeleteIncompleteArchives(ctx, pl.URL); err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, fmt.Errorf("import %s: %w", path, err)
	}
	sum, err = im.importOnce(ctx, *format, pl, f, path)
	if err == nil {
		sum.Archived = true
		return sum, nil
	}
	// Keep the file, marked with why it failed, so that it can be reprocessed after a fix.
	// What the failed transaction archived may be partly committed (batches): archive the
	// file again, whole and on its own.
	ctx = context.WithoutCancel(ctx)
	if derr := im.Store.DeleteIncompleteArchives(ctx, pl.URL); derr == nil {
		if _, serr := f.Seek(0, io.SeekStart); serr == nil {
			if p, _, aerr := im.Store.Archive(ctx, pl, f); aerr == nil {
				sum.Archived = true
				_ = im.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, err.Error())
			}
		}
	}
	return sum, fmt.Errorf("import %s: %w", path, err)
}

// importOnce reads the file once: what the parser reads is compressed into the archive on
// the way. The archive becomes whole, and the payload parsed, in the last batch.
func (im *Importer) importOnce(ctx context.Context, format Format, pl store.Payload, f io.Reader, name string) (Summary, error) {
	tx, err := im.Store.Begin(ctx)
	if err != nil {
		return Summary{File: name, Format: format.Name}, err
	}
	defer tx.Rollback()
	// A big file takes a while: commit in batches so that a sync or another import beside
	// this one waits seconds, not minutes.
	tx.Batched(im.batch())
	aw, err := tx.ArchiveWriter(pl)
	if err != nil {
		return Summary{File: name, Format: format.Name}, err
	}
	p := aw.Payload()
	progress := func(read int64) {
		if im.Progress != nil {
			im.Progress(name, read, p.Size)
		}
	}
	body := io.TeeReader(f, aw)
	// 64 KB: small reads (a JSON decoder's) are buffered, while a bulk parser's larger reads
	// go straight to the file without another copy.
	sum, err := format.Parse(ctx, tx, p, bufio.NewReaderSize(body, 64<<10), progress)
	sum.File, sum.Format = name, format.Name
	if err == nil {
		// A parser may stop at the end of its document: the archive keeps the whole file.
		_, err = io.Copy(io.Discard, body)
	}
	if _, cerr := aw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = tx.SetPayloadStatus(p.ID, store.PayloadParsed, "")
	}
	if err == nil {
		err = tx.Commit()
	}
	return sum, err
}

// InterruptedError is the error of Reparse for an archive whose import was cut short (see
// [store.Payload.Incomplete]): it holds only the start of the file, so parsing it again could
// only fail, or store part of the file as if it were all. Importing the file again replaces it.
type InterruptedError struct {
	Payload int64
	// File is the path the file was imported from.
	File string
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("the import of %s was interrupted before the end of the file, so its archive is incomplete: import the file again", e.File)
}

// Reparse parses an archived payload again, such as after a parser fix. An archive whose
// import was interrupted is left as it is, with an [*InterruptedError].
func (im *Importer) Reparse(ctx context.Context, p store.Payload) (Summary, error) {
	if p.Incomplete() {
		file := strings.TrimPrefix(p.URL, "file://")
		return Summary{File: file}, &InterruptedError{Payload: p.ID, File: file}
	}
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
	tx.Batched(im.batch())
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
