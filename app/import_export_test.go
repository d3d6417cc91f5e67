package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/app/secrets"
)

// espiFixture is a Green Button file from the espi package's test data.
func espiFixture(name string) string { return filepath.Join("..", "sync", "espi", "testdata", name) }

// runCLI runs custody with args on buffers and returns the exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv:  func(string) string { return "" },
		Secrets: secrets.NewMemory(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	env.Drivers = drivers(env)
	env.Formats = fileFormats()
	code := Run(context.Background(), env, args)
	return code, stdout.String(), stderr.String()
}

// TestImportExportGreenButton imports Green Button files through the CLI, checks the CSV
// contract's header and rows, and that importing again and reprocessing change nothing.
func TestImportExportGreenButton(t *testing.T) {
	db := filepath.Join(t.TempDir(), "custody.db")
	gas, pge := espiFixture("sdk-gas-monthly-therm.xml"), espiFixture("pge-smd-bulk-1day-hourly-tou.xml")
	code, out, errOut := runCLI(t, "import", "--db", db, gas, pge)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		gas + ": espi, 1 meters, 1 series, 13 readings, 2011-04-01T04:00:00Z to 2012-04-15T04:00:00Z, 0 warnings\n",
		pge + ": espi, 1 meters, 1 series, 24 readings, 2019-10-03T07:00:00Z to 2019-10-04T07:00:00Z, 0 warnings\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	code, csv1, errOut := runCLI(t, "export", "--db", db)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	lines := strings.Split(csv1, "\n")
	if lines[0] != "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency" {
		t.Errorf("header %q", lines[0])
	}
	if len(lines) != 1+13+24+1 {
		t.Errorf("%d lines, want header + 37 rows", len(lines))
	}
	for _, row := range []string{
		// Gas: uom 169 × 10^-3, cost ÷ 100,000, currency 840.
		"RetailCustomer/9b6c7063/UsagePoint/02,RetailCustomer/9b6c7063/UsagePoint/02/MeterReading/01,gas,forward,therm,2011-04-01T04:00:00Z,2592000,72.609,,237.39318,USD",
		// PG&E: uom 72 × 10^-3 (1067300 → 1067.3 Wh), quality 17, no cost.
		"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/4095251/UsagePoint/5391320451,https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/4095251/UsagePoint/5391320451/MeterReading/TnpJNmJuVnNiRG96TmpBd09qRT06MQ==,electricity,forward,Wh,2019-10-03T07:00:00Z,3600,1067.3,17,,",
	} {
		if !strings.Contains(csv1, row+"\n") {
			t.Errorf("export lacks row %q", row)
		}
	}

	// The same file again: nothing changes.
	code, out, _ = runCLI(t, "import", "--db", db, pge)
	if code != 0 || !strings.Contains(out, "already imported") {
		t.Errorf("re-import: exit %d: %s", code, out)
	}
	// Parsing every archived file again: nothing changes either.
	if code, out, errOut := runCLI(t, "reprocess", "--db", db, "--all"); code != 0 {
		t.Fatalf("reprocess: exit %d\n%s%s", code, out, errOut)
	}
	if _, csv2, _ := runCLI(t, "export", "--db", db); csv2 != csv1 {
		t.Errorf("export changed after re-import and reprocess:\n%s\nwas\n%s", csv2, csv1)
	}

	// Only the gas meter, against the golden file.
	_, gasCSV, _ := runCLI(t, "export", "--db", db, "--meter", "RetailCustomer/9b6c7063/UsagePoint/02")
	golden := filepath.Join("testdata", "espi-sdk-gas-monthly-therm.golden.csv")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(gasCSV), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if gasCSV != string(want) {
		t.Errorf("gas export differs from %s:\n%s", golden, gasCSV)
	}
}

// TestImportBrokenGreenButton refuses a broken file with exit 1 and a message naming the
// file, the entry and the reason; nothing of it is imported.
func TestImportBrokenGreenButton(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "custody.db")
	body, err := os.ReadFile(espiFixture("sdk-hourly-9days-cost.xml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(broken, body[:len(body)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "import", "--db", db, broken, espiFixture("ngma-gas-malformed-timestamps.xml"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		broken + ": FAILED: espi: entry 9 (https://services.greenbuttondata.org/DataCustodian/espi/1_1/resource/RetailCustomer/2/UsagePoint/2/MeterReading/01/IntervalBlock/17B): line 1068:5: ",
		"the file is truncated",
		"ngma-gas-malformed-timestamps.xml: FAILED: espi: entry 3 (User/11111111/UsagePoint/01/MeterReading/01/IntervalBlock/0173): 35 of its 36 readings start at the same time",
		"2 of 2 files failed",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	_, csv, _ := runCLI(t, "export", "--db", db)
	if csv != "meter,series,commodity,flow,unit,start,seconds,value,quality,cost,currency\n" {
		t.Errorf("something was imported:\n%s", csv)
	}
}
