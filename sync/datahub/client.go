package datahub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"custody/sync/auth"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// DefaultMaxBody is the largest document a peek may return before it is refused. DataHub's
// bundles reach tens of MB (a 2000-transaction PT15M bundle is about 50 MB in ebIX).
const DefaultMaxBody = 256 << 20

// ErrUnknownMessage is returned by Dequeue when DataHub answers 400: the id is unknown, was
// never peeked, or is too long.
var ErrUnknownMessage = errors.New("message id unknown to DataHub")

// Client talks to the CIM B2B API of one DataHub actor.
type Client struct {
	// BaseURL is the host root, such as https://preprod.b2b.datahub3.dk; /v1.0/cim is appended.
	BaseURL string
	// HTTP is the authorised client (sync/auth): it carries the source's TLS trust and adds
	// the bearer token for BaseURL's origin only.
	HTTP *http.Client
	// Token, when set, fetches (or finds cached) the token without a request to DataHub;
	// Test uses it to tell a credentials problem from a DataHub one.
	Token func(ctx context.Context) error
	// Format is "xml" or "json": the Content-Type and Accept of every call.
	Format string
	// MaxBody limits a peeked document; 0 means DefaultMaxBody.
	MaxBody int64
}

// Peeked is a document DataHub returned on a peek. The caller must close Body.
type Peeked struct {
	MessageID   string // the MessageId header
	Correlation string // the CorrelationId header, when API Management added one
	Header      http.Header
	Body        io.ReadCloser // limited to MaxBody; reading past it fails
}

func (c *Client) mediaType() string {
	if c.Format == "json" {
		return "application/json"
	}
	return "application/xml"
}

// endpoint returns the URL of a path under /v1.0/cim/, refusing anything that would leave
// the configured origin.
func (c *Client) endpoint(path string) (*url.URL, error) {
	// The base URL is the host root; forgive one that already ends in /v1.0/cim.
	root := strings.TrimSuffix(strings.TrimSuffix(c.BaseURL, "/"), "/v1.0/cim")
	base, err := url.Parse(root)
	if err != nil || base.Host == "" {
		return nil, syncerr.Errorf(syncerr.Config, "base url", "%q is not a URL", c.BaseURL)
	}
	u, err := url.Parse(base.String() + "/v1.0/cim/" + path)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "url", err)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return nil, syncerr.Errorf(syncerr.Config, "url", "refusing to send the token to %s", u.Host)
	}
	return u, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	op := method + " /v1.0/cim/" + path
	u, err := c.endpoint(path)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	// The backend chooses the format from Content-Type only and answers 415 without it, even
	// on a bodiless GET; the interface note says Accept. Send both, identical.
	req.Header.Set("Content-Type", c.mediaType())
	req.Header.Set("Accept", c.mediaType())
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, auth.Classify(op, err)
	}
	return resp, nil
}

// statusError reads an error answer and classifies it. What it keeps of the answer is
// redacted of every secret and token of ctx's redact.Set: DataHub may echo the token.
func statusError(ctx context.Context, op string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	secrets := redact.Secrets(ctx)
	// Redacted before it is parsed and cut (a cut could leave part of a token), and after
	// (the parser decodes escapes).
	apiErr := ParseAPIError(resp.StatusCode, []byte(redact.String(string(body), secrets...)))
	apiErr.Redact(secrets...)
	kind := syncerr.Server
	hint := ""
	switch code := resp.StatusCode; {
	case code == 401 || code == 403:
		kind = syncerr.Auth
		hint = "DataHub refused the token: check the client id, the secret (it expires after 12 months) and that the actor has the market role for this queue."
	case code == 404:
		kind = syncerr.Config
		hint = "DataHub does not serve this path: check the queue names (timeseries, aggregations) and the base URL."
	case code == 400 || code == 413 || code == 415:
		kind = syncerr.Data
		if strings.HasPrefix(op, "POST") {
			hint = "DataHub refused the request document; the error code and message above say why (00101 id already used, " +
				"00002 sender is not you, 00302 schema, 413 too large, 415 format). Fix the request and send it again with a new id."
		}
	}
	e := syncerr.E(kind, op, apiErr)
	e.Hint = hint
	e.RetryAfter = auth.RetryAfter(resp.Header, time.Now()) // capped at the engine's 24 h
	return e
}

// Peek asks for the oldest document of a queue. It returns nil when the queue is empty (204).
// Peeking again without dequeuing returns the same document.
func (c *Client) Peek(ctx context.Context, queue string) (*Peeked, error) {
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	// The overall deadline of the download scales with the largest document accepted.
	resp, err := c.do(auth.WithBodyLimit(ctx, max), http.MethodGet, url.PathEscape(queue), nil)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		resp.Body.Close()
		return nil, nil
	case http.StatusOK:
		return &Peeked{
			MessageID:   strings.TrimSpace(resp.Header.Get("MessageId")),
			Correlation: strings.TrimSpace(resp.Header.Get("CorrelationId")),
			Header:      resp.Header,
			Body:        &limitedBody{rc: resp.Body, left: max, max: max},
		}, nil
	}
	defer resp.Body.Close()
	return nil, statusError(ctx, "peek "+queue, resp)
}

// Dequeue removes a document from its queue after it has been stored. Dequeuing an id again
// answers 200; an unknown id gives an error that wraps ErrUnknownMessage.
func (c *Client) Dequeue(ctx context.Context, messageID string) error {
	resp, err := c.do(ctx, http.MethodDelete, "dequeue/"+url.PathEscape(messageID), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	err = statusError(ctx, "dequeue "+messageID, resp)
	if resp.StatusCode == http.StatusBadRequest {
		return fmt.Errorf("%w: %w", ErrUnknownMessage, err)
	}
	return err
}

// Ping calls the health endpoint (path on the base URL's host, such as /ping) with the token
// and returns the status of a 2xx answer; any other answer is an error.
func (c *Client) Ping(ctx context.Context, path string) (int, error) {
	op := "GET " + path
	root := strings.TrimSuffix(strings.TrimSuffix(c.BaseURL, "/"), "/v1.0/cim")
	base, err := url.Parse(root)
	if err != nil || base.Host == "" {
		return 0, syncerr.Errorf(syncerr.Config, "base url", "%q is not a URL", c.BaseURL)
	}
	u, err := url.Parse(base.Scheme + "://" + base.Host + path)
	if err != nil || u.Host != base.Host {
		return 0, syncerr.Errorf(syncerr.Config, op, "refusing to send the token elsewhere than %s", base.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, syncerr.E(syncerr.Config, op, err)
	}
	req.Header.Set("Content-Type", c.mediaType())
	req.Header.Set("Accept", c.mediaType())
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, auth.Classify(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, nil
	}
	return resp.StatusCode, statusError(ctx, op, resp)
}

// Send POSTs a request document to the route path (such as requestaggregatedmeasuredata) and
// returns the CorrelationId of the 202. Errors carry the error object's code and message.
func (c *Client) Send(ctx context.Context, path string, doc []byte) (correlation string, status int, err error) {
	resp, err := c.do(ctx, http.MethodPost, path, doc)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.Header.Get("CorrelationId"), resp.StatusCode, nil
	}
	return resp.Header.Get("CorrelationId"), resp.StatusCode, statusError(ctx, "POST "+path, resp)
}

// ErrTooLarge is returned when a document is larger than the client's MaxBody.
var ErrTooLarge = errors.New("document larger than the size limit")

type limitedBody struct {
	rc        io.ReadCloser
	left, max int64
}

// Read reads up to the limit and fails past it.
func (l *limitedBody) Read(b []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: exactly max bytes is fine, more is not.
		var one [1]byte
		if n, _ := l.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, l.max)
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.rc.Read(b)
	l.left -= int64(n)
	return n, err
}

// Close closes the response body.
func (l *limitedBody) Close() error { return l.rc.Close() }
