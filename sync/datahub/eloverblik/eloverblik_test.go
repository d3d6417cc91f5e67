package eloverblik

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/fileimport"
)

func newImporter(t *testing.T) (*fileimport.Importer, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fileimport.Importer{Store: st, Formats: []fileimport.Format{datahub.XMLFormat(), datahub.JSONFormat(), Format()}}, st
}

type reading struct{ start, value, quality string }

func TestEveryFixture(t *testing.T) {
	cases := map[string]struct {
		meters, readings int
		meter, series    string
		flow             string
		points           []reading
		sum              string // sum of all values, when checked
		refused          string
		check            func(t *testing.T, st *store.Store)
	}{
		"customer_gettimeseries_PT1H_DST_reconstructed.json": {
			meters: 1, readings: 47, meter: "571313100000001239", series: "eloverblik/A04/PT1H/kWh", flow: "forward",
			points: []reading{
				{"2025-03-28T23:00:00Z", "0.669", "A04"},
				{"2025-03-30T03:00:00Z", "0.409", "A03"}, // day 2 position 5
				{"2025-03-30T21:00:00Z", "1.036", "A04"}, // day 2 position 23: a 23-hour day
			},
		},
		"thirdparty_gettimeseries_PT1H_2019-01_gsrn1.json": {
			meters: 1, readings: 31 * 24, meter: "269841726498172468", series: "eloverblik/A04/PT1H/kWh", flow: "forward",
			points: []reading{{"2018-12-31T23:00:00Z", "1", "A04"}, {"2019-01-31T22:00:00Z", "1", "A04"}},
			sum:    "744",
		},
		"customer_getdetails_shape_realistic.json": {
			meters: 2,
			check: func(t *testing.T, st *store.Store) {
				ms, _ := st.Meters(context.Background(), store.MeterFilter{})
				byKey := map[string]store.Meter{}
				for _, m := range ms {
					byKey[m.Key] = m
				}
				p := byKey["571313113162842251"]
				if p.Name != "Main meter" || p.Attrs["typeOfMP"] != "E17" || p.Attrs["meteringGridAreaIdentification"] != "131" {
					t.Errorf("parent meter %+v", p)
				}
				for k := range p.Attrs {
					if k == "firstConsumerPartyName" || k == "contactAddresses" || k == "streetName" {
						t.Errorf("personal field %s stored on the meter", k)
					}
				}
				if c := byKey["571313113162842268"]; c.Attrs["typeOfMP"] != "D01" {
					t.Errorf("child meter %+v", c)
				}
			},
		},
		"thirdparty_meteringpoints_customerKey.json":    {meters: 5},
		"customer_getmeterreadings_2024_issue94.json":   {meters: 1},
		"shape_MyEnergyDataMarketDocumentResponse.json": {refused: `metering point id "string" is not an 18-digit GSRN`},
		"shape_metering-point-details-response.json":    {refused: `meteringPointId "string" is not an 18-digit GSRN`},
		"shape_metering-point-price-data.json":          {refused: `meteringPointId "string" is not an 18-digit GSRN`},
		"customer_error_400_30002_body.json":            {refused: fileimport.ErrUnknownFormat.Error()},
		"swagger-eloverblik-customerapi.json":           {refused: fileimport.ErrUnknownFormat.Error()},
		"swagger-eloverblik-thirdpartyapi.json":         {refused: fileimport.ErrUnknownFormat.Error()},
	}
	all, _ := filepath.Glob("testdata/*.json")
	for _, f := range all {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no test case", f)
		}
	}
	for file, w := range cases {
		t.Run(file, func(t *testing.T) {
			im, st := newImporter(t)
			sum, err := im.Import(context.Background(), filepath.Join("testdata", file))
			if w.refused != "" {
				if err == nil || !strings.Contains(err.Error(), w.refused) {
					t.Fatalf("import = %v, want refusal with %q", err, w.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sum.Format != FormatName || sum.Meters != w.meters || sum.Readings != w.readings {
				t.Errorf("summary %+v", sum)
			}
			got := map[string]store.ExportRow{}
			total := 0.0
			st.ExportReadings(context.Background(), store.ExportFilter{Meter: w.meter}, func(r store.ExportRow) error {
				got[time.Unix(r.Reading.Start, 0).UTC().Format(time.RFC3339)] = r
				total += r.Reading.Value
				if r.Series != w.series || r.Unit != "kWh" || r.Flow != w.flow || r.Reading.Seconds != 3600 {
					t.Errorf("row %+v", r)
				}
				return nil
			})
			if len(got) != w.readings {
				t.Errorf("%d rows, want %d", len(got), w.readings)
			}
			for _, p := range w.points {
				r, ok := got[p.start]
				if !ok || strconv.FormatFloat(r.Reading.Value, 'f', -1, 64) != p.value || r.Reading.Quality != p.quality {
					t.Errorf("at %s: %+v, want %s %s", p.start, r.Reading, p.value, p.quality)
				}
			}
			if w.sum != "" && strconv.FormatFloat(total, 'f', -1, 64) != w.sum {
				t.Errorf("sum %v, want %s", total, w.sum)
			}
			if w.check != nil {
				w.check(t, st)
			}
		})
	}
}

func TestLenientShapes(t *testing.T) {
	im, st := newImporter(t)
	body := `{"result":[
	  {"MyEnergyData_MarketDocument":{"mRID":"x","TimeSeries":[{"mRID":"571313100000001239","businessType":"A01","measurement_Unit.name":"KWH",
	    "MarketEvaluationPoint":{"mRID":{"codingScheme":"A10","name":"571313100000001239"}},
	    "Period":[{"resolution":"PT1D","timeInterval":{"start":"2025-03-29T23:00:00Z","end":"2025-03-31T22:00:00Z"},
	      "Point":[{"position":"1","out_Quantity.quantity":"12.5","out_Quantity.quality":"A04"},{"position":"2","out_Quantity.quality":"A02"}]},
	             {"resolution":"PT1Y","timeInterval":{"start":"2024-12-31T23:00:00Z","end":"2025-03-31T22:00:00Z"},
	      "Point":[{"position":"1","out_Quantity.quantity":"300","out_Quantity.quality":"A04"}]}]}]},
	   "success":true,"errorCode":"10000","errorText":"NoError","id":"571313100000001239","stackTrace":null},
	  {"MyEnergyData_MarketDocument":null,"success":true,"errorCode":10000,"id":"571313100000009999"},
	  {"success":false,"errorCode":20008,"errorText":"Not found","id":"571313100000008888"}]}`
	path := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(path, []byte(body), 0o600)
	sum, err := im.Import(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 3 || len(sum.Warnings) != 2 {
		t.Errorf("summary %+v", sum)
	}
	rows := map[string]store.ExportRow{}
	st.ExportReadings(context.Background(), store.ExportFilter{}, func(r store.ExportRow) error {
		rows[r.Series+"@"+time.Unix(r.Reading.Start, 0).UTC().Format(time.RFC3339)] = r
		return nil
	})
	day := rows["eloverblik/A01/P1D/kWh@2025-03-29T23:00:00Z"]
	if day.Reading.Value != 12.5 || day.Reading.Seconds != 23*3600 || day.Flow != "reverse" {
		t.Errorf("spring day %+v", day)
	}
	if gap := rows["eloverblik/A01/P1D/kWh@2025-03-30T22:00:00Z"]; !gap.Reading.Missing || gap.Reading.Quality != "A02" {
		t.Errorf("missing day %+v", gap)
	}
	// A partial year covers its stated interval verbatim.
	if y := rows["eloverblik/A01/P1Y/kWh@2024-12-31T23:00:00Z"]; y.Reading.Seconds != int64(time.Date(2025, 3, 31, 22, 0, 0, 0, time.UTC).Sub(time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC))/time.Second) {
		t.Errorf("partial year %+v", y)
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":    `{"result":[{"MyEnergyData_MarketDocument":{"TimeSeries":[`,
		"bad position": `{"result":[{"MyEnergyData_MarketDocument":{"TimeSeries":[{"mRID":"571313100000001239","measurement_Unit.name":"KWH","Period":[{"resolution":"PT1H","timeInterval":{"start":"2025-01-01T23:00:00Z","end":"2025-01-02T23:00:00Z"},"Point":[{"position":"1x","out_Quantity.quantity":"1"}]}]}]}}]}`,
		"bad unit":     `{"result":[{"MyEnergyData_MarketDocument":{"TimeSeries":[{"mRID":"571313100000001239","measurement_Unit.name":"GJ","Period":[]}]}}]}`,
	} {
		im, _ := newImporter(t)
		path := filepath.Join(t.TempDir(), "e.json")
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := im.Import(context.Background(), path); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), map[string]string{"truncated": "malformed JSON", "bad position": `position "1x"`, "bad unit": `unit code "GJ"`}[name]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzEloverblik feeds any bytes to the parser, writing into memSink, which checks every
// record as the store and its readers expect it, and parses each input twice to check that a
// redelivered answer gives the same records. The seeds (testdata/fuzz/FuzzEloverblik) are small
// answers of every shape: the fuzzer minimises every new input it keeps, in time that grows
// with the square of its length, so seeds of tens of kilobytes (the fixtures) stalled it for a
// minute at a time; and the store's SQLite, instrumented for coverage, made its coverage noisy.
// TestMemSinkAgreesWithStore keeps memSink honest against a real store on every seed and
// fixture.
func FuzzEloverblik(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		first, sum, err := parseMem(b)
		if first.broken != nil {
			t.Fatalf("%v (parse error: %v)", first.broken, err)
		}
		if sum.Readings != first.readings || sum.Meters != first.meterCalls || sum.Series != first.seriesCalls {
			t.Fatalf("summary %+v, but %d readings, %d meters and %d series written", sum, first.readings, first.meterCalls, first.seriesCalls)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("an error without a message")
		}
		again, sum2, err2 := parseMem(b)
		if fmt.Sprint(sum) != fmt.Sprint(sum2) || fmt.Sprint(err) != fmt.Sprint(err2) || first.log.Sum64() != again.log.Sum64() {
			t.Fatalf("the same answer parsed twice differs: %+v, %v; %+v, %v", sum, err, sum2, err2)
		}
	})
}

func parseMem(b []byte) (*memSink, fileimport.Summary, error) {
	m := newMemSink()
	sum, err := parseInto(context.Background(), m, store.Payload{SourceID: 1}, bytes.NewReader(b), func(int64) {})
	return m, sum, err
}

// TestMemSinkAgreesWithStore parses every fuzz seed and fixture into a real store and into
// memSink: the same summary and the same error, so what the fuzz target checks is what the
// store gets.
func TestMemSinkAgreesWithStore(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inputs := map[string][]byte{}
	for i, s := range fuzzSeeds(t) {
		inputs[fmt.Sprint("seed ", i+1)] = s
	}
	if len(inputs) < 10 {
		t.Fatalf("%d seeds", len(inputs))
	}
	fixtures, _ := filepath.Glob("testdata/*.json")
	for _, p := range fixtures {
		inputs[p], _ = os.ReadFile(p)
	}
	parsed := 0
	for p, b := range inputs {
		tx, err := st.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want, werr := parse(context.Background(), tx, store.Payload{}, bytes.NewReader(b), func(int64) {})
		tx.Rollback()
		m, got, gerr := parseMem(b)
		if m.broken != nil {
			t.Errorf("%s: %v", p, m.broken)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%s: memSink %+v, %v; store %+v, %v", p, got, gerr, want, werr)
		}
		if werr == nil && want.Readings+want.Meters > 0 {
			parsed++
		}
	}
	if parsed < 10 {
		t.Errorf("only %d inputs stored anything", parsed)
	}
}

// memSink is an in-memory store transaction for the fuzz target. Like the store it gives a
// meter one id per key and a series one per meter and key; it checks what the store's
// constraints and readers rely on, and logs every write for the redelivery check.
type memSink struct {
	meters      map[string]int64
	series      map[string]int64
	seriesIDs   map[int64]bool
	meterIDs    map[int64]bool
	readings    int
	meterCalls  int
	seriesCalls int
	log         hash.Hash64 // of every write, for the redelivery check
	broken      error       // the first record the store would not take as it is
}

func newMemSink() *memSink {
	return &memSink{meters: map[string]int64{}, series: map[string]int64{}, seriesIDs: map[int64]bool{}, meterIDs: map[int64]bool{}, log: fnv.New64a()}
}

// note adds a write's fields to the log; cheaper than formatting, which would dominate.
func (m *memSink) note(strs []string, nums ...int64) {
	var b [8]byte
	for _, s := range strs {
		io.WriteString(m.log, s)
		m.log.Write([]byte{0})
	}
	for _, n := range nums {
		binary.LittleEndian.PutUint64(b[:], uint64(n))
		m.log.Write(b[:])
	}
}

// attrs lists a map's entries in key order, for note.
func attrs(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k, m[k])
	}
	return out
}

func (m *memSink) fail(format string, args ...any) {
	if m.broken == nil {
		m.broken = fmt.Errorf(format, args...)
	}
}

func (m *memSink) UpsertMeter(mt *store.Meter) error {
	m.meterCalls++
	if !gsrnRE.MatchString(mt.Key) || mt.Commodity != "electricity" || mt.TimeZone != "Europe/Copenhagen" {
		m.fail("meter %+v", mt)
	}
	id, ok := m.meters[mt.Key]
	if !ok {
		id = int64(len(m.meters) + 1)
		m.meters[mt.Key] = id
		m.meterIDs[id] = true
	}
	mt.ID = id
	m.note(append([]string{"meter", mt.Key, mt.Name}, attrs(mt.Attrs)...), id, mt.SourceID)
	return nil
}

func (m *memSink) UpsertMeterKeepName(mt *store.Meter) error { return m.UpsertMeter(mt) }

func (m *memSink) UpsertSeries(sr *store.Series) error {
	m.seriesCalls++
	if !m.meterIDs[sr.MeterID] || sr.Seconds <= 0 || sr.Unit == "" || !strings.HasPrefix(sr.Key, "eloverblik/") {
		m.fail("series %+v", sr)
	}
	k := fmt.Sprint(sr.MeterID, "/", sr.Key)
	id, ok := m.series[k]
	if !ok {
		id = int64(len(m.series) + 1)
		m.series[k] = id
		m.seriesIDs[id] = true
	}
	sr.ID = id
	m.note(append([]string{"series", sr.Key, sr.Flow, sr.Unit, sr.Kind}, attrs(sr.Attrs)...), id, sr.MeterID, sr.Seconds)
	return nil
}

func (m *memSink) PutReadings(seriesID int64, rs []store.Reading) error {
	if !m.seriesIDs[seriesID] {
		m.fail("readings of unknown series %d", seriesID)
	}
	for _, r := range rs {
		if r.Seconds <= 0 || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Missing && r.Value != 0 {
			m.fail("reading %+v", r)
		}
	}
	m.readings += len(rs)
	for _, r := range rs {
		missing := int64(0)
		if r.Missing {
			missing = 1
		}
		m.note([]string{r.Quality}, seriesID, r.Start, r.Seconds, int64(math.Float64bits(r.Value)), missing)
	}
	return nil
}

func (m *memSink) PutCustomerInfo(c store.CustomerInfo) error {
	if c.Key == "" || len(c.Data) == 0 {
		m.fail("customer info %+v", c)
	}
	m.note(append([]string{"info", c.Kind, c.Key}, attrs(c.Data)...), c.SourceID)
	return nil
}

func (m *memSink) ReplaceCharges(meterID int64, cs []store.Charge) error {
	if !m.meterIDs[meterID] {
		m.fail("charges of unknown meter %d", meterID)
	}
	for _, c := range cs {
		if c.Name == "" || c.Kind == "" {
			m.fail("charge %+v", c)
		}
		for _, p := range c.Prices {
			if math.IsNaN(p) || math.IsInf(p, 0) {
				m.fail("charge %s price %v", c.Name, p) // the store could not keep it as JSON
			}
		}
	}
	for _, c := range cs {
		m.note([]string{"charge", c.Kind, c.Name, c.Owner, c.Period, c.Description}, meterID, c.From.Unix(), c.To.Unix(), c.Quantity)
		for _, p := range c.Prices {
			m.note(nil, int64(math.Float64bits(p)))
		}
	}
	return nil
}

func (m *memSink) PutDocument(d store.Document) error {
	if d.Kind == "" || d.Key == "" {
		m.fail("document %+v", d)
	}
	m.note(append([]string{"document", d.Kind, d.Key}, attrs(d.Data)...), d.SourceID)
	return nil
}

// TestCharges: a getcharges answer stores the metering point's tariffs (hourly and daily) and
// subscriptions; a second answer replaces them; a bad price is refused with where it was.
func TestCharges(t *testing.T) {
	im, st := newImporter(t)
	body := `{"result":[{"result":{"meteringPointId":"571313174100000012",
	  "subscriptions":[{"subscriptionId":"","name":"Netabonnement C","description":"Abonnement","owner":"5790001089030","validFromDate":"2025-12-31T23:00:00.000Z","validToDate":null,"price":23.2,"quantity":1}],
	  "fees":[],
	  "tariffs":[{"name":"Nettarif C time","owner":"5790001089030","periodType":"P1H","validFromDate":"2025-12-31T23:00:00.000Z","validToDate":"",
	     "prices":[{"position":"2","price":0.2},{"position":"1","price":0.1}]},
	    {"name":"Elafgift","owner":"5790000432752","periodType":"P1D","validFromDate":"2025-12-31T23:00:00.000Z","prices":[{"position":"1","price":0.72}]}]},
	  "success":true,"errorCode":"10000","errorText":"NoError","id":"571313174100000012","stackTrace":null}]}`
	path := filepath.Join(t.TempDir(), "charges.json")
	os.WriteFile(path, []byte(body), 0o600)
	if _, err := im.Import(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Meters(context.Background(), store.MeterFilter{})
	if len(ms) != 1 {
		t.Fatalf("meters %+v", ms)
	}
	cs, err := st.ChargesOf(context.Background(), ms[0].ID)
	if err != nil || len(cs) != 3 {
		t.Fatalf("charges %+v, %v", cs, err)
	}
	byName := map[string]store.Charge{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	if c := byName["Nettarif C time"]; c.Kind != "tariff" || len(c.Prices) != 2 || c.Prices[0] != 0.1 || c.Prices[1] != 0.2 || !c.To.IsZero() ||
		c.From != time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC) {
		t.Errorf("hourly tariff %+v", c)
	}
	if c := byName["Netabonnement C"]; c.Kind != "subscription" || c.Quantity != 1 || c.Prices[0] != 23.2 {
		t.Errorf("subscription %+v", c)
	}
	bad := strings.Replace(body, `"position":"2"`, `"position":"7"`, 1)
	os.WriteFile(path, []byte(bad), 0o600)
	if _, err := im.Import(context.Background(), path); err == nil || !strings.Contains(err.Error(), `tariffs 1 of 571313174100000012: price position "7" is not 1 to 2`) {
		t.Errorf("bad position: %v", err)
	}
}

// fuzzSeeds reads the seeds of FuzzEloverblik.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	paths, _ := filepath.Glob("testdata/fuzz/FuzzEloverblik/*")
	var out [][]byte
	for _, p := range paths {
		raw, _ := os.ReadFile(p)
		_, q, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n[]byte(")
		v, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
		if err != nil {
			tb.Fatalf("seed %s: %v", p, err)
		}
		out = append(out, []byte(v))
	}
	return out
}

// BenchmarkFuzzInput is what one FuzzEloverblik input costs: every seed parsed twice into
// memSink ("mem"), against once into a store transaction rolled back, as the target did
// before ("store"). Per op: all the seeds.
func BenchmarkFuzzInput(b *testing.B) {
	seeds := fuzzSeeds(b)
	b.Run("mem", func(b *testing.B) {
		for b.Loop() {
			for _, s := range seeds {
				parseMem(s)
				parseMem(s)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "f.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for b.Loop() {
			for _, s := range seeds {
				tx, err := st.Begin(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				parse(context.Background(), tx, store.Payload{}, bytes.NewReader(s), func(int64) {})
				tx.Rollback()
			}
		}
	})
}
