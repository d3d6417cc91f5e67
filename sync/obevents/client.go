package obevents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"custody/sync/auth"
	"custody/sync/obevents/secevent"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// maxAnswerSize bounds an answer of the bank's API (a poll answer holds at most maxEvents
// tokens of at most MaxTokenSize each).
const maxAnswerSize = 16 << 20

// ClientConfig is what a Client needs.
type ClientConfig struct {
	BaseURL  string // the event API root, such as https://bank.example/open-banking/v3.1
	TokenURL string
	ClientID string
	Secret   string
	Scope    string // default eventpolling
	TLS      TLSFiles
	// TokenAuth is how the client authenticates at the token endpoint (one of TokenAuths;
	// empty is client_secret_basic, falling back to the form as x/oauth2 does).
	TokenAuth string
	// Signer, when set, makes the private_key_jwt client assertions and signs the bodies of
	// event-subscription and callback-url POST and PUT (x-jws-signature).
	Signer *Signer
}

// TLSFiles names the PEM files of a source's TLS settings.
type TLSFiles struct {
	CertFile, KeyFile string // client certificate and key for mutual TLS; both or neither
	CAFile            string // an extra CA to trust, beside the system roots
}

// Client talks to one bank's event APIs with a client-credentials token over (mutual) TLS.
type Client struct {
	base   string // BaseURL without a trailing slash
	origin string
	// Plain is the TLS client without a token, for the JWKS.
	Plain  *http.Client
	authed *http.Client
	tokens auth.Tokens
	signer *Signer
	// creds and scope make the further tokens of other scopes that follow-up reads need
	// (payments for payment orders, accounts for account-access consents).
	creds  auth.Credentials
	scope  string
	mu     sync.Mutex
	scoped map[string]*http.Client
}

// NewClient builds a client. The token is only ever sent to the origin of BaseURL.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Scope == "" {
		cfg.Scope = "eventpolling"
	}
	origin, err := auth.Origin(cfg.BaseURL)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "base URL", err)
	}
	plain, err := auth.NewHTTPClient(auth.TLSConfig{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, CAFile: cfg.TLS.CAFile})
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "TLS settings", err)
	}
	creds, err := credentials(cfg)
	if err != nil {
		return nil, err
	}
	creds.HTTPClient = plain
	tokens := auth.NewClientCredentials(creds)
	authed, err := auth.NewClient(plain, tokens, cfg.BaseURL)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "base URL", err)
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), origin: origin, Plain: plain, authed: authed, tokens: tokens,
		signer: cfg.Signer, creds: creds, scope: cfg.Scope}, nil
}

// scopedClient returns the authorised client whose token has the given scope: the source's
// own when its scope includes it, else one made (and kept) for that scope, with the same
// client authentication and for the same origin only.
func (c *Client) scopedClient(scope string) (*http.Client, error) {
	if scope == "" || slices.Contains(strings.Fields(c.scope), scope) {
		return c.authed, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.scoped[scope]; ok {
		return hc, nil
	}
	creds := c.creds
	creds.Scopes = []string{scope}
	hc, err := auth.NewClient(c.Plain, auth.NewClientCredentials(creds), c.base)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "base URL", err)
	}
	if c.scoped == nil {
		c.scoped = map[string]*http.Client{}
	}
	c.scoped[scope] = hc
	return hc, nil
}

// credentials are the token request's settings for the configured client authentication.
func credentials(cfg ClientConfig) (auth.Credentials, error) {
	c := auth.Credentials{TokenURL: cfg.TokenURL, ClientID: cfg.ClientID, Scopes: strings.Fields(cfg.Scope)}
	switch cfg.TokenAuth {
	case "", TokenAuthBasic:
		// HTTP Basic; x/oauth2 falls back to the form for a bank that refuses it, as before.
		c.ClientSecret = cfg.Secret
	case TokenAuthPost:
		c.ClientSecret, c.AuthStyle = cfg.Secret, oauth2.AuthStyleInParams
	case TokenAuthJWT:
		if cfg.Signer == nil || cfg.Signer.Key == nil {
			return c, syncerr.Errorf(syncerr.Config, "settings", "token auth %s needs a signing key (--signing-key FILE --signing-kid KID)", TokenAuthJWT)
		}
		signer, clientID, aud := cfg.Signer, cfg.ClientID, cfg.TokenURL
		c.AuthStyle = oauth2.AuthStyleInParams // client_id and the assertion in the form, no secret
		c.FreshParams = func() (url.Values, error) {
			a, err := signer.ClientAssertion(clientID, aud)
			if err != nil {
				return nil, err
			}
			return url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {a}}, nil
		}
	case TokenAuthTLS:
		if cfg.TLS.CertFile == "" {
			return c, syncerr.Errorf(syncerr.Config, "settings", "token auth %s needs the client certificate (--cert FILE --key FILE)", TokenAuthTLS)
		}
		c.AuthStyle = oauth2.AuthStyleInParams // only client_id; the certificate authenticates
	default:
		return c, syncerr.Errorf(syncerr.Config, "settings", "token auth %q: say one of %s", cfg.TokenAuth, strings.Join(TokenAuths, ", "))
	}
	return c, nil
}

// Token fetches (or reuses) the access token; Test uses it to check the credentials.
func (c *Client) Token(ctx context.Context) error {
	_, err := c.tokens.Token(ctx)
	return err
}

// Version is the API version of the base URL ("3.1" for .../open-banking/v3.1), the form a
// subscription's Version takes; "3.1" when the URL does not say.
func (c *Client) Version() string {
	if m := versionRE.FindStringSubmatch(c.base); m != nil {
		return m[1]
	}
	return "3.1"
}

var versionRE = regexp.MustCompile(`/v(\d+(?:\.\d+)*)(?:/|$)`)

// StatusError is an answer of the bank with an unexpected HTTP status.
type StatusError struct {
	Status int
	Body   string // the start of the body (OBErrorResponse1 is parsed leniently for Message)
}

// Error says which status the bank answered, with the start of its explanation.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("the bank answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("the bank answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// newInteractionID returns an RFC 4122 version 4 UUID for x-fapi-interaction-id.
func newInteractionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// do sends a JSON request to path under the base URL and decodes a JSON answer into out when
// the status is one of ok. It returns the raw answer body too.
func (c *Client) do(ctx context.Context, method, path string, in, out any, ok ...int) ([]byte, error) {
	op := method + " " + path
	var body io.Reader
	var raw []byte
	if in != nil {
		var err error
		if raw, err = json.Marshal(in); err != nil {
			return nil, syncerr.E(syncerr.Local, op, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	if raw != nil {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if c.signer != nil && signedRequest(method, path) {
			sig, err := c.signer.DetachedSignature(raw)
			if err != nil {
				return nil, syncerr.E(syncerr.Config, op, err)
			}
			req.Header.Set("x-jws-signature", sig)
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-fapi-interaction-id", newInteractionID())
	resp, err := c.authed.Do(req)
	if err != nil {
		// A token or origin failure is already classified; a refused redirect is a setting
		// to check, a stalled or unreachable server a network problem (auth.Classify).
		return nil, auth.Classify(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return nil, auth.Classify(op, fmt.Errorf("read answer: %w", err))
	}
	if len(data) > maxAnswerSize {
		return nil, syncerr.Errorf(syncerr.Server, op, "answer larger than %d bytes", maxAnswerSize)
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			if out != nil && len(bytes.TrimSpace(data)) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return data, syncerr.E(syncerr.Server, op, fmt.Errorf("unreadable answer: %w", err))
				}
			}
			return data, nil
		}
	}
	return data, statusErr(ctx, op, resp, data)
}

// signedRequest reports whether a request's body is signed (x-jws-signature): the Open
// Banking specs mark event-subscription and callback-url POST and PUT as signed requests.
func signedRequest(method, path string) bool {
	return (method == http.MethodPost || method == http.MethodPut) &&
		(strings.HasPrefix(path, "/event-subscriptions") || strings.HasPrefix(path, "/callback-urls"))
}

// statusErr classifies an unexpected status. The body it quotes is redacted of every secret
// and token of ctx's redact.Set: a bank may echo the token the request carried.
func statusErr(ctx context.Context, op string, resp *http.Response, data []byte) error {
	se := &StatusError{Status: resp.StatusCode, Body: errorSummary(data, redact.Secrets(ctx)...)}
	var kind syncerr.Kind
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		kind = syncerr.Auth
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		kind = syncerr.Server
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		kind = syncerr.Config
	default:
		kind = syncerr.Data
	}
	e := syncerr.E(kind, op, se)
	e.RetryAfter = auth.RetryAfter(resp.Header, time.Now()) // capped at the engine's 24 h
	return e
}

// errorSummary takes the messages out of an OBErrorResponse1, or the start of any other body,
// without the secrets.
func errorSummary(data []byte, secrets ...string) string {
	var ob struct {
		Code, Message string
		Errors        []struct{ ErrorCode, Message, Path string }
	}
	if json.Unmarshal(data, &ob) == nil && (ob.Message != "" || len(ob.Errors) > 0) {
		parts := []string{}
		if ob.Message != "" {
			parts = append(parts, ob.Message)
		}
		for _, e := range ob.Errors {
			parts = append(parts, strings.TrimSpace(e.ErrorCode+" "+e.Message))
		}
		return redact.Snippet([]byte(strings.Join(parts, "; ")), 300, secrets...)
	}
	return redact.Snippet(data, 200, secrets...) // one line, no control bytes
}

// Subscription is an event subscription (OBEventSubscriptionResponse1 Data).
type Subscription struct {
	EventSubscriptionID string   `json:"EventSubscriptionId,omitempty"`
	CallbackURL         string   `json:"CallbackUrl,omitempty"`
	URL                 string   `json:"Url,omitempty"` // the name the v4.0 data dictionary uses in GET answers
	Version             string   `json:"Version"`
	EventTypes          []string `json:"EventTypes,omitempty"`
}

type subscriptionBody struct {
	Data  Subscription   `json:"Data"`
	Links map[string]any `json:"Links,omitempty"`
	Meta  map[string]any `json:"Meta,omitempty"`
}

// updateBody is the PUT body, an OBEventSubscriptionResponse1 (Links and Meta required).
type updateBody struct {
	Data  Subscription      `json:"Data"`
	Links map[string]string `json:"Links"`
	Meta  struct{}          `json:"Meta"`
}

// Subscriptions lists the client's event subscriptions (at most one, by the rules).
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var out struct {
		Data struct {
			EventSubscription []Subscription `json:"EventSubscription"`
		} `json:"Data"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/event-subscriptions", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	for i := range out.Data.EventSubscription {
		s := &out.Data.EventSubscription[i]
		if s.CallbackURL == "" {
			s.CallbackURL, s.URL = s.URL, ""
		}
	}
	return out.Data.EventSubscription, nil
}

// CreateSubscription creates the event subscription. Leave CallbackURL empty for polling only.
func (c *Client) CreateSubscription(ctx context.Context, s Subscription) (Subscription, error) {
	var out subscriptionBody
	s.EventSubscriptionID, s.URL = "", ""
	if _, err := c.do(ctx, http.MethodPost, "/event-subscriptions", subscriptionBody{Data: s}, &out, http.StatusCreated, http.StatusOK); err != nil {
		return Subscription{}, err
	}
	if out.Data.EventSubscriptionID == "" {
		return Subscription{}, syncerr.Errorf(syncerr.Server, "POST /event-subscriptions", "the answer has no EventSubscriptionId")
	}
	return out.Data, nil
}

// UpdateSubscription replaces the subscription with the same id. The body is an
// OBEventSubscriptionResponse1, as the spec says: the Data with its EventSubscriptionId, and
// the required Links.Self and Meta.
func (c *Client) UpdateSubscription(ctx context.Context, s Subscription) (Subscription, error) {
	var out subscriptionBody
	s.URL = ""
	path := "/event-subscriptions/" + url.PathEscape(s.EventSubscriptionID)
	in := updateBody{Data: s, Links: map[string]string{"Self": c.base + path}}
	if _, err := c.do(ctx, http.MethodPut, path, in, &out, http.StatusOK); err != nil {
		return Subscription{}, err
	}
	return out.Data, nil
}

// DeleteSubscription deletes the subscription.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/event-subscriptions/"+url.PathEscape(id), nil, nil, http.StatusNoContent, http.StatusOK)
	return err
}

// EnsureSubscription makes sure exactly one subscription like want exists and returns it: an
// existing one is reused (updated when it differs), never duplicated, so a crash after a
// create is harmless. A bank that answers 409 to the create had one after all; it is read
// again.
func (c *Client) EnsureSubscription(ctx context.Context, want Subscription) (Subscription, error) {
	for i, t := range want.EventTypes {
		want.EventTypes[i] = SubscriptionCode(t)
	}
	subs, err := c.Subscriptions(ctx)
	if err != nil {
		return Subscription{}, err
	}
	if len(subs) > 0 {
		have := subs[0]
		if have.CallbackURL == want.CallbackURL && have.Version == want.Version && equalTypes(have.EventTypes, want.EventTypes) {
			return have, nil
		}
		want.EventSubscriptionID = have.EventSubscriptionID
		return c.UpdateSubscription(ctx, want)
	}
	created, err := c.CreateSubscription(ctx, want)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict {
		subs, err := c.Subscriptions(ctx)
		if err != nil {
			return Subscription{}, err
		}
		if len(subs) > 0 {
			return subs[0], nil
		}
	}
	return created, err
}

// eventCodes maps the event type URNs of SETs to the codes a subscription's EventTypes use.
var eventCodes = map[string]string{
	"urn:uk:org:openbanking:events:resource-update":                              "UK.OBIE.Resource-Update",
	"urn:uk:org:openbanking:events:consent-authorization-revoked":                "UK.OBIE.Consent-Authorization-Revoked",
	"urn:uk:org:openbanking:events:account-access-consent-linked-account-update": "UK.OBIE.Account-Access-Consent-Linked-Account-Update",
	"urn:uk:org:openbanking:events:consent-access-revoked":                       "UK.OBIE.Consent-Access-Revoked",
}

// SubscriptionCode returns the EventTypes code of an event type given as a URN (as in SETs)
// or as a code; an unknown value is returned as it is, for banks with custom types.
func SubscriptionCode(t string) string {
	if c, ok := eventCodes[t]; ok {
		return c
	}
	return t
}

// equalTypes compares two EventTypes lists as sets: a bank that lists them in another order
// (or twice) has the same subscription, which needs no PUT.
func equalTypes(a, b []string) bool {
	set := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, t := range l {
			out = append(out, SubscriptionCode(t))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(set(a), set(b))
}

// CallbackURL is the older callback-url resource (OBCallbackUrlResponse1 Data).
type CallbackURL struct {
	CallbackURLID string `json:"CallbackUrlId,omitempty"`
	URL           string `json:"Url"`
	Version       string `json:"Version"`
}

type callbackBody struct {
	Data  CallbackURL    `json:"Data"`
	Links map[string]any `json:"Links,omitempty"`
	Meta  map[string]any `json:"Meta,omitempty"`
}

// CallbackURLs lists the registered callback URLs.
func (c *Client) CallbackURLs(ctx context.Context) ([]CallbackURL, error) {
	var out struct {
		Data struct {
			CallbackURL []CallbackURL `json:"CallbackUrl"`
		} `json:"Data"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/callback-urls", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data.CallbackURL, nil
}

// CreateCallbackURL registers a callback URL.
func (c *Client) CreateCallbackURL(ctx context.Context, cb CallbackURL) (CallbackURL, error) {
	var out callbackBody
	cb.CallbackURLID = ""
	if _, err := c.do(ctx, http.MethodPost, "/callback-urls", callbackBody{Data: cb}, &out, http.StatusCreated, http.StatusOK); err != nil {
		return CallbackURL{}, err
	}
	return out.Data, nil
}

// UpdateCallbackURL replaces the callback URL with the same id. The body is an
// OBCallbackUrlResponse1, whose Links and Meta are required.
func (c *Client) UpdateCallbackURL(ctx context.Context, cb CallbackURL) (CallbackURL, error) {
	var out callbackBody
	path := "/callback-urls/" + url.PathEscape(cb.CallbackURLID)
	in := struct {
		Data  CallbackURL       `json:"Data"`
		Links map[string]string `json:"Links"`
		Meta  struct{}          `json:"Meta"`
	}{Data: cb, Links: map[string]string{"Self": c.base + path}}
	if _, err := c.do(ctx, http.MethodPut, path, in, &out, http.StatusOK); err != nil {
		return CallbackURL{}, err
	}
	return out.Data, nil
}

// EnsureCallbackURL makes sure the bank's one callback URL for this client is want and
// returns it: an existing one is reused, or updated when it differs, never duplicated; a 409
// to the create means one exists after all, and it is read again.
func (c *Client) EnsureCallbackURL(ctx context.Context, want CallbackURL) (CallbackURL, error) {
	have, err := c.CallbackURLs(ctx)
	if err != nil {
		return CallbackURL{}, err
	}
	if len(have) > 0 {
		if have[0].URL == want.URL && have[0].Version == want.Version {
			return have[0], nil
		}
		want.CallbackURLID = have[0].CallbackURLID
		return c.UpdateCallbackURL(ctx, want)
	}
	created, err := c.CreateCallbackURL(ctx, want)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict {
		if have, err := c.CallbackURLs(ctx); err == nil && len(have) > 0 {
			return have[0], nil
		}
	}
	return created, err
}

// DeleteCallbackURL deletes a callback URL.
func (c *Client) DeleteCallbackURL(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/callback-urls/"+url.PathEscape(id), nil, nil, http.StatusNoContent, http.StatusOK)
	return err
}

// Poll sends one POST /events and returns the answer and its raw body (also when the body
// cannot be read, so that it can be archived with its error). 200 and 201 are both
// success; a missing moreAvailable is false; a value of sets that is not a string is kept as
// its JSON text, so that it is rejected (and reported) like any other bad token.
func (c *Client) Poll(ctx context.Context, req secevent.PollRequest) (secevent.PollResponse, []byte, error) {
	raw, err := c.do(ctx, http.MethodPost, "/events", req, nil, http.StatusOK, http.StatusCreated)
	if err != nil {
		return secevent.PollResponse{}, nil, err // an error answer holds no events
	}
	out, err := secevent.DecodePollResponse(raw)
	if err != nil {
		return out, raw, syncerr.E(syncerr.Server, "POST /events", err)
	}
	return out, raw, nil
}

// FetchLink GETs a resource named by an event's rlk link, with the token, only when the link
// is on the configured origin; any other link is refused.
func (c *Client) FetchLink(ctx context.Context, link string) ([]byte, error) {
	return c.FetchResource(ctx, link, "")
}

// FetchResource is FetchLink with a token of the given scope (empty: the source's).
func (c *Client) FetchResource(ctx context.Context, link, scope string) ([]byte, error) {
	hc, err := c.scopedClient(scope)
	if err != nil {
		return nil, err
	}
	o, err := auth.Origin(link)
	if err != nil || o != c.origin {
		return nil, syncerr.Errorf(syncerr.Data, "GET rlk", "link %q is not on the configured origin %s: not fetched", truncate(link, 120), c.origin)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, syncerr.E(syncerr.Data, "GET rlk", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-fapi-interaction-id", newInteractionID())
	resp, err := hc.Do(req)
	if err != nil {
		return nil, auth.Classify("GET rlk", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return nil, auth.Classify("GET rlk", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(ctx, "GET rlk", resp, data)
	}
	if len(data) > maxAnswerSize {
		return nil, syncerr.Errorf(syncerr.Server, "GET rlk", "answer larger than %d bytes", maxAnswerSize)
	}
	return data, nil
}
