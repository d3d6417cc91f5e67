package espi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/crashpoint"
	"custody/sync/engine"
	"custody/sync/logkey"
	"custody/sync/notify"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Keyring fields of a greenbutton source.
const (
	SecretField    = "client_secret"
	ClientKeyField = "client_key" // the client key (PEM), when it is kept in the keyring rather than a file
)

// Kind is the source kind the driver handles.
const Kind = "greenbutton"

// Defaults of the driver.
const (
	// DefaultMaxBody is the largest answer accepted: a two-year 15-minute bulk file for many
	// meters is tens of MB.
	DefaultMaxBody = 1 << 30
	// NotReadyRetry is how soon to ask again for a notified URI that answered 202 "not ready yet".
	NotReadyRetry = 2 * time.Minute
	// DefaultAsyncTimeout is how long Custody waits for the notification of a request the
	// custodian answered 202 to before asking again (PG&E prepares within minutes; a day and
	// a bit leaves room for its daily cycle).
	DefaultAsyncTimeout = 26 * time.Hour
	// Overlap is how far before the last complete fetch the next window starts, so that
	// corrections of earlier days (PG&E: the previous 24 hours) are fetched again.
	Overlap = 48 * time.Hour
	// customerEvery is how often the retail-customer (PII) feed is fetched.
	customerEvery = 24 * time.Hour
)

// Driver is the engine driver of Green Button Connect My Data sources: the ESPI client
// credentials flow with mutual TLS, Batch/Bulk, Batch/BulkRetailCustomerInfo and
// Batch/Subscription fetches, each answer archived before it is parsed.
type Driver struct {
	// MaxBody bounds one answer; 0 means DefaultMaxBody.
	MaxBody int64
	// Now is the clock of windows and cursors; nil means time.Now. Tests use the simulated
	// custodian's clock.
	Now func() time.Time

	// NotifiedRate and NotifiedBurst limit the fetches of notified URIs per source; zero
	// means DefaultNotifiedRate and DefaultNotifiedBurst.
	NotifiedRate  rate.Limit
	NotifiedBurst int

	mu       sync.Mutex
	sessions map[string]*session // by source name; tokens are reused between syncs
	limiters map[string]*rate.Limiter
}

// NewDriver returns a greenbutton driver.
func NewDriver() *Driver { return &Driver{sessions: map[string]*session{}} }

// Kind implements engine.Driver.
func (d *Driver) Kind() string { return Kind }

// session is a source's client with its cached token.
type session struct {
	key    string // what the session was built from; a change of settings builds a new one
	client *Client
	tokens *auth.Source
	// customer is the client of a Connect My Data source's subscriptions, authorised with the
	// customer's token; nil for other sources.
	customer *Client
	secret   string       // the client secret, for the authorization-code flow
	hc       *http.Client // the source's mutual-TLS client, without a token
}

// forget drops a source's cached session, so that the next use reads the keyring again.
func (d *Driver) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.sessions, name)
}

// session returns the source's client, building it when the settings or secret changed.
func (d *Driver) session(job *engine.Job) (*session, error) {
	src := job.Source
	cfg := src.Config
	const op = "configure"
	for _, k := range []string{CfgBaseURL, CfgTokenURL, CfgClientID} {
		if strings.TrimSpace(cfg[k]) == "" {
			return nil, syncerr.Errorf(syncerr.Config, op, "the source has no %s", k)
		}
	}
	base, err := url.Parse(cfg[CfgBaseURL])
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, syncerr.Errorf(syncerr.Config, op, "base URL %q is not an https URL", cfg[CfgBaseURL])
	}
	secret, err := job.Secrets.Secret(src.Name, SecretField)
	if err != nil {
		e := syncerr.E(syncerr.Local, op, fmt.Errorf("read the client secret: %w", err))
		return nil, e
	}
	tc := auth.TLSConfig{CertFile: cfg[CfgCert], KeyFile: cfg[CfgKey], CAFile: cfg[CfgCA]}
	if tc.CertFile != "" && tc.KeyFile == "" {
		k, err := job.Secrets.Secret(src.Name, ClientKeyField)
		if err != nil {
			return nil, syncerr.E(syncerr.Config, op, fmt.Errorf("the client certificate has no key file and no key in the keyring: %w", err))
		}
		tc.KeyPEM = []byte(k)
	}
	h := sha256.New()
	for _, v := range []string{cfg[CfgBaseURL], cfg[CfgTokenURL], cfg[CfgClientID], cfg[CfgCert], cfg[CfgKey], cfg[CfgCA], cfg[CfgScope], cfg[CfgAuthorizeURL], secret, string(tc.KeyPEM)} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions == nil {
		d.sessions = map[string]*session{}
	}
	if s := d.sessions[src.Name]; s != nil && s.key == key {
		return s, nil
	}
	hc, err := auth.NewHTTPClient(tc)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	creds := auth.Credentials{TokenURL: cfg[CfgTokenURL], ClientID: cfg[CfgClientID], ClientSecret: secret,
		HTTPClient: hc, Logger: job.Logger}
	cmd := strings.TrimSpace(cfg[CfgAuthorizeURL]) != ""
	if s := strings.TrimSpace(cfg[CfgScope]); s != "" && !cmd {
		// With Connect My Data the scope is the customer's authorisation's, not the client's.
		creds.Scopes = []string{s}
	}
	tokens := auth.NewESPI(creds)
	ac, err := auth.NewClient(hc, tokens, base.String())
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	s := &session{key: key, tokens: tokens, client: &Client{Base: base, HTTP: ac, Tokens: tokens}, secret: secret, hc: hc}
	if cmd {
		ct := newCustomerTokens(src, secret, job.Secrets, hc, job.Logger)
		ct.now = d.now
		cc, err := auth.NewClient(hc, ct, base.String())
		if err != nil {
			return nil, syncerr.E(syncerr.Config, op, err)
		}
		s.customer = &Client{Base: base, HTTP: cc, Tokens: ct}
	}
	d.sessions[src.Name] = s
	return s, nil
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Driver) maxBody() int64 {
	if d.MaxBody > 0 {
		return d.MaxBody
	}
	return DefaultMaxBody
}

// TransactionHeader is the header in which PG&E echoes the correlation id of a request it
// answers asynchronously; with it, the notification of each request is told apart.
const TransactionHeader = "X-Transaction"

// fetched is the outcome of one GET.
type fetched struct {
	status   int
	header   http.Header
	payload  store.Payload
	readings int64
	parsed   bool // a new or earlier failed payload was parsed
}

// fetch GETs uri, archives the body as it arrives, then parses it from the archive in one
// transaction and records the payload's outcome. A body that cannot be parsed stays archived
// with its error, and the error (kind Data) is returned.
func (d *Driver) fetch(ctx context.Context, job *engine.Job, c *Client, uri string, w Window) (fetched, error) {
	rel := c.rel(uri)
	op := "GET " + rel
	job.Progress(engine.Progress{Message: op})
	resp, err := c.Get(auth.WithBodyLimit(ctx, d.maxBody()), uri, w)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	out := fetched{status: resp.Status, header: resp.Header}
	if resp.Status != 200 {
		return out, nil
	}
	p := store.Payload{SourceID: job.Source.ID, Format: FormatName, URL: resp.URL, Headers: store.SafeHeaders(resp.Header)}
	body := &limitedReader{r: resp.Body, n: d.maxBody()}
	p, existed, err := job.Store.Archive(ctx, p, body)
	if err != nil {
		switch {
		case body.err == nil && ctx.Err() == nil:
			return out, syncerr.E(syncerr.Local, op, err) // the store failed, not the download
		case errors.Is(body.err, errTooLarge):
			return out, syncerr.Errorf(syncerr.Data, op, "the answer is larger than %d MB; nothing of it was kept", d.maxBody()>>20)
		case errors.Is(ctx.Err(), context.Canceled):
			return out, ctx.Err()
		}
		e := auth.Classify(op, fmt.Errorf("the answer was cut off after %d bytes: %w", body.read, body.err))
		if se := (*syncerr.Error)(nil); errors.As(e, &se) && se.Hint == "" {
			se.Hint = "The custodian's answer was cut off before its end; nothing of it was kept. Custody will fetch it again."
		}
		return out, e
	}
	crashpoint.Hit(crashpoint.AfterArchive)
	out.payload = p
	if existed && p.Status == store.PayloadParsed {
		job.Logger.Debug("unchanged answer", logkey.Op, op, logkey.URLPath, urlPath(uri))
		return out, nil
	}
	n, err := d.parse(ctx, job, p)
	out.readings, out.parsed = n, true
	if err != nil {
		return out, err
	}
	job.Logger.Info("fetched", logkey.Op, op, logkey.URLPath, urlPath(uri), logkey.Count, n)
	return out, nil
}

// parse parses an archived payload in one transaction and records its status.
func (d *Driver) parse(ctx context.Context, job *engine.Job, p store.Payload) (int64, error) {
	op := "parse " + urlPath(p.URL)
	rc, err := job.Store.OpenPayload(ctx, p.ID)
	if err != nil {
		return 0, syncerr.E(syncerr.Local, op, err)
	}
	defer rc.Close()
	tx, err := job.Store.Begin(ctx)
	if err != nil {
		return 0, syncerr.E(syncerr.Local, op, err)
	}
	defer tx.Rollback()
	sum, perr := Parse(ctx, tx, p, rc, func(read int64) {
		job.Progress(engine.Progress{Done: read, Total: p.Size, Message: "reading " + urlPath(p.URL)})
	})
	if perr != nil {
		tx.Rollback()
		if ctx.Err() != nil {
			return 0, ctx.Err() // the payload stays pending and is parsed on the next sync
		}
		if err := job.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, perr.Error()); err != nil {
			return 0, syncerr.E(syncerr.Local, op, err)
		}
		e := syncerr.E(syncerr.Data, op, perr)
		e.Hint = fmt.Sprintf("The custodian sent data Custody could not read; it is archived as payload %d with the reason, and can be re-read after a fix with `custody reprocess`.", p.ID)
		return 0, e
	}
	crashpoint.Hit(crashpoint.MidTx)
	if err := tx.SetPayloadStatus(p.ID, store.PayloadParsed, ""); err != nil {
		return 0, syncerr.E(syncerr.Local, op, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, syncerr.E(syncerr.Local, op, err)
	}
	crashpoint.Hit(crashpoint.AfterCommit)
	return int64(sum.Readings), nil
}

func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// resource is one thing a sync asks for.
type resource struct {
	rel      string // path under the base URL
	windowed bool   // uses published-min from the cursor
	every    time.Duration
	// optional resources may be missing (404) or outside the granted scope (403) without
	// that being an error: not every custodian offers retail-customer data.
	optional bool
	// customer resources are fetched with the customer's token (Connect My Data).
	customer bool
}

func resources(src store.Source) []resource {
	var out []resource
	for _, id := range src.List(CfgBulkIDs) {
		out = append(out, resource{rel: "Batch/Bulk/" + url.PathEscape(id), windowed: true},
			resource{rel: "Batch/BulkRetailCustomerInfo/" + url.PathEscape(id), every: customerEvery, optional: true})
	}
	cmd := strings.TrimSpace(src.Config[CfgAuthorizeURL]) != ""
	for _, id := range src.List(CfgSubscriptionIDs) {
		out = append(out, resource{rel: "Batch/Subscription/" + url.PathEscape(id), windowed: true, customer: cmd})
	}
	return out
}

// asyncTimeout is the source's async_timeout, else DefaultAsyncTimeout.
func asyncTimeout(src store.Source) time.Duration {
	if d, err := time.ParseDuration(strings.TrimSpace(src.Config[CfgAsyncTimeout])); err == nil && d > 0 {
		return d
	}
	return DefaultAsyncTimeout
}

// hasListener says whether the source receives BatchList notifications.
func hasListener(src store.Source) bool { return strings.TrimSpace(src.Config[notify.CfgListen]) != "" }

// HintNotificationOnly is the advice for a custodian that delivers only by notification to a
// source without a notification listener.
func HintNotificationOnly(src store.Source) string {
	return fmt.Sprintf("This custodian prepares the data and delivers it only by notification (a BatchList POSTed to your "+
		"Notification URI), so Custody needs a notification listener for it: `custody sources edit %s --notify-listen ADDR "+
		"--notify-cert FILE --notify-key FILE --notify-client-ca FILE` (an HTTPS address the utility can reach), register https://YOUR-HOST:PORT%s "+
		"as the Notification URI at the utility (PG&E: Share My Data, your registration), then keep Custody running "+
		"(the app or `custody sync`) so that it hears the notification.", src.Name, notify.DefaultPath(src))
}

// WaitingNote is what a sync says about requests the custodian is still preparing.
func WaitingNote(since time.Time) string {
	return "requested; waiting for the custodian's notification since " + since.Local().Format("15:04")
}

// HeldNote is what a sync says about n answers that came while several requests for the same
// resource waited, none with a correlation id to tell which answer is whose.
func HeldNote(n int) string {
	if n == 1 {
		return "1 answer came that could be for more than one request (the custodian gives no correlation id): its data is stored, and the requests stay open until the other answers come"
	}
	return fmt.Sprintf("%d answers came that could be for more than one request (the custodian gives no correlation id): their data is stored, and the requests stay open until the other answers come", n)
}

// Sync implements engine.Driver: it fetches each bulk id's usage (from shortly before the
// last complete fetch, to pick up corrections) and, once a day, its customer information,
// each subscription's usage (with the customer's token for Connect My Data), and any notified
// URI not fetched yet. A request the custodian answers 202 to stays outstanding, and is not
// made again, until its notified answer is fetched or the source's async timeout passes.
func (d *Driver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	job = withDefaults(job)
	var res engine.Result
	s, err := d.session(job)
	if err != nil {
		return res, err
	}
	rs := resources(job.Source)
	pending, err := job.Store.Notified(ctx, job.Source.ID, store.NotifiedPending)
	if err != nil {
		return res, syncerr.E(syncerr.Local, "sync", err)
	}
	if len(rs) == 0 && len(pending) == 0 {
		if s.customer != nil {
			if tok, _ := job.Secrets.Secret(job.Source.Name, AccessTokenField); tok != "" {
				return res, syncerr.Errorf(syncerr.Config, "sync", "the source is connected but names no subscription id (the custodian's answer gave no resourceURI): add one with --subscription-id")
			}
			return res, notConnected(job.Source.Name)
		}
		return res, syncerr.Errorf(syncerr.Config, "sync", "the source names no bulk id and no subscription id")
	}
	ended, err := d.endedAuthorizations(ctx, job)
	if err != nil {
		return res, err
	}
	var firstErr error
	var waiting []store.Request
	notificationOnly := 0
	note := func(err error) bool {
		if firstErr == nil {
			firstErr = err
		}
		return stops(err)
	}
	timeout := asyncTimeout(job.Source)
	if n, err := job.Store.DropStaleRequests(ctx, job.Source.ID, d.now().Add(-timeout)); err != nil {
		return res, syncerr.E(syncerr.Local, "sync", err)
	} else if n > 0 {
		job.Logger.Warn("no notification came for backfill or test requests the custodian accepted; forgotten",
			logkey.Op, "sync", logkey.Count, n)
	}
	earliest := map[string]time.Time{} // by resource: the earliest request a new one may get the answer of
	for _, r := range rs {
		started := d.now()
		if err := ended.check(job.Source, s.client.Resolve(r.rel), r.customer); err != nil {
			if note(err) {
				break
			}
			continue
		}
		{ // every resource: PG&E answers BulkRetailCustomerInfo asynchronously too
			req, ok, err := job.Store.Outstanding(ctx, job.Source.ID, r.rel)
			if err != nil {
				return res, syncerr.E(syncerr.Local, "sync", err)
			}
			if ok && started.Sub(req.Requested) < timeout {
				waiting = append(waiting, req)
				continue
			}
			if ok {
				job.Logger.Warn("no notification came for a request the custodian accepted; asking again",
					logkey.Op, "GET "+r.rel, "since", req.Requested.Format(time.RFC3339))
				if err := job.Store.DropOutstanding(ctx, job.Source.ID, r.rel); err != nil {
					return res, syncerr.E(syncerr.Local, "sync", err)
				}
				if req.Correlation == "" {
					// Its answer may still come, with no way to tell it from the new request's.
					earliest[r.rel] = req.Earliest
				}
			}
		}
		cursor, err := job.Store.Cursor(ctx, job.Source.ID, r.rel)
		if err != nil {
			return res, syncerr.E(syncerr.Local, "sync", err)
		}
		if r.every > 0 && !cursor.IsZero() && started.Sub(cursor) < r.every {
			continue
		}
		var w Window
		if r.windowed && !cursor.IsZero() {
			w.Min = cursor.Add(-Overlap)
		}
		c := s.client
		if r.customer {
			c = s.customer
		}
		f, err := d.fetch(ctx, job, c, c.Resolve(r.rel), w)
		d.count(&res, f)
		if err != nil && r.optional && (isStatus(err, 404) || isStatus(err, 403)) {
			job.Logger.Info("optional resource not offered", logkey.Op, "GET "+r.rel, logkey.Err, err)
			err = nil
		}
		if err != nil && r.customer && syncerr.KindOf(err) == syncerr.Auth {
			var se *syncerr.Error
			if errors.As(err, &se) && (se.Hint == HintReauthorise || se.Hint == "") {
				se.Hint = HintConnectAgain(job.Source.Name)
			}
		}
		if err != nil {
			if note(err) {
				break
			}
			continue
		}
		if f.status == 202 {
			if !hasListener(job.Source) {
				// Nothing would ever complete the request: say so, and ask again next time.
				notificationOnly++
				continue
			}
			req := store.Request{SourceID: job.Source.ID, Resource: r.rel, Requested: started, Earliest: earliest[r.rel],
				Min: w.Min, Max: w.Max, Correlation: strings.TrimSpace(f.header.Get(TransactionHeader))}
			if err := job.Store.SetOutstanding(ctx, req); err != nil {
				return res, syncerr.E(syncerr.Local, "sync", err)
			}
			job.Logger.Info("the custodian is preparing the answer; waiting for its notification", logkey.Op, "GET "+r.rel)
			waiting = append(waiting, req)
			continue
		}
		if err := d.setCursor(ctx, job, r.rel, started); err != nil {
			return res, err
		}
	}
	if firstErr == nil || !stops(firstErr) { // pending URIs from BatchLists whose fetch failed
		for _, n := range pending {
			if err := d.fetchNotified(ctx, job, s.client, n.URI); err != nil && note(err) {
				break
			}
		}
	}
	if notificationOnly > 0 && firstErr == nil {
		e := syncerr.Errorf(syncerr.Config, "sync", "the custodian answered 202 Accepted: it delivers this data only by notification, and the source %s has no notification listener", job.Source.Name)
		e.Hint = HintNotificationOnly(job.Source)
		firstErr = e
	}
	if len(waiting) > 0 {
		since := waiting[0].Requested
		for _, w := range waiting[1:] {
			if w.Requested.Before(since) {
				since = w.Requested
			}
		}
		res.Note = WaitingNote(since)
		n, err := job.Store.HeldAnswers(ctx, job.Source.ID)
		if err != nil {
			return res, syncerr.E(syncerr.Local, "sync", err)
		}
		if n > 0 {
			res.Note += "; " + HeldNote(n)
		}
		if res.Items > 0 {
			res.Note = fmt.Sprintf("%d payloads, %d readings; %s", res.Items, res.Readings, res.Note)
		}
	}
	return res, firstErr
}

// endedAuthorizations is what the custodian said about authorizations that ended.
type endedAuthorizations []store.Authorization

// endedAuthorizations lists the source's authorizations the custodian said ended, leaving
// out those a later active authorization for the same resource replaced.
func (d *Driver) endedAuthorizations(ctx context.Context, job *engine.Job) (endedAuthorizations, error) {
	all, err := job.Store.Authorizations(ctx, job.Source.ID)
	if err != nil {
		return nil, syncerr.E(syncerr.Local, "sync", err)
	}
	var out endedAuthorizations
	for _, a := range all {
		if a.Status == store.AuthorizationActive {
			continue
		}
		replaced := false
		for _, b := range all {
			if b.Status == store.AuthorizationActive && b.ResourceURI == a.ResourceURI && !b.Changed.Before(a.Changed) {
				replaced = true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out, nil
}

// check returns the reason a resource may no longer be fetched: an authorization naming it
// (or the registration as a whole) ended.
func (e endedAuthorizations) check(src store.Source, uri string, customer bool) error {
	for _, a := range e {
		whole := a.ResourceURI == ""
		if !whole && !sameResource(a.ResourceURI, uri) {
			continue
		}
		why := map[int]string{store.AuthorizationRevoked: "revoked access", store.AuthorizationDenied: "denied access",
			store.AuthorizationExpired: "access expired"}[a.Status]
		if why == "" {
			why = fmt.Sprintf("access ended (status %d)", a.Status)
		}
		who := "the customer"
		if whole {
			who = "the custodian"
		}
		err := syncerr.Errorf(syncerr.Auth, "sync", "%s %s on %s", who, why, a.Changed.Local().Format("2006-01-02"))
		if customer {
			err.Hint = HintConnectAgain(src.Name)
		} else {
			err.Hint = HintReauthorise
		}
		return err
	}
	return nil
}

// sameResource says whether two resource URIs name the same thing (Batch/Subscription/5001
// and Subscription/5001 do), comparing paths from the last Batch or Subscription segment.
func sameResource(a, b string) bool {
	key := func(u string) string {
		p := urlPath(u)
		if i := strings.Index(p, "/Batch/"); i >= 0 {
			p = p[i+len("/Batch"):]
		} else if i := strings.LastIndex(p, "/Subscription/"); i >= 0 {
			p = p[i:]
		}
		return strings.TrimSuffix(p, "/")
	}
	return key(a) != "" && key(a) == key(b)
}

// withDefaults returns job with a logger and a progress function, when it lacks them.
func withDefaults(job *engine.Job) *engine.Job {
	if job.Logger != nil && job.Progress != nil {
		return job
	}
	j := *job
	if j.Logger == nil {
		j.Logger = slog.New(slog.DiscardHandler)
	}
	if j.Progress == nil {
		j.Progress = func(engine.Progress) {}
	}
	return &j
}

// isStatus says whether err is an HTTP answer with the given status.
func isStatus(err error, status int) bool {
	var se *auth.StatusError
	return errors.As(err, &se) && se.Status == status
}

// stops says whether err ends a sync: only a resource the custodian does not know (Config)
// or could not be read (Data) lets the others go on; without authorisation, network or a
// willing server (429, 5xx) the next request would fail the same way.
func stops(err error) bool {
	k := syncerr.KindOf(err)
	return k != syncerr.Data && k != syncerr.Config
}

func (d *Driver) count(res *engine.Result, f fetched) {
	if f.parsed {
		res.Items++
		res.Readings += f.readings
	}
}

func (d *Driver) setCursor(ctx context.Context, job *engine.Job, rel string, t time.Time) error {
	tx, err := job.Store.Begin(ctx)
	if err != nil {
		return syncerr.E(syncerr.Local, "sync", err)
	}
	defer tx.Rollback()
	if err := tx.SetCursor(job.Source.ID, rel, t); err != nil {
		return syncerr.E(syncerr.Local, "sync", err)
	}
	return tx.Commit()
}

// fetchNotified fetches a URI a BatchList named and records the outcome. The URI must lie
// under the source's base URL.
func (d *Driver) fetchNotified(ctx context.Context, job *engine.Job, c *Client, uri string) error {
	if !c.Under(uri) {
		return job.Store.SetNotifiedStatus(ctx, job.Source.ID, uri, store.NotifiedRefused, "not under the source's base URL")
	}
	if err := d.notifiedLimiter(job.Source.Name).Wait(ctx); err != nil {
		return err // left pending
	}
	rel := c.rel(uri)
	if isAuthorizationResource(rel) {
		return d.fetchAuthorizations(ctx, job, c, uri)
	}
	f, err := d.fetch(ctx, job, c, uri, Window{})
	status, text := store.NotifiedFetched, ""
	switch {
	case err != nil && (syncerr.KindOf(err) == syncerr.Data || syncerr.KindOf(err) == syncerr.Config):
		status, text = store.NotifiedFailed, err.Error() // fetching it again will not help
	case err != nil:
		status, text = store.NotifiedPending, err.Error()
	case f.status == 202:
		status = store.NotifiedPending
	}
	if serr := job.Store.SetNotifiedStatus(context.WithoutCancel(ctx), job.Source.ID, uri, status, text); serr != nil && err == nil {
		err = syncerr.E(syncerr.Local, "record notified URI", serr)
	}
	if status == store.NotifiedFetched {
		if aerr := d.answer(context.WithoutCancel(ctx), job, rel, uri); aerr != nil && err == nil {
			err = aerr
		}
	}
	return err
}

// answer completes the outstanding requests the fetched notified uri answers (see
// store.AnswerRequest) and says what it did. A URI naming neither a correlation id nor a
// window is news the custodian publishes (a subscription's daily notification), not an answer.
func (d *Driver) answer(ctx context.Context, job *engine.Job, rel, uri string) error {
	a := store.Answer{URI: uri, Correlation: CorrelationID(uri), Received: d.now()}
	a.Min, a.Max = windowOf(uri)
	if a.Correlation == "" && a.Min.IsZero() && a.Max.IsZero() {
		return nil
	}
	m, err := job.Store.AnswerRequest(ctx, job.Source.ID, rel, a)
	if err != nil {
		return syncerr.E(syncerr.Local, "complete request", err)
	}
	for _, req := range m.Completed {
		what := "the custodian delivered the requested data (matched by " + m.How + "); cursor moved"
		if req.Purpose != store.RequestSync {
			what = "the custodian delivered the data of a " + req.Purpose + " request (matched by " + m.How + ")"
		}
		job.Logger.Info(what, logkey.Op, "GET "+rel, "since", req.Requested.Format(time.RFC3339))
	}
	if m.Waiting > 0 {
		job.Logger.Info(fmt.Sprintf("an answer came that could be for any of %d requests (the custodian gave them no correlation id): its data is stored; the requests stay outstanding until as many answers have come", m.Waiting),
			logkey.Op, "GET "+rel, logkey.Count, m.Held)
	}
	return nil
}

// windowOf returns the published-min and published-max a notified URI names (the GBA
// contract's BatchList names its window so), or zero times.
func windowOf(uri string) (lo, hi time.Time) {
	u, err := url.Parse(uri)
	if err != nil {
		return lo, hi
	}
	for k, v := range u.Query() {
		if len(v) == 0 {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(v[0]))
		if err != nil {
			continue
		}
		switch {
		case strings.EqualFold(k, "published-min"):
			lo = t
		case strings.EqualFold(k, "published-max"):
			hi = t
		}
	}
	return lo, hi
}

// CorrelationID returns the correlationID query parameter of a notified URI, or "".
func CorrelationID(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	for k, v := range u.Query() {
		if strings.EqualFold(k, "correlationID") && len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// isAuthorizationResource says whether rel names an Authorization or ApplicationInformation,
// whose status a custodian notifies when it changes.
func isAuthorizationResource(rel string) bool {
	return rel == "Authorization" || strings.HasPrefix(rel, "Authorization/") ||
		rel == "ApplicationInformation" || strings.HasPrefix(rel, "ApplicationInformation/")
}

// fetchAuthorizations fetches a notified Authorization or ApplicationInformation with the
// client token, archives it, and records the statuses it gives; an authorization that ended
// is logged ("the customer revoked access on DATE") and stops the syncs of what it covered.
func (d *Driver) fetchAuthorizations(ctx context.Context, job *engine.Job, c *Client, uri string) error {
	as, p, err := d.getAuthorizations(ctx, job, c, uri)
	status, text := store.NotifiedFetched, ""
	if err != nil {
		status, text = store.NotifiedPending, err.Error()
		if k := syncerr.KindOf(err); k == syncerr.Data || k == syncerr.Config {
			status = store.NotifiedFailed
		}
	}
	if err == nil {
		err = d.noteAuthorizations(ctx, job, as)
	}
	if p.ID != 0 {
		ps, pt := store.PayloadParsed, ""
		if err != nil && syncerr.KindOf(err) == syncerr.Data {
			ps, pt = store.PayloadFailed, err.Error()
		}
		job.Store.SetPayloadStatus(context.WithoutCancel(ctx), p.ID, ps, pt)
	}
	if serr := job.Store.SetNotifiedStatus(context.WithoutCancel(ctx), job.Source.ID, uri, status, text); serr != nil && err == nil {
		err = syncerr.E(syncerr.Local, "record notified URI", serr)
	}
	return err
}

// getAuthorizations GETs uri (an Authorization list or entry, or an ApplicationInformation),
// archives the answer and reads the authorizations from the archive.
func (d *Driver) getAuthorizations(ctx context.Context, job *engine.Job, c *Client, uri string) ([]AuthorizationInfo, store.Payload, error) {
	op := "GET " + c.rel(uri)
	resp, err := c.Get(ctx, uri, Window{})
	if err != nil {
		return nil, store.Payload{}, err
	}
	defer resp.Body.Close()
	if resp.Status != 200 {
		return nil, store.Payload{}, nil
	}
	p := store.Payload{SourceID: job.Source.ID, Format: FormatName, URL: resp.URL, Headers: store.SafeHeaders(resp.Header)}
	p, _, err = job.Store.Archive(ctx, p, &limitedReader{r: resp.Body, n: 16 << 20})
	if err != nil {
		return nil, p, auth.Classify(op, err)
	}
	rc, err := job.Store.OpenPayload(ctx, p.ID)
	if err != nil {
		return nil, p, syncerr.E(syncerr.Local, op, err)
	}
	defer rc.Close()
	as, err := ParseAuthorizations(rc)
	if err != nil {
		return as, p, syncerr.E(syncerr.Data, op, err)
	}
	return as, p, nil
}

// noteAuthorizations records authorizations' statuses and logs those that changed to ended.
func (d *Driver) noteAuthorizations(ctx context.Context, job *engine.Job, as []AuthorizationInfo) error {
	now := d.now()
	for _, a := range as {
		if !a.Application && a.ResourceURI == "" {
			continue // says nothing about what may be fetched
		}
		st := store.AuthorizationActive
		ended, why := a.Ended(now)
		if ended {
			st = map[string]int{"revoked": store.AuthorizationRevoked, "denied": store.AuthorizationDenied, "expired": store.AuthorizationExpired}[why]
			if st == 0 && why != "revoked" {
				st = a.Status
			}
		}
		resourceURI := a.ResourceURI
		if a.Application {
			resourceURI = ""
		}
		changed, err := job.Store.NoteAuthorization(context.WithoutCancel(ctx), store.Authorization{SourceID: job.Source.ID, URI: a.URI(),
			ResourceURI: resourceURI, Title: a.Title, Scope: a.Scope, Status: st, Changed: now})
		if err != nil {
			return syncerr.E(syncerr.Local, "record authorization", err)
		}
		if changed && ended {
			who := "the customer"
			if a.Application {
				who = "the custodian"
			}
			job.Logger.Warn(fmt.Sprintf("%s %s access on %s", who, why, now.Local().Format("2006-01-02")),
				logkey.Op, "notify", logkey.URLPath, urlPath(a.URI()))
		}
	}
	return nil
}

// noteAccepted records a backfill's or a test's request the custodian answered 202 to, when
// the source has a listener for its answer: it is told apart from a sync's request for the
// same resource by the answer's correlation id or window, and while it could be either's,
// neither is taken as answered (store.AnswerRequest).
func (d *Driver) noteAccepted(ctx context.Context, job *engine.Job, purpose, rel string, at time.Time, w Window, h http.Header) error {
	if !hasListener(job.Source) {
		return nil // no answer will come to be matched
	}
	req := store.Request{SourceID: job.Source.ID, Resource: rel, Purpose: purpose, Requested: at, Min: w.Min, Max: w.Max,
		Correlation: strings.TrimSpace(h.Get(TransactionHeader))}
	if err := job.Store.SetOutstanding(ctx, req); err != nil {
		return syncerr.E(syncerr.Local, purpose, err)
	}
	return nil
}

// BackfillStep is the longest window one backfill request asks for.
const BackfillStep = 31 * 24 * time.Hour

// Backfill fetches the usage of the source's bulk ids and subscriptions published between
// from and to (to is clamped to now: some custodians reject a future published-max), in
// windows of at most BackfillStep, oldest first. It leaves the sync cursors alone.
func (d *Driver) Backfill(ctx context.Context, job *engine.Job, from, to time.Time) (engine.Result, error) {
	job = withDefaults(job)
	var res engine.Result
	if now := d.now(); to.IsZero() || to.After(now) {
		to = now
	}
	if !from.Before(to) {
		return res, syncerr.Errorf(syncerr.Config, "backfill", "the window from %s to %s is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	s, err := d.session(job)
	if err != nil {
		return res, err
	}
	var firstErr error
	for _, r := range resources(job.Source) {
		if !r.windowed {
			continue
		}
		for lo := from; lo.Before(to); lo = lo.Add(BackfillStep) {
			hi := lo.Add(BackfillStep)
			if hi.After(to) {
				hi = to
			}
			asked := d.now()
			f, err := d.fetch(ctx, job, s.client, s.client.Resolve(r.rel), Window{Min: lo, Max: hi})
			d.count(&res, f)
			if f.status == 202 {
				res.NextIn = NotReadyRetry
				if err := d.noteAccepted(ctx, job, store.RequestBackfill, r.rel, asked, Window{Min: lo, Max: hi}, f.header); err != nil {
					return res, err
				}
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				if stops(err) {
					return res, firstErr
				}
			}
		}
	}
	return res, firstErr
}

// Test implements engine.Driver: it requests a token and makes one small GET, and says what
// it found in plain words.
func (d *Driver) Test(ctx context.Context, job *engine.Job) (string, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	job = withDefaults(job)
	s, err := d.session(job)
	if err != nil {
		return "", err
	}
	s.tokens.Invalidate(nil) // test the credentials, not a cached token
	tok, err := s.tokens.Token(ctx)
	if err != nil {
		return "", err
	}
	var msg strings.Builder
	msg.WriteString("the custodian accepted the client certificate and the client id and secret")
	if !tok.Expiry.IsZero() {
		fmt.Fprintf(&msg, " (token valid for %d min)", int(time.Until(tok.Expiry).Round(time.Minute)/time.Minute))
	}
	rel, what := "ReadServiceStatus", "the service status"
	c := s.client
	if ids := job.Source.List(CfgBulkIDs); len(ids) > 0 {
		rel, what = "Batch/Bulk/"+url.PathEscape(ids[0]), "bulk id "+ids[0]
	} else if ids := job.Source.List(CfgSubscriptionIDs); len(ids) > 0 {
		rel, what = "Batch/Subscription/"+url.PathEscape(ids[0]), "subscription "+ids[0]
		if s.customer != nil {
			c = s.customer
			what += " (with the customer's token)"
		}
	} else if s.customer != nil {
		fmt.Fprintf(&msg, "; not connected to a customer's account yet: run `custody sources connect %s`", job.Source.Name)
	}
	if req, ok, err := job.Store.Outstanding(ctx, job.Source.ID, rel); err == nil && ok {
		// Asking an asynchronous custodian again would have it prepare (and notify) another
		// answer that could be taken for the outstanding one's.
		fmt.Fprintf(&msg, "; %s: %s (not asked again by this test)", what, WaitingNote(req.Requested))
		msg.WriteString(d.listAuthorizations(ctx, job, s.client))
		return msg.String(), nil
	}
	// A small window (the last hour, ending a minute ago so that a custodian whose clock is
	// a little behind does not see a future published-max) keeps the answer short.
	asked := d.now()
	now := asked.Add(-time.Minute)
	tw := Window{Min: now.Add(-time.Hour), Max: now}
	resp, err := c.Get(ctx, c.Resolve(rel), tw)
	if err != nil {
		var se *syncerr.Error
		if errors.As(err, &se) && se.Kind == syncerr.Config && strings.Contains(err.Error(), "404") {
			se.Err = fmt.Errorf("the custodian does not know %s (HTTP 404)", what)
			se.Hint = "Check the bulk id (PG&E: the Third Party ID, the last part of your Authorization's resourceURI) or the subscription id."
		}
		return "", err
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	switch resp.Status {
	case 202:
		fmt.Fprintf(&msg, "; %s exists and the custodian is preparing its data (202 Accepted): it will be fetched when ready", what)
		if err := d.noteAccepted(ctx, job, store.RequestTest, rel, asked, tw, resp.Header); err != nil {
			return "", err
		}
	case 204:
		fmt.Fprintf(&msg, "; %s exists and has nothing new in the last hour", what)
	default:
		fmt.Fprintf(&msg, "; %s answered with %d bytes for the last hour", what, n)
	}
	msg.WriteString(d.listAuthorizations(ctx, job, s.client))
	return msg.String(), nil
}

// listAuthorizations asks the custodian (client token) which authorizations the third party
// holds, records their statuses, and describes them; a custodian that does not list them is
// said so, not failed.
func (d *Driver) listAuthorizations(ctx context.Context, job *engine.Job, c *Client) string {
	as, _, err := d.getAuthorizations(ctx, job, c, c.Resolve("Authorization"))
	if err != nil {
		return fmt.Sprintf("\nthe custodian did not list the authorizations: %v", err)
	}
	if err := d.noteAuthorizations(ctx, job, as); err != nil {
		job.Logger.Warn("record authorizations", logkey.Op, "test", logkey.Err, err)
	}
	if len(as) == 0 {
		return "\nthe custodian lists no authorizations for this client"
	}
	return fmt.Sprintf("\nthe custodian lists %d authorization%s:", len(as), map[bool]string{true: "", false: "s"}[len(as) == 1]) +
		FormatAuthorizations(as, d.now())
}

var _ engine.Driver = (*Driver)(nil)
