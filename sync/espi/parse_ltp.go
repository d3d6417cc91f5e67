package espi

import (
	"fmt"
	"strconv"
	"strings"
)

// timeZone is a decoded LocalTimeParameters: the display zone of the meters that link to it.
// Readings are UTC whatever it says; it only chooses how to show them.
type timeZone struct {
	zone string // IANA name when the offset and rules match a known zone, else "±hh:mm"; "" unknown
}

// dstRule is a decoded ESPI DST rule bit field (see reference/espi.md §5).
type dstRule struct {
	month, op, dow, dom, hour, sec int
}

var (
	usStart = dstRule{month: 3, op: 3, dow: 7, hour: 2}  // second Sunday of March, 02:00
	usEnd   = dstRule{month: 11, op: 2, dow: 7, hour: 2} // first Sunday of November, 02:00
	euStart = dstRule{month: 3, op: 7, dow: 7}           // last Sunday of March
	euEnd   = dstRule{month: 10, op: 7, dow: 7}          // last Sunday of October
)

// decodeRule decodes a rule; disabled is true for FFFFFFFF (no DST).
func decodeRule(s string) (r dstRule, valid, disabled bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if len(s) != 8 {
		return r, false, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return r, false, false
	}
	if v == 0xFFFFFFFF {
		return r, true, true
	}
	r = dstRule{
		sec:   int(v & 0xFFF),
		hour:  int(v >> 12 & 0x1F),
		dow:   int(v >> 17 & 0x7),
		dom:   int(v >> 20 & 0x1F),
		op:    int(v >> 25 & 0x7),
		month: int(v >> 28 & 0xF),
	}
	valid = r.month >= 1 && r.month <= 12 && r.hour <= 23 && r.sec < 3600 &&
		(r.op == 0 && r.dom >= 1 && r.dom <= 31 || r.op >= 1 && r.dow >= 1)
	return r, valid, false
}

// sameDay compares the day part of two rules (the hour differs between EU zones).
func (r dstRule) sameDay(o dstRule) bool { return r.month == o.month && r.op == o.op && r.dow == o.dow }

// North American and European zones by standard offset.
var (
	usZones = map[int64]string{-12600: "America/St_Johns", -14400: "America/Halifax", -18000: "America/New_York",
		-21600: "America/Chicago", -25200: "America/Denver", -28800: "America/Los_Angeles", -32400: "America/Anchorage",
		-36000: "America/Adak"}
	euZones = map[int64]string{0: "Europe/London", 3600: "Europe/Paris", 7200: "Europe/Helsinki"}
)

// fixedOffset writes seconds east of UTC as ±hh:mm.
func fixedOffset(sec int64) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d:%02d", sign, sec/3600, sec%3600/60)
}

func (d *decoder) decodeLocalTime(e *entry, n *node) *timeZone {
	tz := &timeZone{}
	off, ok := d.intField(e, n, "tzOffset")
	if !ok {
		d.warn.add("ltp"+e.self, fmt.Sprintf("%s: LocalTimeParameters without tzOffset; the meter's zone is unknown", e.name()))
		return tz
	}
	if off < -12*3600 || off > 14*3600 {
		d.warn.add("ltp"+e.self, fmt.Sprintf("%s: tzOffset %d is not a time zone offset in seconds; the meter's zone is unknown", e.name(), off))
		return tz
	}
	dst, _ := d.intField(e, n, "dstOffset")
	startText, endText := n.childText("dstStartRule"), n.childText("dstEndRule")
	start, startOK, startOff := decodeRule(startText)
	end, endOK, endOff := decodeRule(endText)
	us := startOK && endOK && !startOff && !endOff && start.sameDay(usStart) && start.hour == 2 && end.sameDay(usEnd) && end.hour == 2
	eu := startOK && endOK && !startOff && !endOff && start.sameDay(euStart) && end.sameDay(euEnd)
	if off > 0 && us {
		// North American rules with a positive offset: the sign is wrong (seen in the wild).
		d.warn.add("ltpsign"+e.self, fmt.Sprintf("%s: tzOffset %d with North American DST rules has the wrong sign; read as %d", e.name(), off, -off))
		off = -off
	}
	switch {
	case dst == 0 || startOff || endOff:
		tz.zone = fixedOffset(off)
	case us && usZones[off] != "":
		tz.zone = usZones[off]
	case eu && euZones[off] != "":
		tz.zone = euZones[off]
	default:
		// Malformed rules (B40E, 30) or well-formed ones no zone uses (the hex of an epoch
		// second decodes to "first Saturday of June, 21:44").
		what := "malformed"
		if startOK && endOK {
			what = "unrecognised"
		}
		if name := usZones[off]; name != "" {
			d.warn.add("ltprule"+e.self, fmt.Sprintf("%s: %s DST rules %q/%q; the offset is North American, so %s (its rules) is assumed", e.name(), what, startText, endText, name))
			tz.zone = name
		} else {
			d.warn.add("ltprule"+e.self, fmt.Sprintf("%s: %s DST rules %q/%q; the zone is the fixed standard offset %s", e.name(), what, startText, endText, fixedOffset(off)))
			tz.zone = fixedOffset(off)
		}
	}
	return tz
}
