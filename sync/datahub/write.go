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
}

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

// Put writes a document through tx: meters, series and readings of every time series, the
// message record, and the link to the request it answers. It does not commit.
func Put(tx *store.Tx, d *Document, o PutOptions) (PutResult, error) {
	var res PutResult
	if d.IsRequest() {
		return res, fmt.Errorf("%s %s is a request document (one a market actor sends to DataHub), not data to import", d.Root, d.MRID)
	}
	res.Warnings = append(res.Warnings, d.Warnings...)
	meters := map[string]bool{}
	for i := range d.Series {
		s := &d.Series[i]
		if len(s.Periods) == 0 {
			continue
		}
		m, sr, err := describe(d, s, o.SourceID)
		if err != nil {
			return res, fmt.Errorf("%s Series %d: %w", d.Root, i+1, err)
		}
		if err := tx.UpsertMeter(&m); err != nil {
			return res, err
		}
		if !meters[m.Key] {
			meters[m.Key] = true
			res.Meters++
		}
		for pi, p := range s.Periods {
			step, _ := stepper(p.Resolution) // checked by seriesFrom
			psr := sr
			psr.MeterID = m.ID
			psr.Key = seriesKey(d.ProcessType, s, p.Resolution, sr.Unit)
			psr.Seconds = step.Nominal()
			if err := tx.UpsertSeries(&psr); err != nil {
				return res, err
			}
			res.Series++
			want := step.Count(p.Start, p.End)
			rs := make([]store.Reading, 0, len(p.Points))
			for _, pt := range p.Points {
				if pt.Position > want {
					res.Warnings = append(res.Warnings, fmt.Sprintf("Series %s Period %d: position %d is beyond the %d positions from %s to %s",
						s.MRID, pi+1, pt.Position, want, p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339)))
				}
				begin, end := step.At(p.Start, pt.Position)
				r := store.Reading{Start: begin.Unix(), Seconds: int64(end.Sub(begin) / time.Second), Quality: pt.Quality}
				if pt.Quantity == "" || strings.EqualFold(pt.Quality, "A02") {
					r.Missing = true
				} else {
					r.Value, _ = ParseDecimal(pt.Quantity) // checked by pointFrom
				}
				if pt.Amount != "" {
					r.Cost, _ = ParseDecimal(pt.Amount)
					r.HasCost = true
				}
				rs = append(rs, r)
				if res.From.IsZero() || begin.Before(res.From) {
					res.From = begin
				}
				if end.After(res.To) {
					res.To = end
				}
			}
			if len(p.Points) != want && len(p.Points) > 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("Series %s Period %d: %d of %d positions present", s.MRID, pi+1, len(p.Points), want))
			}
			if err := tx.PutReadings(psr.ID, rs); err != nil {
				return res, err
			}
			res.Readings += len(rs)
		}
	}
	msg := messageOf(d, o)
	msg.Readings = int64(res.Readings)
	seen := map[string]bool{}
	for _, s := range d.Series {
		if s.OriginalTransaction == "" || seen[s.OriginalTransaction] {
			continue
		}
		seen[s.OriginalTransaction] = true
		r, found, err := tx.LinkDataHubAnswer(o.SourceID, s.OriginalTransaction, d.MRID)
		if err != nil {
			return res, err
		}
		if found {
			res.Linked = &r
			msg.Attrs["request"] = r.MessageID
			if r.Correlation != "" {
				msg.Correlation = r.Correlation
			}
		}
	}
	if o.SourceID == 0 {
		if err := tx.ForgetFileMessage(msg.MessageID); err != nil {
			return res, err
		}
	}
	if err := tx.PutMessage(&msg); err != nil {
		return res, err
	}
	res.Message = msg
	return res, nil
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
