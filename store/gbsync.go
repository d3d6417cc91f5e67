package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Cursor returns when the source's resource was last fetched completely, or the zero time.
func (s *Store) Cursor(ctx context.Context, sourceID int64, resource string) (time.Time, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT fetched FROM gbsync_cursors WHERE source_id = ? AND resource = ?`, sourceID, resource).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor %s: %w", resource, err)
	}
	return unixTime(v), nil
}

// SetCursor records when the source's resource was last fetched completely.
func (t *Tx) SetCursor(sourceID int64, resource string, fetched time.Time) error {
	_, err := t.exec(`INSERT INTO gbsync_cursors (source_id, resource, fetched) VALUES (?, ?, ?)
		ON CONFLICT (source_id, resource) DO UPDATE SET fetched = excluded.fetched`, sourceID, resource, fetched.Unix())
	if err != nil {
		return fmt.Errorf("set cursor %s: %w", resource, err)
	}
	return nil
}

// Notified URI statuses.
const (
	NotifiedPending = "pending"
	NotifiedFetched = "fetched"
	NotifiedRefused = "refused"
	NotifiedFailed  = "failed"
	// NotifiedDuplicate is a URI naming a correlation id an earlier notified URI already
	// named: the custodian prepared one file, which is fetched once.
	NotifiedDuplicate = "duplicate"
)

// NotifiedURI is a URI a BatchList notification named.
type NotifiedURI struct {
	SourceID  int64
	PayloadID int64
	URI       string
	Status    string
	Error     string
	Received  time.Time
	// Correlation is the URI's correlationID (PG&E's asynchronous answers), or empty.
	Correlation string
}

// NoteNotified records a URI a BatchList named and says whether to fetch it: a new URI
// with status pending, a URI still pending, and a URI fetched (or failed) longer than
// refetchAfter ago, since a custodian may name the same URI again when it has new data. A URI
// fetched more recently is a repeated delivery and is not fetched again. A refused URI is
// recorded as refused and never fetched.
func (s *Store) NoteNotified(ctx context.Context, n NotifiedURI, refetchAfter time.Duration) (fetch bool, err error) {
	tx, err := s.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("record notified URI: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	var prev string
	var updated int64
	// A correlation id names one prepared file: once a URI naming it is pending or fetched,
	// another URI (or a later delivery) naming it is a repetition, however late it comes.
	var sameCorrelation int
	if n.Correlation != "" && n.Status == NotifiedPending {
		if err := tx.queryRow(`SELECT COUNT(*) FROM gbsync_notified WHERE source_id = ? AND correlation = ? AND status IN (?, ?)`,
			n.SourceID, n.Correlation, NotifiedPending, NotifiedFetched).Scan(&sameCorrelation); err != nil {
			return false, fmt.Errorf("record notified URI: %w", err)
		}
	}
	err = tx.queryRow(`SELECT status, updated FROM gbsync_notified WHERE source_id = ? AND uri = ?`, n.SourceID, n.URI).Scan(&prev, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows) && sameCorrelation > 0:
		_, err = tx.exec(`INSERT INTO gbsync_notified (source_id, payload_id, uri, status, error, received, updated, correlation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, n.SourceID, nullSource(n.PayloadID), n.URI, NotifiedDuplicate,
			"an earlier notification named the same correlationID", now.Unix(), now.Unix(), n.Correlation)
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.exec(`INSERT INTO gbsync_notified (source_id, payload_id, uri, status, error, received, updated, correlation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, n.SourceID, nullSource(n.PayloadID), n.URI, n.Status, n.Error, now.Unix(), now.Unix(), n.Correlation)
		fetch = n.Status == NotifiedPending
	case err != nil:
	case n.Correlation != "" && n.Status == NotifiedPending && (prev == NotifiedFetched || prev == NotifiedDuplicate):
		// The same prepared file again: fetched once is enough.
	case n.Status != NotifiedPending:
		_, err = tx.exec(`UPDATE gbsync_notified SET status = ?, error = ?, payload_id = ?, updated = ? WHERE source_id = ? AND uri = ?`,
			n.Status, n.Error, nullSource(n.PayloadID), now.Unix(), n.SourceID, n.URI)
	case prev == NotifiedPending:
		fetch = true
	case prev == NotifiedRefused || now.Sub(unixTime(updated)) >= refetchAfter:
		_, err = tx.exec(`UPDATE gbsync_notified SET status = ?, error = '', payload_id = ?, received = ?, updated = ? WHERE source_id = ? AND uri = ?`,
			NotifiedPending, nullSource(n.PayloadID), now.Unix(), now.Unix(), n.SourceID, n.URI)
		fetch = true
	}
	if err != nil {
		return false, fmt.Errorf("record notified URI: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record notified URI: %w", err)
	}
	return fetch, nil
}

// SetNotifiedStatus records the outcome of fetching a notified URI.
func (s *Store) SetNotifiedStatus(ctx context.Context, sourceID int64, uri, status, errText string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE gbsync_notified SET status = ?, error = ?, updated = ? WHERE source_id = ? AND uri = ?`,
		status, errText, s.Now().Unix(), sourceID, uri)
	if err != nil {
		return fmt.Errorf("set notified URI status: %w", err)
	}
	return nil
}

// Notified lists the URIs BatchLists named for a source, oldest first; status "" for all.
func (s *Store) Notified(ctx context.Context, sourceID int64, status string) ([]NotifiedURI, error) {
	return queryAll(ctx, s.db, "list notified URIs", func(sc rowScanner) (NotifiedURI, error) {
		var n NotifiedURI
		var received int64
		err := sc.Scan(&n.SourceID, &n.PayloadID, &n.URI, &n.Status, &n.Error, &received, &n.Correlation)
		n.Received = unixTime(received)
		return n, err
	}, `SELECT source_id, COALESCE(payload_id, 0), uri, status, error, received, correlation
		FROM gbsync_notified WHERE source_id = ? AND (? = '' OR status = ?) ORDER BY id`, sourceID, status, status)
}

// The purposes of a request a custodian answered 202 to.
const (
	RequestSync     = "sync"     // a sync's: completing it moves the resource's cursor
	RequestBackfill = "backfill" // a backfill's, for an older window: moves no cursor
	RequestTest     = "test"     // `sources test`'s small window: moves no cursor
)

// Request is a request a custodian answered 202 Accepted to: it is preparing the answer and
// will name it in a BatchList notification.
type Request struct {
	SourceID int64
	Resource string // path under the base URL, such as Batch/Bulk/50916
	// Purpose is RequestSync (the default), RequestBackfill or RequestTest.
	Purpose   string
	Requested time.Time
	// Earliest is the earliest request whose answer this one may receive: a request made again
	// after the first found no answer in time may receive the first one's, late. It is
	// Requested unless set earlier.
	Earliest time.Time
	// Min and Max are the request's published-min and published-max (zero: none).
	Min, Max time.Time
	// Correlation is the correlation id the custodian gave the request when it answered 202
	// (PG&E's x-transaction header), or empty when it gave none.
	Correlation string
}

const gbRequestColumns = `resource, purpose, requested, earliest, window_min, window_max, correlation`

func scanGBRequest(sourceID int64) func(sc rowScanner) (Request, error) {
	return func(sc rowScanner) (Request, error) {
		r := Request{SourceID: sourceID}
		var at, first, lo, hi int64
		err := sc.Scan(&r.Resource, &r.Purpose, &at, &first, &lo, &hi, &r.Correlation)
		r.Requested, r.Earliest, r.Min, r.Max = unixTime(at), unixTime(first), unixTime(lo), unixTime(hi)
		return r, err
	}
}

// Outstanding returns the source's outstanding sync request for resource, if there is one.
func (s *Store) Outstanding(ctx context.Context, sourceID int64, resource string) (Request, bool, error) {
	r, err := scanGBRequest(sourceID)(s.db.QueryRowContext(ctx, `SELECT `+gbRequestColumns+` FROM gbsync_requests
		WHERE source_id = ? AND resource = ? AND purpose = ?`, sourceID, resource, RequestSync))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{SourceID: sourceID, Resource: resource}, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("outstanding request %s: %w", resource, err)
	}
	return r, true, nil
}

// OutstandingRequests lists the source's outstanding requests of every purpose, oldest first.
func (s *Store) OutstandingRequests(ctx context.Context, sourceID int64) ([]Request, error) {
	return queryAll(ctx, s.db, "list outstanding requests", scanGBRequest(sourceID),
		`SELECT `+gbRequestColumns+` FROM gbsync_requests WHERE source_id = ? ORDER BY requested, resource, id`, sourceID)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// SetOutstanding records a request the custodian answered 202 to. A sync request replaces the
// source's earlier sync request for the resource; a backfill's or a test's replaces one of the
// same purpose for the same window.
func (s *Store) SetOutstanding(ctx context.Context, r Request) error {
	if r.Purpose == "" {
		r.Purpose = RequestSync
	}
	if r.Earliest.IsZero() || r.Earliest.After(r.Requested) {
		r.Earliest = r.Requested
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record outstanding request %s: %w", r.Resource, err)
	}
	defer tx.Rollback()
	if r.Purpose == RequestSync {
		if _, err := tx.exec(`DELETE FROM gbsync_requests WHERE source_id = ? AND resource = ? AND purpose = ?`, r.SourceID, r.Resource, RequestSync); err != nil {
			return fmt.Errorf("record outstanding request %s: %w", r.Resource, err)
		}
	}
	_, err = tx.exec(`INSERT INTO gbsync_requests (source_id, resource, purpose, requested, earliest, window_min, window_max, correlation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, resource, purpose, window_min, window_max) DO UPDATE SET requested = excluded.requested,
			earliest = excluded.earliest, correlation = excluded.correlation`,
		r.SourceID, r.Resource, r.Purpose, r.Requested.Unix(), r.Earliest.Unix(), unixOrZero(r.Min), unixOrZero(r.Max), r.Correlation)
	if err != nil {
		return fmt.Errorf("record outstanding request %s: %w", r.Resource, err)
	}
	return tx.Commit()
}

// Answer is a notified answer that was fetched, as its URI describes it.
type Answer struct {
	URI string
	// Correlation is the URI's correlationID, or empty.
	Correlation string
	// Min and Max are the URI's published-min and published-max, or zero.
	Min, Max time.Time
	// Received is when the answer was fetched, by the clock of the requests' times; zero
	// means now.
	Received time.Time
}

// How an answer was matched to the requests it completed.
const (
	MatchCorrelation = "correlation" // the request's echoed correlation id
	MatchWindow      = "window"      // the only request for the window the URI names
	MatchCount       = "count"       // as many answers came as requests were waiting with no correlation id
)

// Match is what an answer completed.
type Match struct {
	// Completed are the requests the answer completed (with those answered before it, when
	// matched by count).
	Completed []Request
	// How is one of MatchCorrelation, MatchWindow, MatchCount; empty when nothing was completed.
	How string
	// Waiting, when nothing was completed but the answer may be for one of several requests,
	// is how many requests it may be for, and Held how many such answers have come for them.
	Waiting, Held int
}

// AnswerRequest completes the source's outstanding requests for resource that the fetched
// answer a really answers, and moves the cursor of a completed sync request, in one
// transaction:
//
//   - a request whose echoed correlation id is a's is completed, and the cursor moves to the
//     time of that request;
//   - else, when a names a window (published-min/max), the one request for that window is,
//     and the cursor moves to the time of the request (or the window's end, if earlier);
//   - else the answer is for one of the requests that have no correlation id, with no way to
//     tell which: it is held, and only when as many answers have come as such requests wait,
//     all of them are completed, the cursor moving to the sync request's Earliest (the answer
//     may be a late one to a request made before it).
//
// An answer that may be for several requests completes none of them: they stay outstanding
// (and are asked again after the async timeout), rather than one being taken as answered by
// another's data. The data of every answer is stored whatever it completes.
func (s *Store) AnswerRequest(ctx context.Context, sourceID int64, resource string, a Answer) (Match, error) {
	var m Match
	received := a.Received
	if received.IsZero() {
		received = s.Now()
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return m, fmt.Errorf("match answer %s: %w", resource, err)
	}
	defer tx.Rollback()
	var all []Request
	scan := scanGBRequest(sourceID)
	err = tx.queryEach(`SELECT `+gbRequestColumns+` FROM gbsync_requests WHERE source_id = ? AND resource = ? ORDER BY requested, id`, func(rows *sql.Rows) error {
		r, err := scan(rows)
		all = append(all, r)
		return err
	}, sourceID, resource)
	if err != nil {
		return m, fmt.Errorf("match answer %s: %w", resource, err)
	}
	var done []Request
	var cursorAt func(r Request) time.Time
	var candidates []Request
	for _, r := range all {
		switch {
		case a.Correlation != "" && r.Correlation == a.Correlation:
			done, m.How = []Request{r}, MatchCorrelation
			cursorAt = func(r Request) time.Time { return r.Requested }
		case a.Correlation == "" || r.Correlation == "":
			// A request with another echoed correlation id gets its own answer.
			candidates = append(candidates, r)
		}
	}
	if done == nil && (!a.Min.IsZero() || !a.Max.IsZero()) {
		var same []Request
		for _, r := range candidates {
			if r.Min.Unix() == a.Min.Unix() && (r.Max.IsZero() || r.Max.Unix() == a.Max.Unix()) {
				same = append(same, r)
			}
		}
		if len(same) == 1 {
			done, m.How = same, MatchWindow
			cursorAt = func(r Request) time.Time {
				if !a.Max.IsZero() && a.Max.Before(r.Requested) {
					return a.Max
				}
				return r.Requested
			}
		}
		candidates = same // an answer for a window no request asked answers none of them
	}
	if done == nil {
		var open []Request
		for _, r := range candidates {
			if r.Correlation == "" {
				open = append(open, r)
			}
		}
		if len(open) == 0 {
			return m, nil
		}
		since := open[0].Requested // the requests come ordered by when they were made
		// Answers from before the oldest waiting request cannot be for any of them.
		if _, err := tx.exec(`DELETE FROM gbsync_answers WHERE source_id = ? AND resource = ? AND received < ?`, sourceID, resource, since.Unix()); err != nil {
			return m, fmt.Errorf("match answer %s: %w", resource, err)
		}
		if _, err := tx.exec(`INSERT INTO gbsync_answers (source_id, resource, uri, received) VALUES (?, ?, ?, ?)`, sourceID, resource, a.URI, received.Unix()); err != nil {
			return m, fmt.Errorf("match answer %s: %w", resource, err)
		}
		var held int
		if err := tx.queryRow(`SELECT COUNT(*) FROM gbsync_answers WHERE source_id = ? AND resource = ?`, sourceID, resource).Scan(&held); err != nil {
			return m, fmt.Errorf("match answer %s: %w", resource, err)
		}
		if held < len(open) {
			m.Waiting, m.Held = len(open), held
			return m, tx.Commit()
		}
		if _, err := tx.exec(`DELETE FROM gbsync_answers WHERE source_id = ? AND resource = ?`, sourceID, resource); err != nil {
			return m, fmt.Errorf("match answer %s: %w", resource, err)
		}
		done, m.How = open, MatchCount
		cursorAt = func(r Request) time.Time { return r.Earliest }
	}
	for _, r := range done {
		// (purpose, window) is unique for the resource; a sync request is one per resource.
		if _, err := tx.exec(`DELETE FROM gbsync_requests WHERE source_id = ? AND resource = ? AND purpose = ? AND window_min = ? AND window_max = ?`,
			sourceID, resource, r.Purpose, unixOrZero(r.Min), unixOrZero(r.Max)); err != nil {
			return m, fmt.Errorf("match answer %s: %w", resource, err)
		}
		if r.Purpose == RequestSync {
			// The cursor never moves back: what it passed was fetched.
			if _, err := tx.exec(`INSERT INTO gbsync_cursors (source_id, resource, fetched) VALUES (?, ?, ?)
				ON CONFLICT (source_id, resource) DO UPDATE SET fetched = MAX(fetched, excluded.fetched)`,
				sourceID, resource, cursorAt(r).Unix()); err != nil {
				return m, fmt.Errorf("match answer %s: %w", resource, err)
			}
		}
		m.Completed = append(m.Completed, r)
	}
	if err := tx.Commit(); err != nil {
		return m, fmt.Errorf("match answer %s: %w", resource, err)
	}
	return m, nil
}

// HeldAnswers counts the source's fetched answers that are held: each may be for one of
// several outstanding requests with no correlation id (see AnswerRequest).
func (s *Store) HeldAnswers(ctx context.Context, sourceID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM gbsync_answers WHERE source_id = ?`, sourceID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count held answers: %w", err)
	}
	return n, nil
}

// DropOutstanding forgets the source's outstanding sync request for resource (it timed out).
func (s *Store) DropOutstanding(ctx context.Context, sourceID int64, resource string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM gbsync_requests WHERE source_id = ? AND resource = ? AND purpose = ?`, sourceID, resource, RequestSync); err != nil {
		return fmt.Errorf("drop outstanding request %s: %w", resource, err)
	}
	return nil
}

// DropStaleRequests forgets the source's backfill and test requests made before before: no
// answer came for them in time. It returns how many it forgot.
func (s *Store) DropStaleRequests(ctx context.Context, sourceID int64, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM gbsync_requests WHERE source_id = ? AND purpose <> ? AND requested < ?`, sourceID, RequestSync, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("drop stale requests: %w", err)
	}
	return res.RowsAffected()
}

// The statuses of an ESPI Authorization (espi.xsd AuthorizationStatus), and one Custody adds
// for an authorization past its expires_at.
const (
	AuthorizationRevoked = 0
	AuthorizationActive  = 1
	AuthorizationDenied  = 2
	AuthorizationExpired = 3
)

// Authorization is what the custodian last said about one authorization the source holds.
type Authorization struct {
	SourceID    int64
	URI         string // its authorizationURI
	ResourceURI string // what it lets the third party fetch
	Title       string // the custodian's name for it, often the customer's
	Scope       string // the scope granted
	Status      int
	// Changed is when the status was first seen as it is now.
	Changed time.Time
}

// NoteAuthorization records what the custodian says about an authorization and reports
// whether its status changed (or it is new).
func (s *Store) NoteAuthorization(ctx context.Context, a Authorization) (changed bool, err error) {
	tx, err := s.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("record authorization: %w", err)
	}
	defer tx.Rollback()
	var prev int
	err = tx.queryRow(`SELECT status FROM gbsync_authorizations WHERE source_id = ? AND uri = ?`, a.SourceID, a.URI).Scan(&prev)
	at := a.Changed
	if at.IsZero() {
		at = s.Now()
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		changed = true
		_, err = tx.exec(`INSERT INTO gbsync_authorizations (source_id, uri, resource_uri, title, scope, status, changed) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			a.SourceID, a.URI, a.ResourceURI, a.Title, a.Scope, a.Status, at.Unix())
	case err != nil:
	case prev != a.Status:
		changed = true
		_, err = tx.exec(`UPDATE gbsync_authorizations SET status = ?, resource_uri = ?, changed = ? WHERE source_id = ? AND uri = ?`,
			a.Status, a.ResourceURI, at.Unix(), a.SourceID, a.URI)
	}
	if err == nil {
		// What else it says is kept when said, whether or not the status changed.
		_, err = tx.exec(`UPDATE gbsync_authorizations SET
			resource_uri = CASE WHEN ? <> '' THEN ? ELSE resource_uri END,
			title = CASE WHEN ? <> '' THEN ? ELSE title END,
			scope = CASE WHEN ? <> '' THEN ? ELSE scope END
			WHERE source_id = ? AND uri = ?`, a.ResourceURI, a.ResourceURI, a.Title, a.Title, a.Scope, a.Scope, a.SourceID, a.URI)
	}
	if err != nil {
		return false, fmt.Errorf("record authorization: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record authorization: %w", err)
	}
	return changed, nil
}

// Authorizations lists what the custodian last said about the source's authorizations.
func (s *Store) Authorizations(ctx context.Context, sourceID int64) ([]Authorization, error) {
	return queryAll(ctx, s.db, "list authorizations", func(sc rowScanner) (Authorization, error) {
		a := Authorization{SourceID: sourceID}
		var changed int64
		err := sc.Scan(&a.URI, &a.ResourceURI, &a.Title, &a.Scope, &a.Status, &changed)
		a.Changed = unixTime(changed)
		return a, err
	}, `SELECT uri, resource_uri, title, scope, status, changed FROM gbsync_authorizations WHERE source_id = ? ORDER BY uri`, sourceID)
}
