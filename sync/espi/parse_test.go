package espi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"custody/store"
	"custody/sync/fileimport"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "custody.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// parseInto parses body into st in one transaction, committing only on success (as
// fileimport does).
func parseInto(t testing.TB, st *store.Store, body []byte) (fileimport.Summary, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	sum, err := Parse(ctx, tx, store.Payload{SHA256: "0123456789abcdef0123"}, bytes.NewReader(body), nil)
	if err != nil {
		return sum, err
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return sum, nil
}

func importFixture(t testing.TB, st *store.Store, name string) (fileimport.Summary, error) {
	t.Helper()
	im := &fileimport.Importer{Store: st, Formats: []fileimport.Format{Format()}}
	return im.Import(context.Background(), filepath.Join("testdata", name))
}

// seriesStats returns the stats and definition of every series, by series key.
func seriesStats(t testing.TB, st *store.Store) map[string]struct {
	S     store.Series
	Stats store.SeriesStats
	Meter store.Meter
} {
	t.Helper()
	ctx := context.Background()
	out := map[string]struct {
		S     store.Series
		Stats store.SeriesStats
		Meter store.Meter
	}{}
	meters, err := st.Meters(ctx, store.MeterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range meters {
		ss, err := st.SeriesOf(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			stats, err := st.StatsOf(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			out[s.Key] = struct {
				S     store.Series
				Stats store.SeriesStats
				Meter store.Meter
			}{s, stats, m}
		}
	}
	return out
}

// exportText renders every reading of the store in the CSV contract's column order.
func exportText(t testing.TB, st *store.Store) string {
	t.Helper()
	var b strings.Builder
	err := st.ExportReadings(context.Background(), store.ExportFilter{}, func(r store.ExportRow) error {
		v, c := "", ""
		if !r.Reading.Missing {
			v = strconv.FormatFloat(r.Reading.Value, 'f', -1, 64)
		}
		if r.Reading.HasCost {
			c = strconv.FormatFloat(r.Reading.Cost, 'f', -1, 64)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%d,%d,%s,%s,%s,%s,%d/%v\n", r.Meter, r.Series, r.Commodity, r.Flow, r.Unit,
			r.Reading.Start, r.Reading.Seconds, v, r.Reading.Quality, c, r.Currency, r.Reading.TOU, r.Reading.HasTOU)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEveryFixtureImports imports every Green Button fixture into its own store: each is
// detected as ESPI and imports, except the one whose readings all share one start, which is
// refused with a reason naming the entry.
func TestEveryFixtureImports(t *testing.T) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) < 30 {
		t.Fatalf("fixtures: %v (%d files)", err, len(files))
	}
	refused := map[string]string{
		"ngma-gas-malformed-timestamps.xml": "entry 3 (User/11111111/UsagePoint/01/MeterReading/01/IntervalBlock/0173): 35 of its 36 readings start at the same time",
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !Detect(body[:min(len(body), 4096)]) {
				t.Errorf("Detect does not recognise %s", name)
			}
			st := openStore(t)
			sum, err := importFixture(t, st, name)
			if want, ok := refused[name]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("import: %v, want an error containing %q", err, want)
				}
				c, _ := st.Counts(context.Background())
				if c.Readings != 0 || c.Meters != 0 || c.Payloads != 1 {
					t.Errorf("after a refused file the store holds %+v; want only the archived payload", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			c, err := st.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if int64(sum.Readings) != c.Readings || int64(sum.Meters) != c.Meters || int64(sum.Series) != c.Series {
				t.Errorf("summary %d meters, %d series, %d readings; store holds %d, %d, %d",
					sum.Meters, sum.Series, sum.Readings, c.Meters, c.Series, c.Readings)
			}
		})
	}
}

// TestHandCheckedFigures compares per-series counts and sums with figures computed
// independently of this parser: a 40-line Python script using xml.etree (namespace-aware)
// and decimal.Decimal, which takes every IntervalReading's timePeriod/start, keeps the
// last reading per (MeterReading, start), scales value by its ReadingType's
// powerOfTenMultiplier and divides cost by 100000 (the script is reproduced in
// testdata/handcheck.py). Units, flows and commodities were read off each file's
// ReadingType by eye.
func TestHandCheckedFigures(t *testing.T) {
	const multi = "RetailCustomer/9b6c7063/UsagePoint/01/MeterReading/"
	type want struct {
		series                      string
		count                       int64
		sum, cost                   float64
		first                       int64
		unit, flow, commodity, curr string
		seconds                     int64
	}
	tests := []struct {
		file   string
		meters int
		series []want
	}{
		{"pge-smd-bulk-1day-hourly-tou.xml", 1, []want{{
			"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/4095251/UsagePoint/5391320451/MeterReading/TnpJNmJuVnNiRG96TmpBd09qRT06MQ==",
			24, 50663.298, 0, 1570086000, "Wh", "forward", "electricity", "", 3600}}},
		{"sdk-gas-monthly-therm.xml", 1, []want{{
			"RetailCustomer/9b6c7063/UsagePoint/02/MeterReading/01", 13, 1074.821, 3094.66093, 1301630400, "therm", "forward", "gas", "USD", 2678400}}},
		{"sdk-multi-readingtypes-net-reverse-pq.xml", 1, []want{
			{multi + "01", 1, 2745, 0.08236, 1333252800, "Wh", "forward", "electricity", "USD", 3600},
			{multi + "02", 1, 2745, 0.08236, 1333252800, "W", "forward", "electricity", "USD", 3600},
			{multi + "03", 1, 2745, 0.08236, 1333252800, "VA", "forward", "electricity", "USD", 3600},
			{multi + "04", 1, 2745, 0.08236, 1333252800, "VAr", "forward", "electricity", "USD", 3600},
			{multi + "05", 1, 2745, 0.08236, 1333252800, "Wh", "net", "electricity", "USD", 3600},
			{multi + "07", 1, 2745, 0.08236, 1333252800, "Wh", "reverse", "electricity", "USD", 3600},
			{multi + "10", 1, 2745, 0.08236, 1333252800, "therm", "forward", "gas", "USD", 3600},
		}},
		{"sdk-hourly-march-2011-dst-spring.xml", 1, []want{{
			"RetailCustomer/9b6c7063/UsagePoint/01/MeterReading/01", 743, 2278213, 248.40246, 1298955600, "Wh", "forward", "electricity", "USD", 3600}}},
		{"pge-intervalblocks-overlapping-duplicates.xml", 1, []want{{
			// No ReadingType in the file: values as written, no unit, no flow.
			"https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/0/UsagePoint/1/MeterReading/Tags7afT4eW6dAg6tI9nUksh4Et2ju==",
			2280, 496406375, 0, 1430377200, "", "", "other", "", 0}}},
		{"nist-desert-single-family-2011-hourly.xml", 1, []want{{
			"https://services.greenbuttondata.org/DataCustodian/espi/1_1/resource/RetailCustomer/7/UsagePoint/1/MeterReading/01",
			8760, 12397107, 0, 1293868800, "Wh", "forward", "electricity", "USD", 3600}}},
		{"sdk-temperature-kelvin.xml", 1, []want{{
			// Temperature (kind 46, uom 6 × 10^-3) on a water UsagePoint: its own series, not water.
			"RetailCustomer/9b6c7063/UsagePoint/01/MeterReading/01", 2, 29.866, 0.42601, 1333252800, "K", "", "other", "", 2678400}}},
		{"sdk-water-monthly.xml", 1, []want{{
			"RetailCustomer/9b6c7063/UsagePoint/01/MeterReading/01", 2, 29866000, 0.42601, 1333252800, "gal", "forward", "water", "USD", 2678400}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st := openStore(t)
			sum, err := importFixture(t, st, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Meters != tt.meters {
				t.Errorf("meters = %d, want %d", sum.Meters, tt.meters)
			}
			got := seriesStats(t, st)
			for _, w := range tt.series {
				g, ok := got[w.series]
				if !ok {
					t.Errorf("no series %s (have %d series)", w.series, len(got))
					continue
				}
				if g.Stats.Count != w.count || math.Abs(g.Stats.Sum-w.sum) > 1e-6*math.Max(1, math.Abs(w.sum)) ||
					math.Abs(g.Stats.CostSum-w.cost) > 1e-7 || g.Stats.First != w.first {
					t.Errorf("%s: count %d sum %v cost %v first %d; want %d, %v, %v, %d", w.series,
						g.Stats.Count, g.Stats.Sum, g.Stats.CostSum, g.Stats.First, w.count, w.sum, w.cost, w.first)
				}
				if g.S.Unit != w.unit || g.S.Flow != w.flow || g.S.Commodity != w.commodity || g.S.Currency != w.curr || g.S.Seconds != w.seconds {
					t.Errorf("%s: unit %q flow %q commodity %q currency %q seconds %d; want %q %q %q %q %d", w.series,
						g.S.Unit, g.S.Flow, g.S.Commodity, g.S.Currency, g.S.Seconds, w.unit, w.flow, w.commodity, w.curr, w.seconds)
				}
			}
		})
	}
}

// TestDSTSpringDay checks the 23-hour local day: the 13 March 2011 block (82,800 s from
// 05:00 UTC) holds 23 hourly readings and nothing is invented for the missing hour.
func TestDSTSpringDay(t *testing.T) {
	st := openStore(t)
	if _, err := importFixture(t, st, "sdk-hourly-march-2011-dst-spring.xml"); err != nil {
		t.Fatal(err)
	}
	g := seriesStats(t, st)["RetailCustomer/9b6c7063/UsagePoint/01/MeterReading/01"]
	starts, _, err := st.ReadingRange(context.Background(), g.S.ID, 1299992400, 1299992400+82800)
	if err != nil {
		t.Fatal(err)
	}
	if len(starts) != 23 {
		t.Errorf("%d readings on the spring-forward day, want 23", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if starts[i]-starts[i-1] != 3600 {
			t.Errorf("gap at %d: %d s", starts[i-1], starts[i]-starts[i-1])
		}
	}
	m, _ := st.Meters(context.Background(), store.MeterFilter{})
	if m[0].TimeZone != "America/New_York" {
		t.Errorf("time zone %q, want America/New_York (tzOffset -18000 with US rules)", m[0].TimeZone)
	}
}

// TestBillsOnly imports PG&E usage summaries: no readings, three bills with line items, the
// millisecond statusTimeStamp converted with a warning. Figures from the XML by hand:
// billLastPeriod 23364000 → 233.64; five line items summing 5358000 → 53.58.
func TestBillsOnly(t *testing.T) {
	st := openStore(t)
	sum, err := importFixture(t, st, "pge-usagesummaries-cost-details.xml")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 0 || sum.Series != 0 || sum.Meters != 1 {
		t.Errorf("summary %+v; want 1 meter and no readings", sum)
	}
	if len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], "milliseconds") {
		t.Errorf("warnings %q; want one about milliseconds", sum.Warnings)
	}
	bills, err := st.SummariesOf(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(bills) != 3 {
		t.Fatalf("%d summaries, want 3", len(bills))
	}
	b := bills[2] // the latest billing period
	if b.PeriodStart != 1434006000 || b.PeriodSeconds != 2505600 || b.BillLastPeriod == nil || *b.BillLastPeriod != 233.64 {
		t.Errorf("bill %+v", b)
	}
	if b.StatusTime == nil || *b.StatusTime != 1440109957 {
		t.Errorf("status time %v, want 1440109957 (from 1440109957976 ms)", b.StatusTime)
	}
	if b.Attrs["tariffProfile"] != "HAG5A" || b.Key != "https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/1/UsagePoint/1/UsageSummary/1,436,684,400,000" {
		t.Errorf("attrs %v key %q", b.Attrs, b.Key)
	}
	var items float64
	for _, it := range b.Items {
		items += *it.Amount
	}
	if len(b.Items) != 5 || math.Abs(items-53.58) > 1e-9 {
		t.Errorf("%d items summing %v, want 5 summing 53.58", len(b.Items), items)
	}
	first := b.Items[0]
	if first.Note != "Part Peak Energy Charge" || first.ItemKind != "usageFee" || *first.Measurement != 100000 || first.Unit != "Wh" || first.Attrs["unitCost"] != "0.12" {
		t.Errorf("first item %+v measurement %v", first, *first.Measurement)
	}
	if bills[0].BillLastPeriod != nil {
		t.Errorf("a summary without billLastPeriod got %v", *bills[0].BillLastPeriod)
	}
}

// TestBrokenInput checks that bad documents give an error naming the entry and the position,
// never a panic, and leave nothing half-imported.
func TestBrokenInput(t *testing.T) {
	good, err := os.ReadFile("testdata/pge-smd-bulk-1day-hourly-tou.xml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body []byte
		want []string
	}{
		{"truncated", good[:len(good)*2/3], []string{"entry 5 (", "the file is truncated", "line 1:"}},
		{"truncated in a tag", good[:bytes.Index(good, []byte("<ns0:IntervalReading>"))+8], []string{"entry 5 (", "truncated"}},
		{"mismatched", bytes.Replace(good, []byte("</ns0:value>"), []byte("</ns0:valu>"), 1), []string{"entry 5 (https://api.pge.com/GreenButtonConnect/espi/1_1/resource/Subscription/4095251/UsagePoint/5391320451/MeterReading/TnpJNmJuVnNiRG96TmpBd09qRT06MQ==/IntervalBlock/1570086000)", "<ns0:value> closed by </ns0:valu>"}},
		{"bad entity", bytes.Replace(good, []byte("Green Button Data File"), []byte("Green &nbsp; Button"), 1), []string{"entry 3", "unknown entity &nbsp;"}},
		{"not xml", []byte("hello, world"), []string{"no XML element"}},
		{"empty", nil, []string{"no XML element"}},
		{"other xml", []byte(`<html><body/></html>`), []string{"not a Green Button document"}},
		{"two roots", append(append([]byte{}, good...), good...), []string{"second root"}},
		{"unterminated comment", []byte(`<feed xmlns="http://www.w3.org/2005/Atom"><!-- x`), []string{"comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			_, err := parseInto(t, st, tt.body)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c, _ := st.Counts(context.Background()); c.Readings != 0 || c.Meters != 0 {
				t.Errorf("store holds %+v after a failed parse", c)
			}
		})
	}
}

// TestReimportIsIdempotent parses the same documents twice and in a different order; the
// export does not change.
func TestReimportIsIdempotent(t *testing.T) {
	files := []string{"pge-smd-bulk-2days-quality19.xml", "pge-intervalblocks-overlapping-duplicates.xml", "sdk-gas-monthly-therm.xml", "sdk-temperature-kelvin.xml"}
	st := openStore(t)
	for _, f := range files {
		body, _ := os.ReadFile(filepath.Join("testdata", f))
		if _, err := parseInto(t, st, body); err != nil {
			t.Fatal(err)
		}
	}
	first := exportText(t, st)
	for i := len(files) - 1; i >= 0; i-- {
		body, _ := os.ReadFile(filepath.Join("testdata", files[i]))
		if _, err := parseInto(t, st, body); err != nil {
			t.Fatal(err)
		}
	}
	if second := exportText(t, st); second != first {
		t.Errorf("export changed after re-import:\n%s\nvs\n%s", first, second)
	}
}

// feedOf builds a feed of entries with the given ESPI prefix declaration style.
func feedOf(entries ...string) []byte {
	return []byte(`<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">` + strings.Join(entries, "\n") + `</feed>`)
}

func entryOf(self, up string, related []string, content string) string {
	var b strings.Builder
	b.WriteString("<entry><id>urn:uuid:x</id>")
	fmt.Fprintf(&b, `<link rel="self" href="%s"/>`, self)
	if up != "" {
		fmt.Fprintf(&b, `<link rel="up" href="%s"/>`, up)
	}
	for _, r := range related {
		fmt.Fprintf(&b, `<link rel="related" href="%s"/>`, r)
	}
	b.WriteString("<content>" + content + "</content></entry>")
	return b.String()
}

// synthetic returns the entries of a small document with the ESPI elements written by open,
// a function that returns the start tag of a resource element with its namespace.
func synthetic(open func(name string) (start, prefix string)) []string {
	up := "https://h/espi/1_1/resource/Subscription/1/UsagePoint/7"
	mr := up + "/MeterReading/AbC="
	rt := "https://h/espi/1_1/resource/ReadingType/Rt1=="
	el := func(name, body string) string {
		start, p := open(name)
		return start + body + "</" + p + name + ">"
	}
	_, p := open("x")
	f := func(name, v string) string { return "<" + p + name + ">" + v + "</" + p + name + ">" }
	block := el("IntervalBlock", f("interval", f("duration", "7200")+f("start", "1600000000"))+
		"<"+p+"IntervalReading>"+f("cost", " 12345 ")+"<"+p+"ReadingQuality>"+f("quality", "8")+"</"+p+"ReadingQuality>"+f("timePeriod", f("duration", "3600")+f("start", " 1600000000 "))+f("value", " 1500 ")+f("tou", "2")+"</"+p+"IntervalReading>"+
		"<"+p+"IntervalReading>"+f("timePeriod", f("duration", "3600")+f("start", "1600003600"))+f("value", "-250")+"</"+p+"IntervalReading>")
	return []string{
		entryOf(up, "", []string{mr[:strings.LastIndex(mr, "/")], "https://h/espi/1_1/resource/LocalTimeParameters/1"},
			el("UsagePoint", f("ServiceCategory", f("kind", " 1 ")))),
		entryOf(mr, "", []string{mr + "/IntervalBlock", rt}, el("MeterReading", "")),
		entryOf(rt, "", nil, el("ReadingType", f("commodity", "7")+f("currency", " 124 ")+f("flowDirection", "19")+f("intervalLength", "3600")+
			f("kind", "12")+f("powerOfTenMultiplier", "-3")+f("uom", "42"))),
		entryOf(mr+"/IntervalBlock/1600000000", mr+"/IntervalBlock", nil, block),
		entryOf("https://h/espi/1_1/resource/LocalTimeParameters/1", "", nil, el("LocalTimeParameters",
			f("dstEndRule", "B40E2000")+f("dstOffset", "3600")+f("dstStartRule", "360E2000")+f("tzOffset", "-28800"))),
	}
}

// TestNamespacesOrderAndPadding writes one document in several prefix styles and entry
// orders: the stored result is the same, matched by namespace URI and by href with the
// base64 padding of ids ignored.
func TestNamespacesOrderAndPadding(t *testing.T) {
	styles := map[string]func(string) (string, string){
		"espi prefix": func(n string) (string, string) {
			return `<espi:` + n + ` xmlns:espi="http://naesb.org/espi">`, "espi:"
		},
		"default namespace": func(n string) (string, string) { return `<` + n + ` xmlns="http://naesb.org/espi">`, "" },
		"odd prefix": func(n string) (string, string) {
			return `<atom:` + n + ` xmlns:atom="http://naesb.org/espi">`, "atom:"
		},
	}
	var want string
	for name, style := range styles {
		entries := synthetic(style)
		orders := map[string][]string{
			"natural":  entries,
			"reversed": {entries[4], entries[3], entries[2], entries[1], entries[0]},
			"blocks first, padding differs": {strings.ReplaceAll(entries[3], "AbC=", "AbC"), entries[0],
				strings.ReplaceAll(entries[1], "Rt1==", "Rt1="), entries[2], entries[4]},
		}
		for oname, es := range orders {
			st := openStore(t)
			sum, err := parseInto(t, st, feedOf(es...))
			if err != nil {
				t.Fatalf("%s/%s: %v", name, oname, err)
			}
			got := exportText(t, st)
			if want == "" {
				want = got
				if !strings.Contains(got, "https://h/espi/1_1/resource/Subscription/1/UsagePoint/7,https://h/espi/1_1/resource/Subscription/1/UsagePoint/7/MeterReading/AbC=,gas,reverse,m3,1600000000,3600,1.5,8,0.12345,CAD,2/true") ||
					!strings.Contains(got, ",1600003600,3600,-0.25,,,CAD,0/false") {
					t.Errorf("%s/%s: export\n%s", name, oname, got)
				}
				m, _ := st.Meters(context.Background(), store.MeterFilter{})
				if len(m) != 1 || m[0].TimeZone != "America/Los_Angeles" || m[0].Commodity != "gas" {
					t.Errorf("meters %+v", m)
				}
			} else if got != want && !strings.Contains(oname, "padding") {
				t.Errorf("%s/%s: export differs:\n%s\nwant\n%s", name, oname, got, want)
			}
			if sum.Readings != 2 || sum.Series != 1 || sum.Meters != 1 {
				t.Errorf("%s/%s: summary %+v", name, oname, sum)
			}
		}
	}
	// An element with the right local name in another namespace is not ESPI.
	st := openStore(t)
	sum, err := parseInto(t, st, feedOf(synthetic(func(n string) (string, string) {
		return `<x:` + n + ` xmlns:x="http://example.com/not-espi">`, "x:"
	})...))
	if err != nil || sum.Readings != 0 || len(sum.Warnings) == 0 {
		t.Errorf("foreign namespace: %+v, %v", sum, err)
	}
}

// TestBareEntryAndResource accepts a bare entry and a bare resource.
func TestBareEntryAndResource(t *testing.T) {
	st := openStore(t)
	if _, err := importFixture(t, st, "utilityapi-authorization-entry.xml"); err != nil {
		t.Fatal(err)
	}
	docs, err := st.DocumentsOf(context.Background(), "Authorization")
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents %+v, %v", docs, err)
	}
	bare := `<IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>3600</duration><start>1600000000</start></interval>
		<IntervalReading><value>7</value></IntervalReading><IntervalReading><value>8</value></IntervalReading></IntervalBlock>`
	sum, err := parseInto(t, st, []byte(bare))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 2 || len(sum.Warnings) == 0 {
		t.Errorf("bare block: %+v", sum)
	}
	if got := exportText(t, st); !strings.Contains(got, ",1600001800,1800,8,") {
		t.Errorf("bare block readings are block start + i × duration/n:\n%s", got)
	}
}

// TestDocumentsAndCustomerInfo stores metadata without credentials and personal data apart.
func TestDocumentsAndCustomerInfo(t *testing.T) {
	st := openStore(t)
	for _, f := range []string{"pge-applicationinformation-entry.xml", "gba-applicationinformation-entry.xml", "pge-retailcustomer-feed.xml", "gba-retailcustomer-statement.xml", "pge-authorization-entry-ms-epoch.xml"} {
		if _, err := importFixture(t, st, f); err != nil {
			t.Fatal(f, err)
		}
	}
	docs, err := st.DocumentsOf(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.Kind]++
		for k := range d.Data {
			if secretField(lastSegment(strings.ReplaceAll(k, ".", "/"))) {
				t.Errorf("document %s keeps credential field %s", d.Key, k)
			}
		}
	}
	if kinds["ApplicationInformation"] != 2 || kinds["Authorization"] != 1 {
		t.Errorf("document kinds %v", kinds)
	}
	for _, d := range docs {
		if d.Kind == "ApplicationInformation" && d.Data["client_id"] != "" && d.Data["redacted"] == "" {
			t.Errorf("no redaction note in %v", d.Data)
		}
	}
	infos, err := st.CustomerInfos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ck := map[string]int{}
	for _, c := range infos {
		ck[c.Kind]++
	}
	if ck["Customer"] != 1 || ck["CustomerAccount"] != 1 || ck["ServiceLocation"] != 1 || ck["Meter"] != 1 || ck["Statement"] != 1 {
		t.Errorf("customer info kinds %v", ck)
	}
}

// TestLocalTimeParameters decodes zones, including malformed rules seen in the wild.
func TestLocalTimeParameters(t *testing.T) {
	tests := []struct {
		tz, dst, start, end string
		zone                string
		warn                bool
	}{
		{"-28800", "3600", "360E2000", "B40E2000", "America/Los_Angeles", false},
		{"18000", "3600", "360E2000", "B40E2000", "America/New_York", true},  // wrong sign (NGMA)
		{"-28800", "3600", "B60E", "B40E", "America/Los_Angeles", true},      // truncated (SCE)
		{"-18000", "3600", "30", "30", "America/New_York", true},             // ENWIN
		{"-25200", "0", "FFFFFFFF", "FFFFFFFF", "-07:00", false},             // no DST (Arizona)
		{"3600", "3600", "3E0E1000", "AE0E1000", "Europe/Paris", false},      // EU rules, last Sundays
		{"-18000", "3600", "65ED5A70", "6727F8F0", "America/New_York", true}, // epoch seconds in hex (Enbridge)
		{"34200", "3600", "3E0E2000", "AE0E2000", "+09:30", true},            // rules of no known zone
		{"19800", "0", "", "", "+05:30", false},
		{"999999", "0", "", "", "", true},
	}
	for _, tt := range tests {
		d := newDecoder(context.Background(), store.Payload{})
		n := &node{local: "LocalTimeParameters", kids: []*node{{local: "tzOffset", text: tt.tz}, {local: "dstOffset", text: tt.dst},
			{local: "dstStartRule", text: tt.start}, {local: "dstEndRule", text: tt.end}}}
		z := d.decodeLocalTime(&entry{index: 1}, n)
		if z.zone != tt.zone || (len(d.warn.list()) > 0) != tt.warn {
			t.Errorf("%+v: zone %q warnings %q", tt, z.zone, d.warn.list())
		}
	}
}

// TestScaleIsExact compares the fast scaling with strconv.ParseFloat of the decimal string.
func TestScaleIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		v := r.Int64N(1<<53) - 1<<52
		if i%3 == 0 {
			v = r.Int64N(10_000_000)
		}
		p := r.Int64N(25) - 12
		want, _ := strconv.ParseFloat(strconv.FormatInt(v, 10)+"e"+strconv.FormatInt(p, 10), 64)
		if got := scaleInt(v, p); got != want {
			t.Fatalf("scaleInt(%d, %d) = %v, want %v", v, p, got, want)
		}
	}
	if got := scaleInt(1067300, -3); got != 1067.3 {
		t.Errorf("1067300e-3 = %v", got)
	}
	if got, _ := scaleDecimal("12.5", 2); got != 1250 {
		t.Errorf("12.5e2 = %v", got)
	}
}

// TestRunSetCountsDistinct compares the run set with a map on orderly and disorderly input.
func TestRunSetCountsDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		var s runSet
		seen := map[int64]bool{}
		n := r.IntN(500)
		base := int64(r.IntN(1000)) * 900
		for i := 0; i < n; i++ {
			var t0 int64
			switch r.IntN(4) {
			case 0:
				t0 = base + int64(i)*900
			case 1:
				t0 = base + int64(n-i)*3600
			case 2:
				t0 = base + int64(r.IntN(200))*900
			default:
				t0 = base + int64(r.IntN(100000))
			}
			if got := s.add(t0); got == seen[t0] {
				t.Fatalf("round %d: add(%d) = %v, already seen %v", round, t0, got, seen[t0])
			}
			seen[t0] = true
		}
		if s.n != int64(len(seen)) {
			t.Fatalf("round %d: n = %d, want %d", round, s.n, len(seen))
		}
	}
}

// TestContextCancelled stops a parse when its context ends.
func TestContextCancelled(t *testing.T) {
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tx, err := st.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	body, _ := os.ReadFile("testdata/sdk-hourly-9days-cost.xml")
	if _, err := Parse(ctx, tx, store.Payload{}, bytes.NewReader(body), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// maxFuzzInput bounds FuzzParse's inputs. With megabyte inputs the fuzzing worker spent its
// time in coverage bookkeeping, and minimising each new interesting input (one execution per
// byte it tries to drop) held the fuzzer for its whole default minute: it managed a few
// executions a minute. 8 KB holds several entries of every kind; the parser's behaviour
// does not depend on size beyond that (its buffers refill every 256 KB, which the
// tokenizer's own tests cover with one-byte reads).
const maxFuzzInput = 8 << 10

// fuzzSeed returns body cut to at most maxFuzzInput bytes at the end of an Atom entry, with
// the root element closed again, so that a large fixture still seeds a well-formed feed.
func fuzzSeed(body []byte) []byte {
	if len(body) <= maxFuzzInput {
		return body
	}
	head := body[:maxFuzzInput]
	for end := len(head); ; {
		// The last end tag </entry> or </prefix:entry>.
		end = bytes.LastIndex(head[:end], []byte("entry>"))
		if end < 0 {
			return body[:maxFuzzInput]
		}
		if lt := bytes.LastIndexByte(head[:end], '<'); lt >= 0 && lt+1 < len(head) && head[lt+1] == '/' {
			head = head[:end+len("entry>")]
			break
		}
	}
	// The root's name: the first start tag that is not a declaration or a comment.
	for rest := body; ; {
		i := bytes.IndexByte(rest, '<')
		if i < 0 || i+1 >= len(rest) {
			return head
		}
		rest = rest[i+1:]
		if rest[0] == '?' || rest[0] == '!' {
			continue
		}
		j := bytes.IndexAny(rest, " \t\r\n/>")
		if j <= 0 {
			return head
		}
		return append(append(append(head[:len(head):len(head)], "\n</"...), rest[:j]...), '>')
	}
}

// FuzzParse feeds arbitrary bytes to the parser: it may refuse them, never panic or hang.
// It is seeded with every Green Button fixture (testdata holds the files of
// shared/fixtures/greenbutton), each cut to maxFuzzInput. Run it with
//
//	go test -tags ci -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s ./sync/espi/
//
// (anchored: FuzzParseBatchList matches "FuzzParse" too). It runs about 75,000–180,000
// executions a minute on the project machine; the pauses in its log are Go minimising each new
// interesting input, which it does not count.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(files) < 30 {
		f.Fatalf("fixtures: %d files, %v", len(files), err)
	}
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fuzzSeed(body))
	}
	f.Add([]byte(`<IntervalBlock xmlns="http://naesb.org/espi"><IntervalReading><value>1</value></IntervalReading></IntervalBlock>`))
	// The store is left out (a nil transaction discards the work): SQLite under the fuzzer's
	// coverage instrumentation manages a few executions a minute, and the store has its own
	// tests; everything up to the store runs.
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxFuzzInput {
			return
		}
		sum, err := parse(context.Background(), nil, store.Payload{SHA256: "fuzz"}, bytes.NewReader(body), nil)
		if err == nil && (sum.Readings < 0 || sum.Series < 0 || sum.Meters < 0) {
			t.Errorf("odd summary %+v", sum)
		}
	})
}

// TestFuzzSeedsAreSmallAndParse checks what FuzzParse starts from: every fixture gives a
// seed within maxFuzzInput, and the cut ones are still well-formed feeds the parser reads.
func TestFuzzSeedsAreSmallAndParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	cut := 0
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		seed := fuzzSeed(body)
		if len(seed) > maxFuzzInput+64 {
			t.Errorf("%s: seed of %d bytes", name, len(seed))
		}
		if len(body) <= maxFuzzInput || strings.Contains(name, "malformed") {
			continue
		}
		cut++
		if _, err := parse(context.Background(), nil, store.Payload{SHA256: "fuzz"}, bytes.NewReader(seed), nil); err != nil {
			t.Errorf("%s: the cut seed is not a feed the parser reads: %v", name, err)
		}
	}
	if cut == 0 {
		t.Fatal("no fixture was large enough to be cut: the test checks nothing")
	}
}

// blockFeed is a minimal feed: a ReadingType, a MeterReading and one IntervalBlock entry
// holding readings (IntervalReading elements, as XML).
func blockFeed(blockStart, blockDur string, readings string) []byte {
	const mr = "https://h/r/Subscription/1/UsagePoint/1/MeterReading/1"
	return feedOf(
		entryOf("https://h/r/ReadingType/1", "", nil, `<ReadingType xmlns="http://naesb.org/espi"><flowDirection>1</flowDirection><intervalLength>3600</intervalLength><powerOfTenMultiplier>0</powerOfTenMultiplier><uom>72</uom></ReadingType>`),
		entryOf(mr, "", []string{"https://h/r/ReadingType/1"}, `<MeterReading xmlns="http://naesb.org/espi"/>`),
		entryOf(mr+"/IntervalBlock/1", mr+"/IntervalBlock", nil, `<IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>`+blockDur+`</duration><start>`+blockStart+`</start></interval>`+readings+`</IntervalBlock>`))
}

// TestTimeValues reads epoch seconds, and tolerates milliseconds, fractions and dates with a
// warning each.
func TestTimeValues(t *testing.T) {
	tests := []struct {
		start string
		want  int64
		warn  string
	}{
		{" 1600000000 ", 1600000000, ""},
		{"1600000000000", 1600000000, "milliseconds"},
		{"1600000000.75", 1600000000, "fraction"},
		{"2020-09-13", 1599955200, "dates"},
		{"2020-09-13T12:26:40Z", 1600000000, "dates"},
		{"-86400", -86400, ""},
	}
	for _, tt := range tests {
		st := openStore(t)
		sum, err := parseInto(t, st, blockFeed("0", "3600",
			`<IntervalReading><timePeriod><duration>3600</duration><start>`+tt.start+`</start></timePeriod><value>5</value></IntervalReading>`))
		if err != nil {
			t.Fatalf("%q: %v", tt.start, err)
		}
		if got := exportText(t, st); !strings.Contains(got, fmt.Sprintf(",%d,3600,5,", tt.want)) {
			t.Errorf("%q: export %s, want start %d", tt.start, got, tt.want)
		}
		if w := strings.Join(sum.Warnings, "|"); (tt.warn == "") != (w == "") || !strings.Contains(w, tt.warn) {
			t.Errorf("%q: warnings %q, want one about %q", tt.start, sum.Warnings, tt.warn)
		}
	}
	// An unreadable start skips that reading with a warning; the others stay.
	st := openStore(t)
	sum, err := parseInto(t, st, blockFeed("0", "3600",
		`<IntervalReading><timePeriod><start>soon</start></timePeriod><value>1</value></IntervalReading>`+
			`<IntervalReading><timePeriod><start>7200</start></timePeriod><value>2</value></IntervalReading>`))
	if err != nil || sum.Readings != 1 || len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], `"soon"`) {
		t.Errorf("unreadable start: %+v, %v", sum, err)
	}
}

// TestFallBackDay keeps the 25 hourly readings of a fall-back day (and a missing value as
// missing, not 0).
func TestFallBackDay(t *testing.T) {
	var b strings.Builder
	const start = 1604214000 // 2020-11-01 07:00 UTC, local midnight in California (PDT)
	for i := 0; i < 25; i++ {
		v := strconv.Itoa(100 + i)
		if i == 3 {
			v = ""
		}
		fmt.Fprintf(&b, `<IntervalReading><timePeriod><duration>3600</duration><start>%d</start></timePeriod><value>%s</value></IntervalReading>`, start+i*3600, v)
	}
	st := openStore(t)
	sum, err := parseInto(t, st, blockFeed(strconv.Itoa(start), "90000", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 25 || sum.To.Unix() != start+90000 {
		t.Errorf("summary %+v", sum)
	}
	got := exportText(t, st)
	if !strings.Contains(got, fmt.Sprintf(",%d,3600,,,", start+3*3600)) || strings.Count(got, "\n") != 25 {
		t.Errorf("export:\n%s", got)
	}
}

// TestReadingsWithoutTimePeriod places readings by the block start and the ReadingType's
// interval length.
func TestReadingsWithoutTimePeriod(t *testing.T) {
	st := openStore(t)
	if _, err := parseInto(t, st, blockFeed("1600000000", "7200", `<IntervalReading><value>1</value></IntervalReading><IntervalReading><value>2</value></IntervalReading>`)); err != nil {
		t.Fatal(err)
	}
	got := exportText(t, st)
	if !strings.Contains(got, ",1600000000,3600,1,") || !strings.Contains(got, ",1600003600,3600,2,") {
		t.Errorf("export:\n%s", got)
	}
}

// TestHostileXML refuses deep nesting and entity declarations without expanding anything.
func TestHostileXML(t *testing.T) {
	deep := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` +
		`<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol2;</title></entry></feed>`
	for name, body := range map[string]string{"deep": `<feed xmlns="http://www.w3.org/2005/Atom"><entry><content>` + deep + `</content></entry></feed>`, "entities": bomb} {
		st := openStore(t)
		if _, err := parseInto(t, st, []byte(body)); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "nested more than") && !strings.Contains(err.Error(), "unknown entity &lol2;") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCharsets converts a Latin-1 document and refuses UTF-16 with a reason.
func TestCharsets(t *testing.T) {
	latin1 := append([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><entry xmlns="http://www.w3.org/2005/Atom"><id>1</id><link rel="self" href="https://h/r/UsagePoint/9"/><title>Rue de l'`), 0xC9)
	latin1 = append(latin1, []byte(`glise</title><content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint></content></entry>`)...)
	st := openStore(t)
	if _, err := parseInto(t, st, latin1); err != nil {
		t.Fatal(err)
	}
	m, _ := st.Meters(context.Background(), store.MeterFilter{})
	if len(m) != 1 || m[0].Name != "Rue de l'Église" {
		t.Errorf("meters %+v", m)
	}
	if _, err := parseInto(t, st, []byte("\xff\xfe<\x00f\x00")); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("UTF-16: %v", err)
	}
}

// TestFlatLinks links resources whose hrefs do not nest (…/MeterReading/9 rather than
// …/UsagePoint/5/MeterReading/9), through the related links, in any order.
func TestFlatLinks(t *testing.T) {
	up := entryOf("https://h/r/UsagePoint/5", "https://h/r/UsagePoint", []string{"https://h/r/MeterReading/9"},
		`<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>2</kind></ServiceCategory></UsagePoint>`)
	mr := entryOf("https://h/r/MeterReading/9", "https://h/r/MeterReading", []string{"https://h/r/IntervalBlock/77", "https://h/r/ReadingType/1"},
		`<MeterReading xmlns="http://naesb.org/espi"/>`)
	rt := entryOf("https://h/r/ReadingType/1", "", nil, `<ReadingType xmlns="http://naesb.org/espi"><uom>128</uom><powerOfTenMultiplier>3</powerOfTenMultiplier><flowDirection>1</flowDirection></ReadingType>`)
	ib := entryOf("https://h/r/IntervalBlock/77", "https://h/r/IntervalBlock", nil,
		`<IntervalBlock xmlns="http://naesb.org/espi"><IntervalReading><timePeriod><duration>86400</duration><start>1600000000</start></timePeriod><value>4</value></IntervalReading></IntervalBlock>`)
	for name, order := range map[string][]string{"natural": {up, mr, rt, ib}, "reversed": {ib, rt, mr, up}, "blocks first": {ib, up, mr, rt}} {
		st := openStore(t)
		sum, err := parseInto(t, st, feedOf(order...))
		if err != nil {
			t.Fatal(err)
		}
		want := "https://h/r/UsagePoint/5,https://h/r/MeterReading/9,water,forward,gal,1600000000,86400,4000,,,,0/false\n"
		if got := exportText(t, st); got != want || sum.Meters != 1 || len(sum.Warnings) != 0 {
			t.Errorf("%s: export %q, summary %+v; want %q", name, got, sum, want)
		}
	}
}

// TestOverlappingBlocksAreReported keeps 2,280 distinct readings of PG&E's 2,556 and says so.
func TestOverlappingBlocksAreReported(t *testing.T) {
	st := openStore(t)
	sum, err := importFixture(t, st, "pge-intervalblocks-overlapping-duplicates.xml")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 2280 || !strings.Contains(strings.Join(sum.Warnings, "\n"), ": 276 readings come more than once in this file") {
		t.Errorf("summary %d readings, warnings %q", sum.Readings, sum.Warnings)
	}
}

// TestSourceOfConnectedSync gives meters, customer information and documents the payload's
// source, as connected sync calls Parse.
func TestSourceOfConnectedSync(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	src := store.Source{Name: "pge", Kind: "greenbutton", Enabled: true}
	if err := st.AddSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pge-smd-bulk-1day-hourly-tou.xml", "pge-retailcustomer-feed.xml", "pge-authorization-entry-ms-epoch.xml"} {
		body, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := st.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(ctx, tx, store.Payload{SourceID: src.ID}, bytes.NewReader(body), nil); err != nil {
			t.Fatal(f, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	meters, _ := st.Meters(ctx, store.MeterFilter{})
	infos, _ := st.CustomerInfos(ctx)
	docs, _ := st.DocumentsOf(ctx, "")
	if len(meters) != 1 || meters[0].SourceID != src.ID || meters[0].TimeZone != "America/Los_Angeles" {
		t.Errorf("meters %+v", meters)
	}
	for _, c := range infos {
		if c.SourceID != src.ID {
			t.Errorf("customer info %s has source %d", c.Key, c.SourceID)
		}
	}
	for _, d := range docs {
		if d.SourceID != src.ID {
			t.Errorf("document %s has source %d", d.Key, d.SourceID)
		}
	}
	if len(infos) == 0 || len(docs) == 0 {
		t.Errorf("%d customer infos, %d documents", len(infos), len(docs))
	}
}

// TestGasSummary reads an ElectricPowerUsageSummary (the deprecated name, here for gas) with
// money in hundred-thousandths and SummaryMeasurements scaled into their unit. Figures from
// the XML by hand: 28684000 → 286.84 USD, 10419000 → 104.19, 804000 → 8.04;
// overallConsumptionLastPeriod 85263 × 10^-3 therm = 85.263.
func TestGasSummary(t *testing.T) {
	st := openStore(t)
	if _, err := importFixture(t, st, "sdk-gas-monthly-therm.xml"); err != nil {
		t.Fatal(err)
	}
	bills, err := st.SummariesOf(context.Background(), 0)
	if err != nil || len(bills) != 1 {
		t.Fatalf("summaries %+v, %v", bills, err)
	}
	b := bills[0]
	if *b.BillLastPeriod != 286.84 || *b.BillToDate != 104.19 || *b.CostAdditionalLastPeriod != 8.04 || b.Currency != "USD" ||
		b.PeriodStart != 1330578000 || b.PeriodSeconds != 2674800 || *b.StatusTime != 1334462400 {
		t.Errorf("bill %+v", b)
	}
	if b.Attrs["overallConsumptionLastPeriod"] != "85.263" || b.Attrs["overallConsumptionLastPeriod.unit"] != "therm" ||
		b.Attrs["currentBillingPeriodOverAllConsumption"] != "49.402" || b.Attrs["qualityOfReading"] != "14" {
		t.Errorf("attrs %v", b.Attrs)
	}
	m, _ := st.Meters(context.Background(), store.MeterFilter{})
	if len(m) != 1 || b.MeterID != m[0].ID || m[0].Commodity != "gas" {
		t.Errorf("meters %+v, summary meter %d", m, b.MeterID)
	}
}

// TestForbiddenBytesAreRefused refuses a document holding bytes XML 1.0 forbids — a terminal
// escape sequence in an href, NUL in a value, invalid UTF-8 in a title, a character
// reference to ESC — naming the entry and the line, and stores nothing of it. (They used to
// be stored, and the href reached a terminal through `custody export`.)
func TestForbiddenBytesAreRefused(t *testing.T) {
	const mr = "https://h/r/Subscription/1/UsagePoint/1/MeterReading/1"
	rt := entryOf("https://h/r/ReadingType/1", "", nil, `<ReadingType xmlns="http://naesb.org/espi"><uom>72</uom></ReadingType>`)
	block := func(value string) string {
		return entryOf(mr+"/IntervalBlock/1", mr+"/IntervalBlock", nil,
			`<IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>3600</duration><start>0</start></interval>`+
				"\n<IntervalReading><value>"+value+"</value></IntervalReading></IntervalBlock>")
	}
	tests := []struct {
		name, feed, want string
	}{
		{"OSC in an href", string(feedOf(rt, entryOf(mr+"\x1b]0;owned\x07", "", []string{"https://h/r/ReadingType/1"}, `<MeterReading xmlns="http://naesb.org/espi"/>`))),
			"entry 2 (id urn:uuid:x): line 2:104: the file contains the control character 0x1B (ESC)"},
		{"NUL in a value", string(feedOf(rt, block("1\x002"))), "entry 2 (" + mr + "/IntervalBlock/1): line 3:"},
		{"invalid UTF-8 in a title", string(feedOf(rt, strings.Replace(block("1"), "<content>", "<title>M\xe9ter</title><content>", 1))), "entry 2 (" + mr + "/IntervalBlock/1): line 2:"},
		{"reference to ESC", string(feedOf(rt, block("&#27;1"))), "entry 2 (" + mr + "/IntervalBlock/1): line 3:"},
	}
	for _, tt := range tests {
		st := openStore(t)
		_, err := parseInto(t, st, []byte(tt.feed))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "XML") && !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("%s: got %v, want an error starting %q about XML", tt.name, err, tt.want)
			continue
		}
		if got := exportText(t, st); got != "" {
			t.Errorf("%s: stored %q", tt.name, got)
		}
	}
}
