package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/store"
)

// TestGUIImportAndExport drives the importer and exporter the GUI is wired with: a file the
// user drops is imported like `custody import` does it, and the save dialog gets the CSV of
// `custody export`.
func TestGUIImportAndExport(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gui.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := &Env{Secrets: secrets.NewMemory(), Formats: fileFormats()}
	deps := guiDeps(env, st, guiOptions{DBPath: st.Path()})
	if deps.SecretField != SecretField || deps.Validate == nil || deps.Editor == nil || deps.Secrets == nil {
		t.Fatalf("deps not wired: %+v", deps)
	}
	var lastRead, lastSize int64
	sum, err := deps.Import.Import(ctx, espiFixture("sdk-gas-monthly-therm.xml"), func(read, size int64) { lastRead, lastSize = read, size })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Format != "espi" || sum.Readings != 13 {
		t.Fatalf("summary: %+v", sum)
	}
	if lastRead > lastSize {
		t.Fatalf("progress read %d of %d", lastRead, lastSize)
	}
	again, err := deps.Import.Import(ctx, espiFixture("sdk-gas-monthly-therm.xml"), func(int64, int64) {})
	if err != nil || !again.Unchanged {
		t.Fatalf("second import: %+v, %v", again, err)
	}
	var buf bytes.Buffer
	if err := deps.Export.ExportCSV(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != strings.Join(CSVHeader, ",") || len(lines) != 14 {
		t.Fatalf("export: %d lines, header %q", len(lines), lines[0])
	}
	// The form's validation is the CLI's: an http URL is refused in plain words.
	_, err = deps.Validate("greenbutton", "x", func(f string) string {
		return map[string]string{"base-url": "http://a.example", "token-url": "https://a.example/t", "client-id": "c"}[f]
	}, func(string) []string { return nil })
	if err == nil || !strings.Contains(err.Error(), "only https is allowed") {
		t.Fatalf("validation: %v", err)
	}
}
