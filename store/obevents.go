package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
	return t.putRecycled(e, window)
}

// putRecycled stores e, whose source, issuer and jti are those of a stored event, when the
// stored one is outside the window (see PutEventWindow), and reports whether it did.
func (t *Tx) putRecycled(e *Event, window time.Duration) (isNew bool, err error) {
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
	if _, err := t.exec(`UPDATE events SET jti = jti || ? || ? WHERE id = ?`, recycledSuffix, iat, id); err != nil {
		return false, fmt.Errorf("put event %s: keep the earlier use of the jti: %w", e.JTI, err)
	}
	return t.PutEvent(e)
}

// PutEvents stores the events of a poll answer in order and sets the ID of each new one;
// isNew[i] says whether es[i] was new. A verified event is recognised as a repeat as
// PutEventWindow does; one that is not verified (a rejected token, whose claims are not
// trusted) only by its source, issuer and jti, as PutEvent does.
//
// One INSERT each, not one multi-row INSERT: a statement of several rows into a table with
// foreign keys needs a statement journal (it may fail after its first rows), and the pages ten
// events touch are more than SQLite keeps of one in memory, so each such statement created
// and wrote a temporary file, which cost more than the nine statements it saved.
func (t *Tx) PutEvents(es []Event, window time.Duration) (isNew []bool, err error) {
	isNew = make([]bool, len(es))
	for i := range es {
		e := &es[i]
		if e.Verified {
			isNew[i], err = t.PutEventWindow(e, window)
		} else {
			isNew[i], err = t.PutEvent(e)
		}
		if err != nil {
			return nil, err
		}
	}
	return isNew, nil
}

// The multi-row upsert of AddPendingAcks.
const (
	insertAcksHead = `INSERT INTO pending_acks (source_id, kind, item, detail, created) VALUES `
	insertAcksRow  = `(?, ?, ?, ?, ?)`
	insertAcksTail = ` ON CONFLICT (source_id, kind, item) DO UPDATE SET detail = excluded.detail RETURNING id, source_id, kind, item`
)

// ackKey is what makes a pending acknowledgement unique in the store.
type ackKey struct {
	sourceID   int64
	kind, item string
}

// AddPendingAcks is AddPendingAck for several, such as a poll answer's tokens, and returns
// them with their ids, so that the poller can send them and forget them without reading them
// back. They are written with one multi-row upsert per multiRowMax.
func (t *Tx) AddPendingAcks(as []PendingAck) ([]PendingAck, error) {
	out := make([]PendingAck, len(as))
	now := t.now()
	args := make([]any, 0, 5*min(len(as), multiRowMax))
	ids := map[ackKey]int64{}
	for start := 0; start < len(as); start += multiRowMax {
		run := as[start:min(len(as), start+multiRowMax)]
		args = args[:0]
		for _, a := range run {
			args = append(args, a.SourceID, a.Kind, a.Item, marshalAttrs(a.Detail), now)
		}
		err := t.queryEach(rowsSQL(insertAcksHead, insertAcksRow, insertAcksTail, len(run)), func(rows *sql.Rows) error {
			var k ackKey
			var id int64
			if err := rows.Scan(&id, &k.sourceID, &k.kind, &k.item); err != nil {
				return err
			}
			ids[k] = id
			return nil
		}, args...)
		if err != nil {
			return nil, fmt.Errorf("add %d pending acknowledgements from %s %s: %w", len(run), run[0].Kind, run[0].Item, err)
		}
		for i, a := range run {
			id, ok := ids[ackKey{a.SourceID, a.Kind, a.Item}]
			if !ok {
				return nil, fmt.Errorf("add pending %s %s: its id was not returned", a.Kind, a.Item)
			}
			a.ID, a.Created = id, unixTime(now)
			out[start+i] = a
		}
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
	// An IN list of 1, 2, 4, ... or multiRowMax ids, the last repeated to fill it: a few
	// statement texts, and no JSON to build and parse as json_each needed.
	args := make([]any, 0, multiRowMax)
	for start := 0; start < len(ids); start += multiRowMax {
		run := ids[start:min(len(ids), start+multiRowMax)]
		n := 1
		for n < len(run) {
			n *= 2
		}
		args = args[:0]
		for i := range min(n, multiRowMax) {
			args = append(args, run[min(i, len(run)-1)])
		}
		if _, err := t.exec(rowsSQL(`DELETE FROM pending_acks WHERE id IN (`, `?`, `)`, len(args)), args...); err != nil {
			return fmt.Errorf("delete %d pending acknowledgements: %w", len(ids), err)
		}
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
	headers := marshalAttrs(p.Headers)
	err = t.queryRow(`INSERT INTO payloads (source_id, format, url, headers, received, sha256, size, status, error, parsed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullSource(p.SourceID), p.Format, p.URL, headers, p.Received.Unix(), p.SHA256, p.Size,
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

// Uninterrupted lets the transaction's statements run to their end when the context it was
// begun with is cancelled; the transaction is still rolled back then (database/sql does so
// before its next statement or its commit), and its BEGIN was made with the context as
// before. It is for transactions of a few short statements, such
// as an Open Banking poll's: modernc.org/sqlite watches the context of every statement that
// may be interrupted with a goroutine of its own, which was about fifteen goroutines started,
// woken and ended per poll of ten events.
func (t *Tx) Uninterrupted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx = context.WithoutCancel(t.ctx)
}
