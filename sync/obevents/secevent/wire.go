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

// The member names of PollResponse.
var pollNames = []string{"sets", "moreAvailable"}

// pollFast reads a poll answer as DecodePollResponse's decoding into strings would, without
// decoding each token a second time: ok is false for anything but an object of an object of
// strings without escapes and a boolean (or null) moreAvailable, which the caller decodes.
func pollFast(raw []byte) (out PollResponse, ok bool) {
	if !onePass || !json.Valid(raw) {
		return out, false
	}
	var buf [4]member
	ms, ok := objectMembers(raw, buf[:0])
	var v [2][]byte
	if !ok || !fields(ms, pollNames, v[:]) {
		return out, false
	}
	switch string(v[1]) {
	case "", "null", "false":
	case "true":
		out.MoreAvailable = true
	default:
		return out, false
	}
	if len(v[0]) == 0 || string(v[0]) == "null" {
		out.Sets = map[string]string{}
		return out, true
	}
	sets, ok := objectMembers(v[0], nil)
	if !ok {
		return out, false
	}
	out.Sets = make(map[string]string, len(sets))
	for _, m := range sets {
		tok, plain := plainString(m.value)
		if !plain {
			return out, false
		}
		out.Sets[m.name] = tok
	}
	return out, true
}
