package ui

import (
	"math"
	"strings"
	"time"

	"custody/store"
)

// Resolutions the usage chart can aggregate to.
const (
	ResRaw   = "As recorded"
	ResHour  = "Hourly"
	ResDay   = "Daily"
	ResWeek  = "Weekly"
	ResMonth = "Monthly"
	ResYear  = "Yearly"
)

// Ranges the usage chart can show.
const (
	RangeDay   = "Day"
	RangeWeek  = "Week"
	RangeMonth = "Month"
	RangeYear  = "Year"
	RangeAll   = "All"
)

// quantity says how readings of a unit combine over time.
type quantity int

const (
	quantityEnergy quantity = iota // an amount per interval: summed (Wh, kWh, m3, therm)
	quantityPower                  // a rate or a level: mean and maximum (W, kW, °C)
)

// quantityOf says whether a series' readings are summed or averaged over a bucket.
func quantityOf(kind, unit string) quantity {
	switch strings.ToLower(kind) {
	case "energy", "volume", "cost":
		return quantityEnergy
	case "power", "demand", "temperature", "voltage", "current", "price":
		// A price is averaged over a bucket, never summed.
		return quantityPower
	}
	switch unit {
	case "W", "kW", "MW", "VA", "kVA", "VAr", "kVAr", "V", "A", "degC", "°C", "degF", "°F":
		return quantityPower
	}
	return quantityEnergy
}

// bucketStart is the start of the bucket t falls in, in loc.
func bucketStart(t int64, loc *time.Location, res string) int64 {
	lt := time.Unix(t, 0).In(loc)
	switch res {
	case ResHour:
		return time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), 0, 0, 0, loc).Unix()
	case ResDay:
		return time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc).Unix()
	case ResWeek:
		d := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)).Unix()
	case ResMonth:
		return time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc).Unix()
	case ResYear:
		return time.Date(lt.Year(), 1, 1, 0, 0, 0, 0, loc).Unix()
	}
	return t
}

// bucketEnd is the end of the bucket that starts at b, in loc (a local day may have 23 or
// 25 hours, a month 28 to 31 days).
func bucketEnd(b int64, loc *time.Location, res string) int64 {
	lt := time.Unix(b, 0).In(loc)
	switch res {
	case ResHour:
		return b + 3600
	case ResDay:
		return lt.AddDate(0, 0, 1).Unix()
	case ResWeek:
		return lt.AddDate(0, 0, 7).Unix()
	case ResMonth:
		return lt.AddDate(0, 1, 0).Unix()
	case ResYear:
		return lt.AddDate(1, 0, 0).Unix()
	}
	return b
}

// markPartial marks the buckets that readings of secs seconds cover only in part (the week
// under way, a day with an outage), so that the chart does not show them as a drop in use.
func (a *aggregated) markPartial(secs int64, loc *time.Location, res string) {
	a.partial = make([]bool, len(a.times))
	if res == ResRaw || secs <= 0 {
		return
	}
	for j, b := range a.times {
		a.partial[j] = int64(a.counts[j])*secs < bucketEnd(b, loc, res)-b
	}
}

// bucketLimit is the end of the bucket that starts at b, in loc, when every instant from b
// to it lies in that bucket, else b (no shortcut): a local day may have 23 or 25 hours, a
// month 28 to 31 days, and a clock change may repeat an hour.
func bucketLimit(b int64, loc *time.Location, res string) int64 {
	lt := time.Unix(b, 0).In(loc)
	var end int64
	switch res {
	case ResHour:
		end = b + 3600
	case ResDay:
		end = lt.AddDate(0, 0, 1).Unix()
	case ResWeek:
		end = lt.AddDate(0, 0, 7).Unix()
	case ResMonth:
		end = lt.AddDate(0, 1, 0).Unix()
	default:
		return b
	}
	if end <= b || bucketStart(b, loc, res) != b || bucketStart(end-1, loc, res) != b {
		return b
	}
	return end
}

// bucketSeconds is the nominal length of a bucket, for the chart's gap detection.
func bucketSeconds(res string, raw int64) int64 {
	switch res {
	case ResHour:
		return 3600
	case ResDay:
		return 86400 + 3600 // a DST day is 25 h long
	case ResWeek:
		return 7*86400 + 3600
	case ResMonth:
		return 31*86400 + 3600
	case ResYear:
		return 366*86400 + 3600
	}
	return raw
}

// aggregated is a series reduced to buckets.
type aggregated struct {
	times      []int64
	sum, mean  []float64
	maxv       []float64
	counts     []int
	partial    []bool
	total      float64
	peak       float64
	peakAt     int64
	hasReading bool
}

// aggregate reduces ascending readings to buckets of res in loc: sums, means and maxima.
func aggregate(ts []int64, vs []float64, loc *time.Location, res string) aggregated {
	var a aggregated
	a.peak = math.Inf(-1)
	cur := int64(math.MinInt64)
	// Readings in [lo, hi) fall in bucket lo: the calendar is asked again only past it (it
	// was 40 % of opening a year of 15-minute readings).
	lo, hi := int64(math.MinInt64), int64(math.MinInt64)
	for i, t := range ts {
		v := vs[i]
		a.total += v
		a.hasReading = true
		if v > a.peak {
			a.peak, a.peakAt = v, t
		}
		b := t
		switch {
		case res == ResRaw:
		case t >= lo && t < hi:
			b = lo
		default:
			b = bucketStart(t, loc, res)
			lo, hi = b, bucketLimit(b, loc, res)
		}
		if b != cur || res == ResRaw {
			cur = b
			a.times = append(a.times, b)
			a.sum = append(a.sum, 0)
			a.maxv = append(a.maxv, math.Inf(-1))
			a.counts = append(a.counts, 0)
		}
		j := len(a.times) - 1
		a.sum[j] += v
		a.counts[j]++
		a.maxv[j] = math.Max(a.maxv[j], v)
	}
	a.mean = make([]float64, len(a.sum))
	for j := range a.sum {
		a.mean[j] = a.sum[j] / float64(a.counts[j])
	}
	return a
}

// rangeSpan is the period of a range ending with the local day of last, moved back by
// offset periods, in loc.
func rangeSpan(rng string, first, last int64, offset int, loc *time.Location) (int64, int64) {
	lt := time.Unix(last, 0).In(loc)
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	var start time.Time
	switch rng {
	case RangeDay:
		end = end.AddDate(0, 0, -offset)
		start = end.AddDate(0, 0, -1)
	case RangeWeek:
		end = end.AddDate(0, 0, -7*offset)
		start = end.AddDate(0, 0, -7)
	case RangeMonth:
		end = end.AddDate(0, -offset, 0)
		start = end.AddDate(0, -1, 0)
	case RangeYear:
		end = end.AddDate(-offset, 0, 0)
		start = end.AddDate(-1, 0, 0)
	default:
		return first, last + 1
	}
	return start.Unix(), end.Unix()
}

// defaultResolution is the resolution that suits a range.
func defaultResolution(rng string) string {
	switch rng {
	case RangeDay:
		return ResRaw
	case RangeWeek:
		return ResHour
	case RangeMonth:
		return ResDay
	case RangeYear:
		return ResWeek
	}
	return ResMonth
}

// displayUnit converts a unit to the user's choice of kWh or Wh (and kW or W) and writes it
// with proper symbols; it returns the factor to multiply values by.
func displayUnit(unit, energyUnit string) (string, float64) {
	switch {
	case unit == "Wh" && energyUnit == "kWh":
		return "kWh", 0.001
	case unit == "kWh" && energyUnit == "Wh":
		return "Wh", 1000
	case unit == "W" && energyUnit == "kWh":
		return "kW", 0.001
	case unit == "kW" && energyUnit == "Wh":
		return "W", 1000
	}
	return unitSymbol(unit), 1
}

// unitSymbol writes a unit symbol the way people read it.
func unitSymbol(unit string) string {
	switch unit {
	case "m3":
		return "m³"
	case "ft3":
		return "ft³"
	case "degC":
		return "°C"
	case "degF":
		return "°F"
	}
	return unit
}

// seriesName names a series for people: the name its source gave it (a DataHub result such
// as "Wholesale fixing, 2nd correction · consumption"), else its flow.
func seriesName(s store.Series) string {
	if n := s.Attrs["name"]; n != "" {
		return n
	}
	return flowName(s.Flow, s.Key)
}

// flowName names a series' flow for people: import, export and net are different things.
func flowName(flow, key string) string {
	switch flow {
	case "forward":
		return "Import"
	case "reverse":
		return "Export"
	case "net":
		return "Net"
	case "total":
		return "Total"
	}
	if key == "" {
		return "Readings"
	}
	return key
}
