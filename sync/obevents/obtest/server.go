// Package obtest is an in-process Open Banking UK bank (ASPSP) for tests and the demo: a
// client-credentials token endpoint, mutual TLS, a JWKS, event subscriptions and callback URLs,
// aggregated polling (POST /events) with exact queue semantics, real-time push to a
// subscription's callback, fault injection, and a generator of realistic signed events, some of
// them invalid.
//
// Queue semantics follow RFC 8936 and the Open Banking profile: a poll answers the oldest
// waiting events, at most maxEvents (capped by the bank); an acknowledged event, and one the
// client reports in setErrs, is removed for good; an event delivered but not acknowledged is
// delivered again by the next poll.
package obtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/simtls"
)

// Path prefix of the event APIs.
const apiPrefix = "/open-banking/v3.1"

// Options configure a simulated bank. The zero value is a sensible demo bank.
type Options struct {
	ClientID     string // default "custody-demo-tpp"
	ClientSecret string // default a random secret, returned by DemoSource
	Issuer       string // iss of the tokens; default "https://aspsp.custody.test/"
	OrgID        string // the OB organisation id in the JOSE header; default "0015800001SIMBNK"
	// Events is how many events are queued at start: 0 means 12, negative means none.
	Events int
	// InvalidEvery makes every n-th generated event invalid (bad signature, wrong audience,
	// unknown key, events as a string, in turn); 0 means 6, negative means never.
	InvalidEvery int
	// Every, when set, generates one more event at this interval until Close.
	Every time.Duration
	// MaxEventsCap is the most events one poll answers; default 10.
	MaxEventsCap int
	// OnlyPS256 signs every generated event with PS256 and the Open Banking JOSE header
	// (by default every fourth valid one is ES256), as the throughput benchmark wants.
	OnlyPS256 bool
	// Status201 makes successful polls answer 201 instead of 200.
	Status201 bool
	// OmitMoreAvailable leaves moreAvailable out of answers when it is false.
	OmitMoreAvailable bool
	// NoClientCert accepts API calls without a client certificate (mutual TLS is required
	// by default, as Open Banking banks do).
	NoClientCert bool
	// Now is the bank's clock; default time.Now.
	Now func() time.Time

	// TokenAuth, when set, is the only client authentication the token endpoint accepts, as
	// at a bank that follows FAPI: TokenAuthJWT (an RFC 7523 assertion signed with
	// ClientKey) or TokenAuthTLS (the client certificate, whose subject CN must be
	// ClientCertCN). Empty accepts the client secret in the Authorization header or the form.
	TokenAuth string
	// ClientKey and ClientKID are the TPP's registered signing key, for client assertions and
	// signed requests.
	ClientKey *rsa.PublicKey
	ClientKID string
	// ClientCertCN is the subject CN of the certificate bound to ClientID for
	// tls_client_auth; default the CN of the PKI's client certificate.
	ClientCertCN string
	// RequireSignedRequests refuses event-subscription and callback-url POST and PUT without
	// a valid x-jws-signature (detached, PS256, ClientKID, the Open Banking crit headers).
	RequireSignedRequests bool
	// SigningISS is the http://openbanking.org.uk/iss signed requests must carry; default
	// ClientID.
	SigningISS string
	// NoEventSubscriptionAPI makes the event-subscription endpoints answer 404, as at a bank
	// that offers only the Callback URL API.
	NoEventSubscriptionAPI bool
}

// Client authentication methods of Options.TokenAuth.
const (
	TokenAuthJWT = "private_key_jwt"
	TokenAuthTLS = "tls_client_auth"
)

// Server is a running simulated bank.
type Server struct {
	opts   Options
	pki    *simtls.PKI
	ln     net.Listener
	srv    *http.Server
	url    string
	stop   chan struct{}
	wg     sync.WaitGroup
	pushTo *http.Client

	mu     sync.Mutex
	rsaKey *rsa.PrivateKey
	rsaKID string
	ecKey  *ecdsa.PrivateKey
	ecKID  string
	rogue  *rsa.PrivateKey
	tokens map[string]time.Time // access token -> expiry
	// tokenScopes are the scopes each access token was granted.
	tokenScopes map[string][]string
	queue       []queued
	// allGenerated are the events made by Generate, for Expected.
	allGenerated []queued
	setErrs      map[string]SetErrRecord
	acked        map[string]int
	subs         map[string]Subscription
	callbacks    map[string]callbackURL
	seq          int
	generated    int
	faults       map[string][]Fault
	requests     map[string]int
	polls        []PollRecord
	jwksHits     int
	resources    map[string]string
	// assertionJTIs are the client assertion jtis seen, with their expiry, refused when
	// seen again (replay).
	assertionJTIs map[string]time.Time
	// signed counts requests whose x-jws-signature was verified; refusals lists why others
	// were refused (token endpoint and signed requests).
	signedOK int
	refusals []string
}

type queued struct {
	JTI, Token string
	Valid      bool
}

// SetErrRecord is a negative acknowledgement the bank received.
type SetErrRecord struct {
	Err, Description string
}

// PollRecord is one POST /events the bank received, as decoded.
type PollRecord struct {
	MaxEvents         *int
	ReturnImmediately *bool
	Ack               []string
	SetErrs           map[string]SetErrRecord
	Returned          []string
}

// Fault is an injected failure of one request.
type Fault struct {
	Status     int
	RetryAfter int    // seconds, for 429 and 503
	Body       string // default an OBErrorResponse1
	// Echo, when set, makes the body from the request, as a bank that quotes what it received
	// does (the bearer token, a client assertion).
	Echo func(r *http.Request) string
}

// Subscription is a stored event subscription.
type Subscription struct {
	EventSubscriptionID string   `json:"EventSubscriptionId"`
	CallbackURL         string   `json:"CallbackUrl,omitempty"`
	Version             string   `json:"Version"`
	EventTypes          []string `json:"EventTypes,omitempty"`
}

type callbackURL struct {
	CallbackURLID string `json:"CallbackUrlId"`
	URL           string `json:"Url"`
	Version       string `json:"Version"`
}

// Start starts a simulated bank on addr (such as "127.0.0.1:0") with the PKI's server
// certificate, requiring client certificates issued by the PKI's CA for the token endpoint and
// the APIs (the JWKS is public, as the Open Banking key store is).
func Start(pki *simtls.PKI, addr string, opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = "custody-demo-tpp"
	}
	if opts.ClientSecret == "" {
		var b [18]byte
		_, _ = rand.Read(b[:])
		opts.ClientSecret = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if opts.Issuer == "" {
		opts.Issuer = "https://aspsp.custody.test/"
	}
	if opts.OrgID == "" {
		opts.OrgID = "0015800001SIMBNK"
	}
	if opts.Events == 0 {
		opts.Events = 12
	}
	if opts.InvalidEvery == 0 {
		opts.InvalidEvery = 6
	}
	if opts.MaxEventsCap <= 0 {
		opts.MaxEventsCap = 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts, pki: pki, stop: make(chan struct{}),
		tokens: map[string]time.Time{}, tokenScopes: map[string][]string{}, setErrs: map[string]SetErrRecord{}, acked: map[string]int{},
		subs: map[string]Subscription{}, callbacks: map[string]callbackURL{}, faults: map[string][]Fault{},
		requests: map[string]int{}, resources: map[string]string{}, assertionJTIs: map[string]time.Time{},
	}
	if opts.SigningISS == "" {
		s.opts.SigningISS = opts.ClientID
	}
	if opts.ClientCertCN == "" {
		if b, _ := pem.Decode(pki.ClientCertPEM); b != nil {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				s.opts.ClientCertCN = c.Subject.CommonName
			}
		}
	}
	switch opts.TokenAuth {
	case "", TokenAuthTLS:
	case TokenAuthJWT:
		if opts.ClientKey == nil || opts.ClientKID == "" {
			return nil, fmt.Errorf("obtest: private_key_jwt needs ClientKey and ClientKID")
		}
	default:
		return nil, fmt.Errorf("obtest: unknown TokenAuth %q", opts.TokenAuth)
	}
	if opts.RequireSignedRequests && (opts.ClientKey == nil || opts.ClientKID == "") {
		return nil, fmt.Errorf("obtest: RequireSignedRequests needs ClientKey and ClientKID")
	}
	var err error
	if s.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("obtest: %w", err)
	}
	if s.rogue, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("obtest: %w", err)
	}
	if s.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("obtest: %w", err)
	}
	s.rsaKID, s.ecKID = kidOf("rsa", &s.rsaKey.PublicKey), kidOf("ec", &s.ecKey.PublicKey)

	tlsCfg, err := pki.ServerTLS(false)
	if err != nil {
		return nil, err
	}
	// Ask for a client certificate, verify it when given, and require it per endpoint.
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
	tlsCfg.ClientCAs = pki.CAPool()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("obtest: listen: %w", err)
	}
	s.ln = ln
	s.url = "https://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.routes(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	clientTLS, err := pki.ClientTLS()
	if err != nil {
		ln.Close()
		return nil, err
	}
	clientTLS.Certificates = nil // the push goes to the TPP's server, which uses no mutual TLS
	s.pushTo = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 30 * time.Second}

	for i := 0; i < opts.Events; i++ {
		s.Generate()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.ServeTLS(ln, "", "")
	}()
	if opts.Every > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(opts.Every)
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
					s.Generate()
					s.pushQueued(context.Background())
				}
			}
		}()
	}
	return s, nil
}

// URL is the bank's origin, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// BaseURL is the event API root: URL() + /open-banking/v3.1.
func (s *Server) BaseURL() string { return s.url + apiPrefix }

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.url + "/as/token.oauth2" }

// JWKSURL is the bank's key set.
func (s *Server) JWKSURL() string { return s.url + "/jwks/" + s.opts.OrgID + ".jwks" }

// PKI is the certificate authority the server was started with.
func (s *Server) PKI() *simtls.PKI { return s.pki }

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// Close stops the server and the generator.
func (s *Server) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// DemoSource returns a ready obevents source for this bank, whose client certificate, key and
// CA are the given files, and the client secret to store for it.
func (s *Server) DemoSource(name string, files simtls.Files) (store.Source, string) {
	src := store.Source{Name: name, Kind: "obevents", Enabled: true, Config: map[string]string{
		"base_url":  s.BaseURL(),
		"token_url": s.TokenURL(),
		"client_id": s.opts.ClientID,
		"jwks_url":  s.JWKSURL(),
		"issuer":    s.opts.Issuer,
		"audience":  s.opts.ClientID,
		"scope":     "eventpolling",
		"cert":      files.ClientCert,
		"key":       files.ClientKey,
		"ca":        files.CA,
	}}
	return src, s.opts.ClientSecret
}

// InjectFault makes the next requests to path (such as "/events", "/token", "/jwks",
// "/event-subscriptions") fail with the given faults, one per request, in order.
func (s *Server) InjectFault(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faults...)
}

// Requests is how many requests reached the named endpoint ("/events", "/token", ...).
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Queue returns the jtis still waiting, oldest first.
func (s *Server) Queue() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, q := range s.queue {
		out = append(out, q.JTI)
	}
	return out
}

// Expected returns the jtis of the valid and of the invalid events generated so far.
func (s *Server) Expected() (valid, invalid []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expectedLocked()
}

// SetErrs returns the negative acknowledgements received, by jti.
func (s *Server) SetErrs() map[string]SetErrRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]SetErrRecord{}
	for k, v := range s.setErrs {
		out[k] = v
	}
	return out
}

// Acked returns how many times each jti was acknowledged.
func (s *Server) Acked() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.acked {
		out[k] = v
	}
	return out
}

// Polls returns the poll requests received, in order.
func (s *Server) Polls() []PollRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.polls)
}

// Subscriptions returns the stored event subscriptions.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, v := range s.subs {
		out = append(out, v)
	}
	return out
}

// JWKSHits is how many times the key set was fetched.
func (s *Server) JWKSHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksHits
}

// RotateKey replaces the bank's RSA signing key with a new one under a new kid; events
// generated afterwards are signed with it.
func (s *Server) RotateKey() error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rsaKey, s.rsaKID = k, kidOf("rsa", &k.PublicKey)
	return nil
}

// Enqueue adds a token to the queue under the given key, as is (for hand-made tokens).
func (s *Server) Enqueue(key, token string, valid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, queued{JTI: key, Token: token, Valid: valid})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /as/token.oauth2", s.guard("/token", false, s.handleToken))
	mux.HandleFunc("GET /jwks/", s.guard("/jwks", true, s.handleJWKS))
	mux.HandleFunc("POST "+apiPrefix+"/events", s.guard("/events", false, s.api(s.handlePoll)))
	mux.HandleFunc("GET "+apiPrefix+"/event-subscriptions", s.guard("/event-subscriptions", false, s.api(s.handleSubList)))
	mux.HandleFunc("POST "+apiPrefix+"/event-subscriptions", s.guard("/event-subscriptions", false, s.api(s.signed(s.handleSubCreate))))
	mux.HandleFunc("PUT "+apiPrefix+"/event-subscriptions/{id}", s.guard("/event-subscriptions", false, s.api(s.signed(s.handleSubUpdate))))
	mux.HandleFunc("DELETE "+apiPrefix+"/event-subscriptions/{id}", s.guard("/event-subscriptions", false, s.api(s.handleSubDelete)))
	mux.HandleFunc("GET "+apiPrefix+"/callback-urls", s.guard("/callback-urls", false, s.api(s.handleCBList)))
	mux.HandleFunc("POST "+apiPrefix+"/callback-urls", s.guard("/callback-urls", false, s.api(s.signed(s.handleCBCreate))))
	mux.HandleFunc("PUT "+apiPrefix+"/callback-urls/{id}", s.guard("/callback-urls", false, s.api(s.signed(s.handleCBUpdate))))
	mux.HandleFunc("DELETE "+apiPrefix+"/callback-urls/{id}", s.guard("/callback-urls", false, s.api(s.handleCBDelete)))
	mux.HandleFunc("GET "+apiPrefix+"/{area}/{kind}/{id}", s.guard("/resource", false, s.api(s.handleResource)))
	return mux
}

// guard counts the request, applies injected faults and requires a client certificate.
func (s *Server) guard(name string, public bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[name]++
		var f *Fault
		if q := s.faults[name]; len(q) > 0 {
			f, s.faults[name] = &q[0], q[1:]
		}
		s.mu.Unlock()
		if f != nil {
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			}
			body := f.Body
			if f.Echo != nil {
				body = f.Echo(r)
			}
			if body == "" {
				body = fmt.Sprintf(`{"Code":"%d","Message":"injected fault","Errors":[{"ErrorCode":"UK.OBIE.UnexpectedError","Message":"injected fault"}]}`, f.Status)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			io.WriteString(w, body)
			return
		}
		if !public && !s.opts.NoClientCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			obError(w, http.StatusUnauthorized, "UK.OBIE.Header.Missing", "a client certificate is required")
			return
		}
		if s.opts.NoEventSubscriptionAPI && name == "/event-subscriptions" {
			w.WriteHeader(http.StatusNotFound) // 404 declares no body
			return
		}
		h(w, r)
	}
}

// api requires a valid bearer token.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known || s.opts.Now().After(exp) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if id := r.Header.Get("x-fapi-interaction-id"); id != "" {
			w.Header().Set("x-fapi-interaction-id", id)
		}
		h(w, r)
	}
}

func obError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"Code": strconv.Itoa(status), "Message": msg,
		"Errors": []map[string]string{{"ErrorCode": code, "Message": msg}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if why := s.authenticateClient(r); why != "" {
		s.mu.Lock()
		s.refusals = append(s.refusals, "token: "+why)
		s.mu.Unlock()
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": why})
		return
	}
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if !slices.Contains([]string{"eventpolling", "accounts", "payments", "fundsconfirmations"}, sc) {
			writeJSON(w, 400, map[string]string{"error": "invalid_scope"})
			return
		}
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(time.Hour)
	s.tokenScopes[tok] = strings.Fields(r.PostForm.Get("scope"))
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

// ExpireTokens makes every access token issued so far invalid, as a bank revoking them would.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		// A key store is public; a client that sends it a token leaks its token.
		obError(w, http.StatusBadRequest, "UK.OBIE.Header.Unexpected", "the key set must be fetched without a token")
		return
	}
	s.mu.Lock()
	s.jwksHits++
	body := s.jwksLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MaxEvents         *int                    `json:"maxEvents"`
		ReturnImmediately *bool                   `json:"returnImmediately"`
		Ack               []string                `json:"ack"`
		SetErrs           map[string]SetErrRecord `json:"setErrs"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		obError(w, 400, "UK.OBIE.Field.Invalid", "invalid poll request: "+err.Error())
		return
	}
	if req.ReturnImmediately != nil && !*req.ReturnImmediately {
		// Like several real banks: long polling is not offered.
		obError(w, http.StatusNotImplemented, "UK.OBIE.NotSupported", "long polling is not supported")
		return
	}
	for jti, e := range req.SetErrs {
		if len(e.Err) == 0 || len(e.Err) > 40 || len(e.Description) > 256 {
			obError(w, 400, "UK.OBIE.Field.Invalid", "setErrs entry for "+jti+" is invalid")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := PollRecord{MaxEvents: req.MaxEvents, ReturnImmediately: req.ReturnImmediately, Ack: req.Ack, SetErrs: req.SetErrs}
	drop := map[string]bool{}
	for _, j := range req.Ack {
		drop[j] = true
		s.acked[j]++
	}
	for j, e := range req.SetErrs {
		drop[j] = true
		s.setErrs[j] = e
	}
	s.queue = slices.DeleteFunc(s.queue, func(q queued) bool { return drop[q.JTI] })
	n := s.opts.MaxEventsCap
	if req.MaxEvents != nil && *req.MaxEvents < n {
		n = max(*req.MaxEvents, 0)
	}
	n = min(n, len(s.queue))
	sets := map[string]string{}
	for _, q := range s.queue[:n] {
		sets[q.JTI] = q.Token
		rec.Returned = append(rec.Returned, q.JTI)
	}
	s.polls = append(s.polls, rec)
	more := len(s.queue) > n
	resp := map[string]any{"sets": sets}
	if more || !s.opts.OmitMoreAvailable {
		resp["moreAvailable"] = more
	}
	status := http.StatusOK
	if s.opts.Status201 {
		status = http.StatusCreated
	}
	writeJSON(w, status, resp)
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%03d", prefix, s.seq)
}

func subResponse(s Subscription, self string) map[string]any {
	return map[string]any{"Data": s, "Links": map[string]string{"Self": self}, "Meta": map[string]any{}}
}

func (s *Server) handleSubList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := []Subscription{}
	for _, v := range s.subs {
		list = append(list, v)
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"Data": map[string]any{"EventSubscription": list},
		"Links": map[string]string{"Self": s.BaseURL() + "/event-subscriptions"}, "Meta": map[string]any{}})
}

func decodeData(w http.ResponseWriter, r *http.Request, dst any) bool {
	_, ok := decodeBody(w, r, dst)
	return ok
}

// decodeBody decodes a request body of the shape {Data, Links, Meta} and returns its Links.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) (map[string]any, bool) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	body := struct {
		Data  any            `json:"Data"`
		Links map[string]any `json:"Links"`
		Meta  map[string]any `json:"Meta"`
	}{Data: dst}
	if err := dec.Decode(&body); err != nil {
		obError(w, 400, "UK.OBIE.Field.Invalid", "invalid body: "+err.Error())
		return nil, false
	}
	return body.Links, true
}

var knownTypes = []string{"UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked",
	"UK.OBIE.Account-Access-Consent-Linked-Account-Update", "UK.OBIE.Consent-Access-Revoked"}

func (s *Server) checkSub(w http.ResponseWriter, sub Subscription) bool {
	if sub.Version == "" || len(sub.Version) > 10 {
		obError(w, 400, "UK.OBIE.Field.Missing", "Data.Version is required")
		return false
	}
	for _, t := range sub.EventTypes {
		if !slices.Contains(knownTypes, t) {
			obError(w, 400, "UK.OBIE.Unsupported.EventType", "event type "+t+" is not supported")
			return false
		}
	}
	if sub.CallbackURL != "" && !strings.HasSuffix(sub.CallbackURL, "/event-notifications") {
		obError(w, 400, "UK.OBIE.Field.Invalid", "CallbackUrl must end in /event-notifications")
		return false
	}
	return true
}

func (s *Server) handleSubCreate(w http.ResponseWriter, r *http.Request) {
	var sub Subscription
	if !decodeData(w, r, &sub) || !s.checkSub(w, sub) {
		return
	}
	s.mu.Lock()
	if len(s.subs) > 0 {
		s.mu.Unlock()
		obError(w, http.StatusConflict, "UK.OBIE.Resource.ConsentMismatch", "an event subscription already exists for this client")
		return
	}
	sub.EventSubscriptionID = s.nextID("ES")
	s.subs[sub.EventSubscriptionID] = sub
	s.mu.Unlock()
	writeJSON(w, 201, subResponse(sub, s.BaseURL()+"/event-subscriptions/"+sub.EventSubscriptionID))
}

func (s *Server) handleSubUpdate(w http.ResponseWriter, r *http.Request) {
	var sub Subscription
	links, ok := decodeBody(w, r, &sub)
	if !ok || !s.checkSub(w, sub) {
		return
	}
	// The PUT body is an OBEventSubscriptionResponse1, whose Links.Self is required.
	if self, _ := links["Self"].(string); self == "" {
		obError(w, 400, "UK.OBIE.Field.Missing", "Links.Self is required in the PUT body")
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok = s.subs[id]
	if ok && sub.EventSubscriptionID == id {
		s.subs[id] = sub
	}
	s.mu.Unlock()
	if !ok {
		obError(w, 404, "UK.OBIE.Resource.NotFound", "no such event subscription")
		return
	}
	if sub.EventSubscriptionID != id {
		obError(w, 400, "UK.OBIE.Field.Invalid", "EventSubscriptionId does not match the path")
		return
	}
	writeJSON(w, 200, subResponse(sub, s.BaseURL()+"/event-subscriptions/"+id))
}

func (s *Server) handleSubDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if !ok {
		obError(w, 404, "UK.OBIE.Resource.NotFound", "no such event subscription")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleCBList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := []callbackURL{}
	for _, v := range s.callbacks {
		list = append(list, v)
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"Data": map[string]any{"CallbackUrl": list},
		"Links": map[string]string{"Self": s.BaseURL() + "/callback-urls"}, "Meta": map[string]any{}})
}

func (s *Server) handleCBCreate(w http.ResponseWriter, r *http.Request) {
	var cb callbackURL
	if !decodeData(w, r, &cb) {
		return
	}
	if !strings.HasSuffix(cb.URL, "/event-notifications") || cb.Version == "" {
		obError(w, 400, "UK.OBIE.Field.Invalid", "Url must end in /event-notifications and Version is required")
		return
	}
	s.mu.Lock()
	if len(s.callbacks) > 0 {
		s.mu.Unlock()
		obError(w, http.StatusConflict, "UK.OBIE.Resource.ConsentMismatch", "a callback URL already exists for this client")
		return
	}
	cb.CallbackURLID = s.nextID("CB")
	s.callbacks[cb.CallbackURLID] = cb
	s.mu.Unlock()
	writeJSON(w, 201, map[string]any{"Data": cb, "Links": map[string]string{"Self": s.BaseURL() + "/callback-urls/" + cb.CallbackURLID}, "Meta": map[string]any{}})
}

func (s *Server) handleCBUpdate(w http.ResponseWriter, r *http.Request) {
	var cb callbackURL
	links, ok := decodeBody(w, r, &cb)
	if !ok {
		return
	}
	// The PUT body is an OBCallbackUrlResponse1, whose Links.Self is required.
	if self, _ := links["Self"].(string); self == "" {
		obError(w, 400, "UK.OBIE.Field.Missing", "Links.Self is required in the PUT body")
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok = s.callbacks[id]
	if ok {
		cb.CallbackURLID = id
		s.callbacks[id] = cb
	}
	s.mu.Unlock()
	if !ok {
		obError(w, 404, "UK.OBIE.Resource.NotFound", "no such callback URL")
		return
	}
	writeJSON(w, 200, map[string]any{"Data": cb, "Links": map[string]string{"Self": s.BaseURL() + "/callback-urls/" + id}, "Meta": map[string]any{}})
}

func (s *Server) handleCBDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.callbacks[id]
	delete(s.callbacks, id)
	s.mu.Unlock()
	if !ok {
		obError(w, 404, "UK.OBIE.Resource.NotFound", "no such callback URL")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleResource(w http.ResponseWriter, r *http.Request) {
	// As at a bank: payment orders and consents are read with a client-credentials token of
	// their API's scope; account information only with the customer's own token.
	area, kind := r.PathValue("area"), r.PathValue("kind")
	need := map[string]string{"pisp": "payments", "cbpii": "fundsconfirmations"}[area]
	if area == "aisp" {
		if kind != "account-access-consents" {
			obError(w, http.StatusForbidden, "UK.OBIE.Resource.ConsentMismatch", "account information needs the customer's authorisation")
			return
		}
		need = "accounts"
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	body, ok := s.resources[r.URL.Path]
	scopes := s.tokenScopes[tok]
	s.mu.Unlock()
	if need != "" && !slices.Contains(scopes, need) {
		obError(w, http.StatusForbidden, "UK.OBIE.Reauthenticate", "this resource needs a token of scope "+need)
		return
	}
	if !ok {
		obError(w, 404, "UK.OBIE.Resource.NotFound", "no such resource")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

// PushQueued pushes every waiting event to the subscription's callback URL (or the
// registered callback URL), as real-time notifications; an event the receiver answers 202 is
// removed from the queue. It returns how many were accepted.
func (s *Server) PushQueued(ctx context.Context) (int, error) { return s.pushQueued(ctx) }

func (s *Server) pushQueued(ctx context.Context) (int, error) {
	s.mu.Lock()
	target := ""
	for _, sub := range s.subs {
		target = sub.CallbackURL
	}
	if target == "" {
		for _, cb := range s.callbacks {
			target = cb.URL
		}
	}
	queue := slices.Clone(s.queue)
	s.mu.Unlock()
	if target == "" {
		return 0, nil
	}
	accepted := 0
	for _, q := range queue {
		status, err := s.Push(ctx, target, q.Token)
		if err != nil {
			return accepted, err
		}
		if status == http.StatusAccepted || status == http.StatusBadRequest {
			// 400: the receiver refused it for good; like setErrs, the bank drops it.
			s.mu.Lock()
			s.queue = slices.DeleteFunc(s.queue, func(x queued) bool { return x.JTI == q.JTI })
			s.mu.Unlock()
		}
		if status == http.StatusAccepted {
			accepted++
		}
	}
	return accepted, nil
}

// Push POSTs one token to a TPP's event-notifications endpoint, as the bank's real-time
// notification does, and returns the status.
func (s *Server) Push(ctx context.Context, target, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(token))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/jwt")
	req.Header.Set("x-fapi-interaction-id", interactionID())
	req.Header.Set("x-fapi-financial-id", s.opts.OrgID)
	resp, err := s.pushTo.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

func interactionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// kidOf is a stable key id derived from the public key.
func kidOf(prefix string, pub any) string {
	var b []byte
	switch k := pub.(type) {
	case *rsa.PublicKey:
		b = k.N.Bytes()
	case *ecdsa.PublicKey:
		b, _ = k.Bytes()
	}
	h := sha256.Sum256(b)
	return prefix + "-" + base64.RawURLEncoding.EncodeToString(h[:12])
}

// resourcePath is the path of a generated resource under the API root.
func resourcePath(kind, id string) string {
	return apiPrefix + "/" + kind + "/" + url.PathEscape(id)
}
