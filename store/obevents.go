package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
)

// PutEventWindow stores a security event token like PutEvent, recognising repeats within a
// window: a token with the same source, issuer and jti as a stored one is a repeat (and left
// alone) when it is the same token or its iat lies within window of the stored one's. A bank
// may re-sign an event on redelivery (PS256 signatures differ each time) and refresh iat. Outside
// the window the jti has been recycled by the bank (Open Banking banks document how often):
// the older event stays, under the jti suffixed with "#iat=" and its iat, and the new one is
// stored under the jti. A window of 0 means repeats are recognised by (issuer, jti) alone.
func (t *Tx) PutEventWindow(e *Event, window time.Duration) (isNew bool, err error) {
	// Nearly every token is new: store it, and look at the stored one only when there is one
	// (one statement per new event instead of two).
	if isNew, err = t.PutEvent(e); err != nil || isNew {
		return isNew, err
	}
	var id, iat int64
	err = t.queryRow(`SELECT id, COALESCE(iat, 0) FROM events WHERE source_id = ? AND iss = ? AND jti = ?`,
		e.SourceID, e.ISS, e.JTI).Scan(&id, &iat)
	if err != nil {
		return false, fmt.Errorf("put event %s: %w", e.JTI, err)
	}
	d := e.IAT.Unix() - iat
	if d < 0 {
		d = -d
	}
	if window <= 0 || e.IAT.IsZero() || iat == 0 || time.Duration(d)*time.Second <= window {
		return false, nil
	}
	if _, err := t.exec(`UPDATE events SET jti = jti || '#iat=' || ? WHERE id = ?`, iat, id); err != nil {
		return false, fmt.Errorf("put event %s: keep the earlier use of the jti: %w", e.JTI, err)
	}
	return t.PutEvent(e)
}

// AddPendingAcks is AddPendingAck for several, such as a poll answer's tokens, and returns
// them with their ids, so that the poller can send them and forget them without reading them
// back.
func (t *Tx) AddPendingAcks(as []PendingAck) ([]PendingAck, error) {
	out := make([]PendingAck, len(as))
	now := t.now()
	for i, a := range as {
		// One plain statement a row: SQLite's JSON functions, which would take them all in
		// one, cost more than the statements they save.
		if err := t.queryRow(`INSERT INTO pending_acks (source_id, kind, item, detail, created) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (source_id, kind, item) DO UPDATE SET detail = excluded.detail RETURNING id`,
			a.SourceID, a.Kind, a.Item, marshalAttrs(a.Detail), now).Scan(&a.ID); err != nil {
			return nil, fmt.Errorf("add pending %s %s: %w", a.Kind, a.Item, err)
		}
		a.Created = unixTime(now)
		out[i] = a
	}
	return out, nil
}

// DeletePendingAcks forgets, inside this transaction, acknowledgements the custodian has
// received: an Open Banking poll forgets the acks its request carried in the transaction that
// stores the events of its answer, instead of committing once more for them.
func (t *Tx) DeletePendingAcks(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	list, _ := json.Marshal(ids) // a []int64 always marshals
	if _, err := t.exec(`DELETE FROM pending_acks WHERE id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return fmt.Errorf("delete %d pending acknowledgements: %w", len(ids), err)
	}
	return nil
}

// PendingAcksOf lists the acknowledgements of every kind still owed for a source, oldest
// first: an Open Banking poll sends its acks and its setErrs together.
func (s *Store) PendingAcksOf(ctx context.Context, sourceID int64) ([]PendingAck, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, source_id, kind, item, detail, created FROM pending_acks
		WHERE source_id = ? ORDER BY id`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list pending acknowledgements: %w", err)
	}
	defer rows.Close()
	var out []PendingAck
	for rows.Next() {
		var a PendingAck
		var detail string
		var created int64
		if err := rows.Scan(&a.ID, &a.SourceID, &a.Kind, &a.Item, &detail, &created); err != nil {
			return nil, fmt.Errorf("list pending acknowledgements: %w", err)
		}
		a.Detail, a.Created = unmarshalAttrs(detail), unixTime(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ArchiveBytes archives a body held in memory, such as a poll answer, with its outcome
// (p.Status and p.Error) already known: it hashes the body first, so a new payload is written
// with one INSERT and its chunk instead of being inserted, hashed while compressed, looked up,
// updated and given its status by four more statements. An identical body already archived
// (same sha256 and format) is returned with existed set, and its status is left to the caller.
func (t *Tx) ArchiveBytes(p Payload, body []byte) (Payload, bool, error) {
	sum := sha256.Sum256(body)
	p.SHA256, p.Size = hex.EncodeToString(sum[:]), int64(len(body))
	var existing int64
	err := t.queryRow(`SELECT id FROM payloads WHERE sha256 = ? AND format = ? ORDER BY id LIMIT 1`, p.SHA256, p.Format).Scan(&existing)
	switch {
	case err == nil:
		old, err := t.payload(existing)
		return old, true, err
	case !errors.Is(err, sql.ErrNoRows):
		return p, false, fmt.Errorf("archive %s: %w", p.URL, err)
	}
	if p.Received.IsZero() {
		p.Received = t.s.Now()
	}
	if p.Status == "" {
		p.Status = PayloadPending
	}
	headers, _ := json.Marshal(p.Headers)
	if p.Headers == nil {
		headers = []byte("{}")
	}
	err = t.queryRow(`INSERT INTO payloads (source_id, format, url, headers, received, sha256, size, status, error, parsed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullSource(p.SourceID), p.Format, p.URL, string(headers), p.Received.Unix(), p.SHA256, p.Size,
		p.Status, p.Error, t.now()).Scan(&p.ID)
	if err != nil {
		return p, false, fmt.Errorf("archive %s: %w", p.URL, err)
	}
	// One Write of the whole body: the stateless compressor needs no more.
	zw := smallGzipWriters.Get().(*gzip.Writer)
	cw := &chunkWriter{t: t, payloadID: p.ID}
	zw.Reset(cw)
	_, err = zw.Write(body)
	if err == nil {
		err = zw.Close()
	}
	zw.Reset(io.Discard)
	smallGzipWriters.Put(zw)
	if err == nil {
		err = cw.flush()
	}
	if err != nil {
		return p, false, fmt.Errorf("archive %s: %w", p.URL, err)
	}
	return p, false, nil
}
