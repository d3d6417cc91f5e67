package obevents

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/engine"
	"custody/sync/logkey"
	"custody/sync/obevents/secevent"
	"custody/sync/redact"
	"custody/sync/syncerr"
)

// Driver is the engine driver of "obevents" sources.
type Driver struct {
	mu      sync.Mutex
	keys    map[string]*secevent.JWKS // by jwks URL: the cache and its refresh limit outlive one sync
	clients map[string]cachedClient   // by source name: the token outlives one sync
}

// NewDriver returns the obevents driver.
func NewDriver() *Driver { return &Driver{keys: map[string]*secevent.JWKS{}} }

// Kind is "obevents".
func (d *Driver) Kind() string { return "obevents" }

// session is a source's client and verifier.
type session struct {
	client   *Client
	verifier *secevent.Verifier
	jwks     *secevent.JWKS
	draft    bool
	max      int
	window   time.Duration
}

func (d *Driver) session(job *engine.Job) (*session, error) {
	src := job.Source
	c := src.Config
	for _, k := range []string{"base_url", "token_url", "client_id", "jwks_url", "issuer", "audience"} {
		if strings.TrimSpace(c[k]) == "" {
			return nil, syncerr.Errorf(syncerr.Config, "settings", "the source has no %s", k)
		}
	}
	tokenAuth := c[CfgTokenAuth]
	var secret string
	if NeedsSecret(tokenAuth) {
		var err error
		if secret, err = job.Secrets.Secret(src.Name, SecretClientSecret); err != nil {
			return nil, syncerr.E(syncerr.Local, "read client secret", err)
		}
	}
	signer, err := loadSigner(job)
	if err != nil {
		return nil, err
	}
	client, err := d.client(src.Name, ClientConfig{
		BaseURL: c[CfgBaseURL], TokenURL: c[CfgTokenURL], ClientID: c[CfgClientID], Secret: secret,
		Scope: c[CfgScope], TLS: TLSFiles{CertFile: c[CfgCert], KeyFile: c[CfgKey], CAFile: c[CfgCA]},
		TokenAuth: tokenAuth, Signer: signer,
	})
	if err != nil {
		return nil, err
	}
	s := &session{client: client, draft: c[CfgErrorCodes] == "draft", max: 10}
	if w := c[CfgJTIWindow]; w != "" {
		if s.window, err = time.ParseDuration(w); err != nil {
			return nil, syncerr.Errorf(syncerr.Config, "settings", "%s %q is not a duration such as 720h", CfgJTIWindow, w)
		}
	}
	if v, err := strconv.Atoi(c[CfgMaxEvents]); err == nil && v > 0 {
		s.max = v
	}
	s.jwks = d.keySet(c[CfgJWKSURL], client)
	s.verifier = &secevent.Verifier{Issuer: c[CfgIssuer], Audience: c[CfgAudience], OrgID: c[CfgOrgID], Keys: s.jwks}
	if a := strings.TrimSpace(c[CfgAlgs]); a != "" {
		for _, x := range strings.Split(a, ",") {
			s.verifier.Algs = append(s.verifier.Algs, strings.TrimSpace(x))
		}
	}
	return s, nil
}

// client returns the source's client, reused from the previous sync while its settings and
// secret are unchanged, so that its access token is reused until it is about to expire
// instead of being requested on every sync.
func (d *Driver) client(name string, cfg ClientConfig) (*Client, error) {
	h := sha256.New()
	for _, v := range []string{cfg.BaseURL, cfg.TokenURL, cfg.ClientID, cfg.Secret, cfg.Scope, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile,
		cfg.TokenAuth, cfg.Signer.fingerprint()} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[name]; ok && c.key == key {
		return c.client, nil
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if d.clients == nil {
		d.clients = map[string]cachedClient{}
	}
	d.clients[name] = cachedClient{key: key, client: c}
	return c, nil
}

// loadSigner reads the source's signing key, from the file it names or from the keyring,
// with its passphrase from the keyring when the key is encrypted; nil when it has none.
func loadSigner(job *engine.Job) (*Signer, error) {
	src := job.Source
	c := src.Config
	var pemBytes []byte
	switch {
	case c[CfgSigningKey] != "" && c[CfgSigningKeyKeyring] != "":
		return nil, syncerr.Errorf(syncerr.Config, "settings", "the signing key is both a file and in the keyring: give one")
	case c[CfgSigningKey] != "":
		var err error
		if pemBytes, err = readKeyFile(c[CfgSigningKey]); err != nil {
			return nil, syncerr.E(syncerr.Config, "signing key", err)
		}
	case c[CfgSigningKeyKeyring] != "":
		v, err := job.Secrets.Secret(src.Name, SecretSigningKey)
		if err != nil {
			return nil, syncerr.E(syncerr.Local, "read signing key from the keyring", err)
		}
		pemBytes = []byte(v)
	default:
		return nil, nil
	}
	if c[CfgSigningKID] == "" {
		return nil, syncerr.Errorf(syncerr.Config, "settings", "the signing key has no kid (--signing-kid KID, its id in the key store)")
	}
	var pass string
	if KeyEncrypted(pemBytes) {
		var err error
		if pass, err = job.Secrets.Secret(src.Name, SecretSigningKeyPassphrase); err != nil {
			return nil, syncerr.E(syncerr.Local, "read the signing key's passphrase", err)
		}
	}
	key, err := ParseSigningKey(pemBytes, pass)
	if err != nil {
		return nil, syncerr.E(syncerr.Config, "signing key", err)
	}
	iss := c[CfgSigningISS]
	if iss == "" {
		iss = c["client_id"]
	}
	tan := c[CfgSigningTAN]
	if tan == "" {
		tan = DefaultTAN
	}
	return &Signer{Key: key, KID: c[CfgSigningKID], ISS: iss, TAN: tan}, nil
}

// cachedClient is a source's client with a digest of the settings it was made from.
type cachedClient struct {
	key    string
	client *Client
}

// keySet returns the cached key set of a JWKS URL, fetched with the source's plain TLS client
// (its CA, no token).
func (d *Driver) keySet(url string, c *Client) *secevent.JWKS {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keys == nil {
		d.keys = map[string]*secevent.JWKS{}
	}
	k, ok := d.keys[url]
	if !ok {
		k = &secevent.JWKS{URL: url}
		d.keys[url] = k
	}
	k.SetClient(c.Plain)
	return k
}

// Sync subscribes when needed (an existing subscription is reused, never duplicated), sends
// acknowledgements owed from an earlier run, polls until the bank has no more, stores every
// token and acknowledges what it stored.
func (d *Driver) Sync(ctx context.Context, job *engine.Job) (engine.Result, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	s, err := d.session(job)
	if err != nil {
		return engine.Result{}, err
	}
	log := job.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if job.Source.Config[CfgSubscription] != "none" {
		job.Progress(engine.Progress{Message: "checking the event subscription"})
		version := job.Source.Config[CfgSubscriptionVersion]
		if version == "" {
			version = s.client.Version()
		}
		want := Subscription{Version: version, CallbackURL: job.Source.Config[CfgCallbackURL], EventTypes: job.Source.List(CfgEventTypes)}
		sub, err := s.client.EnsureSubscription(ctx, want)
		switch {
		case err == nil:
			log.Debug("event subscription", "op", "subscribe", "url-path", "/event-subscriptions/"+sub.EventSubscriptionID)
		case notOffered(err) && want.CallbackURL != "":
			// Only the older Callback URL API: register the push target there.
			cb, err := s.client.EnsureCallbackURL(ctx, CallbackURL{URL: want.CallbackURL, Version: version})
			if err != nil {
				return engine.Result{}, err
			}
			log.Info("the bank offers callback URLs only; registered there", "op", "subscribe", "url-path", "/callback-urls/"+cb.CallbackURLID)
		case notOffered(err):
			log.Info("the bank offers no event subscriptions; polling only", "op", "subscribe", "err", err)
		default:
			return engine.Result{}, err
		}
	}
	p := &Poller{Client: s.client, Verifier: s.verifier, Store: job.Store, Source: job.Source,
		MaxEvents: s.max, DraftCodes: s.draft, JTIWindow: s.window, Logger: log,
		Progress: func(done int, msg string) { job.Progress(engine.Progress{Done: int64(done), Message: msg}) }}
	st, err := p.Run(ctx)
	res := engine.Result{Items: int64(st.New + st.Rejected), Note: st.Note()}
	log.Info("polled events", logkey.Op, "poll", logkey.Count, st.Received, logkey.Err, err)
	if err != nil {
		return res, err
	}
	if job.Source.Config[CfgFollow] == "true" {
		d.follow(ctx, job, s.client, log)
	}
	return res, nil
}

// notOffered reports whether the bank answered 404 or 405: it does not offer that API.
func notOffered(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed)
}

// Remove deletes what the source registered at the bank before the source is removed: its
// event subscription (DELETE /event-subscriptions/{id}) or, at a bank that offers only
// callback URLs, the callback URL it registered. It says what it did, or returns why it
// could not; the caller removes the source either way.
func (d *Driver) Remove(ctx context.Context, job *engine.Job) (string, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	if job.Source.Config[CfgSubscription] == "none" {
		return "the source made no event subscription at the bank (--no-subscription)", nil
	}
	s, err := d.session(job)
	if err != nil {
		return "", err
	}
	defer d.forget(job.Source.Name)
	subs, err := s.client.Subscriptions(ctx)
	switch {
	case err == nil && len(subs) == 0:
		return "the bank has no event subscription for this client", nil
	case err == nil:
		var ids []string
		for _, sub := range subs {
			if err := s.client.DeleteSubscription(ctx, sub.EventSubscriptionID); err != nil {
				return "", fmt.Errorf("delete event subscription %s: %w", sub.EventSubscriptionID, err)
			}
			ids = append(ids, sub.EventSubscriptionID)
		}
		return "deleted the event subscription " + strings.Join(ids, ", ") + " at the bank", nil
	case !notOffered(err):
		return "", fmt.Errorf("list event subscriptions: %w", err)
	}
	want := job.Source.Config[CfgCallbackURL]
	if want == "" {
		return "the bank offers no event subscriptions and the source registered no callback URL", nil
	}
	cbs, err := s.client.CallbackURLs(ctx)
	if err != nil {
		return "", fmt.Errorf("list callback URLs: %w", err)
	}
	var ids []string
	for _, cb := range cbs {
		if cb.URL != want {
			continue
		}
		if err := s.client.DeleteCallbackURL(ctx, cb.CallbackURLID); err != nil {
			return "", fmt.Errorf("delete callback URL %s: %w", cb.CallbackURLID, err)
		}
		ids = append(ids, cb.CallbackURLID)
	}
	if len(ids) == 0 {
		return "the bank has no callback URL registered for this source", nil
	}
	return "deleted the callback URL " + strings.Join(ids, ", ") + " at the bank", nil
}

// forget drops a source's cached client (its token too).
func (d *Driver) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.clients, name)
}

// maxFollow bounds the follow-up fetches of one sync.
const maxFollow = 50

// follow finds out what each new verified event means: it GETs the resource its link names
// with a client-credentials token of the scope that resource needs (payments, consents),
// archives it (format "ob-resource"), parses its status, amount, creditor and dates, and
// stores that for the event; the states of one resource across events make its timeline.
// An account-information resource needs the customer's consent and is recorded as such. A
// failure that may pass (network, server) is logged and tried again next sync; a refusal is
// recorded. The events are stored already: nothing here fails the sync.
func (d *Driver) follow(ctx context.Context, job *engine.Job, c *Client, log *slog.Logger) {
	yes := true
	evs, err := job.Store.Events(ctx, store.EventFilter{Source: job.Source.Name, Verified: &yes, Unfollowed: true, Limit: maxFollow})
	if err != nil {
		log.Warn("follow-up", logkey.Op, "rlk", logkey.Err, err)
		return
	}
	version := "v" + c.Version()
	type fetched struct {
		st  store.ResourceState
		err error
	}
	done := map[string]fetched{}         // by link: two events about one resource in one sync read it once
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		ev := evs[i]
		st := store.ResourceState{EventID: ev.ID, SourceID: job.Source.ID, RID: ev.RID}
		link := pickLink(ev.Subject, version)
		acc := classifyLink(link)
		st.Kind = acc.Kind
		switch {
		case link == "":
			st.Note = NoteNoLink
		case acc.Consent:
			st.Note = NoteNeedsConsent
		case !acc.Readable:
			st.Note = NoteUnknown
		default:
			f, ok := done[link]
			if !ok {
				f.st, f.err = d.readResource(ctx, job, c, link, acc, ev.RID)
				done[link] = f
			}
			if f.err != nil {
				if k := syncerr.KindOf(f.err); k == syncerr.Network || k == syncerr.Server || k == syncerr.Local {
					log.Warn("follow-up", "op", "rlk", "err", f.err)
					continue // comes again next sync
				}
				st.Note = truncate("could not be read: "+f.err.Error(), 300)
			} else {
				f.st.EventID, f.st.SourceID = ev.ID, job.Source.ID
				st = f.st
			}
		}
		tx, err := job.Store.Begin(ctx)
		if err != nil {
			log.Warn("follow-up", "op", "rlk", "err", err)
			return
		}
		err = tx.PutResourceState(&st)
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		if err != nil {
			log.Warn("follow-up", "op", "rlk", "err", err)
			return
		}
	}
}

// readResource GETs, archives and parses one resource.
func (d *Driver) readResource(ctx context.Context, job *engine.Job, c *Client, link string, acc linkAccess, rid string) (store.ResourceState, error) {
	body, err := c.FetchResource(ctx, link, acc.Scope)
	if err != nil {
		return store.ResourceState{}, err
	}
	pl, _, err := job.Store.Archive(ctx, store.Payload{SourceID: job.Source.ID, Format: "ob-resource", URL: link}, bytes.NewReader(body))
	if err != nil {
		return store.ResourceState{}, syncerr.E(syncerr.Local, "archive resource", err)
	}
	st, perr := ParseResource(acc.Kind, rid, body)
	status, msg := store.PayloadParsed, ""
	if perr != nil {
		status, msg = store.PayloadFailed, perr.Error()
	}
	if err := job.Store.SetPayloadStatus(ctx, pl.ID, status, msg); err != nil {
		return store.ResourceState{}, syncerr.E(syncerr.Local, "archive resource", err)
	}
	if perr != nil {
		return st, syncerr.E(syncerr.Data, "read resource", perr)
	}
	st.PayloadID = pl.ID
	return st, nil
}

// Test gets a token, reads the key set and lists the event subscriptions: harmless calls
// that prove the settings and credentials.
func (d *Driver) Test(ctx context.Context, job *engine.Job) (string, error) {
	ctx, _ = redact.Ensure(ctx) // the tokens of the run stay out of what it quotes
	s, err := d.session(job)
	if err != nil {
		return "", err
	}
	if err := s.client.Token(ctx); err != nil {
		return "", err
	}
	keys, err := secevent.FetchJWKS(ctx, s.client.Plain, job.Source.Config["jwks_url"])
	if err != nil {
		return "", auth.Classify("JWKS", err) // already classified: network, or the bank's set
	}
	msg := fmt.Sprintf("token OK; the bank's key set has %d signing keys", len(keys))
	subs, err := s.client.Subscriptions(ctx)
	switch {
	case err == nil:
		msg += fmt.Sprintf("; %d event subscription(s)", len(subs))
	case syncerr.KindOf(err) == syncerr.Config:
		msg += "; the bank offers no event-subscriptions endpoint (polling only)"
	default:
		return "", err
	}
	return msg, nil
}

// pickLink returns the rlk link of a stored subject for the given API version ("v3.1"),
// else the first link.
func pickLink(subject, version string) string {
	var subj struct {
		RLK []secevent.Link `json:"http://openbanking.org.uk/rlk"`
	}
	if json.Unmarshal([]byte(subject), &subj) != nil || len(subj.RLK) == 0 {
		return ""
	}
	for _, l := range subj.RLK {
		if strings.TrimPrefix(l.Version, "v") == strings.TrimPrefix(version, "v") {
			return l.Link
		}
	}
	return subj.RLK[0].Link
}
