package store

import (
	"encoding/json"
	"time"

	"custody/store/internal/dayblob"
)

// Source is a configured custodian connection. Config holds non-secret settings only;
// secrets live in the OS keyring under the source's name.
type Source struct {
	ID      int64
	Name    string
	Kind    string // greenbutton, obevents, datahub, file
	Enabled bool
	Config  map[string]string
	Created time.Time
	Updated time.Time
}

// Meter is a metering point: an ESPI UsagePoint or a DataHub metering point.
type Meter struct {
	ID       int64
	Key      string // stable identifier from the source: an href, a GSRN
	SourceID int64  // 0 when imported from a file
	Name     string // as the source names it (an ESPI title, a DataHub alias); may be empty
	// DisplayName is the name the user gave the meter in the app, or empty. A sync never
	// changes it.
	DisplayName string
	Commodity   string // electricity, gas, water, heat, other or empty
	TimeZone    string // IANA name or a fixed offset such as "-08:00"; empty when unknown
	Attrs       map[string]string
}

// Series is one stream of like readings of a meter: one flow direction, one unit, one
// interval length. Different series are never summed together.
type Series struct {
	ID        int64
	MeterID   int64
	Key       string
	Commodity string
	Flow      string // forward, reverse, net, total or empty when the source does not say
	Unit      string // the unit symbol the source declares: Wh, kWh, therm, m3, ...
	Kind      string // energy, power, volume, temperature, ...
	Seconds   int64  // nominal interval length
	Currency  string // ISO 4217 letters of Reading.Cost, or empty
	Attrs     map[string]string
}

// Reading is one interval reading (its fields are described at dayblob.Reading, which packs
// a day of them into one row).
type Reading = dayblob.Reading

// UsageSummary is a bill or billing-period summary of a meter, with its line items.
type UsageSummary struct {
	ID                       int64
	MeterID                  int64
	Key                      string
	PeriodStart              int64
	PeriodSeconds            int64
	BillLastPeriod           *float64
	BillToDate               *float64
	CostAdditionalLastPeriod *float64
	Currency                 string
	StatusTime               *int64
	Attrs                    map[string]string
	Items                    []LineItem
}

// LineItem is one line of a bill.
type LineItem struct {
	Note        string
	Amount      *float64
	ItemKind    string
	Measurement *float64
	Unit        string
	Attrs       map[string]string
}

// CustomerInfo is personal data from a custodian (RetailCustomer, CustomerAccount,
// ServiceLocation, ...). It is stored and shown, and never logged.
type CustomerInfo struct {
	SourceID int64
	Kind     string
	Key      string
	Data     map[string]string
}

// Document is a descriptive resource that is neither readings nor personal data, such as an
// ESPI ApplicationInformation or Authorization.
type Document struct {
	SourceID int64
	Kind     string
	Key      string
	Data     map[string]string
}

// Payload describes one archived body as received.
type Payload struct {
	ID       int64
	SourceID int64
	Format   string
	URL      string
	Headers  map[string]string
	Received time.Time
	SHA256   string
	Size     int64
	Status   string // pending, parsed, failed
	Error    string
}

// Payload statuses.
const (
	PayloadPending = "pending"
	PayloadParsed  = "parsed"
	PayloadFailed  = "failed"
)

// SyncRun is one sync of one source.
type SyncRun struct {
	ID        int64
	SourceID  int64
	Source    string
	Started   time.Time
	Finished  time.Time
	Status    string // running, ok, failed, cancelled
	ErrorKind string
	Error     string
	Items     int64
	Readings  int64
}

// PendingAck is an acknowledgement owed to a custodian, stored in the same transaction as the
// data it acknowledges and deleted once sent.
type PendingAck struct {
	ID       int64
	SourceID int64
	Kind     string // ack, seterr, dequeue
	Item     string
	Detail   map[string]string
	Created  time.Time
}

// List returns a list-valued setting of the source (stored as a JSON array).
func (s Source) List(key string) []string {
	v := s.Config[key]
	if v == "" {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return []string{v}
	}
	return out
}

// SetList stores a list-valued setting of the source.
func (s *Source) SetList(key string, values []string) {
	if s.Config == nil {
		s.Config = map[string]string{}
	}
	if len(values) == 0 {
		delete(s.Config, key)
		return
	}
	b, _ := json.Marshal(values)
	s.Config[key] = string(b)
}
