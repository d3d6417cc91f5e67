package fileimport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/fileimport"
)

// lineFormat is a tiny format for these tests: "LINES" then one "meter value" per line.
// A line "fail" makes the parse fail after it has written readings, to prove they are rolled back.
var lineFormat = fileimport.Format{
	Name:   "lines",
	Detect: func(head []byte) bool { return bytes.HasPrefix(head, []byte("LINES\n")) },
	Parse: func(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
		body, err := io.ReadAll(r)
		if err != nil {
			return fileimport.Summary{}, err
		}
		var sum fileimport.Summary
		for i, line := range strings.Split(strings.TrimSpace(string(body)), "\n")[1:] {
			if line == "fail" {
				return sum, fmt.Errorf("line %d: told to fail", i+2)
			}
			var meter string
			var v float64
			fmt.Sscan(line, &meter, &v)
			m := store.Meter{Key: meter}
			if err := tx.UpsertMeter(&m); err != nil {
				return sum, err
			}
			sr := store.Series{MeterID: m.ID, Key: "s"}
			if err := tx.UpsertSeries(&sr); err != nil {
				return sum, err
			}
			if err := tx.PutReadings(sr.ID, []store.Reading{{Start: int64(i) * 3600, Seconds: 3600, Value: v}}); err != nil {
				return sum, err
			}
			sum.Readings++
		}
		progress(int64(len(body)))
		return sum, nil
	},
}

func setup(t *testing.T) (*store.Store, *fileimport.Importer, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, &fileimport.Importer{Store: st, Formats: []fileimport.Format{lineFormat}}, dir
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportIsIdempotent(t *testing.T) {
	st, im, dir := setup(t)
	ctx := context.Background()
	p := write(t, dir, "a.txt", "LINES\nm1 1.5\nm1 2\n")
	sum, err := im.Import(ctx, p)
	if err != nil || sum.Readings != 2 || sum.Format != "lines" || sum.Unchanged {
		t.Fatalf("first import %+v, %v", sum, err)
	}
	sum, err = im.Import(ctx, p)
	if err != nil || !sum.Unchanged {
		t.Fatalf("second import %+v, %v", sum, err)
	}
	c, _ := st.Counts(ctx)
	if c.Readings != 2 || c.Payloads != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestFailedParseKeepsPayloadAndImportsNothing(t *testing.T) {
	st, im, dir := setup(t)
	ctx := context.Background()
	p := write(t, dir, "bad.txt", "LINES\nm1 1\nfail\n")
	_, err := im.Import(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "line 3: told to fail") || !strings.Contains(err.Error(), p) {
		t.Fatalf("error %v does not name the file and the place", err)
	}
	c, _ := st.Counts(ctx)
	if c.Readings != 0 || c.Meters != 0 || c.Payloads != 1 {
		t.Fatalf("half-imported: %+v", c)
	}
	ps, _ := st.Payloads(ctx, store.PayloadFilter{Status: store.PayloadFailed})
	if len(ps) != 1 || !strings.Contains(ps[0].Error, "told to fail") {
		t.Fatalf("failed payload not kept with its error: %+v", ps)
	}
	// After a fix (here: a format that accepts the line) the archived payload reparses.
	fixed := lineFormat
	inner := lineFormat.Parse
	fixed.Parse = func(ctx context.Context, tx *store.Tx, pl store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
		b, _ := io.ReadAll(r)
		return inner(ctx, tx, pl, strings.NewReader(strings.ReplaceAll(string(b), "fail\n", "")), progress)
	}
	im.Formats = []fileimport.Format{fixed}
	if _, err := im.Reparse(ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	c, _ = st.Counts(ctx)
	if c.Readings != 1 {
		t.Fatalf("after reparse %+v", c)
	}
}

func TestUnknownFormatIsArchivedAndRefused(t *testing.T) {
	st, im, dir := setup(t)
	ctx := context.Background()
	_, err := im.Import(ctx, write(t, dir, "x.bin", "\x00\x01 not a known file"))
	if !errors.Is(err, fileimport.ErrUnknownFormat) {
		t.Fatalf("got %v", err)
	}
	ps, _ := st.Payloads(ctx, store.PayloadFilter{Status: store.PayloadFailed})
	if len(ps) != 1 {
		t.Fatalf("unknown file not archived: %+v", ps)
	}
	if _, err := im.Import(ctx, filepath.Join(dir, "absent.xml")); err == nil || !strings.Contains(err.Error(), "absent.xml") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestBatchedImportFailureKeepsTheWholeFile fails a parse after several batches have been
// committed, archive chunks and all: the unfinished archive is gone, and the file is archived
// whole, on its own, marked failed with the reason, and reads back byte for byte.
func TestBatchedImportFailureKeepsTheWholeFile(t *testing.T) {
	st, im, dir := setup(t)
	im.Batch = time.Nanosecond // every PutReadings commits what came before
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("LINES\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "m%d %d\n", i%3, i)
	}
	b.WriteString("fail\n")
	body := b.String()
	p := write(t, dir, "big.txt", body)
	if _, err := im.Import(ctx, p); err == nil || !strings.Contains(err.Error(), "told to fail") {
		t.Fatalf("import: %v", err)
	}
	ps, err := st.Payloads(ctx, store.PayloadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Status != store.PayloadFailed || !strings.Contains(ps[0].Error, "told to fail") || ps[0].Size != int64(len(body)) {
		t.Fatalf("payloads %+v, want one failed payload of the whole file", ps)
	}
	rc, err := st.OpenPayload(ctx, ps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != body {
		t.Fatalf("archive reads back %d bytes (%v), want the file's %d", len(got), err, len(body))
	}
}

// TestImportDropsAnArchiveACrashLeftUnfinished imports a file whose earlier import stopped
// after a batch had committed part of its archive (as a crash would leave it): the unfinished
// archive matches nothing, is deleted, and the file is archived and parsed whole.
func TestImportDropsAnArchiveACrashLeftUnfinished(t *testing.T) {
	st, im, dir := setup(t)
	ctx := context.Background()
	body := "LINES\nm1 1\nm2 2\n"
	p := write(t, dir, "a.txt", body)
	abs, _ := filepath.Abs(p)
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := tx.ArchiveWriter(store.Payload{Format: "lines", URL: "file://" + abs, SHA256: "x", Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aw.Write([]byte(body[:8])); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil { // the batch commit before the crash
		t.Fatal(err)
	}
	ps, _ := st.Payloads(ctx, store.PayloadFilter{})
	if len(ps) != 1 || ps[0].Error != store.IncompleteArchive || ps[0].SHA256 != "" {
		t.Fatalf("unfinished archive recorded as %+v", ps)
	}
	// Reparsing it could only fail on the truncated body, or store part of the file as all of
	// it: Reparse leaves it alone and names the file to import again.
	_, err = im.Reparse(ctx, ps[0])
	var ie *fileimport.InterruptedError
	if !errors.As(err, &ie) || ie.File != abs || ie.Payload != ps[0].ID || !strings.Contains(err.Error(), abs+" was interrupted") {
		t.Fatalf("reparse of an unfinished archive: %v", err)
	}
	if again, _ := st.Payloads(ctx, store.PayloadFilter{}); len(again) != 1 || again[0].Status != ps[0].Status || again[0].Error != ps[0].Error || again[0].SHA256 != "" {
		t.Fatalf("reparse changed the unfinished archive: %+v", again)
	}
	sum, err := im.Import(ctx, p)
	if err != nil || sum.Readings != 2 || sum.Unchanged {
		t.Fatalf("import %+v, %v", sum, err)
	}
	ps, _ = st.Payloads(ctx, store.PayloadFilter{})
	if len(ps) != 1 || ps[0].Status != store.PayloadParsed || ps[0].Size != int64(len(body)) {
		t.Fatalf("payloads %+v, want only the whole, parsed one", ps)
	}
}
