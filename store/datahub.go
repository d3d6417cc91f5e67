package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DataHubRequest is a request document sent to DataHub (RSM-015/016/017), with what the server
// said and the answer that came back for it.
type DataHubRequest struct {
	ID          int64
	SourceID    int64
	Source      string // the source's name, filled by queries
	MessageID   string // our document mRID
	SeriesID    string // our Series mRID; answers name it in originalTransactionIDReference_Series.mRID
	Kind        string // validated, aggregated, wholesale
	Format      string // xml or json
	Correlation string // the 202's CorrelationId header
	Status      string // new, accepted, refused, answered, rejected
	HTTPStatus  int
	Error       string
	Detail      map[string]string
	Created     time.Time
	Answered    time.Time
	Answer      string // MessageId of the latest answer
}

// DataHub request statuses.
const (
	RequestNew      = "new"
	RequestAccepted = "accepted"
	RequestRefused  = "refused"
	RequestAnswered = "answered"
	// RequestRejected: the answer refused the request; Error says why in plain words.
	RequestRejected = "rejected"
)

// AddDataHubRequest records a request before it is sent, so that an answer can be linked even
// when the program stops between the POST and recording its outcome.
func (s *Store) AddDataHubRequest(ctx context.Context, r *DataHubRequest) error {
	if r.Status == "" {
		r.Status = RequestNew
	}
	if r.Created.IsZero() {
		r.Created = s.Now()
	}
	err := s.db.QueryRowContext(ctx, `INSERT INTO datahub_requests (source_id, message_id, series_id, kind, format,
			correlation, status, http_status, error, detail, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullSource(r.SourceID), r.MessageID, r.SeriesID, r.Kind, r.Format, r.Correlation, r.Status, r.HTTPStatus,
		r.Error, marshalAttrs(r.Detail), r.Created.Unix()).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("add datahub request %s: %w", r.MessageID, err)
	}
	return nil
}

// SetDataHubRequestRoute records the route a request was finally POSTed to (the interface
// document's name, when the default route answered 404), so that its record says where it went.
func (s *Store) SetDataHubRequestRoute(ctx context.Context, id int64, route string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE datahub_requests SET detail = json_set(detail, '$.route', ?) WHERE id = ?`, route, id); err != nil {
		return fmt.Errorf("record datahub request %d route: %w", id, err)
	}
	return nil
}

// SetDataHubRequestOutcome records what the server answered to a request's POST. A request
// already answered (or rejected, with its reason) keeps that status.
func (s *Store) SetDataHubRequestOutcome(ctx context.Context, id int64, status string, httpStatus int, correlation, errText string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE datahub_requests SET
			status = CASE WHEN status IN ('answered', 'rejected') THEN status ELSE ? END,
			http_status = ?, correlation = CASE WHEN ? != '' THEN ? ELSE correlation END,
			error = CASE WHEN status = 'rejected' THEN error ELSE ? END
		WHERE id = ?`, status, httpStatus, correlation, correlation, errText, id)
	if err != nil {
		return fmt.Errorf("record datahub request %d: %w", id, err)
	}
	return nil
}

// LinkDataHubAnswer marks the request whose Series mRID is seriesID as answered by the
// message messageID and returns it. sourceID 0 (a file import) matches a request of any
// source. found is false when no request has that Series mRID.
func (t *Tx) LinkDataHubAnswer(sourceID int64, seriesID, messageID string) (r DataHubRequest, found bool, err error) {
	row := t.queryRow(`SELECT `+requestColumns+` FROM datahub_requests r LEFT JOIN sources s ON s.id = r.source_id
		WHERE r.series_id = ? AND (? = 0 OR r.source_id = ?) ORDER BY r.id DESC LIMIT 1`, seriesID, sourceID, sourceID)
	r, err = scanRequest(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("find datahub request %s: %w", seriesID, err)
	}
	if _, err := t.exec(`UPDATE datahub_requests SET status = 'answered', answered = ?, answer = ? WHERE id = ?`,
		t.now(), messageID, r.ID); err != nil {
		return r, false, fmt.Errorf("link datahub answer %s: %w", messageID, err)
	}
	r.Status, r.Answer, r.Answered = RequestAnswered, messageID, t.s.Now()
	return r, true, nil
}

// SetDataHubRequestRejected records that the answer linked to a request rejected it, and why.
func (t *Tx) SetDataHubRequestRejected(id int64, why string) error {
	if _, err := t.exec(`UPDATE datahub_requests SET status = 'rejected', error = ? WHERE id = ?`, why, id); err != nil {
		return fmt.Errorf("record datahub request %d rejected: %w", id, err)
	}
	return nil
}

const requestColumns = `r.id, COALESCE(r.source_id, 0), COALESCE(s.name, ''), r.message_id, r.series_id, r.kind, r.format,
	r.correlation, r.status, r.http_status, r.error, r.detail, r.created, COALESCE(r.answered, 0), r.answer`

func scanRequest(sc rowScanner) (DataHubRequest, error) {
	var r DataHubRequest
	var detail string
	var created, answered int64
	err := sc.Scan(&r.ID, &r.SourceID, &r.Source, &r.MessageID, &r.SeriesID, &r.Kind, &r.Format, &r.Correlation,
		&r.Status, &r.HTTPStatus, &r.Error, &detail, &created, &answered, &r.Answer)
	if err != nil {
		return r, err
	}
	r.Detail = unmarshalAttrs(detail)
	r.Created = unixTime(created)
	if answered != 0 {
		r.Answered = unixTime(answered)
	}
	return r, nil
}

// DataHubRequests lists the requests sent, newest first; source "" lists every source's.
func (s *Store) DataHubRequests(ctx context.Context, source string) ([]DataHubRequest, error) {
	return queryAll(ctx, s.db, "list datahub requests", scanRequest, `SELECT `+requestColumns+` FROM datahub_requests r
		LEFT JOIN sources s ON s.id = r.source_id WHERE (? = '' OR s.name = ?) ORDER BY r.id DESC`, source, source)
}

// DeletePendingAck forgets one acknowledgement the custodian has received.
func (s *Store) DeletePendingAck(ctx context.Context, sourceID int64, kind, item string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pending_acks WHERE source_id = ? AND kind = ? AND item = ?`,
		sourceID, kind, item); err != nil {
		return fmt.Errorf("delete pending %s %s: %w", kind, item, err)
	}
	return nil
}

// ForgetFileMessage deletes the record of a message imported from a file (no source), so that
// importing the same MessageId again replaces it: the (source, MessageId) key does not
// deduplicate when the source is NULL.
func (t *Tx) ForgetFileMessage(messageID string) error {
	if _, err := t.exec(`DELETE FROM messages WHERE source_id IS NULL AND message_id = ?`, messageID); err != nil {
		return fmt.Errorf("replace message %s: %w", messageID, err)
	}
	return nil
}
