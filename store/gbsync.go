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
)

// NotifiedURI is a URI a BatchList notification named.
type NotifiedURI struct {
	SourceID  int64
	PayloadID int64
	URI       string
	Status    string
	Error     string
	Received  time.Time
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
	err = tx.queryRow(`SELECT status, updated FROM gbsync_notified WHERE source_id = ? AND uri = ?`, n.SourceID, n.URI).Scan(&prev, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.exec(`INSERT INTO gbsync_notified (source_id, payload_id, uri, status, error, received, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, n.SourceID, nullSource(n.PayloadID), n.URI, n.Status, n.Error, now.Unix(), now.Unix())
		fetch = n.Status == NotifiedPending
	case err != nil:
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
	rows, err := s.db.QueryContext(ctx, `SELECT source_id, COALESCE(payload_id, 0), uri, status, error, received
		FROM gbsync_notified WHERE source_id = ? AND (? = '' OR status = ?) ORDER BY id`, sourceID, status, status)
	if err != nil {
		return nil, fmt.Errorf("list notified URIs: %w", err)
	}
	defer rows.Close()
	var out []NotifiedURI
	for rows.Next() {
		var n NotifiedURI
		var received int64
		if err := rows.Scan(&n.SourceID, &n.PayloadID, &n.URI, &n.Status, &n.Error, &received); err != nil {
			return nil, fmt.Errorf("list notified URIs: %w", err)
		}
		n.Received = unixTime(received)
		out = append(out, n)
	}
	return out, rows.Err()
}
