package espi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/crashpoint"
	"custody/sync/engine"
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
	// NotReadyRetry is how soon to ask again after a 202 "not ready yet".
	NotReadyRetry = 2 * time.Minute
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
	for _, v := range []string{cfg[CfgBaseURL], cfg[CfgTokenURL], cfg[CfgClientID], cfg[CfgCert], cfg[CfgKey], cfg[CfgCA], cfg[CfgScope], secret, string(tc.KeyPEM)} {
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
	if s := strings.TrimSpace(cfg[CfgScope]); s != "" {
		creds.Scopes = []string{s}
	}
	tokens := auth.NewESPI(creds)
	ac, err := auth.NewClient(hc, tokens, base.String())
	if err != nil {
		return nil, syncerr.E(syncerr.Config, op, err)
	}
	s := &session{key: key, tokens: tokens, client: &Client{Base: base, HTTP: ac, Tokens: tokens}}
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

// fetched is the outcome of one GET.
type fetched struct {
	status   int
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
	out := fetched{status: resp.Status}
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
		job.Logger.Debug("unchanged answer", "op", op, "url-path", urlPath(uri))
		return out, nil
	}
	n, err := d.parse(ctx, job, p)
	out.readings, out.parsed = n, true
	if err != nil {
		return out, err
	}
	job.Logger.Info("fetched", "op", op, "url-path", urlPath(uri), "count", n)
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
}

func resources(src store.Source) []resource {
	var out []resource
	for _, id := range src.List(CfgBulkIDs) {
		out = append(out, resource{rel: "Batch/Bulk/" + url.PathEscape(id), windowed: true},
			resource{rel: "Batch/BulkRetailCustomerInfo/" + url.PathEscape(id), every: customerEvery, optional: true})
	}
	for _, id := range src.List(CfgSubscriptionIDs) {
		out = append(out, resource{rel: "Batch/Subscription/" + url.PathEscape(id), windowed: true})
	}
	return out
}

// Sync implements engine.Driver: it fetches each bulk id's usage (from shortly before the
// last complete fetch, to pick up corrections) and, once a day, its customer information,
// each subscription's usage, and any notified URI not fetched yet.
func (d *Driver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
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
		return res, syncerr.Errorf(syncerr.Config, "sync", "the source names no bulk id and no subscription id")
	}
	var firstErr error
	notReady := 0
	note := func(err error) bool {
		if firstErr == nil {
			firstErr = err
		}
		return stops(err)
	}
	for _, r := range rs {
		started := d.now()
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
		f, err := d.fetch(ctx, job, s.client, s.client.Resolve(r.rel), w)
		d.count(&res, f)
		if err != nil && r.optional && (isStatus(err, 404) || isStatus(err, 403)) {
			job.Logger.Info("optional resource not offered", "op", "GET "+r.rel, "err", err)
			err = nil
		}
		if err != nil {
			if note(err) {
				break
			}
			continue
		}
		switch f.status {
		case 202:
			notReady++
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
	if notReady > 0 {
		res.NextIn = NotReadyRetry
		res.Note = fmt.Sprintf("%d payloads, %d readings; %d not ready yet (the custodian is preparing them)", res.Items, res.Readings, notReady)
	}
	return res, firstErr
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
	return err
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
			f, err := d.fetch(ctx, job, s.client, s.client.Resolve(r.rel), Window{Min: lo, Max: hi})
			d.count(&res, f)
			if f.status == 202 {
				res.NextIn = NotReadyRetry
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
	if ids := job.Source.List(CfgBulkIDs); len(ids) > 0 {
		rel, what = "Batch/Bulk/"+url.PathEscape(ids[0]), "bulk id "+ids[0]
	} else if ids := job.Source.List(CfgSubscriptionIDs); len(ids) > 0 {
		rel, what = "Batch/Subscription/"+url.PathEscape(ids[0]), "subscription "+ids[0]
	}
	// A small window (the last hour, ending a minute ago so that a custodian whose clock is
	// a little behind does not see a future published-max) keeps the answer short.
	now := d.now().Add(-time.Minute)
	resp, err := s.client.Get(ctx, s.client.Resolve(rel), Window{Min: now.Add(-time.Hour), Max: now})
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
	case 204:
		fmt.Fprintf(&msg, "; %s exists and has nothing new in the last hour", what)
	default:
		fmt.Fprintf(&msg, "; %s answered with %d bytes for the last hour", what, n)
	}
	return msg.String(), nil
}

var _ engine.Driver = (*Driver)(nil)
