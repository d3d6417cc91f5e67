package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"custody/sync/logkey"
	"custody/sync/redact"
	"custody/sync/syncerr"
	"custody/sync/xmldoc"
)

// Credentials are a client's OAuth 2.0 client-credentials settings.
type Credentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Scopes are requested when set (DataHub: "{app}/.default"; Open Banking: "eventpolling").
	Scopes []string
	// EndpointParams are further form parameters of the token request.
	EndpointParams url.Values
	// AuthStyle says how the standard source sends the client id and secret; the zero value
	// tries the Authorization header first, then the form. The ESPI source always uses HTTP
	// Basic, as PG&E and the GBA reference implementation expect.
	AuthStyle oauth2.AuthStyle
	// HTTPClient makes the token request: the source's mutual-TLS client where the custodian
	// wants a client certificate on the token call too (PG&E). Nil means the system's trust.
	// Whatever client is given, the token request follows no redirect and has the timeouts
	// of [Harden].
	HTTPClient *http.Client
	// Logger, when set, gets one debug line per token request (never the token or secret).
	Logger *slog.Logger
	// FreshParams, when set, gives form parameters that must be new for every token request,
	// such as an RFC 7523 client assertion (its jti is single use); they are added to
	// EndpointParams.
	FreshParams func() (url.Values, error)
}

// Tokens is a cached token source an authorised client draws on.
type Tokens interface {
	// Token returns a valid token, from the cache or newly requested.
	Token(ctx context.Context) (*oauth2.Token, error)
	// Invalidate drops tok from the cache, when it is still the cached one.
	Invalidate(tok *oauth2.Token)
}

// maxTokenBody bounds the token endpoint's answer.
const maxTokenBody = 64 << 10

// Source is a client-credentials token source that caches its token until shortly before it
// expires. It is safe for concurrent use; concurrent callers share one token request.
type Source struct {
	creds Credentials
	fetch func(ctx context.Context) (*oauth2.Token, error)
	// lock is a one-slot semaphore, so waiting for another caller's request honours ctx.
	lock      chan struct{}
	tok       *oauth2.Token
	refreshAt time.Time
	hc        *http.Client // Harden(creds.HTTPClient), made once
	hcOnce    sync.Once
}

// NewClientCredentials returns a token source for a standard OAuth 2.0 token endpoint that
// answers in JSON (Open Banking, Entra ID for DataHub), built on x/oauth2's clientcredentials.
func NewClientCredentials(c Credentials) *Source {
	cc := &clientcredentials.Config{
		ClientID:       c.ClientID,
		ClientSecret:   c.ClientSecret,
		TokenURL:       c.TokenURL,
		Scopes:         c.Scopes,
		EndpointParams: c.EndpointParams,
		AuthStyle:      c.AuthStyle,
	}
	s := &Source{creds: c, lock: make(chan struct{}, 1)}
	s.fetch = func(ctx context.Context) (*oauth2.Token, error) {
		cfg := *cc
		if c.FreshParams != nil {
			fresh, err := c.FreshParams()
			if err != nil {
				return nil, syncerr.E(syncerr.Config, "token", err)
			}
			cfg.EndpointParams = url.Values{}
			for k, v := range c.EndpointParams {
				cfg.EndpointParams[k] = v
			}
			for k, v := range fresh {
				cfg.EndpointParams[k] = v
			}
			// A client assertion is a bearer credential until it expires: a token endpoint
			// that quotes the request must not have it quoted further.
			redact.Remember(ctx, fresh["client_assertion"]...)
		}
		tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.httpClient()))
		if err != nil {
			return nil, s.classifyStd(ctx, err)
		}
		return tok, nil
	}
	return s
}

// NewESPI returns a token source for an ESPI Data Custodian's client-credentials token
// endpoint: HTTP Basic client authentication, and an answer in JSON or XML (detected from the
// content) whose token is named client_access_token (PG&E) or access_token (GBA).
func NewESPI(c Credentials) *Source {
	s := &Source{creds: c, lock: make(chan struct{}, 1)}
	s.fetch = s.fetchESPI
	return s
}

// httpClient is the client of the token requests: the configured one, hardened.
func (s *Source) httpClient() *http.Client {
	s.hcOnce.Do(func() { s.hc = Harden(s.creds.HTTPClient) })
	return s.hc
}

// redact removes the client secret, in every encoding the request carried it in, the client
// id's Basic credentials, and every token and assertion ctx's set holds, from an error.
func (s *Source) redact(ctx context.Context, err error) error {
	return redact.Err(err, redact.Secrets(ctx, s.creds.ClientSecret)...)
}

// Token returns the cached token, or requests a new one when there is none or it expires
// within a minute (or within a quarter of its lifetime, for short-lived tokens). The token
// returned, and the refresh and id tokens of its answer, are remembered in ctx's redact.Set,
// so that a server echoing one of them is not quoted with it.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	// Not guarded by a caller: still keep what this request sends out of its own error.
	ctx, _ = redact.Ensure(ctx)
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.lock }()
	now := time.Now()
	if s.tok != nil && now.Before(s.refreshAt) {
		RememberToken(ctx, s.tok)
		return s.tok, nil
	}
	s.tok = nil
	if s.creds.Logger != nil {
		s.creds.Logger.Debug("token request", logkey.Op, "token", logkey.URLPath, urlPath(s.creds.TokenURL))
	}
	tok, err := s.fetch(WithBodyLimit(ctx, maxTokenBody))
	if err != nil {
		return nil, s.redact(ctx, err)
	}
	RememberToken(ctx, tok)
	s.tok, s.refreshAt = tok, refreshTime(now, tok)
	return tok, nil
}

// RememberToken adds a token answer's access, refresh and id tokens to ctx's redact.Set, so
// that nothing the run says afterwards shows them (for flows that fetch tokens themselves).
func RememberToken(ctx context.Context, tok *oauth2.Token) {
	if tok == nil {
		return
	}
	redact.Remember(ctx, tok.AccessToken, tok.RefreshToken)
	if id, ok := tok.Extra("id_token").(string); ok {
		redact.Remember(ctx, id)
	}
}

// refreshTime is when a token fetched at now should be replaced.
func refreshTime(now time.Time, tok *oauth2.Token) time.Time {
	if tok.Expiry.IsZero() {
		// No lifetime given: use it for an hour, or until the custodian rejects it.
		return now.Add(time.Hour)
	}
	life := tok.Expiry.Sub(now)
	margin := time.Minute
	if life/4 < margin {
		margin = life / 4
	}
	return tok.Expiry.Add(-margin)
}

// Invalidate drops tok from the cache if it is still the cached token, so the next Token call
// requests a new one.
func (s *Source) Invalidate(tok *oauth2.Token) {
	s.lock <- struct{}{}
	defer func() { <-s.lock }()
	if tok == nil || (s.tok != nil && s.tok.AccessToken == tok.AccessToken) {
		s.tok = nil
	}
}

// TokenSource adapts the source to oauth2.TokenSource, using ctx for its requests.
func (s *Source) TokenSource(ctx context.Context) oauth2.TokenSource {
	return tokenSourceFunc(func() (*oauth2.Token, error) { return s.Token(ctx) })
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// classifyStd classifies an error of the clientcredentials package.
func (s *Source) classifyStd(ctx context.Context, err error) error {
	const op = "token"
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" && desc == "" {
			desc = string(re.Body)
		}
		return classifyTokenStatus(op, re.Response.StatusCode, re.Response.Header, s.clean(ctx, code), s.clean(ctx, desc))
	}
	if ce := Classify(op, err); syncerr.KindOf(ce) != syncerr.Unknown {
		return ce
	}
	// A readable status but an unreadable answer ("cannot parse json", "missing access_token").
	return syncerr.Errorf(syncerr.Server, op, "unreadable token answer: %s", s.clean(ctx, err.Error()))
}

func (s *Source) fetchESPI(ctx context.Context) (*oauth2.Token, error) {
	const op = "token"
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.creds.Scopes) > 0 {
		form.Set("scope", strings.Join(s.creds.Scopes, " "))
	}
	for k, v := range s.creds.EndpointParams {
		if k != "grant_type" {
			form[k] = v
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.creds.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, syncerr.Errorf(syncerr.Config, op, "token URL: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json, application/xml;q=0.9, text/xml;q=0.8")
	// PG&E's own examples send the id and secret as they are, not form-encoded first.
	req.SetBasicAuth(s.creds.ClientID, s.creds.ClientSecret)
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return nil, Classify(op, err)
	}
	defer resp.Body.Close()
	body, err := ReadBody(resp.Body, maxTokenBody, "the token answer")
	var tl *TooLargeError
	switch {
	case errors.As(err, &tl):
		return nil, syncerr.E(syncerr.Server, op, err)
	case err != nil:
		return nil, Classify(op, fmt.Errorf("read token answer: %w", err))
	}
	fields, perr := parseTokenAnswer(resp.Header.Get("Content-Type"), body)
	// The tokens of the answer, good or failed, are as secret as the one kept.
	redact.Remember(ctx, fields["access_token"], fields["client_access_token"], fields["refresh_token"], fields["id_token"])
	if resp.StatusCode < 200 || resp.StatusCode > 299 || fields["error"] != "" {
		code, desc := fields["error"], fields["error_description"]
		if perr != nil || (code == "" && desc == "") {
			desc = string(body)
		}
		return nil, classifyTokenStatus(op, resp.StatusCode, resp.Header, s.clean(ctx, code), s.clean(ctx, desc))
	}
	if perr != nil {
		return nil, syncerr.Errorf(syncerr.Server, op, "unreadable token answer: %v", perr)
	}
	access := fields["client_access_token"]
	if access == "" {
		access = fields["access_token"]
	}
	if access == "" {
		return nil, syncerr.Errorf(syncerr.Server, op, "the token answer has neither client_access_token nor access_token")
	}
	tok := &oauth2.Token{AccessToken: access, TokenType: fields["token_type"]}
	if tok.TokenType == "" || strings.EqualFold(tok.TokenType, "bearer") {
		tok.TokenType = "Bearer"
	}
	if v := fields["expires_in"]; v != "" {
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || n < 0 {
			return nil, syncerr.Errorf(syncerr.Server, op, "token answer: expires_in %q is not a number of seconds", s.clean(ctx, v))
		}
		if n > 0 {
			tok.ExpiresIn = int64(n)
			tok.Expiry = time.Now().Add(time.Duration(n * float64(time.Second)))
		}
	}
	extra := map[string]any{}
	for k, v := range fields {
		if k != "client_access_token" && k != "access_token" && k != "refresh_token" {
			extra[k] = v
		}
	}
	return tok.WithExtra(extra), nil
}

// parseTokenAnswer reads the flat fields of a token answer in JSON or XML, choosing by the
// first non-blank byte and, failing that, by the Content-Type.
func parseTokenAnswer(contentType string, body []byte) (map[string]string, error) {
	trimmed := bytes.TrimSpace(body)
	isXML := false
	switch {
	case len(trimmed) == 0:
		return map[string]string{}, errors.New("empty answer")
	case trimmed[0] == '<':
		isXML = true
	case trimmed[0] == '{':
	default:
		mt, _, _ := mime.ParseMediaType(contentType)
		isXML = strings.HasSuffix(mt, "xml")
	}
	if isXML {
		return parseTokenXML(trimmed)
	}
	var raw map[string]any
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return map[string]string{}, fmt.Errorf("neither JSON nor XML: %w", err)
	}
	out := map[string]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		}
	}
	return out, nil
}

// parseTokenXML collects the text of every leaf element by local name, whatever its namespace
// or nesting (PG&E's answer puts the fields in its own token namespace); the first of a name
// wins. The answer is a small document (at most maxTokenBody), read whole with etree.
func parseTokenXML(body []byte) (map[string]string, error) {
	out := map[string]string{}
	root, err := xmldoc.Parse(body, "XML", xmldoc.Limits{MaxBytes: maxTokenBody, MaxElements: 1000})
	if err != nil {
		return out, err
	}
	xmldoc.Walk(root, func(e *etree.Element) {
		if len(e.ChildElements()) > 0 {
			return
		}
		if v := strings.TrimSpace(e.Text()); v != "" {
			if _, seen := out[e.Tag]; !seen {
				out[e.Tag] = v
			}
		}
	})
	if len(out) == 0 {
		return out, errors.New("XML answer without fields")
	}
	return out, nil
}
