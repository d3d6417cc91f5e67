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
	rows, err := s.db.QueryContext(ctx, `SELECT source_id, COALESCE(payload_id, 0), uri, status, error, received, correlation
		FROM gbsync_notified WHERE source_id = ? AND (? = '' OR status = ?) ORDER BY id`, sourceID, status, status)
	if err != nil {
		return nil, fmt.Errorf("list notified URIs: %w", err)
	}
	defer rows.Close()
	var out []NotifiedURI
	for rows.Next() {
		var n NotifiedURI
		var received int64
		if err := rows.Scan(&n.SourceID, &n.PayloadID, &n.URI, &n.Status, &n.Error, &received, &n.Correlation); err != nil {
			return nil, fmt.Errorf("list notified URIs: %w", err)
		}
		n.Received = unixTime(received)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Request is a request a custodian answered 202 Accepted to: it is preparing the answer and
// will name it in a BatchList notification.
type Request struct {
	SourceID  int64
	Resource  string // path under the base URL, such as Batch/Bulk/50916
	Requested time.Time
	// Min and Max are the request's published-min and published-max (zero: none).
	Min, Max time.Time
	// Correlation is the correlation id the custodian gave the request when it answered 202
	// (PG&E's x-transaction header), or empty when it gave none.
	Correlation string
}

// Outstanding returns the source's outstanding request for resource, if there is one.
func (s *Store) Outstanding(ctx context.Context, sourceID int64, resource string) (Request, bool, error) {
	r := Request{SourceID: sourceID, Resource: resource}
	var at, lo, hi int64
	err := s.db.QueryRowContext(ctx, `SELECT requested, window_min, window_max, correlation FROM gbsync_requests WHERE source_id = ? AND resource = ?`,
		sourceID, resource).Scan(&at, &lo, &hi, &r.Correlation)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("outstanding request %s: %w", resource, err)
	}
	r.Requested, r.Min, r.Max = unixTime(at), unixTime(lo), unixTime(hi)
	return r, true, nil
}

// OutstandingRequests lists the source's outstanding requests, oldest first.
func (s *Store) OutstandingRequests(ctx context.Context, sourceID int64) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT resource, requested, window_min, window_max, correlation FROM gbsync_requests
		WHERE source_id = ? ORDER BY requested, resource`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list outstanding requests: %w", err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r := Request{SourceID: sourceID}
		var at, lo, hi int64
		if err := rows.Scan(&r.Resource, &at, &lo, &hi, &r.Correlation); err != nil {
			return nil, fmt.Errorf("list outstanding requests: %w", err)
		}
		r.Requested, r.Min, r.Max = unixTime(at), unixTime(lo), unixTime(hi)
		out = append(out, r)
	}
	return out, rows.Err()
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// SetOutstanding records a request the custodian answered 202 to, replacing an earlier one
// for the same resource.
func (s *Store) SetOutstanding(ctx context.Context, r Request) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO gbsync_requests (source_id, resource, requested, window_min, window_max, correlation) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, resource) DO UPDATE SET requested = excluded.requested, window_min = excluded.window_min,
			window_max = excluded.window_max, correlation = excluded.correlation`,
		r.SourceID, r.Resource, r.Requested.Unix(), unixOrZero(r.Min), unixOrZero(r.Max), r.Correlation)
	if err != nil {
		return fmt.Errorf("record outstanding request %s: %w", r.Resource, err)
	}
	return nil
}

// CompleteRequest ends the source's outstanding request for resource, whose answer (named
// with correlation id correlation) has been fetched, and moves the resource's cursor to the
// time of that request, in one transaction. A request the custodian gave another correlation
// id is not completed: the answer was to another request (a test's, a backfill's). It reports
// the request it completed, if there was one.
func (s *Store) CompleteRequest(ctx context.Context, sourceID int64, resource, correlation string) (Request, bool, error) {
	tx, err := s.Begin(ctx)
	if err != nil {
		return Request{}, false, fmt.Errorf("complete request %s: %w", resource, err)
	}
	defer tx.Rollback()
	r := Request{SourceID: sourceID, Resource: resource}
	var at, lo, hi int64
	err = tx.queryRow(`SELECT requested, window_min, window_max, correlation FROM gbsync_requests WHERE source_id = ? AND resource = ?`,
		sourceID, resource).Scan(&at, &lo, &hi, &r.Correlation)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("complete request %s: %w", resource, err)
	}
	if r.Correlation != "" && r.Correlation != correlation {
		return r, false, nil
	}
	r.Requested, r.Min, r.Max = unixTime(at), unixTime(lo), unixTime(hi)
	if _, err := tx.exec(`DELETE FROM gbsync_requests WHERE source_id = ? AND resource = ?`, sourceID, resource); err != nil {
		return r, false, fmt.Errorf("complete request %s: %w", resource, err)
	}
	if err := tx.SetCursor(sourceID, resource, r.Requested); err != nil {
		return r, false, err
	}
	if err := tx.Commit(); err != nil {
		return r, false, fmt.Errorf("complete request %s: %w", resource, err)
	}
	return r, true, nil
}

// DropOutstanding forgets the source's outstanding request for resource (it timed out).
func (s *Store) DropOutstanding(ctx context.Context, sourceID int64, resource string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM gbsync_requests WHERE source_id = ? AND resource = ?`, sourceID, resource); err != nil {
		return fmt.Errorf("drop outstanding request %s: %w", resource, err)
	}
	return nil
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
	rows, err := s.db.QueryContext(ctx, `SELECT uri, resource_uri, title, scope, status, changed FROM gbsync_authorizations WHERE source_id = ? ORDER BY uri`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list authorizations: %w", err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a := Authorization{SourceID: sourceID}
		var changed int64
		if err := rows.Scan(&a.URI, &a.ResourceURI, &a.Title, &a.Scope, &a.Status, &changed); err != nil {
			return nil, fmt.Errorf("list authorizations: %w", err)
		}
		a.Changed = unixTime(changed)
		out = append(out, a)
	}
	return out, rows.Err()
}
