package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/app/secrets"
	"custody/store"
	"custody/sync/crashpoint"
)

// childImportBatchEnv sets the child's Env.ImportBatch, so that a small file is committed in
// several batches and a crash can fall between them.
const childImportBatchEnv = "CUSTODY_TEST_IMPORT_BATCH"

// importChild runs `custody import FILE` in a child process that commits a batch at every
// chance and crashes at crashAt, and returns its exit status and output.
func importChild(t *testing.T, db, file, crashAt string) (int, string) {
	t.Helper()
	return runChild(t, []string{childSecretsEnv + "={}", childImportBatchEnv + "=1ns", crashpoint.EnvVar + "=" + crashAt}, "import", "--db", db, file)
}

// copyFixture copies an ESPI fixture into dir, where the test imports it from.
func copyFixture(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	must(t, os.WriteFile(path, fixture(t, espiFixture(name)), 0o600))
	return path
}

// TestImportCutShortByACrash kills `custody import` between two batch commits, as a power cut
// would, leaving an archive that is not whole. `custody reprocess` (plain and --all) leaves it
// alone and says which file to import again, while it reprocesses the rest; importing the
// file again then makes the database what an uninterrupted import makes, and nothing of the
// file imported before is lost.
func TestImportCutShortByACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the custody child process")
	}
	dir := t.TempDir()
	earlier := copyFixture(t, dir, "sdk-hourly-9days-cost.xml")
	big := copyFixture(t, dir, "nist-desert-single-family-2011-hourly.xml")

	ref := &cli{t: t, db: filepath.Join(t.TempDir(), "ref.db"), secrets: secrets.NewMemory()}
	if code, out, errOut := ref.run("", "import", earlier, big); code != 0 {
		t.Fatalf("uninterrupted import: %d\n%s%s", code, out, errOut)
	}
	_, want, _ := ref.run("", "export")
	if strings.Count(want, "\n") < 8760 {
		t.Fatalf("the uninterrupted import exported only %d lines", strings.Count(want, "\n"))
	}

	for _, at := range []string{crashpoint.AfterBatch + ":1", crashpoint.AfterBatch + ":2"} {
		t.Run(at, func(t *testing.T) {
			c := &cli{t: t, db: filepath.Join(t.TempDir(), "custody.db"), secrets: secrets.NewMemory()}
			if code, out, errOut := c.run("", "import", earlier); code != 0 {
				t.Fatalf("import the earlier file: %d\n%s%s", code, out, errOut)
			}
			_, before, _ := c.run("", "export")

			if code, out := importChild(t, c.db, big, at); code != crashpoint.ExitCode {
				t.Fatalf("import crashing at %s: exit %d, want %d:\n%s", at, code, crashpoint.ExitCode, out)
			}
			cut := payloadOf(t, c.db, big)
			if cut.SHA256 != "" || cut.Error != store.IncompleteArchive {
				t.Fatalf("the interrupted import left %+v, want an unfinished archive", cut)
			}

			for _, args := range [][]string{{"reprocess"}, {"reprocess", "--all"}} {
				code, out, errOut := c.run("", args...)
				if code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
				// The message names the file, says what happened and what to do, and no parse
				// error of a truncated body.
				wantMsg := fmt.Sprintf("payload %d: the import of %s was interrupted before the end of the file, so its archive is incomplete: import the file again (custody import %s)\n", cut.ID, big, big)
				if !strings.Contains(errOut, wantMsg) || strings.Contains(errOut, "truncated") || strings.Contains(errOut, "FAILED") {
					t.Errorf("%v: stderr\n%s\nwant\n%s", args, errOut, wantMsg)
				}
				wantLast := "reprocessed 0 payloads, 0 failed, 1 skipped\n"
				if len(args) == 2 {
					wantLast = "reprocessed 1 payloads, 0 failed, 1 skipped\n"
					if !strings.Contains(out, earlier+": espi, ") {
						t.Errorf("reprocess --all did not reparse the earlier file:\n%s", out)
					}
				}
				if !strings.HasSuffix(out, wantLast) {
					t.Errorf("%v: stdout\n%s\nwant it to end with %q", args, out, wantLast)
				}
				if p := payloadOf(t, c.db, big); p.SHA256 != "" || p.Error != store.IncompleteArchive || p.ID != cut.ID {
					t.Errorf("%v changed the unfinished archive: %+v", args, p)
				}
			}
			// Nothing of the earlier file is lost: its rows are all still there.
			_, mid, _ := c.run("", "export")
			for _, l := range strings.Split(strings.TrimSpace(before), "\n") {
				if !strings.Contains(mid, l+"\n") {
					t.Fatalf("after the crash and reprocess, the earlier file's row %q is gone", l)
				}
			}

			if code, out, errOut := c.run("", "import", big); code != 0 || !strings.Contains(out, big+": espi, ") {
				t.Fatalf("import again: %d\n%s%s", code, out, errOut)
			}
			if _, got, _ := c.run("", "export"); got != want {
				t.Errorf("after importing again the export differs from an uninterrupted import's:\n%s", lineDiff(got, want))
			}
			ps := allPayloads(t, c.db)
			if len(ps) != 2 {
				t.Fatalf("%d payloads after importing again, want the two files: %+v", len(ps), ps)
			}
			for _, p := range ps {
				if p.Status != store.PayloadParsed || p.SHA256 == "" {
					t.Errorf("payload %d (%s): %s %q", p.ID, p.URL, p.Status, p.Error)
				}
			}
			if code, out, errOut := c.run("", "reprocess"); code != 0 || out != "reprocessed 0 payloads, 0 failed, 0 skipped\n" || errOut != "" {
				t.Errorf("reprocess after importing again: %d\n%s%s", code, out, errOut)
			}
		})
	}
}

func allPayloads(t *testing.T, db string) []store.Payload {
	t.Helper()
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, err := st.Payloads(t.Context(), store.PayloadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// payloadOf returns the one payload archived from file.
func payloadOf(t *testing.T, db, file string) store.Payload {
	t.Helper()
	var out []store.Payload
	for _, p := range allPayloads(t, db) {
		if p.URL == "file://"+file {
			out = append(out, p)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d payloads of %s, want 1: %+v", len(out), file, out)
	}
	return out[0]
}
