package obevents

// The token source and TLS clients here are small on purpose: package sync/auth (shared with
// the Green Button driver) is meant to replace them once it has landed.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"custody/sync/syncerr"
)

// TLSFiles names the PEM files of a source's TLS settings.
type TLSFiles struct {
	CertFile, KeyFile string // client certificate and key for mutual TLS; both or neither
	CAFile            string // an extra CA to trust, beside the system roots
}

// NewTLSClient returns an HTTP client that verifies servers against the system roots plus the
// given CA and, when configured, presents the client certificate. It never disables
// verification, and it follows no redirects (a redirect could carry a request elsewhere).
func NewTLSClient(f TLSFiles) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA %s: no PEM certificate in it", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("client certificate and key go together")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// Origin returns scheme://host[:port] of a URL, lower-cased.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// tokenSource is a client-credentials token source that reuses a token until shortly before
// it expires and can be told that the bank no longer accepts it.
type tokenSource struct {
	cfg    clientcredentials.Config
	client *http.Client
	mu     sync.Mutex
	tok    *oauth2.Token
}

func newTokenSource(tokenURL, clientID, secret, scope string, client *http.Client) *tokenSource {
	var scopes []string
	if scope != "" {
		scopes = strings.Fields(scope)
	}
	return &tokenSource{
		cfg: clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: tokenURL,
			Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader},
		client: client,
	}
}

// Token returns a valid token, fetching one when needed.
func (t *tokenSource) Token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.Valid() {
		return t.tok, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.client)
	tok, err := t.cfg.Token(ctx)
	if err != nil {
		return nil, classifyTokenErr(err)
	}
	t.tok = tok
	return tok, nil
}

// invalidate forgets tok, so that the next call fetches a new one.
func (t *tokenSource) invalidate(tok *oauth2.Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == tok {
		t.tok = nil
	}
}

// bearerTransport adds the token to requests for the configured origin only; a request for any
// other origin is refused before it leaves, so the token never goes anywhere else. A 401 is
// retried once with a fresh token.
type bearerTransport struct {
	base   http.RoundTripper
	tokens *tokenSource
	origin string
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o, err := Origin(req.URL.String())
	if err != nil || o != b.origin {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, syncerr.Errorf(syncerr.Config, req.Method+" "+req.URL.Path,
			"refusing to send the bank's token to %s: only %s is configured", req.URL.Host, b.origin)
	}
	tok, err := b.tokens.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := b.base.RoundTrip(r2)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.GetBody == nil {
		return resp, err
	}
	// The token may have been revoked early: try once more with a new one.
	resp.Body.Close()
	b.tokens.invalidate(tok)
	if tok, err = b.tokens.Token(req.Context()); err != nil {
		return nil, err
	}
	r3 := req.Clone(req.Context())
	if r3.Body, err = req.GetBody(); err != nil {
		return nil, err
	}
	r3.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return b.base.RoundTrip(r3)
}
