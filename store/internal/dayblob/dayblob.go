// Package dayblob packs the readings of one series and UTC day into one blob: the row format
// of the store's reading_days table. It stands apart from the store so that it can be read,
// tested and fuzzed on its own (a fuzz target in a package that links SQLite crawls).
//
// The store keeps readings one row per series and UTC day (table reading_days), the day's
// readings packed into one blob, instead of one row per reading. SQLite's cost is per row: a
// year of fifteen-minute data is 35,040 rows one way and 365 the other, so an import spends its time
// parsing instead of in the B-tree, the file is about a third of the size, and reading a
// meter's year decodes 365 blobs instead of stepping through 35,040 rows
// (BENCHMARKS-espi.md, "Session 4"). The price: the readings cannot be queried with plain SQL
// from outside; `custody export` writes them out for other tools.
//
// A blob is a version byte, then the day's readings in order of start, each:
//
//	flags    1 byte: the flag bits below, and in the top three bits the value's form
//	start    uvarint: seconds after the previous reading's start (the first: after the day's start)
//	seconds  varint, only when it differs from the previous reading's (always for the first)
//	value    form 0: 8 bytes IEEE 754; form f > 0: a varint m, the value being m / 10^(f-1)
//	         exactly (so 123.456 is m = 123456, f = 4: three bytes instead of eight);
//	         absent when the reading is missing
//	quality  uvarint length and the bytes, only when it differs from the previous reading's
//	cost     8 bytes IEEE 754, only when the reading has one
//	tou      varint, only when the reading has one
package dayblob

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Reading is one interval reading. Value is in the series' unit with the source's multiplier
// already applied. A reading the source reports as missing has Missing set and no value.
type Reading struct {
	Start   int64 // unix seconds, UTC
	Seconds int64
	Value   float64
	Missing bool
	Quality string
	Cost    float64 // whole currency units
	HasCost bool
	TOU     int64
	HasTOU  bool
}

// Version is the format's version, the blob's first byte.
const Version = 1

// DaySeconds is the length of a block: readings are grouped by UTC day of their start.
const DaySeconds = 86400

const (
	flagMissing = 1 << iota // no value
	flagSeconds             // the duration differs from the previous reading's
	flagQuality             // the quality differs from the previous reading's
	flagCost                // has a cost
	flagTOU                 // has a time-of-use tier

	formShift = 5 // flags >> formShift is the value's form
)

// pow10 holds the divisors of the decimal value forms: form f divides by pow10[f-1]. With
// three bits of form, every form is one of these.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// decimalForm returns the form in which v is written and, for a form above 0, the whole
// number m with m / 10^(form-1) == v to the last bit. Meters count in whole units of some
// power of ten, so almost every value has such a form; any other (and -0, NaN, ±Inf) is
// written as its eight bytes.
func decimalForm(v float64) (form byte, m int64) {
	if v == 0 && math.Signbit(v) {
		return 0, 0
	}
	for k, p := range pow10 {
		w := math.Round(v * p)
		if math.Abs(w) < maxWhole && w/p == v {
			return byte(k + 1), int64(w)
		}
	}
	return 0, 0
}

// DayOf is the UTC day (days since 1970-01-01) that a reading starting at start belongs to.
func DayOf(start int64) int64 {
	d := start / DaySeconds
	if start%DaySeconds < 0 {
		d--
	}
	return d
}

// maxWhole is the largest magnitude written as a whole number: beyond 2^53 not every integer
// is a float64, so the round trip would not be exact.
const maxWhole = 1 << 53

// Append appends the encoding of rs, sorted by start with distinct starts, all of
// UTC day day, to b.
func Append(b []byte, day int64, rs []Reading) []byte {
	b = append(b, Version)
	prevStart, prevSeconds, prevQuality := day*DaySeconds, int64(0), ""
	for i := range rs {
		r := &rs[i]
		var flags, form byte
		var m int64
		if r.Missing {
			flags |= flagMissing
		} else {
			form, m = decimalForm(r.Value)
			flags |= form << formShift
		}
		if i == 0 || r.Seconds != prevSeconds {
			flags |= flagSeconds
		}
		if (i == 0 && r.Quality != "") || (i > 0 && r.Quality != prevQuality) {
			flags |= flagQuality
		}
		if r.HasCost {
			flags |= flagCost
		}
		if r.HasTOU {
			flags |= flagTOU
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(r.Start-prevStart))
		if flags&flagSeconds != 0 {
			b = binary.AppendVarint(b, r.Seconds)
		}
		switch {
		case form > 0:
			b = binary.AppendVarint(b, m)
		case !r.Missing:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Value))
		}
		if flags&flagQuality != 0 {
			b = binary.AppendUvarint(b, uint64(len(r.Quality)))
			b = append(b, r.Quality...)
		}
		if r.HasCost {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Cost))
		}
		if r.HasTOU {
			b = binary.AppendVarint(b, r.TOU)
		}
		prevStart, prevSeconds, prevQuality = r.Start, r.Seconds, r.Quality
	}
	return b
}

// ErrCorrupt is what a blob that is not a day of readings decodes to.
var ErrCorrupt = errors.New("stored readings are corrupt")

// Decode appends the readings of a block of day day to rs. It checks every length
// against the blob, so a damaged blob gives ErrCorrupt, never a panic or a reading outside
// the day.
func Decode(rs []Reading, day int64, b []byte) ([]Reading, error) {
	if len(b) == 0 || b[0] != Version {
		return rs, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	b = b[1:]
	dayStart := day * DaySeconds
	prev := Reading{Start: dayStart}
	for first := true; len(b) > 0; first = false {
		flags := b[0]
		b = b[1:]
		delta, n := binary.Uvarint(b)
		if n <= 0 || delta >= DaySeconds || (!first && delta == 0) {
			return rs, fmt.Errorf("%w: start", ErrCorrupt)
		}
		b = b[n:]
		r := Reading{Start: prev.Start + int64(delta), Seconds: prev.Seconds, Quality: prev.Quality}
		if r.Start >= dayStart+DaySeconds {
			return rs, fmt.Errorf("%w: start past the day", ErrCorrupt)
		}
		if flags&flagSeconds != 0 {
			if r.Seconds, n = binary.Varint(b); n <= 0 {
				return rs, fmt.Errorf("%w: duration", ErrCorrupt)
			}
			b = b[n:]
		} else if first {
			return rs, fmt.Errorf("%w: duration", ErrCorrupt)
		}
		form := flags >> formShift
		switch {
		case flags&flagMissing != 0:
			r.Missing = true
		case form > 0:
			m, n := binary.Varint(b)
			if n <= 0 {
				return rs, fmt.Errorf("%w: value", ErrCorrupt)
			}
			r.Value, b = float64(m)/pow10[form-1], b[n:]
		default:
			if len(b) < 8 {
				return rs, fmt.Errorf("%w: value", ErrCorrupt)
			}
			r.Value, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		}
		if flags&flagQuality != 0 {
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return rs, fmt.Errorf("%w: quality", ErrCorrupt)
			}
			r.Quality, b = string(b[n:n+int(l)]), b[n+int(l):]
		}
		if flags&flagCost != 0 {
			if len(b) < 8 {
				return rs, fmt.Errorf("%w: cost", ErrCorrupt)
			}
			r.Cost, r.HasCost, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), true, b[8:]
		}
		if flags&flagTOU != 0 {
			if r.TOU, n = binary.Varint(b); n <= 0 {
				return rs, fmt.Errorf("%w: time-of-use", ErrCorrupt)
			}
			r.HasTOU, b = true, b[n:]
		}
		rs = append(rs, r)
		prev = r
	}
	return rs, nil
}

// Merge returns the readings of old (sorted, distinct starts) with those of add laid
// over them: a reading of add replaces the one of old with the same start, and within add
// the later of two with the same start wins. The result is sorted with distinct starts and
// is built in out's storage.
func Merge(out, old, add []Reading) []Reading {
	byStart := func(a, b Reading) int { return cmp.Compare(a.Start, b.Start) }
	if !slices.IsSortedFunc(add, byStart) {
		// Stable, so that of equal starts the later stays later and wins below.
		add = slices.Clone(add)
		slices.SortStableFunc(add, byStart)
	}
	out = out[:0]
	i := 0
	for j := 0; j < len(add); j++ {
		r := add[j]
		for j+1 < len(add) && add[j+1].Start == r.Start {
			j++
			r = add[j]
		}
		for i < len(old) && old[i].Start < r.Start {
			out = append(out, old[i])
			i++
		}
		if i < len(old) && old[i].Start == r.Start {
			i++
		}
		out = append(out, r)
	}
	return append(out, old[i:]...)
}
