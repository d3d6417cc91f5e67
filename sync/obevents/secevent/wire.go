package secevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// PollRequest is the body of POST /events (OBEventPolling1, RFC 8936 §2.4).
type PollRequest struct {
	MaxEvents         *int              `json:"maxEvents,omitempty"`
	ReturnImmediately bool              `json:"returnImmediately"`
	Ack               []string          `json:"ack,omitempty"`
	SetErrs           map[string]SetErr `json:"setErrs,omitempty"`
}

// SetErr is one negative acknowledgement.
type SetErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// PollResponse is the answer of POST /events (OBEventPollingResponse1). A missing
// moreAvailable means false.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// DecodePollResponse decodes an OBEventPollingResponse1 leniently: a missing moreAvailable is
// false, an empty body or missing sets is no events, and a value of sets that is not a string
// is kept as its JSON text so that it is rejected (and reported) like any other bad token.
func DecodePollResponse(raw []byte) (PollResponse, error) {
	out := PollResponse{Sets: map[string]string{}}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out, nil
	}
	// Nearly always every value is a string (a compact JWS) without escapes: read in one
	// pass after one validity check.
	if out, ok := pollFast(raw); ok {
		return out, nil
	}
	// Else decoded once as strings, when they all are.
	var plain struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	if json.Unmarshal(raw, &plain) == nil {
		if plain.Sets != nil {
			out.Sets = plain.Sets
		}
		out.MoreAvailable = plain.MoreAvailable
		return out, nil
	}
	var wire struct {
		Sets          map[string]json.RawMessage `json:"sets"`
		MoreAvailable *bool                      `json:"moreAvailable"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return out, fmt.Errorf("unreadable poll answer: %w", err)
	}
	if wire.MoreAvailable != nil {
		out.MoreAvailable = *wire.MoreAvailable
	}
	for k, v := range wire.Sets {
		s, ok := plainString(v)
		if !ok && json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out.Sets[k] = s
	}
	return out, nil
}

// plainString returns the text of a JSON string that has no escapes, such as a compact JWS,
// without decoding it a second time; raw comes from a decoder that has checked it is valid
// JSON. ok is false for anything else, which the caller decodes in full: also for a string
// that is not valid UTF-8, whose bad bytes encoding/json replaces with U+FFFD.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw[1:len(raw)-1], '\\') >= 0 ||
		!utf8.Valid(raw[1:len(raw)-1]) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// pollFast reads a poll answer as DecodePollResponse's decoding into strings would, in one
// pass over its bytes (a whole answer is ten or more tokens of more than a kilobyte each,
// and json.Valid alone cost as much as encoding/json's decoding). It reads only the usual
// answer, checking its syntax as it goes: an object whose members are sets (an object whose
// values are strings without escapes, or null) and moreAvailable (true, false or null), each
// at most once, with names and keys without escapes. ok is false for anything else, which the
// caller decodes with encoding/json (which then also says what is wrong).
func pollFast(raw []byte) (out PollResponse, ok bool) {
	if !onePass {
		return out, false
	}
	p := pollParser{b: raw}
	if !p.byte('{') {
		return out, false
	}
	var haveSets, haveMore bool
	for more := !p.byte('}'); more; {
		name, ok := p.str()
		if !ok || !p.byte(':') {
			return out, false
		}
		switch name {
		case "sets":
			if haveSets {
				return out, false
			}
			haveSets = true
			if out.Sets, ok = p.sets(); !ok {
				return out, false
			}
		case "moreAvailable":
			if haveMore {
				return out, false
			}
			haveMore = true
			switch {
			case p.literal("true"):
				out.MoreAvailable = true
			case p.literal("false"), p.literal("null"):
			default:
				return out, false
			}
		default:
			return out, false
		}
		if more = p.byte(','); !more && !p.byte('}') {
			return out, false
		}
	}
	if p.skip(); p.i != len(p.b) {
		return out, false
	}
	if out.Sets == nil {
		out.Sets = map[string]string{}
	}
	return out, true
}

// pollParser reads the few shapes of JSON pollFast accepts, checking their syntax.
type pollParser struct {
	b []byte
	i int
}

// skip passes white space.
func (p *pollParser) skip() { p.i = skipSpace(p.b, p.i) }

// byte reads c after white space, if it is next.
func (p *pollParser) byte(c byte) bool {
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal reads the literal lit after white space, if it is next and ends there.
func (p *pollParser) literal(lit string) bool {
	p.skip()
	end := p.i + len(lit)
	if end > len(p.b) || string(p.b[p.i:end]) != lit {
		return false
	}
	if end < len(p.b) && !isSpace(p.b[end]) && p.b[end] != ',' && p.b[end] != '}' && p.b[end] != ']' {
		return false
	}
	p.i = end
	return true
}

// str reads a string without escapes or control characters, in valid UTF-8, after white
// space.
func (p *pollParser) str() (string, bool) {
	p.skip()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			if !utf8.Valid(p.b[start:j]) {
				return "", false
			}
			p.i = j + 1
			return string(p.b[start:j]), true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// sets reads the value of sets: null, or an object of strings (a later key replacing an
// earlier one, as encoding/json does).
func (p *pollParser) sets() (map[string]string, bool) {
	if p.literal("null") {
		return nil, true
	}
	if !p.byte('{') {
		return nil, false
	}
	sets := make(map[string]string, 16)
	for more := !p.byte('}'); more; {
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		sets[k] = v
		if more = p.byte(','); !more && !p.byte('}') {
			return nil, false
		}
	}
	return sets, true
}
