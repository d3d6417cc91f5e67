// Package eloverblik syncs a Danish household's own electricity data from Energinet's
// Eloverblik customer API (api.eloverblik.dk/customerapi), with the refresh token the user
// makes on eloverblik.dk.
//
// A sync gets a data access token (`GET api/token`, cached for its life in memory and in the
// source's keyring item, never more than 2 token calls a minute from the whole machine: the
// limit is Eloverblik's per IP address, so every database and process takes its turns from
// one machine-wide CallLog the app wires), lists the linked metering points (unless the
// source names them), fetches master data (`getdetails`, which names the meter by address and type) and prices (`getcharges`), then
// the time series (`POST api/meterdata/gettimeseries/{from}/{to}/Actual`) in windows within the
// API's limits from a cursor per metering point, with a few days' overlap for late
// corrections. Every answer is archived before it is parsed, and parsed by the same parser as
// `custody import` (package custody/sync/datahub/eloverblik), so a synced answer and the same
// answer imported from a file give identical rows. 429 and 503 are waited out (at least a
// minute, Retry-After honoured), and errors inside the envelope are read even under HTTP 200.
package eloverblik

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Copenhagen must resolve on machines without a zoneinfo database

	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/oauth2"

	"custody/store"
	"custody/sync/auth"
	parser "custody/sync/datahub/eloverblik"
	"custody/sync/engine"
	"custody/sync/fileimport"
	"custody/sync/logkey"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Kind is the source kind.
const Kind = "eloverblik"

// Source settings and the keyring field.
const (
	CfgBaseURL        = "base_url"
	CfgMeteringPoints = "metering_points"
	CfgCA             = "ca"
	// CfgTokenExpires is when the refresh token expires (its exp claim, YYYY-MM-DD), recorded
	// when it is stored so that the app can remind the user in time; not a secret.
	CfgTokenExpires = "secret_expires"
	// SecretField is the keyring field of the refresh token: the field every kind keeps its
	// one secret in, so that adding, removing and the demo treat it like any source's secret.
	SecretField = "client_secret"
	// DataTokenField is the keyring field the data access token is cached in between runs
	// (with a hash of the refresh token it was made with), so that a restart, `custody sync
	// --once` or `custody sources test` needs no token call while it is valid. Removing the
	// source removes it with the rest.
	DataTokenField = "access_token"
)

// Protocol constants, from the OpenAPI description's limits and the reference.
const (
	// DefaultBaseURL is the customer API's root.
	DefaultBaseURL = "https://api.eloverblik.dk/customerapi"
	// TokenPortal is where a person makes a refresh token (MitID → Data sharing → Create token).
	TokenPortal = "https://eloverblik.dk"
	// TokenCalls token calls are allowed per TokenPeriod per client address.
	TokenCalls  = 2
	TokenPeriod = time.Minute + time.Second // a second of margin for clocks that differ
	// MaxDays is the longest period one time series call may ask for.
	MaxDays = 730
	// HistoryYears is how far back data is kept: the last 5 years and this year.
	HistoryYears = 5
	// OverlapDays are asked for again on every sync, for late corrections.
	OverlapDays = 3
	// QuietDays: a window that brought no data moves the cursor to this many days before its end,
	// so that data published late is still asked for.
	QuietDays = 7
	// BatchPoints is how many metering points one call names at most (the recommendation).
	BatchPoints = 10
	// MinWait is the least wait after a 429 or 503; MaxWait the most a Retry-After may ask
	// for inside one sync; Retries how often one call is tried again.
	MinWait = time.Minute
	MaxWait = 10 * time.Minute
	Retries = 3
	// ExpiryWarning is how long before the refresh token expires the user is warned.
	ExpiryWarning = 30 * 24 * time.Hour
	// DetailsEvery and ChargesEvery are how often master data and prices are fetched again.
	DetailsEvery = 7 * 24 * time.Hour
	ChargesEvery = 24 * time.Hour
	// DefaultMaxBody bounds one answer (730 days of 10 hourly metering points is about 20 MB).
	DefaultMaxBody = 64 << 20
	// tokenMargin renews the data token this long before it expires.
	tokenMargin = 10 * time.Minute
)

var copenhagen = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		panic(err) // tzdata is embedded
	}
	return loc
}()

var gsrnRE = regexp.MustCompile(`^\d{18}$`)

// Config is an eloverblik source's settings.
type Config struct {
	BaseURL string
	Points  []string
	CA      string
}

// ConfigOf reads and checks a source's settings.
func ConfigOf(src store.Source) (Config, error) {
	c := Config{BaseURL: strings.TrimSuffix(strings.TrimSpace(src.Config[CfgBaseURL]), "/"), Points: src.List(CfgMeteringPoints), CA: src.Config[CfgCA]}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if o, err := auth.Origin(c.BaseURL); err != nil || !strings.HasPrefix(o, "https://") {
		return c, &syncerr.Error{Kind: syncerr.Config, Op: "settings", Err: fmt.Errorf("base URL %q is not an https URL", c.BaseURL),
			Hint: "Give the customer API root with --base-url, such as " + DefaultBaseURL + "."}
	}
	for _, p := range c.Points {
		if !gsrnRE.MatchString(p) {
			return c, &syncerr.Error{Kind: syncerr.Config, Op: "settings", Err: fmt.Errorf("metering point %q is not an 18-digit id", p),
				Hint: "Give each --metering-point as the 18 digits eloverblik.dk shows (such as 571313174100000012)."}
		}
	}
	return c, nil
}

// TokenExpiry returns the exp claim of a refresh (or data) token, read without verifying the
// signature: only Eloverblik can verify it, and the time is used only to remind the user.
func TokenExpiry(token string) (time.Time, error) {
	tok, err := jwt.ParseInsecure([]byte(strings.TrimSpace(token)))
	if err != nil {
		return time.Time{}, errors.New("the token is not a JWT (the refresh token from eloverblik.dk is a long text starting with eyJ)")
	}
	exp, ok := tok.Expiration()
	if !ok || exp.IsZero() {
		return time.Time{}, errors.New("the token has no expiry (exp)")
	}
	return exp, nil
}

// ExpiryWarningAt returns a warning when a refresh token expiring at exp expires within
// ExpiryWarning of now, or has expired; else "".
func ExpiryWarningAt(exp, now time.Time) string {
	if exp.IsZero() {
		return ""
	}
	date := exp.In(copenhagen).Format("2006-01-02")
	switch {
	case !now.Before(exp):
		return "the Eloverblik refresh token expired on " + date + ": make a new one on " + TokenPortal + " (Data sharing → Create token)"
	case exp.Sub(now) < ExpiryWarning:
		return fmt.Sprintf("the Eloverblik refresh token expires on %s (in %d days): make a new one on %s (Data sharing → Create token) in time",
			date, int(exp.Sub(now).Hours()/24), TokenPortal)
	}
	return ""
}

// CallLog is a record of calls shared by everything on the machine that calls the same
// Eloverblik host: every database, source and process. The app gives the driver one kept in
// the user's cache folder (package custody/sync/calllog); it holds the host and the times of
// the calls, never a token.
type CallLog interface {
	// Take records a call under key when fewer than limit calls were recorded under key in
	// the period per before now, and returns 0; otherwise it records nothing and returns how
	// long to wait until a call is allowed.
	Take(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (time.Duration, error)
}

// storeLog is the fallback CallLog: the database's own record, which paces only the processes
// sharing that database.
type storeLog struct{ st *store.Store }

func (l storeLog) Take(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (time.Duration, error) {
	return l.st.TakeCall(ctx, key, limit, per, now)
}

// Driver syncs eloverblik sources.
type Driver struct {
	// Calls is the machine-wide record of token calls; nil means the database's own record,
	// which cannot see other databases (tests, and a machine without a cache folder).
	Calls CallLog
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient makes the source's TLS client; nil means auth.NewHTTPClient with the CA file.
	HTTPClient func(caFile string) (*http.Client, error)
	// MaxBody bounds one answer; 0 means DefaultMaxBody.
	MaxBody int64

	mu     sync.Mutex
	tokens map[string]*oauth2.Token // data tokens by source, base URL and refresh token
}

var _ engine.Driver = (*Driver)(nil)

// NewDriver returns an eloverblik driver.
func NewDriver() *Driver { return &Driver{} }

// Kind is "eloverblik".
func (d *Driver) Kind() string { return Kind }

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Driver) sleep(ctx context.Context, dur time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, dur)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is one sync or test of one source.
type run struct {
	d       *Driver
	job     *engine.Job
	cfg     Config
	origin  string
	plain   *http.Client // for the token call: never follows a redirect
	authed  *http.Client // adds the data token, for the base URL's origin only
	tokens  *tokens
	exp     time.Time // the refresh token's expiry
	maxBody int64
	batch   int
	// noWait makes every limit and busy answer fail at once, saying when to try again,
	// instead of being waited out (for Test, which must answer at once).
	noWait bool
	res    engine.Result
	errs   []error // failures of single metering points, reported at the end
	// set holds the refresh token and every data token of the run (redact.Remember): what
	// Eloverblik answers is quoted without them.
	set *redact.Set
}

// start prepares a run; set is where its tokens are remembered (the set of the run's context).
func (d *Driver) start(job *engine.Job, set *redact.Set) (*run, error) {
	cfg, err := ConfigOf(job.Source)
	if err != nil {
		return nil, err
	}
	refresh, err := job.Secrets.Secret(job.Source.Name, SecretField)
	if err != nil || strings.TrimSpace(refresh) == "" {
		if err == nil {
			err = errors.New("empty")
		}
		return nil, &syncerr.Error{Kind: syncerr.Config, Op: "refresh token", Err: fmt.Errorf("no refresh token in the keyring: %w", err),
			Hint: "Add the source again with its refresh token (custody sources add eloverblik NAME --secret-stdin)."}
	}
	refresh = strings.TrimSpace(refresh)
	set.Add(refresh)
	exp, err := TokenExpiry(refresh)
	if err != nil {
		return nil, &syncerr.Error{Kind: syncerr.Auth, Op: "refresh token", Err: err, Hint: HintNewToken}
	}
	if !d.now().Before(exp) {
		return nil, &syncerr.Error{Kind: syncerr.Auth, Op: "refresh token",
			Err: fmt.Errorf("the refresh token expired on %s", exp.In(copenhagen).Format("2006-01-02")), Hint: HintNewToken}
	}
	mk := d.HTTPClient
	if mk == nil {
		mk = func(ca string) (*http.Client, error) { return auth.NewHTTPClient(auth.TLSConfig{CAFile: ca}) }
	}
	hc, err := mk(cfg.CA)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "TLS settings", err)
	}
	origin, _ := auth.Origin(cfg.BaseURL)
	// Never a redirect with a token, every exchange bounded (sync/auth's protections), also for
	// a client a test hands in.
	plain := auth.Harden(hc)
	h := sha256.Sum256([]byte(job.Source.Name + "\x00" + cfg.BaseURL + "\x00" + refresh))
	if job.Logger == nil {
		job.Logger = slog.New(slog.DiscardHandler)
	}
	r := &run{d: d, job: job, cfg: cfg, origin: origin, plain: plain, exp: exp, batch: BatchPoints, maxBody: d.MaxBody, set: set}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBody
	}
	rh := sha256.Sum256([]byte(refresh))
	r.tokens = &tokens{r: r, key: hex.EncodeToString(h[:]), refresh: refresh, refreshHash: hex.EncodeToString(rh[:8])}
	// Data calls: the data token only to the base URL's origin, and never across a redirect.
	authed, err := auth.NewClient(plain, r.tokens, cfg.BaseURL)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "base url", err)
	}
	r.authed = authed
	return r, nil
}

func (r *run) progress(p engine.Progress) {
	if r.job.Progress != nil {
		r.job.Progress(p)
	}
}

// tokens is the data token source of one run, backed by the driver's cache and the source's
// keyring item.
type tokens struct {
	r           *run
	key         string
	refresh     string
	refreshHash string // binds a kept data token to the refresh token it was made with
	lock        sync.Mutex
}

// secretWriter is the keyring, when the app's can be written (engine.Secrets only reads).
type secretWriter interface {
	SetSecret(source, field, value string) error
}

// cached returns the valid data token of the driver's cache or, after a restart, of the
// keyring; else nil.
func (t *tokens) cached() *oauth2.Token {
	d := t.r.d
	d.mu.Lock()
	tok := d.tokens[t.key]
	d.mu.Unlock()
	if tok != nil && d.now().Before(tok.Expiry.Add(-tokenMargin)) {
		return tok
	}
	kept, err := t.r.job.Secrets.Secret(t.r.job.Source.Name, DataTokenField)
	hash, dt, ok := strings.Cut(kept, ":")
	if err != nil || !ok || hash != t.refreshHash {
		return nil // none kept, or made with another refresh token
	}
	exp, err := TokenExpiry(dt)
	if err != nil || !d.now().Before(exp.Add(-tokenMargin)) {
		return nil
	}
	tok = &oauth2.Token{AccessToken: dt, TokenType: "Bearer", Expiry: exp}
	d.mu.Lock()
	if d.tokens == nil {
		d.tokens = map[string]*oauth2.Token{}
	}
	d.tokens[t.key] = tok
	d.mu.Unlock()
	return tok
}

// keep writes the data token to the source's keyring item, when the keyring can be written.
// A failure costs only a token call at the next start.
func (t *tokens) keep(tok *oauth2.Token) {
	w, ok := t.r.job.Secrets.(secretWriter)
	if !ok {
		return
	}
	var err error
	if tok != nil {
		err = w.SetSecret(t.r.job.Source.Name, DataTokenField, t.refreshHash+":"+tok.AccessToken)
	} else if del, ok := w.(interface {
		DeleteSecret(source, field string) error
	}); ok {
		err = del.DeleteSecret(t.r.job.Source.Name, DataTokenField)
	} else {
		err = w.SetSecret(t.r.job.Source.Name, DataTokenField, "")
	}
	if err != nil {
		t.r.job.Logger.Debug("data token not kept in the keyring", logkey.Op, "keyring", logkey.Err, err)
	}
}

// Token returns the cached data token while it is valid, else asks for a new one within the
// token-call limit.
func (t *tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	t.lock.Lock()
	defer t.lock.Unlock()
	d := t.r.d
	if tok := t.cached(); tok != nil {
		t.r.set.Add(tok.AccessToken) // kept in the keyring as "hash:token": the token alone too
		return tok, nil
	}
	var tok *oauth2.Token
	err := t.r.retry(ctx, "token", func() error {
		var err error
		tok, err = t.fetch(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.tokens == nil {
		d.tokens = map[string]*oauth2.Token{}
	}
	d.tokens[t.key] = tok
	d.mu.Unlock()
	t.keep(tok)
	return tok, nil
}

// Invalidate forgets tok when it is the cached token (after a 401), here and in the keyring.
func (t *tokens) Invalidate(tok *oauth2.Token) {
	d := t.r.d
	d.mu.Lock()
	forget := d.tokens[t.key] == tok
	if forget {
		delete(d.tokens, t.key)
	}
	d.mu.Unlock()
	if forget {
		t.keep(nil)
	}
}

// TokenLimitError is the answer of a run that may not wait (Test) when the machine's token
// calls are used up: when the next one is allowed.
type TokenLimitError struct {
	At   time.Time     // when a token call is allowed again
	Wait time.Duration // how long from now
}

func (e *TokenLimitError) Error() string {
	return fmt.Sprintf("Eloverblik allows %d token calls a minute from this machine and they are used up (by this or another Custody database or process); the next is allowed at %s (in %s)",
		TokenCalls, e.At.Local().Format(time.TimeOnly), e.Wait.Round(time.Second))
}

// fetch makes one token call, after waiting for the limit of 2 a minute if it must.
func (t *tokens) fetch(ctx context.Context) (*oauth2.Token, error) {
	r := t.r
	// The limit is Eloverblik's per IP address: the key is the host (and port) alone.
	key := strings.TrimPrefix(r.origin, "https://") + " token"
	calls := r.d.Calls
	if calls == nil {
		calls = storeLog{r.job.Store}
	}
	for i := 0; ; i++ {
		wait, err := calls.Take(ctx, key, TokenCalls, TokenPeriod, r.d.now())
		if err != nil {
			return nil, syncerr.E(syncerr.Local, "token call limit", err)
		}
		if wait <= 0 {
			break
		}
		if r.noWait {
			le := &TokenLimitError{At: r.d.now().Add(wait), Wait: wait}
			return nil, &syncerr.Error{Kind: syncerr.Server, Op: "token", RetryAfter: wait, Err: le,
				Hint: fmt.Sprintf("Try again after %s; a sync waits for its turn by itself.", le.At.Local().Format(time.TimeOnly))}
		}
		if i >= 3 {
			return nil, &syncerr.Error{Kind: syncerr.Server, Op: "token", RetryAfter: wait, Hint: HintWait,
				Err: errors.New("the limit of 2 token calls a minute is used up by other syncs")}
		}
		r.progress(engine.Progress{Message: fmt.Sprintf("waiting %s: Eloverblik allows 2 token calls a minute", wait.Round(time.Second))})
		if err := r.d.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	r.progress(engine.Progress{Message: "GET api/token"})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.BaseURL+"/api/token", nil)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "token", err)
	}
	if o, _ := auth.Origin(req.URL.String()); o != r.origin {
		return nil, syncerr.E(syncerr.Config, "token", auth.ErrForeignOrigin)
	}
	req.Header.Set("Authorization", "Bearer "+t.refresh)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("api-version", "1.0")
	resp, err := r.plain.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, auth.Classify("token", redact.Err(err, r.set.Values()...))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, auth.Classify("token", redact.Err(err, r.set.Values()...))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, classify("token", readError(resp.StatusCode, body, r.set.Values()...), resp.Header, r.d.now())
	}
	var ans struct {
		Result    *string         `json:"result"`
		Success   *bool           `json:"success"`
		ErrorCode json.RawMessage `json:"errorCode"`
		ErrorText string          `json:"errorText"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, syncerr.Errorf(syncerr.Server, "token", "the answer is not the JSON expected: %v", err)
	}
	// An error can come inside an HTTP 200.
	if code := codeOf(ans.ErrorCode); (ans.Success != nil && !*ans.Success) || (code != 0 && code != 10000) || ans.Result == nil || *ans.Result == "" {
		if ans.Result != nil {
			r.set.Add(strings.TrimSpace(*ans.Result)) // a token beside an error is still a token
		}
		ae := &APIError{Status: resp.StatusCode, Code: code, Text: redact.String(ans.ErrorText, r.set.Values()...)}
		if ae.Code == 0 {
			ae.Code, ae.Text = 50001, "no data access token in the answer"
		}
		return nil, classify("token", ae, resp.Header, r.d.now())
	}
	dt := strings.TrimSpace(*ans.Result)
	r.set.Add(dt)
	exp, err := TokenExpiry(dt)
	if err != nil {
		exp = r.d.now().Add(time.Hour) // the service says 24 hours; be modest when it does not say
	}
	return &oauth2.Token{AccessToken: dt, TokenType: "Bearer", Expiry: exp}, nil
}

// retry runs f, waiting out the failures worth waiting out (429, 503), at least MinWait, at
// most Retries times. The wait is shown as the sync's progress.
func (r *run) retry(ctx context.Context, op string, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !errors.Is(err, errWait) || attempt > Retries || r.noWait {
			return err
		}
		wait := min(max(syncerr.RetryAfterOf(err), MinWait), MaxWait)
		why := "busy"
		var ae *APIError
		if errors.As(err, &ae) {
			why = ae.Error()
		}
		r.progress(engine.Progress{Message: fmt.Sprintf("%s: %s; waiting %s before trying again (%d of %d)", op, why, wait, attempt, Retries)})
		r.job.Logger.Info("waiting out a busy answer", logkey.Op, op, logkey.Count, attempt, logkey.Err, err)
		if err := r.d.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// call sends one request (a GET, or a POST naming ids) and archives the answer as received.
// existed is set when the same answer was archived before.
func (r *run) call(ctx context.Context, op, method, path string, ids []string) (p store.Payload, existed bool, err error) {
	err = r.retry(ctx, op, func() error {
		p, existed, err = r.callOnce(ctx, op, method, path, ids)
		return err
	})
	return p, existed, err
}

func (r *run) callOnce(ctx context.Context, op, method, path string, ids []string) (store.Payload, bool, error) {
	var body io.Reader
	if ids != nil {
		b, _ := json.Marshal(map[string]any{"meteringPoints": map[string]any{"meteringPoint": ids}})
		body = bytes.NewReader(b)
	}
	r.progress(engine.Progress{Message: op})
	// The overall deadline of the exchange grows with the largest answer allowed.
	req, err := http.NewRequestWithContext(auth.WithBodyLimit(ctx, r.maxBody), method, r.cfg.BaseURL+path, body)
	if err != nil {
		return store.Payload{}, false, syncerr.E(syncerr.Config, op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("api-version", "1.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.authed.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return store.Payload{}, false, ctx.Err()
		}
		return store.Payload{}, false, auth.Classify(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return store.Payload{}, false, classify(op, readError(resp.StatusCode, b, r.set.Values()...), resp.Header, r.d.now())
	}
	// Archive the answer as received, before anything reads it.
	lb := &limited{r: resp.Body, left: r.maxBody}
	p, existed, err := r.job.Store.Archive(ctx, store.Payload{SourceID: r.job.Source.ID, Format: parser.FormatName,
		URL: r.cfg.BaseURL + path, Headers: store.SafeHeaders(resp.Header)}, lb)
	if err != nil {
		switch {
		case lb.over:
			return p, false, syncerr.Errorf(syncerr.Data, op, "the answer is larger than %d MB", r.maxBody>>20)
		case ctx.Err() != nil:
			return p, false, ctx.Err()
		}
		return p, false, syncerr.E(syncerr.Network, op, fmt.Errorf("read the answer: %w", err))
	}
	if !existed {
		r.res.Items++
	}
	return p, existed, nil
}

// limited fails a body past its limit.
type limited struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limited) Read(b []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.over = true
			return 0, errors.New("answer too large")
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

// parse stores an archived answer through the parser `custody import` uses, unless the same
// answer was parsed before.
func (r *run) parse(ctx context.Context, p store.Payload, existed bool) (fileimport.Summary, error) {
	if existed && p.Status == store.PayloadParsed {
		return fileimport.Summary{Unchanged: true}, nil
	}
	im := fileimport.Importer{Store: r.job.Store, Formats: []fileimport.Format{parser.Format()}}
	sum, err := im.Reparse(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, syncerr.E(syncerr.Data, "parse "+p.URL, fmt.Errorf("%w (archived as payload %d; see custody reprocess)", err, p.ID))
	}
	r.res.Readings += int64(sum.Readings)
	for _, w := range sum.Warnings {
		r.job.Logger.Debug("answer warning", logkey.Op, "parse", logkey.Err, w)
	}
	return sum, nil
}

// entry is one entry of an answer's result list, with what the driver reads of it: the
// envelope, and the time series' period ends (to move the cursor).
type entry struct {
	Success   *bool           `json:"success"`
	ErrorCode json.RawMessage `json:"errorCode"`
	ErrorText string          `json:"errorText"`
	ID        string          `json:"id"`
	PointID   string          `json:"meteringPointId"` // metering point lists
	Doc       *struct {
		TimeSeries []struct {
			Period []struct {
				TimeInterval struct {
					End string `json:"end"`
				} `json:"timeInterval"`
			} `json:"Period"`
		} `json:"TimeSeries"`
	} `json:"MyEnergyData_MarketDocument"`
}

func (e entry) code() int { return codeOf(e.ErrorCode) }

func (e entry) failed() bool {
	c := e.code()
	return (e.Success != nil && !*e.Success) || (c != 0 && c != 10000)
}

// entries reads the result list of an archived answer.
func (r *run) entries(ctx context.Context, p store.Payload) ([]entry, error) {
	rc, err := r.job.Store.OpenPayload(ctx, p.ID)
	if err != nil {
		return nil, syncerr.E(syncerr.Local, "open archived answer", err)
	}
	defer rc.Close()
	var env struct {
		Result []entry `json:"result"`
	}
	if err := json.NewDecoder(rc).Decode(&env); err != nil {
		return nil, syncerr.Errorf(syncerr.Data, "read "+p.URL, "the answer is not the JSON envelope expected: %v (archived as payload %d)", err, p.ID)
	}
	return env.Result, nil
}

// entryError is the classified failure of one entry.
func (r *run) entryError(op string, e entry) error {
	return classify(op, &APIError{Status: http.StatusOK, Code: e.code(), Text: redact.String(e.ErrorText, r.set.Values()...), ID: e.ID}, nil, r.d.now())
}

// Test checks the source at once, never waiting for a limit: the refresh token (a JWT that has
// not expired), that the host answers (`GET api/isalive`, no token sent), then, with the cached
// data token or a new one when the machine's token calls allow it, the linked metering points.
// When a token call is not allowed yet it says so, when it will be, and what it checked.
func (d *Driver) Test(ctx context.Context, job *engine.Job) (string, error) {
	ctx, set := redact.Ensure(ctx)
	r, err := d.start(job, set)
	if err != nil {
		return "", err
	}
	r.noWait = true
	checked := []string{"the refresh token is a JWT valid until " + r.exp.In(copenhagen).Format(time.DateOnly)}
	if err := r.alive(ctx); err != nil {
		return "", err
	}
	checked = append(checked, strings.TrimPrefix(r.origin, "https://")+" answers")
	fresh := r.tokens.cached() == nil
	if _, err := r.tokens.Token(ctx); err != nil {
		var le *TokenLimitError
		var se *syncerr.Error
		if errors.As(err, &le) && errors.As(err, &se) {
			return "", &syncerr.Error{Kind: se.Kind, Op: "test", RetryAfter: se.RetryAfter, Hint: se.Hint,
				Err: fmt.Errorf("not tested yet: %w; checked so far: %s", le, strings.Join(checked, ", "))}
		}
		return "", err
	}
	ids, err := r.peekPoints(ctx)
	if err != nil {
		return "", err
	}
	how := "with a new data token"
	if !fresh {
		how = "with the data token kept from an earlier run (no token call)"
	}
	msg := fmt.Sprintf("token accepted; %d metering points linked (%s) %s; %s",
		len(ids), strings.Join(ids, ", "), how, strings.Join(checked, ", "))
	if w := ExpiryWarningAt(r.exp, d.now()); w != "" {
		msg += "; WARNING: " + w
	}
	return msg, nil
}

// alive asks the service's health check, which needs no token: whether the host answers.
func (r *run) alive(ctx context.Context) error {
	_, err := r.get(ctx, r.plain, "GET api/isalive", "/api/isalive", 64<<10)
	return err
}

// get sends one GET of path (below the base URL) with hc and returns the answer's body, read up
// to limit bytes, when the service answers 200; else the error classified for op, as every
// call that archives nothing (the health check, Test's look at the metering points) needs.
func (r *run) get(ctx context.Context, hc *http.Client, op, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.BaseURL+path, nil)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, auth.Classify(op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, auth.Classify(op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, classify(op, readError(resp.StatusCode, b, r.set.Values()...), resp.Header, r.d.now())
	}
	return b, nil
}

// peekPoints lists the linked metering points without storing anything, for Test.
func (r *run) peekPoints(ctx context.Context) ([]string, error) {
	const op = "GET api/meteringpoints/meteringpoints"
	var ids []string
	err := r.retry(ctx, op, func() error {
		b, err := r.get(ctx, r.authed, op, "/api/meteringpoints/meteringpoints?includeAll=false", 4<<20)
		if err != nil {
			return err
		}
		var env struct {
			Result []entry `json:"result"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return syncerr.Errorf(syncerr.Server, op, "the answer is not the JSON envelope expected: %v", err)
		}
		ids = ids[:0]
		for _, e := range env.Result {
			if e.failed() {
				return r.entryError(op, e)
			}
			if gsrnRE.MatchString(e.PointID) {
				ids = append(ids, e.PointID)
			}
		}
		return nil
	})
	return ids, err
}

// listPoints fetches, archives and stores the linked metering points and returns their ids.
func (r *run) listPoints(ctx context.Context) ([]string, error) {
	p, existed, err := r.call(ctx, "GET api/meteringpoints/meteringpoints", http.MethodGet, "/api/meteringpoints/meteringpoints?includeAll=false", nil)
	if err != nil {
		return nil, err
	}
	if _, err := r.parse(ctx, p, existed); err != nil {
		return nil, err
	}
	es, err := r.entries(ctx, p)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range es {
		if e.failed() {
			return nil, r.entryError("GET api/meteringpoints/meteringpoints", e)
		}
		if gsrnRE.MatchString(e.PointID) && !slices.Contains(ids, e.PointID) {
			ids = append(ids, e.PointID)
		}
	}
	return ids, nil
}

// Sync fetches what is new for the source.
func (d *Driver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
	ctx, set := redact.Ensure(ctx)
	r, err := d.start(job, set)
	if err != nil {
		return engine.Result{}, err
	}
	ids := r.cfg.Points
	if len(ids) == 0 {
		if ids, err = r.listPoints(ctx); err != nil {
			return r.res, err
		}
		if len(ids) == 0 {
			return r.res, &syncerr.Error{Kind: syncerr.Config, Op: "metering points", Err: errors.New("no metering point is linked to this eloverblik.dk account"),
				Hint: "Link your metering points on " + TokenPortal + " (Metering points → Add), or name them with --metering-point."}
		}
	}
	if err := r.masterData(ctx, ids); err != nil {
		return r.res, err
	}
	if err := r.timeSeries(ctx, ids); err != nil {
		return r.res, err
	}
	r.res.Note = fmt.Sprintf("%d metering points, %d answers, %d readings", len(ids), r.res.Items, r.res.Readings)
	if w := ExpiryWarningAt(r.exp, d.now()); w != "" {
		r.res.Note += "; WARNING: " + w
	}
	if len(r.errs) > 0 {
		return r.res, r.errs[0]
	}
	return r.res, nil
}

// masterData fetches getdetails (weekly) and getcharges (daily) for the metering points that
// are due.
func (r *run) masterData(ctx context.Context, ids []string) error {
	for _, m := range []struct {
		name, path string
		every      time.Duration
	}{
		{"details", "/api/meteringpoints/meteringpoint/getdetails", DetailsEvery},
		{"charges", "/api/meteringpoints/meteringpoint/getcharges", ChargesEvery},
	} {
		var due []string
		for _, id := range ids {
			c, err := r.job.Store.Cursor(ctx, r.job.Source.ID, m.name+"/"+id)
			if err != nil {
				return syncerr.E(syncerr.Local, "cursor", err)
			}
			if c.IsZero() || r.d.now().Sub(c) >= m.every {
				due = append(due, id)
			}
		}
		for len(due) > 0 {
			n := min(len(due), r.batch)
			chunk := due[:n]
			op := "POST api/meteringpoints/meteringpoint/get" + m.name
			p, existed, err := r.call(ctx, op, http.MethodPost, m.path, chunk)
			if tooManyPoints(err) && n > 1 {
				r.batch = max(1, n/2)
				continue
			}
			if err != nil {
				return err
			}
			due = due[n:]
			if _, err := r.parse(ctx, p, existed); err != nil {
				return err
			}
			es, err := r.entries(ctx, p)
			if err != nil {
				return err
			}
			var done []string
			for _, e := range es {
				if e.failed() {
					r.errs = append(r.errs, r.entryError(op, e))
					continue
				}
				done = append(done, e.ID)
			}
			if err := r.setCursors(ctx, m.name, done, r.d.now()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) setCursors(ctx context.Context, prefix string, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := r.job.Store.Begin(ctx)
	if err != nil {
		return syncerr.E(syncerr.Local, "cursor", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if err := tx.SetCursor(r.job.Source.ID, prefix+"/"+id, at); err != nil {
			return syncerr.E(syncerr.Local, "cursor", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return syncerr.E(syncerr.Local, "cursor", err)
	}
	return nil
}

// dayOf is the Danish day holding t, as its local midnight.
func dayOf(t time.Time) time.Time {
	l := t.In(copenhagen)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, copenhagen)
}

// Window is one time series call's period: Danish days [From, To).
type Window struct{ From, To time.Time }

// Windows splits the Danish days [from, today) into periods the API allows: at most MaxDays
// days each, none empty (never from == to), none before the first day of the year five
// years ago.
func Windows(from, today time.Time) []Window {
	from, today = dayOf(from), dayOf(today)
	if earliest := time.Date(today.Year()-HistoryYears, 1, 1, 0, 0, 0, 0, copenhagen); from.Before(earliest) {
		from = earliest
	}
	var out []Window
	for from.Before(today) && len(out) < 10 {
		to := from.AddDate(0, 0, MaxDays)
		if to.After(today) {
			to = today
		}
		out = append(out, Window{from, to})
		from = to
	}
	return out
}

// timeSeries fetches the time series of every metering point from its cursor (less the
// overlap) to today, grouping the points that start on the same day into calls of at most
// BatchPoints.
func (r *run) timeSeries(ctx context.Context, ids []string) error {
	now := r.d.now()
	today := dayOf(now)
	cursors := map[string]time.Time{}
	groups := map[time.Time][]string{}
	for _, id := range ids {
		c, err := r.job.Store.Cursor(ctx, r.job.Source.ID, "timeseries/"+id)
		if err != nil {
			return syncerr.E(syncerr.Local, "cursor", err)
		}
		cursors[id] = c
		from := time.Time{}
		if !c.IsZero() {
			from = dayOf(c).AddDate(0, 0, -OverlapDays)
		}
		ws := Windows(from, today)
		if len(ws) == 0 {
			continue
		}
		groups[ws[0].From] = append(groups[ws[0].From], id)
	}
	type work struct {
		w   Window
		ids []string
	}
	var todo []work
	starts := make([]time.Time, 0, len(groups))
	for f := range groups {
		starts = append(starts, f)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	for _, f := range starts {
		for _, w := range Windows(f, today) {
			todo = append(todo, work{w, groups[f]})
		}
	}
	total := int64(len(todo))
	for done := int64(0); len(todo) > 0; {
		wk := todo[0]
		n := min(len(wk.ids), r.batch)
		chunk := wk.ids[:n]
		op := fmt.Sprintf("POST api/meterdata/gettimeseries/%s/%s/Actual", wk.w.From.Format(time.DateOnly), wk.w.To.Format(time.DateOnly))
		r.progress(engine.Progress{Done: done, Total: total, Message: fmt.Sprintf("%s (%d metering points)", op, n)})
		p, existed, err := r.call(ctx, op, http.MethodPost, "/api/meterdata/gettimeseries/"+wk.w.From.Format(time.DateOnly)+"/"+wk.w.To.Format(time.DateOnly)+"/Actual", chunk)
		if tooManyPoints(err) && n > 1 {
			r.batch = max(1, n/2)
			r.job.Logger.Info("asking for fewer metering points per call", logkey.Op, op, logkey.Count, r.batch)
			continue
		}
		if err != nil {
			return err
		}
		if n < len(wk.ids) {
			todo[0].ids = wk.ids[n:]
		} else {
			todo = todo[1:]
			done++
		}
		if _, err := r.parse(ctx, p, existed); err != nil {
			return err
		}
		es, err := r.entries(ctx, p)
		if err != nil {
			return err
		}
		if err := r.advance(ctx, op, wk.w, es, cursors); err != nil {
			return err
		}
	}
	return nil
}

// advance moves the cursor of each metering point the answer served: to the end of its last
// day with data, or, for a window without data, to QuietDays before the window's end (data may
// still come for those days). A cursor never moves back.
func (r *run) advance(ctx context.Context, op string, w Window, es []entry, cursors map[string]time.Time) error {
	tx, err := r.job.Store.Begin(ctx)
	if err != nil {
		return syncerr.E(syncerr.Local, "cursor", err)
	}
	defer tx.Rollback()
	for _, e := range es {
		if e.failed() {
			r.errs = append(r.errs, r.entryError(op, e))
			continue
		}
		if _, ok := cursors[e.ID]; !ok {
			continue
		}
		var last time.Time
		if e.Doc != nil {
			for _, ts := range e.Doc.TimeSeries {
				for _, p := range ts.Period {
					if t, err := time.Parse(time.RFC3339, p.TimeInterval.End); err == nil && t.After(last) {
						last = t
					}
				}
			}
		}
		next := last
		if next.IsZero() {
			next = w.To.AddDate(0, 0, -QuietDays)
		}
		if next.After(w.To) {
			next = w.To
		}
		if !next.After(cursors[e.ID]) {
			continue
		}
		cursors[e.ID] = next
		if err := tx.SetCursor(r.job.Source.ID, "timeseries/"+e.ID, next); err != nil {
			return syncerr.E(syncerr.Local, "cursor", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return syncerr.E(syncerr.Local, "cursor", err)
	}
	return nil
}
