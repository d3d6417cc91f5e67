// Package datahubtest is an in-process simulator of Energinet DataHub 3's CIM B2B channel and
// its Entra ID token endpoint, like net/http/httptest for DataHub.
//
// It has the real server's quirks, not the interface note's: a peek without Content-Type
// answers 415; the same bundle comes back until it is dequeued (head of line); errors are
// PascalCase {"Error":{"Code","Message","Target"}}; there is no MessageType header, so the
// document type is in the root element only; /masterdata and /all are not served; a bundle's
// body is rendered once, in the format of its first peek. It serves the project's fixtures and
// generated RSM-012 documents over time, accepts request documents (202 + CorrelationId) and
// later enqueues their answers, and can inject faults.
package datahubtest

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/datahub"
	"custody/sync/simtls"
)

//go:embed fixtures
var fixtureFS embed.FS

// Options configure a simulator.
type Options struct {
	ClientID     string // default "custody-demo"
	ClientSecret string // default: random
	Tenant       string // default Energinet's published tenant
	AppID        string // the scope is AppID + "/.default"; default Energinet's published app id
	// Fixtures enqueues the project's peek-response fixtures at start.
	Fixtures bool
	// ValidatedRoute, when set, is the only name RSM-015 is served under (requestvalidatedmeasurements
	// or requestvalidatedmeasuredata: which one API Management exposes is not settled); the other
	// answers 404. Empty serves both.
	ValidatedRoute string
	// Results enqueues, at start, the settlement results of one day (2025-03-01) in grid area
	// 804 that DataHub sends a supplier: balance fixing (D04), wholesale fixing (D05) and two
	// correction settlements (D32 D01, D02), wholesale ones with prices and amounts.
	Results bool
	// Generate enqueues this many generated RSM-012 documents at start.
	Generate int
	// Every, when set, enqueues one more generated document every Every (checked on peek).
	Every time.Duration
	// AnswerDelay is how long after a request is accepted its answer appears.
	AnswerDelay time.Duration
	// MeteringPoint is the GSRN of generated documents.
	MeteringPoint string
	// Receiver is the actor's GLN and role on generated documents.
	Receiver, ReceiverRole string
	// TokenLifetime is the expires_in of issued tokens; default one hour.
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Faults are failures to inject; each counter is used up one failure at a time.
type Faults struct {
	PeekErrors    int // the next peeks answer 503 with Retry-After: 1
	DequeueErrors int // the next dequeues answer 500 and dequeue nothing
	TokenErrors   int // the next token requests answer 500
	Malformed     int // the next generated documents are cut short (unparsable)
	NoMessageID   int // the next peeks omit the MessageId header
	// RefuseRequests: the next request documents answer 400 with two errors (00002, 00403),
	// in the backend's PascalCase shape with Details.Errors.
	RefuseRequests int
	// LoseAccepted: the next request documents are accepted and then answered 500, as if the
	// 202 were lost on the way back.
	LoseAccepted int
	// Echoes: the next calls with a valid token (peek, dequeue, request, ping) answer with
	// an error made from the request, as a gateway quoting what it received does.
	Echoes []Echo
}

// Echo is an error answer made from the request (its bearer token, say).
type Echo struct {
	Status int
	Body   func(r *http.Request) string
}

// Received is a request document the simulator accepted.
type Received struct {
	MessageID, SeriesID, Root, Correlation, Format string
}

// Server is a running simulator.
type Server struct {
	opts       Options
	srv        *httptest.Server
	mu         sync.Mutex
	queue      []*bundle
	byID       map[string]*bundle
	tokens     map[string]time.Time
	faults     Faults
	reqs       []Received
	used       map[string]bool
	seq        int
	next       time.Time
	peeks      int
	pings      int
	tokenCalls int
}

type bundle struct {
	id       string
	category string // MeasureData or Aggregations
	ready    time.Time
	body     []byte
	render   func(format string) []byte
	peeked   bool
	dequeued int
}

// Start starts a simulator over TLS with the PKI's server certificate on addr ("" or
// "127.0.0.1:0" for any free loopback port).
func Start(pki *simtls.PKI, addr string, opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = "custody-demo"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = randomHex(16)
	}
	if opts.Tenant == "" {
		opts.Tenant = "20e7a6b4-86e0-4e7a-a34d-6dc5a75d1982"
	}
	if opts.AppID == "" {
		opts.AppID = "65877f1b-1aef-42b3-adc7-3009608f27a3"
	}
	if opts.MeteringPoint == "" {
		opts.MeteringPoint = "571313100000001239"
	}
	if opts.Receiver == "" {
		opts.Receiver, opts.ReceiverRole = "5790002606892", "DDQ"
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Server{opts: opts, byID: map[string]*bundle{}, tokens: map[string]time.Time{}, used: map[string]bool{}}
	s.next = s.now().Add(opts.Every)
	if opts.Fixtures {
		if err := s.loadFixtures(); err != nil {
			return nil, err
		}
	}
	if opts.Results {
		s.results()
	}
	for i := 0; i < opts.Generate; i++ {
		s.generate()
	}
	tlsCfg, err := pki.ServerTLS(false)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("datahubtest: listen %s: %w", addr, err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.TLS = tlsCfg
	s.srv.StartTLS()
	return s, nil
}

// URL is the simulator's base URL (the host root before /v1.0/cim).
func (s *Server) URL() string { return s.srv.URL }

// TokenURL is the simulator's Entra ID token endpoint.
func (s *Server) TokenURL() string { return s.srv.URL + "/" + s.opts.Tenant + "/oauth2/v2.0/token" }

// Scope is the scope the token endpoint expects.
func (s *Server) Scope() string { return s.opts.AppID + "/.default" }

// ClientID and ClientSecret are the credentials the simulator accepts.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret is the secret the simulator accepts.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Close stops the simulator.
func (s *Server) Close() { s.srv.Close() }

// DemoSource returns a ready datahub source for this simulator, trusting the CA file in files,
// and its client secret (for the keyring).
func (s *Server) DemoSource(name string, files simtls.Files) (store.Source, string) {
	src := store.Source{Name: name, Kind: "datahub", Enabled: true, Config: map[string]string{
		"base_url": s.URL(), "token_url": s.TokenURL(), "client_id": s.opts.ClientID, "scope": s.Scope(),
		"format": "xml", "ca": files.CA,
		// The actor the simulator delivers to, so that requests can go out at once.
		datahub.SettingSenderGLN: s.opts.Receiver, datahub.SettingMarketRole: s.opts.ReceiverRole,
	}}
	src.SetList("queues", datahub.DefaultQueues)
	return src, s.opts.ClientSecret
}

// Inject adds faults to the ones still pending.
func (s *Server) Inject(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.PeekErrors += f.PeekErrors
	s.faults.DequeueErrors += f.DequeueErrors
	s.faults.TokenErrors += f.TokenErrors
	s.faults.Malformed += f.Malformed
	s.faults.NoMessageID += f.NoMessageID
	s.faults.RefuseRequests += f.RefuseRequests
	s.faults.LoseAccepted += f.LoseAccepted
	s.faults.Echoes = append(s.faults.Echoes, f.Echoes...)
}

// echo answers the next pending Echo, if any, and reports whether it did.
func (s *Server) echo(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	if len(s.faults.Echoes) == 0 {
		s.mu.Unlock()
		return false
	}
	e := s.faults.Echoes[0]
	s.faults.Echoes = s.faults.Echoes[1:]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	io.WriteString(w, e.Body(r))
	return true
}

// Enqueue adds a document to a queue ("timeseries" or "aggregations"); its MessageId is the
// given id. body is served as is.
func (s *Server) Enqueue(queue, id string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(&bundle{id: id, category: category(queue), ready: s.now(), body: body})
}

// Waiting returns the ids not yet dequeued in a queue, oldest first, ready or not.
func (s *Server) Waiting(queue string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.queue {
		if b.category == category(queue) && b.dequeued == 0 {
			out = append(out, b.id)
		}
	}
	return out
}

// Dequeues says how many times a document was dequeued.
func (s *Server) Dequeues(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.byID[id]; b != nil {
		return b.dequeued
	}
	return 0
}

// Dequeued lists the ids dequeued at least once, in queue order.
func (s *Server) Dequeued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.queue {
		if b.dequeued > 0 {
			out = append(out, b.id)
		}
	}
	return out
}

// Peeks is the number of peeks answered 200 or 204.
func (s *Server) Peeks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peeks
}

// Pings is the number of authorised calls of the health endpoint (GET /ping).
func (s *Server) Pings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

// TokenCalls is the number of token requests received.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// Requests lists the request documents accepted.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.reqs...)
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) add(b *bundle) {
	s.queue = append(s.queue, b)
	s.byID[b.id] = b
}

func category(queue string) string {
	switch strings.ToLower(queue) {
	case "timeseries", "measuredata":
		return "MeasureData"
	case "aggregations":
		return "Aggregations"
	}
	return ""
}

func (s *Server) loadFixtures() error {
	var names []string
	for _, pattern := range []string{"fixtures/*.xml", "fixtures/*.json"} {
		m, err := fs.Glob(fixtureFS, pattern)
		if err != nil {
			return err
		}
		names = append(names, m...)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fixtureFS.ReadFile(name)
		if err != nil {
			return err
		}
		base := strings.TrimPrefix(name, "fixtures/")
		cat := "MeasureData"
		if strings.HasPrefix(base, "aggregations_") {
			cat = "Aggregations"
		}
		format := datahub.FormatXML
		if strings.HasSuffix(base, ".json") {
			format = datahub.FormatJSON
		}
		doc, err := datahub.Parse(format, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("datahubtest: fixture %s: %w", base, err)
		}
		s.add(&bundle{id: doc.MRID, category: cat, ready: s.now(), body: body})
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serve routes a request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/"+s.opts.Tenant+"/oauth2/v2.0/token" {
		s.token(w, r)
		return
	}
	if r.URL.Path == "/ping" && r.Method == http.MethodGet {
		// The health endpoint of Energinet's interface document, behind the same token.
		if !s.authorised(w, r) {
			return
		}
		s.mu.Lock()
		s.pings++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Healthy")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1.0/cim/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !s.authorised(w, r) || s.echo(w, r) {
		return
	}
	// The backend picks the format from Content-Type only, and refuses a request without it.
	format := formatOf(r.Header.Get("Content-Type"))
	if format == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		io.WriteString(w, "Could not get Content-Type from request header. The supported values are: application/xml, application/json, application/ebix")
		return
	}
	switch {
	case r.Method == http.MethodGet && !strings.Contains(rest, "/"):
		s.peek(w, strings.ToLower(rest), format)
	case r.Method == http.MethodDelete && strings.HasPrefix(rest, "dequeue/"):
		s.dequeue(w, strings.TrimPrefix(rest, "dequeue/"), format)
	case r.Method == http.MethodPost && !strings.Contains(rest, "/"):
		s.incoming(w, r, strings.ToLower(rest), format)
	default:
		http.NotFound(w, r)
	}
}

func formatOf(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/json":
		return "json"
	case "application/xml":
		return "xml"
	}
	return ""
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenCalls++
	fail := s.faults.TokenErrors > 0
	if fail {
		s.faults.TokenErrors--
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred."}`)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type","error_description":"AADSTS70003: The app requested an unsupported grant type."}`)
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if id != s.opts.ClientID || secret != s.opts.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`)
		return
	}
	if r.PostForm.Get("scope") != s.Scope() {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_scope","error_description":"AADSTS1002012: The provided value for scope is not valid.","error_codes":[1002012]}`)
		return
	}
	tok := randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = s.now().Add(s.opts.TokenLifetime)
	s.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": int(s.opts.TokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.TokenLifetime / time.Second), "access_token": tok})
}

// authorised checks the bearer token as API Management does: a failed validation is a 403.
func (s *Server) authorised(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case !ok:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"statusCode":401,"message":"Access denied due to missing bearer token."}`)
		return false
	case !known || !s.now().Before(exp):
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"statusCode":403,"message":"Unauthorized to access this endpoint."}`)
		return false
	}
	w.Header().Del("Content-Type")
	return true
}

// writeError writes the backend's PascalCase error object in the request's format.
func writeError(w http.ResponseWriter, status int, format, code, message, target string) {
	if format == "xml" {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(status)
		var b bytes.Buffer
		b.WriteString("<Error>\n  <Code>")
		xmlEscape(&b, code)
		b.WriteString("</Code>\n  <Message>")
		xmlEscape(&b, message)
		b.WriteString("</Message>\n  <Target>")
		xmlEscape(&b, target)
		b.WriteString("</Target>\n</Error>")
		w.Write(b.Bytes())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"Error": map[string]string{"Code": code, "Message": message, "Target": target}})
}

func (s *Server) peek(w http.ResponseWriter, queue, format string) {
	cat := category(queue)
	if cat == "" {
		// masterdata and all are not categories of the CIM backend today.
		http.NotFound(w, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.PeekErrors > 0 {
		s.faults.PeekErrors--
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"Message":"The service is temporarily unavailable."}`)
		return
	}
	s.catchUp()
	s.peeks++
	ct := "application/xml; charset=utf-8"
	if format == "json" {
		ct = "application/json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct) // follows the request, even when the stored body does not
	now := s.now()
	for _, b := range s.queue {
		if b.category != cat || b.dequeued > 0 || b.ready.After(now) {
			continue
		}
		if b.body == nil {
			b.body = b.render(format) // rendered once, on the first peek, and stored
		}
		b.peeked = true
		if s.faults.NoMessageID > 0 {
			s.faults.NoMessageID--
		} else {
			w.Header().Set("MessageId", b.id)
		}
		w.WriteHeader(http.StatusOK)
		w.Write(b.body)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dequeue(w http.ResponseWriter, id, format string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.DequeueErrors > 0 {
		s.faults.DequeueErrors--
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"Message":"An unexpected error occurred! Please try later."}`)
		return
	}
	b := s.byID[id]
	if len(id) > 36 || b == nil || !b.peeked {
		writeError(w, http.StatusBadRequest, format, "BadArgument", fmt.Sprintf("Unknown message id '%s'", id), "MessageId")
		return
	}
	b.dequeued++
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
}

// catchUp enqueues the generated documents due by now.
func (s *Server) catchUp() {
	if s.opts.Every <= 0 {
		return
	}
	now := s.now()
	for i := 0; i < 1000 && !s.next.After(now); i++ {
		s.generate()
		s.next = s.next.Add(s.opts.Every)
	}
}

func xmlEscape(b *bytes.Buffer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	b.WriteString(r.Replace(s))
}
