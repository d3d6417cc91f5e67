package espi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"custody/sync/auth"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Window is an optional published-min/published-max filter of a request (ESPI function
// block 37). Zero times are left out.
type Window struct {
	Min, Max time.Time
}

// Client is an ESPI Data Custodian client for one source: an authorised mutual-TLS client
// whose token goes to the base URL's origin only.
type Client struct {
	// Base is the resource root, such as https://api.pge.com/GreenButtonConnect/espi/1_1/resource.
	Base *url.URL
	// HTTP is the authorised client (see auth.NewClient).
	HTTP *http.Client
	// Tokens is the client's token source.
	Tokens auth.Tokens
	// IdleTimeout ends a download whose body stalls this long; default 2 minutes.
	IdleTimeout time.Duration
}

// Resolve returns the absolute URL of a path under the base URL (such as "Batch/Bulk/1").
func (c *Client) Resolve(rel string) string {
	return strings.TrimSuffix(c.Base.String(), "/") + "/" + strings.TrimPrefix(rel, "/")
}

// Under reports whether uri lies under the base URL: the same origin and, once
// percent-decoded and checked for dot segments (auth.Under), a path within the base path.
// Only such URIs ever get the token.
func (c *Client) Under(uri string) bool {
	return auth.Under(c.Base.String(), uri) == nil
}

// Response is an answer being read.
type Response struct {
	Status int
	Header http.Header
	// Body is the answer's body; it stops with an error after the idle timeout.
	Body io.ReadCloser
	URL  string
}

// Get requests uri (absolute, under the base URL) with Accept: application/atom+xml and the
// window's published-min/max. Answers 200, 202 and 204 are returned for the caller to read
// (and close); any other answer is a classified error: 401/403 mean the authorisation expired
// or was revoked (the authorised client has already tried a new token), 404 that the
// custodian does not know the resource, 429/503 carry the Retry-After.
func (c *Client) Get(ctx context.Context, uri string, w Window) (*Response, error) {
	op := "GET " + c.rel(uri)
	u, err := url.Parse(uri)
	if err != nil {
		return nil, syncerr.Errorf(syncerr.Config, op, "not a URL: %v", err)
	}
	q := u.Query()
	if !w.Min.IsZero() {
		q.Set("published-min", w.Min.UTC().Format(time.RFC3339))
	}
	if !w.Max.IsZero() {
		q.Set("published-max", w.Max.UTC().Format(time.RFC3339))
	}
	if !w.Min.IsZero() || !w.Max.IsZero() {
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, syncerr.Errorf(syncerr.Config, op, "%v", err)
	}
	req.Header.Set("Accept", "application/atom+xml")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		return nil, auth.Classify(op, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		idle := c.IdleTimeout
		if idle <= 0 {
			idle = 2 * time.Minute
		}
		return &Response{Status: resp.StatusCode, Header: resp.Header, URL: u.String(),
			Body: newIdleBody(resp.Body, idle, cancel)}, nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 4*redact.DefaultSnippet))
	resp.Body.Close()
	cancel()
	// The answer may echo the token the request carried (or any other of the run's): quoted
	// without any of them.
	return nil, statusError(op, resp, redact.Snippet(snippet, 160, redact.Secrets(ctx)...))
}

// HintReauthorise is the advice for a custodian that no longer accepts the authorisation.
const HintReauthorise = "Authorisation expired or revoked — reauthorise at the utility (for PG&E: Share My Data), then sync again."

func statusError(op string, resp *http.Response, snippet string) error {
	se := &auth.StatusError{Status: resp.StatusCode, Description: snippet}
	var e *syncerr.Error
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("authorisation expired or revoked — reauthorise at the utility: %w", se))
		e.Hint = HintReauthorise
	case s == http.StatusNotFound:
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("the custodian does not know this resource: %w", se))
		e.Hint = "The custodian does not know this resource: check the bulk id or subscription id and the base URL."
	case s == http.StatusTooManyRequests || s >= 500:
		e = syncerr.E(syncerr.Server, op, se)
		e.RetryAfter = auth.RetryAfter(resp.Header, time.Now())
		wait := auth.WaitText(resp.Header, time.Now())
		switch s {
		case http.StatusTooManyRequests:
			e.Hint = "The custodian asked Custody to slow down (too many requests); Custody will retry by itself " + wait + "."
		case http.StatusServiceUnavailable:
			e.Hint = "The custodian is unavailable for now; Custody will retry by itself " + wait + "."
		}
	case s == http.StatusBadRequest:
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("the custodian did not accept the request: %w", se))
		if strings.Contains(strings.ToLower(snippet), "certificate") {
			e.Kind, e.Hint = syncerr.Auth, auth.HintClientCert
		}
	default:
		e = syncerr.E(syncerr.Server, op, se)
	}
	return e
}

func (c *Client) rel(uri string) string {
	s := strings.TrimPrefix(uri, strings.TrimSuffix(c.Base.String(), "/")+"/")
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return s
}

// idleBody cancels its request when no byte arrives for the idle time.
type idleBody struct {
	rc     io.ReadCloser
	idle   time.Duration
	cancel context.CancelFunc
	mu     sync.Mutex
	timer  *time.Timer
	fired  bool
}

func newIdleBody(rc io.ReadCloser, idle time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{rc: rc, idle: idle, cancel: cancel}
	b.timer = time.AfterFunc(idle, func() {
		b.mu.Lock()
		b.fired = true
		b.mu.Unlock()
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.mu.Lock()
		fired := b.fired
		b.mu.Unlock()
		if fired {
			err = fmt.Errorf("no data for %s: %w", b.idle, context.DeadlineExceeded)
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// errTooLarge is returned by a limitedReader past its limit.
var errTooLarge = errors.New("answer larger than the size limit")

// limitedReader fails, rather than stopping quietly, once more than n bytes are read, and
// remembers the first read error.
type limitedReader struct {
	r    io.Reader
	n    int64
	read int64
	err  error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	l.read += int64(n)
	if l.n < 0 {
		err = errTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		l.err = err
	}
	return n, err
}
