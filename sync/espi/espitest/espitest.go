// Package espitest is an in-process Green Button Data Custodian, for tests and for
// `custody simulate` and `custody --demo`: a client-credentials token endpoint (answering in
// JSON or, like PG&E's published example, in XML), mutual TLS on every call, bulk,
// subscription, single-resource and retail-customer endpoints serving generated data that
// advances with time and corrects earlier days, BatchList notifications POSTed to a listener,
// and faults injected on demand.
//
// The generated utility has three meters: a house with solar panels (hourly import, flow 1,
// with cost; hourly export, flow 19), a heat pump sub-meter (15-minute) and gas (daily, therm).
// Readings of the last day are published raw (quality 14); a day that has been over for 24
// hours is republished validated (quality 17) with corrected values.
package espitest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/simtls"
)

// Paths of the simulator's endpoints.
const (
	TokenPath    = "/datacustodian/oauth/v2/token"
	ResourcePath = "/GreenButtonConnect/espi/1_1/resource"
)

// Options configure a simulator. The zero value is a JSON-token custodian with 7 days of
// history, bulk id 50916, subscription 5001 and a random client secret.
type Options struct {
	// TokenFormat is "json" (default) or "xml".
	TokenFormat string
	// ClientID and ClientSecret are the registered credentials; defaults "demo-client" and a
	// random secret (see [Server.Secret]).
	ClientID, ClientSecret string
	// BulkID and SubscriptionID name the data; defaults 50916 and 5001.
	BulkID, SubscriptionID string
	// Days of history served; default 7.
	Days int
	// TokenLifetime is the expires_in of issued tokens; default one hour.
	TokenLifetime time.Duration
	// Now is the simulator's clock; default time.Now. Tests move it to see data advance and
	// earlier days corrected.
	Now func() time.Time
	// Async makes Batch/Bulk behave like PG&E: 202 Accepted, then a BatchList POSTed to
	// NotifyURL naming the prepared data (…/Batch/Bulk/{id}?correlationID=…).
	Async bool
	// NoTransactionHeader makes async answers come without the x-transaction header, as PG&E
	// answered before 2023 (and other async custodians do): the 202 says nothing of the
	// correlation id the BatchList will name, so answers can be told apart only by what the
	// notified URI names.
	NoTransactionHeader bool
	// NotifyWindow makes the BatchList name the prepared answer by the request's window
	// (…/Batch/Bulk/{id}?published-min=…&published-max=…), as the GBA contract's does, rather
	// than by a correlationID; a GET of a prepared window is answered at once.
	NotifyWindow bool
	// NotifyURL is where BatchLists are POSTed, with NotifyClient (which must trust the
	// listener's certificate).
	NotifyURL    string
	NotifyClient *http.Client
	// RetryAfter is the Retry-After of injected 429 and 503 answers; default 7 seconds.
	RetryAfter time.Duration
	// SlowDelay is the pause in the middle of a slow body; default 300 ms.
	SlowDelay time.Duration
	// NoCustomerInfo makes Batch/BulkRetailCustomerInfo answer 404, as custodians without
	// retail-customer data do.
	NoCustomerInfo bool
	// HoldNotifications keeps the BatchLists of async answers until
	// [Server.ReleaseNotifications], so that a test can look at the time in between.
	HoldNotifications bool
	// ConnectMyData adds a customer's own authorisation: an authorization endpoint on its own
	// origin (see [Server.AuthorizeURL]) with PKCE S256, the authorization_code and
	// refresh_token grants, and Batch/Subscription served only to the customer's token.
	ConnectMyData bool
	// RotateRefresh makes every refresh answer with a new refresh token and spend the old one.
	RotateRefresh bool
	// Deny makes the simulated customer decline at the consent page.
	Deny bool
}

// Fault is a failure the simulator can be told to produce.
type Fault int

// The injectable faults. Each applies to the next resource requests (not token requests).
const (
	// FaultExpiredToken answers 401 as if the presented token had expired; the client
	// should request a new token and retry.
	FaultExpiredToken Fault = iota + 1
	// FaultRevoked answers 403 to every resource request, with any token, until cleared: the
	// customer or the utility revoked the registration.
	FaultRevoked
	// FaultTooManyRequests answers 429 with Retry-After.
	FaultTooManyRequests
	// FaultUnavailable answers 503 with Retry-After.
	FaultUnavailable
	// FaultSlowBody sends the first half of the body, pauses SlowDelay, then the rest.
	FaultSlowBody
	// FaultTruncatedBody announces the full length and closes the connection halfway.
	FaultTruncatedBody
	// FaultNotReady answers 202 Accepted: the data is being prepared.
	FaultNotReady
	// FaultMalformed sends a body that is not well-formed XML.
	FaultMalformed
)

// Request is one request the simulator received.
type Request struct {
	Method, Path, RawQuery string
	// Token is whether a valid bearer token was presented.
	Token bool
	// ClientCert is the common name of the client certificate.
	ClientCert string
	Status     int
}

// Server is a running simulator.
type Server struct {
	opts     Options
	ln       net.Listener
	srv      *http.Server
	url      string
	ctx      context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup // the server
	notes    sync.WaitGroup // BatchList POSTs
	mu       sync.Mutex
	token    map[string]time.Time // issued token → expiry
	fault    []Fault              // queued one-shot faults
	echo     []echoFault          // queued one-shot echoing answers
	tokEcho  map[string]echoFault // by grant type: the next token request's echoing answer
	sticky   map[Fault]bool
	reqs     []Request
	prepared map[string]window // correlationID (NotifyWindow: rel?window) → window of an async request
	notified []error
	held     []string // notified URIs kept back (HoldNotifications)

	// Connect My Data.
	consent         *http.Server
	consentURL      string
	codes           map[string]code
	customer        map[string]time.Time // customer access token → expiry
	refresh         map[string]string    // valid refresh token → scope
	issuedRefresh   []string
	refreshes       int
	customerRevoked bool
	authorizes      []AuthorizeRequest
	issuedCustomer  []string // every customer access token, even after expiry
}

// Start starts a simulator on addr (a loopback address such as "127.0.0.1:0"; an empty host
// means 127.0.0.1) with TLS from pki, requiring a client certificate issued by pki's CA.
func Start(pki *simtls.PKI, addr string, opts Options) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("espitest: listen address %q: %w", addr, err)
	}
	if host == "" {
		addr = "127.0.0.1" + addr
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("espitest: listen address %q: the simulator listens on loopback only", addr)
	}
	if opts.TokenFormat == "" {
		opts.TokenFormat = "json"
	}
	if opts.TokenFormat != "json" && opts.TokenFormat != "xml" {
		return nil, fmt.Errorf("espitest: token format %q: say json or xml", opts.TokenFormat)
	}
	if opts.ClientID == "" {
		opts.ClientID = "demo-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "sim-" + randHex(16)
	}
	if opts.BulkID == "" {
		opts.BulkID = "50916"
	}
	if opts.SubscriptionID == "" {
		opts.SubscriptionID = "5001"
	}
	if opts.Days <= 0 {
		opts.Days = 7
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 7 * time.Second
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = 300 * time.Millisecond
	}
	tc, err := pki.ServerTLS(true)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("espitest: %w", err)
	}
	s := &Server{opts: opts, ln: ln, token: map[string]time.Time{}, sticky: map[Fault]bool{}, prepared: map[string]window{},
		codes: map[string]code{}, customer: map[string]time.Time{}, refresh: map[string]string{}}
	if opts.ConnectMyData {
		h, _, _ := net.SplitHostPort(ln.Addr().String())
		if err := s.startConsent(pki, h); err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.url = "https://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are part of the job
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.ServeTLS(ln, "", "")
	}()
	return s, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// URL is the simulator's origin, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// BaseURL is the ESPI resource root, the value of a source's --base-url.
func (s *Server) BaseURL() string { return s.url + ResourcePath }

// TokenURL is the token endpoint, the value of a source's --token-url.
func (s *Server) TokenURL() string { return s.url + TokenPath }

// ClientID is the registered client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// Secret is the registered client secret.
func (s *Server) Secret() string { return s.opts.ClientSecret }

// BulkID is the bulk id of the third party's data.
func (s *Server) BulkID() string { return s.opts.BulkID }

// SubscriptionID is the id of the demo customer's subscription.
func (s *Server) SubscriptionID() string { return s.opts.SubscriptionID }

// Close stops the simulator and waits for its notifications to finish.
func (s *Server) Close() error {
	s.stop()
	err := s.srv.Close()
	if s.consent != nil {
		s.consent.Close()
	}
	s.wg.Wait()
	s.notes.Wait()
	return err
}

// DemoSource returns a ready-to-use greenbutton source for this simulator, named name, using
// the certificate files written by simtls (PKI.WriteFiles), and the client secret to put in
// the keyring.
func (s *Server) DemoSource(name string, files simtls.Files) (store.Source, string) {
	src := store.Source{Name: name, Kind: "greenbutton", Enabled: true, Config: map[string]string{
		"base_url":  s.BaseURL(),
		"token_url": s.TokenURL(),
		"client_id": s.opts.ClientID,
		"cert":      files.ClientCert,
		"key":       files.ClientKey,
		"ca":        files.CA,
	}}
	src.SetList("bulk_ids", []string{s.opts.BulkID})
	return src, s.opts.ClientSecret
}

// Inject queues a one-shot fault for the next resource request; FaultRevoked stays until
// [Server.Clear].
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultRevoked {
		s.sticky[f] = true
		return
	}
	s.fault = append(s.fault, f)
}

// echoFault is an error answer made from the request.
type echoFault struct {
	status int
	body   func(r *http.Request) string
}

// InjectEcho makes the next resource request with a valid token answer status with the body
// echo makes from the request, as a custodian that quotes what it received does (the bearer
// token of its Authorization header, say).
func (s *Server) InjectEcho(status int, echo func(r *http.Request) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = append(s.echo, echoFault{status, echo})
}

// InjectTokenEcho makes the next token request of the grant type (client_credentials,
// refresh_token, authorization_code) answer status with the body echo makes from the request
// (its form parsed), as a token endpoint quoting the refresh token or code it refuses does.
func (s *Server) InjectTokenEcho(grant string, status int, echo func(r *http.Request) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokEcho == nil {
		s.tokEcho = map[string]echoFault{}
	}
	s.tokEcho[grant] = echoFault{status, echo}
}

// Clear removes every queued and lasting fault.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
	s.sticky = map[Fault]bool{}
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// IssuedTokens returns every access token issued so far, for tests that check no token was
// stored or logged.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.token {
		out = append(out, t)
	}
	for t := range s.customer {
		out = append(out, t)
	}
	return append(out, s.issuedCustomer...)
}

// NotifyErrors returns the errors of BatchList POSTs made so far (nil entries for successes).
func (s *Server) NotifyErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.notified...)
}

// Wait waits until every BatchList POST started so far has finished.
func (s *Server) Wait() { s.notes.Wait() }

func (s *Server) record(r *http.Request, token bool, status int) {
	cn := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Token: token, ClientCert: cn, Status: status})
	s.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenPath {
		s.serveToken(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, ResourcePath+"/") {
		s.record(r, false, http.StatusNotFound)
		http.Error(w, "No listener for endpoint: "+r.URL.Path, http.StatusNotFound)
		return
	}
	valid := s.validToken(r.Header.Get("Authorization"))
	customer := false
	if !valid && s.opts.ConnectMyData {
		customer = s.validCustomer(r.Header.Get("Authorization"))
		valid = customer
	}
	if !valid {
		s.record(r, false, http.StatusUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"invalid_token","error_description":"Access token expired or unknown"}`, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet {
		s.record(r, true, http.StatusMethodNotAllowed)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.opts.ConnectMyData {
		// A customer's token opens that customer's subscription only; the client's token
		// everything else but no customer's subscription.
		rel := strings.TrimPrefix(r.URL.Path, ResourcePath+"/")
		sub := strings.HasPrefix(rel, "Batch/Subscription/") || strings.HasPrefix(rel, "Subscription/") || strings.HasPrefix(rel, "Batch/RetailCustomer/")
		if sub != customer {
			s.record(r, true, http.StatusForbidden)
			http.Error(w, `{"error":"insufficient_scope","error_description":"this token does not give access to this resource"}`, http.StatusForbidden)
			return
		}
	}
	s.mu.Lock()
	var echo *echoFault
	if len(s.echo) > 0 {
		echo, s.echo = &s.echo[0], s.echo[1:]
	}
	s.mu.Unlock()
	if echo != nil {
		s.record(r, true, echo.status)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(echo.status)
		io.WriteString(w, echo.body(r))
		return
	}
	f := s.nextFault()
	status := http.StatusOK
	defer func() { s.record(r, true, status) }()
	switch f {
	case FaultExpiredToken:
		status = http.StatusUnauthorized
		s.mu.Lock()
		clear(s.token)
		s.mu.Unlock()
		http.Error(w, `{"error":"invalid_token","error_description":"Access token expired"}`, status)
		return
	case FaultRevoked:
		status = http.StatusForbidden
		http.Error(w, `{"error":"access_denied","error_description":"Authorization revoked"}`, status)
		return
	case FaultTooManyRequests, FaultUnavailable:
		status = http.StatusTooManyRequests
		if f == FaultUnavailable {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter/time.Second)))
		http.Error(w, http.StatusText(status), status)
		return
	case FaultNotReady:
		status = http.StatusAccepted
		w.WriteHeader(status)
		return
	}
	body, code := s.resource(r)
	status = code
	if code != http.StatusOK {
		if code == http.StatusAccepted {
			// An async answer's body is its correlation id, which PG&E echoes in x-transaction.
			if len(body) > 0 && !s.opts.NoTransactionHeader {
				w.Header().Set("X-Transaction", string(body))
			}
			w.WriteHeader(code)
			return
		}
		http.Error(w, string(body), code)
		return
	}
	if f == FaultMalformed {
		body = append(body[:len(body)/2:len(body)/2], []byte("<entry><broken></feed>")...)
	}
	w.Header().Set("Content-Type", "application/atom+xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	switch f {
	case FaultTruncatedBody:
		w.Write(body[:len(body)/2])
		panic(http.ErrAbortHandler) // closes the connection mid-body
	case FaultSlowBody:
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-time.After(s.opts.SlowDelay):
		case <-r.Context().Done():
			return
		}
		w.Write(body[len(body)/2:])
	default:
		w.Write(body)
	}
}

func (s *Server) nextFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sticky[FaultRevoked] {
		return FaultRevoked
	}
	if len(s.fault) == 0 {
		return 0
	}
	f := s.fault[0]
	s.fault = s.fault[1:]
	return f
}

func (s *Server) validToken(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.token[tok]
	return ok && s.opts.Now().Before(exp)
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		s.record(r, false, status)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request", "GET not permitted")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") == "" {
		fail(http.StatusBadRequest, "invalid_request", "Missing grant_type")
		return
	}
	grant := r.PostForm.Get("grant_type")
	s.mu.Lock()
	echo, echoed := s.tokEcho[grant]
	delete(s.tokEcho, grant)
	s.mu.Unlock()
	if echoed {
		s.record(r, false, echo.status)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(echo.status)
		io.WriteString(w, echo.body(r))
		return
	}
	if grant != "client_credentials" && (!s.opts.ConnectMyData || (grant != "authorization_code" && grant != "refresh_token")) {
		fail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		fail(http.StatusUnauthorized, "invalid_client", "Bad client credentials")
		return
	}
	if grant != "client_credentials" {
		s.serveCustomerToken(w, r, grant)
		return
	}
	tok := "sim-at-" + randHex(20)
	life := int(s.opts.TokenLifetime / time.Second)
	s.mu.Lock()
	s.token[tok] = s.opts.Now().Add(s.opts.TokenLifetime)
	s.mu.Unlock()
	s.record(r, false, http.StatusOK)
	scope := "FB=1_3_4_5_8_10_12_13_14_15_18_19_31_32_35_37_38_39_40;IntervalDuration=900_3600;BlockDuration=Daily;HistoryLength=63072000;BR=" + s.opts.BulkID + ";"
	if s.opts.TokenFormat == "xml" {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<ns0:token xmlns:ns0="https://api.pge.com/datacustodian/oauth/v2/token"><ns0:client_access_token>%s</ns0:client_access_token><ns0:expires_in>%d</ns0:expires_in><ns0:scope>%s</ns0:scope><ns0:token_type>Bearer</ns0:token_type></ns0:token>`,
			tok, life, scope)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"client_access_token":%q,"token_type":"Bearer","expires_in":%d,"scope":%q,"resourceURI":%q}`,
		tok, life, scope, s.BaseURL()+"/Batch/Bulk/"+s.opts.BulkID)
}

// resource renders the answer to a GET under the resource root.
func (s *Server) resource(r *http.Request) ([]byte, int) {
	rel := strings.TrimPrefix(r.URL.Path, ResourcePath+"/")
	q := r.URL.Query()
	var w window
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"published-min", &w.min}, {"published-max", &w.max}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return []byte(p.name + " must be an xsd:dateTime in UTC such as 2026-06-08T00:00:00Z"), http.StatusBadRequest
			}
			*p.t = t
		}
	}
	now := s.opts.Now()
	if !w.max.IsZero() && w.max.After(now.Add(time.Minute)) {
		w.max = now // clamp, as most custodians do
	}
	var buf bytes.Buffer
	fw := &feedWriter{w: bufio.NewWriter(&buf), base: s.BaseURL(), sub: s.opts.SubscriptionID, now: now}
	self := s.BaseURL() + "/" + rel
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	switch {
	case rel == "ReadServiceStatus" || rel == "ServiceStatus":
		return []byte(`<?xml version="1.0" encoding="UTF-8"?><ServiceStatus xmlns="http://naesb.org/espi"><currentStatus>1</currentStatus></ServiceStatus>`), http.StatusOK
	case rel == "Authorization":
		fw.open(self, "Authorizations")
		s.authorizationEntries(fw, "")
	case strings.HasPrefix(rel, "Authorization/"):
		fw.open(self, "Authorization")
		s.authorizationEntries(fw, strings.TrimPrefix(rel, "Authorization/"))
		if fw.n == 0 {
			return []byte("no such authorization"), http.StatusNotFound
		}
	case rel == "Batch/Bulk/"+s.opts.BulkID:
		if s.opts.Async {
			pw, status, body := s.async(rel, q.Get("correlationID"), w)
			if status != http.StatusOK {
				return body, status
			}
			w = pw
		}
		fw.open(self, "Bulk "+s.opts.BulkID)
		fw.usage(blocks(now, s.opts.Days), w, "")
	case rel == "Batch/Subscription/"+s.opts.SubscriptionID || strings.HasPrefix(rel, "Batch/Subscription/"+s.opts.SubscriptionID+"/"):
		prefix := ""
		if sub := strings.TrimPrefix(rel, "Batch/"); sub != "Subscription/"+s.opts.SubscriptionID {
			prefix = s.BaseURL() + "/" + sub
		}
		fw.open(self, "Subscription "+s.opts.SubscriptionID)
		fw.usage(blocks(now, s.opts.Days), w, prefix)
	case rel == "Batch/BulkRetailCustomerInfo/"+s.opts.BulkID && !s.opts.NoCustomerInfo:
		if s.opts.Async { // PG&E prepares the customers' information the same way
			if _, status, body := s.async(rel, q.Get("correlationID"), w); status != http.StatusOK {
				return body, status
			}
		}
		fw.open(self, "Retail customer information")
		fw.customer(s.BaseURL())
	case strings.HasPrefix(rel, "Subscription/"+s.opts.SubscriptionID+"/") || strings.HasPrefix(rel, "ReadingType/") || strings.HasPrefix(rel, "LocalTimeParameters/"):
		fw.open(self, "Resource")
		fw.usage(blocks(now, s.opts.Days), w, s.BaseURL()+"/"+rel)
		if fw.n == 0 {
			return []byte("no such resource"), http.StatusNotFound
		}
	case strings.HasPrefix(rel, "Batch/Bulk/"):
		return []byte("unknown bulk id"), http.StatusNotFound
	default:
		return []byte("No listener for endpoint"), http.StatusNotFound
	}
	if err := fw.close(); err != nil {
		return []byte(err.Error()), http.StatusInternalServerError
	}
	return buf.Bytes(), http.StatusOK
}

// BatchList returns the XML of a BatchList naming uris.
func BatchList(uris ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ns0:BatchList xmlns:ns0="http://naesb.org/espi">`)
	for _, u := range uris {
		b.WriteString("<ns0:resources>" + xmlEscape(u) + "</ns0:resources>")
	}
	b.WriteString("</ns0:BatchList>\n")
	return b.Bytes()
}

// Notify POSTs a BatchList naming uris to Options.NotifyURL and returns when it is answered.
func (s *Server) Notify(ctx context.Context, uris ...string) error {
	s.mu.Lock()
	target, client := s.opts.NotifyURL, s.opts.NotifyClient
	s.mu.Unlock()
	if target == "" || client == nil {
		return errors.New("espitest: no NotifyURL and NotifyClient configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(BatchList(uris...)))
	if err != nil {
		return fmt.Errorf("espitest: notify: %w", err)
	}
	req.Header.Set("Content-Type", "application/xml")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("espitest: notify: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("espitest: notify: %s", resp.Status)
	}
	return nil
}

// notifyLater POSTs a BatchList in the background, as PG&E does 10 to 40 seconds after a bulk
// request (here at once).
func (s *Server) notifyLater(uri string) {
	s.mu.Lock()
	off := s.opts.NotifyURL == "" || s.opts.NotifyClient == nil
	s.mu.Unlock()
	if off {
		return
	}
	s.notes.Add(1)
	go func() {
		defer s.notes.Done()
		err := s.Notify(s.ctx, uri)
		s.mu.Lock()
		s.notified = append(s.notified, err)
		s.mu.Unlock()
	}()
}

// Held returns the notified URIs kept back so far (HoldNotifications).
func (s *Server) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.held...)
}

// ReleaseNotifications POSTs one BatchList naming every URI kept back so far
// (HoldNotifications) and returns when the listener has answered.
func (s *Server) ReleaseNotifications(ctx context.Context) error {
	s.mu.Lock()
	uris := s.held
	s.held = nil
	s.mu.Unlock()
	if len(uris) == 0 {
		return errors.New("espitest: no notification is held")
	}
	return s.Notify(ctx, uris...)
}

// SetNotify sets where BatchLists are POSTed (Options.NotifyURL and NotifyClient), for a
// listener that starts after the simulator, as the app's does.
func (s *Server) SetNotify(url string, client *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.NotifyURL, s.opts.NotifyClient = url, client
}

// windowQuery is the query naming w, as a BatchList of the GBA contract names it.
func windowQuery(w window) string {
	q := url.Values{}
	if !w.min.IsZero() {
		q.Set("published-min", w.min.UTC().Format(time.RFC3339))
	}
	if !w.max.IsZero() {
		q.Set("published-max", w.max.UTC().Format(time.RFC3339))
	}
	return q.Encode()
}

// async is PG&E's asynchronous answer to a request for rel: without a correlationID, 202 and
// a BatchList (now, or held) naming rel?correlationID=…; with one, the window of the request
// it names (200), or 404 for an unknown one.
func (s *Server) async(rel, cid string, w window) (window, int, []byte) {
	if cid != "" {
		s.mu.Lock()
		pw, ok := s.prepared[cid]
		s.mu.Unlock()
		if !ok {
			return w, http.StatusNotFound, []byte("unknown correlationID")
		}
		return pw, http.StatusOK, nil
	}
	wq := windowQuery(w)
	if s.opts.NotifyWindow {
		s.mu.Lock()
		pw, ok := s.prepared[rel+"?"+wq]
		s.mu.Unlock()
		if ok {
			return pw, http.StatusOK, nil
		}
	}
	cid = uuidOf(randHex(16))
	uri, key := s.BaseURL()+"/"+rel+"?correlationID="+cid, cid
	if s.opts.NotifyWindow {
		uri, key = s.BaseURL()+"/"+rel, rel+"?"+wq
		if wq != "" {
			uri += "?" + wq
		}
	}
	s.mu.Lock()
	s.prepared[key] = w
	hold := s.opts.HoldNotifications
	if hold {
		s.held = append(s.held, uri)
	}
	s.mu.Unlock()
	if !hold {
		s.notifyLater(uri)
	}
	return w, http.StatusAccepted, []byte(cid)
}
