package datahub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"custody/sync/redact"
	"custody/sync/xmldoc"
)

// APIError is an error answer of the B2B API, in either shape DataHub is known to send: the
// running backend's PascalCase {"Error":{"Code","Message","Target","Details":{"Errors":[...]}}}
// (or the same as XML), or the documented lower-case {"error":{"code","message","target",
// "details":[...],"innererror":{...}}}. A 500's {"Message": "..."} and a 415's plain text are
// read too.
type APIError struct {
	Status  int
	Code    string
	Message string
	Target  string
	Inner   string // innererror.code, when given
	Details []APIError
}

// maxErrorText bounds what an error keeps of DataHub's answer.
const maxErrorText = redact.DefaultSnippet

// maxErrorBody is the largest XML error body read as a document; a larger one is kept as text.
const maxErrorBody = 1 << 20

// Error gives the status, the error object's code and message, and the details, on one line,
// without control bytes, cut at maxErrorText bytes.
func (e *APIError) Error() string {
	return redact.Snippet([]byte(e.text()), maxErrorText)
}

// Redact replaces the secrets, in every encoding, in every text of the error and its details.
func (e *APIError) Redact(secrets ...string) {
	for _, p := range []*string{&e.Code, &e.Message, &e.Target, &e.Inner} {
		*p = redact.String(*p, secrets...)
	}
	for i := range e.Details {
		e.Details[i].Redact(secrets...)
	}
}

func (e *APIError) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " (target %s)", e.Target)
	}
	if e.Inner != "" {
		fmt.Fprintf(&b, " [%s]", e.Inner)
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, "; %s: %s", d.Code, d.Message)
		if d.Target != "" {
			fmt.Fprintf(&b, " (target %s)", d.Target)
		}
	}
	return b.String()
}

// ParseAPIError reads an error body. It never fails: a body it cannot read becomes the
// message, cut to a sensible length.
func ParseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte{0xEF, 0xBB, 0xBF}))
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '{':
		var v any
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			if top, ok := v.(map[string]any); ok {
				if inner, ok := ci(top, "error").(map[string]any); ok {
					fillJSON(e, inner)
					return e
				}
				if m, ok := ci(top, "message").(string); ok {
					e.Message = m
					return e
				}
			}
		}
		e.Message = cut(string(trimmed))
	case trimmed[0] == '<':
		root, err := xmldoc.Parse(trimmed, "DataHub's error", xmldoc.Limits{MaxBytes: maxErrorBody, MaxElements: 10000})
		if err == nil && strings.EqualFold(root.Tag, "error") {
			fillXML(e, root)
			return e
		}
		e.Message = cut(string(trimmed))
	default:
		e.Message = cut(string(trimmed))
	}
	return e
}

// ci looks a key up case-insensitively.
func ci(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	}
	return ""
}

func fillJSON(e *APIError, m map[string]any) {
	e.Code, e.Message, e.Target = str(ci(m, "code")), str(ci(m, "message")), str(ci(m, "target"))
	if inner, ok := ci(m, "innererror").(map[string]any); ok {
		e.Inner = str(ci(inner, "code"))
	}
	var list []any
	switch d := ci(m, "details").(type) {
	case []any:
		list = d
	case map[string]any:
		list, _ = ci(d, "errors").([]any)
	}
	for _, item := range list {
		if im, ok := item.(map[string]any); ok {
			var sub APIError
			fillJSON(&sub, im)
			e.Details = append(e.Details, sub)
		}
	}
}

// fillXML reads the XML shape of an error: <Error><Code/><Message/><Target/><InnerError>
// <Code/></InnerError><Details><Error>...</Error>...</Details></Error>, names in any case.
func fillXML(e *APIError, n *etree.Element) {
	for _, k := range n.ChildElements() {
		text := strings.TrimSpace(k.Text())
		switch strings.ToLower(k.Tag) {
		case "code":
			e.Code = text
		case "message":
			e.Message = text
		case "target":
			e.Target = text
		case "innererror":
			for _, ik := range k.ChildElements() {
				if strings.EqualFold(ik.Tag, "code") {
					e.Inner = strings.TrimSpace(ik.Text())
				}
			}
		case "details":
			for _, dk := range k.ChildElements() {
				if strings.EqualFold(dk.Tag, "error") {
					var sub APIError
					fillXML(&sub, dk)
					e.Details = append(e.Details, sub)
				}
			}
		}
	}
}

func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
