package auth

import (
	"fmt"
	"net/http"
	"strconv"
)

// RedirectError is a redirect Custody refused to follow. Every request the sync packages make
// carries a secret, a token or the source's trust (token calls, resource calls, key sets), so
// none follows a redirect: a custodian that moved is configured again by its user, and a
// hostile or compromised server cannot send the credentials elsewhere.
type RedirectError struct {
	// Status is the redirect's HTTP status (301, 302, 303, 307 or 308).
	Status int
	// From is the origin the request went to; To is the origin the answer pointed at (only
	// the origin: the rest of the Location may hold anything).
	From, To string
}

// Error names the status and both origins, never the URL's path, query or the credentials.
func (e *RedirectError) Error() string {
	status := strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		status += " " + t
	}
	where := "to " + e.To
	if e.To == e.From {
		where = "elsewhere on " + e.To
	}
	return fmt.Sprintf("the server answered %s, redirecting %s; Custody never follows a redirect with credentials or a token", status, where)
}

// Unwrap makes a redirect to another origin an [ErrForeignOrigin] too.
func (e *RedirectError) Unwrap() error {
	if e.To != e.From {
		return ErrForeignOrigin
	}
	return nil
}

// refuseRedirect is the CheckRedirect of every client of this package: it refuses the first
// redirect with a [RedirectError]. The redirect's body has been read and closed by the time
// the client returns.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	e := &RedirectError{}
	if req.Response != nil {
		e.Status = req.Response.StatusCode
	}
	if len(via) > 0 {
		e.From, _ = originOf(via[0].URL)
	}
	to, err := originOf(req.URL)
	if err != nil {
		to = "an address that is not an http(s) URL"
	}
	e.To = to
	return e
}

// Harden returns a copy of c (http.DefaultClient when nil) that never follows a redirect and
// whose every request has the timeouts of [Timeouts] (through the guard NewHTTPClient puts in
// front of its transport; any other transport gets the default guard). Drivers and packages
// that are handed a client to send a secret, a token or a key-set request with go through it.
func Harden(c *http.Client) *http.Client {
	if c == nil {
		c = defaultClient()
	}
	h := *c
	h.CheckRedirect = refuseRedirect
	h.Transport = guarded(c.Transport)
	return &h
}
