package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"custody/store"
	"custody/ui"
)

// parquetSchema is the schema the Parquet export promises: the CSV contract's columns by name
// and in order, start a UTC timestamp, seconds an integer, value and cost nullable doubles and
// the rest strings.
const parquetSchema = `message ParquetRow {
	required binary meter (STRING);
	required binary series (STRING);
	required binary commodity (STRING);
	required binary flow (STRING);
	required binary unit (STRING);
	required int64 start (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS));
	required int64 seconds (INT(64,true));
	optional double value;
	required binary quality (STRING);
	optional double cost;
	required binary currency (STRING);
}`

// readParquet opens a Parquet export, checks its schema and returns its rows rendered as CSV
// contract records, and the number of row groups.
func readParquet(t *testing.T, body []byte) ([][]string, int) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	if got := strings.TrimSpace(f.Schema().String()); got != parquetSchema {
		t.Errorf("schema:\n%s\nwant\n%s", got, parquetSchema)
	}
	var names []string
	for _, fl := range f.Schema().Fields() {
		names = append(names, fl.Name())
	}
	if strings.Join(names, ",") != strings.Join(CSVHeader, ",") {
		t.Errorf("columns %v, want the CSV contract's %v", names, CSVHeader)
	}
	r := parquet.NewGenericReader[ParquetRow](bytes.NewReader(body))
	defer r.Close()
	var out [][]string
	buf := make([]ParquetRow, 100)
	for {
		n, err := r.Read(buf)
		for _, pr := range buf[:n] {
			value, cost := "", ""
			if pr.Value != nil {
				value = formatFloat(*pr.Value)
			}
			if pr.Cost != nil {
				cost = formatFloat(*pr.Cost)
			}
			out = append(out, []string{pr.Meter, pr.Series, pr.Commodity, pr.Flow, pr.Unit,
				time.UnixMicro(pr.Start).UTC().Format(time.RFC3339), strconv.FormatInt(pr.Seconds, 10),
				value, pr.Quality, cost, pr.Currency})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read parquet: %v", err)
		}
	}
	if int64(len(out)) != f.NumRows() {
		t.Errorf("read %d rows, the footer says %d", len(out), f.NumRows())
	}
	return out, len(f.RowGroups())
}

func parseCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	return recs
}

// TestExportParquetMatchesCSV writes readings with costs, missing values (CIM A02) and several
// meters as Parquet and reads them back: row for row the same as the CSV export, for the
// whole database and for a meter's period, to a file and to standard output.
func TestExportParquetMatchesCSV(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "custody.db")
	code, out, errOut := runCLI(t, "import", "--db", db,
		espiFixture("sdk-hourly-9days-cost.xml"), espiFixture("sdk-gas-monthly-therm.xml"),
		datahubFixture("incoming/NotifyValidatedMeasureData_PT1H_missing_quantity.json"))
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		rows int
	}{
		{"everything", nil, 9*24 + 13 + 6},
		{"a meter's hours", []string{"--meter", "571313000000002000", "--from", "2024-06-29", "--to", "2024-06-29T03:30:00Z"}, 4},
		{"a window with no readings", []string{"--from", "1999-01-01", "--to", "1999-02-01"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, csvOut, errOut := runCLI(t, append([]string{"export", "--db", db}, tc.args...)...)
			if code != 0 {
				t.Fatalf("csv export: exit %d: %s", code, errOut)
			}
			want := parseCSV(t, csvOut)[1:]
			if len(want) != tc.rows {
				t.Fatalf("the CSV export has %d rows, want %d", len(want), tc.rows)
			}
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".parquet")
			code, out, errOut := runCLI(t, append([]string{"export", "--db", db, "--format", "parquet", "--output", file}, tc.args...)...)
			if code != 0 || out != "" {
				t.Fatalf("parquet export: exit %d, stdout %q: %s", code, out, errOut)
			}
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode %v, want 0600 (personal data)", fi.Mode().Perm())
			}
			got, _ := readParquet(t, body)
			if len(got) != len(want) {
				t.Fatalf("%d parquet rows, %d csv rows", len(got), len(want))
			}
			for i := range want {
				if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
					t.Errorf("row %d:\nparquet %v\ncsv     %v", i, got[i], want[i])
				}
			}
			// Standard output carries the same file.
			code, stdout, _ := runCLI(t, append([]string{"export", "--db", db, "--format", "parquet"}, tc.args...)...)
			if code != 0 || stdout != string(body) {
				t.Errorf("parquet on standard output differs from --output (exit %d, %d vs %d bytes)", code, len(stdout), len(body))
			}
		})
	}
	// The rows the test relies on are there: a missing value is null, a cost is a number.
	_, csvAll, _ := runCLI(t, "export", "--db", db)
	for _, part := range []string{",3600,,A02,,\n", ",USD\n"} {
		if !strings.Contains(csvAll, part) {
			t.Errorf("the fixtures lack a row with %q; the comparison proves less than it claims", part)
		}
	}
}

// TestExportParquetStreams exports more readings than one row group holds: the writer must
// flush row groups as it goes (memory bounded by a row group) and still write every row.
func TestExportParquetStreams(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "custody.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	n := 2*parquetRowGroup + 123
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Meter{Key: "big", Commodity: "electricity"}
	if err := tx.UpsertMeter(m); err != nil {
		t.Fatal(err)
	}
	sr := &store.Series{MeterID: m.ID, Key: "import", Commodity: "electricity", Flow: "forward", Unit: "Wh", Kind: "energy", Seconds: 900}
	if err := tx.UpsertSeries(sr); err != nil {
		t.Fatal(err)
	}
	rs := make([]store.Reading, n)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rs {
		rs[i] = store.Reading{Start: t0 + int64(i)*900, Seconds: 900, Value: float64(i % 977), Missing: i%1000 == 7}
	}
	if err := tx.PutReadings(sr.ID, rs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	file := filepath.Join(t.TempDir(), "big.parquet")
	if code, _, errOut := runCLI(t, "export", "--db", db, "--format", "parquet", "--output", file); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, groups := readParquet(t, body)
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	if groups < 3 {
		t.Errorf("%d row groups for %d rows: the writer buffered everything instead of streaming", groups, n)
	}
	for i, r := range rows {
		want := strconv.Itoa(i % 977)
		if i%1000 == 7 {
			want = ""
		}
		if r[7] != want || r[5] != time.Unix(t0+int64(i)*900, 0).UTC().Format(time.RFC3339) {
			t.Fatalf("row %d: %v", i, r)
		}
	}
}

// TestExportOutputErrors: a bad format or an unwritable --output is a clear error, and a
// failed export leaves no file behind.
func TestExportOutputErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "custody.db")
	code, _, errOut := runCLI(t, "export", "--db", db, "--format", "xlsx")
	if code != 2 || !strings.Contains(errOut, "--format must be csv, json or parquet") {
		t.Errorf("bad format: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "export", "--db", db, "--format", "parquet", "--output", filepath.Join(dir, "no", "such", "x.parquet"))
	if code == 0 || !strings.Contains(errOut, "x.parquet") {
		t.Errorf("unwritable output: exit %d: %s", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

// TestExportParquetReadByDuckDB reads the Parquet export with DuckDB (its Node client, which
// scripts/parquet-check/install.sh installs from npm) and compares every row with the CSV
// export. It skips, saying why, when node or the client is not installed.
func TestExportParquetReadByDuckDB(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; DuckDB's reading of the Parquet export is not checked")
	}
	checker, err := filepath.Abs(filepath.Join("..", "scripts", "parquet-check"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(checker, "node_modules", "@duckdb", "node-api")); err != nil {
		t.Skip("DuckDB's Node client is not installed: run scripts/parquet-check/install.sh")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "custody.db")
	if code, out, errOut := runCLI(t, "import", "--db", db,
		espiFixture("sdk-hourly-9days-cost.xml"), espiFixture("sdk-gas-monthly-therm.xml"),
		datahubFixture("incoming/NotifyValidatedMeasureData_PT1H_missing_quantity.json")); code != 0 {
		t.Fatalf("import: %s%s", out, errOut)
	}
	_, csvOut, _ := runCLI(t, "export", "--db", db)
	want, err := json.Marshal(parseCSV(t, csvOut)[1:])
	if err != nil {
		t.Fatal(err)
	}
	expected := filepath.Join(dir, "expected.json")
	if err := os.WriteFile(expected, want, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "all.parquet")
	if code, _, errOut := runCLI(t, "export", "--db", db, "--format", "parquet", "--output", file); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	cmd := exec.Command(node, filepath.Join(checker, "check.mjs"), file, expected)
	cmd.Dir = checker
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("DuckDB: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestGUIExportBySeries: the GUI's export of one meter's series over a period, as Parquet,
// holds exactly that series' readings in the period.
func TestGUIExportBySeries(t *testing.T) {
	db := filepath.Join(t.TempDir(), "custody.db")
	if code, out, errOut := runCLI(t, "import", "--db", db, espiFixture("sdk-multi-readingtypes-net-reverse-pq.xml")); code != 0 {
		t.Fatalf("import: %s%s", out, errOut)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := st.SeriesOf(context.Background(), 0)
	if err != nil || len(ss) < 2 {
		t.Fatalf("series: %d, %v", len(ss), err)
	}
	ms, err := st.Meters(context.Background(), store.MeterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var meterKey string
	for _, m := range ms {
		if m.ID == ss[1].MeterID {
			meterKey = m.Key
		}
	}
	stats, _ := st.StatsOf(context.Background(), ss[1].ID)
	from, to := stats.First, stats.First+2*86400
	var buf bytes.Buffer
	req := ui.ExportRequest{Format: "parquet", Meter: meterKey, Series: []string{ss[1].Key}, From: from, To: to}
	if err := (guiExporter{st: st}).Export(context.Background(), &buf, req); err != nil {
		t.Fatal(err)
	}
	rows, _ := readParquet(t, buf.Bytes())
	if len(rows) == 0 {
		t.Fatal("nothing exported")
	}
	for _, r := range rows {
		start, _ := time.Parse(time.RFC3339, r[5])
		if r[0] != meterKey || r[1] != ss[1].Key || start.Unix() < from || start.Unix() >= to {
			t.Fatalf("row %v outside the request %+v", r, req)
		}
	}
	if err := (guiExporter{st: st}).Export(context.Background(), &buf, ui.ExportRequest{Format: "xlsx"}); err == nil || !strings.Contains(err.Error(), "xlsx") {
		t.Errorf("unknown format: %v", err)
	}
}
