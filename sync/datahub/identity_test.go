package datahub

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custody/store"
)

// variant rewrites the D04 balance-fixing fixture into another process (and settlement version),
// with a new message id and every quantity scaled, as DataHub sends the later calculations of
// the same grid area and day.
func variant(t *testing.T, process, settlementVersion, id, scale string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/peek-responses/aggregations_NotifyAggregatedMeasureData_D04_PT15M_25h.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	repl := []string{
		`"mRID": "7394988f847fd9b4e64d1bcb702753a1"`, `"mRID": "` + id + `"`,
		"\"process.processType\": {\n      \"value\": \"D04\"", "\"process.processType\": {\n      \"value\": \"" + process + "\"",
	}
	if settlementVersion != "" {
		repl = append(repl, `"version": "3",`, `"version": "3", "settlement_Series.version": {"value": "`+settlementVersion+`"},`)
	}
	for i := 0; i < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("fixture lacks %q", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	// "quantity": 372.426 → "quantity": 372.4261 (scale "1"): the values differ per process.
	s = strings.ReplaceAll(s, `"quantity": `, `"quantity": `+scale)
	return []byte(s)
}

func TestProcessesKeptApart(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	docs := []struct{ process, sv, id, scale, name string }{
		{"D04", "", "7394988f847fd9b4e64d1bcb702753a1", "", "Balance fixing · consumption (non-profiled) · supplier 5790002606892 · BRP 5790001687137"},
		{"D05", "", "a394988f847fd9b4e64d1bcb702753a1", "1", "Wholesale fixing · consumption (non-profiled) · supplier 5790002606892 · BRP 5790001687137"},
		{"D32", "D01", "b394988f847fd9b4e64d1bcb702753a1", "2", "Wholesale fixing, 1st correction · consumption (non-profiled) · supplier 5790002606892 · BRP 5790001687137"},
		{"D32", "D02", "c394988f847fd9b4e64d1bcb702753a1", "3", "Wholesale fixing, 2nd correction · consumption (non-profiled) · supplier 5790002606892 · BRP 5790001687137"},
	}
	for _, d := range docs {
		f := filepath.Join(dir, d.id+".json")
		if err := os.WriteFile(f, variant(t, d.process, d.sv, d.id, d.scale), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := importer4(st).Import(context.Background(), f); err != nil {
			t.Fatalf("%s: %v", d.process, err)
		}
	}
	ctx := context.Background()
	ms, err := st.Meters(ctx, store.MeterFilter{})
	if err != nil || len(ms) != 1 || ms[0].Key != "grid-area-804" {
		t.Fatalf("meters %+v %v", ms, err)
	}
	srs, err := st.SeriesOf(ctx, ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(srs) != len(docs) {
		t.Fatalf("%d series, want %d (one per process and settlement version): %+v", len(srs), len(docs), srs)
	}
	byKey := map[string]store.Series{}
	for _, s := range srs {
		byKey[s.Key] = s
	}
	got := rows(t, st, "grid-area-804")
	if len(got) != 100*len(docs) {
		t.Errorf("%d exported rows, want %d", len(got), 100*len(docs))
	}
	for _, d := range docs {
		prefix := d.process
		if d.sv != "" {
			prefix += ":" + d.sv
		}
		key := prefix + "/8716867000030/E17/E02/es:5790002606892/brp:5790001687137/PT15M/kWh"
		s, ok := byKey[key]
		if !ok {
			t.Errorf("no series %s among %v", key, srs)
			continue
		}
		if s.Attrs["name"] != d.name {
			t.Errorf("series %s named %q, want %q", key, s.Attrs["name"], d.name)
		}
		st, err := st.StatsOf(ctx, s.ID)
		if err != nil || st.Count != 100 {
			t.Errorf("series %s: %+v %v", key, st, err)
		}
		// The first point is 372.426 in the fixture; each variant prefixed its digits.
		r, ok := got[key+"@2025-10-25T22:00:00Z"]
		if want := d.scale + "372.426"; !ok || strconvFormat(r.Reading.Value) != want {
			t.Errorf("%s first value %+v, want %s", key, r.Reading, want)
		}
	}
}

func TestProcessName(t *testing.T) {
	for _, c := range []struct{ p, sv, want string }{
		{"D03", "", "Preliminary aggregation"}, {"D04", "", "Balance fixing"}, {"D05", "", "Wholesale fixing"},
		{"D32", "D01", "Wholesale fixing, 1st correction"}, {"D32", "D02", "Wholesale fixing, 2nd correction"},
		{"D32", "D03", "Wholesale fixing, 3rd correction"}, {"D32", "", "Correction settlement"}, {"X99", "", "Process X99"},
	} {
		if got := ProcessName(c.p, c.sv); got != c.want {
			t.Errorf("ProcessName(%s, %s) = %q, want %q", c.p, c.sv, got, c.want)
		}
	}
}

// TestMigrationMovesOldKeys makes a database the way Custody stored grid-area results before
// process types kept them apart (keys without the process, attributes naming it), runs the
// migration on it, and checks that every series moved to its new key with all its readings and
// the name datahub.SeriesName gives, and that a metering point series is left alone.
func TestMigrationMovesOldKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	type old struct {
		meter, key string
		attrs      map[string]string
		newKey     string
	}
	olds := []old{
		{"grid-area-804", "8716867000030/E17/E02/es:5790002606892/brp:5790001687137/PT15M/kWh",
			map[string]string{"process_type": "D04", "metering_point_type": "E17", "settlement_method": "E02",
				"energy_supplier": "5790002606892", "balance_responsible": "5790001687137", "product": "8716867000030"},
			"D04/8716867000030/E17/E02/es:5790002606892/brp:5790001687137/PT15M/kWh"},
		{"grid-area-804", "5790001330590/E17/D01/charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/kWh",
			map[string]string{"process_type": "D32", "settlement_version": "D02", "metering_point_type": "E17", "settlement_method": "D01",
				"charge_type": "D03", "charge_code": "T-NET-C", "charge_owner": "5790000610877", "energy_supplier": "5790002606892"},
			"D32:D02/5790001330590/E17/D01/charge:5790000610877:D03:T-NET-C/es:5790002606892/PT1H/kWh"},
		{"grid-area-543", "8716867000030/E18/PT1H/kWh",
			map[string]string{"process_type": "D05", "metering_point_type": "E18"}, "D05/8716867000030/E18/PT1H/kWh"},
		{"grid-area-805", "8716867000030/E18/PT15M/kWh",
			map[string]string{"process_type": "X77", "settlement_version": "D01", "metering_point_type": "D99", "settlement_method": "Z9"},
			"X77:D01/8716867000030/E18/PT15M/kWh"},
		{"571313100000001239", "8716867000030/E17/PT15M/kWh",
			map[string]string{"process_type": "E23", "metering_point_type": "E17"}, "8716867000030/E17/PT15M/kWh"},
	}
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range olds {
		m := store.Meter{Key: o.meter, Commodity: "electricity"}
		if err := tx.UpsertMeter(&m); err != nil {
			t.Fatal(err)
		}
		sr := store.Series{MeterID: m.ID, Key: o.key, Unit: "kWh", Seconds: 900, Attrs: o.attrs}
		if err := tx.UpsertSeries(&sr); err != nil {
			t.Fatal(err)
		}
		var rs []store.Reading
		for j := 0; j < 10+i; j++ {
			rs = append(rs, store.Reading{Start: int64(1_700_000_000 + 900*j), Seconds: 900, Value: float64(j), Cost: 1.5, HasCost: i == 1})
		}
		if err := tx.PutReadings(sr.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Forget that the migration ran: the rows above are what a database of the old version holds.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`DELETE FROM migrations WHERE name = 'migrations/0450_datahub_series_process.sql'`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("forget migration: %v (%d rows)", err, n)
	}
	db.Close()

	st, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.SeriesOf(ctx, 0)
	if err != nil || len(all) != len(olds) {
		t.Fatalf("series %v %v", all, err)
	}
	byKey := map[string]store.Series{}
	for _, s := range all {
		byKey[s.Key] = s
	}
	for i, o := range olds {
		s, ok := byKey[o.newKey]
		if !ok {
			t.Errorf("old key %s did not move to %s; keys now %v", o.key, o.newKey, byKey)
			continue
		}
		a := o.attrs
		want := ""
		if strings.HasPrefix(o.meter, "grid-area-") {
			want = SeriesName(a["process_type"], a["settlement_version"], a["metering_point_type"], a["settlement_method"],
				a["charge_type"], a["charge_code"], a["energy_supplier"], a["balance_responsible"])
		}
		if s.Attrs["name"] != want {
			t.Errorf("%s named %q, want %q", o.newKey, s.Attrs["name"], want)
		}
		stt, err := st.StatsOf(ctx, s.ID)
		if err != nil || stt.Count != int64(10+i) {
			t.Errorf("%s kept %d readings, want %d (%v)", o.newKey, stt.Count, 10+i, err)
		}
		if i == 1 && stt.CostCount != 11 {
			t.Errorf("%s kept %d costs, want 11", o.newKey, stt.CostCount)
		}
	}
	// The export names the moved series by their new keys.
	var buf bytes.Buffer
	err = st.ExportReadings(ctx, store.ExportFilter{Meter: "grid-area-804"}, func(r store.ExportRow) error {
		buf.WriteString(r.Series + "\n")
		return nil
	})
	if err != nil || !strings.Contains(buf.String(), "D32:D02/") || !strings.Contains(buf.String(), "D04/") {
		t.Errorf("export series %q %v", buf.String(), err)
	}
}
