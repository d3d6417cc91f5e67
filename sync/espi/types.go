package espi

import "custody/store"

// readingType is a decoded ESPI ReadingType: how to turn a reading's number into a quantity.
type readingType struct {
	href  string // as written (the key form), "" for a nested one
	match string // normalised for matching

	has            map[string]bool
	uom            int64
	pow10          int64
	flow           int64
	kind           int64
	commodity      int64
	currency       int64
	intervalLength int64

	unit        string // symbol of uom
	attrs       map[string]string
	fingerprint string // what makes two ReadingTypes different series
}

// rawReading is an IntervalReading as written, before its ReadingType is known.
type rawReading struct {
	start, dur int64
	value      int64
	valueStr   string // set when value is not a plain integer
	cost       int64
	costStr    string
	quality    string
	tou        int64
	flags      uint8
}

const (
	hasStart uint8 = 1 << iota
	hasDur
	hasValue
	hasCost
	hasTOU
	badReading // unusable (its start is unreadable); reported and skipped
)

// rawBlock is one IntervalBlock: its interval and the range of its readings in entry.readings.
type rawBlock struct {
	start, dur int64
	hasStart   bool
	hasDur     bool
	from, to   int
}

// pendingBlocks are an entry's IntervalBlocks waiting for their MeterReading or ReadingType.
type pendingBlocks struct {
	entry    *entry // for messages: only its index, self href and id are kept
	mrHref   string // the MeterReading the blocks belong to, "" when the entry does not say
	blocks   []rawBlock
	readings []rawReading
}

// meterState is a UsagePoint as far as this document has described it.
type meterState struct {
	m          store.Meter
	match      string
	hasService bool
	service    int64
	ltpRefs    []string
	id         int64 // set by the writer goroutine only
	dirty      bool  // changed since last written
	sent       bool
}

// mrState is a MeterReading.
type mrState struct {
	key     string
	match   string
	up      string   // collection href (…/MeterReading)
	related []string // related hrefs
	rtRef   string   // related ReadingType href
	nested  *readingType
	meter   *meterState
	// seriesByRT gives each distinct ReadingType of this MeterReading its own series.
	seriesByRT map[string]*seriesState
}

// seriesState is one series written by this document.
type seriesState struct {
	s           store.Series
	meter       *meterState
	rt          *readingType
	provisional bool  // commodity taken before the UsagePoint was known
	id          int64 // set by the writer goroutine only
	starts      runSet
	repeats     int64 // readings whose start this document had already given
	from, to    int64
}
