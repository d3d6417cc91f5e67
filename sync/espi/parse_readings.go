package espi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"custody/store"
)

// intervalBlock streams the current IntervalBlock element into e.readings.
func (d *decoder) intervalBlock(e *entry) error {
	s := d.s
	blk := rawBlock{from: len(e.readings)}
	for depth := s.Depth(); s.NextChild(depth); {
		if !isESPI(s.Space()) {
			continue
		}
		switch string(s.Local()) {
		case "interval":
			start, dur, flags, err := d.period(e)
			if err != nil {
				return err
			}
			blk.start, blk.dur = start, dur
			blk.hasStart, blk.hasDur = flags&hasStart != 0, flags&hasDur != 0
		case "IntervalReading":
			if err := d.intervalReading(e); err != nil {
				return err
			}
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	blk.to = len(e.readings)
	e.blocks = append(e.blocks, blk)
	return nil
}

// period reads a DateTimeInterval {duration, start}.
func (d *decoder) period(e *entry) (start, dur int64, flags uint8, err error) {
	s := d.s
	for depth := s.Depth(); s.NextChild(depth); {
		switch string(s.Local()) {
		case "start":
			t, err := s.TextContent()
			if err != nil {
				return 0, 0, 0, err
			}
			if len(t) == 0 {
				continue
			}
			v, ok := d.epoch(e, t)
			if !ok {
				flags |= badReading
				d.warn.add("badstart", fmt.Sprintf("%s: unreadable start %q; the readings it concerns are skipped", e.name(), t))
				continue
			}
			start = v
			flags |= hasStart
		case "duration":
			t, err := s.TextContent()
			if err != nil {
				return 0, 0, 0, err
			}
			if len(t) == 0 {
				continue
			}
			v, ok := parseIntBytes(t)
			if !ok {
				f, ferr := strconv.ParseFloat(string(t), 64)
				if ferr != nil || f < 0 || f > 1e12 {
					d.warn.add("baddur", fmt.Sprintf("%s: unreadable duration %q; ignored", e.name(), t))
					continue
				}
				v = int64(f)
			}
			dur = v
			flags |= hasDur
		}
	}
	return start, dur, flags, s.Err()
}

// intervalReading reads one IntervalReading into e.readings.
func (d *decoder) intervalReading(e *entry) error {
	s := d.s
	var r rawReading
	for depth := s.Depth(); s.NextChild(depth); {
		switch string(s.Local()) {
		case "value":
			t, err := s.TextContent()
			if err != nil {
				return err
			}
			if v, ok := parseIntBytes(t); ok {
				r.value, r.flags = v, r.flags|hasValue
			} else if len(t) == 0 {
				d.warn.add("novalue", fmt.Sprintf("%s: a reading has an empty value; it is stored as missing (exported empty)", e.name()))
			} else if _, err := strconv.ParseFloat(string(t), 64); err == nil {
				d.extra(&r).valueStr, r.flags = string(t), r.flags|hasValue
			} else {
				d.warn.add("badvalue", fmt.Sprintf("%s: value %q is not a number; stored as missing (exported empty)", e.name(), t))
			}
		case "cost":
			t, err := s.TextContent()
			if err != nil {
				return err
			}
			if v, ok := parseIntBytes(t); ok {
				r.cost, r.flags = v, r.flags|hasCost
			} else if _, err := strconv.ParseFloat(string(t), 64); err == nil && len(t) > 0 {
				d.extra(&r).costStr, r.flags = string(t), r.flags|hasCost
			} else if len(t) > 0 {
				d.warn.add("badcost", fmt.Sprintf("%s: cost %q is not a number; ignored", e.name(), t))
			}
		case "tou":
			t, err := s.TextContent()
			if err != nil {
				return err
			}
			if v, ok := parseIntBytes(t); ok {
				r.tou, r.flags = v, r.flags|hasTOU
			}
		case "timePeriod":
			start, dur, flags, err := d.period(e)
			if err != nil {
				return err
			}
			r.start, r.dur, r.flags = start, dur, r.flags|flags
		case "ReadingQuality":
			if err := d.readingQuality(&r); err != nil {
				return err
			}
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	e.readings = append(e.readings, r)
	return nil
}

// readingQuality appends the quality codes of a ReadingQuality element, separated by ";".
func (d *decoder) readingQuality(r *rawReading) error {
	s := d.s
	for depth := s.Depth(); s.NextChild(depth); {
		if string(s.Local()) != "quality" {
			continue
		}
		t, err := s.TextContent()
		if err != nil {
			return err
		}
		if len(t) == 0 {
			continue
		}
		cur := d.qualityOf(r)
		if cur == "" {
			// Readings mostly repeat the quality of the one before: compare before hashing.
			if d.lastQuality > 0 && string(t) == d.qualityList[d.lastQuality-1] {
				r.quality = d.lastQuality
				continue
			}
			if i, ok := d.qualities[string(t)]; ok { // no allocation for a known code
				r.quality, d.lastQuality = i, i
				continue
			}
			d.setQuality(r, string(t))
		} else {
			d.setQuality(r, cur+";"+string(t))
		}
	}
	return s.Err()
}

// extra returns the reading's rawExtra, creating it.
func (d *decoder) extra(r *rawReading) *rawExtra {
	if r.extra == 0 {
		d.extras = append(d.extras, rawExtra{})
		r.extra = int32(len(d.extras))
	}
	return &d.extras[r.extra-1]
}

func (d *decoder) qualityOf(r *rawReading) string {
	switch {
	case r.quality > 0:
		return d.qualityList[r.quality-1]
	case r.extra > 0:
		return d.extras[r.extra-1].quality
	}
	return ""
}

func (d *decoder) setQuality(r *rawReading, q string) {
	if i, ok := d.qualities[q]; ok {
		r.quality = i
		return
	}
	if len(d.qualityList) < 65535 {
		d.qualityList = append(d.qualityList, q)
		d.qualities[q] = uint16(len(d.qualityList))
		r.quality = uint16(len(d.qualityList))
		return
	}
	r.quality = 0
	d.extra(r).quality = q
}

// parseIntBytes parses a plain decimal integer of up to 18 digits.
func parseIntBytes(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 || len(b) > 18 {
			return 0, false
		}
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// epoch parses an ESPI time: signed seconds since 1970 UTC. Milliseconds, fractions of a
// second, dates and ISO date-times are tolerated with a warning.
func (d *decoder) epoch(e *entry, b []byte) (int64, bool) {
	if v, ok := parseIntBytes(b); ok {
		if v >= 100_000_000_000 || v <= -100_000_000_000 {
			d.warn.add("ms", fmt.Sprintf("%s: times such as %s are milliseconds since 1970, not seconds; converted", e.name(), b))
			return floorDiv(v, 1000), true
		}
		return v, true
	}
	str := string(b)
	if f, err := strconv.ParseFloat(str, 64); err == nil && strings.ContainsAny(str, ".eE") {
		d.warn.add("frac", fmt.Sprintf("%s: times such as %s have a fraction of a second; truncated to whole seconds", e.name(), str))
		if f >= 1e11 || f <= -1e11 {
			f /= 1000
		}
		return int64(f), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, str); err == nil {
			d.warn.add("datetime", fmt.Sprintf("%s: times such as %s are written as dates, not seconds since 1970; read as UTC", e.name(), str))
			return t.Unix(), true
		}
	}
	return 0, false
}

func (d *decoder) epochField(e *entry, n *node, name string) (int64, bool) {
	c := n.child(name)
	if c == nil || c.text == "" {
		return 0, false
	}
	v, ok := d.epoch(e, []byte(c.text))
	if !ok {
		d.warn.add("badtime"+name, fmt.Sprintf("%s: <%s> %q is not a time; ignored", e.name(), name, c.text))
	}
	return v, ok
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

var pow10tab = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scaleInt returns v × 10^p correctly rounded, the same float64 as
// strconv.ParseFloat("<v>e<p>"): v and 10^|p| (|p| ≤ 22) are exact in float64, and IEEE
// multiplication and division round the exact result once.
func scaleInt(v, p int64) float64 {
	if v > -(1<<53) && v < 1<<53 {
		switch {
		case p == 0:
			return float64(v)
		case p > 0 && p <= 22:
			return float64(v) * pow10tab[p]
		case p < 0 && p >= -22:
			return float64(v) / pow10tab[-p]
		}
	}
	f, _ := strconv.ParseFloat(strconv.FormatInt(v, 10)+"e"+strconv.FormatInt(p, 10), 64)
	return f
}

// scaleDecimal returns the decimal string s × 10^p.
func scaleDecimal(s string, p int64) (float64, bool) {
	if v, ok := parseIntBytes([]byte(s)); ok {
		return scaleInt(v, p), true
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil || strings.ContainsAny(s, "eEnN") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s+"e"+strconv.FormatInt(p, 10), 64)
	return f, err == nil
}

// handleBlocks places an entry's IntervalBlocks: at once when their MeterReading and
// ReadingType are known, else they wait.
func (d *decoder) handleBlocks(e *entry) error {
	pb := &pendingBlocks{entry: &entry{index: e.index, self: e.self, up: e.up, id: e.id}, blocks: e.blocks, readings: e.readings}
	match := ""
	// The MeterReading that lists this very block as related; else the block's up or self href
	// with /IntervalBlock… cut off, when that names a MeterReading; else the MeterReading that
	// lists the block's collection.
	if mr := d.mrRelated[matchOf(e.self)]; e.self != "" && mr != nil {
		match, pb.mrHref = mr.match, mr.key
	}
	if match == "" {
		for _, h := range []string{e.up, e.self} {
			if derived, ok := stripSegment(keyOf(h), "IntervalBlock"); h != "" && ok && hasSegment(derived, "MeterReading") {
				match, pb.mrHref = matchOf(derived), derived
				break
			}
		}
	}
	if mr := d.mrRelated[matchOf(e.up)]; match == "" && e.up != "" && mr != nil {
		match, pb.mrHref = mr.match, mr.key
	}
	if match == "" && (e.up != "" || e.self != "") {
		// Flat hrefs: wait for a MeterReading that lists this block or its collection.
		h := e.up
		if h == "" {
			h = e.self
		}
		match = "?" + matchOf(h)
	}
	if mr := d.mrs[match]; mr != nil && len(d.pending[match]) == 0 {
		if rt := d.readingTypeOf(mr); rt != nil && d.meterOf(mr) != nil {
			err := d.flush(mr, rt, pb)
			d.spare = e.readings[:0]
			if d.pendingN == 0 {
				d.extras = d.extras[:0] // no waiting reading refers to them any more
			}
			return err
		}
	}
	if _, ok := d.pending[match]; !ok {
		d.pendingList = append(d.pendingList, match)
	}
	d.pending[match] = append(d.pending[match], pb)
	d.pendingN++
	if match != "" && match[0] != '?' {
		// Only blocks still looking for their MeterReading need their up href again; the
		// MeterReading's href is shared by all its blocks, not kept once per entry.
		pb.entry.up = ""
		pb.mrHref = d.internHref(pb.mrHref)
	}
	if d.pendingMem+len(pb.readings) > maxPendingInMemory {
		return d.spill(pb, match != "" && match[0] != '?')
	}
	d.pendingMem += len(pb.readings)
	pb.counted = true
	return nil
}

// tryFlush writes the blocks waiting for a MeterReading once it, its ReadingType and its
// UsagePoint are known.
func (d *decoder) tryFlush(match string) error {
	list := d.pending[match]
	if len(list) == 0 {
		return nil
	}
	mr := d.mrs[match]
	if mr == nil {
		return nil
	}
	rt := d.readingTypeOf(mr)
	if rt == nil || d.meterOf(mr) == nil {
		return nil
	}
	delete(d.pending, match)
	d.pendingN -= len(list)
	for _, pb := range list {
		if err := d.flush(mr, rt, pb); err != nil {
			return err
		}
	}
	return nil
}

// seriesFor returns the series of a MeterReading with a ReadingType (nil: unknown), creating it.
func (d *decoder) seriesFor(mr *mrState, rt *readingType) *seriesState {
	fp := "?"
	if rt != nil {
		fp = rt.match + "|" + rt.fingerprint
	}
	if sr := mr.seriesByRT[fp]; sr != nil {
		return sr
	}
	key := mr.key
	if len(mr.seriesByRT) > 0 {
		// One MeterReading with several ReadingTypes: never mix them in one series.
		suffix := "unknown"
		if rt != nil {
			suffix = lastSegment(rt.href)
			if suffix == "" {
				suffix = strconv.Itoa(len(mr.seriesByRT) + 1)
			}
		}
		key = mr.key + "#ReadingType=" + suffix
	}
	m := d.meterOf(mr)
	sr := &seriesState{meter: m, rt: rt}
	sr.s = store.Series{Key: key, Attrs: map[string]string{"meter_reading": mr.key}}
	if mr.title != "" {
		sr.s.Attrs["title"] = mr.title
	}
	if rt != nil {
		for k, v := range rt.attrs {
			sr.s.Attrs[k] = v
		}
		sr.s.Commodity = commodityOfReadingType(rt.commodity)
		if rt.has["flowDirection"] {
			sr.s.Flow = flowNames[rt.flow]
		}
		sr.s.Unit = rt.unit
		if rt.has["kind"] {
			sr.s.Kind = kindName(rt.kind)
		}
		sr.s.Seconds = rt.intervalLength
		if rt.has["currency"] {
			sr.s.Currency, _ = currencyLetters(rt.currency)
		}
		if sr.s.Commodity == "" && rt.has["kind"] && rt.kind == 46 {
			sr.s.Commodity = "other" // a temperature is not a quantity of the service's commodity
		}
	}
	if sr.s.Commodity == "" {
		if m.hasService {
			sr.s.Commodity = commodityOfService(m.service)
		} else {
			sr.s.Commodity, sr.provisional = "other", true
		}
	}
	if m.m.Commodity == "" && !sr.provisional && sr.s.Commodity != "other" {
		m.m.Commodity = sr.s.Commodity
		m.dirty = true
	}
	if !m.sent || m.dirty {
		m.dirty = true
		d.writeMeter(m)
	}
	mr.seriesByRT[fp] = sr
	d.series = append(d.series, sr)
	d.writeSeries(sr)
	return sr
}

func (d *decoder) writeSeries(sr *seriesState) {
	def := sr.s
	def.Attrs = copyMap(sr.s.Attrs)
	d.do(func(tx *store.Tx) error {
		def.MeterID = sr.meter.id
		if err := tx.UpsertSeries(&def); err != nil {
			return err
		}
		sr.id = def.ID
		return nil
	})
}

// flushBatch is how many readings go to the writer at once.
const flushBatch = 4096

// flush converts an entry's readings with their ReadingType (nil: unknown, stored as written)
// and hands them to the writer.
func (d *decoder) flush(mr *mrState, rt *readingType, pb *pendingBlocks) error {
	sr := d.seriesFor(mr, rt)
	var pow, il, last int64
	ordered, overlaps := true, 0
	if rt != nil {
		pow, il = rt.pow10, rt.intervalLength
	}
	if pb.spilled > 0 {
		if err := d.unspill(pb); err != nil {
			return err
		}
		defer func() { pb.readings, pb.spilled = nil, 0 }()
	} else if pb.counted {
		d.pendingMem -= len(pb.readings)
		pb.counted = false
	}
	out := d.conv[:0]
	for _, b := range pb.blocks {
		rs := pb.readings[b.from:b.to]
		n := int64(len(rs))
		for i := range rs {
			r := &rs[i]
			if r.flags&badReading != 0 {
				continue
			}
			var secs int64
			switch {
			case r.flags&hasDur != 0:
				secs = r.dur
			case n == 1 && b.hasDur:
				secs = b.dur
			case il > 0:
				secs = il
			case b.hasDur && n > 0:
				secs = b.dur / n
			}
			var start int64
			switch {
			case r.flags&hasStart != 0:
				start = r.start
			case b.hasStart:
				start = b.start + int64(i)*secs
			default:
				d.warn.add("nostart", fmt.Sprintf("%s: readings with no start in a block with no start; skipped", pb.entry.name()))
				continue
			}
			rd := store.Reading{Start: start, Seconds: secs, Quality: d.qualityOf(r), TOU: r.tou, HasTOU: r.flags&hasTOU != 0}
			var ex rawExtra
			if r.extra > 0 {
				ex = d.extras[r.extra-1]
			}
			switch {
			case r.flags&hasValue == 0:
				rd.Missing = true
			case ex.valueStr != "":
				rd.Value, _ = scaleDecimal(ex.valueStr, pow)
			default:
				rd.Value = scaleInt(r.value, pow)
			}
			if r.flags&hasCost != 0 {
				rd.HasCost = true
				if ex.costStr != "" {
					rd.Cost, _ = scaleDecimal(ex.costStr, -5)
				} else {
					rd.Cost = scaleInt(r.cost, -5)
				}
			}
			if len(out) > 0 {
				if start <= last {
					ordered = false
				} else if prev := out[len(out)-1]; start < prev.Start+prev.Seconds {
					overlaps++
				}
			}
			last = start
			out = append(out, rd)
		}
	}
	d.conv = out[:0]
	if overlaps > 0 {
		d.warn.add("overlap"+sr.s.Key, fmt.Sprintf("%s: readings start before the previous one ends (for example %d s apart with a duration of %d s); stored as the file gives them",
			pb.entry.name(), out[1].Start-out[0].Start, out[0].Seconds))
	}
	if !ordered {
		if err := d.checkDuplicates(pb, out); err != nil {
			return err
		}
	}
	for i := range out {
		r := &out[i]
		if !sr.starts.add(r.Start) {
			sr.repeats++
		}
		if sr.starts.n == 1 || r.Start < sr.from {
			sr.from = r.Start
		}
		if end := r.Start + r.Seconds; end > sr.to {
			sr.to = end
		}
	}
	if d.batchSeries != sr {
		d.sendBatch()
		d.batchSeries = sr
	}
	for len(out) > 0 {
		if d.batch == nil {
			select {
			case d.batch = <-d.free: // a batch the writer has finished with
			default:
				d.batch = make([]store.Reading, 0, flushBatch)
			}
		}
		n := min(len(out), flushBatch-len(d.batch))
		d.batch = append(d.batch, out[:n]...)
		out = out[n:]
		if len(d.batch) == flushBatch {
			d.sendBatch()
		}
	}
	return nil
}

// sendBatch hands the readings gathered for one series to the writer. Readings of
// consecutive entries of the same series go together, so that the store reads and writes
// each day of them once.
func (d *decoder) sendBatch() {
	if len(d.batch) == 0 {
		return
	}
	if d.noStore {
		d.batch = d.batch[:0] // parse-only (benchmarks, fuzzing): nothing to hand over
		return
	}
	sr, batch := d.batchSeries, d.batch
	d.batch = nil
	d.do(func(tx *store.Tx) error {
		err := tx.PutReadings(sr.id, batch)
		select {
		case d.free <- batch[:0]:
		default:
		}
		return err
	})
}

// checkDuplicates looks at readings of one entry that share a start. Equal repeats are
// harmless (the later one wins); conflicting ones are reported, and an entry where most
// readings collide (such as 36 monthly readings all stamped with the export time) is refused:
// keeping one of them would silently turn 36 bills into one wrong reading.
func (d *decoder) checkDuplicates(pb *pendingBlocks, out []store.Reading) error {
	first := make(map[int64]int, len(out))
	conflicts := 0
	for i, r := range out {
		j, dup := first[r.Start]
		if !dup {
			first[r.Start] = i
			continue
		}
		o := out[j]
		if o.Value != r.Value || o.Missing != r.Missing || o.Seconds != r.Seconds {
			conflicts++
		}
	}
	if conflicts == 0 {
		return nil
	}
	if conflicts*2 >= len(out) {
		var at int64
		for t := range first {
			at = t
			break
		}
		return &entryError{pb.entry.name(), fmt.Errorf("%d of its %d readings start at the same time as another reading with a different value (for example %s): the file does not say which period each reading covers, so it is refused rather than keep one reading and drop the rest; ask the utility for a corrected export",
			conflicts, len(out), time.Unix(at, 0).UTC().Format(time.RFC3339))}
	}
	d.warn.add("conflict", fmt.Sprintf("%s: %d readings repeat the start of another reading with a different value; the later one is kept", pb.entry.name(), conflicts))
	return nil
}

// finish places whatever is still waiting once the whole document has been read.
func (d *decoder) finish() error {
	d.finishing = true
	for _, match := range d.pendingList {
		list := d.pending[match]
		if len(list) == 0 {
			continue
		}
		delete(d.pending, match)
		var mr *mrState
		switch {
		case match != "" && match[0] != '?':
			mr = d.mrs[match]
			if mr == nil {
				mr = d.mrFor(list[0].mrHref)
			}
		case len(d.mrList) == 1:
			mr = d.mrList[0]
			d.warn.add("nomr", fmt.Sprintf("%s: IntervalBlock names no MeterReading; assigned to the only MeterReading of the document", list[0].entry.name()))
		default:
			mr = d.mrFor(strings.TrimPrefix(match, "?"))
			d.warn.add("nomr"+match, fmt.Sprintf("%s: IntervalBlock names no MeterReading of this document; its readings are kept as series %s", list[0].entry.name(), mr.key))
		}
		rt := d.readingTypeOf(mr)
		if rt == nil {
			n := 0
			for _, pb := range list {
				n += pb.count()
			}
			d.warn.add("nort"+match, fmt.Sprintf("MeterReading %s: its ReadingType is not in this document, so %d readings are stored as written, with no unit and no multiplier applied; import a document with the ReadingType (such as the full download) to correct them", mr.key, n))
		}
		for _, pb := range list {
			if err := d.flush(mr, rt, pb); err != nil {
				return err
			}
		}
	}
	for _, sr := range d.series {
		if sr.repeats > 0 {
			d.warn.add("repeat"+sr.s.Key, fmt.Sprintf("series %s: %d readings come more than once in this file (overlapping or repeated blocks); the later copy of each is kept", sr.s.Key, sr.repeats))
		}
		if sr.provisional && sr.meter.hasService {
			sr.s.Commodity, sr.provisional = commodityOfService(sr.meter.service), false
			d.writeSeries(sr)
		}
	}
	for _, m := range d.meterList {
		if tz := d.meterZone(m); tz != "" && tz != m.m.TimeZone {
			m.dirty = true
		}
		if !m.sent {
			m.dirty = true
		}
		d.writeMeter(m)
	}
	d.sendBatch()
	if n, first := d.s.Unbound(); n > 0 {
		d.warn.add("unbound", fmt.Sprintf("%d elements use a namespace prefix the document never declares (such as <%s>); they were matched by name", n, first))
	}
	return nil
}

// runSet counts distinct reading starts of a series in little memory: regular readings
// form arithmetic runs; starts off a run's grid go to a small map.
type runSet struct {
	runs  []run
	extra map[int64]struct{}
	n     int64
}

type run struct{ first, last, step int64 }

// add records t and reports whether it was new.
func (s *runSet) add(t int64) bool {
	k := len(s.runs)
	if k > 0 {
		r := &s.runs[k-1]
		if t > r.last { // the usual case: readings in order
			if r.step == 0 {
				r.step, r.last = t-r.first, t
			} else if t-r.last == r.step {
				r.last = t
			} else {
				s.runs = append(s.runs, run{t, t, 0})
			}
			s.n++
			return true
		}
	} else {
		s.runs = append(s.runs, run{t, t, 0})
		s.n++
		return true
	}
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first > t }) - 1
	if i >= 0 && t <= s.runs[i].last {
		r := s.runs[i]
		if t == r.first || t == r.last || r.step > 0 && (t-r.first)%r.step == 0 {
			return false
		}
		if _, ok := s.extra[t]; ok {
			return false
		}
		if s.extra == nil {
			s.extra = map[int64]struct{}{}
		}
		s.extra[t] = struct{}{}
		s.n++
		return true
	}
	// t lies in the gap after run i (or before the first run).
	s.n++
	if i >= 0 {
		r := &s.runs[i]
		if r.step == 0 || t-r.last == r.step {
			if r.step == 0 {
				r.step = t - r.first
			}
			r.last = t
			return true
		}
	}
	if i+1 < len(s.runs) {
		r := &s.runs[i+1]
		if r.step == 0 || r.first-t == r.step {
			if r.step == 0 {
				r.step = r.first - t
			}
			r.first = t
			return true
		}
	}
	s.runs = append(s.runs, run{})
	copy(s.runs[i+2:], s.runs[i+1:])
	s.runs[i+1] = run{t, t, 0}
	return true
}

// warnings collects warnings by kind, so that 10,000 alike readings give one line.
type warnings struct {
	keys  []string
	items map[string]*warnItem
}

type warnItem struct {
	msg string
	n   int
}

// maxWarnings bounds the distinct warnings one document can produce.
const maxWarnings = 100

func (w *warnings) add(key, msg string) {
	if w.items == nil {
		w.items = map[string]*warnItem{}
	}
	if it := w.items[key]; it != nil {
		it.n++
		return
	}
	if len(w.keys) >= maxWarnings {
		key, msg = "more", "more warnings were left out"
		if it := w.items[key]; it != nil {
			it.n++
			return
		}
	}
	w.items[key] = &warnItem{msg: msg, n: 1}
	w.keys = append(w.keys, key)
}

func (w *warnings) list() []string {
	var out []string
	for _, k := range w.keys {
		it := w.items[k]
		if it.n > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", it.msg, it.n))
		} else {
			out = append(out, it.msg)
		}
	}
	return out
}
