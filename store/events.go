package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Event is one Open Banking security event token (SET) as received, verified or rejected.
// Rejected tokens are kept too: nothing received is lost.
type Event struct {
	ID       int64
	SourceID int64
	Source   string // the source's name, filled by queries
	ISS      string
	JTI      string
	AUD      string
	Types    []string // event type URNs
	Subject  string   // JSON of the subject (rid, rty, rlk, ...)
	RID, RTY string
	TXN      string
	TOE, IAT time.Time
	Received time.Time
	Verified bool
	Error    string // why it was rejected; empty when verified
	// Token is the raw token. It is empty on an event whose token is kept only in its
	// archived payload (TokenArchived): EventToken reads it from there.
	Token string
	// PayloadID is the archived payload the token came in.
	PayloadID int64
	// TokenArchived says the token is not stored again in the event's row because its
	// archived payload (PayloadID, a poll answer) holds it, as the value of its jti in sets.
	// Set by the poller when it stores an event; filled by Events. A poll of ten events then
	// writes about 13 kB less to the database (the tokens were stored twice), which was a
	// seventh of the pages each commit wrote.
	TokenArchived bool
	// Resource is what the event's resource said when it was fetched (--follow); nil when it
	// was not. Filled by Events.
	Resource *ResourceState
}

// PutEvent stores an event. A token already stored for the same source, issuer and jti is
// recognised and left alone, so redelivery never doubles it; new reports whether it was new.
func (t *Tx) PutEvent(e *Event) (isNew bool, err error) {
	types, _ := json.Marshal(e.Types)
	if e.Types == nil {
		types = []byte("[]")
	}
	subject := e.Subject
	if subject == "" {
		subject = "{}"
	}
	if e.Received.IsZero() {
		e.Received = t.s.Now()
	}
	token := e.Token
	if e.TokenArchived {
		if e.PayloadID == 0 {
			return false, fmt.Errorf("put event %s: its token is said to be archived, but it has no payload", e.JTI)
		}
		token = ""
	}
	res, err := t.exec(`INSERT INTO events (source_id, iss, jti, aud, types, subject, rid, rty, txn, toe, iat, received, verified, error, token, payload_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, iss, jti) DO NOTHING`,
		nullSource(e.SourceID), e.ISS, e.JTI, e.AUD, string(types), subject, e.RID, e.RTY, e.TXN,
		nullTime(e.TOE), nullTime(e.IAT), e.Received.Unix(), e.Verified, e.Error, token, nullSource(e.PayloadID))
	if err != nil {
		return false, fmt.Errorf("put event %s: %w", e.JTI, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		e.ID, _ = res.LastInsertId()
	}
	return n > 0, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// EventFilter selects events.
type EventFilter struct {
	Type     string // an event type URN the event must carry; empty for any
	Source   string // a source name; empty for any
	Verified *bool  // nil for both
	Search   string // substring of jti, rid or subject; empty for any
	Limit    int    // 0 for no limit
	// RTY is the resource type (rty) the event must concern; empty for any.
	RTY string
	// ResourceStatus is the status the event's resource must have had; empty for any.
	ResourceStatus string
	// Unfollowed selects only events whose resource has not been fetched yet.
	Unfollowed bool
}

// Events lists events, newest received first.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	q := `SELECT e.id, COALESCE(e.source_id, 0), COALESCE(s.name, ''), e.iss, e.jti, e.aud, e.types, e.subject,
			e.rid, e.rty, e.txn, COALESCE(e.toe, 0), COALESCE(e.iat, 0), e.received, e.verified, e.error, e.token,
			COALESCE(e.payload_id, 0), r.id IS NOT NULL,
			COALESCE(r.id, 0), COALESCE(r.event_id, 0), COALESCE(r.source_id, 0), COALESCE(r.rid, ''), COALESCE(r.kind, ''),
			COALESCE(r.status, ''), COALESCE(r.status_time, 0), COALESCE(r.amount, ''), COALESCE(r.currency, ''),
			COALESCE(r.creditor, ''), COALESCE(r.dates, ''), COALESCE(r.note, ''), COALESCE(r.fetched, 0), COALESCE(r.payload_id, 0)
		FROM events e LEFT JOIN sources s ON s.id = e.source_id
			LEFT JOIN ob_resource_states r ON r.event_id = e.id
		WHERE (? = '' OR EXISTS (SELECT 1 FROM json_each(e.types) WHERE value = ?))
		  AND (? = '' OR s.name = ?)
		  AND (? < 0 OR e.verified = ?)
		  AND (? = '' OR instr(e.jti, ?) > 0 OR instr(e.rid, ?) > 0 OR instr(e.subject, ?) > 0)
		  AND (? = '' OR e.rty = ?)
		  AND (? = '' OR r.status = ?)
		  AND (? = 0 OR r.id IS NULL)
		ORDER BY e.received DESC, e.id DESC`
	verified := -1
	if f.Verified != nil {
		verified = 0
		if *f.Verified {
			verified = 1
		}
	}
	args := []any{f.Type, f.Type, f.Source, f.Source, verified, verified, f.Search, f.Search, f.Search, f.Search,
		f.RTY, f.RTY, f.ResourceStatus, f.ResourceStatus, f.Unfollowed}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, s.db, "list events", func(sc rowScanner) (Event, error) {
		var e Event
		var types string
		var toe, iat, received, at, fetched int64
		var has bool
		var r ResourceState
		if err := sc.Scan(&e.ID, &e.SourceID, &e.Source, &e.ISS, &e.JTI, &e.AUD, &types, &e.Subject, &e.RID, &e.RTY,
			&e.TXN, &toe, &iat, &received, &e.Verified, &e.Error, &e.Token, &e.PayloadID, &has,
			&r.ID, &r.EventID, &r.SourceID, &r.RID, &r.Kind, &r.Status, &at, &r.Amount, &r.Currency,
			&r.Creditor, &r.Dates, &r.Note, &fetched, &r.PayloadID); err != nil {
			return e, err
		}
		if has {
			r.StatusAt, r.Fetched = unixTime(at), unixTime(fetched)
			e.Resource = &r
		}
		_ = json.Unmarshal([]byte(types), &e.Types)
		e.TOE, e.IAT, e.Received = unixTime(toe), unixTime(iat), unixTime(received)
		e.TokenArchived = e.Token == "" && e.PayloadID != 0
		return e, nil
	}, q, args...)
}

// EventToken returns the raw token of an event listed by Events: from its row, or, when the
// token was kept only in the archived poll answer it came in (TokenArchived), from that
// answer's sets, under the event's jti (without the "#iat=" suffix an event whose jti was
// recycled has been given; see PutEventWindow).
func (s *Store) EventToken(ctx context.Context, e Event) (string, error) {
	if !e.TokenArchived {
		return e.Token, nil
	}
	r, err := s.OpenPayload(ctx, e.PayloadID)
	if err != nil {
		return "", fmt.Errorf("read the token of event %s: %w", e.JTI, err)
	}
	defer r.Close()
	var answer struct {
		Sets map[string]json.RawMessage `json:"sets"`
	}
	if err := json.NewDecoder(io.LimitReader(r, maxArchivedAnswer)).Decode(&answer); err != nil {
		return "", fmt.Errorf("read the token of event %s from payload %d: %w", e.JTI, e.PayloadID, err)
	}
	raw, ok := answer.Sets[e.JTI]
	if i := strings.LastIndex(e.JTI, recycledSuffix); !ok && i >= 0 {
		raw, ok = answer.Sets[e.JTI[:i]]
	}
	if !ok {
		return "", fmt.Errorf("read the token of event %s: payload %d does not hold it", e.JTI, e.PayloadID)
	}
	// As the poller read it (secevent.DecodePollResponse): a string's text, or the JSON of
	// any other value.
	var token string
	if json.Unmarshal(raw, &token) != nil {
		token = string(raw)
	}
	return token, nil
}

// maxArchivedAnswer bounds what EventToken reads of an archived poll answer: far more than
// any answer the poller accepts.
const maxArchivedAnswer = 64 << 20

// recycledSuffix is what an event whose jti a later event took is given after its jti.
const recycledSuffix = "#iat="
