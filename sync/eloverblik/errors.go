package eloverblik

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"custody/sync/auth"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Hints for what the user can do.
const (
	HintNewToken = "Eloverblik no longer accepts the refresh token: log in on " + TokenPortal +
		" (MitID) → Data sharing (Datadeling) → Create token, and store the new token with " +
		"`custody sources edit NAME --secret-stdin` (or Sources > Edit)."
	HintWrongTokenType = "This is not a refresh token for Eloverblik's customer API (perhaps a third-party token): " +
		"create one on " + TokenPortal + " under Data sharing (Datadeling) → Create token."
	HintUnlinked = "Eloverblik does not let this account read the metering point: link it on " + TokenPortal +
		" (Metering points → Add), or remove it from the source's --metering-point list."
	HintFewerPoints = "Eloverblik refused that many metering points in one call; Custody asks for fewer at a time. " +
		"If it keeps failing, name fewer metering points with --metering-point."
	HintBug = "Eloverblik refused a request Custody made (a period it does not allow); this is a bug in Custody: " +
		"please report it with the error above."
	HintWait = "Eloverblik or DataHub behind it is busy (it allows 2 token calls and 120 calls a minute); Custody waits at least a minute and tries again by itself."
)

// codeAdvice is what each Eloverblik errorCode means for the user: the kind of failure and the
// advice. Codes not listed are server-side failures.
var codeAdvice = map[int]struct {
	kind syncerr.Kind
	hint string
}{
	10001: {syncerr.Data, HintBug},
	10002: {syncerr.Server, HintFewerPoints},
	10004: {syncerr.Server, HintFewerPoints},
	20000: {syncerr.Config, HintUnlinked},
	20001: {syncerr.Config, "The metering point is blocked at Eloverblik: contact your grid company, or remove it from --metering-point."},
	20003: {syncerr.Config, "A metering point id is not 18 digits long: check --metering-point."},
	20004: {syncerr.Config, "A metering point id holds other characters than digits: check --metering-point."},
	20008: {syncerr.Config, "Eloverblik does not know the metering point: check --metering-point."},
	20009: {syncerr.Config, "The metering point is a child metering point: name its parent with --metering-point."},
	20010: {syncerr.Config, HintUnlinked},
	20012: {syncerr.Auth, HintUnlinked},
	20013: {syncerr.Config, "None of the metering points is valid: check --metering-point."},
	30000: {syncerr.Data, HintBug},
	30001: {syncerr.Data, HintBug},
	30002: {syncerr.Data, HintBug + " (Custody never asks for a period that starts and ends on the same day.)"},
	30003: {syncerr.Data, HintBug},
	30004: {syncerr.Data, HintBug},
	30006: {syncerr.Auth, HintUnlinked},
	30010: {syncerr.Config, "The period is not covered by your access to the metering point (data is kept for 5 years and this year)."},
	30012: {syncerr.Server, HintFewerPoints},
	30014: {syncerr.Data, HintBug},
	50000: {syncerr.Auth, HintWrongTokenType},
	50001: {syncerr.Auth, HintNewToken},
	50006: {syncerr.Auth, HintNewToken},
}

// APIError is an error Eloverblik reported: in the envelope's errorCode and errorText (even
// under HTTP 200), in a 400's bare string body ("#30002: ..."), or as the HTTP status alone.
type APIError struct {
	Status int    // the HTTP status
	Code   int    // the errorCode; 0 when the answer gave none
	Text   string // the errorText or the body's first words
	ID     string // the metering point the entry was about, when it was about one
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Eloverblik answered HTTP %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, " with error %d", e.Code)
	}
	if e.Text != "" {
		fmt.Fprintf(&b, " (%s)", e.Text)
	}
	if e.ID != "" {
		fmt.Fprintf(&b, " for metering point %s", e.ID)
	}
	return b.String()
}

// tooManyPoints reports whether the error asks for fewer metering points per call.
func tooManyPoints(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Code == 10002 || ae.Code == 10004 || ae.Code == 30012)
}

// errWait marks a failure worth waiting out (429, 503): the wait is the syncerr.Error's
// RetryAfter.
var errWait = errors.New("wait and try again")

// classify turns an Eloverblik failure into a classified error with advice.
func classify(op string, ae *APIError, header http.Header, now time.Time) *syncerr.Error {
	e := syncerr.E(syncerr.Server, op, ae)
	if a, ok := codeAdvice[ae.Code]; ok {
		e.Kind, e.Hint = a.kind, a.hint
		if tooManyPoints(ae) {
			return e
		}
	}
	switch {
	case ae.Code != 0 && ae.Code != 10000:
		if _, ok := codeAdvice[ae.Code]; ok {
			return e
		}
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		e.Kind, e.Hint = syncerr.Auth, HintNewToken
		return e
	case ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed:
		e.Kind, e.Hint = syncerr.Config, "Eloverblik has no such address: check --base-url (the default is "+DefaultBaseURL+")."
		return e
	}
	if ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable {
		e.Err = fmt.Errorf("%w: %w", ae, errWait)
		e.Hint = HintWait
		e.RetryAfter = max(MinWait, auth.RetryAfter(header, now))
	}
	return e
}

var codeRE = regexp.MustCompile(`^#?\s*(\d{5})\s*:?\s*(.*)$`)

// readError reads an error answer's body: the envelope ({"result":[{errorCode...}]} or
// {"success":false,"errorCode":...}), a bare JSON string "#30002: ...", a ProblemDetails, or
// text. The secrets (the run's tokens, which Eloverblik may echo) are redacted from the body
// before it is read and cut, and from the text read.
func readError(status int, body []byte, secrets ...string) *APIError {
	ae := readErrorText(status, []byte(redact.String(string(body), secrets...)))
	ae.Text = redact.String(ae.Text, secrets...)
	return ae
}

func readErrorText(status int, body []byte) *APIError {
	ae := &APIError{Status: status}
	b := bytes.TrimSpace(body)
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	} else if len(b) > 0 && b[0] == '{' {
		var env struct {
			Result    json.RawMessage `json:"result"`
			Success   *bool           `json:"success"`
			ErrorCode json.RawMessage `json:"errorCode"`
			ErrorText string          `json:"errorText"`
			Title     string          `json:"title"`
			Detail    string          `json:"detail"`
		}
		if json.Unmarshal(b, &env) == nil {
			var entries []entry
			if json.Unmarshal(env.Result, &entries) == nil {
				for _, en := range entries {
					if c := en.code(); c != 0 && c != 10000 {
						ae.Code, ae.Text = c, en.ErrorText
						return ae
					}
				}
			}
			if c := codeOf(env.ErrorCode); c != 0 && c != 10000 {
				ae.Code, ae.Text = c, env.ErrorText
				return ae
			}
			ae.Text = strings.TrimSpace(env.Title + " " + env.Detail)
			return ae
		}
	}
	text := strings.Join(strings.Fields(string(b)), " ")
	if m := codeRE.FindStringSubmatch(text); m != nil {
		ae.Code, _ = strconv.Atoi(m[1])
		text = m[2]
	}
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	ae.Text = text
	return ae
}

// codeOf reads an errorCode sent as a number or as a string.
func codeOf(raw json.RawMessage) int {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, _ := strconv.Atoi(s)
	return n
}
