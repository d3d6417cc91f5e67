package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"custody/store"
)

// The hand-written CSV writer must write what encoding/csv writes for the same records: the
// export is a contract. The records here hold every case a field can need: commas, quotes,
// line breaks, leading spaces, "\.", empty fields, missing values, costs, dates before 1970
// and after 9999.
func TestCSVExportMatchesEncodingCSV(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"plain", "with,comma", `with "quote"`, "line\nbreak", "cr\r\nlf", " leading space", `\.`, "", "tab\there", "ünïcødé"}
	starts := []int64{-86400 * 400, -1, 0, 1, 86399, 86400, 1700000000, 253402300799, 253402300800 + 86400*3}
	for i, text := range texts {
		m := store.Meter{Key: "meter " + text + strconv.Itoa(i)}
		if err := tx.UpsertMeter(&m); err != nil {
			t.Fatal(err)
		}
		sr := store.Series{MeterID: m.ID, Key: text, Commodity: "electricity", Flow: text, Unit: "Wh", Seconds: 900, Currency: text}
		if err := tx.UpsertSeries(&sr); err != nil {
			t.Fatal(err)
		}
		var rs []store.Reading
		for j, s := range starts {
			r := store.Reading{Start: s, Seconds: 900, Value: float64(j)*1.25 - 3, Quality: texts[(i+j)%len(texts)]}
			r.Missing = j%3 == 1
			r.Cost, r.HasCost = float64(j)/7, j%2 == 0
			rs = append(rs, r)
		}
		if err := tx.PutReadings(sr.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	cw.Write(CSVHeader)
	err = st.ExportReadings(ctx, store.ExportFilter{}, func(row store.ExportRow) error {
		r := row.Reading
		value, cost := "", ""
		if !r.Missing {
			value = strconv.FormatFloat(r.Value, 'f', -1, 64)
		}
		if r.HasCost {
			cost = strconv.FormatFloat(r.Cost, 'f', -1, 64)
		}
		return cw.Write([]string{safeText(row.Meter), safeText(row.Series), safeText(row.Commodity), safeText(row.Flow), safeText(row.Unit),
			time.Unix(r.Start, 0).UTC().Format(time.RFC3339), strconv.FormatInt(r.Seconds, 10),
			value, safeText(r.Quality), cost, safeText(row.Currency)})
	})
	cw.Flush()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := exportCSV(ctx, &got, st, store.ExportFilter{}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d differs:\n got %q\nwant %q", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("exports differ in length: %d and %d lines", len(gl), len(wl))
	}
}

// An href with an escape sequence (ESC ] 0 ; ... BEL sets a terminal's title; others do worse)
// must not reach a terminal through `custody export`.
func TestCSVExportNeverWritesControlBytes(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := store.Meter{Key: "https://u.example/UsagePoint/1\x1b]0;pwned\x07"}
	must(t, tx.UpsertMeter(&m))
	sr := store.Series{MeterID: m.ID, Key: "s\x9b31m\x00\x7f\xff", Unit: "Wh", Seconds: 900}
	must(t, tx.UpsertSeries(&sr))
	must(t, tx.PutReadings(sr.ID, []store.Reading{{Start: 0, Seconds: 900, Value: 1, Quality: "\x1b[2J"}}))
	must(t, tx.Commit())
	var out bytes.Buffer
	must(t, exportCSV(ctx, &out, st, store.ExportFilter{}))
	for i, c := range out.Bytes() {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("control byte %#x at %d in %q", c, i, out.String())
		}
	}
	if strings.Contains(out.String(), "\u009b") || !strings.Contains(out.String(), "\uFFFD]0;pwned\uFFFD") {
		t.Errorf("control characters not replaced as expected: %q", out.String())
	}
}
