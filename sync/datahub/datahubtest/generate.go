package datahubtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"custody/sync/datahub"
)

// Namespaces of the documents the simulator writes.
const (
	nsValidated       = "urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1"
	nsAggregated      = "urn:ediel.org:measure:notifyaggregatedmeasuredata:0:1"
	nsRejectValidated = "urn:ediel.org:measure:rejectrequestvalidatedmeasuredata:0:1"
	nsRejectAggr      = "urn:ediel.org:measure:rejectrequestaggregatedmeasuredata:0:1"
	nsRejectWholesale = "urn:ediel.org:measure:rejectrequestwholesalesettlement:0:1"
	nsWholesale       = "urn:ediel.org:measure:notifywholesaleservices:0:1"
)

func header(id, typ, process, receiver, role string, created time.Time, reason string) []datahub.El {
	h := []datahub.El{
		datahub.PlainEl("mRID", id),
		datahub.CodedEl("type", typ),
		datahub.CodedEl("process.processType", process),
		datahub.CodedEl("businessSector.type", "23"),
		datahub.PartyEl("sender_MarketParticipant.mRID", "A10", datahub.DataHubGLN),
		datahub.CodedEl("sender_MarketParticipant.marketRole.type", "DGL"),
		datahub.PartyEl("receiver_MarketParticipant.mRID", "A10", receiver),
		datahub.CodedEl("receiver_MarketParticipant.marketRole.type", role),
		datahub.PlainEl("createdDateTime", created.UTC().Format("2006-01-02T15:04:05Z")),
	}
	if reason != "" {
		h = append(h, datahub.CodedEl("reason.code", reason))
	}
	return h
}

func minute(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// hourlyPoints makes the Points of an hourly period: a deterministic profile, one estimated
// (A03) point a day and, when withGap, one missing (A02) point without quantity.
func hourlyPoints(seed int, start, end time.Time, withGap bool) []datahub.El {
	var pts []datahub.El
	n := int(end.Sub(start) / time.Hour)
	for pos := 1; pos <= n; pos++ {
		quality := "A04"
		if pos%24 == 7 {
			quality = "A03"
		}
		if withGap && pos == 13 {
			pts = append(pts, datahub.GroupEl("Point", datahub.CodedNumEl("position", fmt.Sprint(pos)), datahub.CodedEl("quality", "A02")))
			continue
		}
		v := (seed*31 + pos*17) % 1000
		q := fmt.Sprintf("%d.%03d", v/400, v%1000)
		pts = append(pts, datahub.GroupEl("Point",
			datahub.CodedNumEl("position", fmt.Sprint(pos)),
			datahub.NumberEl("quantity", q),
			datahub.CodedEl("quality", quality)))
	}
	return pts
}

// validatedDoc renders an RSM-012 for one metering point over [start, end), PT1H.
func (s *Server) validatedDoc(id, mp string, start, end time.Time, original string, seed int, withGap bool) func(string) []byte {
	created := s.now()
	return func(format string) []byte {
		series := []datahub.El{datahub.PlainEl("mRID", datahub.NewID())}
		if original != "" {
			series = append(series, datahub.PlainEl("originalTransactionIDReference_Series.mRID", original))
		}
		series = append(series,
			datahub.PartyEl("marketEvaluationPoint.mRID", "A10", mp),
			datahub.CodedEl("marketEvaluationPoint.type", "E17"),
			datahub.PlainEl("registration_DateAndOrTime.dateTime", created.UTC().Format("2006-01-02T15:04:05Z")),
			datahub.PlainEl("product", "8716867000030"),
			datahub.CodedEl("quantity_Measure_Unit.name", "KWH"),
			datahub.GroupEl("Period",
				datahub.PlainEl("resolution", "PT1H"),
				datahub.GroupEl("timeInterval", datahub.CodedEl("start", minute(start)), datahub.CodedEl("end", minute(end))),
				datahub.ListEl("Point", hourlyPoints(seed, start, end, withGap)...)))
		kids := header(id, "E66", "E23", s.opts.Receiver, s.opts.ReceiverRole, created, "")
		kids = append(kids, datahub.ListEl("Series", datahub.GroupEl("Series", series...)))
		return datahub.Render(format, "NotifyValidatedMeasureData_MarketDocument", nsValidated, kids)
	}
}

// generate enqueues the next generated RSM-012: one Danish day of hourly values, each a day
// further back from today.
func (s *Server) generate() {
	s.seq++
	today := s.now().In(datahub.Copenhagen)
	day := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, datahub.Copenhagen).AddDate(0, 0, -s.seq)
	id := datahub.NewID()
	render := s.validatedDoc(id, s.opts.MeteringPoint, day, day.AddDate(0, 0, 1), "", s.seq, s.seq%3 == 0)
	if s.faults.Malformed > 0 {
		s.faults.Malformed--
		full := render
		render = func(format string) []byte {
			b := full(format)
			return b[:len(b)/2]
		}
	}
	s.add(&bundle{id: id, category: "MeasureData", ready: s.now(), render: render})
}

// incoming accepts a request document: 202 with a CorrelationId, or the backend's
// synchronous errors.
func (s *Server) incoming(w http.ResponseWriter, r *http.Request, route, format string) {
	roots := map[string]string{
		"requestaggregatedmeasuredata": "RequestAggregatedMeasureData_MarketDocument",
		"requestwholesalesettlement":   "RequestWholesaleSettlement_MarketDocument",
		"requestvalidatedmeasurements": "RequestValidatedMeasureData_MarketDocument",
		"requestvalidatedmeasuredata":  "RequestValidatedMeasureData_MarketDocument",
	}
	want, ok := roots[route]
	if s.opts.ValidatedRoute != "" && strings.HasPrefix(route, "requestvalidated") && route != s.opts.ValidatedRoute {
		ok = false
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, format, "00302", "The request body could not be read", "")
		return
	}
	if len(body) > 1<<20 {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "Payload Too Large")
		return
	}
	doc, err := datahub.Parse(map[string]string{"json": datahub.FormatJSON, "xml": datahub.FormatXML}[format], bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, format, "00302", "Schema validation failed: "+err.Error(), "")
		return
	}
	if doc.Root != want || len(doc.Series) == 0 {
		writeError(w, http.StatusBadRequest, format, "00401", fmt.Sprintf("The type %s is not supported on this endpoint", doc.Root), "Type")
		return
	}
	if len(doc.MRID) > 36 {
		writeError(w, http.StatusBadRequest, format, "00305", "Message id is longer than 36 characters", "MessageId")
		return
	}
	if doc.Receiver != datahub.DataHubGLN {
		writeError(w, http.StatusBadRequest, format, "00303", "Receiver id is not DataHub", "ReceiverId")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.RefuseRequests > 0 {
		s.faults.RefuseRequests--
		refuseMultiple(w, format)
		return
	}
	if s.used[doc.MRID] {
		writeError(w, http.StatusBadRequest, format, "00101", fmt.Sprintf("Message id '%s' is not unique", doc.MRID), "MessageId")
		return
	}
	s.used[doc.MRID] = true
	corr := newUUID()
	s.reqs = append(s.reqs, Received{MessageID: doc.MRID, SeriesID: doc.Series[0].MRID, Root: doc.Root, Correlation: corr, Format: format})
	s.answer(doc, requestSeries(doc.Series[0]))
	if s.faults.LoseAccepted > 0 {
		s.faults.LoseAccepted--
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"Message":"An unexpected error occurred! Please try later."}`)
		return
	}
	w.Header().Set("CorrelationId", corr)
	w.WriteHeader(http.StatusAccepted)
}

// reqFields are the request's period.
type reqFields struct{ start, end time.Time }

func requestSeries(req datahub.Series) reqFields {
	var f reqFields
	f.start, _ = datahub.ParseTime(req.RequestStart)
	f.end, _ = datahub.ParseTime(req.RequestEnd)
	return f
}

// answer enqueues the asynchronous answer to an accepted request.
func (s *Server) answer(doc *datahub.Document, f reqFields) {
	req := doc.Series[0]
	id := datahub.NewID()
	ready := s.now().Add(s.opts.AnswerDelay)
	receiver, role := doc.Sender, doc.SenderRole
	reject := func(root, ns, process, code, text string) func(string) []byte {
		created := s.now()
		return func(format string) []byte {
			kids := header(id, "ERR", process, receiver, role, created, "A02")
			kids = append(kids, datahub.ListEl("Series", datahub.GroupEl("Series",
				datahub.PlainEl("mRID", datahub.NewID()),
				datahub.PlainEl("originalTransactionIDReference_Series.mRID", req.MRID),
				datahub.ListEl("Reason", datahub.GroupEl("Reason", datahub.CodedEl("code", code), datahub.PlainEl("text", text))))))
			return datahub.Render(format, root, ns, kids)
		}
	}
	if f.end.Sub(f.start) > 31*24*time.Hour {
		f.end = f.start.Add(31 * 24 * time.Hour)
	}
	var b *bundle
	switch doc.Root {
	case "RequestValidatedMeasureData_MarketDocument":
		if !strings.HasPrefix(req.MeteringPoint, "57") || f.start.IsZero() || !f.end.After(f.start) {
			b = &bundle{category: "MeasureData", render: reject("RejectRequestValidatedMeasureData_MarketDocument", nsRejectValidated,
				doc.ProcessType, "E10", "Målepunktet findes ikke / The metering point does not exist")}
			break
		}
		s.opts.Receiver, s.opts.ReceiverRole = receiver, role
		b = &bundle{category: "MeasureData", render: s.validatedDoc(id, req.MeteringPoint, f.start, f.end, req.MRID, len(s.reqs), false)}
	case "RequestAggregatedMeasureData_MarketDocument":
		if req.GridArea == "" || !f.end.After(f.start) {
			b = &bundle{category: "Aggregations", render: reject("RejectRequestAggregatedMeasureData_MarketDocument", nsRejectAggr,
				doc.ProcessType, "D64", "Netområde er obligatorisk for rollen MDR / Grid area is mandatory for the role MDR.")}
			break
		}
		b = &bundle{category: "Aggregations", render: s.aggregatedDoc(id, doc, req, f, receiver, role)}
	default:
		if req.GridArea == "" || !f.end.After(f.start) {
			b = &bundle{category: "Aggregations", render: reject("RejectRequestWholesaleSettlement_MarketDocument", nsRejectWholesale,
				doc.ProcessType, "E0H", "Ingen data tilgængelig / No data available")}
			break
		}
		b = &bundle{category: "Aggregations", render: s.wholesaleDoc(id, doc.ProcessType, req, f, receiver, role)}
	}
	b.id, b.ready = id, ready
	s.add(b)
}

// aggregatedDoc renders an RSM-014 answer for a grid area, PT1H.
func (s *Server) aggregatedDoc(id string, doc *datahub.Document, req datahub.Series, f reqFields, receiver, role string) func(string) []byte {
	created := s.now()
	mpType, method := req.MPType, req.SettlementMethod
	if mpType == "" {
		mpType = "E17"
	}
	if method == "" && mpType == "E17" {
		method = "E02"
	}
	return func(format string) []byte {
		series := []datahub.El{
			datahub.PlainEl("mRID", datahub.NewID()),
			datahub.PlainEl("version", "1"),
		}
		if req.SettlementVersion != "" {
			series = append(series, datahub.CodedEl("settlement_Series.version", req.SettlementVersion))
		}
		if req.MRID != "" {
			series = append(series, datahub.PlainEl("originalTransactionIDReference_Series.mRID", req.MRID))
		}
		series = append(series, datahub.CodedEl("marketEvaluationPoint.type", mpType))
		if method != "" {
			series = append(series, datahub.CodedEl("marketEvaluationPoint.settlementMethod", method))
		}
		series = append(series, datahub.PartyEl("meteringGridArea_Domain.mRID", "NDK", req.GridArea))
		if req.EnergySupplier != "" {
			series = append(series, datahub.PartyEl("energySupplier_MarketParticipant.mRID", "A10", req.EnergySupplier))
		}
		series = append(series,
			datahub.PlainEl("product", "8716867000030"),
			datahub.CodedEl("quantity_Measure_Unit.name", "KWH"),
			datahub.GroupEl("Period",
				datahub.PlainEl("resolution", "PT1H"),
				datahub.GroupEl("timeInterval", datahub.CodedEl("start", minute(f.start)), datahub.CodedEl("end", minute(f.end))),
				datahub.ListEl("Point", hourlyPoints(7, f.start, f.end, false)...)))
		kids := header(id, "E31", doc.ProcessType, receiver, role, created, "")
		kids = append(kids, datahub.ListEl("Series", datahub.GroupEl("Series", series...)))
		return datahub.Render(format, "NotifyAggregatedMeasureData_MarketDocument", nsAggregated, kids)
	}
}

// wholesaleDoc renders an RSM-019 answer: an hourly tariff of a grid area with, per point, the
// energy, the price and the amount (energySum), in DKK, as DataHub's wholesale results carry.
// original is the request Series answered ("" for a result DataHub sends unasked).
func (s *Server) wholesaleDoc(id, process string, req datahub.Series, f reqFields, receiver, role string) func(string) []byte {
	created := s.now()
	supplier := req.EnergySupplier
	if supplier == "" {
		supplier = receiver
	}
	owner, code := req.ChargeOwner, req.ChargeCode
	if owner == "" {
		owner = "5790000610877"
	}
	if code == "" {
		code = "T-NET-C"
	}
	// Each calculation prices differently, so that results kept apart can be told apart.
	price := map[string]int{"D05": 1265, "D32": 1270}[process] + map[string]int{"D01": 1, "D02": 2, "D03": 3}[req.SettlementVersion]
	return func(format string) []byte {
		series := []datahub.El{datahub.PlainEl("mRID", datahub.NewID()), datahub.PlainEl("version", "1")}
		if req.SettlementVersion != "" {
			series = append(series, datahub.CodedEl("settlement_Series.version", req.SettlementVersion))
		}
		if req.MRID != "" {
			series = append(series, datahub.PlainEl("originalTransactionIDReference_Series.mRID", req.MRID))
		}
		series = append(series,
			datahub.CodedEl("marketEvaluationPoint.type", "E17"),
			datahub.CodedEl("marketEvaluationPoint.settlementMethod", "E02"),
			datahub.PlainEl("chargeType.mRID", code),
			datahub.CodedEl("chargeType.type", "D03"),
			datahub.PartyEl("chargeType.chargeTypeOwner_MarketParticipant.mRID", "A10", owner),
			datahub.PartyEl("meteringGridArea_Domain.mRID", "NDK", req.GridArea),
			datahub.PartyEl("energySupplier_MarketParticipant.mRID", "A10", supplier),
			datahub.PlainEl("product", "5790001330590"),
			datahub.CodedEl("quantity_Measure_Unit.name", "KWH"),
			datahub.CodedEl("price_Measure_Unit.name", "KWH"),
			datahub.CodedEl("currency_Unit.name", "DKK"))
		var pts []datahub.El
		n := int(f.end.Sub(f.start) / time.Hour)
		for pos := 1; pos <= n; pos++ {
			milliKWh := 1_000_000 + ((7*31+pos*17)%1000)*1000 // 1,000.000 to 1,999.000 kWh
			amount := milliKWh * price / 10_000               // kWh × DKK/kWh, in thousandths
			pts = append(pts, datahub.GroupEl("Point",
				datahub.CodedNumEl("position", fmt.Sprint(pos)),
				datahub.NumberEl("energy_Quantity.quantity", fmt.Sprintf("%d.%03d", milliKWh/1000, milliKWh%1000)),
				datahub.CodedNumEl("price.amount", fmt.Sprintf("0.%04d", price)),
				datahub.NumberEl("energySum_Quantity.quantity", fmt.Sprintf("%d.%03d", amount/1000, amount%1000)),
				datahub.CodedEl("quality", "A06")))
		}
		series = append(series, datahub.GroupEl("Period",
			datahub.PlainEl("resolution", "PT1H"),
			datahub.GroupEl("timeInterval", datahub.CodedEl("start", minute(f.start)), datahub.CodedEl("end", minute(f.end))),
			datahub.ListEl("Point", pts...)))
		kids := header(id, "E31", process, receiver, role, created, "")
		kids = append(kids, datahub.ListEl("Series", datahub.GroupEl("Series", series...)))
		return datahub.Render(format, "NotifyWholesaleServices_MarketDocument", nsWholesale, kids)
	}
}

// results enqueues what DataHub sends a supplier unasked after each settlement of one Danish
// day in grid area 804: balance fixing (D04, RSM-014), wholesale fixing (D05, RSM-019) and a
// first and a second correction settlement (D32 D01, D02), each a separate result.
func (s *Server) results() {
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, datahub.Copenhagen)
	f := reqFields{start: day, end: day.AddDate(0, 0, 1)}
	area := datahub.Series{GridArea: "804", EnergySupplier: s.opts.Receiver}
	req := &datahub.Document{ProcessType: "D04"}
	id := datahub.NewID()
	s.add(&bundle{id: id, category: "Aggregations", ready: s.now(), render: s.aggregatedDoc(id, req, area, f, s.opts.Receiver, s.opts.ReceiverRole)})
	for _, r := range []struct{ process, version string }{{"D05", ""}, {"D32", "D01"}, {"D32", "D02"}} {
		w := area
		w.SettlementVersion = r.version
		id := datahub.NewID()
		s.add(&bundle{id: id, category: "Aggregations", ready: s.now(), render: s.wholesaleDoc(id, r.process, w, f, s.opts.Receiver, s.opts.ReceiverRole)})
	}
}

func newUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// refuseMultiple writes the backend's answer with several validation errors.
func refuseMultiple(w http.ResponseWriter, format string) {
	if format == "xml" {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Error>
  <Code>BadRequest</Code>
  <Message>Multiple errors in message</Message>
  <Target></Target>
  <Details>
    <Error>
      <Code>00002</Code>
      <Message>Sender id does not match id of current authenticated user</Message>
      <Target>SenderId</Target>
    </Error>
    <Error>
      <Code>00403</Code>
      <Message>The business type 23X is not supported</Message>
      <Target>BusinessType</Target>
    </Error>
  </Details>
</Error>`)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, `{"Error":{"Code":"BadRequest","Message":"Multiple errors in message","Target":"","Details":{"Errors":[`+
		`{"Code":"00002","Message":"Sender id does not match id of current authenticated user","Target":"SenderId"},`+
		`{"Code":"00403","Message":"The business type 23X is not supported","Target":"BusinessType"}]}}}`)
}
