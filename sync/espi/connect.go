package espi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/engine"
	"custody/sync/logkey"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// SecretWriter is implemented by a job's Secrets when the driver may store secrets too: the
// customer's tokens of a Connect My Data source, which the custodian rotates.
type SecretWriter interface {
	SetSecret(source, field, value string) error
}

// DefaultScope is asked for when a Connect My Data source names no --scope: interval
// electricity usage with usage summaries, daily blocks, a year of history.
const DefaultScope = "FB=1_3_4_5_13_14_15_39;IntervalDuration=900_3600;BlockDuration=daily;HistoryLength=34128000;SubscriptionFrequency=daily"

// DefaultConnectTimeout is how long `custody sources connect` waits for the browser.
const DefaultConnectTimeout = 5 * time.Minute

// CallbackPath is the path of the loopback redirect URI.
const CallbackPath = "/callback"

// HintConnectAgain is the advice when the customer's authorisation has ended.
func HintConnectAgain(name string) string {
	return fmt.Sprintf("The customer's authorisation ended or was refused: run `custody sources connect %s` again (or \"Connect…\" on the source) and approve access at the utility.", name)
}

// oauthConfig is the source's authorization-code configuration, with redirect URI redirect.
func oauthConfig(src store.Source, secret, redirect string) *oauth2.Config {
	cfg := src.Config
	scope := strings.TrimSpace(cfg[CfgScope])
	if scope == "" {
		scope = DefaultScope
	}
	return &oauth2.Config{
		ClientID:     cfg[CfgClientID],
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{AuthURL: cfg[CfgAuthorizeURL], TokenURL: cfg[CfgTokenURL],
			AuthStyle: oauth2.AuthStyleInHeader}, // ESPI custodians take HTTP Basic
		RedirectURL: redirect,
		Scopes:      []string{scope}, // one ESPI scope string; it holds no spaces
	}
}

// customerTokens is the customer's access token of a Connect My Data source: read from the
// keyring, refreshed with the refresh token when it expires or the custodian answers 401, and
// written back (with a rotated refresh token) to the keyring. It is safe for concurrent use.
type customerTokens struct {
	source  string
	secrets engine.Secrets
	conf    *oauth2.Config
	hc      *http.Client
	logger  *slog.Logger
	now     func() time.Time

	lock chan struct{}
	tok  *oauth2.Token // nil: read the keyring again
	bad  string        // an access token the custodian refused
}

func newCustomerTokens(src store.Source, secret string, secrets engine.Secrets, hc *http.Client, logger *slog.Logger) *customerTokens {
	return &customerTokens{source: src.Name, secrets: secrets, conf: oauthConfig(src, secret, ""), hc: hc,
		logger: logger, now: time.Now, lock: make(chan struct{}, 1)}
}

// notConnected is the error of a source that has no customer token yet.
func notConnected(name string) error {
	e := syncerr.Errorf(syncerr.Auth, "customer token", "the source %s is not connected to a customer's account yet", name)
	e.Hint = fmt.Sprintf("Run `custody sources connect %s` (or \"Connect…\" on the source) and approve access at the utility.", name)
	return e
}

// Token implements auth.Tokens.
func (c *customerTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.lock }()
	if c.tok == nil {
		access, _ := c.secrets.Secret(c.source, AccessTokenField)
		refresh, _ := c.secrets.Secret(c.source, RefreshTokenField)
		if access == "" && refresh == "" {
			return nil, notConnected(c.source)
		}
		c.tok = &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer"}
		if access == c.bad {
			c.tok.AccessToken = "" // the keyring still holds the refused token: refresh
		}
	}
	// The tokens this source holds, whichever run read them, are kept out of what it quotes.
	redact.Remember(ctx, c.tok.AccessToken, c.tok.RefreshToken, c.bad)
	if c.tok.AccessToken != "" && (c.tok.Expiry.IsZero() || c.now().Before(c.tok.Expiry.Add(-time.Minute))) {
		return c.tok, nil
	}
	return c.refresh(ctx)
}

// refresh exchanges the refresh token for a new access token; the caller holds the lock.
func (c *customerTokens) refresh(ctx context.Context) (*oauth2.Token, error) {
	const op = "refresh the customer's token"
	old := c.tok.RefreshToken
	if old == "" {
		c.tok = nil
		e := syncerr.Errorf(syncerr.Auth, op, "the customer's access token expired and the custodian gave no refresh token")
		e.Hint = HintConnectAgain(c.source)
		return nil, e
	}
	if c.logger != nil {
		c.logger.Debug("token refresh", logkey.Op, "token", logkey.URLPath, urlPath(c.conf.Endpoint.TokenURL))
	}
	tok, err := c.conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, c.hc), &oauth2.Token{RefreshToken: old}).Token()
	if err != nil {
		c.tok = nil // read the keyring again next time: the user may have connected anew
		return nil, classifyRefresh(op, c.source, err, redact.Secrets(ctx, old, c.conf.ClientSecret)...)
	}
	auth.RememberToken(ctx, tok)
	w, ok := c.secrets.(SecretWriter)
	if !ok {
		return nil, syncerr.Errorf(syncerr.Local, op, "the keyring cannot be written, so the refreshed token cannot be kept")
	}
	if err := w.SetSecret(c.source, AccessTokenField, tok.AccessToken); err != nil {
		return nil, syncerr.E(syncerr.Local, op, err)
	}
	if tok.RefreshToken != "" && tok.RefreshToken != old {
		// A custodian that rotates refresh tokens invalidates the old one: keep the new one.
		if err := w.SetSecret(c.source, RefreshTokenField, tok.RefreshToken); err != nil {
			return nil, syncerr.E(syncerr.Local, op, err)
		}
		if c.logger != nil {
			c.logger.Info("the custodian rotated the refresh token; the new one is in the keyring", logkey.Op, "token")
		}
	}
	c.tok, c.bad = tok, ""
	return tok, nil
}

// Invalidate implements auth.Tokens: the custodian refused tok (401), so the next Token call
// refreshes.
func (c *customerTokens) Invalidate(tok *oauth2.Token) {
	c.lock <- struct{}{}
	defer func() { <-c.lock }()
	if c.tok != nil && (tok == nil || tok.AccessToken == c.tok.AccessToken) {
		c.bad = c.tok.AccessToken
		c.tok.AccessToken = ""
	}
}

// classifyRefresh classifies a failed refresh or code exchange.
func classifyRefresh(op, source string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		if ce := auth.Classify(op, err); syncerr.KindOf(ce) == syncerr.Network {
			return ce
		}
		return syncerr.Errorf(syncerr.Server, op, "unreadable token answer: %s", scrub(err.Error(), secrets...))
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	se := &auth.StatusError{Status: status, Code: scrub(re.ErrorCode, secrets...), Description: scrub(re.ErrorDescription, secrets...)}
	var e *syncerr.Error
	switch {
	case re.ErrorCode == "invalid_grant":
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("the custodian no longer accepts the customer's authorisation (revoked, expired or replaced): %w", se))
		e.Hint = HintConnectAgain(source)
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" || status == http.StatusUnauthorized:
		e = syncerr.E(syncerr.Auth, op, fmt.Errorf("wrong client id or secret: %w", se))
		e.Hint = auth.HintWrongSecret
	case status == http.StatusTooManyRequests || status >= 500:
		e = syncerr.E(syncerr.Server, op, se)
		if re.Response != nil {
			e.RetryAfter = auth.RetryAfter(re.Response.Header, time.Now())
		}
	default:
		e = syncerr.E(syncerr.Config, op, fmt.Errorf("the custodian did not accept the token request: %w", se))
		e.Hint = "Check the token URL, the client id and the scope."
	}
	return e
}

// scrub shortens text a server sent for an error message, on one line and without the
// secrets, in any encoding, should the server echo one.
func scrub(s string, secrets ...string) string {
	return redact.Snippet([]byte(s), 200, secrets...)
}

// Connected is the outcome of a customer's authorisation.
type Connected struct {
	// SubscriptionID is the subscription the source now fetches.
	SubscriptionID string
	// ResourceURI and AuthorizationURI are the token answer's, recorded in the source.
	ResourceURI, AuthorizationURI string
	// Scope is the scope the customer granted (may be a subset of the one asked for).
	Scope string
}

// Connecting is a customer's authorisation in progress: a loopback listener waiting for the
// custodian to redirect the browser back with a code (RFC 8252).
type Connecting struct {
	d      *Driver
	job    *engine.Job
	conf   *oauth2.Config
	hc     *http.Client
	state  string
	verif  string
	url    string
	ln     net.Listener
	srv    *http.Server
	done   chan struct{}
	once   sync.Once
	result Connected
	err    error
	ctx    context.Context
}

// StartConnect begins a customer's authorisation of a Connect My Data source: it listens on
// 127.0.0.1 (the source's redirect port, else a free one) and returns the authorize URL to
// open, with a random state and a PKCE S256 challenge. [Connecting.Wait] waits for the
// browser to come back. ctx bounds the code exchange.
func (d *Driver) StartConnect(ctx context.Context, job *engine.Job) (*Connecting, error) {
	job = withDefaults(job)
	src := job.Source
	const op = "connect"
	if strings.TrimSpace(src.Config[CfgAuthorizeURL]) == "" {
		return nil, syncerr.Errorf(syncerr.Config, op, "the source %s has no authorize URL: add one with --authorize-url (the custodian's OAuth authorize endpoint)", src.Name)
	}
	if u, err := url.Parse(src.Config[CfgAuthorizeURL]); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, syncerr.Errorf(syncerr.Config, op, "authorize URL %q is not an https URL", src.Config[CfgAuthorizeURL])
	}
	if _, ok := job.Secrets.(SecretWriter); !ok {
		return nil, syncerr.Errorf(syncerr.Local, op, "the keyring cannot be written, so the customer's tokens cannot be kept")
	}
	s, err := d.session(job)
	if err != nil {
		return nil, err
	}
	port := 0
	if v := strings.TrimSpace(src.Config[CfgRedirectPort]); v != "" {
		if port, err = strconv.Atoi(v); err != nil || port < 0 || port > 65535 {
			return nil, syncerr.Errorf(syncerr.Config, op, "redirect port %q is not a port number", v)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, syncerr.Errorf(syncerr.Local, op, "listen on 127.0.0.1:%d for the browser's return: %v", port, err)
	}
	redirect := fmt.Sprintf("http://127.0.0.1:%d%s", ln.Addr().(*net.TCPAddr).Port, CallbackPath)
	c := &Connecting{d: d, job: job, conf: oauthConfig(src, s.secret, redirect), hc: s.hc, ln: ln,
		state: randomString(24), verif: oauth2.GenerateVerifier(), done: make(chan struct{}), ctx: ctx}
	c.url = c.conf.AuthCodeURL(c.state, oauth2.S256ChallengeOption(c.verif))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+CallbackPath, c.callback)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(job.Logger.Handler(), slog.LevelDebug)}
	go c.srv.Serve(ln)
	job.Logger.Info("waiting for the customer's authorisation", logkey.Op, "connect", logkey.URLPath, urlPath(src.Config[CfgAuthorizeURL]))
	return c, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// URL is the authorize URL to open in the browser.
func (c *Connecting) URL() string { return c.url }

// RedirectURI is the loopback redirect URI the custodian sends the browser back to.
func (c *Connecting) RedirectURI() string { return c.conf.RedirectURL }

// Wait waits for the browser to come back and the code to be exchanged, for ctx to end, or
// for the connection to be closed.
func (c *Connecting) Wait(ctx context.Context) (Connected, error) {
	defer c.Close()
	select {
	case <-c.done:
		return c.result, c.err
	case <-ctx.Done():
		e := syncerr.Errorf(syncerr.Auth, "connect", "no answer from the browser in time: %v", ctx.Err())
		e.Hint = "Open the address in a browser on this computer, sign in at the utility and approve access, then try again."
		return Connected{}, e
	}
}

// Close stops listening.
func (c *Connecting) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.srv.Shutdown(ctx)
}

func (c *Connecting) finish(res Connected, err error) {
	c.once.Do(func() {
		c.result, c.err = res, err
		close(c.done)
	})
}

// page answers the browser.
func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Custody: %s</title></head><body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// callback is the redirect URI: it checks state, exchanges the code with the PKCE verifier,
// keeps the tokens in the keyring and records what the token answer says.
func (c *Connecting) callback(w http.ResponseWriter, r *http.Request) {
	select {
	case <-c.done:
		page(w, http.StatusGone, "Already done", "This authorisation has already been handled; you may close this window.")
		return
	default:
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1 {
		// Not our authorisation (or a forged request): ignore it and keep waiting.
		c.job.Logger.Warn("the browser came back with a state that does not match; ignored", logkey.Op, "connect")
		page(w, http.StatusBadRequest, "Not recognised", "This answer does not belong to the authorisation Custody started. Start again from Custody.")
		return
	}
	if e := q.Get("error"); e != "" {
		err := syncerr.Errorf(syncerr.Auth, "connect", "the utility did not grant access: %s %s", scrub(e), scrub(q.Get("error_description")))
		err.Hint = "Approve access at the utility when it asks, then run the command again."
		page(w, http.StatusOK, "Not connected", "The utility did not grant access ("+scrub(e)+"). You may close this window.")
		c.finish(Connected{}, err)
		return
	}
	code := q.Get("code")
	if code == "" {
		page(w, http.StatusBadRequest, "Not connected", "The utility sent no authorisation code.")
		c.finish(Connected{}, syncerr.Errorf(syncerr.Server, "connect", "the custodian redirected back without a code"))
		return
	}
	res, err := c.exchange(code)
	if err != nil {
		page(w, http.StatusOK, "Not connected", "Custody could not complete the connection: "+err.Error()+" You may close this window.")
		c.finish(Connected{}, err)
		return
	}
	page(w, http.StatusOK, "Connected", "Custody is connected to "+c.job.Source.Name+". You may close this window.")
	c.finish(res, nil)
}

func (c *Connecting) exchange(code string) (Connected, error) {
	const op = "connect"
	ctx, cancel := context.WithTimeout(context.WithValue(c.ctx, oauth2.HTTPClient, c.hc), 2*time.Minute)
	defer cancel()
	tok, err := c.conf.Exchange(ctx, code, oauth2.VerifierOption(c.verif))
	if err != nil {
		return Connected{}, classifyRefresh("exchange the authorisation code", c.job.Source.Name, err, redact.Secrets(ctx, code, c.conf.ClientSecret, c.verif)...)
	}
	auth.RememberToken(ctx, tok)
	if tok.AccessToken == "" {
		return Connected{}, syncerr.Errorf(syncerr.Server, op, "the token answer has no access_token")
	}
	str := func(k string) string { v, _ := tok.Extra(k).(string); return strings.TrimSpace(v) }
	res := Connected{ResourceURI: str("resourceURI"), AuthorizationURI: str("authorizationURI"), Scope: str("scope")}
	w := c.job.Secrets.(SecretWriter)
	if err := w.SetSecret(c.job.Source.Name, AccessTokenField, tok.AccessToken); err != nil {
		return res, syncerr.E(syncerr.Local, op, err)
	}
	// No refresh token in the answer leaves none: an old one belongs to an earlier authorisation.
	if err := w.SetSecret(c.job.Source.Name, RefreshTokenField, tok.RefreshToken); err != nil {
		return res, syncerr.E(syncerr.Local, op, err)
	}
	// Record what the custodian said, in the source as it is now.
	st := c.job.Store
	src, err := st.SourceByName(ctx, c.job.Source.Name)
	if err != nil {
		return res, syncerr.E(syncerr.Local, op, err)
	}
	if src.Config == nil {
		src.Config = map[string]string{}
	}
	for k, v := range map[string]string{CfgResourceURI: res.ResourceURI, CfgAuthorizationURI: res.AuthorizationURI, CfgGrantedScope: res.Scope} {
		if v != "" {
			src.Config[k] = v
		} else {
			delete(src.Config, k)
		}
	}
	ids := src.List(CfgSubscriptionIDs)
	if id := SubscriptionIDOf(res.ResourceURI); id != "" && len(ids) == 0 {
		src.SetList(CfgSubscriptionIDs, []string{id})
		ids = []string{id}
	}
	if len(ids) > 0 {
		res.SubscriptionID = ids[0]
	}
	if err := st.UpdateSource(ctx, &src); err != nil {
		return res, syncerr.E(syncerr.Local, op, err)
	}
	if res.AuthorizationURI != "" {
		// A new authorisation replaces what was said about an earlier one.
		if _, err := st.NoteAuthorization(ctx, store.Authorization{SourceID: src.ID, URI: res.AuthorizationURI,
			ResourceURI: res.ResourceURI, Status: store.AuthorizationActive}); err != nil {
			return res, syncerr.E(syncerr.Local, op, err)
		}
	}
	c.d.forget(src.Name)
	c.job.Logger.Info("connected to the customer's account", logkey.Op, "connect")
	return res, nil
}
