package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"custody/app/secrets"
	"custody/store"
)

// pgeDay is a real PG&E Share My Data bulk file, kept with the ESPI parser's fixtures.
const pgeDay = "../sync/espi/testdata/pge-smd-bulk-1day-hourly-tou.xml"

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportOfUTF16SaysUTF16(t *testing.T) {
	src := fixture(t, pgeDay)
	u := utf16.Encode([]rune(string(src)))
	var le bytes.Buffer
	le.Write([]byte{0xFF, 0xFE})
	for _, c := range u {
		le.WriteByte(byte(c))
		le.WriteByte(byte(c >> 8))
	}
	file := filepath.Join(t.TempDir(), "usage-utf16.xml")
	must(t, os.WriteFile(file, le.Bytes(), 0o600))
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "c.db"), secrets: secrets.NewMemory()}
	code, _, errOut := c.run("", "import", file)
	if code == 0 {
		t.Fatal("a UTF-16 file was imported as if it were UTF-8")
	}
	if !strings.Contains(errOut, "UTF-16") || strings.Contains(errOut, "not a Green Button") {
		t.Errorf("message for a UTF-16 Green Button file: %s", errOut)
	}
	if !strings.Contains(errOut, "kept in the database's archive") {
		t.Errorf("an archived file is not said to be archived: %s", errOut)
	}
}

func TestImportThatCouldNotArchiveDoesNotSayArchived(t *testing.T) {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "c.db"), secrets: secrets.NewMemory()}
	dir := t.TempDir() // a folder opens but cannot be read
	code, _, errOut := c.run("", "import", dir)
	if code == 0 {
		t.Fatal("importing a folder succeeded")
	}
	if strings.Contains(errOut, "archive;") || strings.Contains(errOut, "is archived") || strings.Contains(errOut, "kept in the database") {
		t.Errorf("says the file is archived though it could not be read: %s", errOut)
	}
	if !strings.Contains(errOut, "could not be archived") {
		t.Errorf("does not say the file could not be archived: %s", errOut)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func TestImportFailsWhenItsSummaryCannotBeWritten(t *testing.T) {
	src := fixture(t, pgeDay)
	file := filepath.Join(t.TempDir(), "usage.xml")
	must(t, os.WriteFile(file, src, 0o600))
	var stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: failingWriter{}, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Secrets: secrets.NewMemory(),
		Logger: slog.New(slog.NewTextHandler(&stderr, nil))}
	env.Drivers = drivers(env)
	env.Formats = fileFormats()
	if code := Run(context.Background(), env, []string{"import", file, "--db", filepath.Join(t.TempDir(), "c.db")}); code == 0 {
		t.Fatalf("import exited 0 though its summary could not be written: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("the write error is not reported: %s", stderr.String())
	}
}

// A crash (or a full disk, or a busy database) between archiving and parsing leaves a payload
// pending. Plain `custody reprocess` must parse it; it used to look at failed payloads only.
func TestReprocessPicksUpPendingPayloads(t *testing.T) {
	src := fixture(t, pgeDay)
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "c.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := st.Archive(ctx, store.Payload{Format: "espi", URL: "file:///home/u/usage.xml"}, bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != store.PayloadPending {
		t.Fatalf("archived payload status %q", p.Status)
	}
	st.Close()

	c := &cli{t: t, db: db, secrets: secrets.NewMemory()}
	code, out, errOut := c.run("", "reprocess")
	if code != 0 {
		t.Fatalf("reprocess: %d %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "reprocessed 1 payloads") {
		t.Errorf("reprocess output: %s", out)
	}
	_, csv, _ := c.run("", "export")
	if rows := strings.Count(csv, "\n"); rows < 2 {
		t.Errorf("no readings after reprocessing a pending payload: %q", csv)
	}
	st, err = store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pending, _ := st.Payloads(ctx, store.PayloadFilter{Status: store.PayloadPending})
	if len(pending) != 0 {
		t.Errorf("%d payloads still pending after reprocess", len(pending))
	}
}
