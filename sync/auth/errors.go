package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Hints for the failures a user can fix themselves.
const (
	HintServerCert = "The custodian's server certificate is not trusted: if it uses a private CA, give that CA " +
		"with --ca; otherwise check the base URL and token URL."
	HintClientCert = "The custodian refused the TLS handshake: check that --cert and --key are the client " +
		"certificate registered with the custodian and that it has not expired."
	HintWrongSecret = "The custodian rejected the client id or secret: check the client id, and store the " +
		"secret again with `custody sources remove` and `custody sources add ... --secret-stdin`."
	HintNotTLS = "The address does not speak TLS: check that the URL is the custodian's https address and port."
)

// Classify turns a transport error of a request (dial, TLS handshake, timeout) into a
// classified network failure with advice a user can act on. Errors already classified are
// returned as they are.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *syncerr.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return classifyRedirect(op, re)
	}
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return syncerr.E(syncerr.Server, op, err)
	}
	e := syncerr.E(syncerr.Network, op, err)
	var stall *StallError
	var ne net.Error
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var oe *net.OpError
	switch {
	case errors.As(err, &host):
		e.Hint = "The custodian's certificate is for another host name: check the URL."
	case errors.As(err, &invalid):
		e.Hint = "The custodian's certificate is not valid (expired or not yet valid): check your computer's clock, or tell the custodian."
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		e.Hint = HintServerCert
	case errors.As(err, &oe) && oe.Op == "remote error":
		e.Hint = HintClientCert
	case errors.As(err, &rec):
		e.Hint = HintNotTLS
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		// With TLS 1.3 the server checks the client certificate after the client has finished
		// its side of the handshake; a server that refuses it may close the connection before
		// its alert is read, and the client then sees only a reset or a broken pipe.
		e.Hint = HintClientCert + " (The connection was closed abruptly, which is how many servers refuse a client certificate.)"
	case errors.As(err, &stall):
		e.Hint = "The custodian stopped sending before its answer was complete; nothing of it was kept. Custody will retry by itself."
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		e.Hint = "The custodian did not answer in time. Custody will retry by itself."
	}
	return e
}

// classifyRedirect is the failure of a refused redirect.
func classifyRedirect(op string, re *RedirectError) error {
	e := syncerr.E(syncerr.Config, op, re)
	if re.To != re.From {
		e.Hint = "The server redirected to " + re.To + ", and Custody never sends a secret or token through a redirect. " +
			"If the custodian really moved, check its documentation and change the source's URL; otherwise tell the custodian."
	} else {
		e.Hint = "The server redirected to another address; Custody never sends a secret or token through a redirect. " +
			"Check the URL in the source's settings against the custodian's documentation."
	}
	return e
}

// StatusError is an HTTP answer that was not a success.
type StatusError struct {
	Status int
	// Code and Description are the OAuth error fields, or the first words of the body.
	Code, Description string
}

// Error says the status and, when the answer gave them, the OAuth error code and description.
func (e *StatusError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date), relative to now, capped at
// [syncerr.MaxRetryAfter] (the engine waits no longer). It returns 0 when the header is absent
// or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return min(AskedRetryAfter(h, now), syncerr.MaxRetryAfter)
}

// WaitText says, for a user, when Custody will try again after a Retry-After header: "after
// the 2m0s it asked for", or, for a longer wait than the engine allows, "after 24h0m0s (it
// asked for 277h0m0s; Custody waits at most 24h0m0s)"; "later" without one.
func WaitText(h http.Header, now time.Time) string {
	asked := AskedRetryAfter(h, now)
	switch {
	case asked <= 0:
		return "later"
	case asked > syncerr.MaxRetryAfter:
		return fmt.Sprintf("after %s (it asked for %s; Custody waits at most %s)", syncerr.MaxRetryAfter, asked, syncerr.MaxRetryAfter)
	}
	return "after the " + asked.String() + " it asked for"
}

// AskedRetryAfter is the wait a Retry-After header asks for, uncapped; 0 when absent or
// unreadable. Use RetryAfter for the wait Custody will keep.
func AskedRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	const most = 366 * 24 * 3600 // a year, in seconds: no overflow, and longer than any cap
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, most)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// classifyTokenStatus classifies a token endpoint's failed answer.
func classifyTokenStatus(op string, status int, h http.Header, code, desc string) error {
	se := &StatusError{Status: status, Code: code, Description: desc}
	lc := strings.ToLower(code + " " + desc)
	var e *syncerr.Error
	switch {
	case code == "invalid_client" || code == "unauthorized_client" || status == http.StatusUnauthorized:
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("wrong client id or secret: %w", se))
		e.Hint = HintWrongSecret
	case strings.Contains(lc, "certificate"):
		// PG&E's gateway answers "400 Invalid Certificate" without the registered client certificate.
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("the client certificate was refused: %w", se))
		e.Hint = HintClientCert
	case code == "invalid_scope":
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("the custodian refused the requested scope: %w", se))
		e.Hint = "The custodian refused the scope: check --scope against what your registration grants."
	case code == "invalid_grant" || status == http.StatusForbidden:
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("the custodian refused to issue a token: %w", se))
		e.Hint = "The custodian refused to issue a token: check that the registration is active at the custodian."
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("no token endpoint at that address: %w", se))
		e.Hint = "The token URL is wrong: check --token-url."
	case status == http.StatusTooManyRequests || status >= 500:
		e = syncerr.E(syncerr.Server, op, se)
		e.RetryAfter = RetryAfter(h, time.Now())
	case status == http.StatusBadRequest:
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("the custodian did not accept the token request: %w", se))
		e.Hint = "The custodian did not accept the token request: check the token URL and the client id."
	default:
		e = syncerr.E(syncerr.Server, op, se)
	}
	return e
}

// maxQuote is how much of a token endpoint's answer an error quotes.
const maxQuote = 200

// clean shortens text from the token endpoint for an error message (on one line, without
// control bytes) and removes the secret and every token and assertion of ctx's set, in every
// encoding it was sent in, should the server echo it.
func (s *Source) clean(ctx context.Context, text string) string {
	return redact.Snippet([]byte(text), maxQuote, redact.Secrets(ctx, s.creds.ClientSecret)...)
}
