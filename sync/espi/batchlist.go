package espi

import (
	"bytes"
	"context"
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
	"custody/sync/engine"
	"custody/sync/logkey"
	"custody/sync/xmldoc"
)

// BatchListFormat is the archive format name of BatchList notifications.
const BatchListFormat = "espi-batchlist"

// RefetchAfter is how long after fetching a notified URI a BatchList naming it again is taken
// as news (a custodian may notify the same subscription URI every day) rather than as a
// repeated delivery of the same notification.
const RefetchAfter = 10 * time.Minute

// MaxBatchList is the largest BatchList notification accepted.
const MaxBatchList = 1 << 20

// MaxNotifiedURIs is the most URIs taken from one BatchList; the rest are dropped (and the
// notification's record says how many). A real notification names a handful; thousands are
// an attempt to make Custody send authenticated requests in bulk.
const MaxNotifiedURIs = 100

// The default limit of notified fetches per source: a burst of DefaultNotifiedBurst, then
// DefaultNotifiedRate a second, whether they follow a notification or a sync.
const (
	DefaultNotifiedRate  rate.Limit = 1
	DefaultNotifiedBurst int        = 10
)

// notifiedLimiter is the source's limiter of notified fetches.
func (d *Driver) notifiedLimiter(source string) *rate.Limiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.limiters == nil {
		d.limiters = map[string]*rate.Limiter{}
	}
	l := d.limiters[source]
	if l == nil {
		r, b := d.NotifiedRate, d.NotifiedBurst
		if r <= 0 {
			r = DefaultNotifiedRate
		}
		if b <= 0 {
			b = DefaultNotifiedBurst
		}
		l = rate.NewLimiter(r, b)
		d.limiters[source] = l
	}
	return l
}

// dedupeURIs drops the URIs that name the same resource as an earlier one (differing only in
// the case of the scheme and host, a default port or a fragment) and keeps at most max; it
// returns the kept URIs and how many were dropped for the cap.
func dedupeURIs(uris []string, max int) (kept []string, dropped int) {
	seen := map[string]bool{}
	for _, u := range uris {
		key := u
		if p, err := url.Parse(u); err == nil {
			if o, err := auth.Origin(u); err == nil {
				key = o + p.EscapedPath() + "?" + p.RawQuery
			}
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(kept) == max {
			dropped++
			continue
		}
		kept = append(kept, u)
	}
	return kept, dropped
}

const nsBatchList = "http://naesb.org/espi"

// ParseBatchList returns the URIs a BatchList names, in order, each once. The root must be
// BatchList in the ESPI namespace; its children are `resources` (or the singular `resource`
// older servers wrote). The notification is small (at most MaxBatchList) and read whole.
func ParseBatchList(r io.Reader) ([]string, error) {
	root, err := xmldoc.Read(r, "BatchList", xmldoc.Limits{MaxBytes: MaxBatchList, MaxElements: 20000})
	if err != nil {
		return nil, err
	}
	if !xmldoc.Is(root, nsBatchList, "BatchList") {
		return nil, fmt.Errorf("BatchList: the root element is {%s}%s, not {%s}BatchList", root.NamespaceURI(), root.Tag, nsBatchList)
	}
	var uris []string
	seen := map[string]bool{}
	for i, c := range root.ChildElements() {
		if c.NamespaceURI() != nsBatchList || (c.Tag != "resources" && c.Tag != "resource") {
			continue
		}
		u := strings.TrimSpace(c.Text())
		if u == "" {
			return nil, fmt.Errorf("BatchList: element %d (%s) is empty", i+1, c.Tag)
		}
		if !seen[u] {
			seen[u] = true
			uris = append(uris, u)
		}
	}
	return uris, nil
}

// Notifications receives a source's BatchList notifications: it archives each POSTed
// BatchList, answers at once, then fetches each URI the list names — only when it lies under
// the source's configured base URL; any other URI is refused, recorded and logged, and the
// token never leaves for it.
type Notifications struct {
	Driver  *Driver
	Store   *store.Store
	Secrets engine.Secrets
	Logger  *slog.Logger
	// Source is the name of the source the notifications are for.
	Source string
	// Ctx bounds the fetches that follow a notification; nil means context.Background().
	Ctx context.Context
	// AuthorizationChanged, when set, is called after a notified Authorization or
	// ApplicationInformation was fetched, so that the app syncs the source at once and shows
	// what changed (such as "the customer revoked access on DATE") in its status.
	AuthorizationChanged func(source string)

	wg sync.WaitGroup
}

// Wait waits for the fetches started so far to finish.
func (n *Notifications) Wait() { n.wg.Wait() }

func (n *Notifications) logger() *slog.Logger {
	l := n.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With(logkey.Source, n.Source, logkey.Kind, Kind)
}

// ServeHTTP implements http.Handler: POST a BatchList.
func (n *Notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := n.logger()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a BatchList here", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	src, err := n.Store.SourceByName(ctx, n.Source)
	if err != nil {
		log.Error("BatchList for an unknown source", logkey.Op, "notify", logkey.Err, err)
		http.Error(w, "no such source", http.StatusNotFound)
		return
	}
	body, rerr := io.ReadAll(io.LimitReader(r.Body, MaxBatchList+1))
	tooBig := len(body) > MaxBatchList
	if tooBig {
		body = body[:MaxBatchList]
	}
	p := store.Payload{SourceID: src.ID, Format: BatchListFormat, URL: "notify:" + r.URL.Path, Headers: store.SafeHeaders(r.Header)}
	p, _, err = n.Store.Archive(ctx, p, bytes.NewReader(body))
	if err != nil {
		log.Error("archive BatchList", logkey.Op, "notify", logkey.Err, err)
		http.Error(w, "could not store the notification", http.StatusInternalServerError)
		return
	}
	var uris []string
	switch {
	case rerr != nil:
		err = fmt.Errorf("BatchList: reading the body: %w", rerr)
	case tooBig:
		err = fmt.Errorf("BatchList: larger than %d bytes; the first %d are kept", MaxBatchList, MaxBatchList)
	default:
		uris, err = ParseBatchList(bytes.NewReader(body))
	}
	if err != nil {
		n.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, err.Error())
		log.Warn("BatchList refused", logkey.Op, "notify", logkey.Err, err)
		status := http.StatusBadRequest
		if tooBig {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), status)
		return
	}
	job := &engine.Job{Source: src, Store: n.Store, Secrets: n.Secrets, Logger: log, Progress: func(engine.Progress) {}}
	s, err := n.Driver.session(job)
	if err != nil {
		n.Store.SetPayloadStatus(ctx, p.ID, store.PayloadFailed, err.Error())
		log.Error("BatchList received but the source cannot be used", logkey.Op, "notify", logkey.Err, err)
		http.Error(w, "the source is not usable", http.StatusServiceUnavailable)
		return
	}
	uris, dropped := dedupeURIs(uris, MaxNotifiedURIs)
	if dropped > 0 {
		log.Warn("BatchList names too many URIs; the rest are dropped", logkey.Op, "notify", logkey.Count, dropped)
	}
	var fetch []string
	refused := 0
	for _, u := range uris {
		status, text := store.NotifiedPending, ""
		if !s.client.Under(u) {
			status, text = store.NotifiedRefused, "not under the source's base URL"
			refused++
			log.Warn("BatchList names a URI outside the source's base URL; refused, the token is not sent there",
				logkey.Op, "notify", logkey.URLPath, hostAndPath(u))
		}
		fetchIt, err := n.Store.NoteNotified(ctx, store.NotifiedURI{SourceID: src.ID, PayloadID: p.ID, URI: u, Status: status, Error: text, Correlation: CorrelationID(u)}, RefetchAfter)
		if err != nil {
			log.Error("record notified URI", logkey.Op, "notify", logkey.Err, err)
			http.Error(w, "could not store the notification", http.StatusInternalServerError)
			return
		}
		if fetchIt {
			fetch = append(fetch, u)
		}
	}
	var notes []string
	if refused > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d URIs refused: not under the base URL", refused, len(uris)))
	}
	if dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d URIs dropped: at most %d are taken from one BatchList", dropped, MaxNotifiedURIs))
	}
	text := strings.Join(notes, "; ")
	n.Store.SetPayloadStatus(ctx, p.ID, store.PayloadParsed, text)
	w.WriteHeader(http.StatusOK)
	log.Info("BatchList received", logkey.Op, "notify", logkey.Count, len(fetch))
	if len(fetch) == 0 {
		return
	}
	if !src.Enabled {
		log.Info("source disabled: the notified URIs wait for its next sync", logkey.Op, "notify", logkey.Count, len(fetch))
		return
	}
	base := n.Ctx
	if base == nil {
		base = context.Background()
	}
	// Guarded like a sync: the tokens the fetches send are kept out of what they record and log.
	base, job, _ = engine.Guard(base, job) // its logger redacts; nothing else is said
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		authz := false
		for _, u := range fetch {
			authz = authz || isAuthorizationResource(s.client.rel(u))
			if err := n.Driver.fetchNotified(base, job, s.client, u); err != nil {
				job.Logger.Warn("fetch notified URI", logkey.Op, "notify", logkey.URLPath, urlPath(u), logkey.Err, err)
				if stops(err) {
					return // left pending: the next sync tries again
				}
			}
		}
		if authz && n.AuthorizationChanged != nil {
			n.AuthorizationChanged(n.Source)
		}
	}()
}

// hostAndPath is a URI without its query, for logs.
func hostAndPath(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
