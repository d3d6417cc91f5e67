package secevent

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The claims of nearly every token are read in one pass: the payload is checked to be valid
// JSON once (json.Valid), and its members are then found by walking the bytes, without
// decoding each nested part again (encoding/json checks and decodes every json.RawMessage it
// is given anew: four nested decodes of the events and their subject cost about 20 µs a
// token, as much as a third of the RSA check). Whatever the walk is not sure to read exactly
// as encoding/json would (an escaped or non-ASCII member name, a name that differs from a
// claim's only in case, a name given twice, an rlk that is not an array of plain objects)
// is left to encoding/json, so both readings give the same SET and the same rejection
// (TestClaimsFastMatchesSlow, FuzzClaimsFastMatchesSlow).

// onePass lets tests compare the one-pass readings (claims, poll answers) with encoding/json's;
// it is never changed outside them.
var onePass = true

// member is one member of a JSON object: its name and its value's bytes.
type member struct {
	name  string
	value []byte
}

// isSpace reports JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte at or after i that is not white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just after the JSON string starting at b[i] (a quote), and
// whether it holds a backslash; -1 when it does not end.
func stringEnd(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// valueEnd returns the index just after the JSON value starting at b[i]; -1 when b is cut
// short. b has been checked to be valid JSON, so brackets match.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
			j++
		}
		return j
	}
}

// objectMembers appends the members of the JSON object b (valid JSON, white space around it
// allowed) to dst, in order. ok is false when b is not an object or a name has an escape or
// is not valid UTF-8, which the caller leaves to encoding/json.
func objectMembers(b []byte, dst []member) (_ []member, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return dst, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return dst, false
		}
		end, escaped := stringEnd(b, i)
		if end < 0 || escaped || !utf8.Valid(b[i+1:end-1]) {
			// encoding/json reads such a name differently (bad bytes become U+FFFD).
			return dst, false
		}
		name := string(b[i+1 : end-1])
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return dst, false
		}
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		if vend < 0 {
			return dst, false
		}
		dst = append(dst, member{name: name, value: b[i:vend]})
		i = skipSpace(b, vend)
		if i >= len(b) {
			return dst, false
		}
		switch b[i] {
		case '}':
			return dst, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return dst, false
		}
	}
	return dst, false
}

// arrayElements appends the elements of the JSON array b (valid JSON) to dst; ok is false
// when b is not an array.
func arrayElements(b []byte, dst [][]byte) (_ [][]byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return dst, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, true
	}
	for i < len(b) {
		end := valueEnd(b, i)
		if end < 0 {
			return dst, false
		}
		dst = append(dst, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return dst, false
		}
		switch b[i] {
		case ']':
			return dst, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return dst, false
		}
	}
	return dst, false
}

// fields matches the members of an object to the names of a struct that encoding/json would
// decode it into: it returns each name's value, and ok false (leaving it to encoding/json)
// when a name is given twice, or could match one of names the way encoding/json matches
// names (without regard to case, with Unicode folding) without being it.
func fields(ms []member, names []string, dst [][]byte) (ok bool) {
	for _, m := range ms {
		known := false
		for k, n := range names {
			if m.name == n {
				if dst[k] != nil {
					return false
				}
				dst[k], known = m.value, true
				break
			}
		}
		if known {
			continue
		}
		for j := 0; j < len(m.name); j++ {
			if m.name[j] >= 0x80 {
				return false
			}
		}
		for _, n := range names {
			if strings.EqualFold(m.name, n) {
				return false
			}
		}
	}
	return true
}

// The claim names of rawClaims, in the order of claimsFast's values.
var claimNames = []string{"iss", "iat", "jti", "aud", "sub", "txn", "toe", "events"}

// claimsFast reads the claims as json.Unmarshal into rawClaims would, in one pass; ok is false
// when it is not sure to (see the top of this file) and the caller must decode them so.
func claimsFast(payload []byte, rc *rawClaims) (ok bool) {
	if !onePass || !json.Valid(payload) {
		return false
	}
	var buf [12]member
	ms, ok := objectMembers(payload, buf[:0])
	if !ok {
		return false
	}
	var v [8][]byte
	if !fields(ms, claimNames, v[:]) {
		return false
	}
	*rc = rawClaims{ISS: v[0], IAT: v[1], JTI: v[2], AUD: v[3], Sub: v[4], TXN: v[5], TOE: v[6], Events: v[7]}
	return true
}

// eventsFast reads the events claim as json.Unmarshal into a map[string]json.RawMessage
// would, keeping the token's order; ok is false when it is not sure to (a type given twice,
// an escaped name).
func eventsFast(raw []byte) (events map[string]json.RawMessage, order []string, ok bool) {
	if !onePass {
		return nil, nil, false
	}
	var buf [4]member
	ms, ok := objectMembers(raw, buf[:0])
	if !ok {
		return nil, nil, false
	}
	events = make(map[string]json.RawMessage, len(ms))
	order = make([]string, 0, len(ms))
	for _, m := range ms {
		if _, twice := events[m.name]; twice {
			return nil, nil, false
		}
		events[m.name] = m.value
		order = append(order, m.name)
	}
	return events, order, true
}

// The names of the event and subject structs of decodeClaims.
var (
	eventNames   = []string{"subject"}
	subjectNames = []string{"http://openbanking.org.uk/rid", "http://openbanking.org.uk/rty", "http://openbanking.org.uk/rlk"}
	linkNames    = []string{"version", "link"}
)

// subjectFast reads one event's subject as decodeClaims' subject does with encoding/json:
// found is whether the event has a subject object; set's RID, RTY, Links and Subject are set
// when it has. ok is false when it is not sure to read it the same way, and nothing is set.
func subjectFast(event []byte, set *SET) (found, ok bool) {
	if !onePass {
		return false, false
	}
	if len(event) == 0 || event[0] != '{' {
		// null, or not an object: encoding/json finds no subject in it either.
		return false, true
	}
	var buf [8]member
	ms, ok := objectMembers(event, buf[:0])
	if !ok {
		return false, false
	}
	var ev [1][]byte
	if !fields(ms, eventNames, ev[:]) {
		return false, false
	}
	subject := ev[0]
	if len(subject) == 0 || subject[0] != '{' {
		return false, true
	}
	if ms, ok = objectMembers(subject, buf[:0]); !ok {
		return false, false
	}
	var sv [3][]byte
	if !fields(ms, subjectNames, sv[:]) {
		return false, false
	}
	var links []Link
	if len(sv[2]) > 0 && string(sv[2]) != "null" {
		if links, ok = linksFast(sv[2]); !ok {
			return false, false
		}
	}
	set.RID, set.RTY = jsonString(sv[0]), jsonString(sv[1])
	set.Links = links
	set.Subject = subject
	return true, true
}

// linksFast reads an rlk array whose elements are objects of plain string members; ok is
// false for anything else (a wrong type is an error encoding/json reports).
func linksFast(raw []byte) (links []Link, ok bool) {
	var buf [4][]byte
	elems, ok := arrayElements(raw, buf[:0])
	if !ok {
		return nil, false
	}
	links = make([]Link, 0, len(elems))
	var mbuf [4]member
	for _, e := range elems {
		ms, ok := objectMembers(e, mbuf[:0])
		if !ok {
			return nil, false
		}
		var lv [2][]byte
		if !fields(ms, linkNames, lv[:]) {
			return nil, false
		}
		var l Link
		for k, dst := range []*string{&l.Version, &l.Link} {
			if len(lv[k]) == 0 || string(lv[k]) == "null" {
				continue
			}
			s, plain := plainString(lv[k])
			if !plain {
				return nil, false
			}
			*dst = s
		}
		links = append(links, l)
	}
	return links, true
}

// jsonString returns the text of raw when it is a JSON string, and "" for any other value (as
// a type assertion of the value decoded into an any).
func jsonString(raw []byte) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// objectFast reads a JSON object as decodeObject's json.Decoder (with UseNumber) would, a
// token's header: one validity check, then one walk. ok is false when it is not sure to
// (an escaped name, a name given twice at the top, which decodeObject refuses), and for
// anything that is not one valid JSON object; the caller then decodes it (and says what is
// wrong).
func objectFast(b []byte) (map[string]any, bool) {
	if !onePass || !json.Valid(b) {
		return nil, false
	}
	var buf [12]member
	ms, ok := objectMembers(b, buf[:0])
	if !ok {
		return nil, false
	}
	m := make(map[string]any, len(ms))
	for _, mb := range ms {
		if _, twice := m[mb.name]; twice {
			return nil, false
		}
		v, ok := anyValue(mb.value)
		if !ok {
			return nil, false
		}
		m[mb.name] = v
	}
	return m, true
}

// anyValue returns the valid JSON value raw as encoding/json decodes it into an any with
// UseNumber: string, json.Number, bool, nil, []any or map[string]any (a later member of the
// same name replacing an earlier one). ok is false for a string or name with an escape or
// that is not valid UTF-8.
func anyValue(raw []byte) (any, bool) {
	switch raw[0] {
	case '"':
		s, ok := plainString(raw)
		return s, ok
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n':
		return nil, true
	case '[':
		elems, ok := arrayElements(raw, nil)
		if !ok {
			return nil, false
		}
		out := make([]any, 0, len(elems))
		for _, e := range elems {
			v, ok := anyValue(e)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case '{':
		ms, ok := objectMembers(raw, nil)
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(ms))
		for _, mb := range ms {
			v, ok := anyValue(mb.value)
			if !ok {
				return nil, false
			}
			out[mb.name] = v
		}
		return out, true
	default:
		return json.Number(raw), true
	}
}
