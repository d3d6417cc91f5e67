// Package eloverblik imports the JSON a household gets from Energinet's Eloverblik customer
// and third-party APIs: time series (MyEnergyData_MarketDocument), metering point details and
// lists, and meter readings, each wrapped in {"result": [ ... one entry per metering point ]}.
//
// Its names differ from DataHub 3 CIM (out_Quantity.quantity, measurement_Unit.name,
// {codingScheme, name}), values and positions are strings, errorCode is a number or a
// string, and resolutions include PT1D and PT1Y: all accepted. Entries that report
// success:false or carry no data yet become warnings, not failures.
package eloverblik

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/fileimport"
)

// FormatName is the archive's format name.
const FormatName = "eloverblik"

// Format is Eloverblik JSON for `custody import`.
func Format() fileimport.Format {
	return fileimport.Format{Name: FormatName, Detect: Detect, Parse: parse}
}

// Detect reports whether head is an Eloverblik answer: {"result": [ with a time series,
// metering point or meter reading entry.
func Detect(head []byte) bool {
	h := bytes.TrimSpace(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}))
	if !bytes.HasPrefix(h, []byte("{")) {
		return false
	}
	h = bytes.TrimSpace(h[1:])
	if !bytes.HasPrefix(h, []byte(`"result"`)) {
		return false
	}
	return bytes.Contains(head, []byte(`"MyEnergyData_MarketDocument"`)) || bytes.Contains(head, []byte(`"meteringPointId"`))
}

// flex is a string that may arrive as a JSON string, number, bool or null.
type flex string

// UnmarshalJSON accepts a string, a number, a bool or null.
func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return fmt.Errorf("a value was expected, found %.20s", b)
	}
	*f = flex(b)
	return nil
}

type point struct {
	Position flex `json:"position"`
	Quantity flex `json:"out_Quantity.quantity"`
	Quality  flex `json:"out_Quantity.quality"`
}

type period struct {
	Resolution   flex `json:"resolution"`
	TimeInterval struct {
		Start flex `json:"start"`
		End   flex `json:"end"`
	} `json:"timeInterval"`
	Point []point `json:"Point"`
}

type timeSeries struct {
	MRID         flex `json:"mRID"`
	BusinessType flex `json:"businessType"`
	CurveType    flex `json:"curveType"`
	Unit         flex `json:"measurement_Unit.name"`
	MEP          struct {
		MRID struct {
			Name flex `json:"name"`
		} `json:"mRID"`
	} `json:"MarketEvaluationPoint"`
	Period []period `json:"Period"`
}

type marketDocument struct {
	MRID       flex         `json:"mRID"`
	Created    flex         `json:"createdDateTime"`
	TimeSeries []timeSeries `json:"TimeSeries"`
}

type entry struct {
	Doc       *marketDocument `json:"MyEnergyData_MarketDocument"`
	Result    json.RawMessage `json:"result"`
	Success   *bool           `json:"success"`
	ErrorCode flex            `json:"errorCode"`
	ErrorText flex            `json:"errorText"`
	ID        flex            `json:"id"`
	// Third-party metering point lists put the fields on the entry itself.
	MeteringPointID flex `json:"meteringPointId"`
}

var gsrnRE = regexp.MustCompile(`^\d{18}$`)

// sink is where an answer's records go: a store transaction, or the fuzz test's in-memory
// one, which checks every record and runs thousands of inputs a second.
type sink interface {
	UpsertMeter(m *store.Meter) error
	UpsertMeterKeepName(m *store.Meter) error
	UpsertSeries(sr *store.Series) error
	PutReadings(seriesID int64, rs []store.Reading) error
	PutCustomerInfo(c store.CustomerInfo) error
	ReplaceCharges(meterID int64, cs []store.Charge) error
	PutDocument(d store.Document) error
}

// parse reads the {"result": [...]} envelope entry by entry, so a long answer is never held whole.
func parse(ctx context.Context, tx *store.Tx, p store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
	return parseInto(ctx, tx, p, r, progress)
}

// parseInto is parse into any sink.
func parseInto(ctx context.Context, tx sink, p store.Payload, r io.Reader, progress func(int64)) (fileimport.Summary, error) {
	var sum fileimport.Summary
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	dec := json.NewDecoder(br)
	if err := expect(dec, json.Delim('{')); err != nil {
		return sum, err
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return sum, jsonErr(dec, err)
		}
		if key, _ := tok.(string); key != "result" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return sum, jsonErr(dec, err)
			}
			continue
		}
		found = true
		if err := expect(dec, json.Delim('[')); err != nil {
			return sum, err
		}
		for i := 0; dec.More(); i++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return sum, fmt.Errorf("result entry %d: %w", i+1, jsonErr(dec, err))
			}
			if err := putEntry(tx, p.SourceID, raw, &sum); err != nil {
				return sum, fmt.Errorf("result entry %d: %w", i+1, err)
			}
			progress(dec.InputOffset())
			if err := ctx.Err(); err != nil {
				return sum, err
			}
		}
		if err := expect(dec, json.Delim(']')); err != nil {
			return sum, err
		}
	}
	if !found {
		return sum, errors.New(`not an Eloverblik answer: no "result" list`)
	}
	if sum.Readings == 0 && sum.Meters == 0 && len(sum.Warnings) == 0 {
		sum.Warnings = append(sum.Warnings, "the answer holds no data")
	}
	return sum, nil
}

func expect(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return jsonErr(dec, fmt.Errorf("found %v where %q was expected", tok, want.String()))
	}
	return nil
}

func jsonErr(dec *json.Decoder, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
}

func putEntry(tx sink, sourceID int64, raw json.RawMessage, sum *fileimport.Summary) error {
	var e entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return err
	}
	id := string(e.ID)
	if e.Success != nil && !*e.Success {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("metering point %s: error %s %s", id, e.ErrorCode, e.ErrorText))
		return nil
	}
	switch {
	case e.Doc != nil:
		return putTimeSeries(tx, sourceID, e.Doc, sum)
	case len(e.Result) > 0 && !bytes.Equal(e.Result, []byte("null")):
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(e.Result, &fields); err != nil {
			return fmt.Errorf("result of %s: %w", id, err)
		}
		if _, ok := fields["readings"]; ok {
			return putMeterReadings(tx, sourceID, e.Result, sum)
		}
		if isCharges(fields) {
			return putCharges(tx, sourceID, fields, sum)
		}
		return putMeteringPoint(tx, sourceID, fields, sum)
	case e.MeteringPointID != "":
		// A third-party metering point list: the fields are on the entry itself.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return err
		}
		return putMeteringPoint(tx, sourceID, fields, sum)
	}
	sum.Warnings = append(sum.Warnings, fmt.Sprintf("metering point %s: no data yet", id))
	return nil
}

// flows of Eloverblik business types.
var flows = map[string]string{"A04": "forward", "A01": "reverse"}

func putTimeSeries(tx sink, sourceID int64, doc *marketDocument, sum *fileimport.Summary) error {
	for ti, ts := range doc.TimeSeries {
		gsrn := string(ts.MEP.MRID.Name)
		if gsrn == "" {
			gsrn = string(ts.MRID)
		}
		where := fmt.Sprintf("TimeSeries %d (%s)", ti+1, gsrn)
		if !gsrnRE.MatchString(gsrn) {
			return fmt.Errorf("%s: metering point id %q is not an 18-digit GSRN", where, gsrn)
		}
		unit, kind, err := datahub.UnitSymbol(string(ts.Unit))
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		// Readings name a new meter by its id only; master data (getdetails) names it better,
		// whichever came first.
		m := store.Meter{Key: gsrn, SourceID: sourceID, Name: "Metering point " + gsrn, Commodity: "electricity", TimeZone: "Europe/Copenhagen"}
		if err := tx.UpsertMeterKeepName(&m); err != nil {
			return err
		}
		sum.Meters++
		seriesIDs := map[string]int64{}
		for pi, p := range ts.Period {
			pw := fmt.Sprintf("%s Period %d", where, pi+1)
			step, err := datahub.ParseResolution(string(p.Resolution))
			if err != nil {
				return fmt.Errorf("%s: %w", pw, err)
			}
			start, err := datahub.ParseTime(string(p.TimeInterval.Start))
			if err != nil {
				return fmt.Errorf("%s timeInterval.start: %w", pw, err)
			}
			end, err := datahub.ParseTime(string(p.TimeInterval.End))
			if err != nil {
				return fmt.Errorf("%s timeInterval.end: %w", pw, err)
			}
			if !end.After(start) || end.Sub(start) > 800*24*time.Hour {
				return fmt.Errorf("%s: interval %s to %s is not a sensible period", pw, start.Format(time.RFC3339), end.Format(time.RFC3339))
			}
			res := step.Canonical()
			key := "eloverblik/" + string(ts.BusinessType) + "/" + res + "/" + unit
			sid, ok := seriesIDs[key]
			if !ok {
				sr := store.Series{MeterID: m.ID, Key: key, Commodity: "electricity", Flow: flows[string(ts.BusinessType)],
					Unit: unit, Kind: kind, Seconds: step.Nominal(),
					Attrs: map[string]string{"business_type": string(ts.BusinessType), "curve_type": string(ts.CurveType), "document": string(doc.MRID)}}
				if err := tx.UpsertSeries(&sr); err != nil {
					return err
				}
				sid = sr.ID
				seriesIDs[key] = sid
				sum.Series++
			}
			want := step.Count(start, end)
			rs := make([]store.Reading, 0, len(p.Point))
			for _, pt := range p.Point {
				var pos int
				if _, err := fmt.Sscanf(string(pt.Position), "%d", &pos); err != nil || pos < 1 || fmt.Sprint(pos) != strings.TrimSpace(string(pt.Position)) || pos > 100000 {
					return fmt.Errorf("%s: position %q is not a positive number", pw, pt.Position)
				}
				b, e := step.At(start, pos)
				if len(p.Point) == 1 && step.Fixed == 0 {
					b, e = start, end // a single day/month/year point covers its stated interval verbatim (a year may be partial)
				}
				r := store.Reading{Start: b.Unix(), Seconds: int64(e.Sub(b) / time.Second), Quality: string(pt.Quality)}
				q := strings.TrimSpace(string(pt.Quantity))
				if q == "" || strings.EqualFold(r.Quality, "A02") {
					r.Missing = true
				} else if r.Value, err = datahub.ParseDecimal(q); err != nil {
					return fmt.Errorf("%s position %d: %w", pw, pos, err)
				}
				rs = append(rs, r)
				if sum.From.IsZero() || b.Before(sum.From) {
					sum.From = b
				}
				if e.After(sum.To) {
					sum.To = e
				}
			}
			if len(rs) != want && !(len(rs) == 1 && step.Fixed == 0) {
				sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s: %d of %d positions", pw, len(rs), want))
			}
			if err := tx.PutReadings(sid, rs); err != nil {
				return err
			}
			sum.Readings += len(rs)
		}
	}
	return nil
}

// personal are metering point fields that describe people: kept as customer info, not on the
// meter, and never logged.
var personal = map[string]bool{
	"firstConsumerPartyName": true, "secondConsumerPartyName": true, "consumerCVR": true, "dataAccessCVR": true,
	"contactAddresses": true, "streetCode": true, "streetName": true, "buildingNumber": true, "floorId": true, "roomId": true,
	"postcode": true, "cityName": true, "citySubDivisionName": true, "municipalityCode": true, "locationDescription": true,
	"darReference": true, "protectedName": true, "mpAddressWashInstructions": true, "consumerStartDate": true,
	"accessFrom": true, "accessTo": true,
}

func putMeteringPoint(tx sink, sourceID int64, fields map[string]json.RawMessage, sum *fileimport.Summary) error {
	str := func(k string) string {
		var f flex
		if raw, ok := fields[k]; ok {
			_ = json.Unmarshal(raw, &f)
		}
		return strings.TrimSpace(string(f))
	}
	gsrn := str("meteringPointId")
	if !gsrnRE.MatchString(gsrn) {
		return fmt.Errorf("meteringPointId %q is not an 18-digit GSRN", gsrn)
	}
	m := store.Meter{Key: gsrn, SourceID: sourceID, Commodity: "electricity", TimeZone: "Europe/Copenhagen", Attrs: map[string]string{}}
	m.Name = displayName(gsrn, str("meteringPointAlias"), str("streetName"), str("buildingNumber"), str("postcode"), str("cityName"), str("typeOfMP"))
	info := store.CustomerInfo{SourceID: sourceID, Kind: "eloverblik-metering-point", Key: "eloverblik:" + gsrn, Data: map[string]string{}}
	for k, raw := range fields {
		if k == "childMeteringPoints" || k == "meteringPointId" {
			continue
		}
		v := strings.TrimSpace(string(raw))
		var f flex
		if json.Unmarshal(raw, &f) == nil {
			v = string(f)
		}
		if v == "" {
			continue
		}
		if personal[k] {
			info.Data[k] = v
		} else {
			m.Attrs[k] = v
		}
	}
	if err := tx.UpsertMeter(&m); err != nil {
		return err
	}
	sum.Meters++
	if len(info.Data) > 0 {
		if err := tx.PutCustomerInfo(info); err != nil {
			return err
		}
	}
	if raw, ok := fields["childMeteringPoints"]; ok {
		var kids []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &kids); err != nil {
			return fmt.Errorf("childMeteringPoints of %s: %w", gsrn, err)
		}
		for _, k := range kids {
			if err := putMeteringPoint(tx, sourceID, k, sum); err != nil {
				return fmt.Errorf("child of %s: %w", gsrn, err)
			}
		}
	}
	return nil
}

// mpTypes name the common metering point types (typeOfMP).
var mpTypes = map[string]string{
	"E17": "consumption", "E18": "production", "E20": "exchange",
	"D01": "renewable production", "D04": "surplus production", "D06": "supply to grid", "D07": "consumption from grid",
}

// displayName is how a metering point is shown: the alias the user gave it on eloverblik.dk,
// else its address and type ("Ahornvej 7, 8600 Silkeborg · consumption"), else its id.
func displayName(gsrn, alias, street, building, postcode, city, typ string) string {
	if alias != "" {
		return alias
	}
	addr := strings.TrimSpace(street + " " + building)
	if place := strings.TrimSpace(postcode + " " + city); place != "" {
		if addr != "" {
			addr += ", "
		}
		addr += place
	}
	if addr == "" {
		addr = "Metering point " + gsrn
	}
	if t := mpTypes[typ]; t != "" {
		return addr + " · " + t
	} else if typ != "" {
		return addr + " · " + typ
	}
	return addr
}

// isCharges reports whether a result is a getcharges answer: the metering point's
// subscriptions, fees and tariffs.
func isCharges(fields map[string]json.RawMessage) bool {
	_, t := fields["tariffs"]
	_, s := fields["subscriptions"]
	_, f := fields["fees"]
	return t || s || f
}

type chargeJSON struct {
	Name        flex `json:"name"`
	Description flex `json:"description"`
	Owner       flex `json:"owner"`
	From        flex `json:"validFromDate"`
	To          flex `json:"validToDate"`
	Period      flex `json:"periodType"`
	Price       flex `json:"price"`
	Quantity    flex `json:"quantity"`
	Prices      []struct {
		Position flex `json:"position"`
		Price    flex `json:"price"`
	} `json:"prices"`
}

// putCharges stores the tariffs, subscriptions and fees of one metering point (getcharges),
// replacing the ones stored before: the answer holds every charge that applies now or later.
func putCharges(tx sink, sourceID int64, fields map[string]json.RawMessage, sum *fileimport.Summary) error {
	var id flex
	_ = json.Unmarshal(fields["meteringPointId"], &id)
	gsrn := strings.TrimSpace(string(id))
	if !gsrnRE.MatchString(gsrn) {
		return fmt.Errorf("meteringPointId %q is not an 18-digit GSRN", gsrn)
	}
	m := store.Meter{Key: gsrn, SourceID: sourceID, Name: "Metering point " + gsrn, Commodity: "electricity", TimeZone: "Europe/Copenhagen"}
	if err := tx.UpsertMeterKeepName(&m); err != nil {
		return err
	}
	sum.Meters++
	var out []store.Charge
	for _, kind := range []struct{ field, kind string }{{"tariffs", "tariff"}, {"subscriptions", "subscription"}, {"fees", "fee"}} {
		raw, ok := fields[kind.field]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var cs []chargeJSON
		if err := json.Unmarshal(raw, &cs); err != nil {
			return fmt.Errorf("%s of %s: %w", kind.field, gsrn, err)
		}
		for i, c := range cs {
			where := fmt.Sprintf("%s %d of %s", kind.field, i+1, gsrn)
			ch := store.Charge{Kind: kind.kind, Name: strings.TrimSpace(string(c.Name)), Owner: string(c.Owner), Period: string(c.Period),
				Currency: "DKK", Description: string(c.Description)}
			if ch.Name == "" {
				return fmt.Errorf("%s: no name", where)
			}
			var err error
			if v := strings.TrimSpace(string(c.From)); v != "" {
				if ch.From, err = datahub.ParseTime(v); err != nil {
					return fmt.Errorf("%s validFromDate: %w", where, err)
				}
			}
			if v := strings.TrimSpace(string(c.To)); v != "" {
				if ch.To, err = datahub.ParseTime(v); err != nil {
					return fmt.Errorf("%s validToDate: %w", where, err)
				}
			}
			if q := strings.TrimSpace(string(c.Quantity)); q != "" {
				if _, err := fmt.Sscan(q, &ch.Quantity); err != nil {
					return fmt.Errorf("%s quantity %q is not a whole number", where, q)
				}
			}
			if len(c.Prices) > 0 {
				if len(c.Prices) > 100 {
					return fmt.Errorf("%s: %d prices, at most 100 expected", where, len(c.Prices))
				}
				ch.Prices = make([]float64, len(c.Prices))
				for _, p := range c.Prices {
					var pos int
					if _, err := fmt.Sscan(strings.TrimSpace(string(p.Position)), &pos); err != nil || pos < 1 || pos > len(c.Prices) {
						return fmt.Errorf("%s: price position %q is not 1 to %d", where, p.Position, len(c.Prices))
					}
					if ch.Prices[pos-1], err = datahub.ParseDecimal(string(p.Price)); err != nil {
						return fmt.Errorf("%s position %d: %w", where, pos, err)
					}
				}
			} else if v := strings.TrimSpace(string(c.Price)); v != "" {
				p, err := datahub.ParseDecimal(v)
				if err != nil {
					return fmt.Errorf("%s price: %w", where, err)
				}
				ch.Prices = []float64{p}
			}
			out = append(out, ch)
		}
	}
	return tx.ReplaceCharges(m.ID, out)
}

func putMeterReadings(tx sink, sourceID int64, raw json.RawMessage, sum *fileimport.Summary) error {
	var mr struct {
		ID       flex `json:"meteringPointId"`
		Readings []struct {
			Date    flex `json:"readingDate"`
			Reg     flex `json:"registrationDate"`
			Meter   flex `json:"meterNumber"`
			Reading flex `json:"meterReading"`
			Unit    flex `json:"measurementUnit"`
		} `json:"readings"`
	}
	if err := json.Unmarshal(raw, &mr); err != nil {
		return fmt.Errorf("meter readings: %w", err)
	}
	if !gsrnRE.MatchString(string(mr.ID)) {
		return fmt.Errorf("meteringPointId %q is not an 18-digit GSRN", mr.ID)
	}
	m := store.Meter{Key: string(mr.ID), SourceID: sourceID, Name: "Metering point " + string(mr.ID), Commodity: "electricity", TimeZone: "Europe/Copenhagen"}
	if err := tx.UpsertMeter(&m); err != nil {
		return err
	}
	sum.Meters++
	for i, r := range mr.Readings {
		t, err := datahub.ParseTime(string(r.Date))
		if err != nil {
			return fmt.Errorf("reading %d readingDate: %w", i+1, err)
		}
		if _, err := datahub.ParseDecimal(string(r.Reading)); err != nil {
			return fmt.Errorf("reading %d meterReading: %w", i+1, err)
		}
		// A register reading is a meter's counter at an instant, not an interval reading: it
		// is kept as a document beside the meter.
		if err := tx.PutDocument(store.Document{SourceID: sourceID, Kind: "eloverblik-meter-reading",
			Key: string(mr.ID) + "@" + t.Format(time.RFC3339), Data: map[string]string{
				"metering_point": string(mr.ID), "reading_date": t.Format(time.RFC3339), "registration_date": string(r.Reg),
				"meter_number": string(r.Meter), "reading": string(r.Reading), "unit": string(r.Unit)}}); err != nil {
			return err
		}
	}
	return nil
}
