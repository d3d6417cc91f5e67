package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutEventWindow stores a security event token like PutEvent, recognising repeats within a
// window: a token with the same source, issuer and jti as a stored one is a repeat (and left
// alone) when it is the same token or its iat lies within window of the stored one's. A bank
// may re-sign an event on redelivery (PS256 signatures differ each time) and refresh iat. Outside
// the window the jti has been recycled by the bank (Open Banking banks document how often):
// the older event stays, under the jti suffixed with "#iat=" and its iat, and the new one is
// stored under the jti. A window of 0 means repeats are recognised by (issuer, jti) alone.
func (t *Tx) PutEventWindow(e *Event, window time.Duration) (isNew bool, err error) {
	var id, iat int64
	err = t.queryRow(`SELECT id, COALESCE(iat, 0) FROM events WHERE source_id = ? AND iss = ? AND jti = ?`,
		e.SourceID, e.ISS, e.JTI).Scan(&id, &iat)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return t.PutEvent(e)
	case err != nil:
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
