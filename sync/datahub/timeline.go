package datahub

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Copenhagen must resolve on machines without a zoneinfo database
)

// Copenhagen is Danish local time: day and month resolutions step in it.
var Copenhagen = mustLoad("Europe/Copenhagen")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("datahub: load %s: %v", name, err)) // tzdata is embedded; cannot happen
	}
	return loc
}

// Step is a resolution: a fixed duration (PT15M, PT1H) or a calendar step in Danish local time
// (P1D, P1M, P1Y), because a Danish day is 23, 24 or 25 hours long and a month varies.
type Step struct {
	Fixed               time.Duration
	Days, Months, Years int
	Name                string
}

// stepper parses a resolution. It accepts the spellings DataHub and Eloverblik use, including
// Eloverblik's PT1D and PT1Y.
func stepper(res string) (Step, error) {
	r := strings.ToUpper(strings.TrimSpace(res))
	bad := fmt.Errorf("resolution %q is not one of PT15M, PT1H, P1D, P1M, P1Y", res)
	if len(r) < 3 || r[0] != 'P' {
		return Step{}, bad
	}
	unit := r[len(r)-1]
	timePart := strings.HasPrefix(r, "PT")
	num := r[1 : len(r)-1]
	if timePart {
		num = r[2 : len(r)-1]
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 1000 {
		return Step{}, bad
	}
	s := Step{Name: res}
	switch {
	case timePart && unit == 'M':
		s.Fixed = time.Duration(n) * time.Minute
	case timePart && unit == 'H':
		s.Fixed = time.Duration(n) * time.Hour
	case unit == 'D':
		s.Days = n
	case !timePart && unit == 'M':
		s.Months = n
	case unit == 'Y':
		s.Years = n
	default:
		return Step{}, bad
	}
	return s, nil
}

// At returns the interval [begin, end) of the 1-based position pos of a period starting at
// start (UTC).
func (s Step) At(start time.Time, pos int) (begin, end time.Time) {
	if s.Fixed > 0 {
		begin = start.Add(time.Duration(pos-1) * s.Fixed)
		return begin, begin.Add(s.Fixed)
	}
	local := start.In(Copenhagen)
	k := pos - 1
	begin = local.AddDate(s.Years*k, s.Months*k, s.Days*k)
	end = local.AddDate(s.Years*pos, s.Months*pos, s.Days*pos)
	return begin.UTC(), end.UTC()
}

// Count returns how many positions fit from start to end: 96 quarter-hours on a normal Danish
// day, 92 on the spring DST day and 100 on the autumn one.
func (s Step) Count(start, end time.Time) int {
	if s.Fixed > 0 {
		return int(end.Sub(start) / s.Fixed)
	}
	n := 0
	for n < maxPosition {
		_, e := s.At(start, n+1)
		if e.After(end) {
			break
		}
		n++
		if !e.Before(end) {
			break
		}
	}
	return n
}

// Nominal is the series' nominal interval length in seconds.
func (s Step) Nominal() int64 {
	switch {
	case s.Fixed > 0:
		return int64(s.Fixed / time.Second)
	case s.Days > 0:
		return int64(s.Days) * 86400
	case s.Months > 0:
		return int64(s.Months) * 30 * 86400
	}
	return int64(s.Years) * 365 * 86400
}

// ParseResolution parses a resolution such as PT15M, PT1H, P1D (or PT1D), P1M, P1Y (or PT1Y).
func ParseResolution(res string) (Step, error) { return stepper(res) }

// Canonical is the resolution's standard spelling: PT1D becomes P1D, PT1Y becomes P1Y.
func (s Step) Canonical() string {
	switch {
	case s.Fixed > 0 && s.Fixed%time.Hour == 0:
		return fmt.Sprintf("PT%dH", s.Fixed/time.Hour)
	case s.Fixed > 0:
		return fmt.Sprintf("PT%dM", s.Fixed/time.Minute)
	case s.Days > 0:
		return fmt.Sprintf("P%dD", s.Days)
	case s.Months > 0:
		return fmt.Sprintf("P%dM", s.Months)
	}
	return fmt.Sprintf("P%dY", s.Years)
}
