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

// rawReading is an IntervalReading as written, before its ReadingType is known. It is kept
// small (48 bytes) because a document whose ReadingTypes come last has all its readings
// waiting in this form: the rare non-integer value or cost lives in decoder.extras, the
// quality codes in decoder.qualityList.
type rawReading struct {
	start, dur int64
	value      int64
	cost       int64
	tou        int64
	extra      int32  // 1 + index into decoder.extras, 0 for none
	quality    uint16 // 1 + index into decoder.qualityList, 0 for none
	flags      uint8
}

// rawExtra holds what a rawReading has no room for.
type rawExtra struct {
	valueStr string // a value that is not a plain integer
	costStr  string // a cost that is not a plain integer
	quality  string // quality codes when qualityList is full
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
	readings []rawReading // nil while spilled
	spillAt  int64        // offset of the readings in the spill file
	spilled  int          // how many readings are in the spill file, 0 when in memory
	// spillMeta is the size of the entry's self href and id after the spilled readings, 0
	// when entry stayed in memory; index is the entry's position while entry is nil.
	spillMeta, index int
	counted          bool // its in-memory readings count in decoder.pendingMem
}

// count is the number of readings, in memory or spilled.
func (pb *pendingBlocks) count() int { return len(pb.readings) + pb.spilled }

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
	// title is the MeterReading entry's title ("Hourly Solar Production"), which tells a
	// panel's production from the import of the same flow and unit.
	title string
	meter *meterState
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
