package obevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"custody/store"
	"custody/sync/auth"
	"custody/sync/engine"
	"custody/sync/obevents/secevent"
	"custody/sync/settings"
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
	secret, err := job.Secrets.Secret(src.Name, settings.KeyClientSecret)
	if err != nil {
		return nil, syncerr.E(syncerr.Local, "read client secret", err)
	}
	client, err := d.client(src.Name, ClientConfig{
		BaseURL: c[CfgBaseURL], TokenURL: c[CfgTokenURL], ClientID: c[CfgClientID], Secret: secret,
		Scope: c[CfgScope], TLS: TLSFiles{CertFile: c[CfgCert], KeyFile: c[CfgKey], CAFile: c[CfgCA]},
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
	for _, v := range []string{cfg.BaseURL, cfg.TokenURL, cfg.ClientID, cfg.Secret, cfg.Scope, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile} {
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
		want := Subscription{Version: s.client.Version(), CallbackURL: job.Source.Config[CfgCallbackURL], EventTypes: job.Source.List(CfgEventTypes)}
		sub, err := s.client.EnsureSubscription(ctx, want)
		switch {
		case err == nil:
			log.Debug("event subscription", "op", "subscribe", "url-path", "/event-subscriptions/"+sub.EventSubscriptionID)
		case syncerr.KindOf(err) == syncerr.Config:
			// 404/405: a polling-only bank without the subscription API.
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
	log.Info("polled events", "op", "poll", "count", st.Received, "err", err)
	if err != nil {
		return res, err
	}
	if job.Source.Config[CfgFollow] == "true" {
		d.follow(ctx, job, s.client, log)
	}
	return res, nil
}

// maxFollow bounds the follow-up fetches of one sync.
const maxFollow = 50

// follow GETs the resource of each recent verified event not fetched yet and archives it
// (format "ob-resource"). Failures are logged, never fatal: the events are already stored.
func (d *Driver) follow(ctx context.Context, job *engine.Job, c *Client, log *slog.Logger) {
	yes := true
	evs, err := job.Store.Events(ctx, store.EventFilter{Source: job.Source.Name, Verified: &yes, Limit: maxFollow})
	if err != nil {
		log.Warn("follow-up", "op", "rlk", "err", err)
		return
	}
	have, _ := job.Store.Payloads(ctx, store.PayloadFilter{SourceID: job.Source.ID, Format: "ob-resource"})
	seen := map[string]bool{}
	for _, p := range have {
		seen[p.URL] = true
	}
	version := "v" + c.Version()
	for _, ev := range evs {
		link := pickLink(ev.Subject, version)
		if link == "" || seen[link] {
			continue
		}
		seen[link] = true
		body, err := c.FetchLink(ctx, link)
		if err != nil {
			log.Warn("follow-up", "op", "rlk", "err", err)
			continue
		}
		if _, _, err := job.Store.Archive(ctx, store.Payload{SourceID: job.Source.ID, Format: "ob-resource", URL: link}, strings.NewReader(string(body))); err != nil {
			log.Warn("follow-up", "op", "rlk", "err", err)
		}
	}
}

// Test gets a token, reads the key set and lists the event subscriptions: harmless calls
// that prove the settings and credentials.
func (d *Driver) Test(ctx context.Context, job *engine.Job) (string, error) {
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
