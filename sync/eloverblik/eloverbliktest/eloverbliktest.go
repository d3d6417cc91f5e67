// Package eloverbliktest is an in-process Eloverblik customer API (api.eloverblik.dk/customerapi),
// for tests and for `custody simulate` and `custody --demo`, over HTTPS on loopback.
//
// It behaves like the real service as reference/eloverblik.md describes it: a refresh token
// that is a JWT with exp and tokenType CUSTOMERAPI_Refresh; `GET api/token` answering
// {"result": DATA_TOKEN} (a JWT valid 24 hours) and at most 2 token calls a minute per client
// IP address, else 429 (every call counts, the refused ones too, so a client that keeps
// trying stays locked out); at most 120 calls a minute per client IP address; `GET
// api/isalive` without a token; the {"result":[...]} envelope with
// success, errorCode (a number in some answers, a string in others), errorText and id per
// metering point, and errors inside it under HTTP 200; time series posted to
// `api/meterdata/gettimeseries/{from}/{to}/{aggregation}` with the API's limits (Danish
// dates, [from, to), never from == to, at most 730 days, the last 5 years and this year, to not
// after today), 400 answers whose body is a bare JSON string ("#30002: ..."); one Period per
// Danish day, so 23 and 25 points on the DST days; missing quantities (quality A02, no
// quantity); estimated values (A03) on the newest days that are corrected later; a 503
// "DataHub unavailable" now and then; getdetails (master data with an address) and getcharges
// (tariffs and subscriptions).
package eloverbliktest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Copenhagen must resolve on machines without a zoneinfo database

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"custody/store"
	"custody/sync/simtls"
)

// Paths of the simulator, under its URL. The base URL a source names is URL()+BasePath.
const (
	BasePath       = "/customerapi"
	TokenPath      = BasePath + "/api/token"
	PointsPath     = BasePath + "/api/meteringpoints/meteringpoints"
	AlivePath      = BasePath + "/api/isalive"
	DetailsPath    = BasePath + "/api/meteringpoints/meteringpoint/getdetails"
	ChargesPath    = BasePath + "/api/meteringpoints/meteringpoint/getcharges"
	TimeSeriesPath = BasePath + "/api/meterdata/gettimeseries/"
)

// Limits of the real service (the OpenAPI description's "Limitations").
const (
	TokenCallsPerMinute = 2
	CallsPerMinute      = 120
	MaxDays             = 730
	MaxPoints           = 10
	DataTokenLifetime   = 24 * time.Hour
)

var copenhagen = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		panic(err) // tzdata is embedded
	}
	return loc
}()

// MeteringPoint is one metering point the simulated customer has linked.
type MeteringPoint struct {
	ID   string // 18-digit GSRN
	Type string // E17 consumption, E18 production
	// Street, Building, Postcode and City are its address (fictitious).
	Street, Building, Postcode, City string
	// Scale multiplies the generated profile (1 for a household's consumption).
	Scale float64
}

// DefaultPoints are a Danish household's metering points: consumption and rooftop solar.
var DefaultPoints = []MeteringPoint{
	{ID: "571313174100000012", Type: "E17", Street: "Ahornvej", Building: "7", Postcode: "8600", City: "Silkeborg", Scale: 1},
	{ID: "571313174100000029", Type: "E18", Street: "Ahornvej", Building: "7", Postcode: "8600", City: "Silkeborg", Scale: 1},
}

// Options configure a simulator. The zero value is the household of DefaultPoints with a
// year of hourly data, the real limits, a 503 on every 25th data call and a refresh token
// valid for a year.
type Options struct {
	Points []MeteringPoint
	// From is the first Danish day with data; default a year before Now.
	From time.Time
	// Lag is how long after a Danish day ends its data appears; default 6 hours.
	Lag time.Duration
	// Now is the simulator's clock; default time.Now.
	Now func() time.Time
	// RefreshLifetime is how long the refresh token DemoSource and RefreshToken make is
	// valid; default a year.
	RefreshLifetime time.Duration
	// UnavailableEvery makes every n-th data call answer 503 "DataHub unavailable"; default
	// 25, negative for never.
	UnavailableEvery int
	// RetryAfter, when set, is sent as Retry-After with 429 and 503 answers (the real service
	// sends none).
	RetryAfter time.Duration
	// MaxPoints is the most metering points one call may name; default 10.
	MaxPoints int
}

// Fault is an answer the simulator gives to the next call of its kind instead of the real one.
type Fault struct {
	// Token applies the fault to the next token call, else to the next data call.
	Token bool
	// Status is the HTTP status (200 for an error inside the envelope).
	Status int
	// Code is the envelope's errorCode; 0 answers Status with a plain body.
	Code int
	// Echo, when set, makes the body from the request, as a service quoting what it received
	// does (the refresh or data token of its Authorization header, say).
	Echo func(r *http.Request) string
}

// Request is one call the simulator received.
type Request struct {
	Method, Path string
	At           time.Time
	// Client is the IP address the call came from, as the service counts its limits.
	Client string
	// Auth is "refresh", "data" or "" for the kind of valid token presented.
	Auth   string
	Status int
	// IDs are the metering points the body named.
	IDs []string
}

// Server is a running simulator.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	url  string
	wg   sync.WaitGroup
	key  []byte // HS256 key of the tokens it issues
	mu   sync.Mutex
	reqs []Request
	// counted is every call as it arrived, for the per-address limits (reqs holds a call
	// only once it is answered).
	counted []Request
	faults  []Fault
	data    map[string]time.Time // issued data token → expiry
	calls   int                  // data calls so far, for UnavailableEvery
	revoke  bool
}

// Start starts a simulator on addr (a loopback address such as "127.0.0.1:0") with pki's
// server certificate.
func Start(pki *simtls.PKI, addr string, opts Options) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("eloverbliktest: listen address %q: %w", addr, err)
	}
	if host == "" {
		addr = "127.0.0.1" + addr
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("eloverbliktest: listen address %q: the simulator listens on loopback only", addr)
	}
	s := New(opts)
	tc, err := pki.ServerTLS(false)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("eloverbliktest: %w", err)
	}
	s.ln = ln
	s.url = "https://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.ServeTLS(ln, "", "")
	}()
	return s, nil
}

// New returns a simulator that is not listening: an http.Handler for tests that serve it
// themselves (such as over an in-memory TLS pipe inside a synctest bubble).
func New(opts Options) *Server {
	if len(opts.Points) == 0 {
		opts.Points = DefaultPoints
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.From.IsZero() {
		opts.From = opts.Now().AddDate(-1, 0, 0)
	}
	opts.From = dayOf(opts.From)
	if opts.Lag <= 0 {
		opts.Lag = 6 * time.Hour
	}
	if opts.RefreshLifetime <= 0 {
		opts.RefreshLifetime = 365 * 24 * time.Hour
	}
	if opts.UnavailableEvery == 0 {
		opts.UnavailableEvery = 25
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = MaxPoints
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &Server{opts: opts, key: key, data: map[string]time.Time{}}
}

// URL is the simulator's origin, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// SetURL sets the origin a simulator made with New is served at.
func (s *Server) SetURL(u string) { s.url = u }

// BaseURL is the value of a source's --base-url: URL()+"/customerapi".
func (s *Server) BaseURL() string { return s.url + BasePath }

// Close stops the simulator.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// RefreshToken makes a refresh token valid until exp, as the user makes one on eloverblik.dk.
func (s *Server) RefreshToken(exp time.Time) string {
	return s.sign("CUSTOMERAPI_Refresh", exp)
}

// DemoSource returns a ready eloverblik source for this simulator, trusting the CA file in
// files, and the refresh token to put in the keyring.
func (s *Server) DemoSource(name string, files simtls.Files) (store.Source, string) {
	src := store.Source{Name: name, Kind: "eloverblik", Enabled: true, Config: map[string]string{
		"base_url": s.BaseURL(), "ca": files.CA,
	}}
	return src, s.RefreshToken(s.opts.Now().Add(s.opts.RefreshLifetime))
}

// Inject queues faults for the next calls.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Revoke makes every later token call answer 200 with success false and error 50001, as the
// service does for a refresh token the user deleted.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoke = true
}

// Requests returns the calls received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// DataTokens returns every data token issued so far, for tests that check none was stored.
func (s *Server) DataTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.data {
		out = append(out, t)
	}
	return out
}

func (s *Server) sign(typ string, exp time.Time) string {
	tok, err := jwt.NewBuilder().Issuer("Energinet").Subject("customer").IssuedAt(s.opts.Now()).
		Expiration(exp).Claim("tokenType", typ).Claim("jti", randHex(8)).Build()
	if err != nil {
		panic(err) // fixed claims always build
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), s.key))
	if err != nil {
		panic(err) // an HMAC key always signs
	}
	return string(b)
}

// verify returns the token type of a valid token the simulator issued, or "".
func (s *Server) verify(raw string) string {
	tok, err := jwt.Parse([]byte(raw), jwt.WithKey(jwa.HS256(), s.key), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(s.opts.Now)))
	if err != nil {
		return ""
	}
	var typ string
	if tok.Get("tokenType", &typ) != nil {
		return ""
	}
	return typ
}

// clientIP is the address part of a remote address ("127.0.0.1:53412"), or the whole of it
// when it has no port (an in-memory pipe's "pipe").
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.ToLower(r.URL.Path) // the real service's paths are case-insensitive
	now := s.opts.Now()
	req := Request{Method: r.Method, Path: r.URL.Path, At: now, Client: clientIP(r.RemoteAddr)}
	status := s.serve(w, r, path, now, &req)
	req.Status = status
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
}

// answer writes one answer and returns its status, for the record of requests.
type answer struct {
	w http.ResponseWriter
	r *http.Request
}

func (a *answer) json(status int, v any) int {
	b, _ := json.Marshal(v)
	a.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	a.w.Header().Set("X-Correlation-ID", randHex(16))
	a.w.WriteHeader(status)
	a.w.Write(b)
	return status
}

func (a *answer) problem(status int, title string) int {
	return a.json(status, map[string]any{"type": "https://tools.ietf.org/html/rfc7231", "title": title, "status": status})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string, now time.Time, req *Request) int {
	a := &answer{w: w, r: r}
	if id := r.Header.Get("X-User-Correlation-ID"); id != "" {
		w.Header().Set("X-User-Correlation-ID", id)
	}
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	// 120 calls a minute per address in all, 2 token calls a minute per address. A call is
	// counted as it arrives, under the same lock as the count, so that calls arriving
	// together cannot all slip under the limit (refused calls count too, as at Eloverblik).
	recent, recentToken := 0, 0
	for _, q := range s.counted {
		if q.Client == req.Client && now.Sub(q.At) < time.Minute {
			recent++
			if strings.EqualFold(q.Path, TokenPath) {
				recentToken++
			}
		}
	}
	s.counted = append(s.counted, *req)
	s.mu.Unlock()
	if recent >= CallsPerMinute {
		return s.tooMany(a)
	}
	if path == strings.ToLower(TokenPath) {
		if r.Method != http.MethodGet {
			return a.problem(http.StatusMethodNotAllowed, "Method Not Allowed")
		}
		if recentToken >= TokenCallsPerMinute {
			return s.tooMany(a)
		}
		typ := s.verify(bearer)
		if f, ok := s.fault(true); ok {
			return s.faultAnswer(a, f, nil)
		}
		switch {
		case typ == "":
			return a.problem(http.StatusUnauthorized, "Unauthorized")
		case typ != "CUSTOMERAPI_Refresh":
			return a.problem(http.StatusForbidden, "Forbidden")
		}
		req.Auth = "refresh"
		s.mu.Lock()
		revoked := s.revoke
		s.mu.Unlock()
		if revoked {
			return a.json(http.StatusOK, map[string]any{"result": nil, "success": false, "errorCode": 50001, "errorText": "TokenNotValid"})
		}
		exp := now.Add(DataTokenLifetime)
		dt := s.sign("CUSTOMERAPI_DataAccess", exp)
		s.mu.Lock()
		s.data[dt] = exp
		s.mu.Unlock()
		return a.json(http.StatusOK, map[string]any{"result": dt})
	}
	if !strings.HasPrefix(path, strings.ToLower(BasePath)+"/api/") {
		return a.problem(http.StatusNotFound, "Not Found")
	}
	if path == strings.ToLower(AlivePath) && r.Method == http.MethodGet {
		return a.json(http.StatusOK, true) // the health check needs no token
	}
	if s.verify(bearer) != "CUSTOMERAPI_DataAccess" {
		return a.problem(http.StatusUnauthorized, "Unauthorized")
	}
	req.Auth = "data"
	s.mu.Lock()
	s.calls++
	unavailable := s.opts.UnavailableEvery > 0 && s.calls%s.opts.UnavailableEvery == 0
	s.mu.Unlock()
	var ids []string
	if r.Method == http.MethodPost {
		var body struct {
			MeteringPoints struct {
				MeteringPoint []string `json:"meteringPoint"`
			} `json:"meteringPoints"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			return a.json(http.StatusBadRequest, "#10001: Wrong number of arguments.")
		}
		ids = body.MeteringPoints.MeteringPoint
		req.IDs = ids
	}
	if f, ok := s.fault(false); ok {
		return s.faultAnswer(a, f, ids)
	}
	if unavailable {
		if s.opts.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter/time.Second)))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "DataHub unavailable")
		return http.StatusServiceUnavailable
	}
	if r.Method == http.MethodPost && len(ids) > s.opts.MaxPoints {
		entries := make([]map[string]any, len(ids))
		for i, id := range ids {
			entries[i] = entry(id, nil, 10004, "ExceededMeteringPointLimit")
		}
		return a.json(http.StatusTooManyRequests, map[string]any{"result": entries})
	}
	switch {
	case path == strings.ToLower(PointsPath) && r.Method == http.MethodGet:
		return a.json(http.StatusOK, map[string]any{"result": s.pointList()})
	case path == strings.ToLower(DetailsPath) && r.Method == http.MethodPost:
		return a.json(http.StatusOK, map[string]any{"result": s.perPoint(ids, s.details, false)})
	case path == strings.ToLower(ChargesPath) && r.Method == http.MethodPost:
		return a.json(http.StatusOK, map[string]any{"result": s.perPoint(ids, s.charges, true)})
	case strings.HasPrefix(path, strings.ToLower(TimeSeriesPath)) && r.Method == http.MethodPost:
		return s.timeSeries(a, strings.TrimPrefix(path, strings.ToLower(TimeSeriesPath)), ids, now)
	}
	return a.problem(http.StatusNotFound, "Not Found")
}

func (s *Server) tooMany(a *answer) int {
	if s.opts.RetryAfter > 0 {
		a.w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter/time.Second)))
	}
	return a.problem(http.StatusTooManyRequests, "Too Many Requests")
}

func (s *Server) fault(token bool) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Token == token {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

func (s *Server) faultAnswer(a *answer, f Fault, ids []string) int {
	if f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable {
		if s.opts.RetryAfter > 0 {
			a.w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter/time.Second)))
		}
	}
	if f.Echo != nil {
		a.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		a.w.WriteHeader(f.Status)
		io.WriteString(a.w, f.Echo(a.r))
		return f.Status
	}
	if f.Code == 0 {
		if f.Status == http.StatusServiceUnavailable {
			a.w.WriteHeader(f.Status)
			io.WriteString(a.w, "DataHub unavailable")
			return f.Status
		}
		return a.problem(f.Status, http.StatusText(f.Status))
	}
	text := errorNames[f.Code]
	if f.Token {
		return a.json(f.Status, map[string]any{"result": nil, "success": false, "errorCode": f.Code, "errorText": text})
	}
	if f.Status == http.StatusBadRequest {
		return a.json(f.Status, fmt.Sprintf("#%d: %s.", f.Code, text))
	}
	if len(ids) == 0 {
		ids = []string{""}
	}
	entries := make([]map[string]any, len(ids))
	for i, id := range ids {
		entries[i] = entry(id, nil, f.Code, text)
	}
	return a.json(f.Status, map[string]any{"result": entries})
}

// errorNames are the errorText of the codes the simulator gives.
var errorNames = map[int]string{
	10000: "NoError", 10001: "WrongNumberOfArguments", 10002: "TooManyMeteringPoints", 10004: "ExceededMeteringPointLimit",
	20008: "MeteringPointNotFound", 20010: "RelationNotFound", 20012: "Unauthorized",
	30000: "FromDateIsGreaterThanToday", 30001: "FromDateIsGreaterThanToDate", 30002: "ToDateCanNotBeEqualToFromDate",
	30003: "ToDateIsGreaterThanToday", 30004: "InvalidDateFormat", 30008: "RequestedAggregationUnavailable",
	30010: "DateNotCoveredByAuthorization", 30011: "InternalServerError", 30014: "PeriodTooLong",
	50000: "WrongTokenType", 50001: "TokenNotValid", 50006: "TokenWithoutId",
}

func entry(id string, result any, code int, text string) map[string]any {
	e := map[string]any{"success": code == 10000, "errorCode": code, "errorText": text, "id": id, "stackTrace": nil}
	if result != nil {
		e["result"] = result
	}
	return e
}

func (s *Server) point(id string) (MeteringPoint, bool) {
	for _, p := range s.opts.Points {
		if p.ID == id {
			return p, true
		}
	}
	return MeteringPoint{}, false
}

func (s *Server) perPoint(ids []string, f func(MeteringPoint) map[string]any, stringCode bool) []map[string]any {
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		p, ok := s.point(id)
		if !ok {
			out = append(out, entry(id, nil, 20010, errorNames[20010]))
			continue
		}
		e := entry(id, f(p), 10000, "NoError")
		if stringCode {
			e["errorCode"] = "10000" // the service sends it either way
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) pointList() []map[string]any {
	out := make([]map[string]any, 0, len(s.opts.Points))
	for _, p := range s.opts.Points {
		out = append(out, map[string]any{
			"meteringPointId": p.ID, "typeOfMP": p.Type, "balanceSupplierName": "Andel Energi", "postcode": p.Postcode,
			"cityName": p.City, "hasRelation": true, "consumerCVR": "", "dataAccessCVR": "", "childMeteringPoints": []any{},
			"streetCode": "0412", "streetName": p.Street, "buildingNumber": p.Building, "floorId": "", "roomId": "",
			"citySubDivisionName": "", "municipalityCode": "740", "locationDescription": "", "settlementMethod": "D01",
			"meterReadingOccurrence": "PT1H", "firstConsumerPartyName": "Demo Husstand", "secondConsumerPartyName": "",
			"meterNumber": p.ID[10:], "consumerStartDate": "2019-06-30T22:00:00.000Z",
		})
	}
	return out
}

func (s *Server) details(p MeteringPoint) map[string]any {
	return map[string]any{
		"meteringPointId": p.ID, "parentMeteringPointId": "", "typeOfMP": p.Type, "energyTimeSeriesMeasureUnit": "KWH",
		"estimatedAnnualVolume": "4200", "settlementMethod": "D01", "meterNumber": p.ID[10:], "gridOperatorName": "N1 A/S - 131",
		"gridOperatorID": "5790001089030", "gridOperatorID_SchemeAgencyIdentifier": "GLN", "meteringGridAreaIdentification": "131",
		"netSettlementGroup": "6", "physicalStatusOfMP": "E22", "consumerCategory": "", "powerLimitKW": "", "powerLimitKWDecimal": nil,
		"powerLimitA": "", "subTypeOfMP": "D01", "productionObligation": "", "mpCapacity": "", "mpConnectionType": "", "disconnectionType": "D02",
		"product": "Item8716867000030", "consumerCVR": "", "dataAccessCVR": "", "consumerStartDate": "2019-06-30T22:00:00.000Z",
		"meterReadingOccurrence": "PT1H", "mpReadingCharacteristics": "D01", "meterCounterDigits": "7.0", "meterCounterMultiplyFactor": "1.0",
		"meterCounterUnit": "KWH", "meterCounterType": "D01", "balanceSupplierName": "Andel Energi", "balanceSupplierId": "5790000000001",
		"taxReduction": "False", "taxSettlementDate": "", "mpRelationType": "", "streetCode": "0412", "streetName": p.Street,
		"buildingNumber": p.Building, "floorId": "", "roomId": "", "postcode": p.Postcode, "cityName": p.City, "citySubDivisionName": "",
		"municipalityCode": "740", "locationDescription": "", "firstConsumerPartyName": "Demo Husstand", "secondConsumerPartyName": "",
		"protectedName": "False", "meteringPointAlias": "", "contactAddresses": []any{}, "childMeteringPoints": []any{},
	}
}

// charges are a Danish grid company's tariffs (DKK per kWh; the C-customer time tariff is
// dearer from 17 to 21), the state's electricity tax, Energinet's tariffs and the grid
// subscription. Only current and future prices, as the service gives them.
func (s *Server) charges(p MeteringPoint) map[string]any {
	from := "2025-12-31T23:00:00.000Z"
	hours := make([]map[string]any, 24)
	for h := range hours {
		price := 0.1507
		switch {
		case h >= 17 && h < 21:
			price = 0.4521
		case h >= 6:
			price = 0.2261
		}
		hours[h] = map[string]any{"position": strconv.Itoa(h + 1), "price": price}
	}
	tariffs := []map[string]any{
		{"name": "Nettarif C time", "description": "Nettarif C time", "owner": "5790001089030", "periodType": "P1H",
			"validFromDate": from, "validToDate": nil, "prices": hours},
		{"name": "Elafgift", "description": "Elafgift", "owner": "5790000432752", "periodType": "P1D",
			"validFromDate": from, "validToDate": nil, "prices": []map[string]any{{"position": "1", "price": 0.72}}},
		{"name": "Transmissions nettarif", "description": "Net tarif", "owner": "5790000432752", "periodType": "P1D",
			"validFromDate": from, "validToDate": nil, "prices": []map[string]any{{"position": "1", "price": 0.049}}},
		{"name": "Systemtarif", "description": "System tarif", "owner": "5790000432752", "periodType": "P1D",
			"validFromDate": from, "validToDate": nil, "prices": []map[string]any{{"position": "1", "price": 0.051}}},
	}
	subs := []map[string]any{
		{"subscriptionId": "", "name": "Netabonnement C", "description": "Abonnement", "owner": "5790001089030",
			"validFromDate": from, "validToDate": nil, "price": 23.2, "quantity": 1},
	}
	if p.Type == "E18" { // production pays no consumption tariffs
		tariffs, subs = []map[string]any{}, []map[string]any{}
	}
	return map[string]any{"meteringPointId": p.ID, "subscriptions": subs, "fees": []any{}, "tariffs": tariffs}
}

// dayOf is the Danish day holding t, as its local midnight.
func dayOf(t time.Time) time.Time {
	l := t.In(copenhagen)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, copenhagen)
}

func (s *Server) timeSeries(a *answer, rest string, ids []string, now time.Time) int {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return a.problem(http.StatusNotFound, "Not Found")
	}
	from, err1 := time.ParseInLocation("2006-01-02", parts[0], copenhagen)
	to, err2 := time.ParseInLocation("2006-01-02", parts[1], copenhagen)
	today := dayOf(now)
	earliest := time.Date(today.Year()-5, 1, 1, 0, 0, 0, 0, copenhagen)
	bad := func(code int, text string) int {
		return a.json(http.StatusBadRequest, fmt.Sprintf("#%d: %s", code, text))
	}
	switch {
	case err1 != nil || err2 != nil:
		return bad(30004, "Invalid date format.")
	case from.Equal(to):
		return bad(30002, "Period not allowed, ToDate is equal to FromDate.")
	case from.After(today):
		return bad(30000, "From-date is later than todays date.")
	case from.After(to):
		return bad(30001, "From-date is later than to-date.")
	case to.After(today):
		return bad(30003, "To-date is later than todays date.")
	case to.Sub(from) > MaxDays*24*time.Hour+2*time.Hour:
		return bad(30014, "Period not allowed, the maximum is 730 days.")
	case from.Before(earliest):
		return bad(30010, "Period not allowed, data is only available for the last 5 years and the current year.")
	}
	agg := strings.ToLower(parts[2])
	entries := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		p, ok := s.point(id)
		switch {
		case !ok:
			entries = append(entries, entry(id, nil, 20010, errorNames[20010]))
			continue
		case agg != "actual" && agg != "hour":
			entries = append(entries, entry(id, nil, 30008, errorNames[30008]))
			continue
		}
		e := entry(id, nil, 10000, "NoError")
		e["MyEnergyData_MarketDocument"] = s.document(p, from, to, now)
		entries = append(entries, e)
	}
	return a.json(http.StatusOK, map[string]any{"result": entries})
}

const stamp = "2006-01-02T15:04:05Z"

// document is one metering point's MyEnergyData_MarketDocument for the Danish days [from, to):
// one Period per day with data, 23, 24 or 25 hourly points.
func (s *Server) document(p MeteringPoint, from, to, now time.Time) map[string]any {
	var periods []map[string]any
	d := from
	if d.Before(s.opts.From) {
		d = s.opts.From
	}
	for ; d.Before(to); d = d.AddDate(0, 0, 1) {
		end := d.AddDate(0, 0, 1)
		if now.Before(end.Add(s.opts.Lag)) {
			break // not published yet
		}
		var points []map[string]any
		for h, pos := d, 1; h.Before(end); h, pos = h.Add(time.Hour), pos+1 {
			pt := map[string]any{"position": strconv.Itoa(pos)}
			v, quality := s.value(p, h, end, now)
			if quality != "A02" {
				pt["out_Quantity.quantity"] = strconv.FormatFloat(v, 'f', 3, 64)
			}
			pt["out_Quantity.quality"] = quality
			points = append(points, pt)
		}
		periods = append(periods, map[string]any{
			"resolution":   "PT1H",
			"timeInterval": map[string]any{"start": d.UTC().Format(stamp), "end": end.UTC().Format(stamp)},
			"Point":        points,
		})
	}
	h := sha256.Sum256([]byte(p.ID + from.String() + to.String() + now.String()))
	doc := map[string]any{
		"mRID": hex.EncodeToString(h[:16]), "createdDateTime": now.UTC().Format(stamp),
		"sender_MarketParticipant.name": "", "sender_MarketParticipant.mRID": map[string]any{"codingScheme": nil, "name": nil},
		"period.timeInterval": map[string]any{"start": from.UTC().Format(stamp), "end": to.UTC().Format(stamp)},
		"TimeSeries":          []any{},
	}
	if len(periods) > 0 {
		business := "A04"
		if p.Type == "E18" {
			business = "A01"
		}
		doc["TimeSeries"] = []any{map[string]any{
			"mRID": p.ID, "businessType": business, "curveType": "A01", "measurement_Unit.name": "KWH",
			"MarketEvaluationPoint": map[string]any{"mRID": map[string]any{"codingScheme": "A10", "name": p.ID}},
			"Period":                periods,
		}}
	}
	return doc
}

// hash is a stable pseudo-random number in [0, 1) for a metering point and an hour.
func hash(id string, t time.Time, salt byte) float64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.Unix()))
	h := sha256.Sum256(append(append([]byte(id), b[:]...), salt))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
}

// value is the hour's quantity and quality: a household's daily profile (or a solar curve for
// production), an hour in about 300 missing (A02), and on days that ended less than two days
// ago a few estimated hours (A03) that are corrected later.
func (s *Server) value(p MeteringPoint, h, dayEnd, now time.Time) (float64, string) {
	if hash(p.ID, h, 1) < 1.0/300 {
		return 0, "A02"
	}
	l := h.In(copenhagen)
	hr := float64(l.Hour())
	season := math.Cos(2 * math.Pi * float64(l.YearDay()-15) / 365) // 1 in mid January, -1 in July
	var v float64
	if p.Type == "E18" {
		daylight := 12 - 4.5*season
		rise := 12.5 - daylight/2
		x := (hr + 0.5 - rise) / daylight
		if x > 0 && x < 1 {
			v = (3.2 - 1.8*season) * math.Sin(math.Pi*x) * (0.4 + 0.6*hash(p.ID, h, 2))
		}
	} else {
		v = 0.22 + 0.12*season
		v += 0.5 * math.Exp(-(hr-7.5)*(hr-7.5)/2)
		v += 0.9 * math.Exp(-(hr-18.5)*(hr-18.5)/3)
		v *= 0.8 + 0.4*hash(p.ID, h, 2)
	}
	v = math.Round(v*p.Scale*1000) / 1000
	if now.Before(dayEnd.Add(48*time.Hour)) && hash(p.ID, h, 3) < 0.15 {
		return math.Round(v*1.08*1000) / 1000, "A03"
	}
	return v, "A04"
}
