package chart

import (
	"math"
	"strconv"
	"time"
)

// niceStep returns a step of 1, 2 or 5 × 10^k that cuts span into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 || n <= 0 || math.IsInf(span, 0) || math.IsNaN(span) {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// valueTicks returns tick values for [lo, hi], about n of them.
func valueTicks(lo, hi float64, n int) []float64 {
	step := niceStep(hi-lo, n)
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(out) < 64; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

// formatValue writes v with as few decimals as the step between ticks needs.
func formatValue(v, step float64) string {
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) >= 1e6 && step >= 1e5 {
		return strconv.FormatFloat(v/1e6, 'f', max(0, dec-6), 64) + "M"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// timeStep is one candidate spacing of time ticks.
type timeStep struct {
	d      time.Duration // for fixed steps
	months int           // for calendar steps
	format string
}

var timeSteps = []timeStep{
	{d: time.Minute, format: "15:04"},
	{d: 5 * time.Minute, format: "15:04"},
	{d: 15 * time.Minute, format: "15:04"},
	{d: 30 * time.Minute, format: "15:04"},
	{d: time.Hour, format: "15:04"},
	{d: 3 * time.Hour, format: "15:04"},
	{d: 6 * time.Hour, format: "Jan 2 15:04"},
	{d: 12 * time.Hour, format: "Jan 2 15:04"},
	{d: 24 * time.Hour, format: "Jan 2"},
	{d: 2 * 24 * time.Hour, format: "Jan 2"},
	{d: 7 * 24 * time.Hour, format: "Jan 2"},
	{months: 1, format: "Jan 2006"},
	{months: 3, format: "Jan 2006"},
	{months: 6, format: "Jan 2006"},
	{months: 12, format: "2006"},
	{months: 60, format: "2006"},
}

// timeTick is one labelled time on the x axis.
type timeTick struct {
	t     int64
	label string
}

// timeTicks returns ticks between t0 and t1 (unix seconds) with at most about n of them,
// aligned to whole minutes, hours, days, weeks (Mondays), months or years in loc.
func timeTicks(t0, t1 int64, n int, loc *time.Location) []timeTick {
	if t1 <= t0 || n <= 0 {
		return nil
	}
	span := time.Duration(t1-t0) * time.Second
	st := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		approx := s.d
		if s.months > 0 {
			approx = time.Duration(s.months) * 30 * 24 * time.Hour
		}
		if span/approx <= time.Duration(n) {
			st = s
			break
		}
	}
	start := time.Unix(t0, 0).In(loc)
	var t time.Time
	switch {
	case st.months > 0:
		y, m := start.Year(), int(start.Month())-1
		if st.months >= 12 {
			years := st.months / 12
			y = y / years * years
			m = 0
		} else {
			m = m / st.months * st.months
		}
		t = time.Date(y, time.Month(m+1), 1, 0, 0, 0, 0, loc)
	case st.d >= 24*time.Hour:
		t = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
		if st.d == 7*24*time.Hour {
			for t.Weekday() != time.Monday {
				t = t.AddDate(0, 0, -1)
			}
		}
	case st.d >= time.Hour:
		// Hour steps follow the local clock across daylight-saving changes.
		h := int(st.d / time.Hour)
		t = time.Date(start.Year(), start.Month(), start.Day(), start.Hour()/h*h, 0, 0, 0, loc)
	default:
		// Minute steps align to whole minutes of the local clock.
		_, off := start.Zone()
		local := t0 + int64(off)
		step := int64(st.d / time.Second)
		t = time.Unix((local/step)*step-int64(off), 0).In(loc)
	}
	var out []timeTick
	for i := 0; i < 400; i++ {
		if u := t.Unix(); u >= t0 && u <= t1 {
			out = append(out, timeTick{t: u, label: t.Format(st.format)})
		}
		if t.Unix() > t1 {
			break
		}
		switch {
		case st.months > 0:
			t = t.AddDate(0, st.months, 0)
		case st.d >= 24*time.Hour:
			t = t.AddDate(0, 0, int(st.d/(24*time.Hour)))
		case st.d >= time.Hour:
			h := int(st.d / time.Hour)
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()/h*h+h, 0, 0, 0, loc)
			if !next.After(t) {
				next = t.Add(st.d)
			}
			t = next
		default:
			t = t.Add(st.d)
		}
	}
	return out
}
