package datahub

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/crashpoint"
	"custody/sync/engine"
	"custody/sync/redact"
	"custody/sync/settings"
	"custody/sync/syncerr"
)

// DefaultQueues are peeked when a source names none: the two categories the CIM backend serves.
var DefaultQueues = []string{"timeseries", "aggregations"}

// Config is a datahub source's settings.
type Config struct {
	BaseURL, TokenURL, ClientID, Scope, CA string
	Queues                                 []string
	Format                                 string // xml or json
	SecretExpires                          time.Time
	// Identity is the actor's GLN and market role and DataHub's routes.
	Identity Identity
}

// ConfigOf reads and checks a source's settings.
func ConfigOf(src store.Source) (Config, error) {
	c := Config{
		BaseURL: src.Config[CfgBaseURL], TokenURL: src.Config[CfgTokenURL], ClientID: src.Config[CfgClientID],
		Scope: src.Config[CfgScope], CA: src.Config[CfgCA], Queues: src.List(CfgQueues), Format: src.Config[CfgFormat],
	}
	var missing []string
	for k, v := range map[string]string{"base_url": c.BaseURL, "token_url": c.TokenURL, "client_id": c.ClientID, "scope": c.Scope} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return c, syncerr.Errorf(syncerr.Config, "settings", "the source lacks %s", strings.Join(missing, ", "))
	}
	if len(c.Queues) == 0 {
		c.Queues = DefaultQueues
	}
	id, err := identityOf(src)
	if err != nil {
		return c, syncerr.E(syncerr.Config, "settings", err)
	}
	c.Identity = id
	switch c.Format {
	case "":
		c.Format = "xml"
	case "xml", "json":
	default:
		return c, syncerr.Errorf(syncerr.Config, "settings", "format %q: say xml or json", c.Format)
	}
	if v := src.Config[CfgSecretExpires]; v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, time.Local)
		if err != nil {
			return c, syncerr.Errorf(syncerr.Config, "settings", "secret_expires %q is not a date such as 2027-06-30", v)
		}
		c.SecretExpires = t
	}
	return c, nil
}

// ExpiryWarning returns a warning when the client secret expires within 30 days of now (or
// has expired), else "". DataHub secrets last 12 months and are renewed in the actor portal.
func (c Config) ExpiryWarning(now time.Time) string {
	if c.SecretExpires.IsZero() {
		return ""
	}
	days := int(c.SecretExpires.Sub(now).Hours() / 24)
	date := c.SecretExpires.Format("2006-01-02")
	switch {
	case !now.Before(c.SecretExpires):
		return fmt.Sprintf("the client secret expired on %s: create a new one in DataHub (Aktører → B2B adgang) and update the source", date)
	case days < 30:
		return fmt.Sprintf("the client secret expires on %s (in %d days): create a new one in DataHub (Aktører → B2B adgang) in time", date, days)
	}
	return ""
}

// HTTPClient returns the source's TLS client (sync/auth): the system roots plus the CA file,
// if given, verification always on.
func HTTPClient(caFile string) (*http.Client, error) {
	hc, err := auth.NewHTTPClient(auth.TLSConfig{CAFile: caFile})
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "TLS settings", err)
	}
	return hc, nil
}

// Driver syncs datahub sources: pending dequeues first, then peek → archive → parse → commit
// → dequeue on every configured queue until it is empty or the per-run limit is reached.
type Driver struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxPerRun limits the documents taken from one queue in one run; 0 means 1000.
	MaxPerRun int
	// MaxBody limits one document; 0 means DefaultMaxBody.
	MaxBody int64
	// afterCommit, when set, runs between the commit of a document and its dequeue. Tests use
	// it to crash there.
	afterCommit func(messageID string) error

	mu     sync.Mutex
	tokens map[string]*auth.Source
}

// NewDriver returns a datahub driver.
func NewDriver() *Driver { return &Driver{} }

// Kind is "datahub".
func (d *Driver) Kind() string { return "datahub" }

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Client builds the CIM client of a job's source, with a token source cached across runs
// (tokens are renewed on expires_in, not on a 401).
func (d *Driver) Client(job *engine.Job) (*Client, Config, error) {
	cfg, err := ConfigOf(job.Source)
	if err != nil {
		return nil, cfg, err
	}
	hc, err := HTTPClient(cfg.CA)
	if err != nil {
		return nil, cfg, err
	}
	secret, err := job.Secrets.Secret(job.Source.Name, settings.KeyClientSecret)
	if err != nil || secret == "" {
		if err == nil {
			err = errors.New("empty")
		}
		return nil, cfg, &syncerr.Error{Kind: syncerr.Config, Op: "client secret", Err: fmt.Errorf("no client secret in the keyring: %w", err),
			Hint: "Add the source again with its client secret (custody sources add datahub ... --secret-stdin)."}
	}
	h := sha256.Sum256([]byte(job.Source.Name + "\x00" + cfg.TokenURL + "\x00" + cfg.ClientID + "\x00" + cfg.Scope + "\x00" + secret + "\x00" + cfg.CA))
	key := hex.EncodeToString(h[:])
	d.mu.Lock()
	if d.tokens == nil {
		d.tokens = map[string]*auth.Source{}
	}
	ts, ok := d.tokens[key]
	if !ok {
		ts = auth.NewClientCredentials(auth.Credentials{TokenURL: cfg.TokenURL, ClientID: cfg.ClientID, ClientSecret: secret,
			Scopes: []string{cfg.Scope}, AuthStyle: oauth2.AuthStyleInParams, HTTPClient: hc, Logger: job.Logger})
		d.tokens[key] = ts
	}
	d.mu.Unlock()
	// The token goes only to the base URL's origin; a redirect elsewhere is refused unsent.
	authed, err := auth.NewClient(hc, ts, cfg.BaseURL)
	if err != nil {
		return nil, cfg, syncerr.E(syncerr.Config, "base url", err)
	}
	warn := cfg.ExpiryWarning(d.now())
	return &Client{
		BaseURL: cfg.BaseURL,
		HTTP:    authed,
		Format:  cfg.Format,
		MaxBody: d.MaxBody,
		Token: func(ctx context.Context) error {
			_, err := ts.Token(ctx)
			return withExpiry(err, warn)
		},
	}, cfg, nil
}

// withExpiry adds the secret's expiry to the advice of an authorisation failure.
func withExpiry(err error, expiry string) error {
	var se *syncerr.Error
	if expiry != "" && errors.As(err, &se) && se.Kind == syncerr.Auth {
		if se.Hint == "" {
			se.Hint = syncerr.Advice(err)
		}
		se.Hint += " Note: " + expiry + "."
	}
	return err
}

// Test fetches a token, calls the health endpoint (GET /ping) with it, and peeks the first
// queue (a peek changes nothing on the server), and says what it found, with a warning when the
// client secret expires within 30 days.
func (d *Driver) Test(ctx context.Context, job *engine.Job) (string, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	c, cfg, err := d.Client(job)
	if err != nil {
		return "", err
	}
	if err := c.Token(ctx); err != nil {
		return "", err
	}
	msg := "token accepted"
	status, err := c.Ping(ctx, cfg.Identity.HealthPath)
	switch {
	case err == nil:
		msg += fmt.Sprintf("; health endpoint %s answered %d", cfg.Identity.HealthPath, status)
	case syncerr.KindOf(err) == syncerr.Auth:
		return "", err
	default:
		// Not every environment serves it; the peek below is what counts.
		msg += fmt.Sprintf("; health endpoint %s: %v", cfg.Identity.HealthPath, err)
	}
	p, err := c.Peek(ctx, cfg.Queues[0])
	if err != nil {
		return "", err
	}
	if p == nil {
		msg += fmt.Sprintf("; queue %s is empty", cfg.Queues[0])
	} else {
		p.Body.Close()
		msg += fmt.Sprintf("; queue %s has a document waiting (%s)", cfg.Queues[0], p.MessageID)
	}
	if cfg.Identity.Sender == "" || cfg.Identity.Role == "" {
		msg += "; no sender GLN or market role set (requests need them: sources add ... --sender-gln GLN --market-role ROLE)"
	} else {
		msg += fmt.Sprintf("; acting as %s in role %s", cfg.Identity.Sender, cfg.Identity.Role)
	}
	if w := cfg.ExpiryWarning(d.now()); w != "" {
		msg += "; WARNING: " + w
	}
	return msg, nil
}

// Sync sends the dequeues a crash left pending, then drains every queue.
func (d *Driver) Sync(ctx context.Context, job *engine.Job) (res engine.Result, err error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	c, cfg, err := d.Client(job)
	if err != nil {
		return res, err
	}
	// A refused token or peek also says when the secret expires, if that is soon.
	defer func() { err = withExpiry(err, cfg.ExpiryWarning(d.now())) }()
	log := job.Logger
	if log == nil {
		log = noLogger
	}
	if err := d.flushPending(ctx, job, c, log); err != nil {
		return res, err
	}
	limit := d.MaxPerRun
	if limit <= 0 {
		limit = 1000
	}
	failed := 0
	var notes []string
	for _, q := range cfg.Queues {
		var last string
		n := 0
		for ; n < limit; n++ {
			job.Progress(engine.Progress{Done: res.Items, Message: "peek " + q})
			p, err := c.Peek(ctx, q)
			if err != nil {
				return res, err
			}
			if p == nil {
				break
			}
			out, err := d.take(ctx, job, c, q, p, log)
			p.Body.Close()
			if err != nil {
				return res, err
			}
			if out.id == last {
				return res, syncerr.Errorf(syncerr.Server, "peek "+q,
					"DataHub returned document %s again after it was dequeued; the queue is stuck", out.id)
			}
			last = out.id
			res.Items++
			res.Readings += int64(out.readings)
			if out.failed {
				failed++
			}
		}
		if n == limit {
			notes = append(notes, fmt.Sprintf("queue %s has more (per-run limit %d)", q, limit))
			res.NextIn = time.Minute
		}
	}
	res.Note = fmt.Sprintf("%d documents, %d readings", res.Items, res.Readings)
	if failed > 0 {
		res.Note += fmt.Sprintf(", %d unreadable (archived; see custody messages)", failed)
	}
	notes = append(notes, cfg.ExpiryWarning(d.now()))
	for _, n := range notes {
		if n != "" {
			res.Note += "; " + n
		}
	}
	return res, nil
}

var noLogger = slog.New(slog.DiscardHandler)

// flushPending sends the dequeues owed from an earlier run. One the server no longer knows
// (400) is logged and forgotten; a server error is logged and left for the document to come
// again on the peek that follows (it is then stored once, by upsert, and dequeued).
func (d *Driver) flushPending(ctx context.Context, job *engine.Job, c *Client, log *slog.Logger) error {
	pending, err := job.Store.PendingAcks(ctx, job.Source.ID, "dequeue")
	if err != nil {
		return syncerr.E(syncerr.Local, "pending dequeues", err)
	}
	var done []int64
	for _, a := range pending {
		err := c.Dequeue(ctx, a.Item)
		switch {
		case err == nil:
			done = append(done, a.ID)
		case errors.Is(err, ErrUnknownMessage):
			log.Warn("pending dequeue refused as unknown; skipped", "op", "dequeue", "err", err)
			done = append(done, a.ID)
		case syncerr.KindOf(err) == syncerr.Server:
			log.Warn("pending dequeue failed; the document will come again", "op", "dequeue", "err", err)
		default:
			return err
		}
	}
	if len(done) > 0 {
		if err := job.Store.DeletePendingAcks(ctx, done); err != nil {
			return syncerr.E(syncerr.Local, "pending dequeues", err)
		}
	}
	return nil
}

type taken struct {
	id       string
	readings int
	failed   bool
}

// take stores one peeked document and dequeues it.
func (d *Driver) take(ctx context.Context, job *engine.Job, c *Client, queue string, p *Peeked, log *slog.Logger) (taken, error) {
	src := job.Source
	br := bufio.NewReaderSize(p.Body, 64<<10)
	head, _ := br.Peek(512)
	format := FormatXML
	if bytes.HasPrefix(bytes.TrimSpace(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})), []byte("{")) {
		format = FormatJSON // the body's format, whatever was asked: a stored bundle keeps its first format
	}
	// 1. Archive the body as received, before anything else.
	payload, _, err := job.Store.Archive(ctx, store.Payload{
		SourceID: src.ID, Format: format, URL: "/v1.0/cim/" + queue, Headers: store.SafeHeaders(p.Header),
	}, br)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return taken{}, syncerr.E(syncerr.Data, "peek "+queue, err)
		}
		if ctx.Err() != nil {
			return taken{}, ctx.Err()
		}
		var se *syncerr.Error
		if errors.As(err, &se) {
			return taken{}, err
		}
		return taken{}, syncerr.E(syncerr.Network, "read document from "+queue, err)
	}
	crashpoint.Hit(crashpoint.AfterArchive)
	// 2. Parse from the archive and store as it is read, in one transaction with the message
	// record and the pending dequeue: the points of a big document are never all in memory.
	body, err := job.Store.OpenPayload(ctx, payload.ID)
	if err != nil {
		return taken{}, syncerr.E(syncerr.Local, "open archived document", err)
	}
	defer body.Close()
	tx, err := job.Store.Begin(ctx)
	if err != nil {
		return taken{}, syncerr.E(syncerr.Local, "store document", err)
	}
	defer tx.Rollback()
	doc, res, perr := Import(tx, format, body, PutOptions{SourceID: src.ID, PayloadID: payload.ID, Correlation: p.Correlation, MessageID: p.MessageID})
	body.Close()
	var storeErr *StoreError
	if errors.As(perr, &storeErr) {
		// The database failed, not the document: keep it on the server for the next run.
		return taken{}, syncerr.E(syncerr.Local, "store document", perr)
	}
	id := p.MessageID
	if id == "" && doc != nil {
		id = doc.MRID // no MessageId header: the document mRID is the same value
	}
	if id == "" {
		return taken{}, syncerr.Errorf(syncerr.Server, "peek "+queue, "DataHub answered 200 without a MessageId and the document has no readable mRID (archived as payload %d)", payload.ID)
	}
	out := taken{id: id}
	if perr != nil {
		// The data cannot be stored as it is: start over and keep only the record.
		tx.Rollback()
		if tx, err = job.Store.Begin(ctx); err != nil {
			return taken{}, syncerr.E(syncerr.Local, "store document", err)
		}
		defer tx.Rollback()
	} else {
		crashpoint.Hit(crashpoint.MidTx)
		out.readings = res.Readings
		for _, w := range res.Warnings {
			log.Warn("document warning", "op", "parse", "count", res.Readings, "err", w)
		}
	}
	if perr != nil {
		out.failed = true
		root := ""
		if doc != nil {
			root = doc.Root
		}
		log.Warn("unreadable document archived and dequeued", "op", "parse", "url-path", "/v1.0/cim/"+queue, "err", perr)
		m := store.Message{SourceID: src.ID, MessageID: id, Type: root, Correlation: p.Correlation, Error: perr.Error(),
			PayloadID: payload.ID, Attrs: map[string]string{"queue": queue}}
		if err := tx.PutMessage(&m); err != nil {
			return taken{}, syncerr.E(syncerr.Local, "store document", err)
		}
		if err := tx.SetPayloadStatus(payload.ID, store.PayloadFailed, perr.Error()); err != nil {
			return taken{}, syncerr.E(syncerr.Local, "store document", err)
		}
	} else if err := tx.SetPayloadStatus(payload.ID, store.PayloadParsed, ""); err != nil {
		return taken{}, syncerr.E(syncerr.Local, "store document", err)
	}
	if err := tx.AddPendingAck(store.PendingAck{SourceID: src.ID, Kind: "dequeue", Item: id,
		Detail: map[string]string{"queue": queue}}); err != nil {
		return taken{}, syncerr.E(syncerr.Local, "store document", err)
	}
	if err := tx.Commit(); err != nil {
		return taken{}, syncerr.E(syncerr.Local, "store document", err)
	}
	crashpoint.Hit(crashpoint.AfterCommit)
	if d.afterCommit != nil {
		if err := d.afterCommit(id); err != nil {
			return taken{}, err
		}
	}
	// 4. Only now tell DataHub it may forget the document.
	if err := c.Dequeue(ctx, id); err != nil {
		if !errors.Is(err, ErrUnknownMessage) {
			return taken{}, err // the pending dequeue is sent on the next run
		}
		log.Warn("dequeue refused as unknown; skipped", "op", "dequeue", "err", err)
	}
	crashpoint.Hit(crashpoint.AfterDequeue)
	if err := job.Store.DeletePendingAck(ctx, src.ID, "dequeue", id); err != nil {
		return taken{}, syncerr.E(syncerr.Local, "forget pending dequeue", err)
	}
	return out, nil
}
