// Package datahub is Custody's client of Energinet DataHub 3's CIM B2B channel: the CIM XML
// and CIM JSON parsers, the peek/dequeue loop, request documents and the sync driver.
//
// Both document formats are read into one neutral tree (a node per element or JSON member,
// coded values such as {"value": "E17"} collapsed to their text), and one set of rules turns
// that tree into a [Document]. So the XML and JSON parsers cannot drift apart: they differ
// only in how they tokenise.
package datahub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"custody/store"
)

// Document is one CIM market document as DataHub sent it.
type Document struct {
	Root         string // root element or top-level JSON key, such as NotifyValidatedMeasureData_MarketDocument
	Namespace    string // XML namespace; empty for JSON
	MRID         string // the document's id: DataHub's MessageId
	Type         string // type code (E66, E31, ERR, ...); empty for acknowledgements
	ProcessType  string // process.processType, the business reason (E23, D04, ...)
	Sender       string
	SenderRole   string
	Receiver     string
	ReceiverRole string
	Created      time.Time
	ReasonCode   string // header reason.code: A01 accepted, A02 rejected
	ReceivedMRID string // acknowledgements: the id of the document acknowledged
	Series       []Series
	Warnings     []string
	// frozen is set once points have been handed on: the header can no longer change.
	frozen bool
}

// Series is one CIM Series (a transaction): a time series with its description, or the
// reasons of a rejection.
type Series struct {
	MRID                string
	OriginalTransaction string // originalTransactionIDReference_Series.mRID: the request series answered
	MeteringPoint       string // marketEvaluationPoint.mRID (GSRN)
	MPType              string // marketEvaluationPoint.type (E17, E18, ...)
	SettlementMethod    string
	GridArea            string
	EnergySupplier      string
	BalanceResponsible  string
	Product             string
	UnitCode            string // quantity_Measure_Unit.name as sent (KWH, ...)
	PriceUnit           string
	Currency            string
	ChargeCode          string
	ChargeType          string
	ChargeOwner         string
	Version             string // calculation version
	SettlementVersion   string
	Registered          string
	// RequestStart and RequestEnd are start_/end_DateAndOrTime.dateTime of a request Series.
	RequestStart, RequestEnd string
	Periods                  []Period
	Reasons                  []store.Reason
}

// Period is one CIM Period of a series.
type Period struct {
	Resolution string
	Start, End time.Time
	Points     []Point
}

// Point is one CIM Point. Quantity and Amount keep the decimal text as sent.
type Point struct {
	Position int
	Quantity string // quantity or energy_Quantity.quantity; empty when absent
	Quality  string
	Price    string // price.amount
	Amount   string // energySum_Quantity.quantity: an amount in the series' currency

	// qty, price and amount are the texts' values, parsed once when the point is read.
	qty, price, amount float64
}

// ErrNotCIM is returned for a body that is not a CIM market document.
var ErrNotCIM = errors.New("not a CIM market document")

// node is one element of the neutral tree both parsers build.
type node struct {
	name string
	text string
	kids []*node
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (n *node) all(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// val returns the text at a path of child names, or "".
func (n *node) val(path ...string) string {
	for _, p := range path {
		n = n.child(p)
	}
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.text)
}

// first returns the first non-empty value among several paths (for dialects that renamed a field).
func (n *node) first(paths ...string) string {
	for _, p := range paths {
		if v := n.val(p); v != "" {
			return v
		}
	}
	return ""
}

// Limits that keep a hostile or broken document from exhausting memory or time.
const (
	maxDepth     = 24
	maxPosition  = 1_000_000
	maxTextBytes = 64 << 10
	maxPeriod    = 20 * 366 * 24 * time.Hour
)

// setHeader fills the document's header fields from one header element.
func (d *Document) setHeader(n *node) error {
	v := strings.TrimSpace(n.text)
	switch n.name {
	case "mRID":
		d.MRID = v
	case "type":
		d.Type = v
	case "process.processType":
		d.ProcessType = v
	case "sender_MarketParticipant.mRID":
		d.Sender = v
	case "sender_MarketParticipant.marketRole.type":
		d.SenderRole = v
	case "receiver_MarketParticipant.mRID":
		d.Receiver = v
	case "receiver_MarketParticipant.marketRole.type":
		d.ReceiverRole = v
	case "createdDateTime":
		t, err := ParseTime(v)
		if err != nil {
			return fmt.Errorf("createdDateTime: %w", err)
		}
		d.Created = t
	case "reason.code":
		d.ReasonCode = v
	case "received_MarketDocument.mRID":
		d.ReceivedMRID = v
	case "received_MarketDocument.process.processType":
		if d.ProcessType == "" {
			d.ProcessType = v
		}
	}
	return nil
}

// seriesHeader turns the fields of one Series element (all but its Periods) into a Series.
// idx is the series' index, for messages.
func seriesHeader(sn *node) Series {
	s := Series{
		MRID:                sn.val("mRID"),
		OriginalTransaction: sn.val("originalTransactionIDReference_Series.mRID"),
		MeteringPoint:       sn.val("marketEvaluationPoint.mRID"),
		MPType:              sn.val("marketEvaluationPoint.type"),
		SettlementMethod:    sn.val("marketEvaluationPoint.settlementMethod"),
		GridArea:            sn.val("meteringGridArea_Domain.mRID"),
		EnergySupplier:      sn.val("energySupplier_MarketParticipant.mRID"),
		BalanceResponsible:  sn.val("balanceResponsibleParty_MarketParticipant.mRID"),
		Product:             sn.val("product"),
		UnitCode:            sn.first("quantity_Measure_Unit.name", "measure_Unit.name", "measurement_Unit.name"),
		PriceUnit:           sn.val("price_Measure_Unit.name"),
		Currency:            sn.val("currency_Unit.name"),
		ChargeCode:          sn.val("chargeType.mRID"),
		ChargeType:          sn.val("chargeType.type"),
		ChargeOwner:         sn.val("chargeType.chargeTypeOwner_MarketParticipant.mRID"),
		Version:             sn.val("version"),
		SettlementVersion:   sn.val("settlement_Series.version"),
		Registered:          sn.val("registration_DateAndOrTime.dateTime"),
		RequestStart:        sn.val("start_DateAndOrTime.dateTime"),
		RequestEnd:          sn.val("end_DateAndOrTime.dateTime"),
	}
	for _, r := range sn.all("Reason") {
		s.Reasons = append(s.Reasons, store.Reason{Code: r.val("code"), Text: r.val("text")})
	}
	return s
}

// handler receives a document's points as they are read, period by period and in batches, so
// that a document of any size is never held whole: begin starts period pi of series s (index
// si; the document header and the series' fields are complete), points delivers a batch, end
// closes the period.
type handler interface {
	begin(d *Document, s *Series, si, pi int, p *Period) error
	points(pts []Point) error
	end() error
}

// seriesReader takes one Series as its children stream in: its fields first, then each Period
// with its fields and then its Points, which go to the handler in batches. CIM puts Period
// last in a Series, and resolution and timeInterval before the Points of a Period; a document
// that does not is refused with a message saying so, since its points cannot be placed.
type seriesReader struct {
	d     *Document
	h     handler
	idx   int
	sn    *node
	s     *Series // the fields, made at the first Period
	pi    int
	pn    *node // the Period being read, or nil
	p     Period
	begun bool
	count int
	batch []Point
}

func newSeriesReader(d *Document, h handler, batch []Point) *seriesReader {
	return &seriesReader{d: d, h: h, idx: len(d.Series), sn: &node{name: "Series"}, batch: batch[:0]}
}

func (r *seriesReader) where() string {
	mrid := r.sn.val("mRID")
	if mrid != "" {
		return fmt.Sprintf("Series %d (mRID %s)", r.idx+1, mrid)
	}
	return fmt.Sprintf("Series %d", r.idx+1)
}

// field takes a child element of the Series, or of the Period being read.
func (r *seriesReader) field(n *node) error {
	if r.pn != nil {
		if r.begun {
			return fmt.Errorf("%s Period %d: %s after the Points (CIM puts the Points last)", r.where(), r.pi+1, n.name)
		}
		r.pn.kids = append(r.pn.kids, n)
		return nil
	}
	if r.s != nil && n.name != "Reason" {
		return fmt.Errorf("%s: %s after its Period (CIM puts Period last)", r.where(), n.name)
	}
	r.sn.kids = append(r.sn.kids, n)
	return nil
}

// startPeriod opens a Period element.
func (r *seriesReader) startPeriod() {
	if r.s == nil {
		s := seriesHeader(r.sn)
		r.s = &s
	}
	r.pn, r.begun, r.count = &node{name: "Period"}, false, 0
}

// beginPeriod checks the Period's fields and hands it to the handler.
func (r *seriesReader) beginPeriod() error {
	pn, where, pi := r.pn, r.where(), r.pi
	p := Period{Resolution: pn.val("resolution")}
	var err error
	if p.Start, err = ParseTime(pn.val("timeInterval", "start")); err != nil {
		return fmt.Errorf("%s Period %d timeInterval.start: %w", where, pi+1, err)
	}
	if p.End, err = ParseTime(pn.val("timeInterval", "end")); err != nil {
		return fmt.Errorf("%s Period %d timeInterval.end: %w", where, pi+1, err)
	}
	if !p.End.After(p.Start) {
		return fmt.Errorf("%s Period %d: end %s is not after start %s", where, pi+1,
			p.End.Format(time.RFC3339), p.Start.Format(time.RFC3339))
	}
	if p.End.Sub(p.Start) > maxPeriod {
		return fmt.Errorf("%s Period %d: %s to %s is longer than 20 years", where, pi+1,
			p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	if _, err := stepper(p.Resolution); err != nil {
		return fmt.Errorf("%s Period %d: %w", where, pi+1, err)
	}
	r.p, r.begun = p, true
	r.d.frozen = true
	return r.h.begin(r.d, r.s, r.idx, pi, &r.p)
}

// point takes one Point element of the Period being read.
func (r *seriesReader) point(n *node) error {
	if !r.begun {
		if err := r.beginPeriod(); err != nil {
			return err
		}
	}
	pt, err := pointFrom(n)
	return r.add(pt, err)
}

// add takes one Point read (or the error reading it).
func (r *seriesReader) add(pt Point, err error) error {
	if !r.begun {
		if err := r.beginPeriod(); err != nil {
			return err
		}
	}
	r.count++
	if err != nil {
		return fmt.Errorf("%s Period %d Point %d: %w", r.where(), r.pi+1, r.count, err)
	}
	r.batch = append(r.batch, pt)
	if len(r.batch) >= writeBatch {
		if err := r.h.points(r.batch); err != nil {
			return err
		}
		r.batch = r.batch[:0]
	}
	return nil
}

// endPeriod closes the Period being read.
func (r *seriesReader) endPeriod() error {
	if !r.begun {
		if err := r.beginPeriod(); err != nil {
			return err
		}
	}
	if len(r.batch) > 0 {
		if err := r.h.points(r.batch); err != nil {
			return err
		}
		r.batch = r.batch[:0]
	}
	if err := r.h.end(); err != nil {
		return err
	}
	r.s.Periods = append(r.s.Periods, r.p)
	r.pn = nil
	r.pi++
	return nil
}

// finish closes the Series and adds it (with its Periods' descriptions, without their points)
// to the document.
func (r *seriesReader) finish() {
	if r.s == nil {
		s := seriesHeader(r.sn)
		r.s = &s
	}
	r.d.Series = append(r.d.Series, *r.s)
}

// headerAfterSeries refuses a header field that would change how points already stored are
// keyed (a JSON document may order its members freely; DataHub writes the header first).
func (d *Document) headerAfterSeries(n *node) error {
	if d.frozen && n.name == "process.processType" && strings.TrimSpace(n.text) != d.ProcessType {
		return fmt.Errorf("%s: process.processType comes after the Series; CIM puts the header first", d.Root)
	}
	return nil
}

// collector is the handler of [Parse]: it keeps every point, for callers that want the whole
// document (tests, the simulator) and small documents.
type collector struct {
	pts map[[2]int][]Point
	key [2]int
}

func (c *collector) begin(_ *Document, _ *Series, si, pi int, _ *Period) error {
	c.key = [2]int{si, pi}
	if c.pts == nil {
		c.pts = map[[2]int][]Point{}
	}
	return nil
}

func (c *collector) points(pts []Point) error {
	c.pts[c.key] = append(c.pts[c.key], pts...)
	return nil
}

func (c *collector) end() error { return nil }

// fill gives the document's periods their points.
func (c *collector) fill(d *Document) {
	for k, pts := range c.pts {
		if k[0] < len(d.Series) && k[1] < len(d.Series[k[0]].Periods) {
			d.Series[k[0]].Periods[k[1]].Points = pts
		}
	}
}

func pointFrom(n *node) (Point, error) {
	return pointOf(n.val("position"), n.first("quantity", "energy_Quantity.quantity"), n.val("quality"),
		n.val("price.amount"), n.val("energySum_Quantity.quantity"))
}

// pointOf checks and makes a Point from the texts of its elements.
func pointOf(pos, qty, quality, price, amount string) (Point, error) {
	i, err := strconv.Atoi(pos)
	if err != nil || i < 1 || i > maxPosition {
		return Point{}, fmt.Errorf("position %q is not a number from 1 to %d", pos, maxPosition)
	}
	p := Point{Position: i, Quantity: qty, Quality: quality, Price: price, Amount: amount}
	for _, f := range [...]struct {
		name, v string
		to      *float64
	}{{"quantity", p.Quantity, &p.qty}, {"price.amount", p.Price, &p.price}, {"energySum_Quantity.quantity", p.Amount, &p.amount}} {
		if f.v != "" {
			v, err := ParseDecimal(f.v)
			if err != nil {
				return p, fmt.Errorf("position %d %s: %w", i, f.name, err)
			}
			*f.to = v
		}
	}
	return p, nil
}

// ParseDecimal parses a CIM decimal ("0.222", "-12", "1284671.235"; a JSON number may also
// carry an exponent) into the nearest float64, so that it prints back as written.
func ParseDecimal(s string) (float64, error) {
	if s == "" || len(s) > 64 {
		return 0, fmt.Errorf("%q is not a decimal", s)
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E':
		default:
			return 0, fmt.Errorf("%q is not a decimal", s)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("%q is not a decimal", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal", s)
	}
	return v, nil
}

// ParseTime parses a CIM timestamp: "2024-11-30T23:00Z" (today's schema), with seconds
// ("2022-05-31T22:00:00Z", older output and Eloverblik), with fractional seconds, or with an
// offset. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("missing timestamp")
	}
	for _, layout := range []string{"2006-01-02T15:04Z07:00", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not YYYY-MM-DDThh:mm[:ss]Z", s)
}

// Readings counts the points of every series of the document.
func (d *Document) Readings() int {
	n := 0
	for _, s := range d.Series {
		for _, p := range s.Periods {
			n += len(p.Points)
		}
	}
	return n
}

// Reasons returns every reason of every series, in order.
func (d *Document) Reasons() []store.Reason {
	var out []store.Reason
	for _, s := range d.Series {
		out = append(out, s.Reasons...)
	}
	return out
}

// IsRequest says whether the document is one a market actor sends to DataHub (a request),
// rather than one DataHub delivers.
func (d *Document) IsRequest() bool {
	return strings.HasPrefix(d.Root, "Request")
}

// finish checks what every document needs once it is read.
func (d *Document) finish() error {
	if !strings.HasSuffix(d.Root, "_MarketDocument") {
		return fmt.Errorf("root %q: %w", d.Root, ErrNotCIM)
	}
	if d.MRID == "" {
		return fmt.Errorf("%s: the document has no mRID", d.Root)
	}
	return nil
}
