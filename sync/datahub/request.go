package datahub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// DataHubGLN is DataHub's own party id: the receiver of every request, the sender of every
// peeked document.
const DataHubGLN = "5790001330552"

// Request kinds.
const (
	RequestValidated  = "validated"  // RSM-015 RequestValidatedMeasureData
	RequestAggregated = "aggregated" // RSM-016 RequestAggregatedMeasureData
	RequestWholesale  = "wholesale"  // RSM-017 RequestWholesaleSettlement
)

// Request is a request document to build and send.
type Request struct {
	Kind        string
	MessageID   string // our document mRID; generated when empty
	SeriesID    string // our Series mRID; generated when empty
	Sender      string // our GLN (13 digits) or EIC (16 characters)
	SenderRole  string // DDQ, DDM, MDR, DDK, ...
	ProcessType string // default: E23 (validated), D04 (aggregated), D05 (wholesale)
	Created     time.Time
	Start, End  time.Time

	MeteringPoint string // validated: the GSRN

	MPType             string // aggregated: E17, E18, ...
	SettlementMethod   string // aggregated: E02, D01
	SettlementVersion  string // aggregated/wholesale with D32: D01..D03
	GridArea           string
	EnergySupplier     string
	BalanceResponsible string

	ChargeOwner string // wholesale
	ChargeCode  string
	ChargeType  string // D01, D02, D03
	Resolution  string // wholesale: PT1H, P1D, P1M (aggregationSeries_Period.resolution)
}

// spec of each request kind: root element, namespace, document type code, route.
var requestSpecs = map[string]struct{ root, ns, typ, process, path string }{
	RequestValidated: {"RequestValidatedMeasureData_MarketDocument", "urn:ediel.org:measure:requestvalidatedmeasuredata:0:1",
		"E73", "E23", "requestvalidatedmeasurements"},
	RequestAggregated: {"RequestAggregatedMeasureData_MarketDocument", "urn:ediel.org:measure:requestaggregatedmeasuredata:0:1",
		"E74", "D04", "requestaggregatedmeasuredata"},
	RequestWholesale: {"RequestWholesaleSettlement_MarketDocument", "urn:ediel.org:measure:requestwholesalesettlement:0:1",
		"D21", "D05", "requestwholesalesettlement"},
}

// NewID returns a DataHub-style id: 32 lowercase hex characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b[:])
}

var (
	glnRE  = regexp.MustCompile(`^(\d{13}|[0-9A-Z-]{16})$`)
	gsrnRE = regexp.MustCompile(`^\d{18}$`)
	areaRE = regexp.MustCompile(`^\d{3}$`)
)

// Path is the route the request is POSTed to, under /v1.0/cim/.
func (r *Request) Path() string { return requestSpecs[r.Kind].path }

// Root is the request's root element name.
func (r *Request) Root() string { return requestSpecs[r.Kind].root }

// Validate checks what DataHub would refuse synchronously or by reject, before anything is sent.
func (r *Request) Validate() error {
	if _, ok := requestSpecs[r.Kind]; !ok {
		return fmt.Errorf("request kind %q: say validated, aggregated or wholesale", r.Kind)
	}
	if !glnRE.MatchString(r.Sender) {
		return fmt.Errorf("sender %q: give your GLN (13 digits) or EIC (16 characters)", r.Sender)
	}
	if r.SenderRole == "" {
		return errors.New("sender role: give your market role such as DDQ, DDM, MDR or DDK")
	}
	if len(r.MessageID) > 36 || len(r.SeriesID) > 36 {
		return errors.New("message and transaction ids may be at most 36 characters")
	}
	if r.Start.IsZero() || r.End.IsZero() || !r.End.After(r.Start) {
		return errors.New("period: give --from and --to with --to after --from")
	}
	for _, t := range []time.Time{r.Start, r.End} {
		l := t.In(Copenhagen)
		if l.Hour() != 0 || l.Minute() != 0 || l.Second() != 0 {
			return fmt.Errorf("period boundary %s is not Danish midnight (DataHub answers D66)", t.UTC().Format(time.RFC3339))
		}
	}
	if r.Kind != RequestValidated && r.Start.Before(time.Now().AddDate(-3, -6, 0)) {
		return errors.New("period: DataHub refuses settlement data older than 3 years 6 months (E17)")
	}
	switch r.Kind {
	case RequestValidated:
		if !gsrnRE.MatchString(r.MeteringPoint) {
			return fmt.Errorf("metering point %q: give the 18-digit GSRN", r.MeteringPoint)
		}
	case RequestAggregated:
		if r.Start.In(Copenhagen).AddDate(0, 1, 0).Before(r.End) {
			return errors.New("period: at most one month per aggregated request (DataHub answers E17)")
		}
	}
	if r.GridArea != "" && !areaRE.MatchString(r.GridArea) {
		return fmt.Errorf("grid area %q: give the 3-digit grid area code", r.GridArea)
	}
	return nil
}

// Build validates the request, fills in generated ids and defaults, and writes the document in
// "xml" or "json".
func (r *Request) Build(format string) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	spec := requestSpecs[r.Kind]
	if r.MessageID == "" {
		r.MessageID = NewID()
	}
	if r.SeriesID == "" {
		r.SeriesID = NewID()
	}
	if r.ProcessType == "" {
		r.ProcessType = spec.process
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	scheme := "A10"
	if len(r.Sender) == 16 {
		scheme = "A01"
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
	kids := []El{
		PlainEl("mRID", r.MessageID),
		CodedEl("type", spec.typ),
		CodedEl("process.processType", r.ProcessType),
		CodedEl("businessSector.type", "23"),
		PartyEl("sender_MarketParticipant.mRID", scheme, r.Sender),
		CodedEl("sender_MarketParticipant.marketRole.type", r.SenderRole),
		PartyEl("receiver_MarketParticipant.mRID", "A10", DataHubGLN),
		CodedEl("receiver_MarketParticipant.marketRole.type", "DGL"),
		PlainEl("createdDateTime", ts(r.Created)),
	}
	party := func(name, id string) []El {
		if id == "" {
			return nil
		}
		s := "A10"
		if len(id) == 16 {
			s = "A01"
		}
		return []El{PartyEl(name, s, id)}
	}
	var series []El
	series = append(series, PlainEl("mRID", r.SeriesID))
	switch r.Kind {
	case RequestValidated:
		series = append(series,
			PlainEl("start_DateAndOrTime.dateTime", ts(r.Start)),
			PlainEl("end_DateAndOrTime.dateTime", ts(r.End)),
			PartyEl("marketEvaluationPoint.mRID", "A10", r.MeteringPoint))
	case RequestAggregated:
		series = append(series, optional(CodedEl("settlement_Series.version", r.SettlementVersion))...)
		series = append(series, optional(CodedEl("marketEvaluationPoint.type", r.MPType))...)
		series = append(series, optional(CodedEl("marketEvaluationPoint.settlementMethod", r.SettlementMethod))...)
		series = append(series, PlainEl("start_DateAndOrTime.dateTime", ts(r.Start)), PlainEl("end_DateAndOrTime.dateTime", ts(r.End)))
		if r.GridArea != "" {
			series = append(series, PartyEl("meteringGridArea_Domain.mRID", "NDK", r.GridArea))
		}
		series = append(series, party("energySupplier_MarketParticipant.mRID", r.EnergySupplier)...)
		series = append(series, party("balanceResponsibleParty_MarketParticipant.mRID", r.BalanceResponsible)...)
	case RequestWholesale:
		series = append(series, optional(CodedEl("settlement_Series.version", r.SettlementVersion))...)
		series = append(series, PlainEl("start_DateAndOrTime.dateTime", ts(r.Start)), PlainEl("end_DateAndOrTime.dateTime", ts(r.End)))
		if r.GridArea != "" {
			series = append(series, PartyEl("meteringGridArea_Domain.mRID", "NDK", r.GridArea))
		}
		series = append(series, party("energySupplier_MarketParticipant.mRID", r.EnergySupplier)...)
		series = append(series, party("chargeTypeOwner_MarketParticipant.mRID", r.ChargeOwner)...)
		series = append(series, optional(PlainEl("aggregationSeries_Period.resolution", r.Resolution))...)
		if r.ChargeCode != "" || r.ChargeType != "" {
			var ct []El
			ct = append(ct, optional(CodedEl("type", r.ChargeType))...) // the XSD orders type before mRID
			ct = append(ct, optional(PlainEl("mRID", r.ChargeCode))...)
			series = append(series, ListEl("ChargeType", GroupEl("ChargeType", ct...)))
		}
	}
	kids = append(kids, ListEl("Series", GroupEl("Series", series...)))
	return Render(format, spec.root, spec.ns, kids), nil
}
