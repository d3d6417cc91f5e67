package ui

import (
	"regexp"
	"slices"
	"strings"
	"unicode"

	"custody/store"
)

// mpTypes names DataHub metering point types (CIM MarketEvaluationPoint.type) for people.
var mpTypes = map[string]string{
	"E17": "Consumption", "E18": "Production", "E20": "Exchange", "D01": "VE production",
	"D02": "Analysis", "D04": "Surplus production", "D05": "Net production", "D06": "Supply to grid",
	"D07": "Consumption from grid", "D08": "Wholesale services", "D09": "Own production",
	"D10": "Net from grid", "D11": "Net to grid", "D12": "Total consumption", "D14": "Electrical heating",
	"D15": "Net consumption", "D20": "Capacity settlement",
}

var gsrnRE = regexp.MustCompile(`^\d{18}$`)

// meterTitle is the name a person can tell a meter by: the name they gave it, else the
// source's name when it says something, else one made of what the source said about the
// meter (its kind, grid area and the end of its id), never a bare URL or a name that
// differs from the next meter's only past the point where it gets cut off.
func meterTitle(m store.Meter) string {
	if m.DisplayName != "" {
		return m.DisplayName
	}
	if n := strings.TrimSpace(m.Name); n != "" && !strings.HasPrefix(n, "Metering point ") && !strings.Contains(n, "://") {
		return n
	}
	var parts []string
	if t := mpTypes[m.Attrs["metering_point_type"]]; t != "" {
		parts = append(parts, t)
	} else if m.Commodity != "" {
		parts = append(parts, capitalise(m.Commodity))
	} else {
		parts = append(parts, "Meter")
	}
	parts = append(parts, shortKey(m.Key))
	if g := m.Attrs["grid_area"]; g != "" {
		parts = append(parts, "grid area "+g)
	}
	return strings.Join(parts, " · ")
}

// shortKey is the part of a meter's id that tells it apart: the last digits of a GSRN, the
// last path segments of a URL.
func shortKey(key string) string {
	switch {
	case gsrnRE.MatchString(key):
		return "…" + key[len(key)-6:]
	case strings.Contains(key, "://") || strings.Count(key, "/") > 1:
		segs := strings.Split(strings.Trim(key, "/"), "/")
		if len(segs) >= 2 {
			return segs[len(segs)-2] + " " + segs[len(segs)-1]
		}
		return segs[len(segs)-1]
	}
	return key
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// naturalLess orders strings as people count: "Meter 14" before "Meter 139", case aside.
func naturalLess(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitDigits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// meterEntry is one line of the meter list.
type meterEntry struct {
	m     store.Meter
	title string
}

// meterEntries titles and sorts meters naturally. Meters that would show the same title get
// what tells them apart added: the name of their source when they come from different ones,
// else the end of their id.
func meterEntries(ms []store.Meter, sources map[int64]string) []meterEntry {
	out := make([]meterEntry, len(ms))
	byTitle := map[string][]int{}
	for i, m := range ms {
		out[i] = meterEntry{m: m, title: meterTitle(m)}
		byTitle[out[i].title] = append(byTitle[out[i].title], i)
	}
	for _, idx := range byTitle {
		if len(idx) < 2 {
			continue
		}
		srcs := map[int64]bool{}
		for _, i := range idx {
			srcs[out[i].m.SourceID] = true
		}
		for _, i := range idx {
			m := out[i].m
			switch name := sources[m.SourceID]; {
			case len(srcs) == len(idx) && name != "":
				out[i].title += " (" + name + ")"
			case len(srcs) == len(idx):
				out[i].title += " (imported)"
			default:
				out[i].title += " (" + shortKey(m.Key) + ")"
			}
		}
	}
	sortEntries(out)
	return out
}

func sortEntries(es []meterEntry) {
	slices.SortStableFunc(es, func(a, b meterEntry) int {
		switch {
		case naturalLess(a.title, b.title):
			return -1
		case naturalLess(b.title, a.title):
			return 1
		case a.title != b.title:
			return strings.Compare(a.title, b.title)
		}
		return strings.Compare(a.m.Key, b.m.Key)
	})
}
