package datahub

import (
	"fmt"
	"strings"
	"time"

	"custody/store"
)

// units maps CIM unit codes (quantity_Measure_Unit.name) to the symbols Custody stores.
var units = map[string]struct{ symbol, kind string }{
	"KWH": {"kWh", "energy"},
	"MWH": {"MWh", "energy"},
	"KWT": {"kW", "power"},
	"MAW": {"MW", "power"},
	"K3":  {"kVArh", "reactive energy"},
	"AMP": {"A", "current"},
	"H87": {"pcs", "count"},
	"TNE": {"t", "mass"},
	"Z03": {"Z03", "other"}, // in DataHub's code list without a published meaning: kept as sent
}

// UnitSymbol returns the symbol and kind of a CIM unit code, or an error for a code DataHub
// does not use.
func UnitSymbol(code string) (symbol, kind string, err error) {
	u, ok := units[strings.ToUpper(strings.TrimSpace(code))]
	if !ok {
		return "", "", fmt.Errorf("unit code %q is not one DataHub uses (KWH, MWH, KWT, MAW, K3, AMP, H87, TNE, Z03)", code)
	}
	return u.symbol, u.kind, nil
}

// flows maps metering point types to a flow direction where the type says one; other types
// have no flow (never a guessed default).
var flows = map[string]string{
	"E17": "forward", // consumption
	"D07": "forward", // consumption from grid
	"E18": "reverse", // production
	"D06": "reverse", // supply to grid
	"D15": "net",     // net consumption
	"D12": "total",   // total consumption
}

// PutOptions say where a document came from.
type PutOptions struct {
	SourceID  int64
	PayloadID int64
	// Correlation is the CorrelationId header the server sent with the document, if any.
	Correlation string
	// MessageID is the MessageId header the document came with; when it differs from the
	// document's mRID, it wins (it is what DataHub dequeues by) and a warning says so.
	MessageID string
}

// StoreError is a failure of the database while a document was written, as opposed to a
// problem with the document: the document is not at fault and must not be given up on.
type StoreError struct{ Err error }

// Error says that the store failed, and how.
func (e *StoreError) Error() string { return "store: " + e.Err.Error() }

// Unwrap returns the database's error.
func (e *StoreError) Unwrap() error { return e.Err }

// PutResult is what a document brought in.
type PutResult struct {
	Message  store.Message
	Meters   int
	Series   int
	Readings int
	From, To time.Time
	Warnings []string
	// Linked is the request the document answers, when one was found.
	Linked *store.DataHubRequest
}

// Put writes a parsed document through tx: meters, series and readings of every time series,
// the message record, and the link to the request it answers. It does not commit. [Import]
// does the same while parsing, without holding the document's points.
func Put(tx *store.Tx, d *Document, o PutOptions) (PutResult, error) {
	w := newWriter(tx, o)
	for i := range d.Series {
		s := &d.Series[i]
		for pi := range s.Periods {
			p := &s.Periods[pi]
			if err := w.begin(d, s, i, pi, p); err != nil {
				return w.res, err
			}
			if err := w.points(p.Points); err != nil {
				return w.res, err
			}
			if err := w.end(); err != nil {
				return w.res, err
			}
		}
	}
	return w.finish(d)
}

// writeBatch is how many points are written to the store at a time.
const writeBatch = 4096

// writer stores the points of one document period by period, batch by batch, so that a
// document's points never need to be held at once.
type writer struct {
	tx     *store.Tx
	o      PutOptions
	res    PutResult
	meters map[string]int64
	cur    *periodState
}

// periodState is the period being written: its series (quantity, and price and amount for
// wholesale results, made when the first price or amount comes) and the points refused.
type periodState struct {
	s                 *Series
	pi                int
	p                 Period
	step              Step
	want              int
	qty, price, amt   store.Series
	rs, prices, amts  []store.Reading
	present, refused  int
	firstRef, lastRef int
}

func newWriter(tx *store.Tx, o PutOptions) *writer {
	return &writer{tx: tx, o: o, meters: map[string]int64{}}
}

// begin starts period pi of series s (index si): it upserts the meter and the quantity series.
func (w *writer) begin(d *Document, s *Series, si, pi int, p *Period) error {
	if d.IsRequest() {
		return fmt.Errorf("%s %s is a request document (one a market actor sends to DataHub), not data to import", d.Root, d.MRID)
	}
	m, sr, err := describe(d, s, w.o.SourceID)
	if err != nil {
		return fmt.Errorf("%s Series %d: %w", d.Root, si+1, err)
	}
	if w.o.MessageID != "" {
		sr.Attrs["message_id"] = w.o.MessageID
	}
	if id, ok := w.meters[m.Key]; ok {
		m.ID = id
	} else {
		if err := w.tx.UpsertMeter(&m); err != nil {
			return &StoreError{err}
		}
		w.meters[m.Key] = m.ID
		w.res.Meters++
	}
	step, err := stepper(p.Resolution)
	if err != nil {
		return fmt.Errorf("%s Series %d Period %d: %w", d.Root, si+1, pi+1, err)
	}
	st := &periodState{s: s, pi: pi, p: Period{Resolution: p.Resolution, Start: p.Start, End: p.End}, step: step,
		want: step.Count(p.Start, p.End)}
	st.qty = sr
	st.qty.MeterID = m.ID
	st.qty.Key = seriesKey(d.ProcessType, s, p.Resolution, sr.Unit)
	st.qty.Seconds = step.Nominal()
	if err := w.tx.UpsertSeries(&st.qty); err != nil {
		return &StoreError{err}
	}
	w.res.Series++
	// The price and amount series are made on their first value.
	cur := s.Currency
	if cur == "" {
		cur = "DKK" // DataHub's only currency; RSM-019 names it, older output may not
	}
	st.price = sr
	st.price.MeterID, st.price.Seconds, st.price.Flow, st.price.Currency = m.ID, st.qty.Seconds, "", cur
	st.price.Kind = "price"
	st.price.Unit = cur + "/" + priceUnit(s, sr.Unit)
	st.price.Key = seriesKey(d.ProcessType, s, p.Resolution, st.price.Unit) + "/price"
	st.price.Attrs = withName(sr.Attrs, "price")
	st.amt = st.price
	st.amt.Kind = "cost"
	st.amt.Unit = cur
	st.amt.Key = seriesKey(d.ProcessType, s, p.Resolution, cur) + "/amount"
	st.amt.Attrs = withName(sr.Attrs, "amount")
	w.cur = st
	return nil
}

// priceUnit is the symbol of the unit a series' prices are per: price_Measure_Unit.name, else
// the quantity's unit.
func priceUnit(s *Series, qtyUnit string) string {
	if sym, _, err := UnitSymbol(s.PriceUnit); err == nil {
		return sym
	}
	return qtyUnit
}

// withName copies attrs with the kind of values ("price", "amount") added to the name.
func withName(attrs map[string]string, what string) map[string]string {
	out := make(map[string]string, len(attrs)+1)
	for k, v := range attrs {
		out[k] = v
	}
	if n := out["name"]; n != "" {
		out["name"] = n + " · " + what
	} else {
		out["name"] = what
	}
	out["values"] = what
	return out
}

// points writes a batch of points of the current period. Points beyond the period's interval
// are refused (counted, and reported once per period by end).
func (w *writer) points(pts []Point) error {
	st := w.cur
	for _, pt := range pts {
		if pt.Position > st.want {
			if st.refused == 0 || pt.Position < st.firstRef {
				st.firstRef = pt.Position
			}
			st.lastRef = max(st.lastRef, pt.Position)
			st.refused++
			continue
		}
		st.present++
		begin, end := st.step.At(st.p.Start, pt.Position)
		r := store.Reading{Start: begin.Unix(), Seconds: int64(end.Sub(begin) / time.Second), Quality: pt.Quality}
		if pt.Quantity == "" || strings.EqualFold(pt.Quality, "A02") {
			r.Missing = true
		} else {
			r.Value = pt.value(pt.Quantity, pt.qty)
		}
		if pt.Amount != "" {
			r.Cost = pt.value(pt.Amount, pt.amount)
			r.HasCost = true
			st.amts = append(st.amts, store.Reading{Start: r.Start, Seconds: r.Seconds, Value: r.Cost, Quality: pt.Quality})
		}
		if pt.Price != "" {
			v := pt.value(pt.Price, pt.price)
			st.prices = append(st.prices, store.Reading{Start: r.Start, Seconds: r.Seconds, Value: v, Quality: pt.Quality})
		}
		st.rs = append(st.rs, r)
		if w.res.From.IsZero() || begin.Before(w.res.From) {
			w.res.From = begin
		}
		if end.After(w.res.To) {
			w.res.To = end
		}
		if len(st.rs) >= writeBatch {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the buffered readings of the current period.
func (w *writer) flush() error {
	st := w.cur
	for _, b := range []struct {
		sr *store.Series
		rs *[]store.Reading
	}{{&st.qty, &st.rs}, {&st.price, &st.prices}, {&st.amt, &st.amts}} {
		if len(*b.rs) == 0 {
			continue
		}
		if b.sr.ID == 0 {
			if err := w.tx.UpsertSeries(b.sr); err != nil {
				return &StoreError{err}
			}
			w.res.Series++
		}
		if err := w.tx.PutReadings(b.sr.ID, *b.rs); err != nil {
			return &StoreError{err}
		}
		*b.rs = (*b.rs)[:0]
	}
	return nil
}

// end finishes the current period: the last batch, and one warning for what was refused or
// absent.
func (w *writer) end() error {
	st := w.cur
	if err := w.flush(); err != nil {
		return err
	}
	w.res.Readings += st.present
	where := fmt.Sprintf("Series %s Period %d", st.s.MRID, st.pi+1)
	span := fmt.Sprintf("from %s to %s", st.p.Start.Format(time.RFC3339), st.p.End.Format(time.RFC3339))
	if st.refused > 0 {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("%s: %d points refused: positions %d to %d lie beyond the %d positions %s",
			where, st.refused, st.firstRef, st.lastRef, st.want, span))
	}
	if st.present != st.want && st.present > 0 {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("%s: %d of %d positions present", where, st.present, st.want))
	}
	w.cur = nil
	return nil
}

// finish writes the message record and links it to the request it answers.
func (w *writer) finish(d *Document) (PutResult, error) {
	res, tx, o := &w.res, w.tx, w.o
	if d.IsRequest() {
		return *res, fmt.Errorf("%s %s is a request document (one a market actor sends to DataHub), not data to import", d.Root, d.MRID)
	}
	if o.MessageID != "" && d.MRID != o.MessageID {
		d.Warnings = append(d.Warnings, fmt.Sprintf("document mRID %s differs from MessageId %s", d.MRID, o.MessageID))
		d.MRID = o.MessageID
	}
	res.Warnings = append(d.Warnings, res.Warnings...)
	msg := messageOf(d, o)
	msg.Readings = int64(res.Readings)
	if len(res.Warnings) > 0 {
		// Kept with the message, so that what was refused can be seen later (custody messages).
		msg.Attrs["warnings"] = strings.Join(res.Warnings, "; ")
	}
	seen := map[string]bool{}
	for _, s := range d.Series {
		if s.OriginalTransaction == "" || seen[s.OriginalTransaction] {
			continue
		}
		seen[s.OriginalTransaction] = true
		r, found, err := tx.LinkDataHubAnswer(o.SourceID, s.OriginalTransaction, d.MRID)
		if err != nil {
			return *res, &StoreError{err}
		}
		if found {
			if d.isRejection() {
				var why []string
				for _, rs := range d.Series {
					if rs.OriginalTransaction != s.OriginalTransaction {
						continue
					}
					for _, reason := range rs.Reasons {
						why = append(why, ExplainReason(reason))
					}
				}
				if len(why) == 0 {
					why = append(why, "DataHub rejected it without a reason code")
				}
				text := strings.Join(why, "; ")
				if err := tx.SetDataHubRequestRejected(r.ID, text); err != nil {
					return *res, &StoreError{err}
				}
				r.Status, r.Error = store.RequestRejected, text
			}
			res.Linked = &r
			msg.Attrs["request"] = r.MessageID
			if r.Correlation != "" {
				msg.Correlation = r.Correlation
			}
		}
	}
	if o.SourceID == 0 {
		if err := tx.ForgetFileMessage(msg.MessageID); err != nil {
			return *res, &StoreError{err}
		}
	}
	if err := tx.PutMessage(&msg); err != nil {
		return *res, &StoreError{err}
	}
	res.Message = msg
	return *res, nil
}

// messageOf is the message record of a document.
func messageOf(d *Document, o PutOptions) store.Message {
	m := store.Message{
		SourceID:       o.SourceID,
		MessageID:      d.MRID,
		Type:           d.Root,
		Created:        d.Created,
		Correlation:    o.Correlation,
		Sender:         d.Sender,
		Receiver:       d.Receiver,
		BusinessReason: d.ProcessType,
		Reasons:        d.Reasons(),
		PayloadID:      o.PayloadID,
		Attrs:          map[string]string{},
	}
	for k, v := range map[string]string{
		"type_code": d.Type, "sender_role": d.SenderRole, "receiver_role": d.ReceiverRole,
		"reason_code": d.ReasonCode, "received_mrid": d.ReceivedMRID, "namespace": d.Namespace,
	} {
		if v != "" {
			m.Attrs[k] = v
		}
	}
	var orig []string
	for _, s := range d.Series {
		if s.OriginalTransaction != "" {
			orig = append(orig, s.OriginalTransaction)
		}
	}
	if len(orig) > 0 {
		m.Attrs["original_transactions"] = strings.Join(orig, ",")
	}
	return m
}

// describe builds the meter and series (without key and interval) of a time series.
func describe(d *Document, s *Series, sourceID int64) (store.Meter, store.Series, error) {
	unit, kind, err := UnitSymbol(s.UnitCode)
	if s.UnitCode == "" {
		return store.Meter{}, store.Series{}, fmt.Errorf("mRID %s has no quantity_Measure_Unit.name", s.MRID)
	}
	if err != nil {
		return store.Meter{}, store.Series{}, fmt.Errorf("mRID %s: %w", s.MRID, err)
	}
	m := store.Meter{SourceID: sourceID, Commodity: "electricity", TimeZone: "Europe/Copenhagen", Attrs: map[string]string{}}
	switch {
	case s.MeteringPoint != "":
		m.Key = s.MeteringPoint
		m.Name = "Metering point " + s.MeteringPoint
		if s.MPType != "" {
			m.Attrs["metering_point_type"] = s.MPType
		}
	case s.GridArea != "":
		m.Key = "grid-area-" + s.GridArea
		m.Name = "Grid area " + s.GridArea
		m.Attrs["grid_area"] = s.GridArea
	default:
		return m, store.Series{}, fmt.Errorf("mRID %s names neither a metering point nor a grid area", s.MRID)
	}
	sr := store.Series{
		Commodity: "electricity",
		Flow:      flows[s.MPType],
		Unit:      unit,
		Kind:      kind,
		Currency:  s.Currency,
		Attrs:     map[string]string{"message_id": d.MRID},
	}
	if _, ok := seriesIdentity(d.ProcessType, s); ok {
		sr.Attrs["name"] = SeriesName(d.ProcessType, s.SettlementVersion, s.MPType, s.SettlementMethod, s.ChargeType, s.ChargeCode,
			s.EnergySupplier, s.BalanceResponsible)
	}
	for k, v := range map[string]string{
		"series_mrid": s.MRID, "product": s.Product, "metering_point_type": s.MPType, "settlement_method": s.SettlementMethod,
		"grid_area": s.GridArea, "energy_supplier": s.EnergySupplier, "balance_responsible": s.BalanceResponsible,
		"charge_code": s.ChargeCode, "charge_type": s.ChargeType, "charge_owner": s.ChargeOwner, "price_unit": s.PriceUnit,
		"version": s.Version, "settlement_version": s.SettlementVersion, "process_type": d.ProcessType, "unit_code": s.UnitCode,
	} {
		if v != "" {
			sr.Attrs[k] = v
		}
	}
	return m, sr, nil
}

// seriesKey is the stable identifier of a series under its meter: for a grid-area result the
// process type and settlement version first (balance fixing, wholesale fixing and each
// correction are different results), then product and metering point type, then whatever else
// tells like series apart, then resolution and unit.
func seriesKey(processType string, s *Series, resolution, unit string) string {
	var parts []string
	if p, ok := seriesIdentity(processType, s); ok {
		parts = append(parts, p)
	}
	if s.Product == "" {
		parts = append(parts, "-")
	} else {
		parts = append(parts, s.Product)
	}
	if s.MPType != "" {
		parts = append(parts, s.MPType)
	}
	if s.SettlementMethod != "" {
		parts = append(parts, s.SettlementMethod)
	}
	if s.ChargeType != "" || s.ChargeCode != "" {
		parts = append(parts, "charge:"+s.ChargeOwner+":"+s.ChargeType+":"+s.ChargeCode)
	}
	if s.EnergySupplier != "" {
		parts = append(parts, "es:"+s.EnergySupplier)
	}
	if s.BalanceResponsible != "" {
		parts = append(parts, "brp:"+s.BalanceResponsible)
	}
	return strings.Join(append(parts, strings.ToUpper(resolution), unit), "/")
}

// value is a point's value: parsed when it was read, or (for a Point made by hand) now. The
// text was checked when it was read.
func (p *Point) value(text string, parsed float64) float64 {
	if parsed != 0 {
		return parsed
	}
	v, _ := ParseDecimal(text)
	return v
}
