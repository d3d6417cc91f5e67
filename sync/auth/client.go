package auth

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"custody/sync/redact"
	"custody/sync/syncerr"
)

// ErrForeignOrigin is returned, wrapped, for a request to an origin other than the one a
// token belongs to. The request is not sent.
var ErrForeignOrigin = errors.New("refused to send the access token to an origin other than the configured one")

// Origin returns the origin (scheme://host:port, lower case, with the port always written) of
// an absolute http or https URL.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("origin of %q: %w", raw, err)
	}
	return originOf(u)
}

func originOf(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("origin of %q: not an http(s) URL", u.Redacted())
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("origin of %q: no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// Transport is an http.RoundTripper that adds a bearer token to requests for one origin and
// refuses every other, and every request whose path steps outside itself ([ErrPathEscapes]). On a 401 answer it drops the token, requests a new one and retries
// once, when the request's body can be sent again.
type Transport struct {
	// Base sends the requests: the source's TLS transport.
	Base http.RoundTripper
	// Tokens gives the token.
	Tokens Tokens
	// Origin is the only origin the token is sent to, as returned by [Origin].
	Origin string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	o, err := originOf(req.URL)
	if err != nil || o != t.Origin {
		closeBody(req)
		return nil, syncerr.E(syncerr.Config, req.Method+" "+req.URL.Redacted(),
			fmt.Errorf("%w (configured %s)", ErrForeignOrigin, t.Origin))
	}
	if _, err := decodedPath(req.URL); err != nil {
		closeBody(req)
		return nil, syncerr.E(syncerr.Config, req.Method+" "+req.URL.Redacted(), fmt.Errorf("refused to send the access token: %w", err))
	}
	tok, err := t.Tokens.Token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// The token sent is remembered in the redact.Set of the request's context, so that an
	// answer echoing it is redacted wherever it is quoted, whichever run got the token.
	redact.Remember(req.Context(), tok.AccessToken)
	resp, err := t.send(req, tok.Type()+" "+tok.AccessToken, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // cannot replay the body: the caller sees the 401
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.Tokens.Invalidate(tok)
	tok, err = t.Tokens.Token(req.Context())
	if err != nil {
		return nil, err
	}
	redact.Remember(req.Context(), tok.AccessToken)
	return t.send(req, tok.Type()+" "+tok.AccessToken, true)
}

func (t *Transport) send(req *http.Request, authz string, again bool) (*http.Response, error) {
	r := req.Clone(req.Context()) // shares req.Body, which the base transport closes
	if again && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("%s %s: replay body: %w", req.Method, req.URL.Redacted(), err)
		}
		r.Body = body
	}
	r.Header.Set("Authorization", authz)
	base := t.Base
	if base == nil {
		base = defaultClient().Transport
	}
	return base.RoundTrip(r)
}

// NewClient returns a client that sends requests through base's transport with the bearer
// token of tokens added, for baseURL's origin only; requests to any other origin fail with
// [ErrForeignOrigin] and are not sent. Whatever base's redirect policy, the client follows no
// redirect (a [RedirectError] names it), and its requests have the timeouts of [Harden].
func NewClient(base *http.Client, tokens Tokens, baseURL string) (*http.Client, error) {
	origin, err := Origin(baseURL)
	if err != nil {
		return nil, err
	}
	c := Harden(base)
	c.Transport = &Transport{Base: c.Transport, Tokens: tokens, Origin: origin}
	return c, nil
}

// closeBody closes a request body the transport will not send, as a RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// ErrPathEscapes is returned, wrapped, for a URL whose path, once percent-decoded (repeatedly,
// as a server that decodes twice would), holds a "." or ".." segment, a backslash, an encoded
// slash or a control byte: ways to step outside the path a token was meant for. No custodian
// names such a URL; the request is not sent.
var ErrPathEscapes = errors.New("the URL's path steps outside its base (dot segments or encoded separators)")

// maxDecode is how many rounds of percent-decoding a path gets before it must be stable.
const maxDecode = 4

// decodedPath returns u's path fully percent-decoded, or ErrPathEscapes when it holds anything
// that could step outside a base path.
func decodedPath(u *url.URL) (string, error) {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	for round := 0; ; round++ {
		if round == maxDecode {
			return "", fmt.Errorf("%w: still percent-encoded after %d rounds of decoding", ErrPathEscapes, maxDecode)
		}
		if strings.Contains(strings.ToLower(p), "%2f") || strings.Contains(strings.ToLower(p), "%5c") {
			return "", fmt.Errorf("%w: an encoded slash", ErrPathEscapes)
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrPathEscapes, err)
		}
		if d == p {
			break
		}
		p = d
	}
	if strings.ContainsAny(p, "\\") {
		return "", fmt.Errorf("%w: a backslash", ErrPathEscapes)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: a control byte", ErrPathEscapes)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: a %q segment", ErrPathEscapes, seg)
		}
	}
	return p, nil
}

// Under reports, as nil, that uri lies under base: the same origin, no user info, and a
// decoded path (see [ErrPathEscapes]) within base's path. Drivers check every URI a server
// names (a notification, a link) with it before sending a token there.
func Under(base, uri string) error {
	b, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.User != nil {
		return errors.New("the URL carries user information")
	}
	ob, err := originOf(b)
	if err != nil {
		return err
	}
	if ou, err := originOf(u); err != nil || ou != ob {
		return fmt.Errorf("%w (configured %s)", ErrForeignOrigin, ob)
	}
	bp, err := decodedPath(b)
	if err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	up, err := decodedPath(u)
	if err != nil {
		return err
	}
	bp = strings.TrimSuffix(bp, "/") + "/"
	if !strings.HasPrefix(up, bp) {
		return fmt.Errorf("the path is not under the base path %s", bp)
	}
	return nil
}
